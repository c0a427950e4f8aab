"""Tensor types: a dtype and a shape whose dimensions are static, named or unknown.

A dimension (``Dim``) is one of

* an ``int``: a static size, known while building;
* a ``str``: a named size; every dimension with the same name has the same size, which is
  checked when a compiled function is called;
* ``None``: any size.

Broadcasting follows NumPy, with one restriction that makes build-time reasoning sound: a
dimension broadcasts only where its size is statically 1. Two non-static dimensions that
are not provably equal must match at run time, and the code generator emits a check for
exactly those places.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Iterable, Union

import numpy as np

Dim = Union[int, str, None]

SUPPORTED_DTYPES = frozenset(
    np.dtype(d) for d in ("float16", "float32", "float64", "int8", "int16", "int32", "int64",
                          "uint8", "uint16", "uint32", "uint64", "bool")
)

_SHORT = {"float16": "f16", "float32": "f32", "float64": "f64", "int8": "i8", "int16": "i16",
          "int32": "i32", "int64": "i64", "uint8": "u8", "uint16": "u16", "uint32": "u32",
          "uint64": "u64", "bool": "bool"}


class ShapeError(ValueError):
    """A shape mismatch found while building a graph."""


def as_dtype(dtype) -> np.dtype:
    """Normalise a dtype-like value and refuse the ones symgrad does not support."""
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"not a dtype: {dtype!r}") from exc
    if dt not in SUPPORTED_DTYPES:
        raise TypeError(f"dtype {dt} is not supported; use float32, float64, an integer type "
                        "or bool")
    return dt


def check_dim(d, where: str = "shape") -> Dim:
    if d is None or isinstance(d, str):
        return d
    if isinstance(d, (bool, np.bool_)):
        raise TypeError(f"{where}: a dimension must be an int, a str or None, not {d!r}")
    if isinstance(d, (int, np.integer)):
        if d < 0:
            raise ValueError(f"{where}: negative dimension {d}")
        return int(d)
    raise TypeError(f"{where}: a dimension must be an int, a str or None, not {d!r}")


@dataclass(frozen=True)
class TensorType:
    """The static type of a variable: a NumPy dtype and a tuple of dimensions."""

    dtype: np.dtype
    shape: tuple

    def __post_init__(self):
        object.__setattr__(self, "dtype", as_dtype(self.dtype))
        object.__setattr__(self, "shape", tuple(check_dim(d) for d in self.shape))

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def is_float(self) -> bool:
        return self.dtype.kind == "f"

    @property
    def is_static(self) -> bool:
        return all(isinstance(d, int) for d in self.shape)

    def with_dtype(self, dtype) -> "TensorType":
        return TensorType(as_dtype(dtype), self.shape)

    def with_shape(self, shape) -> "TensorType":
        return TensorType(self.dtype, tuple(shape))

    def __str__(self) -> str:
        return f"{short_dtype(self.dtype)}{format_shape(self.shape)}"


def format_dim(d: Dim) -> str:
    return "?" if d is None else str(d)


def format_shape(shape: Iterable[Dim]) -> str:
    return "[" + ", ".join(format_dim(d) for d in shape) + "]"


@functools.lru_cache(maxsize=None)
def short_dtype(dtype) -> str:
    dt = np.dtype(dtype)
    return _SHORT.get(dt.name, dt.name)


def dims_equal(a: Dim, b: Dim) -> bool:
    """True when two dimensions are provably the same size."""
    return a is not None and a == b


def merge_dim(a: Dim, b: Dim) -> tuple[Dim, bool]:
    """Combine two aligned dimensions for broadcasting.

    Returns ``(dim, needs_check)``; ``needs_check`` is True when the sizes must be compared
    at run time. Raises ShapeError for two different static sizes, neither of them 1.
    """
    if a == 1:
        return b, False
    if b == 1:
        return a, False
    if isinstance(a, int) and isinstance(b, int):
        if a != b:
            raise ShapeError(f"{a} vs {b}")
        return a, False
    if dims_equal(a, b):
        return a, False
    # prefer the most specific: static > named > unknown
    if isinstance(a, int) or (isinstance(a, str) and not isinstance(b, int)):
        return a, True
    return (b if b is not None else a), True


def broadcast_shapes(*shapes: tuple) -> tuple[tuple, bool]:
    """Broadcast shapes NumPy-style; returns ``(shape, needs_runtime_check)``."""
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    check = False
    for axis in range(ndim):
        dim: Dim = 1
        for s in shapes:
            k = axis - (ndim - len(s))
            if k < 0:
                continue
            dim, c = merge_dim(dim, s[k])
            check = check or c
        out.append(dim)
    return tuple(out), check


def promote(*dtypes) -> np.dtype:
    """NumPy 2 promotion of tensor dtypes (no value-based casting)."""
    return np.result_type(*[np.dtype(d) for d in dtypes])


def float_dtype_for(dtype) -> np.dtype:
    """The float dtype an operation like ``exp`` or ``mean`` produces for ``dtype``."""
    dt = np.dtype(dtype)
    if dt.kind == "f":
        return dt
    return np.dtype("float64")


def check_int_fits(arr: np.ndarray, dtype, what: str) -> None:
    """Refuse (``ValueError`` naming ``what``) an integer-to-integer cast of ``arr`` to
    ``dtype`` that would wrap a value around: NumPy's ``same_kind`` rule allows int64 data
    into an int32 input, but ``astype`` turns 2**40 into 0 without a word (a label that
    silently becomes another valid label)."""
    dtype = np.dtype(dtype)
    if (arr.dtype.kind not in "iu" or dtype.kind not in "iu" or arr.size == 0
            or np.can_cast(arr.dtype, dtype, "safe")):
        return
    info = np.iinfo(dtype)
    lo, hi = arr.min(), arr.max()
    if lo < info.min or hi > info.max:
        bad = lo if lo < info.min else hi
        raise ValueError(f"{what}: the value {bad} does not fit in {dtype} ({info.min} to "
                         f"{info.max}); casting would wrap it around")


def size_check_groups(node) -> list[list[tuple[int, int]]]:
    """For an elementwise node, the groups of (input, axis) whose sizes must be compared
    at run time: aligned dimensions that are not provably equal and not statically 1
    (the generated code's ``_same_size`` lines)."""
    if not node.op.elementwise or len(node.inputs) < 2:
        return []
    shapes = [i.type.shape for i in node.inputs]
    _, check = broadcast_shapes(*shapes)
    if not check:
        return []
    ndim = max(len(s) for s in shapes)
    groups = []
    for axis in range(ndim):
        members = []
        for k, s in enumerate(shapes):
            j = axis - (ndim - len(s))
            if j >= 0 and s[j] != 1:
                members.append((k, j))
        dims = {shapes[k][j] for k, j in members}
        if len(members) > 1 and (len(dims) > 1 or None in dims):
            groups.append(members)
    return groups
