"""Algebraic simplification: rules that never change a result (beyond rounding of
gathered constants), and the clean-ups that gradient graphs need.

Each rule is one (pattern -> replacement) line with its ``# lhs -> rhs`` comment. The
guard ``keeps("x")`` says the replacement already has the node's shape and dtype (so
``x * 1`` is not simplified when the 1 broadcasts ``x`` to a larger shape).
"""

from __future__ import annotations

import numpy as np

from ... import ops
from ...ir.types import broadcast_shapes, size_check_groups
from ...ops.checks import same_size
from ...ops.registry import apply
from ..engine import Rule, RuleSet
from ..pattern import P, Param, PConst, pvars
from .common import fits, is_float, keeps, value

x, y, a, ref = pvars("x y a ref")
c1, c2 = PConst(name="c1"), PConst(name="c2")
AX = Param("axis")

ALGEBRA = RuleSet("algebra")
rule = ALGEBRA.rule

# --- identities ------------------------------------------------------------------------
# x * 1 -> x
rule("mul_one", x * 1, x, when=keeps("x"))
# x + 0 -> x
rule("add_zero", x + 0, x, when=keeps("x"))
# x - 0 -> x
rule("sub_zero", x - 0, x, when=keeps("x"))
# 0 - x -> -x
rule("zero_sub", 0 - x, -x, when=keeps("x"))
# x / 1 -> x
rule("div_one", x / 1, x, when=keeps("x"))
# x ** 1 -> x
rule("pow_one", x ** 1, x, when=keeps("x"))
# x ** 2 -> square(x)
rule("pow_two", x ** 2, P.square(x), when=keeps("x"))
# x ** 0.5 -> sqrt(x)
rule("pow_half", x ** 0.5, P.sqrt(x), when=keeps("x"))
# x * -1 -> -x
rule("mul_minus_one", x * -1, -x, when=keeps("x"))

# --- negation --------------------------------------------------------------------------
# -(-x) -> x
rule("neg_neg", -(-x), x)
# x - (-y) -> x + y
rule("sub_neg", x - (-y), x + y)
# x + (-y) -> x - y
rule("add_neg", x + (-y), x - y)
# (-x) * (-y) -> x * y
rule("mul_neg_neg", (-x) * (-y), x * y)
# (-x) / (-y) -> x / y
rule("div_neg_neg", (-x) / (-y), x / y)
# -(x - y) -> y - x
rule("neg_sub", -(x - y), y - x)


# --- constants -------------------------------------------------------------------------
def _scalar(v, like):
    return ops.constant(np.asarray(v, dtype=like.dtype))


def _div_const(b):
    c = value(b.c1)
    if not is_float(b.node) or c is None or c == 0 or b.c1.ndim != 0:
        return None
    return fits(ops.multiply(b.x, _scalar(1.0 / c, b.c1)), b.node)


# x / c -> x * (1 / c)            (c a float scalar constant)
rule("div_const", x / c1, _div_const)


def _gather(combine, build):
    def rhs(b):
        if b.c1.ndim != 0 or b.c2.ndim != 0 or b.c1.dtype != b.c2.dtype:
            return None
        v = combine(np.asarray(value(b.c1), b.c1.dtype), np.asarray(value(b.c2), b.c2.dtype))
        return fits(build(b.x, _scalar(v, b.c1)), b.node)
    return rhs


# (x * c1) * c2 -> x * (c1 * c2)
rule("gather_mul", (x * c1) * c2, _gather(np.multiply, ops.multiply))
# (x + c1) + c2 -> x + (c1 + c2)
rule("gather_add", (x + c1) + c2, _gather(np.add, ops.add))
# (x - c1) + c2 -> x + (c2 - c1)
rule("gather_sub_add", (x - c1) + c2, _gather(lambda p, q: q - p, ops.add))
# -(x * c1) -> x * (-c1)
rule("neg_mul_const", -(x * c1),
     lambda b: fits(ops.multiply(b.x, _scalar(-np.asarray(value(b.c1)), b.c1)), b.node)
     if b.c1.ndim == 0 else None)

# --- shapes ----------------------------------------------------------------------------


def _transpose_transpose(b):
    inner, outer = b.axes_in, b.axes_out
    axes = tuple(inner[k] for k in outer)
    if axes == tuple(range(len(axes))):
        return b.x
    return ops.transpose(b.x, axes)


# transpose(transpose(x)) -> transpose(x, composed axes), or x
rule("transpose_transpose", P.transpose(P.transpose(x, axes=Param("axes_in")),
                                        axes=Param("axes_out")), _transpose_transpose)


def _static_reshape(t):
    return all(isinstance(d, int) for d in t)


