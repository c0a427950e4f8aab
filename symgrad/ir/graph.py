"""Graph traversals. All of them are iterative: a 100,000-node chain is an ordinary graph."""

from __future__ import annotations

from collections import Counter
from typing import Iterable

from .node import Var


def toposort(roots: Iterable[Var]) -> list[Var]:
    """Every node reachable from ``roots``, each after all of its inputs.

    Deterministic: inputs are visited left to right, roots in order.
    """
    order: list[Var] = []
    append = order.append
    seen: set[int] = set()  # pushed at some point (done, or on the stack)
    add = seen.add
    for root in roots:
        if root.id in seen:
            continue
        add(root.id)
        stack = [(root, iter(root.inputs))]
        push = stack.append
        while stack:
            node, it = stack[-1]
            for child in it:
                cid = child.id
                if cid not in seen:
                    add(cid)
                    push((child, iter(child.inputs)))
                    break
            else:
                stack.pop()
                append(node)
    return order


def clients(order: list[Var]) -> dict[int, list[Var]]:
    """Map node id -> the nodes that use it (with repetition for repeated inputs)."""
    users: dict[int, list[Var]] = {n.id: [] for n in order}
    for n in order:
        for i in n.inputs:
            users[i.id].append(n)
    return users


def op_counts(order: Iterable[Var]) -> dict[str, int]:
    return dict(sorted(Counter(n.op.name for n in order).items()))


def leaves(order: Iterable[Var], kind: str | None = None) -> list[Var]:
    return [n for n in order if n.op.leaf and (kind is None or n.op.leaf == kind)]


def depends_on(order: list[Var], sources: Iterable[Var]) -> set[int]:
    """Ids of the nodes in ``order`` (a toposort) that depend on any of ``sources``."""
    dep = {s.id for s in sources}
    for n in order:
        if n.id not in dep and any(i.id in dep for i in n.inputs):
            dep.add(n.id)
    return dep


def rebuild(order: list[Var], replace: dict[int, Var]) -> dict[int, Var]:
    """Rebuild the graph in ``order`` with the replacements ``replace`` (id -> new node).

    Returns the mapping id -> node for every node of ``order``; nodes whose inputs did not
    change are kept as they are.
    """
    new: dict[int, Var] = dict(replace)
    for n in order:
        if n.id in new:
            continue
        if n.inputs:
            ins = tuple(new.get(i.id, i) for i in n.inputs)
            if any(a is not b for a, b in zip(ins, n.inputs)):
                new[n.id] = clone(n, ins)
                continue
        new[n.id] = n
    return new


def clone(node: Var, inputs: tuple) -> Var:
    """A copy of ``node`` with other inputs of the same types (name and tag kept)."""
    c = Var(node.op, inputs, node.params, node.type)
    c._name = node._name
    c.tag = node.tag
    c.loc = node.loc
    return c


class Graph:
    """What the optimizer passes work on: the roots (outputs, then update values) and the
    nodes a pass left behind, in topological order. A pass may leave nodes that no root
    reaches any more; dead-code elimination drops them.

    ``names`` maps node ids to display names that passes chose for nodes they did not
    create (a node that a rewrite or CSE made stand for a named one). Passes never write
    names, or anything else, into nodes that existed before them: the user's graph is
    never changed by compiling it. ``name_of(n)`` is the name to show for ``n``."""

    __slots__ = ("roots", "nodes", "names")

    def __init__(self, roots: list[Var], nodes: list[Var] | None = None,
                 names: dict[int, str] | None = None):
        self.roots = list(roots)
        self.nodes = toposort(self.roots) if nodes is None else nodes
        self.names = {} if names is None else names

    def name_of(self, n: Var) -> str | None:
        """The node's own name, or the one a pass chose for it."""
        return n.name or self.names.get(n.id)

    def __len__(self) -> int:
        return len(self.nodes)
