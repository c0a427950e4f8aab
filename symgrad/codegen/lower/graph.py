"""Graph lowerings of the fast NumPy target: fewer, cheaper NumPy calls.

These are *how fast*, not *what*: the optimizer passes (``symgrad/rewrite``) leave the
program mathematically clean, and ``f.plain_source`` renders that program as it is. Only
the fast target (``target="numpy"``, optimized) applies these lowerings before its planned
rendering; ``f.stats["lowerings"]`` says which fired. Names never lie: a gradient that a
lowering scales by the learning rate is renamed (``lr_d_h1``, not ``d_h1``).

The lowerings, all exact (they never change a computed value beyond floating-point
rounding of a reassociated product):

``fold_scale``
    Backpropagation is linear in the seed cotangent. When every gradient built from a
    seed leaves the gradient computation only through a product with the same scalar
    ``s`` (the learning rate of ``W - lr * d_W``), the seed is multiplied by ``s`` once
    and those products disappear: one multiply instead of one per parameter, and the
    scale reaches the output delta, where the hand-written NumPy puts it too.
``index_add``
    ``x + index_grad(g, ...)`` (an array of zeros with ``g`` scattered into it, plus a
    dense array) becomes ``index_add(x, g, ...)``: ``x`` with ``g`` added at the indexed
    positions. This turns the cross-entropy gradient ``softmax(z) - one_hot(y)`` into
    ``p[rows, y] -= 1`` instead of an array of zeros, a scatter and an add.
``relu_mask``
    ``x > 0`` next to ``relu(x)`` becomes ``relu(x) > 0`` (equal, NaN included), so the
    pre-activation ``x`` dies at the ReLU and its buffer can be reused in place; where
    the mask only multiplies, it becomes ``relu_mask(relu(x))``: the same 0/1 values,
    already float, so the multiply needs no cast from bool (NaN inputs give NaN rather
    than 0).
``matmul_sub``
    ``W - a @ b``, with ``W`` a shared variable and the product used nowhere else (the
    SGD update ``W - lr * x.T @ delta`` once the learning rate is folded), becomes
    ``matmul_sub(W, a, b)``: written into ``W`` in place, it is one BLAS call that adds
    the product into ``W`` (no gradient buffer, no separate subtract).
"""

from __future__ import annotations

import numpy as np

from ...ir.graph import Graph, clients, clone, rebuild, toposort
from ...ir.node import Var, id_mark
from ...ops.fused import index_add, matmul_sub, relu_mask as float_mask
from ...ops.registry import apply, get_op
from ...rewrite.pattern import P, PVar, first_match, pvars

# the statements the lowerings look for (patterns match by op, as the optimizer's rules)
_a, _b, _g, _ref, _x, _z = pvars("a b g ref x z")
_PRODUCT = P.multiply(_a, _b)
_SUM = P.add(_a, _b)
_DIFFERENCE = P.subtract(_a, _b)
_SCATTER = P.index_grad(_g, _ref, ...)             # g scattered into zeros shaped like ref
_RELU = P.relu(_x)
_POSITIVE = P.greater(_x, _z)
_UPDATE = P.subtract(PVar("c", lambda v: v.op.leaf == "shared"), P.matmul(_a, _b))


def _degrees(order: list[Var], source: Var) -> dict[int, int]:
    """0: independent of ``source``; 1: linear (degree-1 homogeneous) in it; 2: other."""
    deg: dict[int, int] = {}
    for n in order:
        if n is source:
            deg[n.id] = 1
            continue
        ds = [deg.get(i.id, 0) for i in n.inputs]
        shape_only = n.op.shape_only
        if not ds or max(ds) == 0 or (shape_only and all(
                d == 0 or k in shape_only for k, d in enumerate(ds))):
            deg[n.id] = 0       # (an input read for its shape only is no dependence)
            continue
        if max(ds) == 2 or n.dtype.kind not in "fc":
            deg[n.id] = 2
            continue
        linear = n.op.linear
        if linear == "jointly":
            ok = all(d == 1 for d in ds)
        elif linear == "first":
            ok = ds[0] == 1 and all(d == 0 for d in ds[1:])
        elif linear == "each":
            ok = ds.count(1) == 1
        elif linear == "branches":
            ok = ds[0] == 0 and all(d == 1 or _is_zero(i) for d, i in zip(ds[1:], n.inputs[1:]))
        else:
            ok = False
        deg[n.id] = 1 if ok else 2
    return deg


