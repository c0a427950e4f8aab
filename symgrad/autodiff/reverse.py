"""Reverse mode, symbol to symbol: ``grad`` and ``vjp`` build new graph nodes.

One walk over the graph in reverse topological order. Each node's cotangent is the sum of
the contributions of its consumers (fan-out); each op's VJP rule turns it into
contributions for the op's inputs. Only nodes that lie on a path from a ``wrt`` variable
to an output are visited, so no work is done (or built) for the rest. Nodes built by a
rule carry a ``GradTag`` naming the forward node and the rule, which the printers colour
and the code generator names (``d_W`` is the gradient of ``W``) and comments.
"""

from __future__ import annotations

import numpy as np

from ..ir.graph import depends_on, toposort
from ..ir.node import (GradTag, Var, _current_loc, building_location, building_tag,
                       user_location)
from ..ir.types import format_shape
from ..ops import astype, constant, ones_like, sum_to, zeros_like
from ..ops.leaves import as_var
from ..ops.registry import describe
from .structure import flatten, unflatten


def _check_wrt(v, what="wrt"):
    if not isinstance(v, Var):
        raise TypeError(f"{what}: expected symgrad variables, got {type(v).__name__}")
    if not v.type.is_float:
        raise TypeError(f"{what}: cannot differentiate with respect to {describe(v)}: "
                        "only float variables have gradients")


def _fit(c: Var, target: Var, rule: str) -> Var:
    """Bring a rule's contribution to ``target``'s shape and dtype."""
    if c.type.shape != target.type.shape:
        c = sum_to(c, target)
        if c.ndim != target.ndim or any(
                isinstance(a, int) and isinstance(b, int) and a != b
                for a, b in zip(c.type.shape, target.type.shape)):
            raise ValueError(f"VJP rule of {rule} returned a cotangent of shape "
                             f"{format_shape(c.type.shape)} for an input of shape "
                             f"{format_shape(target.type.shape)}")
    if c.dtype != target.dtype:
        c = astype(c, target.dtype)
    return c


def _zeros(v: Var) -> Var:
    if v.type.is_static:
        return constant(np.zeros(v.type.shape, v.dtype))
    return zeros_like(v)


def backprop(outputs: list[Var], cotangents: list[Var], wrt: list[Var]) -> list[Var]:
    """Cotangents of ``wrt`` given cotangents of ``outputs`` (the core of grad and vjp).

    The nodes it builds are located at the user's call (``sg.grad(...)``), found once;
    their tag names the forward node, which carries its own location."""
    with building_location(_current_loc[0] or user_location(1)):
        return _backprop(outputs, cotangents, wrt)


def _backprop(outputs: list[Var], cotangents: list[Var], wrt: list[Var]) -> list[Var]:
    from ..rewrite.rules.stability import stable_form
    order = toposort(outputs)
    needed = depends_on(order, wrt)
    known = {n.id for n in order}
    wrt_ids = {w.id for w in wrt}
    contributions: dict[int, list[Var]] = {}
    for out, ct in zip(outputs, cotangents):
        if out.id in needed:
            contributions.setdefault(out.id, []).append(ct)
    result: dict[int, Var] = {}
    for node in reversed(order):
        parts = contributions.pop(node.id, None)
        if parts is None:
            continue
        with building_tag(GradTag(node, "sum of fan-out")):
            total = parts[0]
            for p in parts[1:]:
                total = total + p
        if node.id in wrt_ids:
            result[node.id] = total
        if node.op.leaf or node.op.nondiff or node.op.random:
            continue
        if not any(i.id in needed for i in node.inputs):
            continue
        _name_cotangent(total, node)
        stable = stable_form(node)
        if stable is not None:      # a VJP of log(sigmoid(x)) and the like: its cancelled form
            with building_tag(GradTag(node, node.op.name)):
                for inp, c in _through(stable, total, known):
                    if inp.id in needed:
                        contributions.setdefault(inp.id, []).append(c)
            continue
        with building_tag(GradTag(node, node.op.name)):
            cts = node.op.vjp(total, node, *node.inputs, **node.params)
            if len(cts) != len(node.inputs):
                raise ValueError(f"VJP rule of {node.op.name} returned {len(cts)} cotangents "
                                 f"for {len(node.inputs)} inputs")
            for inp, c in zip(node.inputs, cts):
                if c is None or inp.id not in needed:
                    continue
                c = _fit(as_var(c, inp), inp, node.op.name)
                contributions.setdefault(inp.id, []).append(c)
    out = []
    for w in wrt:
        if w.id in result:
            g = result[w.id]
            if g.dtype != w.dtype:
                g = astype(g, w.dtype)
        else:
            g = _zeros(w)
        out.append(g)
    return out


