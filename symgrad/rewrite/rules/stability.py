"""Numerical stabilisation: unstable expressions rewritten into forms that stay finite.

The forward rules replace an expression by its stable form. Because ``sg.grad`` has
already built the gradient from the unstable form by the time the optimizer runs, the
gradient rules below rewrite what the VJP rules of ``log``, ``divide``, ``exp`` and
``sigmoid`` produce for those expressions: a cotangent divided by a quantity that can
underflow to 0 (``g / sigmoid(x)``, ``g / softmax(z)``) and then multiplied by it again.
Cancelling such a factor is exact in real arithmetic because it is positive by
construction (see ``common.positive``); it only changes results where the unstable form
gave 0/0 or inf/inf.

``softmax``, ``logsumexp`` and ``log_softmax`` are compositions (``ops/nnfuncs.py``):
``e = exp(z)``, ``z = x - stop_gradient(max(x))``, ``s = sum(e, axis, keepdims=True)``,
``softmax = e / s``. The patterns match those pieces, so a hand-written softmax matches
too.
"""

from __future__ import annotations

from ... import ops
from ...ir.node import Var
from ..pattern import P, Param, pvars
from ..engine import RuleSet, type_fits
from .common import broadcast_fit, fits, is_exp_sum, is_shifted, is_softmax, positive

x, z, g, a, b_, p, s, e = pvars("x z g a b p s e")
AX = Param("axis")

STABILITY = RuleSet("stability", label="stabilised")
rule = STABILITY.rule

# --- forward ---------------------------------------------------------------------------
# log(e / s) -> z - log(s)       where e = exp(z), s = sum(e, axis, keepdims=True)
#                                (log(softmax(x)) -> log_softmax(x))
rule("log_softmax", P.log(P.divide(P.exp(z), P.sum(P.exp(z), axis=AX, keepdims=True))),
     lambda b: ops.subtract(b.z, ops.log(b.node.inputs[0].inputs[1])))
# log(sigmoid(x)) -> -softplus(-x)
rule("log_sigmoid", P.log(P.sigmoid(x)), -P.softplus(-x))
# log(1 - sigmoid(x)) -> -softplus(x)
rule("log_one_minus_sigmoid", P.log(1 - P.sigmoid(x)), -P.softplus(x))
# log(1 + exp(x)) -> softplus(x)
rule("log_one_plus_exp", P.log(1 + P.exp(x)), P.softplus(x))
# log1p(exp(x)) -> softplus(x)     (the same, written the careful way)
rule("log1p_exp", P.log1p(P.exp(x)), P.softplus(x))


def _lse(b):
    if is_shifted(b.x):  # already the stable composition: log(sum(exp(x - max)))
        return None
    if b.x.dtype.kind == "b":   # exp of a bool array is fine, but bool has no subtraction
        return None
    return fits(ops.logsumexp(b.x, b.axis, keepdims=b.keepdims), b.node)


# log(sum(exp(x), axis)) -> logsumexp(x, axis)
rule("log_sum_exp", P.log(P.sum(P.exp(x), axis=AX, keepdims=Param("keepdims"))), _lse)
# log(1 + x) -> log1p(x)
rule("log1p", P.log(1 + x), P.log1p(x))
# exp(x) - 1 -> expm1(x)
rule("expm1", P.exp(x) - 1, P.expm1(x))
# 1 - sigmoid(x) -> sigmoid(-x)   is not applied: it would hide log(1 - sigmoid(x))

# the forward rules above, by name
FORWARD_RULES = frozenset({"log_softmax", "log_sigmoid", "log_one_minus_sigmoid",
                           "log_one_plus_exp", "log1p_exp", "log_sum_exp"})


def stable_form(node: Var, forward: bool = False) -> Var | None:
    """The stable form of a gradient node by a gradient rule below (``g * sigmoid(-x)`` for
    the VJP ``(g / sigmoid(x)) * (sigmoid(x) * sigmoid(-x))`` of ``log(sigmoid(x))``), or
    None. ``sg.grad`` of a gradient differentiates that form instead of the node: the
    optimizer cancels the first derivative's 0/0, but the derivative of the uncancelled
    form (a Hessian of log(sigmoid(x)) at x = -1000) is 0/0 again.

    ``forward=True``: the stable form of any node by a forward rule (``-softplus(-x)`` for
    ``log(sigmoid(x))``), for forward mode, whose tangents the gradient rules do not
    match."""
    if not forward and not node.is_grad:
        return None
    for r in STABILITY.index.get(node.op.name, ()):
        if (r.name in FORWARD_RULES) == forward:
            out = r.apply(node)
            if out is not None and type_fits(out, node):
                return out
    return None


