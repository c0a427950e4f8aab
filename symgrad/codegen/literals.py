"""How values are written in generated code: literals of constants (scalars as Python
numbers where NumPy treats them the same, small arrays inline, large ones as base64 that
the runtime supplies), and which Python-number arithmetic needs NumPy's semantics."""

from __future__ import annotations

import base64
import re

import numpy as np

from ..ir.node import Var
from ..ops.registry import PREC_UNARY, Expr


# dtypes NumPy gives Python bools, ints and floats when it makes arrays of them
# ufuncs whose Python operator form differs from NumPy on Python numbers (see node())
PYTHON_DIFFERS = frozenset({"divide", "floor_divide", "remainder", "power"})


def nonzero_constant(v: Var) -> bool:
    """A constant with no zero in it (a safe divisor for Python's operators)."""
    return v.op.leaf == "constant" and bool(np.all(v.value != 0)) and v.value.dtype.kind != "c"


PYTHON_DEFAULT_DTYPES = (np.dtype(np.bool_), np.dtype(np.int64), np.dtype(np.float64))


LITERAL_ARRAY_SIZE = 16


def scalar_literal(value: np.ndarray) -> Expr:
    v = value.item()
    if isinstance(v, bool):
        return Expr(repr(v))
    if isinstance(v, float):
        if np.isnan(v):
            return Expr("np.nan")
        if np.isinf(v):
            return Expr("np.inf" if v > 0 else "-np.inf", PREC_UNARY if v < 0 else 20)
    text = repr(v)
    if value.dtype == np.float32:   # the shortest text that reads back as this float32
        short = str(np.float32(v))
        if np.float32(float(short)) == np.float32(v):
            text = short
    return Expr(text, PREC_UNARY if text.startswith("-") else 20)


def array_literal(name: str, value: np.ndarray) -> str:
    dtype = f"np.{value.dtype.name}"
    if value.size == 0:         # a nested list would lose the shape of an empty array
        return f"{name} = np.zeros({value.shape!r}, dtype={dtype})"
    if value.size <= LITERAL_ARRAY_SIZE:
        text = repr(value.tolist())
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            text = re.sub(r"\b(nan|inf)\b", r"np.\1", text)
        return f"{name} = np.array({text}, dtype={dtype})"
    data = base64.b64encode(np.ascontiguousarray(value).tobytes()).decode("ascii")
    return (f"{name} = np.frombuffer(base64.b64decode({data!r}), dtype=np.{value.dtype.name})"
            f".reshape({value.shape!r}).copy()")
