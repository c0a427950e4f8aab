"""Leaves of the graph: inputs, constants and shared variables, and value conversion."""

from __future__ import annotations

import numbers

import numpy as np

from ..aligned import aligned_copy
from ..ir.node import SharedVariable, Var, coerce_value, normalize_shape
from ..ir.types import TensorType, as_dtype
from .registry import defop


def _no_infer(types, **params):  # leaves are never built through apply()
    raise TypeError("leaves have no inputs")


def _emit_constant(args, **params):  # the code generator names constants itself
    raise NotImplementedError


INPUT = defop("input", infer=_no_infer, emit=_emit_constant, leaf="input", inline=False)
CONSTANT = defop("constant", infer=_no_infer, emit=_emit_constant, leaf="constant", inline=False)
SHARED = defop("shared", infer=_no_infer, emit=_emit_constant, leaf="shared", inline=False)


class ConstantVar(Var):
    """A constant: a NumPy value baked into the graph (read-only)."""

    __slots__ = ("_value",)

    def __init__(self, value: np.ndarray, name: str | None = None):
        value = np.array(value, copy=True)
        value.setflags(write=False)
        super().__init__(CONSTANT, (), {}, TensorType(value.dtype, value.shape), name)
        self._value = value

    @property
    def value(self) -> np.ndarray:
        return self._value

    def __repr__(self) -> str:
        if self._value.size <= 6:
            return f"<Constant {self._value.tolist()!r}: {self.type}>"
        return f"<Constant {self.name or ''}: {self.type}>"


def tensor(name: str, shape=(), dtype="float64") -> Var:
    """A symbolic input.

    ``shape`` entries are ints (static sizes), strs (named sizes: the same name is the same
    size) or None (any size).
    """
    if not isinstance(name, str):
        raise TypeError(f"tensor(): the name must be a str, got {type(name).__name__}")
    shape = normalize_shape(shape, f"tensor {name!r}")
    return Var(INPUT, (), {}, TensorType(as_dtype(dtype), shape), name)


def scalar(name: str, dtype="float64", *, shape=()) -> Var:
    """A 0-d symbolic input (``shape``, when given, must be ``()``)."""
    if tuple(shape) != ():
        raise ValueError(f"scalar {name!r}: shape must be (), got {shape!r}; use sg.tensor")
    return tensor(name, (), dtype)


def vector(name: str, size=None, dtype="float64", *, shape=None) -> Var:
    """A 1-D symbolic input of ``size`` elements (an int, a name or None), given either as
    ``size`` or as ``shape=(size,)``."""
    if shape is not None:
        if size is not None:
            raise TypeError(f"vector {name!r}: give size or shape, not both")
        size = shape
    if isinstance(size, (tuple, list)):
        if len(size) != 1:
            raise ValueError(f"vector {name!r}: shape must have one dimension, got {size!r}")
        (size,) = size
    return tensor(name, (size,), dtype)


def matrix(name: str, shape=(None, None), dtype="float64") -> Var:
    """A 2-D symbolic input; ``shape`` (positional or keyword) holds two sizes."""
    if isinstance(shape, (str, int)) or len(tuple(shape)) != 2:
        raise ValueError(f"matrix {name!r}: shape must have two dimensions, got {shape!r}")
    return tensor(name, shape, dtype)


def constant(value, name: str | None = None, dtype=None) -> Var:
    """A constant baked into the graph. A Var is returned unchanged."""
    if isinstance(value, Var):
        return value
    arr = coerce_value(value, name)
    if dtype is not None:
        arr = arr.astype(as_dtype(dtype))
    return ConstantVar(arr, name)


def shared(value, name: str | None = None) -> SharedVariable:
    """A variable that owns an array (copied); ``.value`` reads and assigns it. An array of
    another library (CuPy, PyTorch, array_api_strict) keeps its library and device."""
    from ..backend import copy, is_foreign
    if is_foreign(value):
        return SharedVariable(SHARED, copy(value), name)
    arr = aligned_copy(coerce_value(value, name))
    return SharedVariable(SHARED, arr, name)


def as_var(x, like: Var | None = None) -> Var:
    """Turn ``x`` into a variable. Python numbers take their dtype from ``like`` the way
    NumPy 2 treats Python scalars (they do not upcast: ``float32 * 2.0`` is float32)."""
    if isinstance(x, Var):
        return x
    if _python_number(x):
        if like is not None:
            try:
                dt = np.result_type(like.dtype, x)
            except (OverflowError, TypeError) as exc:
                raise TypeError(f"cannot combine Python value {x!r} with a {like.type} "
                                f"variable: {exc}") from None
            if isinstance(x, complex):
                raise TypeError("complex values are not supported")
            return ConstantVar(np.asarray(x, dtype=dt))
        return ConstantVar(np.asarray(x))
    return ConstantVar(coerce_value(x))


def as_vars(a, b) -> tuple[Var, Var]:
    """Convert the operands of a binary op (a Python number takes the other's dtype, and
    so does a size: see ``weak_size``)."""
    if isinstance(a, Var) and isinstance(b, Var):
        return _weak_to(a, b), _weak_to(b, a)
    if isinstance(a, Var):
        return a, as_var(b, a)
    if isinstance(b, Var):
        return as_var(a, b), b
    # neither is a variable (np.where(c, np.float32(1), 0.5)): a Python number still
    # takes its dtype from the other operand, which NumPy treats as strong
    if _python_number(a) and not _python_number(b):
        b = as_var(b)
        return as_var(a, b), b
    if _python_number(b) and not _python_number(a):
        a = as_var(a)
        return a, as_var(b, a)
    return as_var(a), as_var(b)


def _python_number(x) -> bool:
    return isinstance(x, (bool, numbers.Number)) and not isinstance(x, np.generic)


# the most nodes looked at to decide whether a scalar is an expression of sizes
_WEAK_LIMIT = 32


def weak_size(v: Var) -> bool:
    """Whether ``v`` is a size: a 0-d integer computed from array sizes (``x.shape[0]``,
    ``n - 1``, ``2 * n``) and integer constants only. A static size is a Python int, so a
    symbolic one behaves like one too (NumPy and JAX treat Python ints as weak):
    ``x / x.shape[0]`` has ``x``'s dtype whether the size is static or not."""
    stack, seen, sizes = [v], 0, False
    while stack:
        n = stack.pop()
        seen += 1
        if seen > _WEAK_LIMIT or n.ndim != 0 or n.dtype.kind not in "iu":
            return False
        if n.op.python_int:
            sizes = True
        elif n.op.leaf == "constant":
            continue
        elif n.op.elementwise and not n.op.leaf:
            stack.extend(n.inputs)
        else:
            return False
    return sizes


def _weak_to(v: Var, other: Var) -> Var:
    """``v`` cast to the dtype a Python int would take beside ``other`` when ``v`` is a
    size and ``other`` is not (``float32 / n`` is float32, ``int32 + n`` int32)."""
    if v.dtype.kind not in "iu" or v.ndim != 0 or not weak_size(v) or weak_size(other):
        return v
    dt = np.result_type(other.dtype, 1)
    if dt == v.dtype:
        return v
    from .shape import size_as
    return size_as(v, dt)

