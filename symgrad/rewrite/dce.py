"""Dead-code elimination: keep exactly the nodes that the roots reach."""

from __future__ import annotations

from ..ir.graph import Graph


def dce(graph: Graph) -> tuple[Graph, dict]:
    """Drop nodes no output or update reaches. Returns the graph and ``{"removed": n}``."""
    kept = Graph(graph.roots)
    return kept, {"removed": len(graph.nodes) - len(kept.nodes)}
