"""Opt-in rules that change results on inf/NaN or outside a domain.

``x - x`` is NaN where ``x`` is inf or NaN, ``x * 0`` is NaN where ``x`` is inf, and
``log(exp(x))`` is inf where ``exp`` overflows: each rule below is exact for finite values
inside the domain only. Enable them with ``optimize(graph, unsafe=True)`` or
``sg.function(..., passes=sg.rewrite.make_passes(unsafe=True))``.
"""

from __future__ import annotations

from ..engine import RuleSet
from ..pattern import P, pvars
from .common import keeps

x, y = pvars("x y")

UNSAFE = RuleSet("unsafe")
rule = UNSAFE.rule

# x - x -> 0
rule("sub_self", x - x, 0)
# x * 0 -> 0
rule("mul_zero", x * 0, 0, when=keeps("x"))
# x / x -> 1
rule("div_self", x / x, 1)
# log(exp(x)) -> x
rule("log_exp", P.log(P.exp(x)), x)
# exp(log(x)) -> x
rule("exp_log", P.exp(P.log(x)), x)
# sqrt(square(x)) -> abs(x)
rule("sqrt_square", P.sqrt(P.square(x)), P.abs(x))
# (x * y) / y -> x
rule("mul_div_cancel", (x * y) / y, x, when=keeps("x"))

__all__ = ["UNSAFE"]
