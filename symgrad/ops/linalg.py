"""Linear algebra: matmul (1-D, 2-D and batched, NumPy's rules)."""

from __future__ import annotations

from ..ir.types import ShapeError, TensorType, broadcast_shapes, format_shape
from .elementwise import ufunc_dtype
from .leaves import as_vars
from .registry import PREC_MUL, apply, defop, emit_infix
from .shape import expand_dims, squeeze, sum_to, swapaxes


def _matmul_infer(types, **_):
    a, b = types
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError("matmul does not take scalars; use * for scaling")
    ash = a.shape if a.ndim > 1 else (1,) + a.shape
    bsh = b.shape if b.ndim > 1 else b.shape + (1,)
    ka, kb = ash[-1], bsh[-2]
    if isinstance(ka, int) and isinstance(kb, int) and ka != kb:
        raise ShapeError(f"inner dimensions differ: {format_shape(a.shape)} @ "
                         f"{format_shape(b.shape)} ({ka} vs {kb})")
    try:
        batch, _ = broadcast_shapes(ash[:-2], bsh[:-2])
    except ShapeError as exc:
        raise ShapeError(f"batch dimensions of {format_shape(a.shape)} and "
                         f"{format_shape(b.shape)} do not broadcast ({exc})") from None
    shape = batch + ((ash[-2],) if a.ndim > 1 else ()) + ((bsh[-1],) if b.ndim > 1 else ())
    return TensorType(ufunc_dtype("matmul", a.dtype.name, b.dtype.name), shape)


def _mT(x):
    return swapaxes(x, -1, -2)


def _matmul_vjp(g, out, a, b):
    if a.ndim == 1 and b.ndim == 1:       # inner product
        return [g * b, g * a]
    if a.ndim == 1:                       # (k,) @ (..., k, n) -> (..., n)
        ga = squeeze(matmul(b, expand_dims(g, -1)), -1)
        gb = expand_dims(a, -1) * expand_dims(g, -2)
        return [sum_to(ga, a), sum_to(gb, b)]
    if b.ndim == 1:                       # (..., m, k) @ (k,) -> (..., m)
        ga = expand_dims(g, -1) * b
        gb = squeeze(matmul(_mT(a), expand_dims(g, -1)), -1) if a.ndim > 2 else matmul(_mT(a), g)
        return [ga, sum_to(gb, b)]
    return [sum_to(matmul(g, _mT(b)), a), sum_to(matmul(_mT(a), g), b)]


MATMUL = defop("matmul", infer=_matmul_infer, emit=emit_infix("@", PREC_MUL),
               vjp=_matmul_vjp, inline=False, short="mm", infix="@", cost=10)


def matmul(a, b):
    """Matrix product with NumPy's ``@`` rules (1-D operands, batch broadcasting)."""
    a, b = as_vars(a, b)
    return apply(MATMUL, [a, b])

