"""Guards and helpers shared by the rule sets."""

from __future__ import annotations

from ...ir.node import Var
from ..engine import type_fits
from ..pattern import P, Param, first_match, match, pvars, scalar_value

_e, _s, _y, _w, _z, _c, _k = pvars("e s y w z c k")
_SOFTMAX = P.divide(_e, _s)
_EXP = P.exp(_z)
_SUM_OF_E = P.sum(_e, axis=Param("axis"), keepdims=True)
_ANY_SUM_OF_E = P.sum(_e)
_ONE_MINUS_SIGMOID = 1 - P.sigmoid(_z)
_SHIFTED = _y - P.stop_gradient(P.max(_w))
_SHIFTED_GUARDED = _y - P.stop_gradient(P.where(_c, P.max(_w), _k))    # logsumexp's


def keeps(name: str):
    """Guard: the bound node ``name`` already has the matched node's type (so replacing the
    node by it neither broadcasts nor casts)."""
    def guard(b) -> bool:
        v, node = b[name], b.node
        if v.type.shape != node.type.shape or v.dtype != node.dtype:
            return False
        # an elementwise node compares unknown sizes (None) of its operands at run time;
        # dropping an operand that has one would drop that check (x * broadcast_like(1,
        # x * y) -> x: a gradient of sum(x * y) that no longer refuses mismatched x and y)
        return not (node.op.elementwise and any(
            o is not v and None in o.type.shape for o in node.inputs))
    guard.__name__ = f"keeps_{name}"
    return guard


def fits(v: Var | None, node: Var) -> Var | None:
    """``v`` if it can replace ``node``, else None (a replacement function declines)."""
    if v is None or not type_fits(v, node):
        return None
    return v


def broadcast_fit(new: Var, old: Var, *, lend: bool = False) -> Var | None:
    """``new`` broadcast to ``old``'s shape, for a rule whose result is an operand of an
    elementwise expression (``(a / q) * q -> a`` with a scalar ``a``: the product had
    ``a`` broadcast). The replacement then keeps the node's type. None where ``new`` does
    not have ``old``'s dtype or does not broadcast to its shape. ``lend=True`` lets ``old``
    itself lend its shape (only where ``old`` is not the node being replaced)."""
    from ...ops import broadcast_like, broadcast_to
    if type_fits(new, old):
        return new
    a, b = new.type, old.type
    if a.dtype != b.dtype or a.ndim > b.ndim:
        return None
    lead = b.ndim - a.ndim
    for d, e in zip(a.shape, b.shape[lead:]):
        if d != 1 and d != e:
            return None
    if all(isinstance(d, int) for d in b.shape):
        return broadcast_to(new, b.shape)
    if lend:
        return broadcast_like(new, old)
    for ref in old.inputs:      # an input of the node with its shape lends it
        if ref.type.shape == b.shape:
            return broadcast_like(new, ref)
    return None


def is_float(v: Var) -> bool:
    return v.dtype.kind == "f"


def value(v: Var):
    return scalar_value(v)


def is_softmax(p: Var) -> bool:
    """``e / s`` with ``e = exp(z)`` and ``s = sum(e, axis, keepdims=True)``."""
    b = first_match(_SOFTMAX, p)
    return b is not None and is_exp_sum(b["e"], b["s"], keepdims=True)


def is_exp_sum(e: Var, s: Var, keepdims: bool = False) -> bool:
    """``e = exp(z)`` and ``s = sum(e, ...)`` (a sum that keeps its dims when asked)."""
    if first_match(_EXP, e) is None:
        return False
    return next(match(_SUM_OF_E if keepdims else _ANY_SUM_OF_E, s, {"e": e}), None) is not None


def positive(p: Var) -> bool:
    """True when ``p`` is positive by construction, though it may underflow to 0 in
    floating point: an op that says so (exp, sigmoid: ``OpDef.positive``), softmax,
    1 - sigmoid."""
    return (p.op.positive or is_softmax(p)
            or first_match(_ONE_MINUS_SIGMOID, p) is not None)


def is_shifted(x: Var) -> bool:
    """``y - stop_gradient(max(y, ...))`` (or of the maximum where finite, as logsumexp
    shifts): already shifted by its maximum."""
    return first_match(_SHIFTED, x) is not None or first_match(_SHIFTED_GUARDED, x) is not None
