"""NumPy's own functions on symbolic variables (``__array_ufunc__``/``__array_function__``).

``np.exp(x)``, ``np.sum(x, axis=0)``, ``np.dot(a, b)``, ``np.linalg.norm(x)`` or
``np.where(c, a, b)`` with a ``Var`` among the arguments build graph nodes, so an existing
NumPy function ``f(x)`` becomes a graph by calling it on a variable. Each supported NumPy
function is one row below: the NumPy function, and an adapter with NumPy's parameter
names that calls symgrad's function. Anything else is a ``TypeError`` that names the
function and points to ``sg.defop``.

NumPy's ``out=`` (graphs are immutable), ``where=`` masks of reductions and ``==`` are not
translated: ``==`` stays identity so that variables can be dict keys (use ``sg.equal``).
"""

from __future__ import annotations

import numpy as np

from . import linalg, ops

# --- ufuncs -------------------------------------------------------------------------------
# NumPy ufunc name -> symgrad function (elementwise, NumPy's broadcasting and dtype rules)
_UFUNCS = {
    "add": ops.add, "subtract": ops.subtract, "multiply": ops.multiply,
    "divide": ops.divide, "true_divide": ops.divide, "floor_divide": ops.floor_divide,
    "remainder": ops.remainder, "power": ops.power, "negative": ops.negative,
    "positive": lambda x: x, "absolute": ops.abs, "sign": ops.sign,
    "exp": ops.exp, "expm1": ops.expm1, "log": ops.log, "log1p": ops.log1p,
    "sqrt": ops.sqrt, "square": ops.square, "sin": ops.sin, "cos": ops.cos, "tan": ops.tan,
    "sinh": ops.sinh, "cosh": ops.cosh, "tanh": ops.tanh,
    "maximum": ops.maximum, "minimum": ops.minimum, "floor": ops.floor, "ceil": ops.ceil,
    "greater": ops.greater, "greater_equal": ops.greater_equal, "less": ops.less,
    "less_equal": ops.less_equal,
    "logical_and": ops.logical_and, "logical_or": ops.logical_or,
    "logical_xor": ops.logical_xor, "logical_not": ops.logical_not,
    "bitwise_and": ops.bitwise_and, "bitwise_or": ops.bitwise_or,
    "bitwise_xor": ops.bitwise_xor, "invert": ops.invert, "matmul": ops.matmul,
    # special functions (NumPy 2's asin, atan2... are these same ufuncs)
    "arcsin": ops.arcsin, "arccos": ops.arccos, "arctan": ops.arctan,
    "arctan2": ops.arctan2, "arcsinh": ops.arcsinh, "arccosh": ops.arccosh,
    "arctanh": ops.arctanh, "log2": ops.log2, "log10": ops.log10, "exp2": ops.exp2,
    "hypot": ops.hypot, "logaddexp": ops.logaddexp, "logaddexp2": ops.logaddexp2,
    "cbrt": ops.cbrt, "reciprocal": ops.reciprocal, "fmod": ops.fmod,
}
# ufunc.reduce / ufunc.accumulate -> the reduction or scan they are
_REDUCE = {"add": ops.sum, "multiply": ops.prod, "maximum": ops.max, "minimum": ops.min}
_ACCUMULATE = {"add": ops.cumsum, "multiply": ops.cumprod}
# comparisons NumPy also runs for ``array == variable``: left to Python (identity)
_IDENTITY_OPERATORS = ("equal", "not_equal")


def _refuse(what: str, hint: str = "") -> TypeError:
    return TypeError(f"symgrad: {what} is not supported on symbolic variables{hint}; "
                     "write it with symgrad's functions, or define an op with sg.defop "
                     "(see docs/adding_an_op.md)")


