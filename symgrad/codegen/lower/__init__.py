"""Lowerings: how the fast NumPy target makes the same program run faster.

The optimizer decides *what* is computed; the plain rendering (``target="plain"``,
``f.plain_source``) shows exactly that. The fast target lowers it first:

1. graph lowerings (``graph.py``), a plain list of named passes applied to the optimized
   graph: ``fold_scale``, ``index_add``, ``relu_mask``, ``matmul_sub``;
2. statement lowerings in the planned renderer (``codegen/memory.py``): buffers reused
   through ``out=``, workspaces, in-place updates, sums as BLAS products, narrow
   reductions over a transposed copy. A lowered line keeps its plain form as a comment.

``f.stats["lowerings"]`` counts what fired.

The array-API target applies ``fold_scale`` alone (``ARRAY_API_LOWERINGS``): it is a
rewrite into standard ops (one multiply of the seed instead of one per parameter); the
others exist for the NumPy target's out= forms and BLAS call.
"""

from __future__ import annotations

from ...ir.graph import Graph
from .graph import fold_scale, fuse_index_add, fuse_matmul_sub, relu_mask

GRAPH_LOWERINGS = [
    ("fold_scale", fold_scale),
    ("index_add", fuse_index_add),
    ("relu_mask", relu_mask),
    ("matmul_sub", fuse_matmul_sub),
]


# the lowerings whose result every array library runs as fast as the program it replaces
ARRAY_API_LOWERINGS = ("fold_scale",)


def lower(graph: Graph, only=None) -> tuple[Graph, dict[str, int]]:
    """Apply the graph lowerings in order (those named in ``only``, if given); returns the
    graph and ``{name: count}`` of the ones that fired. The display names the optimizer
    chose stay with the graph."""
    counts: dict[str, int] = {}
    names = graph.names
    for name, fn in GRAPH_LOWERINGS:
        if only is not None and name not in only:
            continue
        graph, n = fn(graph)
        if n:
            counts[name] = n
    graph = Graph(graph.roots, names=names)
    return graph, counts


def fuse(graph: Graph) -> tuple[Graph, dict]:
    """The graph lowerings as one pass (``(graph, {"rewrites": counts})``), for use in a
    custom pipeline or on its own (``sg.rewrite.fuse``)."""
    graph, counts = lower(graph)
    return graph, {"rewrites": counts}


__all__ = ["ARRAY_API_LOWERINGS", "GRAPH_LOWERINGS", "lower", "fuse"]
