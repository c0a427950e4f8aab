"""Reductions over axes: sum, mean, max, min, prod, var, std, argmax, argmin (NumPy names,
``axis`` and ``keepdims``; ``var`` and ``std`` take ``ddof=0`` like NumPy).

Subgradient convention: tied maxima (minima) of ``max`` (``min``) share the gradient
evenly, as JAX does.

The ``axis`` parameter is a sorted tuple of non-negative axes, or None for a reduction
over every axis (so that the emitted code reads ``x.sum()``).
"""

from __future__ import annotations

import functools

import numpy as np

from . import xp_forms as xpf
from ..ir.types import TensorType, as_dtype, float_dtype_for
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


def _with_dtype(name, x, dtype):
    """``x`` prepared for a reduction computed in ``dtype`` (NumPy's ``dtype=`` keyword:
    the accumulation, and so the result, is in that dtype)."""
    from .shape import astype
    dt = as_dtype(dtype)
    if name == "mean" and dt.kind not in "fc":
        return x, dt  # NumPy divides in floats, then casts to the integer dtype
    # small integers: the reduction itself promotes to int64; the cast back wraps around
    # as NumPy's accumulation in the small dtype does (sums and products modulo 2**bits)
    return (x if x.dtype == dt else astype(x, dt)), dt


def _reduction(name, vjp, dtype_rule=None, doc="", **kw):
    def infer(types, axis, keepdims):
        t = types[0]
        for a in axes_of(axis, t.ndim):
            if not 0 <= a < t.ndim:
                raise ValueError(f"axis {a} is out of range for {t.ndim} dimensions")
        dt = dtype_rule(t.dtype) if dtype_rule else _reduce_dtype(name, t.dtype)
        return TensorType(dt, _reduced_shape(t.shape, axis, keepdims))

    def emit(args, axis, keepdims):
        return Expr(f"{args[0].atom}.{name}({reduction_args(axis, keepdims)})")

    op = defop(name, infer=infer, emit=emit, vjp=vjp, doc=doc, **kw,
        array_api=xpf.reduction(name))

    def fn(x, axis=None, keepdims=False, **kwargs):
        x = as_var(x)
        if set(kwargs) - {"dtype"} or (kwargs and name not in ("sum", "mean", "prod")):
            raise TypeError(f"{name}() got unexpected keyword arguments {sorted(kwargs)}")
        cast = None
        if kwargs.get("dtype") is not None:
            x, cast = _with_dtype(name, x, kwargs["dtype"])
        axes = normalize_axes(axis, x.ndim, name)
        if axes == tuple(range(x.ndim)):
            axes = None
        out = apply(op, [x], axis=axes, keepdims=bool(keepdims))
        if cast is not None and out.dtype != cast:
            from .shape import astype
            out = astype(out, cast)
        return out
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


_DTYPE_DOC = (" ``dtype=`` (keyword) computes it in that dtype, as NumPy's keyword: the "
              "input is cast to it first.")
SUM, sum = _reduction("sum", _sum_vjp, reduction="fold", ufunc="add", linear="first",
                      doc="Sum over ``axis`` (all axes by default)." + _DTYPE_DOC)
SUM_FN = sum
MEAN, mean = _reduction("mean", _mean_vjp, dtype_rule=float_dtype_for, reduction="mean",
                        ufunc="add", linear="first",
                        doc="Arithmetic mean over ``axis`` (all axes by default)." +
                        _DTYPE_DOC)
MAX, max = _reduction("max", _extremum_vjp, dtype_rule=lambda d: d, reduction="fold",
                      ufunc="maximum",
                      doc="Maximum over ``axis``; tied maxima share the gradient evenly.")
MIN, min = _reduction("min", _extremum_vjp, dtype_rule=lambda d: d, reduction="fold",
                      ufunc="minimum",
                      doc="Minimum over ``axis``; tied minima share the gradient evenly.")


def _prod_vjp(g, out, x, axis, keepdims):
    # d prod / d x_i is the product of the other entries of x_i's slice. It is built from
    # exclusive running products (``others``), never as out / x_i: no division, so it is
    # exact where entries are zero and every higher derivative is too (the Hessian at
    # [2, 0, 0, 4] has H[1, 2] = 8).
    return [expand_back(g, x, axis, keepdims) * others_product(x, axes_of(axis, x.ndim))]


PROD, prod = _reduction("prod", _prod_vjp, reduction="fold", ufunc="multiply", doc=(
    "Product over ``axis`` (all axes by default), as ``np.prod``.\n\n"
    "Its derivatives of every order are exact also where entries are zero: the gradient "
    "is the product of the other entries, from running products (no division)." +
    _DTYPE_DOC))
PROD_FN = prod


def _shift(x, axis: int, step: int, fill):
    """``x`` moved by one place along ``axis`` (towards the end when ``step`` is 1, the
    start when -1), the vacated place filled with ``fill``."""
    from .indexing import getitem
    from .shape import concatenate, full_like
    head = (slice(None),) * axis
    if step > 0:
        edge, body = getitem(x, head + (slice(None, 1),)), getitem(x, head + (slice(None, -1),))
        return concatenate([full_like(edge, fill), body], axis)
    edge, body = getitem(x, head + (slice(-1, None),)), getitem(x, head + (slice(1, None),))
    return concatenate([body, full_like(edge, fill)], axis)


