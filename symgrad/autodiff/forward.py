"""Forward mode, symbol to symbol: ``jvp`` builds the tangents of outputs as graph nodes.

One walk over the graph in topological order carries a tangent for every node that
depends on a ``wrt`` variable; a node no tangent reaches has a *symbolic* zero tangent
(``None`` here), which is never built as an array. Each node's tangent comes from

* its op's own forward rule, when the ``OpDef`` has one: ``jvp(tangents, out, *inputs,
  **params)`` where ``tangents`` holds one tangent per input, ``None`` for a zero one; or
* the transpose of its VJP rule. The VJP is linear in its cotangent ``u``, so
  ``<vjp(u), t>`` is a linear function of ``u`` whose gradient with respect to ``u`` is
  exactly the tangent of the output. We build the VJP with a placeholder ``u``, form that
  inner product and backpropagate to ``u``. Since the result is linear in ``u``, its
  gradient no longer mentions ``u``; this is checked, and a rule that is not linear in its
  cotangent is reported by name.
"""

from __future__ import annotations

import numpy as np

from ..ir.graph import depends_on, rebuild, toposort
from ..ir.node import GradTag, Var, building_tag
from ..ir.types import format_shape
from ..ops import astype, broadcast_like, constant
from ..ops import sum as _sum
from ..ops.leaves import INPUT, as_var
from ..ops.registry import describe
from .reverse import _check_wrt, _fit, _zeros, backprop, new_nodes
from .structure import flatten, unflatten


def _check_tangent(t, w: Var) -> Var:
    """A user-given tangent as a variable of ``w``'s shape and dtype."""
    t = as_var(t, w)
    same_rank = t.ndim == w.ndim
    if not same_rank or any(isinstance(a, int) and isinstance(b, int) and a != b
                            for a, b in zip(t.type.shape, w.type.shape)):
        raise ValueError(f"jvp: the tangent for {describe(w)} has shape "
                         f"{format_shape(t.type.shape)}; it must have the variable's shape")
    if not t.type.is_float and t.type.dtype.kind not in "iub":
        raise TypeError(f"jvp: the tangent for {describe(w)} has dtype {t.dtype}")
    if t.dtype != w.dtype:
        t = astype(t, w.dtype)
    return t


def _fit_tangent(t: Var, out: Var, rule: str) -> Var:
    """Bring a forward rule's result to the shape and dtype of the node ``out``."""
    t = as_var(t, out)
    if t.type.shape != out.type.shape:
        if t.ndim > out.ndim:
            raise ValueError(f"the forward rule of {rule} returned a tangent of shape "
                             f"{format_shape(t.type.shape)} for an output of shape "
                             f"{format_shape(out.type.shape)}")
        t = broadcast_like(t, out)
    if t.dtype != out.dtype:
        t = astype(t, out.dtype)
    return t


# Inputs that an op reads only for their shape (never their data) are declared on its
# OpDef (``shape_only``). A transposed VJP may refer to the placeholder cotangent in such
# positions (``sum``'s rule broadcasts like its input, for instance); those references are
# moved to a variable of the same shape.
def _shape_only(op) -> tuple:
    return op.shape_only


def _detach_placeholder(tangent: Var, u: Var, node: Var, known: list) -> Var:
    """Remove the placeholder ``u`` from ``tangent``, which may use it only for shapes.

    Raises ``ValueError`` when the tangent reads the placeholder's data (the op's VJP rule
    is then not linear in its cotangent).
    """
    order = toposort([tangent])
    dep = depends_on(order, [u])  # through any edge
    if tangent.id not in dep:
        return tangent
    data_dep = {u.id}  # through data edges only
    shape_refs: dict[int, Var] = {}
    for n in order:
        skip = _shape_only(n.op)
        for k, i in enumerate(n.inputs):
            if k in skip:
                if i.id in dep:
                    shape_refs[i.id] = i
            elif i.id in data_dep:
                data_dep.add(n.id)
    if tangent.id in data_dep:
        raise ValueError(f"forward mode through op {node.op.name!r}: its VJP rule is not "
                         "linear in the cotangent, so it cannot be transposed; give the op "
                         "a jvp rule (see docs/adding_an_op.md)")
    replace = {u.id: node}
    for ref in shape_refs.values():
        for cand in known:
            if cand.type.shape == ref.type.shape and None not in ref.type.shape:
                replace[ref.id] = cand
                break
    return rebuild(order, replace)[tangent.id]