# reshape(reshape(x)) -> reshape(x)
rule("reshape_reshape", P.reshape(P.reshape(x, shape=Param("s_in")), shape=Param("s_out")),
     lambda b: ops.reshape(b.x, b.s_out) if _static_reshape(b.s_out) else None)
# reshape(x) -> x                 (to its own shape)
rule("reshape_noop", P.reshape(x, shape=Param("s")),
     lambda b: b.x if b.x.type.shape == b.node.type.shape and b.x.type.is_static else None)
# reshape_like(x, ref) -> x       (same shape)
rule("reshape_like_noop", P.reshape_like(x, ref), x, when=keeps("x"))
# squeeze(expand_dims(x, axis), axis) -> x
rule("squeeze_expand", P.squeeze(P.expand_dims(x, axis=AX), axis=AX), x)
# expand_dims(squeeze(x, axis), axis) -> x
rule("expand_squeeze", P.expand_dims(P.squeeze(x, axis=AX), axis=AX), x)
# broadcast_like(x, ref) -> x     (same shape)
rule("broadcast_noop", P.broadcast_like(x, ref), x, when=keeps("x"))
# broadcast_like(broadcast_like(x, r1), ref) -> broadcast_like(x, ref)
rule("broadcast_broadcast", P.broadcast_like(P.broadcast_like(x, y), ref),
     lambda b: fits(ops.broadcast_like(b.x, b.ref), b.node))

# expand_dims(sum(x, axis), axis) -> sum(x, axis, keepdims=True)   (also mean, max, min)
for _red in ("sum", "mean", "max", "min"):
    rule(f"expand_{_red}",
         P.expand_dims(getattr(P, _red)(x, axis=AX, keepdims=False), axis=AX),
         lambda b, _r=_red: getattr(ops, _r)(b.x, b.axis, keepdims=True))
    # squeeze(sum(x, axis, keepdims=True), axis) -> sum(x, axis)
    rule(f"squeeze_{_red}",
         P.squeeze(getattr(P, _red)(x, axis=AX, keepdims=True), axis=AX),
         lambda b, _r=_red: getattr(ops, _r)(b.x, b.axis))


# --- reductions of broadcasts ----------------------------------------------------------
def _reduce_of_broadcast(mean: bool):
    # sum(broadcast_like(a, ref), S) -> a * size(ref, S), when every summed axis is one
    # that the broadcast created (and mean(...) -> a)
    def rhs(b):
        src, full, node = b.a, b.ref, b.node
        axis, keepdims = b.axis, b.keepdims
        nd = full.ndim
        lead = nd - src.ndim
        axes = tuple(range(nd)) if axis is None else axis
        for i in axes:
            if i >= lead and src.type.shape[i - lead] != 1:
                return None
        out = src
        if not keepdims:
            sq = tuple(i - lead for i in axes if i >= lead)
            if sq:
                out = ops.squeeze(out, sq)
        elif lead:
            return None
        if not mean:
            n = ops.size_of(full, axes, dtype=src.dtype.name)
            out = ops.multiply(out, n)
        return fits(out, node)
    return rhs


for _red, _mean in (("sum", False), ("mean", True)):
    # sum(broadcast_like(a, ref), axis) -> a * size(ref, axis)
    rule(f"{_red}_of_broadcast",
         getattr(P, _red)(P.broadcast_like(a, ref), axis=AX, keepdims=Param("keepdims")),
         _reduce_of_broadcast(_mean))


# expand_dims(broadcast_like(a, ref), axis) -> broadcast_like(a, expand_dims(ref, axis))
rule("expand_broadcast", P.expand_dims(P.broadcast_like(a, ref), axis=AX),
     lambda b: fits(ops.broadcast_like(b.a, ops.expand_dims(b.ref, b.axis)), b.node)
     if b.a.ndim == 0 else None)


def _scatter_scalar(node):
    g = node.inputs[0]
    if g.op.entries != "broadcast" or g.inputs[0].ndim != 0:
        return None
    src = g.inputs[0]
    if src.dtype != g.dtype:
        return None
    return apply(node.op, [src] + list(node.inputs[1:]), **node.params)


# index_grad(broadcast_like(a, ref), ref, *index) -> index_grad(a, ref, *index)  (a 0-d)
ALGEBRA.add(Rule("scatter_scalar", roots=("index_grad",), fn=_scatter_scalar))


# --- broadcasts inside elementwise ops (procedural) ------------------------------------
def _bcast_source(v):
    if v.op.entries == "broadcast":
        return v.inputs[0]
    return None


def _bcast_ref(v):
    """The input whose shape the broadcast ``v`` takes (``broadcast_like``'s reference),
    or None (``broadcast_to`` takes a shape parameter)."""
    return v.inputs[v.op.shape_only[0]] if v.op.shape_only else None