def _flip(x, axis: int):
    from .indexing import getitem
    return getitem(x, (slice(None),) * axis + (slice(None, None, -1),))


def others_product(x, axes):
    """For each entry of ``x``, the product of the other entries of its slice over
    ``axes``: exclusive running products from both ends, one axis after the other."""
    axes = tuple(axes)
    if not axes:
        from .shape import ones_like
        return ones_like(x)
    ax, rest = axes[0], axes[1:]
    left = _shift(cumprod(x, ax), ax, 1, 1)                    # prod of x[..., :k]
    right = _flip(_shift(cumprod(_flip(x, ax), ax), ax, 1, 1), ax)  # prod of x[..., k+1:]
    along = left * right
    if not rest:
        return along
    return along * others_product(PROD_FN(x, (ax,), keepdims=True), rest)


# ---- cumprod and the linear scan behind its derivative -----------------------------------

LINEAR_SCAN_HELPER = '''def _linear_scan(a, b, axis, reverse):
    """h[k] = a[k] * h[k - 1] + b[k] along `axis`, with h[-1] = 0 (from the last entry
    backwards when `reverse`): a first-order linear recurrence, in log2(n) vectorised
    steps (each step composes every entry with the one `d` places before it)."""
    a, h = np.broadcast_arrays(a, b)
    a, h = np.moveaxis(a, axis, 0), np.moveaxis(h, axis, 0)
    if reverse:
        a, h = a[::-1], h[::-1]
    h = h.astype(np.result_type(a, h))  # a copy
    a = a.copy()
    d = 1
    while d < h.shape[0]:
        h[d:] += a[d:] * h[:-d]
        if 2 * d < h.shape[0]:
            a[d:] = a[d:] * a[:-d]
        d *= 2
    if reverse:
        h = h[::-1]
    return np.moveaxis(h, 0, axis)'''


def _scan_infer(types, axis, reverse):
    a, b = types
    if a.shape != b.shape:
        raise ValueError("the coefficients and the inputs must have one shape")
    if not 0 <= axis < a.ndim:
        raise ValueError(f"axis {axis} is out of range for {a.ndim} dimensions")
    return TensorType(np.result_type(a.dtype, b.dtype), a.shape)


def _scan_vjp(u, h, a, b, axis, reverse):
    # forward: h[k] = a[k] h[k-1] + b[k]. Its transpose runs the other way:
    # lam[k] = u[k] + a[k+1] lam[k+1]; then d b = lam and d a[k] = lam[k] h[k-1].
    step = -1 if reverse else 1
    lam = linear_scan(_shift(a, axis, -step, 0), u, axis, not reverse)
    return [lam * _shift(h, axis, step, 0), lam]


LINEAR_SCAN = defop("linear_scan", infer=_scan_infer,
                    emit=lambda args, axis, reverse: Expr(
                        f"_linear_scan({args[0].text}, {args[1].text}, {axis}, {reverse})"),
                    vjp=_scan_vjp, inline=False, helpers=(LINEAR_SCAN_HELPER,), short="scan",
                    doc="``h[k] = a[k] * h[k-1] + b[k]`` along ``axis`` (backwards when "
                        "``reverse``): the derivative of ``cumprod`` without division.", positionwise=True,
                    core="axis",
                            array_api=xpf.LINEAR_SCAN)


def linear_scan(a, b, axis: int, reverse: bool = False):
    """The first-order linear recurrence ``h[k] = a[k] * h[k-1] + b[k]`` along ``axis``
    (``h[-1] = 0``; from the end backwards when ``reverse``)."""
    return apply(LINEAR_SCAN, [as_var(a), as_var(b)], axis=int(axis), reverse=bool(reverse))


def _cumprod_infer(types, axis):
    t = types[0]
    if not 0 <= axis < t.ndim:
        raise ValueError(f"axis {axis} is out of range for {t.ndim} dimensions")
    return TensorType(_reduce_dtype("cumprod", t.dtype), t.shape)


def _cumprod_vjp(g, out, x, axis):
    # d out[i] / d x[k] = prod(x[:k]) * prod(x[k+1:i+1]) for i >= k, so the cotangent of
    # x[k] is out[k-1] * t[k] with t[k] = g[k] + x[k+1] t[k+1], a reverse linear scan:
    # no division, hence exact at zeros, to every order.
    t = linear_scan(_shift(x, axis, -1, 0), g, axis, reverse=True)
    return [_shift(out, axis, 1, 1) * t]


CUMPROD = defop("cumprod", infer=_cumprod_infer,
                emit=lambda args, axis: Expr(f"np.cumprod({args[0].text}, axis={axis})"),
                vjp=_cumprod_vjp, inline=False, positionwise=True, core="axis",
                    array_api="xp.cumulative_prod({0}, axis={axis})")


