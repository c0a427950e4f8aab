"""Random ops: draws from a ``RandomStream`` (see ``symgrad.random``).

A random node reads its stream's call counter (a shared int64 scalar that every compiled
function reading it increments after each successful call) and draws from a fresh NumPy
``Generator`` seeded by the stream's seed, with the index of the node in its stream and the
counter as the ``spawn_key`` (NumPy's own way of deriving independent streams; a plain
tuple such as ``(seed, 0, 0)`` would collide with ``seed``, as SeedSequence pads short
entropy with zeros)::

    mask = (np.random.default_rng(np.random.SeedSequence(1234, spawn_key=(0, int(
        rng_calls)))).random((n1, 64)) < 0.8)

so that successive calls draw new numbers, two nodes of a stream never share a draw, and
the same seed gives the same run, with nothing but NumPy (a standalone module written by
``f.save`` does the same given the counter).

Random ops are ``random=True`` (CSE never merges two of them) and have no VJP: a draw is a
constant for differentiation. The distribution parameters are Python numbers (written in
the source) or variables that broadcast to ``size``; ``size`` may hold symbolic sizes such
as ``x.shape[0]``. Without ``size`` a draw has the broadcast shape of its parameters, as
with NumPy's ``Generator`` (symbolic sizes where the parameters' sizes are not static).
"""

from __future__ import annotations

import numbers

import numpy as np

from . import xp_forms as xpf
from ..ir.node import Var
from ..ir.types import (ShapeError, TensorType, as_dtype, broadcast_shapes, dims_equal,
                        format_shape)
from .elementwise import maximum
from .leaves import as_var
from .registry import PREC_BITOR, Expr, apply, defop
from .shape import _shape_template, _template_dims, _template_text, dim_of

# name of the op -> (short name, NumPy Generator method, its argument names)
DISTRIBUTIONS = {
    "random_uniform": ("uniform", "uniform", ("low", "high")),
    "random_normal": ("normal", "normal", ("loc", "scale")),
    "random_bernoulli": ("bernoulli", "random", ("p",)),
}


def _split(n_args: int, args):
    """(state, distribution arguments, size variables) of an emitted argument list."""
    return args[0], args[1:1 + n_args], args[1 + n_args:]


def _make_infer(opname: str):
    arg_names = DISTRIBUTIONS[opname][2]

    def infer(types, seed, draw, size, params, dtype):
        state = types[0]
        if state.dtype != np.int64 or state.ndim != 0:
            raise TypeError(f"the stream state must be an int64 scalar, got {state}")
        dims = tuple(_template_dims(size))
        n_vars = sum(1 for p in params if isinstance(p, tuple))
        for name, t in zip([n for n, p in zip(arg_names, params) if isinstance(p, tuple)],
                           types[1:1 + n_vars]):
            if t.dtype.kind not in "fiub":
                raise TypeError(f"{name} must be numeric, got {t}")
            try:
                out, _ = broadcast_shapes(dims, t.shape)
            except ShapeError:
                out = None
            if out is None or len(out) != len(dims):
                raise ShapeError(f"{name} of shape {format_shape(t.shape)} does not broadcast "
                                 f"to size {format_shape(dims)}")
        return TensorType(dtype, dims)
    return infer


def _make_emit(opname: str):
    method = DISTRIBUTIONS[opname][1]

    def emit(args, seed, draw, size, params, dtype):
        n_vars = sum(1 for p in params if isinstance(p, tuple))
        state, var_args, size_args = _split(n_vars, args)
        values = [var_args[p[1]].at(PREC_BITOR) if isinstance(p, tuple) else repr(p)
                  for p in params]
        gen = (f"np.random.default_rng(np.random.SeedSequence({seed}, spawn_key=({draw}, "
               f"int({state.text}))))")
        shape = _template_text(size, size_args)
        if opname == "random_bernoulli":
            text = f"({gen}.random({shape}) < {values[0]})"
        else:
            text = f"{gen}.{method}({', '.join(values)}, {shape})"
        if dtype != "float64" or opname == "random_bernoulli":
            text += f".astype(np.{dtype})"
        return Expr(text)
    return emit


RANDOM_OPS = {
    name: defop(name, infer=_make_infer(name), emit=_make_emit(name), random=True,
                nondiff=True, inline=False, short=DISTRIBUTIONS[name][0],
                doc=f"A {DISTRIBUTIONS[name][0]} draw (random op, no gradient).",
                array_api=xpf.random(name))
    for name in DISTRIBUTIONS
}


def _param(value, name: str, where: str):
    """A distribution parameter: a finite Python float, or a variable."""
    if isinstance(value, Var):
        return value
    if isinstance(value, np.ndarray) and value.ndim > 0:
        return as_var(value)
    if isinstance(value, (numbers.Real, np.generic)) and not isinstance(value, (bool, np.bool_)):
        v = float(value)
        if not np.isfinite(v):
            raise ValueError(f"{where}: {name} must be finite, got {value!r}")
        return v
    raise TypeError(f"{where}: {name} must be a number or a symgrad variable, got "
                    f"{type(value).__name__}")


def _broadcast_size(params: dict, where: str) -> tuple:
    """NumPy's ``size=None``: the broadcast shape of the variable parameters ``{name: Var}``,
    ints where static and symbolic sizes (``v.shape[k]``) elsewhere."""
    if not params:
        return ()
    try:
        merged, _ = broadcast_shapes(*[v.type.shape for v in params.values()])
    except ShapeError as err:
        listing = ", ".join(f"{n} of shape {format_shape(v.type.shape)}"
                            for n, v in params.items())
        raise ShapeError(f"{where}: the parameters ({listing}) do not broadcast together "
                         f"({err})") from None
    size = []
    for axis, dim in enumerate(merged):
        if isinstance(dim, int):
            size.append(dim)
            continue
        # every parameter whose size here may differ from 1 could set the size
        sizes = [v.shape[k] for v in params.values()
                 for k in [axis - (len(merged) - v.ndim)] if k >= 0 and v.type.shape[k] != 1]
        same = [d for d in sizes if isinstance(dim, str) and dims_equal(dim_of(d), dim)]
        if same or len(sizes) == 1:
            size.append((same or sizes)[0])
        else:  # sizes that must agree or be 1 when drawing: their maximum is the broadcast
            acc = sizes[0]
            for d in sizes[1:]:
                acc = maximum(acc, d)
            size.append(acc)
    return tuple(size)


def random_draw(opname: str, state: Var, seed: int, draw: int, args: dict, size,
                dtype) -> Var:
    """Build a random node (used by ``RandomStream``; see the module docstring)."""
    where = DISTRIBUTIONS[opname][0]
    dtype = as_dtype(dtype)
    if opname != "random_bernoulli" and dtype.kind != "f":
        raise TypeError(f"{where}: dtype must be a float type, got {dtype}")
    params, var_inputs, by_name = [], [], {}
    for name in DISTRIBUTIONS[opname][2]:
        value = _param(args[name], name, where)
        if isinstance(value, Var):
            params.append(("$", len(var_inputs)))
            var_inputs.append(value)
            by_name[name] = value
        else:
            params.append(value)
    if size is None:
        size = _broadcast_size(by_name, where)
    template, size_vars = _shape_template(size, where)
    return apply(RANDOM_OPS[opname], [state] + var_inputs + size_vars, seed=int(seed),
                 draw=int(draw), size=template, params=tuple(params), dtype=dtype.name)


__all__ = ["RANDOM_OPS", "random_draw"]