def _is_zero(v: Var) -> bool:
    return v.op.leaf == "constant" and v.value.size > 0 and not np.any(v.value)


def _scalar_key(v: Var):
    if v.op.leaf == "constant":
        return ("c", v.dtype.str, v.value.tobytes())
    return ("n", v.id)


def _fold_one_seed(order: list[Var], roots: list[Var], seed: Var):
    """The replacements that fold a common scalar factor into ``seed``, or None."""
    deg = _degrees(order, seed)
    users = clients(order)
    root_ids = {r.id for r in roots}
    # candidate exits: s * g with g linear in the seed and s a scalar independent of it
    exits: dict[tuple, list[tuple[Var, Var]]] = {}
    scalar_of: dict[tuple, Var] = {}
    for n in order:
        if deg.get(n.id) != 1 or first_match(_PRODUCT, n) is None:
            continue
        a, b = n.inputs
        lin, s = (a, b) if deg[a.id] == 1 else (b, a)
        if s.ndim != 0 or deg[s.id] != 0 or lin.type != n.type:
            continue
        key = _scalar_key(s)
        exits.setdefault(key, []).append((n, lin))
        scalar_of.setdefault(key, s)
    for key, pairs in exits.items():
        exit_ids = {e.id for e, _ in pairs}
        # the region: what the seed reaches without passing through an exit
        region, stack = set(), [seed]
        ok = True
        while stack and ok:
            n = stack.pop()
            if n.id in region:
                continue
            region.add(n.id)
            if n.id in root_ids:
                ok = False
            for u in users.get(n.id, ()):
                if u.id in exit_ids:
                    continue
                if deg.get(u.id) != 1:
                    ok = False
                    break
                stack.append(u)
        if not ok or not any(lin.id in region for _, lin in pairs):
            continue
        s = scalar_of[key]
        if any(lin.id not in region for _, lin in pairs):
            continue
        if s.dtype != seed.dtype or seed.ndim != 0:
            scaled = apply(get_op("multiply"), [seed, s])
            if scaled.type != seed.type:
                continue
        elif seed.op.leaf == "constant" and np.all(seed.value == 1):
            scaled = s
        else:
            scaled = apply(get_op("multiply"), [seed, s])
        replace = {seed.id: scaled}
        return replace, {e.id: lin for e, lin in pairs}, region, s
    return None


def fold_scale(graph: Graph) -> tuple[Graph, int]:
    order = graph.nodes
    seeds = [n for n in order if n.tag is not None and getattr(n.tag, "rule", None) == "seed"
             and n.dtype.kind == "f"]
    folded = 0
    roots = graph.roots
    mark = id_mark()
    for seed in seeds:
        order = toposort(roots)
        if not any(n is seed for n in order):
            continue
        found = _fold_one_seed(order, roots, seed)
        if found is None:
            continue
        replace, drop, region, s = found
        # the exits become their (rebuilt) linear input; the seed becomes seed * s, whose
        # own inputs are the old seed and s: they must not be remapped
        new = _rebuild_chain(order, {**replace, **drop}, remap_new=False)
        # what the region computed is now s times what it was: a name such as d_h1 would
        # lie, so the rebuilt nodes (made here) are named for the scale
        label = s.name or "scaled"
        for old_id in region:
            n = new.get(old_id)
            if n is not None and n.id > mark and n.name:
                n.name = f"{label}_{n.name}"
        roots = [new.get(r.id, r) for r in roots]
        folded += len(drop)
    return Graph(roots), folded