def array_ufunc(ufunc, method, inputs, kwargs):
    """``Var.__array_ufunc__``: the graph node for ``ufunc`` (or NotImplemented)."""
    name = ufunc.__name__
    if name in _IDENTITY_OPERATORS and method == "__call__":
        if not any(isinstance(i, (np.ndarray, np.generic)) for i in inputs):
            # no NumPy array among the operands: nothing but an explicit np.equal(x, y)
            # gets here (x == y and x == 1.0 are Var.__eq__), so it is the comparison
            return (ops.equal if name == "equal" else ops.not_equal)(*inputs)
        # array == x reaches here (NumPy does not defer comparisons to a type that handles
        # ufuncs): it stays Python's identity, which is never true between an array and a
        # variable. The elementwise comparison is sg.equal / sg.not_equal.
        return name == "not_equal"
    if kwargs.get("out") is not None:
        raise TypeError(f"symgrad: np.{name}(..., out=...) cannot write into a symbolic "
                        "variable (graphs are immutable); drop out=")
    kwargs = {k: v for k, v in kwargs.items() if k != "out"}
    dtype = kwargs.pop("dtype", None)
    if method == "__call__":
        fn = _UFUNCS.get(name)
        if fn is None:
            raise _refuse(f"np.{name}")
        if kwargs:
            raise _refuse(f"np.{name} with {', '.join(kwargs)}=")
        out = fn(*inputs)
    elif method in ("reduce", "accumulate"):
        table = _REDUCE if method == "reduce" else _ACCUMULATE
        fn = table.get(name)
        if fn is None:
            raise _refuse(f"np.{name}.{method}")
        axis = kwargs.pop("axis", 0)
        keep = _flag(kwargs.pop("keepdims", False))
        if kwargs:
            raise _refuse(f"np.{name}.{method} with {', '.join(kwargs)}=")
        x = _cast(inputs[0], dtype)     # reduced in dtype, as NumPy does
        out = fn(x, axis=axis, keepdims=keep) if method == "reduce" else fn(x, axis=axis)
    else:
        raise _refuse(f"np.{name}.{method}")
    return out if dtype is None else ops.astype(out, dtype)


# --- functions ----------------------------------------------------------------------------
def _given(value) -> bool:
    return value is not None and value is not np._NoValue


def _flag(value) -> bool:
    """A boolean argument as NumPy reads it: any truthy value (1, np.True_), where
    ``is True`` would silently drop keepdims=1; NumPy's "not given" is False."""
    return _given(value) and bool(value)


def _no_out(out, name: str) -> None:
    if _given(out):
        raise TypeError(f"symgrad: np.{name}(..., out=...) cannot write into a symbolic "
                        "variable (graphs are immutable); drop out=")


def _cast(a, dtype):
    """``a`` in ``dtype``. A reduction's or scan's ``dtype=`` is the type NumPy computes in
    and returns: the operand is cast first (np.sum(x, dtype=np.int8) sums the truncated
    elements), then the result (a sum of int8 would be int64)."""
    return a if dtype is None else ops.astype(a, dtype)


def _reduction(fn):
    def adapter(a, axis=None, dtype=None, out=None, keepdims=False, **rest):
        _no_out(out, fn.__name__)
        for key, val in rest.items():
            if _given(val):
                raise _refuse(f"the {key}= argument of np.{fn.__name__}")
        return _cast(fn(_cast(a, dtype), axis=axis, keepdims=_flag(keepdims)), dtype)
    return adapter


def _arg_reduction(fn):
    def adapter(a, axis=None, out=None, *, keepdims=False):
        _no_out(out, fn.__name__)
        return fn(a, axis=axis, keepdims=_flag(keepdims))
    return adapter


def _moments(fn):
    def adapter(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **rest):
        _no_out(out, fn.__name__)
        for key, val in rest.items():
            if _given(val):
                raise _refuse(f"the {key}= argument of np.{fn.__name__}")
        return _cast(fn(_cast(a, dtype), axis=axis, ddof=ddof, keepdims=_flag(keepdims)),
                     dtype)
    return adapter


