"""The optimizer: a plain list of (name, pass). Each pass takes a ``Graph`` and returns
``(Graph, info)``; the pipeline records node counts and op counts around every pass.

The default pipeline::

    cse        merge structurally equal nodes (so that patterns see shared nodes)
    fold       evaluate ops whose inputs are all constants
    simplify   algebra rules, with folding, to a fixpoint
    stabilize  stability rules, then algebra again on what they built
    cse        merge what the rewrites made equal
    dce        drop what no output or update reads

``simplify`` and ``stabilize`` are also available on their own (``simplify(graph)``), and
``make_passes(unsafe=True)`` adds the opt-in unsafe rules to ``simplify``.
"""

from __future__ import annotations

from typing import Callable

from ..ir.graph import Graph, op_counts
from ..ir.node import building_location, user_location
from .cse import cse
from .dce import dce
from .engine import RuleSet, rewrite
from .fold import fold

Pass = Callable[[Graph], tuple[Graph, dict]]


def _merged_index(*sets: RuleSet) -> dict:
    index: dict = {}
    for rs in sets:
        for root, rules in rs.index.items():
            index.setdefault(root, []).extend(rules)
    return index


def rule_pass(*sets: RuleSet, fold_constants: bool = True, strict: bool = False) -> Pass:
    """A pass applying the union of ``sets`` (with constant folding) to a fixpoint."""
    index = _merged_index(*sets)

    def run(graph: Graph) -> tuple[Graph, dict]:
        return rewrite(graph, index, fold=fold_constants, strict=strict)
    run.__name__ = "+".join(s.name for s in sets)
    return run


def make_passes(unsafe: bool = False, strict: bool = False) -> list[tuple[str, Pass]]:
    """The default pipeline; ``unsafe=True`` adds the unsafe rules to ``simplify``;
    ``strict=True`` makes a rule that changes a node's type an error (for testing)."""
    from .rules import ALGEBRA, STABILITY, UNSAFE
    algebra = (ALGEBRA, UNSAFE) if unsafe else (ALGEBRA,)
    return [
        ("cse", cse),
        ("fold", fold),
        ("simplify", rule_pass(*algebra, strict=strict)),
        ("stabilize", rule_pass(STABILITY, *algebra, strict=strict)),
        ("cse", cse),
        ("dce", dce),
    ]


def simplify(graph: Graph) -> tuple[Graph, dict]:
    """Algebraic simplification with constant folding, as one pass."""
    from .rules import ALGEBRA
    return rewrite(graph, ALGEBRA, fold=True)


def stabilize(graph: Graph) -> tuple[Graph, dict]:
    """Numerical stabilisation (with algebra on what it builds), as one pass."""
    from .rules import ALGEBRA, STABILITY
    return rewrite(graph, _merged_index(STABILITY, ALGEBRA), fold=True)


DEFAULT_PASSES: list[tuple[str, Pass]] = make_passes()


class PassReport(dict):
    """What one pass did: ``name``, ``nodes_before``, ``nodes_after``, ``ops_before``,
    ``ops_after``, ``seconds`` and the pass's own counters (``merged``, ``removed``,
    ``folded``, ``rewrites`` by rule name...)."""

    def __repr__(self) -> str:
        extra = {k: v for k, v in self.items()
                 if k not in ("name", "nodes_before", "nodes_after", "ops_before", "ops_after",
                              "seconds") and v not in ({}, 0)}
        return (f"{self['name']}: {self['nodes_before']} -> {self['nodes_after']} nodes"
                + (f" {extra}" if extra else ""))


def optimize(graph: Graph, passes: list[tuple[str, Pass]] | None = None,
             dump: Callable[[str, Graph], None] | None = None) -> tuple[Graph, list[PassReport]]:
    """Run ``passes`` (the default pipeline when None) and report on each.

    ``dump(name, graph)`` is called with the graph after each pass.
    """
    import time
    # nodes a pass makes without a better origin are put at the caller's line (the
    # sg.function call), found once instead of once per node
    with building_location(user_location(1)):
        return _run(graph, passes, dump, time)


def _run(graph, passes, dump, time):
    reports = []
    before_counts = None
    for name, fn in (DEFAULT_PASSES if passes is None else passes):
        before = graph
        t0 = time.perf_counter()
        graph, info = fn(graph)
        dt = time.perf_counter() - t0
        if graph is not before:    # the display names chosen so far stay with the graph
            graph.names = {**before.names, **graph.names}
        if before_counts is None:
            before_counts = op_counts(before.nodes)
        after_counts = op_counts(graph.nodes)
        report = PassReport(name=name, nodes_before=len(before.nodes),
                            nodes_after=len(graph.nodes), ops_before=before_counts,
                            ops_after=after_counts, seconds=dt)
        report.update(info)
        reports.append(report)
        before_counts = after_counts
        if dump is not None:
            dump(name, graph)
    return graph, reports
