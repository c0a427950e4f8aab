"""The rewrite engine: local (pattern -> replacement) rules applied bottom-up to a fixpoint.

A ``Rule`` has a name, a left-hand side (a pattern, see ``pattern.py``) and a right-hand
side: a pattern to instantiate, or a function of the bindings that returns the new node
(or None to decline). Rules that a pattern cannot express (say, "any elementwise op") are
``Rule``s with ``roots`` (the op names they apply to) and a ``fn(node)``.

``rewrite(graph, rules)`` walks the graph once in topological order. Every node is first
rebuilt on its (already rewritten) inputs, then the rules indexed under its op name are
tried until none applies; the nodes a replacement creates are themselves rewritten before
it is used. Walks repeat until one changes nothing, up to ``max_passes``; a node rewritten
more than ``max_rewrites_per_node`` times means two rules undo each other, and the error
names the last rules that fired.

Every replacement must have the type of the node it replaces: the same dtype, the same
number of dimensions, and along each axis the same static size or the same name (an
unknown size, ``None``, is compatible with anything). A replacement that fails this is
refused and counted (``rejected``); with ``strict=True`` it raises ``RewriteError``
instead, which is how the tests keep the rule sets honest.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Callable, Iterable

import numpy as np

from ..ir.graph import Graph, clone
from ..ir.node import GradTag, Var, id_mark
from ..ir.types import format_shape
from .pattern import PNode, Pattern, as_pattern, check_op, instantiate, match, op_names


class RewriteError(RuntimeError):
    """A rule broke the engine's contract, or the rules did not converge."""


class Rule:
    """One rewrite rule.

    Parameters
    ----------
    name : str
        Shown in ``f.stats`` (rewrites fired, by rule name) and in errors.
    lhs : Pattern, optional
        What to match; its root must be an op pattern (``P.log(x)``, ``x * 1``...).
    rhs : Pattern or callable, optional
        The replacement: a pattern over the names bound by ``lhs``, or ``rhs(b)`` where
        ``b`` is a ``Bindings`` (``b.x``, ``b.node``) returning a variable or None.
    when : callable, optional
        ``when(b) -> bool``: a guard evaluated after a match.
    roots, fn : for procedural rules: the op names the rule applies to, and
        ``fn(node) -> variable or None``.
    """

    __slots__ = ("name", "lhs", "rhs", "when", "roots", "fn", "label")

    def __init__(self, name: str, lhs: Pattern | None = None, rhs=None, *,
                 when: Callable | None = None, roots: Iterable[str] | None = None,
                 fn: Callable | None = None):
        self.name = name
        self.when = when
        self.fn = fn
        # what the gradient nodes this rule builds say in the generated code, beside the
        # rule that made the node it replaced ("stabilised"); set by the rule set
        self.label = None
        if fn is not None:
            if roots is None:
                raise ValueError(f"rule {name!r}: a procedural rule needs roots")
            for root in roots:
                if root != "*":         # "*": every op
                    check_op(root, f"rule {name!r}: ")
            self.lhs = self.rhs = None
            self.roots = tuple(roots)
            return
        lhs = as_pattern(lhs)
        if not isinstance(lhs, PNode):
            raise ValueError(f"rule {name!r}: the left-hand side must be an op pattern, "
                             f"got {lhs!r}")
        for side in (lhs, rhs):
            for op in op_names(side):
                check_op(op, f"rule {name!r}: ")
        self.lhs = lhs
        self.rhs = rhs
        self.roots = (lhs.op,)

    def apply(self, node: Var):
        """The replacement for ``node``, or None when the rule does not apply."""
        if self.fn is not None:
            return self.fn(node)
        for b in match(self.lhs, node, {}):
            bind = Bindings(b, node)
            if self.when is not None and not self.when(bind):
                continue
            if callable(self.rhs) and not isinstance(self.rhs, Pattern):
                out = self.rhs(bind)
            else:
                out = instantiate(self.rhs, bind)
            if out is not None:
                return out
        return None

    def __repr__(self) -> str:
        if self.fn is not None:
            return f"<Rule {self.name} on {', '.join(self.roots)}>"
        return f"<Rule {self.name}: {self.lhs!r} -> {self.rhs!r}>"


