"""Memory planning helpers for the emitter: which statements can write into a given
array (``out=``), and the bookkeeping of scratch buffers.

The emitter walks its schedule once. For every statement it knows which values the
statement reads; a value whose last reader has run is dead, and the buffer it held goes
back to a free list keyed by (shape, dtype). A later statement of the same shape and dtype
writes into it through ``out=``; an elementwise statement may even write into the buffer
of an input that dies at that very statement (in place). Buffers live in a *workspace*:
a list of arrays made once per input-shape signature by the generated ``_workspace``
function and handed back to the generated function on every call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..ir.node import Var
from ..ops.registry import Expr
from .lower.statements import out_form

_CALL = re.compile(r"np\.([A-Za-z_][A-Za-z0-9_]*)\((.*)\)\Z", re.S)
# a 2-D sum over either axis is a matrix-vector product with a vector of ones (BLAS):
# 2-6x faster than ``np.add.reduce`` on this machine's NumPy/OpenBLAS
BLAS_SUMS = True
# the max/min over the last axis of a 2-D array at most this wide is taken over a
# transposed copy: NumPy reduces a short contiguous axis one row at a time (about 50 ns a
# row), but reduces the leading axis with whole-row vector operations
NARROW_REDUCE_MAX = 32


@dataclass
class Buffer:
    """One workspace array."""

    name: str
    shape: tuple           # ints and named dimensions
    dtype: np.dtype
    # None: scratch; "arange": np.arange(length); a number: an array full of it. Filled
    # arrays are read-only and never handed out as scratch.
    fill: object = None


class NoWorkspace:
    """What ``out_call`` is given where no workspace arrays can be made."""

    def filled(self, shape, dtype, value):
        return None

    def scratch(self, shape, dtype):
        return None

    def add_line(self, text, shape, note):
        raise AssertionError("no workspace: nothing may be written before the statement")


NO_WORKSPACE = NoWorkspace()


def _ufunc(name: str | None):
    if not name:
        return None
    f = getattr(np, name, None)
    return f if isinstance(f, np.ufunc) else None


def _single_call(text: str):
    """(function name, argument text) when ``text`` is exactly one ``np.f(...)`` call."""
    m = _CALL.match(text)
    if not m:
        return None
    depth = 0
    body = m.group(2)
    for ch in body:   # the outer parentheses must enclose everything
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth < 0:
                return None
    return (m.group(1), body) if depth == 0 else None


def kind(n: Var) -> str | None:
    """How ``n`` can write into a given array: "ufunc", "matmul", "reduce", "sum_axis0",
    "sum_axis1", "narrow_reduce", "scatter_add", "gemm_update" (``OpDef.writes``), or None
    (it cannot)."""
    op = n.op
    if op.writes is not None:
        return op.writes
    if op.ufunc == "matmul":
        if n.inputs[0].ndim >= 1 and n.inputs[1].ndim >= 1:
            return "matmul"
        return None
    if op.reduction == "fold":
        x = n.inputs[0]
        if n.params.get("axis") is None or x.dtype != n.dtype or x.dtype.kind not in "fc":
            return None
        axis = tuple(n.params["axis"])
        if x.ndim == 2 and len(axis) == 1:
            if BLAS_SUMS and op.ufunc == "add":
                return "sum_axis0" if axis == (0,) else "sum_axis1"
            width = x.type.shape[1]
            if (op.ufunc in ("maximum", "minimum") and axis == (1,) and isinstance(width, int)
                    and width <= NARROW_REDUCE_MAX):
                return "narrow_reduce"
        return "reduce"
    if op.elementwise:
        return "ufunc"
    return None


def out_call(n: Var, args: list[Expr], expr: Expr, out: str, ws=NO_WORKSPACE):
    """The text of ``n`` computed into ``out``, or None when it cannot be.

    ``ws`` makes workspace arrays (``filled``: read-only constants; ``scratch``: a
    temporary for this statement alone) and writes setup statements (``add_line``); with
    ``NO_WORKSPACE`` the plain ``out=`` forms are used."""
    k = kind(n)
    text = out_form(n, args, out, ws)         # a statement lowering (codegen/lower)
    if text is not None:
        return text
    if k == "matmul":
        # np.dot is np.matmul for these ranks, with less call overhead (small arrays)
        a, b = n.inputs
        fn = "np.dot" if a.ndim <= 2 and b.ndim <= 2 and a.dtype == b.dtype else "np.matmul"
        return f"{fn}({args[0].text}, {args[1].text}, out={out})"
    x = n.inputs[0] if n.inputs else None
    if k == "sum_axis0":         # ones @ x (a row of ones when the result keeps dims)
        rows = x.type.shape[0]
        ones = ws.filled((1, rows) if n.params.get("keepdims") else (rows,), x.dtype, 1)
        if ones is not None:
            return f"np.dot({ones}, {args[0].text}, out={out})"
    if k == "sum_axis1":         # x @ ones (a column of ones when the result keeps dims)
        width = x.type.shape[1]
        ones = ws.filled((width, 1) if n.params.get("keepdims") else (width,), x.dtype, 1)
        if ones is not None:
            return f"np.dot({args[0].text}, {ones}, out={out})"
    if k == "narrow_reduce":     # over a transposed copy, whose rows are the columns
        rows = ws.scratch((x.type.shape[1], x.type.shape[0]), x.dtype)
        if rows is not None:
            ws.add_line(f"np.copyto({rows}, {args[0].atom}.T)",
                        (x.type.shape[1], x.type.shape[0]),
                        "columns as rows (a fast reduce)")
            keep = n.params.get("keepdims")
            target = f"{out}.T" if keep else out
            text = (f"np.{n.op.ufunc}.reduce({rows}, axis=0"
                    f"{', keepdims=True' if keep else ''}, out={target})")
            return text + ".T" if keep else text
    if k in ("reduce", "sum_axis0", "sum_axis1", "narrow_reduce"):
        axis = tuple(n.params["axis"])
        ax = str(axis[0]) if len(axis) == 1 else str(axis)
        keep = ", keepdims=True" if n.params.get("keepdims") else ""
        return f"np.{n.op.ufunc}.reduce({args[0].text}, axis={ax}{keep}, out={out})"
    if k == "ufunc":
        f = _ufunc(n.op.ufunc)
        if f is not None and f.nin == len(args) and f.nout == 1:
            return f"np.{f.__name__}({', '.join(a.text for a in args)}, out={out})"
        call = _single_call(expr.text)
        if call is not None and _ufunc(call[0]) is not None and _ufunc(call[0]).nout == 1:
            return f"np.{call[0]}({call[1]}, out={out})"
    return None


def faster_expr(n: Var, args: list[Expr], expr: Expr) -> Expr:
    """A cheaper spelling of ``expr`` for planned code, where one exists.

    ``x.mean()`` goes through NumPy's Python-level wrapper (several microseconds on a
    small array); ``np.add.reduce(x) / n`` is the same arithmetic without it.
    """
    if n.op.reduction == "mean" and n.dtype == n.inputs[0].dtype and n.dtype.kind == "f":
        x = n.inputs[0]
        axis = n.params["axis"]
        axes = tuple(range(x.ndim)) if axis is None else tuple(axis)
        if not axes:
            return expr
        sizes = " * ".join(f"{args[0].atom}.shape[{a}]" for a in axes)
        ax = "None" if axis is None else (str(axes[0]) if len(axes) == 1 else str(axes))
        ax = "" if x.ndim == 1 else f", axis={ax}"   # a 1-D array: axis 0 is everything
        keep = ", keepdims=True" if n.params.get("keepdims") else ""
        return Expr(f"np.{n.op.ufunc}.reduce({args[0].text}{ax}{keep}) / "
                    f"{sizes if len(axes) == 1 else '(' + sizes + ')'}", 12)
    return expr


def can_write(n: Var) -> bool:
    """Whether ``n`` may get an ``out=`` buffer at all (the text may still refuse)."""
    return kind(n) is not None


def fresh_result(n: Var) -> bool:
    """Whether the plain emission of ``n`` returns a new array (never one of its inputs or a
    view of one); anything else is treated as possibly aliasing its inputs."""
    if n.op.reduction is not None:
        return True
    return kind(n) in ("ufunc", "matmul", "reduce", "sum_axis0", "sum_axis1",
                       "narrow_reduce", "gemm_update") and not n.op.identity
