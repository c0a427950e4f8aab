"""Indexing: ints, slices, None, ``...`` and integer arrays or variables (gather).

The ``index`` parameter is a tuple of entries, ``...`` already expanded:
``("int", i)``, ``("slice", start, stop, step)``, ``("new",)`` and ``("adv", k)`` for the
k-th integer-array index, which is input ``k + 1`` of the node. The VJP scatters the
cotangent back into zeros (``np.add.at`` when indices may repeat, so that repeated
indices accumulate; a plain assignment when they are known to be distinct).
"""

from __future__ import annotations

import numpy as np

from . import xp_forms as xpf
from ..ir.node import Var
from ..ir.types import ShapeError, TensorType, broadcast_shapes
from .leaves import as_var
from .checks import check_index
from .registry import Expr, apply, defop, describe

SCATTER_HELPERS = (
    '''def _scatter_add(shape, index, values, dtype):
    """Zeros of `shape` with `values` added at `index`; repeated indices accumulate."""
    out = np.zeros(shape, dtype=dtype)
    np.add.at(out, index, values)
    return out''',
    '''def _scatter(shape, index, values, dtype):
    """Zeros of `shape` with `values` written at `index` (the indices are distinct)."""
    out = np.zeros(shape, dtype=dtype)
    out[index] = values
    return out''',
)


def _normalize_index(x: Var, index):
    if not isinstance(index, tuple):
        index = (index,)
    entries, adv = [], []
    n_consuming = sum(1 for i in index if i is not None and i is not Ellipsis)
    if sum(1 for i in index if i is Ellipsis) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if n_consuming > x.ndim:
        raise IndexError(f"too many indices for {x!r}: {x.ndim} dimensions, "
                         f"{n_consuming} indexed")
    for item in index:
        if item is Ellipsis:
            entries.extend([("slice", None, None, None)] * (x.ndim - n_consuming))
        elif item is None:
            entries.append(("new",))
        elif isinstance(item, (bool, np.bool_)):
            raise IndexError("boolean indices are not supported (the result's shape would "
                             "depend on the data); use sg.where")
        elif isinstance(item, (int, np.integer)):
            entries.append(("int", int(item)))
        elif isinstance(item, slice):
            for part in (item.start, item.stop, item.step):
                if part is not None and not isinstance(part, (int, np.integer)):
                    raise IndexError(f"slice bounds must be ints or None, got {item!r}")
            if item.step == 0:
                raise IndexError("slice step cannot be zero")
            entries.append(("slice", item.start, item.stop, item.step))
        else:
            v = as_var(item)
            if v.dtype == np.bool_:
                raise IndexError("boolean mask indices that are data are not supported (the "
                                 "result's shape would depend on them); use sg.where, or a "
                                 "constant mask (a NumPy bool array)")
            if v.dtype.kind not in "iu":
                raise IndexError(f"array indices must be integers, got {v.type}")
            entries.append(("adv", len(adv)))
            adv.append(v)
    return tuple(entries), adv


def _slice_len(d, start, stop, step):
    if isinstance(d, int):
        return len(range(*slice(start, stop, step).indices(d)))
    if start is None and stop is None and step in (None, 1):
        return d
    return None


def _getitem_infer(types, index):
    x, adv_types = types[0], types[1:]
    has_adv = any(e[0] == "adv" for e in index)
    out, adv_pos, axis = [], [], 0
    for k, e in enumerate(index):
        kind = e[0]
        if kind == "new":
            out.append(1)
            continue
        d = x.shape[axis]
        if kind == "int":
            if isinstance(d, int) and not -d <= e[1] < d:
                raise IndexError(f"index {e[1]} is out of bounds for axis {axis} with size {d}")
            if has_adv:
                adv_pos.append((k, len(out), ()))
        elif kind == "slice":
            out.append(_slice_len(d, *e[1:]))
        else:
            adv_pos.append((k, len(out), adv_types[e[1]].shape))
        axis += 1
    out.extend(x.shape[axis:])
    if adv_pos:
        try:
            adv_shape, _ = broadcast_shapes(*[s for _, _, s in adv_pos])
        except ShapeError as exc:
            raise IndexError(f"index arrays do not broadcast together ({exc})") from None
        ks = [k for k, _, _ in adv_pos]
        contiguous = ks == list(range(ks[0], ks[0] + len(ks)))
        at = adv_pos[0][1] if contiguous else 0
        out = out[:at] + list(adv_shape) + out[at:]
    return TensorType(x.dtype, tuple(out))