def _scan(fn):
    def adapter(a, axis=None, dtype=None, out=None):
        _no_out(out, fn.__name__)
        return _cast(fn(_cast(a, dtype), axis), dtype)
    return adapter


def _plain(fn, name):
    """NumPy's signature with ``out=`` (refused) and other keywords it ignores here."""
    def adapter(*args, out=None, **kwargs):
        _no_out(out, name)
        return fn(*args, **kwargs)
    return adapter


def _vdot(a, b):
    # np.vdot keeps the product's dtype (an int32 dot is int32, a bool one is bool: any
    # pair both true), where a sum would widen it to int64
    p = ops.ravel(a) * ops.ravel(b)
    return ops.astype(ops.sum(p), p.dtype)


def _trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    _no_out(out, "trace")
    return _cast(ops.sum(_cast(linalg.diagonal(a, offset, axis1, axis2), dtype)), dtype)


def _qr(a, mode):
    if mode != "reduced":
        raise _refuse(f"np.linalg.qr with mode={mode!r} (only 'reduced')")
    return linalg.qr(a)


def _sorting(fn):
    def adapter(a, axis=-1, kind=None, order=None, *, stable=None):
        if _given(order):
            raise _refuse(f"the order= argument of np.{fn.__name__} (structured arrays)")
        return fn(a, axis, kind=kind, stable=stable)
    return adapter


def _truth(fn):
    def adapter(a, axis=None, out=None, keepdims=False, *, where=None):
        _no_out(out, fn.__name__)
        if _given(where):
            raise _refuse(f"the where= argument of np.{fn.__name__}")
        return fn(a, axis=axis, keepdims=_flag(keepdims))
    return adapter


def _pad(array, pad_width, mode="constant", **kwargs):
    rest = set(kwargs) - {"constant_values"}
    if rest or callable(mode):
        raise _refuse(f"np.pad with {', '.join(sorted(rest)) or 'a function as mode'}")
    return ops.pad(array, pad_width, mode, kwargs.get("constant_values", 0))


def _shape_of(a):
    return tuple(ops.as_var(a).shape)


