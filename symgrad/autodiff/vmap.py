"""``sg.vmap``: a function of variables, vectorised over a batch axis, as one graph.

``vmap(fn)(*args)`` calls ``fn`` once on placeholders of one batch element's type, then
*batches* the graph it returned: walking it in topological order, every node that depends
on a batched argument is rebuilt for the whole batch (batch axis first) by its op's
batching rule. The generated source is therefore the size of one element's graph,
whatever the batch size; ``jacobian`` and ``hessian`` use this with an identity matrix
of seeds, so their source does not grow with the number of variables.

Batching rules: the op's own ``batch`` rule (``OpDef.batch``) where it has one and it does
not decline (None), else the generic rules from the op's facts, else unrolling:

* own rules: ``matmul``, ``einsum``, ``tensordot`` (an einsum when both operands are
  batched), ``solve`` where ``a`` is one matrix and ``b`` a batch (one solve for all the
  columns) or ``b`` is 1-D, the gathers and scatters with integer-array indexes
  (``getitem``, ``index_grad``, ``index_add``, ``index_set``: a batched index into an
  unbatched array gathers along a new leading axis; with both batched, ``arange(batch)``
  goes in front as one more index array), ``fill_like``, ``matmul_sub``, the run-time
  index check, and ``shape_of``/``size_of``, whose result is not batched at all (a rule
  may return ``Unbatched(v)``);
* elementwise ops: batched inputs get singleton axes after the batch axis up to the
  result's rank, unbatched ones broadcast as they are;
* reductions (``reduction`` "fold"/"mean"/"index"), transposes, axis insertions and
  removals: the axis parameters shift by one (``argmax`` over a whole element flattens
  each element first);
* ``core="axis"`` (``argsort``, ``permute_along``, ``cumsum``, ``cumprod``,
  ``linear_scan``, ``concatenate``, ``stack``): unbatched inputs are spread over the
  batch (a broadcast view), and the ``axis`` parameter shifts by one;
* ``core=k`` (``inv``, ``det``, ``slogdet``, ``cholesky``, ``eigh``, ``qr``, ``tril``,
  ``triu``, ``solve`` with a stack of matrices ``b``): the batch axis joins the stack
  axes in front of each input's last ``k`` axes (batched inputs get singleton axes so
  that the stacks broadcast as NumPy's);
* reshapes and broadcasts (to sizes that are not batched): the batch size goes in front;
* failing all that, the op applied to each batch element and the results stacked
  (needs a static batch size; correct, only not compact). Among symgrad's own ops that is
  left for: sizes that are batched data (``arange``, ``full``, ``reshape`` or
  ``broadcast_to`` to a size computed from batched values, not read from a shape),
  random draws with batched parameters, and ``ensure_shape`` over a symbolic batch; a
  user's op with neither facts nor a ``batch`` rule.

Batched arguments whose batch sizes are not the same int or the same name go through
``same_size`` (checked when the function runs): a gather, a scatter or a contraction
would otherwise broadcast a batch of 1 against the other argument's batch.
"""

from __future__ import annotations

from ..ir.graph import toposort
from ..ir.node import Var, building_tag
from ..ir.types import format_shape
from ..ops import broadcast_to, expand_dims, stack, transpose
from ..ops.checks import same_size
from ..ops.leaves import as_var, tensor
from ..ops.registry import Unbatched, apply
from ..ops.shape import reshape
from .structure import flatten, unflatten


def _moveaxis(v: Var, src: int, dst: int) -> Var:
    axes = list(range(v.ndim))
    axes.remove(src)
    axes.insert(dst, src)
    return v if axes == list(range(v.ndim)) else transpose(v, tuple(axes))


def _fits(out: Var, n: Var) -> bool:
    """``out`` is a batch of ``n``'s type (static sizes equal where both are static)."""
    if out.ndim != n.ndim + 1 or out.dtype != n.dtype:
        return False
    return all(a == b or not isinstance(a, int) or not isinstance(b, int)
               for a, b in zip(out.type.shape[1:], n.type.shape))


def _batch_size(v: Var):
    d = v.type.shape[0]
    return d if isinstance(d, int) else v.shape[0]


def _lift(v: Var, rank: int) -> Var:
    """A batched ``v`` (batch axis first) with singleton axes after the batch axis, so that
    its element has ``rank`` dimensions and broadcasts against unbatched operands."""
    missing = rank - (v.ndim - 1)
    return expand_dims(v, tuple(range(1, 1 + missing))) if missing > 0 else v


def _shift(axis, ndim):
    """Axis parameters of an element, as axes of the batch (None: every element axis)."""
    if axis is None:
        return tuple(range(1, ndim + 1))
    if isinstance(axis, tuple):
        return tuple(a % ndim + 1 for a in axis)
    return axis % ndim + 1


def _to_batch(v: Var, size) -> Var:
    """An unbatched ``v`` spread over the batch (a view: nothing is copied)."""
    return broadcast_to(expand_dims(v, 0), (size,) + tuple(v.shape))


