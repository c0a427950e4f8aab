"""Patterns for rewrite rules, written with the same operators as graphs.

A pattern is a small tree that describes a family of graph nodes::

    x, y = pvars("x y")
    x * 1                 # multiply(x, <a constant equal to 1 everywhere>)
    P.log(P.sigmoid(x))   # log(sigmoid(x)); P.<op> builds a pattern node for any op name
    P.sum(x, axis=Param("axis"), keepdims=True)   # parameters are matched or bound
    P.index_grad(g, ref, ...)   # ``...`` last: any further inputs (the index arrays)

``PVar`` matches any node and binds it (a name used twice must bind the same node);
``PConst`` matches a constant whose entries all equal one number (also seen through
``fill_like``, ``broadcast_like``/``broadcast_to`` of a scalar and casts), or any such
constant when no value is given; ``PNode`` matches a node of one op whose inputs match its
argument patterns, trying both operand orders for commutative ops. The op of a pattern
node must be registered when the pattern is built (``P.<name>(...)``), and a ``Rule``
checks every op its patterns name, so a misspelt op is an error at import, never a rule
that silently never fires.

A value seen through (``PConst``, ``scalar_value``) follows the op facts: ``fills`` (every
entry is a parameter) and ``entries`` (broadcasts, reshapes, casts of one value).

A pattern used as a replacement is instantiated by calling the public op of the same name
(``symgrad.ops.multiply`` and so on) on the bound nodes, so replacements are type checked
exactly like user code.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from ..ir.node import Var
from ..ops.registry import REGISTRY


class Pattern:
    """Base class: Python operators build pattern nodes, as they build graph nodes."""

    __slots__ = ()

    def __add__(self, o): return PNode("add", (self, o))
    def __radd__(self, o): return PNode("add", (o, self))
    def __sub__(self, o): return PNode("subtract", (self, o))
    def __rsub__(self, o): return PNode("subtract", (o, self))
    def __mul__(self, o): return PNode("multiply", (self, o))
    def __rmul__(self, o): return PNode("multiply", (o, self))
    def __truediv__(self, o): return PNode("divide", (self, o))
    def __rtruediv__(self, o): return PNode("divide", (o, self))
    def __pow__(self, o): return PNode("power", (self, o))
    def __rpow__(self, o): return PNode("power", (o, self))
    def __matmul__(self, o): return PNode("matmul", (self, o))
    def __neg__(self): return PNode("negative", (self,))


def as_pattern(p) -> Pattern:
    if isinstance(p, Pattern):
        return p
    if p is Ellipsis:
        return REST
    if isinstance(p, (int, float)) and not isinstance(p, bool):
        return PConst(p)
    raise TypeError(f"cannot use {p!r} in a pattern")


class PVar(Pattern):
    """Matches any node (optionally only those for which ``pred(node)`` holds)."""

    __slots__ = ("name", "pred")

    def __init__(self, name: str, pred=None):
        self.name = name
        self.pred = pred

    def __repr__(self) -> str:
        return self.name


class PConst(Pattern):
    """Matches a constant whose entries all equal ``value`` (any such constant if None)."""

    __slots__ = ("value", "name")

    def __init__(self, value=None, name: str | None = None):
        self.value = value
        self.name = name

    def __repr__(self) -> str:
        return repr(self.value) if self.value is not None else (self.name or "c")


class Param:
    """A parameter value to bind (``P.sum(x, axis=Param("axis"))``)."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return self.name


class _Rest(Pattern):
    """``...`` as the last argument of a pattern node: any further inputs."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "..."


REST = _Rest()


class PNode(Pattern):
    """Matches a node of op ``op`` with matching inputs and parameters."""

    __slots__ = ("op", "args", "params", "rest", "flat")

    def __init__(self, op: str, args, params=None):
        self.op = op
        args = tuple(as_pattern(a) for a in args)
        self.rest = bool(args) and args[-1] is REST
        self.args = args[:-1] if self.rest else args
        if REST in self.args:
            raise ValueError(f"pattern {op}(...): ``...`` may only be the last argument")
        self.params = dict(params or {})
        # only distinct plain variables as arguments: a node of the op matches by its inputs
        names = [a.name for a in self.args if isinstance(a, PVar) and a.pred is None]
        self.flat = not self.params and len(set(names)) == len(self.args)

    def __repr__(self) -> str:
        inner = [repr(a) for a in self.args] + (["..."] if self.rest else [])
        inner += [f"{k}={v!r}" for k, v in self.params.items()]
        return f"{self.op}({', '.join(inner)})"


class _PatternOps:
    """``P.exp(x)``, ``P.sum(x, axis=...)``: a pattern node for any op name."""

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)

        def build(*args, **params):
            check_op(name)
            return PNode(name, args, params)
        build.__name__ = name
        return build


P = _PatternOps()


def check_op(name: str, where: str = "") -> None:
    """Raise a clear error unless ``name`` is a registered op (``where``: the rule)."""
    if name not in REGISTRY:
        import difflib
        close = difflib.get_close_matches(name, list(REGISTRY), n=3)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ValueError(f"{where}pattern names op {name!r}, which is not registered"
                         f"{hint}")


def op_names(pattern) -> list[str]:
    """The op names a pattern's nodes name (for checking a rule when it is built)."""
    out, stack = [], [pattern]
    while stack:
        p = stack.pop()
        if isinstance(p, PNode):
            out.append(p.op)
            stack.extend(p.args)
    return out