_FUNCTIONS = {
    np.sum: _reduction(ops.sum), np.mean: _reduction(ops.mean),
    np.max: _reduction(ops.max), np.amax: _reduction(ops.max),
    np.min: _reduction(ops.min), np.amin: _reduction(ops.min),
    np.prod: _reduction(ops.prod),
    np.var: _moments(ops.var), np.std: _moments(ops.std),
    np.argmax: _arg_reduction(ops.argmax), np.argmin: _arg_reduction(ops.argmin),
    np.cumsum: _scan(ops.cumsum), np.cumprod: _scan(ops.cumprod),
    np.dot: _plain(ops.dot, "dot"),
    np.matmul: _plain(ops.matmul, "matmul"),
    np.inner: lambda a, b: ops.tensordot(a, b, axes=([-1], [-1])),
    np.vdot: lambda a, b: _vdot(a, b),
    np.outer: _plain(ops.outer, "outer"),
    np.tensordot: lambda a, b, axes=2: ops.tensordot(a, b, axes),
    np.einsum: _plain(lambda subscripts, *operands, **kw: ops.einsum(subscripts, *operands),
                      "einsum"),
    np.where: lambda condition, x=None, y=None: ops.where(condition, x, y),
    np.clip: _plain(lambda a, a_min=None, a_max=None, min=None, max=None, **kw: ops.clip(
        a, a_min if min is None else min, a_max if max is None else max), "clip"),
    np.concatenate: _plain(lambda arrays, axis=0, **kw: ops.concatenate(list(arrays), axis),
                           "concatenate"),
    np.stack: _plain(lambda arrays, axis=0, **kw: ops.stack(list(arrays), axis), "stack"),
    np.reshape: lambda a, *args, **kw: ops.reshape(
        a, kw.get("shape", kw.get("newshape", args[0] if args else None))),
    np.transpose: lambda a, axes=None: ops.transpose(a, axes),
    np.swapaxes: lambda a, axis1, axis2: ops.swapaxes(a, axis1, axis2),
    np.expand_dims: lambda a, axis: ops.expand_dims(a, axis),
    np.squeeze: lambda a, axis=None: ops.squeeze(a, axis),
    np.ravel: lambda a, order="C": ops.ravel(a),
    np.broadcast_to: lambda array, shape, subok=False: ops.broadcast_to(array, shape),
    np.zeros_like: lambda a, dtype=None, **kw: ops.zeros_like(a, dtype),
    np.ones_like: lambda a, dtype=None, **kw: ops.ones_like(a, dtype),
    np.full_like: lambda a, fill_value, dtype=None, **kw: ops.full_like(a, fill_value, dtype),
    np.linalg.norm: lambda x, ord=None, axis=None, keepdims=False: linalg.norm(
        x, ord, axis, keepdims),
    np.linalg.solve: linalg.solve, np.linalg.inv: linalg.inv, np.linalg.det: linalg.det,
    np.linalg.slogdet: linalg.slogdet, np.linalg.cholesky: lambda a, **kw: linalg.cholesky(a),
    np.linalg.eigh: lambda a, UPLO="L": linalg.eigh(a),
    np.linalg.qr: lambda a, mode="reduced": _qr(a, mode),
    np.tril: lambda m, k=0: linalg.tril(m, k), np.triu: lambda m, k=0: linalg.triu(m, k),
    np.diagonal: lambda a, offset=0, axis1=0, axis2=1: linalg.diagonal(a, offset, axis1, axis2),
    np.trace: _trace,
    np.shape: _shape_of,
    np.ndim: lambda a: ops.as_var(a).ndim,
    np.size: lambda a, axis=None: (ops.as_var(a).size if axis is None
                                   else ops.as_var(a).shape[axis]),
    np.abs: ops.abs,
    # array manipulation (symgrad/ops/manip.py)
    np.sort: _sorting(ops.sort), np.argsort: _sorting(ops.argsort),
    np.flip: lambda m, axis=None: ops.flip(m, axis),
    np.fliplr: lambda m: ops.flip(m, 1), np.flipud: lambda m: ops.flip(m, 0),
    np.roll: lambda a, shift, axis=None: ops.roll(a, shift, axis),
    np.pad: _pad, np.tile: lambda A, reps: ops.tile(A, reps),
    np.repeat: lambda a, repeats, axis=None: ops.repeat(a, repeats, axis),
    np.take: lambda a, indices, axis=None, out=None, mode="raise": (
        _no_out(out, "take"), ops.take(a, indices, axis, mode))[1],
    np.take_along_axis: lambda arr, indices, axis=-1: ops.take_along_axis(arr, indices, axis),
    np.diff: lambda a, n=1, axis=-1, prepend=None, append=None: ops.diff(
        a, n, axis, prepend, append),
    np.any: _truth(ops.any), np.all: _truth(ops.all),
}


def array_function(func, types, args, kwargs):
    """``Var.__array_function__``: the graph for ``func(*args, **kwargs)``."""
    adapter = _FUNCTIONS.get(func)
    if adapter is None:
        module = getattr(func, "__module__", None) or "numpy"
        if module == "numpy" or module.startswith("numpy._core"):
            module = "numpy"
        qual = f"{module}.{func.__name__}"
        raise _refuse(("np" + qual[5:]) if qual.startswith("numpy.") else qual)
    return adapter(*args, **kwargs)


def supported() -> list[str]:
    """The NumPy names that build graphs when given a variable (for docs and tests)."""
    names = sorted(f"np.{n}" for n in _UFUNCS)
    names += sorted(("np.linalg." if f.__module__ and "linalg" in f.__module__ else "np.")
                    + f.__name__ for f in _FUNCTIONS)
    return names


__all__ = ["array_ufunc", "array_function", "supported"]