def index_parts(index, adv_args, slice_text) -> list[str]:
    """The text of each index entry: ints, ``None``, the integer-array arguments' texts,
    and slices as ``slice_text(start, stop, step)`` writes them."""
    parts = []
    for e in index:
        if e[0] == "int":
            parts.append(str(e[1]))
        elif e[0] == "new":
            parts.append("None")
        elif e[0] == "adv":
            parts.append(adv_args[e[1]].text)
        else:
            parts.append(slice_text(*e[1:]))
    return parts


def _colon(start, stop, step) -> str:
    s = f"{'' if start is None else start}:{'' if stop is None else stop}"
    return s if step is None else f"{s}:{step}"


def index_text(index, adv_args) -> str:
    parts = index_parts(index, adv_args, _colon)
    while len(parts) > 1 and parts[-1] == ":":
        parts.pop()
    return ", ".join(parts) if parts else "()"


def _getitem_emit(args, index):
    return Expr(f"{args[0].atom}[{index_text(index, args[1:])}]")


def _distinct(index, adv: list[Var]) -> bool:
    """True when the positions an index selects are known to be distinct."""
    if not adv:
        return True
    try:
        shape, _ = broadcast_shapes(*[a.type.shape for a in adv])
    except ShapeError:
        return False
    # an arange index spanning the whole broadcast index makes the selected tuples
    # distinct; one of length 1 that broadcasts against another index does not
    # (an arange with a negative start or step may name one position twice: -3 and 0)
    return len(shape) == 1 and any(a.op.name == "arange" and a.type.shape == shape
                                   and shape[0] is not None and a.params.get("start", 0) >= 0
                                   and a.params.get("step", 1) > 0 for a in adv)


def _getitem_vjp(g, out, x, *adv, index):
    return [index_grad(g, x, adv, index)] + [None] * len(adv)


# ---- vmap rules ---------------------------------------------------------------------
_FULL = ("slice", None, None, None)


def _elem(v: Var, batched: bool) -> TensorType:
    return TensorType(v.dtype, v.type.shape[1:]) if batched else v.type


def _to_batch(v: Var, size) -> Var:
    """An unbatched ``v`` spread over the batch (a view)."""
    from .shape import broadcast_to, expand_dims
    return broadcast_to(expand_dims(v, 0), (size,) + tuple(v.shape))


def batch_index(index, adv: list, adv_batched: list, x_batched: bool, size, rank: int):
    """How to index a batch of arrays ``x`` (``x_batched``) by a batch of ``index``es
    (the integer arrays ``adv``, each batched or not): ``(index, adv, perm)`` such that
    ``x[index]`` with the new index and inputs, transposed by ``perm`` (None: as it is),
    is the batch of the elements' ``x[index]`` (``rank`` dimensions each), batch axis
    first.

    * only ``x`` batched: a full slice in front for its batch axis;
    * only index arrays batched: they gather along a new leading axis of the integer-array
      axes (batched arrays get singleton axes after the batch axis, so that they
      broadcast against the others as one element's do);
    * both: ``arange(batch)`` in front, as a first integer array, pairs each element's
      index arrays with its own array.

    NumPy puts the integer-array axes first when the integer entries (ints count, beside
    an array) are not adjacent, else where the first of them is; ``perm`` moves the axes
    back where one element's indexing has them."""
    from .shape import arange, expand_dims
    has_adv = any(e[0] == "adv" for e in index)
    ks = [k for k, e in enumerate(index) if e[0] == "adv" or (e[0] == "int" and has_adv)]
    contiguous = bool(ks) and ks == list(range(ks[0], ks[0] + len(ks)))
    pre = sum(1 for e in index[:ks[0]] if e[0] in ("slice", "new")) if ks else 0
    n_adv = max((a.ndim - f for a, f in zip(adv, adv_batched)), default=0)
    lifted = [expand_dims(a, tuple(range(1, 1 + n_adv - (a.ndim - 1))))
              if f and a.ndim - 1 < n_adv else a for a, f in zip(adv, adv_batched)]
    rest = list(range(n_adv + pre + 1, rank + 1))
    if not any(adv_batched):
        perm = None if not has_adv or contiguous else (
            [n_adv] + list(range(n_adv)) + list(range(n_adv + 1, rank + 1)))
        return (_FULL,) + tuple(index), list(adv), perm
    if not x_batched:           # the gather gets a leading axis of the batch
        perm = None if not contiguous or not pre else (
            [pre] + list(range(pre)) + list(range(pre + 1, rank + 1)))
        return tuple(index), lifted, perm
    rows = arange(size)
    if n_adv:
        rows = expand_dims(rows, tuple(range(1, 1 + n_adv)))
    new = (("adv", 0),) + tuple(("adv", e[1] + 1) if e[0] == "adv" else e for e in index)
    perm = None if not contiguous or not pre else (
        [0] + list(range(1 + n_adv, 1 + n_adv + pre)) + list(range(1, 1 + n_adv)) + rest)
    return new, [rows] + lifted, perm