def pvars(names: str) -> list[PVar]:
    """``x, y = pvars("x y")``."""
    return [PVar(n) for n in names.split()]


# ---------------------------------------------------------------------------------------
# values of constant-like nodes
# ---------------------------------------------------------------------------------------

def scalar_value(node: Var):
    """The single number every entry of ``node`` equals when that is known statically
    (a constant, ``fill_like``, a broadcast or cast of such a node), else None."""
    while True:
        op = node.op
        if op.leaf == "constant":
            val = node.value
            if val.size == 0:
                return None
            flat = val.reshape(-1)
            if val.size == 1 or (val.size <= 4096 and bool(np.all(flat == flat[0]))):
                v = flat[0].item()
                if isinstance(v, float) and v != v:  # NaN: never treated as a known value
                    return None
                return v
            return None
        if op.fills is not None:
            return node.params[op.fills]
        if op.entries is not None:      # broadcasts, reshapes, casts: the same one value
            node = node.inputs[0]
            continue
        return None


# ---------------------------------------------------------------------------------------
# matching
# ---------------------------------------------------------------------------------------

def match(pattern: Pattern, node: Var, bindings: dict) -> Iterator[dict]:
    """Every way ``node`` matches ``pattern`` extending ``bindings`` (a generator; the
    recursion is over the pattern, which is small, never over the graph)."""
    if isinstance(pattern, PVar):
        prev = bindings.get(pattern.name)
        if prev is not None:
            if prev is node:
                yield bindings
            return
        if pattern.pred is not None and not pattern.pred(node):
            return
        b = dict(bindings)
        b[pattern.name] = node
        yield b
        return
    if isinstance(pattern, PConst):
        v = scalar_value(node)
        if v is None or (pattern.value is not None and v != pattern.value):
            return
        if pattern.name is None:
            yield bindings
            return
        prev = bindings.get(pattern.name)
        if prev is not None and prev is not node:
            return
        b = dict(bindings)
        b[pattern.name] = node
        yield b
        return
    # PNode. The matcher is where an op is recognised by its name: a pattern names its op
    # (checked against the registry when the pattern is built)
    if node.op.name != pattern.op or (len(node.inputs) != len(pattern.args) and not (
            pattern.rest and len(node.inputs) >= len(pattern.args))):
        return
    b = bindings
    for key, want in pattern.params.items():
        if key not in node.params:
            return
        have = node.params[key]
        if isinstance(want, Param):
            prev = b.get(want.name, _MISSING)
            if prev is _MISSING:
                b = dict(b)
                b[want.name] = have
            elif prev != have:
                return
        elif have != want:
            return
    orders = [node.inputs]
    if node.op.commutative and len(node.inputs) == 2 and node.inputs[0] is not node.inputs[1]:
        orders.append(node.inputs[::-1])
    for inputs in orders:
        yield from _match_args(pattern.args, inputs, 0, b)


_MISSING = object()


def _match_args(pats, inputs, k, bindings):
    if k == len(pats):
        yield bindings
        return
    for b in match(pats[k], inputs[k], bindings):
        yield from _match_args(pats, inputs, k + 1, b)


def first_match(pattern: Pattern, node: Var) -> dict | None:
    if isinstance(pattern, PNode):      # the common cases, without a generator
        # (the pattern's op, by name: as in match)
        if node.op.name != pattern.op:
            return None
        if pattern.flat and len(node.inputs) == len(pattern.args):
            return {a.name: i for a, i in zip(pattern.args, node.inputs)}
    for b in match(pattern, node, {}):
        return b
    return None


# ---------------------------------------------------------------------------------------
# instantiation
# ---------------------------------------------------------------------------------------

def instantiate(pattern, bindings: dict):
    """Build the graph a replacement pattern describes, from the bound nodes."""
    from .. import ops
    if isinstance(pattern, PVar):
        return bindings[pattern.name]
    if isinstance(pattern, PConst):
        if pattern.name is not None and pattern.name in bindings:
            return bindings[pattern.name]
        return pattern.value  # a Python number: the op converts it (NumPy 2 scalar rules)
    if isinstance(pattern, (int, float)):
        return pattern
    if pattern.rest:
        raise ValueError(f"replacement pattern {pattern!r}: ``...`` only matches")
    fn = getattr(ops, pattern.op, None)
    if fn is None:
        raise ValueError(f"replacement pattern uses op {pattern.op!r}, which has no public "
                         "function in symgrad.ops")
    args = [instantiate(a, bindings) for a in pattern.args]
    params = {k: (bindings[v.name] if isinstance(v, Param) else v)
              for k, v in pattern.params.items()}
    return fn(*args, **params)
