"""Optimizer passes over graphs (see docs/optimizer.md)."""

from .cse import cse
from .dce import dce
from .engine import RewriteError, Rule, RuleSet, rewrite, type_fits
from .fold import fold
from .pattern import P, Param, PConst, PVar, pvars
from .pipeline import (DEFAULT_PASSES, PassReport, make_passes, optimize, rule_pass, simplify,
                       stabilize)
from .rules import ALGEBRA, STABILITY, UNSAFE

__all__ = ["cse", "dce", "fold", "simplify", "stabilize", "optimize", "make_passes",
           "rule_pass", "rewrite", "Rule", "RuleSet", "RewriteError", "type_fits", "P",
           "Param", "PConst", "PVar", "pvars", "ALGEBRA", "STABILITY", "UNSAFE",
           "DEFAULT_PASSES", "PassReport"]