def new_nodes(form: Var, known: set[int]) -> list[Var]:
    """The nodes of ``form`` that are not in ``known`` (ids), each after its inputs among
    them: a new expression over nodes of an existing graph."""
    order, seen, stack = [], set(), [(form, iter(form.inputs))]
    seen.add(form.id)
    while stack:                    # the new nodes, each after its new inputs
        node, it = stack[-1]
        for child in it:
            if child.id not in seen and child.id not in known:
                seen.add(child.id)
                stack.append((child, iter(child.inputs)))
                break
        else:
            stack.pop()
            order.append(node)
    return order


def _through(form: Var, total: Var, known: set[int]) -> list[tuple[Var, Var]]:
    """Contributions ``(node, cotangent)`` to the nodes of the forward graph (ids in
    ``known``) that ``form``, a new expression over them, reads, given ``total``, the
    cotangent of ``form``: reverse mode over the new nodes only."""
    order = new_nodes(form, known)
    parts: dict[int, list[Var]] = {form.id: [total]}
    out = []
    for node in reversed(order):
        cts = parts.pop(node.id, None)
        if cts is None or node.op.leaf or node.op.nondiff or node.op.random:
            continue
        g = cts[0]
        for p in cts[1:]:
            g = g + p
        for inp, c in zip(node.inputs, node.op.vjp(g, node, *node.inputs, **node.params)):
            if c is None or not inp.type.is_float:
                continue
            c = _fit(as_var(c, inp), inp, node.op.name)
            if inp.id in known:
                out.append((inp, c))
            else:
                parts.setdefault(inp.id, []).append(c)
    return out


def _name_cotangent(total: Var, node: Var) -> None:
    """Name a freshly built cotangent after its forward node (``d_h`` for ``h``)."""
    if node.name and total.name is None and total.is_grad:
        total.name = f"d_{node.name}"


def grad(cost, wrt):
    """Gradient of the scalar ``cost`` with respect to ``wrt``, as new graph nodes.

    ``wrt`` may be a variable, a list or tuple of them, or a dict whose values are
    variables; the result has the same structure. Inputs the cost does not depend on get
    zeros of their shape.

    >>> import symgrad as sg
    >>> x = sg.scalar("x")
    >>> dx = sg.grad(x ** 3, x)
    >>> float(sg.function([x], dx)(2.0))
    12.0
    """
    cost = as_var(cost)
    if cost.ndim != 0:
        raise ValueError(f"grad: the cost must be a scalar, but {describe(cost)} has shape "
                         f"{format_shape(cost.type.shape)}; for a non-scalar output use "
                         "sg.vjp(outputs, wrt, cotangents) or sg.jacobian")
    if not cost.type.is_float:
        raise TypeError(f"grad: the cost {describe(cost)} is not a float variable")
    leaves, tree = flatten(wrt)
    for w in leaves:
        _check_wrt(w)
    with building_tag(GradTag(cost, "seed")):
        seed = ones_like(cost) if not cost.type.is_static else constant(
            np.ones((), cost.dtype))
    grads = backprop([cost], [seed], leaves)
    for w, g in zip(leaves, grads):
        if g.name is None and w.name and g.is_grad:
            g.name = f"d_{w.name}"
    return unflatten(tree, grads)


def vjp(outputs, wrt, cotangents):
    """Vector-Jacobian product: cotangents of ``wrt`` given ``cotangents`` of ``outputs``.

    ``outputs`` and ``cotangents`` have the same structure (cotangents may be variables or
    arrays of the outputs' shapes); the result has the structure of ``wrt``.
    """
    outs, tree_o = flatten(outputs)
    cts, tree_c = flatten(cotangents, allow_arrays=True)
    if len(outs) != len(cts):
        raise ValueError(f"vjp: {len(outs)} outputs but {len(cts)} cotangents")
    fixed = []
    for o, c in zip(outs, cts):
        o = as_var(o)
        c = as_var(c, o)
        if c.ndim != o.ndim or any(isinstance(a, int) and isinstance(b, int) and a != b
                                   for a, b in zip(c.type.shape, o.type.shape)):
            raise ValueError(f"vjp: the cotangent for {describe(o)} has shape "
                             f"{format_shape(c.type.shape)}")
        if c.dtype != o.dtype:
            c = astype(c, o.dtype)
        fixed.append(c)
    leaves, tree = flatten(wrt)
    for w in leaves:
        _check_wrt(w)
    return unflatten(tree, backprop([as_var(o) for o in outs], fixed, leaves))


__all__ = ["grad", "vjp", "backprop"]