def _core_axis(n: Var, ins: list, flags: list, size):
    """``core="axis"``: every input gets the batch axis, the axis parameter shifts."""
    axis = n.params.get("axis")
    if not isinstance(axis, int) or isinstance(axis, bool) or axis < 0:
        return None
    ins = [v if f else _to_batch(v, size) for v, f in zip(ins, flags)]
    return apply(n.op, ins, **{**n.params, "axis": axis + 1})


def _core_stack(n: Var, ins: list, flags: list):
    """``core=k``: the batch axis joins the stack axes in front of each input's last
    ``k``; batched inputs get singleton axes so that their stacks line up."""
    core = n.op.core
    cores = core if isinstance(core, tuple) else (core,) * len(ins)
    if len(cores) != len(ins):
        return None
    elems = [v.ndim - f for v, f in zip(ins, flags)]
    if any(e < k for e, k in zip(elems, cores)):
        return None                     # not a stack of problems (solve's 1-D b)
    stack = max(e - k for e, k in zip(elems, cores))
    return apply(n.op, [_lift(v, stack + k) if f else v
                        for v, f, k in zip(ins, flags, cores)], **n.params)


def _index_reduction(n: Var, ins: list, size):
    """argmax / argmin: the axis shifts; over a whole element, the element flattened."""
    p = n.params
    if p.get("axis") is not None:
        return apply(n.op, ins, **{**p, "axis": p["axis"] + 1})
    out = apply(n.op, [reshape(ins[0], (size, -1))], **{**p, "axis": 1, "keepdims": False})
    if p.get("keepdims"):
        out = reshape(out, (size,) + (1,) * n.inputs[0].ndim)
    return out


def _generic(n: Var, ins: list, flags: list, size):
    """The batched node for ``n`` by its facts, or None."""
    op, p = n.op, n.params
    if op.elementwise:
        return apply(op, [_lift(v, n.ndim) if f else v for v, f in zip(ins, flags)], **p)
    if op.core == "axis":
        return _core_axis(n, ins, flags, size)
    if op.core is not None:
        return _core_stack(n, ins, flags)
    x = n.inputs[0]
    lone = len(ins) == 1 or not any(flags[1:])       # only input 0 is batched
    if op.reduction in ("fold", "mean") and lone and "axis" in p:
        return apply(op, ins, **{**p, "axis": _shift(p["axis"], x.ndim)})
    if op.reduction == "index" and lone and "axis" in p:
        return _index_reduction(n, ins, size)
    if op.entries == "moved" and "axes" in p and lone:           # transpose
        return apply(op, ins, **{**p, "axes": (0,) + tuple(a + 1 for a in p["axes"])})
    if op.entries == "same" and isinstance(p.get("axis"), tuple) and lone:
        # expand_dims / squeeze: axes of the result (or of the input) shift by one
        return apply(op, ins, **{**p, "axis": tuple(a + 1 for a in p["axis"])})
    if op.entries == "moved" and "shape" in p and lone:            # reshape
        return reshape(ins[0], (size,) + _target(p["shape"], ins[1:]))
    if op.entries == "broadcast" and "shape" in p and lone:        # broadcast_to
        return broadcast_to(_lift(ins[0], n.ndim), (size,) + _target(p["shape"], ins[1:]))
    return None


def _target(template, sizes: list) -> tuple:
    """A target shape parameter (ints, and ``("$", k, dim)`` for the k-th size input) as
    the shape argument of ``reshape``/``broadcast_to``."""
    return tuple(d if isinstance(d, int) else sizes[d[1]] for d in template)


def _unrolled(n: Var, ins: list, flags: list, size):
    """``n``'s op once per batch element, stacked: the rule of last resort."""
    if not isinstance(size, int):
        raise NotImplementedError(
            f"vmap: op {n.op.name!r} has no batching rule, and a batch of symbolic size "
            f"cannot be unrolled; give the batch a static size, or the op a batch rule "
            f"(OpDef.batch)")
    rows = []
    for b in range(size):
        elems = [v[b] if f else v for v, f in zip(ins, flags)]
        rows.append(apply(n.op, elems, **n.params))
    return stack(rows, axis=0)


