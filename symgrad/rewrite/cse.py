"""Common-subexpression elimination: one pass in topological order, linear in graph size.

Each node is keyed by (op, parameters, canonical input ids); commutative ops sort their
input ids, constants are keyed by dtype, shape and value bytes, and random nodes are never
merged (two draws are two draws). The first node of each key survives.
"""

from __future__ import annotations

from ..ir.graph import Graph, clone, toposort


def node_key(node, inputs) -> tuple:
    """The structural key of ``node`` with the given (canonical) inputs."""
    op = node.op
    if op.leaf:
        if op.leaf == "constant":
            v = node.value
            return ("constant", v.dtype.str, v.shape, v.tobytes())
        return ("leaf", node.id)
    if op.random:
        return ("random", node.id)
    ids = [i.id for i in inputs]
    if op.commutative:
        ids.sort()
    return (op, node.param_key, tuple(ids))     # the op object: a redefined op is another


def cse(graph: Graph) -> tuple[Graph, dict]:
    """Merge structurally equal nodes. Returns the new graph and ``{"merged": n}``."""
    canon: dict[tuple, object] = {}
    new: dict[int, object] = {}
    merged = 0
    names: dict[int, str] = {}
    order = toposort(graph.roots)
    for n in order:
        ins = tuple(new[i.id] for i in n.inputs)
        key = node_key(n, ins)
        hit = canon.get(key)
        if hit is not None:
            new[n.id] = hit
            merged += 1
            if hit.name is None and n.name is not None and hit.tag is not None:
                names.setdefault(hit.id, n.name)
            continue
        node = n if all(a is b for a, b in zip(ins, n.inputs)) else clone(n, ins)
        canon[key] = node
        new[n.id] = node
    roots = [new[r.id] for r in graph.roots]
    return Graph(roots, names=names), {"merged": merged}