def _transposed_vjp(node: Var, tangents: list) -> Var | None:
    """The tangent of ``node`` by transposing its VJP rule (see the module docstring)."""
    u = Var(INPUT, (), {}, node.type, name=f"u_{node.op.name}")
    cts = node.op.vjp(u, node, *node.inputs, **node.params)
    if len(cts) != len(node.inputs):
        raise ValueError(f"VJP rule of {node.op.name} returned {len(cts)} cotangents for "
                         f"{len(node.inputs)} inputs")
    inner = None
    for inp, c, t in zip(node.inputs, cts, tangents):
        if c is None or t is None:
            continue
        c = _fit(as_var(c, inp), inp, node.op.name)
        term = _sum(c * t)
        inner = term if inner is None else inner + term
    if inner is None:
        return None
    seed = constant(np.ones((), inner.dtype))
    (tangent,) = backprop([inner], [seed], [u])
    known = [node, *node.inputs, *(t for t in tangents if t is not None)]
    return _detach_placeholder(tangent, u, node, known)


def forward_tangents(outputs: list[Var], wrt: list[Var], tangents: list[Var]) -> list:
    """Tangents of ``outputs`` (``None`` for a zero tangent) given those of ``wrt``."""
    from ..rewrite.rules.stability import stable_form
    order = toposort(outputs)
    known = {n.id for n in order}
    tan: dict[int, Var] = {}
    for w, t in zip(wrt, tangents):
        tan[w.id] = t if w.id not in tan else tan[w.id] + t
    for node in order:
        if node.id in tan or node.op.leaf:
            continue
        ins = [tan.get(i.id) for i in node.inputs]
        if all(t is None for t in ins):
            continue
        if node.op.random or not node.type.is_float:
            continue
        if node.op.jvp is None and (node.op.nondiff or node.op.vjp is None):
            continue
        # integer inputs (indices, sizes) carry no tangent
        ins = [t if i.type.is_float else None for i, t in zip(node.inputs, ins)]
        if all(t is None for t in ins):
            continue
        stable = stable_form(node, forward=True)
        if stable is not None:
            # log(sigmoid(x)) and the like: the tangent of the stable form (-softplus(-x)),
            # since t / sigmoid(x) * sigmoid'(x) is 0/0 where sigmoid(x) underflows
            with building_tag(GradTag(node, f"jvp of {node.op.name}")):
                reads = {i.id: i for n in new_nodes(stable, known) for i in n.inputs
                         if i.id in known and i.id in tan}
                (t,) = forward_tangents([stable], list(reads.values()),
                                        [tan[k] for k in reads])
                if t is not None:
                    tan[node.id] = _fit_tangent(t, node, node.op.name)
            continue
        with building_tag(GradTag(node, f"jvp of {node.op.name}")):
            if node.op.jvp is not None:
                t = node.op.jvp(ins, node, *node.inputs, **node.params)
                t = None if t is None else _fit_tangent(t, node, node.op.name)
            else:
                t = _transposed_vjp(node, ins)
                if t is not None:
                    t = _fit_tangent(t, node, node.op.name)
        if t is not None:
            tan[node.id] = t
    return [tan.get(o.id) for o in outputs]


def jvp(outputs, wrt, tangents):
    """Jacobian-vector product (forward mode): the tangents of ``outputs``.

    Parameters
    ----------
    outputs : Var or list, tuple or dict of Var
        The expressions to differentiate.
    wrt : Var or list, tuple or dict of Var
        Float variables the tangents are attached to.
    tangents : same structure as ``wrt``
        Directions, as variables or arrays of the shapes of ``wrt``.

    Returns
    -------
    Var or list, tuple or dict of Var
        The directional derivatives of ``outputs`` (same structure as ``outputs``);
        an output that does not depend on ``wrt`` gets zeros of its shape.

    Examples
    --------
    >>> import numpy as np, symgrad as sg
    >>> x = sg.vector("x", 3)
    >>> t = sg.jvp(sg.sin(x), x, np.ones(3))
    >>> np.allclose(sg.function([x], t)(np.zeros(3)), 1.0)
    True
    """
    outs, tree_o = flatten(outputs)
    outs = [as_var(o) for o in outs]
    leaves, tree_w = flatten(wrt)
    if isinstance(wrt, dict) and isinstance(tangents, dict):
        if set(wrt) != set(tangents):
            raise ValueError(f"jvp: wrt and tangents are dicts with different keys: "
                             f"{sorted(map(str, wrt))} and {sorted(map(str, tangents))}")
        tangents = [tangents[k] for k in wrt]
    tans, _ = flatten(tangents, allow_arrays=True)
    if len(leaves) != len(tans):
        raise ValueError(f"jvp: {len(leaves)} variables in wrt but {len(tans)} tangents")
    for w in leaves:
        _check_wrt(w)
    tans = [_check_tangent(t, w) for t, w in zip(tans, leaves)]
    result = forward_tangents(outs, leaves, tans)
    result = [_zeros(o) if t is None else t for o, t in zip(outs, result)]
    return unflatten(tree_o, result)


__all__ = ["jvp", "forward_tangents"]