def fuse_index_add(graph: Graph) -> tuple[Graph, int]:
    order = graph.nodes
    users = clients(order)
    replace: dict[int, Var] = {}
    count = 0
    for n in order:
        if first_match(_SUM, n) is not None:
            a, b = n.inputs
            cands = [(a, b, False), (b, a, False)]
        elif first_match(_DIFFERENCE, n) is not None:
            a, b = n.inputs
            cands = [(b, a, True)]
        else:
            continue
        for scat, dense, negate in cands:
            if (first_match(_SCATTER, scat) is not None and len(users.get(scat.id, ())) == 1
                    and dense.type == n.type and scat.type == n.type
                    and scat.inputs[0].dtype == n.dtype):
                g = scat.inputs[0]
                if negate:
                    g = apply(get_op("negative"), [g])
                fused = index_add(dense, g, list(scat.inputs[2:]), scat.params["index"],
                                  scat.params["distinct"])
                fused.tag, fused.name, fused.loc = n.tag, n.name, n.loc
                replace[n.id] = fused
                count += 1
                break
    if not count:
        return graph, 0
    new = _rebuild_chain(order, replace)
    return Graph([new.get(r.id, r) for r in graph.roots]), count


def _rebuild_chain(order, replace, remap_new=True):
    """``rebuild`` where a replacement may be a node of ``order`` (then its rebuilt version
    is used) or a new node whose inputs are nodes of ``order`` (remapped when
    ``remap_new``)."""
    new: dict[int, Var] = {}
    for n in order:
        r = replace.get(n.id)
        if r is not None and r.id in new:
            new[n.id] = new[r.id]
            continue
        if r is not None and not remap_new:
            new[n.id] = r
            continue
        src = n if r is None else r
        ins = tuple(new.get(i.id, i) for i in src.inputs)
        changed = any(x is not y for x, y in zip(ins, src.inputs))
        new[n.id] = clone(src, ins) if changed else src
    return new


def relu_mask(graph: Graph) -> tuple[Graph, int]:
    order = graph.nodes
    users = clients(order)
    relu_of = {n.inputs[0].id: n for n in order if first_match(_RELU, n) is not None}
    replace: dict[int, Var] = {}
    for n in order:
        if first_match(_POSITIVE, n) is None:
            continue
        x, zero = n.inputs
        r = relu_of.get(x.id)
        if r is None or not _is_zero(zero) or zero.ndim != 0:
            continue
        if r.type.is_float and all(first_match(_PRODUCT, u) is not None
                                   for u in users.get(n.id, ())):
            # the 0/1 mask already float: the multiply then needs no cast from bool (and
            # NumPy no scratch buffer for it)
            c = float_mask(r)
        else:
            c = apply(n.op, [r, zero])
        c.tag, c.name, c.loc = n.tag, n.name, n.loc
        replace[n.id] = c
    return _with(graph, rebuild(order, replace) if replace else {}), len(replace)


def fuse_matmul_sub(graph: Graph) -> tuple[Graph, int]:
    order = graph.nodes
    users = clients(order)
    roots = {r.id for r in graph.roots}
    replace: dict[int, Var] = {}
    for n in order:
        if first_match(_UPDATE, n) is None:
            continue
        c, m = n.inputs
        if (m.id in roots
                or len(users.get(m.id, ())) != 1 or n.ndim != 2 or not n.type.is_float
                or c.type != n.type or m.type != n.type
                or any(x.ndim != 2 or x.dtype != n.dtype for x in m.inputs)):
            continue
        fused = matmul_sub(c, *m.inputs, product=m.name)
        fused.tag, fused.name, fused.loc = n.tag, n.name, n.loc
        replace[n.id] = fused
    return _with(graph, _rebuild_chain(order, replace) if replace else {}), len(replace)


def _with(graph: Graph, new: dict[int, Var]) -> Graph:
    """``graph`` with its roots replaced by their rebuilt versions in ``new``."""
    return Graph([new.get(r.id, r) for r in graph.roots]) if new else graph


__all__ = ["fold_scale", "fuse_index_add", "fuse_matmul_sub", "relu_mask"]