class Bindings(dict):
    """What a match bound: ``b["x"]`` or ``b.x``; ``b.node`` is the matched node."""

    def __init__(self, b: dict, node: Var):
        super().__init__(b)
        self.node = node

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class RuleSet:
    """A named list of rules with an index by root op name. ``label`` (e.g.
    ``"stabilised"``) marks the gradient nodes its rules build, so that a backward line
    says which rewrite made it (``vjp of exp (stabilised: grad_log_softmax)``)."""

    def __init__(self, name: str, rules: Iterable[Rule] = (), label: str | None = None):
        self.name = name
        self.label = label
        self.rules: list[Rule] = []
        self.index: dict[str, list[Rule]] = defaultdict(list)
        for r in rules:
            self.add(r)

    def add(self, rule: Rule) -> Rule:
        if any(r.name == rule.name for r in self.rules):
            raise ValueError(f"rule set {self.name!r} already has a rule named {rule.name!r}")
        self.rules.append(rule)
        if rule.label is None:
            rule.label = self.label
        for root in rule.roots:
            self.index[root].append(rule)
        return rule

    def rule(self, name, lhs=None, rhs=None, **kw) -> Rule:
        """Create a rule and add it (returns it)."""
        return self.add(Rule(name, lhs, rhs, **kw))

    def __iter__(self):
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    def __repr__(self) -> str:
        return f"<RuleSet {self.name}: {len(self.rules)} rules>"


# ---------------------------------------------------------------------------------------
# types
# ---------------------------------------------------------------------------------------

def type_fits(new: Var, old: Var) -> bool:
    """True when ``new`` can stand for ``old``: same dtype and rank; along each axis the
    same static size or name, an unknown size on either side being compatible."""
    a, b = new.type, old.type
    if a.dtype != b.dtype or len(a.shape) != len(b.shape):
        return False
    for d, e in zip(a.shape, b.shape):
        if d is None or e is None:
            continue
        if d != e:
            return False
    return True


def _type_error(rule: Rule, old: Var, new: Var) -> str:
    return (f"rule {rule.name!r} replaced {old.op.name} {old.type.dtype}"
            f"{format_shape(old.type.shape)} by {new.op.name} {new.type.dtype}"
            f"{format_shape(new.type.shape)}: a rewrite must keep the node's shape and dtype")


# ---------------------------------------------------------------------------------------
# the engine
# ---------------------------------------------------------------------------------------

class _Engine:
    def __init__(self, index: dict[str, list[Rule]], strict: bool, folder, max_rewrites: int):
        self.index = index
        self.strict = strict
        self.folder = folder
        self.max_rewrites = max_rewrites
        self.fired: Counter = Counter()
        self.rejected: Counter = Counter()
        self.folded = 0
        self.memo: dict[int, Var] = {}
        self.any_rule = index.get("*", [])
        self.depth = 0
        self.names: dict[int, str] = {}   # display names for nodes this walk did not make
        self.mark = id_mark()             # nodes with a larger id are made by this walk

    def run(self, order: list[Var]) -> None:
        memo = self.memo
        for n in order:
            if n.id in memo:
                continue
            self._settle_into(n)

    def _settle_into(self, n: Var) -> None:
        memo = self.memo
        r = self.rebuilt(n)
        out = self.settle(r)
        memo[n.id] = out
        memo[r.id] = out
        memo[out.id] = out

    def rebuilt(self, n: Var) -> Var:
        if not n.inputs:
            return n
        memo = self.memo
        ins = tuple(memo.get(i.id, i) for i in n.inputs)
        for a, b in zip(ins, n.inputs):
            if a is not b:
                return clone(n, ins)
        return n

    def settle(self, node: Var) -> Var:
        """Apply rules at ``node`` until none fires; returns the final node."""
        history: list[str] = []
        if not node.inputs:
            return node
        while True:
            if self.folder is not None and node.inputs:
                f = self.folder(node)
                if f is not None:
                    self.folded += 1
                    node = f
                    continue
            rules = self.index.get(node.op.name)
            if not rules and not self.any_rule:
                return node
            for rule in (rules or []) + self.any_rule:
                out = rule.apply(node)
                if out is None or out is node:
                    continue
                if not isinstance(out, Var):
                    out = _filled(node, out)
                    if out is None:
                        continue
                if not type_fits(out, node):
                    if self.strict:
                        raise RewriteError(_type_error(rule, node, out))
                    self.rejected[rule.name] += 1
                    continue
                self.fired[rule.name] += 1
                history.append(rule.name)
                if len(history) > self.max_rewrites:
                    last = ", ".join(history[-4:])
                    raise RewriteError(
                        f"rewriting did not converge: node {node.op.name} "
                        f"{node.type} was rewritten {len(history)} times; the last rules "
                        f"were {last} (last: {rule.name!r}). Two rules probably undo each "
                        "other.")
                self.depth += 1
                if self.depth > self.max_rewrites:
                    raise RewriteError(
                        f"rewriting did not converge: replacements kept producing nodes "
                        f"that rules rewrite again ({self.depth} nested rewrites); the last "
                        f"rule was {rule.name!r}. Two rules probably undo each other.")
                try:
                    node = self.absorb(out, node, rule)
                finally:
                    self.depth -= 1
                break
            else:
                return node

    def absorb(self, root: Var, old: Var, rule: Rule | None = None) -> Var:
        """Rewrite the nodes a replacement created (those not seen yet), bottom-up. New
        nodes inherit the replaced node's tag (forward or gradient), and the new root its
        name."""
        memo = self.memo
        fresh = _fresh_nodes(root, memo)
        mark = self.mark
        tag = old.tag
        if rule is not None and rule.label and old.is_grad:
            base = tag.rule.split(" (")[0]
            tag = GradTag(tag.node, f"{base} ({rule.label}: {rule.name})")
        for n in fresh:
            if n.id <= mark:         # not made by this walk: left exactly as it is
                continue
            if (n.tag is None or n.tag is old.tag) and not n.op.leaf:
                n.tag = tag
            n.loc = old.loc          # built where the node it replaces was built
        if old.name is not None and root.name is None and not root.op.leaf:
            if root.id > mark:       # made by this walk
                root.name = old.name
            else:                    # an existing node (maybe the user's): never renamed
                self.names.setdefault(root.id, old.name)
        for n in fresh:
            self._settle_into(n)
        return memo.get(root.id, root)