def _getitem_batch(ins, batched, size, index):
    """vmap rule: see ``batch_index``."""
    from .shape import transpose
    x, adv = ins[0], list(ins[1:])
    rank = _getitem_infer([_elem(v, f) for v, f in zip(ins, batched)], index).ndim
    new, adv, perm = batch_index(index, adv, list(batched[1:]), batched[0], size, rank)
    out = apply(GETITEM, [x, *adv], index=new)
    return out if perm is None else transpose(out, tuple(perm))


def batch_write(ins, batched, size, index, **params):
    """vmap rule of the ops that write values at ``target[index]`` (``index_grad``,
    ``index_add``, ``index_set``: inputs ``target, values, *adv`` in that order, here):
    the target spread over the batch when it is not batched (a view: the ops copy it,
    or read its shape only), the values moved to the batch's indexed layout."""
    from .shape import transpose
    t, v, adv = ins[0], ins[1], list(ins[2:])
    ft, fv, fadv = batched[0], batched[1], list(batched[2:])
    rank = _getitem_infer([_elem(t, ft), *[_elem(a, f) for a, f in zip(adv, fadv)]],
                          index).ndim
    new, adv, perm = batch_index(index, adv, fadv, True, size, rank)
    if not ft:
        t = _to_batch(t, size)
    if perm is not None or fv:
        if not fv:
            v = _to_batch(v, size)
        if v.ndim - 1 < rank:       # values that broadcast: singleton axes in their place
            from .shape import expand_dims
            v = expand_dims(v, tuple(range(1, 1 + rank - (v.ndim - 1))))
        if perm is not None:
            v = transpose(v, tuple(int(i) for i in np.argsort(perm)))
    return t, v, adv, new


GETITEM = defop("getitem", infer=_getitem_infer, emit=_getitem_emit, vjp=_getitem_vjp,
                inline=True, short="item", linear="first", batch=_getitem_batch,
                    array_api=xpf.GETITEM)


def _index_grad_infer(types, index, distinct, dtype):
    g, ref = types[0], types[1]
    return TensorType(g.dtype, ref.shape)


def _index_grad_emit(args, index, distinct, dtype):
    g, ref, adv = args[0], args[1], args[2:]
    fn = "_scatter" if distinct else "_scatter_add"
    return Expr(f"{fn}({ref.atom}.shape, np.s_[{index_text(index, adv)}], {g.text}, "
                f"np.{dtype})")


def _index_grad_batch(ins, batched, size, index, distinct, dtype):
    """vmap rule: see ``batch_write`` (the reference, read for its shape only, is the
    target)."""
    g, ref, *adv = ins
    fg, fref, *fadv = batched
    ref, g, adv, new = batch_write([ref, g, *adv], [fref, fg, *fadv], size, index)
    return apply(INDEX_GRAD, [g, ref, *adv], index=new, distinct=distinct, dtype=dtype)


def _index_grad_vjp(g, out, gv, ref, *adv, index, distinct, dtype):
    return [apply(GETITEM, [g, *adv], index=index), None] + [None] * len(adv)