def _checked_without(bc, src, ins) -> bool:
    """Whether the broadcast ``bc`` (of ``src``) can leave an elementwise op over ``ins``
    without losing a size check: along every axis it expands, each other operand's size
    there is provably its size (the same static int or name). An unknown size (None) is
    compared at run time only while the broadcast, which carries its reference's size, is
    in the op (the gradient of sum(x * y) with respect to x is y: with x of 1 row and y of
    4 the check is what refuses it)."""
    ndim = max(v.ndim for v in ins)
    r_shape = bc.type.shape
    a_shape = (1,) * (len(r_shape) - src.ndim) + tuple(src.type.shape)
    for axis, (r, a) in enumerate(zip(r_shape, a_shape)):
        if a != 1 or r == 1:
            continue        # not expanded along this axis
        for v in ins:
            if v is bc:
                continue
            j = axis + v.ndim - len(r_shape)
            if j < 0 or v.ndim - j > ndim:
                continue
            d = v.type.shape[j]
            if d == 1:
                continue
            if r is None or d is None or r != d:
                return False
    return True


def _drop_broadcast(node):
    # f(broadcast_like(a, ref), b) -> f(a, b)   when b already has f's full shape
    # f(broadcast_like(a, ref), broadcast_like(b, ref)) -> broadcast_like(f(a, b), ref)
    op = node.op
    if op.random or not op.elementwise or not node.inputs:
        return None
    ins = list(node.inputs)
    srcs = [_bcast_source(v) for v in ins]
    if not any(s is not None for s in srcs):
        return None
    if len(ins) == 1:
        # u(broadcast_like(a, ref)) -> broadcast_like(u(a), ref)
        bc = ins[0]
        inner = apply(op, [srcs[0]], **node.params)
        return apply(bc.op, [inner] + list(bc.inputs[1:]), **bc.params)
    target = node.type.shape
    for k, s in enumerate(srcs):
        if s is None:
            continue
        trial = ins[:k] + [s] + ins[k + 1:]
        try:
            shape, _ = broadcast_shapes(*[t.type.shape for t in trial])
        except ValueError:
            continue
        if shape == target and _checked_without(ins[k], s, ins):
            out = apply(op, trial, **node.params)
            if out.type == node.type:
                return out
    # every non-scalar operand is a broadcast to the same reference
    refs = {id(r): r for r in (_bcast_ref(v) for v, s in zip(ins, srcs) if s is not None)
            if r is not None}
    if len(refs) == 1 and all(s is not None or v.ndim == 0 for v, s in zip(ins, srcs)):
        trial = [s if s is not None else v for v, s in zip(ins, srcs)]
        inner = apply(op, trial, **node.params)
        out = ops.broadcast_like(inner, next(iter(refs.values())))
        if out.type == node.type:
            return out
    return None


# applies to every elementwise op, user-defined ones included ("*": any root op)
ALGEBRA.add(Rule("drop_broadcast", roots=("*",), fn=_drop_broadcast))


def _shape_reference(node):
    # g(..., ref=f(a, b)) -> g(..., ref=same_size(a, b))   where g reads only ref's shape
    # An elementwise f(a, b) as a shape reference (the VJP of a sum, a fill) computes all
    # of f for its shape when f is needed nowhere else. Where its operands have unknown
    # sizes, the rules above keep such a reference (it carries the run-time comparison of
    # those sizes); an operand that has f's whole shape, checked against the others along
    # the axes f compares, is the same reference for nothing but the checks.
    if not node.op.shape_only or node.op.random:
        return None
    new = list(node.inputs)
    for k in node.op.shape_only:
        r = node.inputs[k]
        if (r.op.leaf or not r.op.elementwise or r.op.random or len(r.inputs) < 2
                or None not in r.type.shape):
            continue
        full = [m for m, v in enumerate(r.inputs) if v.type.shape == r.type.shape]
        if not full:
            continue
        first = full[0]
        out = r.inputs[first]
        what = f"{r.op.name} of {', '.join(map(str, r.inputs))}"
        for members in size_check_groups(r):
            at = dict(members).get(first)
            if at is None:
                out = None
                break
            for m, j in members:
                if m != first:
                    out = same_size(out, r.inputs[m], at, j, what)
        if out is not None:
            new[k] = out
    if all(a is b for a, b in zip(new, node.inputs)):
        return None
    out = apply(node.op, new, **node.params)
    return out if out.type == node.type else None


# any op that reads an input's shape only (OpDef.shape_only)
ALGEBRA.add(Rule("shape_reference", roots=("*",), fn=_shape_reference))

__all__ = ["ALGEBRA"]
