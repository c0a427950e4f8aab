"""The schedule: the program between the optimized graph and the source.

Every renderer (plain, fast, array API) walks the same ``Schedule``: the statements in
order (the forward pass, the backward pass, then what only the updates need), each with
its section, the name it is shown by and its provenance (for a backward value, the VJP
rule that built it and the forward value it belongs to). Names come from the user's
names, from names the optimizer's passes chose (``Graph.names``) and from names chosen
here for outputs and updates (a dict output's key, ``W_new``); nothing is written back
into the graph's nodes.
"""

from __future__ import annotations

from ..ir.graph import Graph
from ..ir.node import Var


class Schedule:
    """Order, sections, display names and provenance of a graph's statements."""

    def __init__(self, graph: Graph, n_outputs: int):
        self.graph = graph
        self.n_outputs = n_outputs
        self.chosen: dict[int, str] = {}     # node id -> a name chosen here
        self.section = self._sections()
        self.order = ([n for n in graph.nodes if self.section[n.id] != "updates"]
                      + [n for n in graph.nodes if self.section[n.id] == "updates"])

    def _sections(self) -> dict[int, str]:
        """forward, backward (nodes built by differentiation) or updates (the rest: what
        only the update values need)."""
        main = set()
        stack = list(self.graph.roots[: self.n_outputs]) + [
            n for n in self.graph.nodes if n.is_grad]
        while stack:
            n = stack.pop()
            if n.id in main:
                continue
            main.add(n.id)
            stack.extend(n.inputs)
        return {n.id: ("backward" if n.is_grad else "forward" if n.id in main else "updates")
                for n in self.graph.nodes}

    def choose(self, n: Var, name: str) -> None:
        """Show ``n`` (an output or an update value the user did not name) as ``name``."""
        if self.label(n) is None and not n.op.leaf:
            self.chosen[n.id] = name

    def label(self, n: Var) -> str | None:
        """The name ``n`` is shown by: its own, one a pass chose, or one chosen here."""
        return n.name or self.graph.names.get(n.id) or self.chosen.get(n.id)

    def provenance(self, n: Var) -> str | None:
        """Where a value comes from, for its comment: the VJP rule and forward value of a
        backward value (``vjp of relu (h1)``, ``fan-out sum``, a stabilising rewrite's
        name), or the op's label for an unnamed forward value (``relu``)."""
        if n.is_grad:
            fwd = n.tag.node
            label = self.label(fwd)
            rule = n.tag.rule
            rule = ("fan-out sum" + rule[len("sum of fan-out"):]
                    if rule.startswith("sum of fan-out") else f"vjp of {rule}")
            return rule + (f" ({label})" if label else "")
        if n.op.label and not self.label(n):
            return n.op.label
        return None


__all__ = ["Schedule"]