def cumprod(x, axis=None):
    """Running product along ``axis`` (of the flattened array when ``axis`` is None), as
    ``np.cumprod``. Its derivatives are exact also where entries are zero."""
    x = as_var(x)
    if axis is None:
        from .shape import ravel
        x, axis = ravel(x), 0
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise TypeError(f"cumprod: axis must be an int or None, got {axis!r}")
    axis = normalize_axes(axis, x.ndim, "cumprod")[0]
    return apply(CUMPROD, [x], axis=axis)


def _argreduce(name, doc):
    def infer(types, axis, keepdims):
        t = types[0]
        if axis is None:
            shape = (1,) * t.ndim if keepdims else ()
        else:
            shape = _reduced_shape(t.shape, (axis,), keepdims)
        return TensorType(np.int64, shape)

    def emit(args, axis, keepdims):
        parts = [] if axis is None else [f"axis={axis}"]
        if keepdims:
            parts.append("keepdims=True")
        return Expr(f"{args[0].atom}.{name}({', '.join(parts)})")

    op = defop(name, infer=infer, emit=emit, vjp=None, doc=doc, reduction="index",
        array_api=xpf.argreduction(name))

    def fn(x, axis=None, keepdims=False):
        x = as_var(x)
        if axis is not None:
            if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
                raise TypeError(f"{name}: axis must be an int or None, got {axis!r}")
            axis = normalize_axes(axis, x.ndim, name)[0]
        return apply(op, [x], axis=axis, keepdims=bool(keepdims))
    fn.__name__ = name
    fn.__qualname__ = name
    fn.__doc__ = doc
    fn.op = op
    return op, fn


ARGMAX, argmax = _argreduce("argmax", (
    "Index of the maximum along ``axis`` (of the flattened array when ``axis`` is None), "
    "as ``np.argmax``: int64, the first one on ties, no gradient."))
ARGMIN, argmin = _argreduce("argmin", (
    "Index of the minimum along ``axis`` (of the flattened array when ``axis`` is None), "
    "as ``np.argmin``: int64, the first one on ties, no gradient."))


def var(x, axis=None, ddof=0, keepdims=False):
    """Variance over ``axis`` as ``np.var``: the mean squared deviation from the mean,
    divided by ``n - ddof`` instead of ``n`` (``ddof=0`` by default, like NumPy).

    A composition of ``mean``, ``subtract``, ``square`` and ``sum``, so every derivative
    order comes from those ops' rules.
    """
    from .elementwise import square
    x = as_var(x)
    axes = normalize_axes(axis, x.ndim, "var")
    if x.dtype.kind not in "f":
        x = x.astype(float_dtype_for(x.dtype))
    dev = square(x - mean(x, axes, keepdims=True))
    if ddof == 0:
        return mean(dev, axes, keepdims=keepdims)
    if not isinstance(ddof, (int, np.integer, float)) or isinstance(ddof, bool):
        raise TypeError(f"var: ddof must be a number, got {ddof!r}")
    n = size_of(x, axes, dtype=x.dtype)
    return sum(dev, axes, keepdims=keepdims) / (n - ddof)


def std(x, axis=None, ddof=0, keepdims=False):
    """Standard deviation over ``axis`` as ``np.std``: ``sqrt(var(x, axis, ddof))``.

    Its gradient is infinite where the variance is zero (as in NumPy arithmetic).
    """
    from .elementwise import sqrt
    return sqrt(var(x, axis, ddof=ddof, keepdims=keepdims))


def _cumsum_infer(types, axis):
    t = types[0]
    dt = _reduce_dtype("cumsum", t.dtype)
    if axis is not None:
        return TensorType(dt, t.shape)
    n = int(np.prod(t.shape)) if t.is_static else None
    return TensorType(dt, (n,))


def _cumsum_emit(args, axis):
    return Expr(f"np.cumsum({args[0].text}{'' if axis is None else f', axis={axis}'})")


def _cumsum_vjp(g, out, x, axis):
    # the transpose of a running sum is the running sum from the other end
    from .indexing import getitem
    from .shape import reshape_like
    ax = 0 if axis is None else axis
    flip = (slice(None),) * ax + (slice(None, None, -1),)
    back = getitem(cumsum(getitem(g, flip), ax), flip)
    return [reshape_like(back, x) if axis is None else back]


def _cumsum_batch(ins, batched, size, axis):
    """vmap rule for ``axis=None`` (an int axis is the generic ``core`` rule): each
    element flattened, one running sum per row."""
    from .shape import reshape
    return apply(CUMSUM, [reshape(ins[0], (size, -1))], axis=1) if axis is None else None


CUMSUM = defop("cumsum", infer=_cumsum_infer, emit=_cumsum_emit, vjp=_cumsum_vjp,
               inline=False, positionwise=True, core="axis", batch=_cumsum_batch,
                   array_api=xpf.cumsum)


def cumsum(x, axis=None):
    """Running sum along ``axis`` (of the flattened array when ``axis`` is None), as
    ``np.cumsum``."""
    x = as_var(x)
    if axis is not None:
        if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
            raise TypeError(f"cumsum: axis must be an int or None, got {axis!r}")
        axis = normalize_axes(axis, x.ndim, "cumsum")[0]
    return apply(CUMSUM, [x], axis=axis)
