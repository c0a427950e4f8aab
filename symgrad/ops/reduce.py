"""Reductions over axes: sum, mean, max, min (NumPy names, ``axis`` and ``keepdims``).

The ``axis`` parameter is a sorted tuple of non-negative axes, or None for a reduction
over every axis (so that the emitted code reads ``x.sum()``).
"""

from __future__ import annotations

import functools

import numpy as np

from ..ir.types import TensorType, float_dtype_for
from .leaves import as_var
from .registry import Expr, apply, defop
from .shape import broadcast_like, expand_dims, normalize_axes, size_of


@functools.lru_cache(maxsize=None)
def _reduce_dtype(method: str, dtype: str) -> np.dtype:
    return getattr(np.zeros((1,), dtype), method)().dtype


def axes_of(axis, ndim: int) -> tuple:
    return tuple(range(ndim)) if axis is None else axis


def _reduced_shape(shape, axis, keepdims):
    axis = axes_of(axis, len(shape))
    if keepdims:
        return tuple(1 if i in axis else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axis)


def reduction_args(axis, keepdims) -> str:
    parts = []
    if axis is not None:
        parts.append(f"axis={axis[0]}" if len(axis) == 1 else f"axis={tuple(axis)}")
    if keepdims:
        parts.append("keepdims=True")
    return ", ".join(parts)


def expand_back(g, x, axis, keepdims):
    """Put the reduced axes back (as size 1) into ``g``, the cotangent of a reduction."""
    if keepdims or axis is None:  # a 0-d cotangent broadcasts as it is
        return g
    return expand_dims(g, axes_of(axis, x.ndim))


def _reduction(name, vjp, dtype_rule=None, doc="", **kw):
    def infer(types, axis, keepdims):
        t = types[0]
        for a in axes_of(axis, t.ndim):
            if not 0 <= a < t.ndim:
                raise ValueError(f"axis {a} is out of range for {t.ndim} dimensions")
        dt = dtype_rule(t.dtype) if dtype_rule else _reduce_dtype(name, t.dtype.name)
        return TensorType(dt, _reduced_shape(t.shape, axis, keepdims))

    def emit(args, axis, keepdims):
        return Expr(f"{args[0].atom}.{name}({reduction_args(axis, keepdims)})")

    op = defop(name, infer=infer, emit=emit, vjp=vjp, doc=doc, **kw)

    def fn(x, axis=None, keepdims=False):
        x = as_var(x)
        axes = normalize_axes(axis, x.ndim, name)
        if axes == tuple(range(x.ndim)):
            axes = None
        return apply(op, [x], axis=axes, keepdims=bool(keepdims))
    fn.__name__ = name
    fn.__qualname__ = name
    fn.__doc__ = doc
    fn.op = op
    return op, fn


def _sum_vjp(g, out, x, axis, keepdims):
    return [broadcast_like(expand_back(g, x, axis, keepdims), x)]


def _mean_vjp(g, out, x, axis, keepdims):
    n = size_of(x, axes_of(axis, x.ndim), dtype=g.dtype)
    return [broadcast_like(expand_back(g, x, axis, keepdims) / n, x)]


def _extremum_vjp(g, out, x, axis, keepdims):
    # ties split the gradient evenly between the extremal entries (as JAX does)
    from .elementwise import equal
    from .shape import astype
    mask = equal(x, expand_back(out, x, axis, keepdims))
    count = astype(SUM_FN(mask, axis, keepdims=True), g.dtype)
    return [(expand_back(g, x, axis, keepdims) / count) * mask]


SUM, sum = _reduction("sum", _sum_vjp, doc="Sum over ``axis`` (all axes by default).")
SUM_FN = sum
MEAN, mean = _reduction("mean", _mean_vjp, dtype_rule=float_dtype_for,
                        doc="Arithmetic mean over ``axis`` (all axes by default).")
MAX, max = _reduction("max", _extremum_vjp, dtype_rule=lambda d: d,
                      doc="Maximum over ``axis``; tied maxima share the gradient evenly.")
MIN, min = _reduction("min", _extremum_vjp, dtype_rule=lambda d: d,
                      doc="Minimum over ``axis``; tied minima share the gradient evenly.")
