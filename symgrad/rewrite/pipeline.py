"""The optimizer: a plain list of (name, pass). Each pass takes a ``Graph`` and returns
``(Graph, info)``; the pipeline records node counts and op counts around every pass."""

from __future__ import annotations

from typing import Callable

from ..ir.graph import Graph, op_counts
from .cse import cse
from .dce import dce

Pass = Callable[[Graph], tuple[Graph, dict]]

DEFAULT_PASSES: list[tuple[str, Pass]] = [
    ("cse", cse),
    ("dce", dce),
]


class PassReport(dict):
    """What one pass did: ``name``, ``nodes_before``, ``nodes_after``, ``ops_before``,
    ``ops_after`` and the pass's own counters (``merged``, ``removed``, ``rewrites``...)."""

    def __repr__(self) -> str:
        extra = {k: v for k, v in self.items()
                 if k not in ("name", "nodes_before", "nodes_after", "ops_before", "ops_after")}
        return (f"{self['name']}: {self['nodes_before']} -> {self['nodes_after']} nodes"
                + (f" {extra}" if extra else ""))


def optimize(graph: Graph, passes: list[tuple[str, Pass]] | None = None,
             dump: Callable[[str, Graph], None] | None = None) -> tuple[Graph, list[PassReport]]:
    """Run ``passes`` (the default pipeline when None) and report on each."""
    reports = []
    for name, fn in (DEFAULT_PASSES if passes is None else passes):
        before = graph
        graph, info = fn(graph)
        report = PassReport(name=name, nodes_before=len(before.nodes),
                            nodes_after=len(graph.nodes), ops_before=op_counts(before.nodes),
                            ops_after=op_counts(graph.nodes))
        report.update(info)
        reports.append(report)
        if dump is not None:
            dump(name, graph)
    return graph, reports