def _fresh_nodes(root: Var, memo: dict) -> list[Var]:
    """Nodes reachable from ``root`` that the engine has not processed, in topological
    order (iterative, stopping at processed nodes)."""
    if root.id in memo:
        return []
    order: list[Var] = []
    seen = {root.id}
    stack = [(root, 0)]
    while stack:
        node, i = stack[-1]
        if i < len(node.inputs):
            stack[-1] = (node, i + 1)
            child = node.inputs[i]
            if child.id not in memo and child.id not in seen:
                seen.add(child.id)
                stack.append((child, 0))
        else:
            stack.pop()
            order.append(node)
    return order


def _filled(node: Var, value) -> Var | None:
    """A node equal to the number ``value`` everywhere, with ``node``'s type (None when no
    input of ``node`` has its shape to take it from)."""
    from ..ops import constant, full_like
    if node.type.is_static:
        return constant(np.full(node.type.shape, value, dtype=node.dtype))
    for i in node.inputs:
        if i.type.shape == node.type.shape:
            return full_like(i, value, node.dtype)
    return None


def rewrite(graph: Graph, rules: Iterable[Rule] | RuleSet | dict, *, strict: bool = False,
            fold: bool = False, max_passes: int = 8, confirm: bool = False,
            max_rewrites_per_node: int = 64) -> tuple[Graph, dict]:
    """Apply ``rules`` to ``graph`` to a fixpoint.

    One bottom-up walk already leaves every node where no rule applies (a node is settled
    after its inputs, and what a replacement builds is settled before it is used), as long
    as rules look only at a node and its inputs, which all rules here do. ``confirm=True``
    walks again until a walk changes nothing (at most ``max_passes`` walks), which the
    tests use to check that claim.

    Returns the new graph and ``{"rewrites": {rule: count}, "rejected": {rule: count},
    "folded": n, "iterations": k}``.
    """
    if isinstance(rules, dict):
        index = rules
    else:
        index = defaultdict(list)
        for r in rules:
            for root in r.roots:
                index[root].append(r)
    from .fold import fold_node
    fired: Counter = Counter()
    rejected: Counter = Counter()
    folded = 0
    roots = list(graph.roots)
    names: dict[int, str] = {}
    for it in range(1, max_passes + 1):
        eng = _Engine(index, strict, fold_node if fold else None, max_rewrites_per_node)
        eng.run(graph.nodes if it == 1 else Graph(roots).nodes)
        new_roots = [eng.memo.get(r.id, r) for r in roots]
        fired.update(eng.fired)
        rejected.update(eng.rejected)
        folded += eng.folded
        names.update(eng.names)
        changed = eng.fired or eng.folded or any(a is not b for a, b in zip(new_roots, roots))
        roots = new_roots
        if not changed or not confirm:
            break
        if it == max_passes:
            last = eng.fired.most_common(3)
            raise RewriteError(f"rewriting did not reach a fixpoint in {max_passes} passes; "
                               f"rules still firing: {last}")
    out = Graph(roots, names=names)
    return out, {"rewrites": dict(fired), "rejected": dict(rejected), "folded": folded,
                 "iterations": it}
