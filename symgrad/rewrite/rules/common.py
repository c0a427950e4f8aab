"""Guards and helpers shared by the rule sets."""

from __future__ import annotations

from ...ir.node import Var
from ..engine import type_fits
from ..pattern import scalar_value


def keeps(name: str):
    """Guard: the bound node ``name`` already has the matched node's type (so replacing the
    node by it neither broadcasts nor casts)."""
    def guard(b) -> bool:
        v = b[name]
        return v.type.shape == b.node.type.shape and v.dtype == b.node.dtype
    guard.__name__ = f"keeps_{name}"
    return guard


def fits(v: Var | None, node: Var) -> Var | None:
    """``v`` if it can replace ``node``, else None (a replacement function declines)."""
    if v is None or not type_fits(v, node):
        return None
    return v


def broadcast_fit(new: Var, old: Var) -> Var | None:
    """``new`` broadcast to ``old``'s shape, for a rule whose result is an operand of an
    elementwise expression (``(a / q) * q -> a`` with a scalar ``a``: the product had
    ``a`` broadcast). The replacement then keeps the node's type. None where ``new`` does
    not have ``old``'s dtype or does not broadcast to its shape."""
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
    if p.op.name != "divide":
        return False
    e, s = p.inputs
    return (e.op.name == "exp" and s.op.name == "sum" and s.inputs[0] is e
            and s.params["keepdims"])


def positive(p: Var) -> bool:
    """True when ``p`` is positive by construction, though it may underflow to 0 in
    floating point: exp, sigmoid, softmax, 1 - sigmoid."""
    name = p.op.name
    if name in ("exp", "sigmoid"):
        return True
    if is_softmax(p):
        return True
    if name == "subtract" and scalar_value(p.inputs[0]) == 1 and p.inputs[1].op.name == "sigmoid":
        return True
    return False


def is_shifted(x: Var) -> bool:
    """``y - stop_gradient(max(y, ...))``: already shifted by its maximum."""
    if x.op.name != "subtract":
        return False
    m = x.inputs[1]
    return m.op.name == "stop_gradient" and m.inputs[0].op.name == "max"
