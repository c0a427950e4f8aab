"""Constant folding: evaluate ops whose inputs are all constants, at compile time.

There is one source of truth for what an op computes: its NumPy emission. Folding emits
the op's expression over placeholder names, evaluates that text with NumPy (and the op's
helper functions) and bakes the result in as a new constant. Random ops are never folded,
nor are results larger than ``MAX_FOLD_SIZE`` elements (they would bloat the module).
"""

from __future__ import annotations

import math

import numpy as np

from ..ir.graph import Graph
from ..ir.node import Var
from ..ops.registry import Expr

MAX_FOLD_SIZE = 100_000

_helper_namespaces: dict[tuple, dict] = {}


def _namespace(op) -> dict:
    ns = _helper_namespaces.get(op.helpers)
    if ns is None:
        ns = {"np": np}
        for src in op.helpers:
            exec(compile(src, f"<symgrad helper of {op.name}>", "exec"), ns)
        _helper_namespaces[op.helpers] = ns
    return ns


def foldable(node: Var) -> bool:
    """True when ``node`` may be evaluated now: an op (not a leaf, not random) whose inputs
    are all constants and whose static result is small enough."""
    op = node.op
    if op.leaf or op.random or not node.inputs:
        return False
    for i in node.inputs:
        if i.op.leaf != "constant":
            return False
    if not node.type.is_static:
        return False
    return math.prod(node.type.shape) <= MAX_FOLD_SIZE


def evaluate(node: Var) -> np.ndarray | None:
    """The value of ``node`` computed from its constant inputs through its NumPy emission,
    or None when the emission cannot be evaluated (left for run time to report)."""
    names = [f"_c{k}" for k in range(len(node.inputs))]
    try:
        expr = node.op.emit([Expr(n) for n in names], **node.params)
    except Exception:  # an emission that needs the code generator's context
        return None
    ns = dict(_namespace(node.op))
    for n, i in zip(names, node.inputs):
        ns[n] = i.value
    try:
        with np.errstate(all="ignore"):
            val = eval(compile(expr.text, "<symgrad fold>", "eval"), ns)
    except Exception:
        return None
    val = np.asarray(val)
    if val.shape != node.type.shape or val.dtype.kind in "OUSV":
        return None
    if val.dtype != node.dtype:
        if not np.can_cast(val.dtype, node.dtype, "same_kind"):
            return None
        val = val.astype(node.dtype)
    return val


def fold_node(node: Var) -> Var | None:
    """A constant that replaces ``node``, or None."""
    if not foldable(node):
        return None
    val = evaluate(node)
    if val is None:
        return None
    from ..ops.leaves import ConstantVar
    return ConstantVar(val)


def fold(graph: Graph) -> tuple[Graph, dict]:
    """The folding pass: returns the new graph and ``{"folded": n}``."""
    new: dict[int, Var] = {}
    folded = 0
    from ..ir.graph import clone
    for n in graph.nodes:
        ins = tuple(new.get(i.id, i) for i in n.inputs)
        node = n if all(a is b for a, b in zip(ins, n.inputs)) else clone(n, ins)
        f = fold_node(node)
        if f is not None:
            folded += 1
            node = f
        new[n.id] = node
    roots = [new.get(r.id, r) for r in graph.roots]
    return Graph(roots), {"folded": folded}