INDEX_GRAD = defop("index_grad", infer=_index_grad_infer, emit=_index_grad_emit,
                   vjp=_index_grad_vjp, inline=False, helpers=SCATTER_HELPERS,
                   short="scatter", shape_only=(1,), linear="first", batch=_index_grad_batch,
                       array_api=xpf.INDEX_GRAD)


def index_grad(g, x, adv, index):
    """Zeros shaped like ``x`` with ``g`` added at ``x[index]`` (the VJP of indexing)."""
    return apply(INDEX_GRAD, [g, x, *adv], index=index, distinct=_distinct(index, list(adv)),
                 dtype=g.dtype.name)


def _check_constant_bounds(x: Var, entries, adv: list[Var]) -> None:
    """Refuse constant index arrays that fall outside a static dimension (as NumPy would
    when the function runs)."""
    axis = 0
    for e in entries:
        if e[0] == "new":
            continue
        if e[0] == "adv":
            v, d = adv[e[1]], x.type.shape[axis]
            if v.op.leaf == "constant" and isinstance(d, int) and v.value.size:
                bad = v.value[(v.value < -d) | (v.value >= d)]
                if bad.size:
                    raise IndexError(f"index {bad.flat[0]} is out of bounds for axis {axis} "
                                     f"with size {d} (indexing {x!r})")
        axis += 1


def _expand_masks(x: Var, index) -> tuple:
    """``index`` with each constant boolean mask (a NumPy bool array, or a constant
    variable of bool dtype) replaced by its ``np.nonzero`` integer arrays, as NumPy reads
    it: the result's shape is then static. The mask's shape must match the axes it
    covers."""
    if not isinstance(index, tuple):
        index = (index,)

    def mask_of(item):
        if isinstance(item, list) and item and all(isinstance(i, (bool, np.bool_))
                                                   for i in np.ravel(np.asarray(item))):
            item = np.asarray(item)
        if isinstance(item, np.ndarray) and item.dtype == np.bool_ and item.ndim:
            return item
        if isinstance(item, Var) and item.dtype == np.bool_ and item.op.leaf == "constant" \
                and item.ndim:
            return item.value
        return None

    def consumed(item):
        if item is None or item is Ellipsis:
            return 0
        m = mask_of(item)
        return 1 if m is None else m.ndim

    if not any(mask_of(i) is not None for i in index):
        return index
    out = []
    for k, item in enumerate(index):
        m = mask_of(item)
        if m is None:
            out.append(item)
            continue
        before = index[:k]
        if any(i is Ellipsis for i in before):
            start = x.ndim - sum(consumed(i) for i in index[k:])
        else:
            start = sum(consumed(i) for i in before)
        dims = x.type.shape[start:start + m.ndim]
        if start < 0 or len(dims) != m.ndim or any(d != s for d, s in zip(dims, m.shape)):
            raise IndexError(f"boolean index of shape {m.shape} does not match axes "
                             f"{start}..{start + m.ndim - 1} of {x!r} (shape "
                             f"{tuple(dims)}); a mask needs those static sizes")
        out.extend(np.nonzero(m))
    return tuple(out)


def prepare_index(x: Var, index) -> tuple:
    """``(entries, adv)`` for ``x[index]``: the normalised index (constant boolean masks
    become their integer positions), constant index arrays checked against ``x``'s static
    sizes now, index arrays that are data checked when the function runs."""
    entries, adv = _normalize_index(x, _expand_masks(x, index))
    _check_constant_bounds(x, entries, adv)
    axis = 0
    for e in entries:      # indices that are data are checked when the function runs
        if e[0] == "adv":
            adv[e[1]] = check_index(adv[e[1]], x, axis, negative=True,
                                    what=f"index {describe(adv[e[1]])} into axis {axis} "
                                         f"of {describe(x)}")
        if e[0] != "new":
            axis += 1
    return entries, adv


def getitem(x, index):
    """``x[index]`` with NumPy's basic and integer-array indexing rules; a boolean mask
    that is a constant (a NumPy array) selects the positions where it is true."""
    x = as_var(x)
    entries, adv = prepare_index(x, index)
    if all(e == ("slice", None, None, None) for e in entries):
        return x
    return apply(GETITEM, [x, *adv], index=entries)
