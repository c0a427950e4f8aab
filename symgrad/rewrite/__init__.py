"""Optimizer passes over graphs (see docs/optimizer.md).

Every pass, and ``optimize``, can be called on its own: on a ``Graph``, or on a variable,
a list, tuple or dict of variables, which come back in the same structure as new,
optimized variables, together with what the pass did::

    (lean_loss, lean_grad), info = sg.rewrite.cse([loss, grad])
    outputs, reports = sg.optimize({"loss": loss, "grad": grad})
"""

import functools

from ..autodiff.structure import flatten, unflatten
from ..ir.graph import Graph
from . import cse as _cse_module
from . import dce as _dce_module
from . import fold as _fold_module
from . import pipeline as _pipeline
from .engine import RewriteError, Rule, RuleSet, rewrite, type_fits
from .pattern import P, Param, PConst, PVar, pvars
from .pipeline import DEFAULT_PASSES, PassReport, make_passes, rule_pass
from .rules import ALGEBRA, STABILITY, UNSAFE


def _on_graphs_or_variables(fn):
    """Let a ``Graph -> (Graph, info)`` function take variables as well."""
    @functools.wraps(fn)
    def run(graph, *args, **kwargs):
        if isinstance(graph, Graph):
            return fn(graph, *args, **kwargs)
        roots, tree = flatten(graph)
        new, info = fn(Graph(roots), *args, **kwargs)
        return unflatten(tree, new.roots), info
    return run


cse = _on_graphs_or_variables(_cse_module.cse)
dce = _on_graphs_or_variables(_dce_module.dce)
fold = _on_graphs_or_variables(_fold_module.fold)
simplify = _on_graphs_or_variables(_pipeline.simplify)
stabilize = _on_graphs_or_variables(_pipeline.stabilize)
optimize = _on_graphs_or_variables(_pipeline.optimize)


def fuse(graph, *args, **kwargs):
    """The fast target's graph lowerings as one pass (``symgrad.codegen.lower.fuse``), on a
    ``Graph`` or on variables."""
    from ..codegen import lower     # here, not above: the lowerings use this package's patterns
    return _on_graphs_or_variables(lower.fuse)(graph, *args, **kwargs)

__all__ = ["cse", "dce", "fold", "fuse", "simplify", "stabilize", "optimize", "make_passes",
           "rule_pass", "rewrite", "Rule", "RuleSet", "RewriteError", "type_fits", "P",
           "Param", "PConst", "PVar", "pvars", "ALGEBRA", "STABILITY", "UNSAFE",
           "DEFAULT_PASSES", "PassReport"]