# --- gradients -------------------------------------------------------------------------
pos = pvars("q")[0]
pos.pred = positive
# (a / q) * q -> a               q > 0 by construction (exp, sigmoid, softmax, 1 - sigmoid)
#                                (a broadcast to the product's shape: a may be a scalar, the
#                                cotangent of a sum or a mean)
rule("cancel_positive", (a / pos) * pos, lambda b: broadcast_fit(b.a, b.node))
# (a / q) * (q * b) -> a * b
rule("cancel_positive_mul", (a / pos) * (pos * b_), a * b_)
# -(a / q) * (q * b) -> -(a * b)
rule("cancel_positive_neg_mul", -(a / pos) * (pos * b_), -(a * b_))
pos2 = pvars("q2")[0]
pos2.pred = positive
# (a / q - b / q2) * (q * q2) -> a * q2 - b * q     (VJP of t log(s) + (1 - t) log(1 - s))
rule("cancel_positive_sub", (a / pos - b_ / pos2) * (pos * pos2), a * pos2 - b_ * pos)
# (a / q + b / q2) * (q * q2) -> a * q2 + b * q
rule("cancel_positive_add", (a / pos + b_ / pos2) * (pos * pos2), a * pos2 + b_ * pos)
# sigmoid's VJP is g * (sigmoid(x) * sigmoid(-x)), and 1 - sigmoid(x) = sigmoid(-x) in the
# reals, so a cotangent divided by 1 - sigmoid(x) (the VJP of log(1 - sigmoid(x)))
# cancels against sigmoid(-x) as it does against a positive factor above.
sig, sig_neg = P.sigmoid(x), P.sigmoid(-x)
# (a / (1 - sigmoid(x))) * (b * sigmoid(-x)) -> a * b
rule("cancel_sigmoid_complement", (a / (1 - sig)) * (b_ * sig_neg), a * b_)
# -(a / (1 - sigmoid(x))) * (b * sigmoid(-x)) -> -(a * b)
rule("cancel_sigmoid_complement_neg", -(a / (1 - sig)) * (b_ * sig_neg), -(a * b_))
# (a / q - b / (1 - sigmoid(x))) * (q * sigmoid(-x)) -> a * sigmoid(-x) - b * q
#                                             (VJP of t log(s) + (1 - t) log(1 - s))
rule("cancel_sigmoid_complement_sub", (a / pos - b_ / (1 - sig)) * (pos * sig_neg),
     a * sig_neg - b_ * pos)
# (a / q + b / (1 - sigmoid(x))) * (q * sigmoid(-x)) -> a * sigmoid(-x) + b * q
rule("cancel_sigmoid_complement_add", (a / pos + b_ / (1 - sig)) * (pos * sig_neg),
     a * sig_neg + b_ * pos)
# (g / (1 + exp(x))) * exp(x) -> g * sigmoid(x)      (VJP of log(1 + exp(x)))
rule("grad_log_one_plus_exp", (g / (1 + P.exp(x))) * P.exp(x), g * P.sigmoid(x))


def _softmax_log_grad(b):
    pp = b.p
    if not is_softmax(pp) or pp.inputs[1] is not b.s or pp.inputs[0] is not b.e:
        return None
    return fits(ops.add(b.a, ops.multiply(b.b, b.e)), b.node)


# ((a / p) / s + b) * e -> a + b * e          where p = e / s is a softmax
#                                             (VJP of log(softmax): no 0/0 where p underflows)
rule("grad_log_softmax", ((a / p) / s + b_) * e, _softmax_log_grad)


def _lse_grad(b):
    ee, ss = b.e, b.s
    if not is_exp_sum(ee, ss):
        return None
    if is_shifted(ee.inputs[0]):
        return None
    axes = ss.params["axis"]
    axes = tuple(range(ee.ndim)) if axes is None else axes
    gg = b.g
    if not ss.params["keepdims"]:
        if b.get("axis2") != ss.params["axis"]:
            return None
        # g may be a lower-rank operand broadcast against s in g / s (the scalar seed of
        # a .sum() of the logsumexp): give it s's shape before putting the axes back
        gg = broadcast_fit(gg, ss, lend=True)
        if gg is None:
            return None
        gg = ops.expand_dims(gg, axes)
    elif "axis2" in b:
        return None
    return fits(ops.multiply(gg, ops.softmax(ee.inputs[0], axes)), b.node)


# (g / s) * e -> g * softmax(x)              where e = exp(x), s = sum(e, keepdims=True),
#                                             x not shifted (VJP of log(sum(exp(x))))
rule("grad_log_sum_exp", (g / s) * e, _lse_grad)
# expand_dims(g / s, axis) * e -> expand_dims(g, axis) * softmax(x, axis)   (keepdims=False)
rule("grad_log_sum_exp_expand", P.expand_dims(g / s, axis=Param("axis2")) * e, _lse_grad)
# the same two with the sum's VJP broadcast still in place, as sg.grad builds them (the
# algebra rules remove it before these run in the optimizer; sg.grad of a gradient meets it)
rule("grad_log_sum_exp_bcast", P.broadcast_like(g / s, a) * e, _lse_grad)
rule("grad_log_sum_exp_expand_bcast",
     P.broadcast_like(P.expand_dims(g / s, axis=Param("axis2")), a) * e, _lse_grad)

__all__ = ["STABILITY"]