def batch_graph(outputs: list[Var], batched: dict) -> list[Var]:
    """The ``outputs`` (nodes of a graph over the placeholders in ``batched``) for a whole
    batch: ``batched`` maps each placeholder to its batched value (batch axis first).
    Every output comes back with the batch axis first (broadcast where it does not depend
    on a batched value)."""
    values = list(batched.values())
    size = _batch_size(values[0])
    new: dict[int, Var] = {}
    is_batched: dict[int, bool] = {}
    for p, v in batched.items():
        if not _fits(v, p):
            raise ValueError(f"vmap: a batch of {format_shape(p.type.shape)} elements must "
                             f"have shape (batch, ...), got {format_shape(v.type.shape)}")
        new[p.id], is_batched[p.id] = v, True
    for n in toposort(outputs):
        if n.id in new:
            continue
        ins = [new.get(i.id, i) for i in n.inputs]
        flags = [is_batched.get(i.id, False) for i in n.inputs]
        if not any(flags):
            new[n.id], is_batched[n.id] = (n if all(a is b for a, b in zip(ins, n.inputs))
                                           else apply(n.op, ins, **n.params)), False
            continue
        with building_tag(n.tag):       # a batched gradient node is a gradient node
            out = n.op.batch(ins, flags, size, **n.params) if n.op.batch else None
            if out is None:
                out = _generic(n, ins, flags, size)
            if out is None:
                out = _unrolled(n, ins, flags, size)
        if isinstance(out, Unbatched):  # the result does not depend on the batch
            if out.value.type != n.type:
                raise AssertionError(f"vmap: batching {n.op.name} gave {out.value.type} "
                                     f"for the whole batch, expected {n.type}")
            new[n.id], is_batched[n.id] = out.value, False
            continue
        if not _fits(out, n):
            raise AssertionError(f"vmap: batching {n.op.name} gave {out.type}, expected a "
                                 f"batch of {n.type}")
        new[n.id], is_batched[n.id] = out, True
    result = []
    for o in outputs:
        v = new.get(o.id, o)
        if not is_batched.get(o.id, False):
            v = broadcast_to(expand_dims(v, 0), (size,) + tuple(o.shape))
        result.append(v)
    return result


def vmap(fn, in_axes=0, out_axes=0):
    """Vectorise ``fn`` (a function of variables returning a variable or a structure of
    them) over an axis of its arguments, as JAX's ``vmap``.

    ``in_axes``: an int (every argument batched along that axis), None (not batched), or
    a list/tuple with one entry per argument. ``out_axes``: where the batch axis goes in
    the results (an int for all of them, or a list/tuple with one per result, in the
    order of the flattened results). Batched arguments whose batch sizes cannot be
    compared while building (unknown or differently named) are checked to agree when the
    compiled function runs. The batch size is the batched arguments' size
    along their batch axes (they must agree).

    >>> import numpy as np, symgrad as sg
    >>> W = sg.matrix("W", (3, 2))
    >>> xs = sg.matrix("xs", (5, 3))
    >>> ys = sg.vmap(lambda x: sg.tanh(x @ W))(xs)      # one row per x
    >>> ys.type.shape
    (5, 2)
    """
    def batched_fn(*args):
        args = [as_var(a) for a in args]
        axes = list(in_axes) if isinstance(in_axes, (list, tuple)) else [in_axes] * len(args)
        if len(axes) != len(args):
            raise ValueError(f"vmap: in_axes has {len(axes)} entries for {len(args)} "
                             "arguments")
        if all(a is None for a in axes):
            raise ValueError("vmap: no argument is batched (every in_axes entry is None)")
        placeholders, batched, call = [], {}, []
        sizes = set()
        for k, (a, ax) in enumerate(zip(args, axes)):
            if ax is None:
                call.append(a)
                continue
            if not -a.ndim <= ax < a.ndim:
                raise ValueError(f"vmap: in_axes {ax} is out of range for argument {k} "
                                 f"of shape {format_shape(a.type.shape)}")
            front = _moveaxis(a, ax % a.ndim, 0)
            sizes.add(front.type.shape[0])
            # a placeholder: an input leaf of one element's type, replaced by the batch
            elem = tensor(f"vmap_arg{k}", front.type.shape[1:], dtype=front.dtype)
            placeholders.append(elem)
            batched[elem] = front
            call.append(elem)
        if len({s for s in sizes if isinstance(s, int)}) > 1:
            raise ValueError(f"vmap: the batched arguments have different batch sizes "
                             f"{sorted(s for s in sizes if isinstance(s, int))}")
        # batch sizes that cannot be compared now (unknown, or named differently) are
        # checked when the function runs: a gather, a scatter or a solve would otherwise
        # broadcast a batch of 1 against the other's or read past the shorter one
        ref = next(iter(batched.values()))
        for k, (elem, front) in enumerate(batched.items()):
            if k:
                batched[elem] = same_size(front, ref, 0, 0,
                                          "vmap: the batch sizes of the batched arguments")
        out = fn(*call)
        leaves, tree = flatten(out, allow_arrays=True)
        leaves = [as_var(v) for v in leaves]
        res = batch_graph(leaves, batched)
        outs = (list(out_axes) if isinstance(out_axes, (list, tuple))
                else [out_axes] * len(res))
        if len(outs) != len(res):
            raise ValueError(f"vmap: out_axes has {len(outs)} entries for {len(res)} results")
        for k, (r, ax) in enumerate(zip(res, outs)):
            if not isinstance(ax, int) or not -r.ndim <= ax < r.ndim:
                raise ValueError(f"vmap: out_axes {ax!r} is out of range for result {k} "
                                 f"of shape {format_shape(r.type.shape)}")
        res = [_moveaxis(r, 0, ax % r.ndim) for r, ax in zip(res, outs)]
        return unflatten(tree, res)
    return batched_fn


__all__ = ["vmap", "batch_graph"]
