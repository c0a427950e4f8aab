"""Array manipulation with NumPy's names and conventions: sort, argsort, flip, roll, pad,
tile, repeat, take, take_along_axis, diff, any, all; and functional index updates in
JAX's spelling, ``x.at[idx].set(v)``, ``.add(v)``, ``.multiply(v)``.

Most of these are compositions of existing primitives, exact in value and derivative:

* ``flip``, ``roll``, ``pad``, ``diff``: slices (``getitem``), ``concatenate``, ``full``,
  ``broadcast_to``, ``subtract``;
* ``tile`` and ``repeat`` (a count): ``expand_dims``, ``broadcast_to``, ``reshape``;
  ``repeat`` with one count per entry: a gather by constant positions;
* ``take``: ``x[..., indices]``; ``take_along_axis``: a gather with ``arange`` indices on
  the other axes;
* ``sort``: ``permute_along(x, argsort(x, kind="stable"))`` (``np.take_along_axis``), so
  its derivative is the scatter of the cotangent by the permutation (``permute_along``
  with ``inverse=True``: ``np.put_along_axis``, no repeats to accumulate; on the
  array-API target a ``take_along_axis`` by the inverse permutation, the permutation's
  ``argsort``). Tied entries
  keep their order (the sort is stable): the k-th output's cotangent goes to the tied
  entry that came k-th, a valid subgradient (as JAX's).
* ``.at[idx].add(v)``: ``index_add`` (repeated positions accumulate, as ``np.add.at``);
  ``.at[idx].multiply(v)``: ``set(x[idx] * v)``, position groups applied one after the
  other where constant indices repeat (so repeated positions multiply, as
  ``np.multiply.at``).

New primitives: ``argsort`` (no gradient), ``permute_along`` (a gather by a permutation
along one axis, or its inverse), ``any`` and ``all`` (reductions, no gradient) and
``index_set`` (a copy of ``x`` with ``v`` written at an index). Index data that is a
variable is checked when the function runs, like every gather (``checks.check_index``):
an index out of range is an error naming it, never NumPy's wrap-around.
"""

from __future__ import annotations

import builtins
import math

import numpy as np

from . import xp_forms as xpf
from ..ir.node import Var
from ..ir.types import ShapeError, TensorType, broadcast_shapes
from .checks import check_index
from .elementwise import equal, not_equal, where
from .indexing import (GETITEM, _distinct, _getitem_infer, batch_write, index_text,
                       prepare_index)
from .leaves import as_var, constant
from .reduce import _reduction
from .registry import Expr, apply, defop, describe
from .shape import (astype, broadcast_to, concatenate, expand_dims, full, full_like,
                    normalize_axes, ravel, reshape, reshape_like, size_of, sum_to)


def _axis(axis, ndim: int, what: str) -> int:
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise TypeError(f"{what}: axis must be an int, got {axis!r}")
    return normalize_axes(axis, ndim, what)[0]


def _slice_at(x: Var, axis: int, s: slice):
    from .indexing import getitem
    return getitem(x, (slice(None),) * axis + (s,))


def _static(d, what: str) -> int:
    if not isinstance(d, int):
        raise ShapeError(f"{what} needs a static size along that axis")
    return d


# ---------------------------------------------------------------------------------------
# argsort and sort
# ---------------------------------------------------------------------------------------

def _argsort_infer(types, axis, kind):
    t = types[0]
    if not 0 <= axis < t.ndim:
        raise ValueError(f"axis {axis} is out of range for {t.ndim} dimensions")
    if t.dtype.kind not in "biuf":
        raise TypeError(f"argsort needs numbers, got {t.dtype}")
    return TensorType(np.int64, t.shape)


def _argsort_emit(args, axis, kind):
    # always stable: the order of tied entries is then the same on every target (the
    # array-API one asks for stable=True; NumPy's default quicksort puts ties in an order
    # of its own, and sort's gradient follows whichever order argsort gives)
    return Expr(f"np.argsort({args[0].text}, axis={axis}, kind='stable')")


ARGSORT = defop("argsort", infer=_argsort_infer, emit=_argsort_emit, vjp=None,
                inline=False, core="axis",
                array_api=lambda args, axis, kind: Expr(
                    f"xp.argsort({args[0].text}, axis={axis}, stable=True)"))


UNPERMUTE_HELPER = '''def _unpermute(values, perm, axis):
    """The array whose entries taken along `axis` at `perm` are `values` (`perm` a
    permutation along `axis`): the inverse of np.take_along_axis."""
    out = np.empty_like(values)
    np.put_along_axis(out, perm, values, axis)
    return out'''


def _permute_infer(types, axis, inverse):
    x, perm = types
    if perm.dtype.kind not in "iu" or perm.ndim != x.ndim:
        raise TypeError(f"the permutation must be integers of the array's rank, got {perm}")
    if not 0 <= axis < x.ndim:
        raise ValueError(f"axis {axis} is out of range for {x.ndim} dimensions")
    return x


def _permute_emit(args, axis, inverse):
    if inverse:
        return Expr(f"_unpermute({args[0].text}, {args[1].text}, {axis})")
    return Expr(f"np.take_along_axis({args[0].text}, {args[1].text}, axis={axis})")


PERMUTE = defop(
    "permute_along", infer=_permute_infer, emit=_permute_emit,
    vjp=lambda g, out, x, perm, axis, inverse: [
        apply(PERMUTE, [g, perm], axis=axis, inverse=not inverse), None],
    jvp=lambda tangents, out, x, perm, axis, inverse: apply(
        PERMUTE, [tangents[0], perm], axis=axis, inverse=inverse),
    inline=False, short="perm", linear="first", entries="moved", core="axis",
    helpers=(UNPERMUTE_HELPER,),
    doc="x taken along axis at a permutation (argsort's), or with inverse=True put back: "
        "the gather of sort and its transpose, a scatter without repeats.",
    array_api=xpf.permute_along)


def _kind(kind, stable):
    if stable:
        return "stable"
    if kind not in (None, "quicksort", "mergesort", "heapsort", "stable"):
        raise ValueError(f"sort kind must be quicksort, mergesort, heapsort or stable, "
                         f"got {kind!r}")
    return kind


def argsort(a, axis=-1, kind=None, stable=None):
    """The positions that sort ``a`` along ``axis`` (of the flattened array when ``axis``
    is None), as ``np.argsort``: int64, no gradient. Tied entries keep their order on
    every target, whatever ``kind`` (``"quicksort"``, ``"stable"`` ... or
    ``stable=True``) says: one of the orders NumPy may give, and the same everywhere."""
    a = as_var(a)
    if axis is None:
        a, axis = ravel(a), 0
    if a.ndim == 0:
        raise ValueError("argsort: a 0-d array cannot be sorted along an axis")
    return apply(ARGSORT, [a], axis=_axis(axis, a.ndim, "argsort"), kind=_kind(kind, stable))


def sort(a, axis=-1, kind=None, stable=None):
    """``a`` sorted along ``axis`` (of the flattened array when ``axis`` is None), as
    ``np.sort``: ``take_along_axis(a, argsort(a, kind="stable"))``.

    Its derivative moves each output's cotangent back to the entry it came from (a
    scatter by the permutation, ``np.put_along_axis``). Tied entries keep their order, so
    the k-th output's cotangent goes to the tied entry that came k-th: one valid
    subgradient (JAX's too).
    """
    a = as_var(a)
    _kind(kind, stable)
    if axis is None:
        a, axis = ravel(a), 0
    if a.ndim == 0:
        raise ValueError("sort: a 0-d array cannot be sorted along an axis")
    axis = _axis(axis, a.ndim, "sort")
    order = apply(ARGSORT, [a], axis=axis, kind="stable")
    return apply(PERMUTE, [a, order], axis=axis, inverse=False)


# ---------------------------------------------------------------------------------------
# take, take_along_axis
# ---------------------------------------------------------------------------------------

def take(a, indices, axis=None, mode="raise"):
    """The entries of ``a`` at ``indices`` along ``axis`` (of the flattened array when
    ``axis`` is None), as ``np.take``. ``mode="raise"`` (the default) allows
    ``-n <= i < n`` and refuses anything else: constants when the graph is built, data
    when the function runs; ``"wrap"`` and ``"clip"`` are NumPy's."""
    from .elementwise import clip, remainder
    from .indexing import getitem
    a = as_var(a)
    if axis is None:
        a, axis = ravel(a), 0
    axis = _axis(axis, a.ndim, "take")
    if mode not in ("raise", "wrap", "clip"):
        raise ValueError(f"take: mode must be 'raise', 'wrap' or 'clip', got {mode!r}")
    if isinstance(indices, (int, np.integer)) and not isinstance(indices, bool):
        ind = indices
        if mode != "raise":
            ind = constant(np.asarray(indices, dtype=np.int64))
    else:
        ind = as_var(indices)
        if ind.dtype.kind not in "iu":
            raise IndexError(f"take: indices must be integers, got {ind.type}")
    if mode != "raise":
        n = a.shape[axis]
        ind = remainder(ind, n) if mode == "wrap" else clip(ind, 0, n - 1)
    return getitem(a, (slice(None),) * axis + (ind,))


def _along_axis(a: Var, indices: Var, axis: int):
    """``np.take_along_axis(a, indices, axis)`` for in-range ``indices`` of ``a``'s rank:
    a gather with ``arange`` positions on the other axes."""
    entries, adv = [], []
    for j in range(a.ndim):
        if j == axis:
            v = indices
        else:
            from .shape import arange
            r = arange(a.shape[j])
            v = apply(GETITEM, [r], index=tuple(("slice", None, None, None) if k == j
                                                  else ("new",) for k in range(a.ndim)))
        entries.append(("adv", len(adv)))
        adv.append(v)
    return apply(GETITEM, [a, *adv], index=tuple(entries))


def take_along_axis(arr, indices, axis=-1):
    """``np.take_along_axis``: ``out[..., i, ...] = arr[..., indices[..., i, ...], ...]``
    along ``axis`` (``indices`` has ``arr``'s rank and broadcasts against it on the other
    axes; with ``axis=None`` both are flattened). Indices that are data are checked when
    the function runs (``-n <= i < n``)."""
    arr, indices = as_var(arr), as_var(indices)
    if indices.dtype.kind not in "iu":
        raise IndexError(f"take_along_axis: indices must be integers, got {indices.type}")
    if axis is None:
        if indices.ndim != 1:
            raise ValueError("take_along_axis: with axis=None the indices must be 1-D")
        arr, axis = ravel(arr), 0
    if indices.ndim != arr.ndim:
        raise ValueError(f"take_along_axis: indices ({indices.ndim}-D) and arr "
                         f"({arr.ndim}-D) must have the same number of dimensions")
    axis = _axis(axis, arr.ndim, "take_along_axis")
    from .indexing import _check_constant_bounds
    _check_constant_bounds(arr, (("slice",),) * axis + (("adv", 0),), [indices])
    indices = check_index(indices, arr, axis, negative=True,
                          what=f"indices {describe(indices)} along axis {axis} of "
                               f"{describe(arr)}")
    return _along_axis(arr, indices, axis)


# ---------------------------------------------------------------------------------------
# flip, roll, diff
# ---------------------------------------------------------------------------------------

def flip(m, axis=None):
    """``m`` with the order of entries reversed along ``axis`` (every axis by default),
    as ``np.flip``: a slice with step -1."""
    m = as_var(m)
    axes = normalize_axes(axis, m.ndim, "flip")
    if not axes:
        return m
    from .indexing import getitem
    return getitem(m, tuple(slice(None, None, -1) if k in axes else slice(None)
                            for k in range(m.ndim)))


def roll(a, shift, axis=None):
    """``a`` with entries shifted by ``shift`` places along ``axis`` (of the flattened
    array when ``axis`` is None), those that fall off the end coming back at the start,
    as ``np.roll``: two slices joined (the rolled axes need static sizes)."""
    a = as_var(a)
    if axis is None:
        flat = roll(ravel(a), shift, 0)
        return reshape_like(flat, a)
    shifts = (shift,) if isinstance(shift, (int, np.integer)) else tuple(shift)
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    if len(shifts) == 1:
        shifts = shifts * len(axes)
    if len(axes) == 1:
        axes = axes * len(shifts)
    if len(shifts) != len(axes):
        raise ValueError("roll: shift and axis must have the same length")
    total: dict[int, int] = {}
    for s, ax in zip(shifts, axes):
        if not isinstance(s, (int, np.integer)) or isinstance(s, bool):
            raise TypeError(f"roll: shift must be an int (or ints), got {s!r}")
        ax = _axis(ax, a.ndim, "roll")
        total[ax] = total.get(ax, 0) + int(s)
    out = a
    for ax, s in total.items():
        n = _static(a.type.shape[ax], "roll")
        k = s % n if n else 0
        if k:
            out = concatenate([_slice_at(out, ax, slice(n - k, None)),
                               _slice_at(out, ax, slice(None, n - k))], ax)
    return out


def diff(a, n=1, axis=-1, prepend=None, append=None):
    """The ``n``-th differences along ``axis``, ``a[..., 1:] - a[..., :-1]`` repeated, as
    ``np.diff`` (``prepend``/``append`` values joined first; a scalar is spread over a
    slice of size 1). Bool arrays give ``!=``, as NumPy."""
    a = as_var(a)
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 0:
        raise ValueError(f"diff: order n must be a non-negative int, got {n!r}")
    if n == 0:
        return a
    if a.ndim == 0:
        raise ValueError("diff requires input that is at least one dimensional")
    axis = _axis(axis, a.ndim, "diff")
    parts = []
    for v in (prepend, append):
        if v is None or v is np._NoValue:
            parts.append(None)
            continue
        v = as_var(v, a)
        if v.ndim == 0:
            shape = list(a.shape)
            shape[axis] = 1
            v = broadcast_to(v, tuple(shape))
        parts.append(v)
    pieces = [p for p in (parts[0], a, parts[1]) if p is not None]
    out = concatenate(pieces, axis) if len(pieces) > 1 else a
    for _ in range(int(n)):
        hi, lo = _slice_at(out, axis, slice(1, None)), _slice_at(out, axis, slice(None, -1))
        out = not_equal(hi, lo) if out.dtype == np.bool_ else hi - lo
    return out


# ---------------------------------------------------------------------------------------
# pad, tile, repeat
# ---------------------------------------------------------------------------------------

def _pairs(value, ndim: int, what: str):
    arr = np.asarray(value, dtype=object)
    try:
        return np.broadcast_to(arr, (ndim, 2)).tolist()
    except ValueError:
        raise ValueError(f"pad: {what} {value!r} does not broadcast to ({ndim}, 2)") from None


_PAD_MODES = ("constant", "edge", "wrap", "reflect", "symmetric")


def pad(array, pad_width, mode="constant", constant_values=0):
    """``array`` padded with ``pad_width`` entries before and after each axis, as
    ``np.pad``: ``pad_width`` is ``n``, ``(before, after)`` or one pair per axis.

    ``mode="constant"`` (``constant_values``: numbers or symgrad scalars, which then get
    gradients), ``"edge"``, ``"wrap"``, ``"reflect"`` and ``"symmetric"`` (widths up to the
    axis's size, ``size - 1`` for ``"reflect"``). Built from slices, ``full`` and
    ``concatenate``, so its derivative gathers the cotangent of the kept entries (plus the
    copied ones' for the modes that copy)."""
    x = as_var(array)
    if mode not in _PAD_MODES:
        raise ValueError(f"pad: mode must be one of {', '.join(_PAD_MODES)}, got {mode!r}")
    widths = _pairs(pad_width, x.ndim, "pad_width")
    values = _pairs(constant_values, x.ndim, "constant_values") if mode == "constant" else None
    out = x
    for ax in range(x.ndim):
        before, after = widths[ax]
        for w in (before, after):
            if not isinstance(w, (int, np.integer)) or isinstance(w, bool) or w < 0:
                raise ValueError(f"pad: widths must be non-negative ints, got {pad_width!r}")
        if not before and not after:
            continue
        pieces = []
        for side, w in (("before", int(before)), ("after", int(after))):
            if not w:
                pieces.append(None)
                continue
            if mode == "constant":
                shape = list(out.shape)
                shape[ax] = w
                v = values[ax][0 if side == "before" else 1]
                if isinstance(v, Var):
                    if v.ndim:
                        raise ValueError("pad: a symbolic constant value must be a scalar")
                    piece = broadcast_to(astype(v, x.dtype), tuple(shape))
                else:
                    piece = full(tuple(shape), np.asarray(v).astype(x.dtype).item(), x.dtype)
            else:
                n = _static(out.type.shape[ax], f"pad(mode={mode!r})")
                limit = n - 1 if mode == "reflect" else n
                if w > limit or n == 0:
                    raise ValueError(f"pad: mode {mode!r} pads at most {limit} entries along "
                                     f"axis {ax} of size {n}, got {w}")
                sl = {("edge", "before"): slice(None, 1), ("edge", "after"): slice(-1, None),
                      ("wrap", "before"): slice(n - w, None), ("wrap", "after"): slice(None, w),
                      ("reflect", "before"): slice(w, 0, -1),
                      ("reflect", "after"): slice(n - 2, n - 2 - w if n - 2 - w >= 0 else None,
                                                  -1),
                      ("symmetric", "before"): slice(w - 1, None, -1),
                      ("symmetric", "after"): slice(n - 1, n - 1 - w if n - 1 - w >= 0
                                                    else None, -1)}[mode, side]
                piece = _slice_at(out, ax, sl)
                if mode == "edge" and w > 1:
                    shape = list(out.shape)
                    shape[ax] = w
                    piece = broadcast_to(piece, tuple(shape))
            pieces.append(piece)
        out = concatenate([p for p in (pieces[0], out, pieces[1]) if p is not None], ax)
    return out


def tile(A, reps):
    """``A`` repeated ``reps`` times along each axis, as ``np.tile`` (``reps`` an int or a
    tuple; the shorter of ``A.shape`` and ``reps`` is padded with leading 1s): new axes,
    ``broadcast_to``, ``reshape``."""
    x = as_var(A)
    reps = (reps,) if isinstance(reps, (int, np.integer)) else tuple(reps)
    for r in reps:
        if not isinstance(r, (int, np.integer)) or isinstance(r, bool) or r < 0:
            raise ValueError(f"tile: reps must be non-negative ints, got {reps!r}")
    d = builtins.max(len(reps), x.ndim)
    reps = (1,) * (d - len(reps)) + tuple(int(r) for r in reps)
    if x.ndim < d:
        x = reshape(x, (1,) * (d - x.ndim) + tuple(x.shape))
    if builtins.all(r == 1 for r in reps):
        return x
    dims = x.shape
    y = expand_dims(x, tuple(range(0, 2 * d, 2)))                  # (1, d0, 1, d1, ...)
    y = broadcast_to(y, tuple(v for r, n in zip(reps, dims) for v in (r, n)))
    return reshape(y, tuple(r * n for r, n in zip(reps, dims)))


def repeat(a, repeats, axis=None):
    """Each entry of ``a`` repeated ``repeats`` times along ``axis`` (of the flattened
    array when ``axis`` is None), as ``np.repeat``. One count: ``expand_dims``,
    ``broadcast_to``, ``reshape``; one count per entry (a constant): a gather by the
    positions ``np.repeat(arange(n), repeats)``."""
    x = as_var(a)
    if axis is None:
        x, axis = ravel(x), 0
    axis = _axis(axis, x.ndim, "repeat")
    if isinstance(repeats, Var):
        if repeats.op.leaf != "constant":
            raise TypeError("repeat: repeats must be known when the graph is built (an int "
                            "or a NumPy array); the result's shape depends on them")
        repeats = repeats.value
    counts = np.asarray(repeats)
    if counts.dtype.kind not in "iu" or (counts < 0).any() or counts.ndim > 1:
        raise ValueError(f"repeat: repeats must be non-negative ints, got {repeats!r}")
    if counts.ndim == 0 or counts.size == 1:
        r = int(counts.reshape(()))
        if r == 1:
            return x
        dims = x.shape
        y = broadcast_to(expand_dims(x, axis + 1),
                         tuple(dims[:axis + 1]) + (r,) + tuple(dims[axis + 1:]))
        return reshape(y, tuple(dims[:axis]) + (dims[axis] * r,) + tuple(dims[axis + 1:]))
    n = _static(x.type.shape[axis], "repeat with one count per entry")
    if counts.size != n:
        raise ValueError(f"repeat: {counts.size} counts for axis {axis} of size {n}")
    from .indexing import getitem
    return getitem(x, (slice(None),) * axis + (np.repeat(np.arange(n), counts),))


# ---------------------------------------------------------------------------------------
# any, all
# ---------------------------------------------------------------------------------------

ANY, any_ = _reduction("any", None, dtype_rule=lambda d: np.dtype(np.bool_), reduction="fold",
                       ufunc="logical_or",
                       doc="Whether any entry over ``axis`` (all axes by default) is nonzero, "
                           "as ``np.any``: bool, no gradient.")
ALL, all_ = _reduction("all", None, dtype_rule=lambda d: np.dtype(np.bool_), reduction="fold",
                       ufunc="logical_and",
                       doc="Whether every entry over ``axis`` (all axes by default) is "
                           "nonzero, as ``np.all``: bool, no gradient.")


# ---------------------------------------------------------------------------------------
# functional index updates: x.at[idx].set(v) / .add(v) / .multiply(v)
# ---------------------------------------------------------------------------------------

INDEX_SET_HELPER = '''def _index_set(x, index, values):
    """A copy of `x` with `values` written at `index` (NumPy's assignment)."""
    out = x.copy()
    out[index] = values
    return out'''


def _index_set_infer(types, index, distinct):
    x, v = types[0], types[1]
    target = _getitem_infer([x, *types[2:]], index)
    if v.dtype != x.dtype:
        raise TypeError(f"the written values are {v.dtype}, the array is {x.dtype}")
    try:
        shape, _ = broadcast_shapes(v.shape, target.shape)
    except ShapeError as exc:
        raise ShapeError(f"values of shape {v.shape} do not broadcast to the indexed shape "
                         f"{target.shape} ({exc})") from None
    if len(shape) != target.ndim or builtins.any(
            isinstance(a, int) and isinstance(b, int) and a != b
            for a, b in zip(shape, target.shape)):
        raise ShapeError(f"values of shape {v.shape} do not broadcast to the indexed shape "
                         f"{target.shape}")
    return x


def _index_set_emit(args, index, distinct):
    x, v, adv = args[0], args[1], args[2:]
    return Expr(f"_index_set({x.text}, np.s_[{index_text(index, adv)}], {v.text})")


def _landed(x: Var, target: Var, adv, index):
    """True where the write of ``target``'s entry is the one that stays in
    ``x.at[index].set(...)`` (repeated positions: one write stays, the others are
    overwritten): each write numbered, the numbers written by the same assignment, read
    back and compared."""
    from .shape import arange
    ids = reshape_like(arange(size_of(target)), target)
    marks = apply(INDEX_SET, [full_like(x, -1, "int64"), ids, *adv], index=index,
                  distinct=False)
    return equal(apply(GETITEM, [marks, *adv], index=index), ids)


def _index_set_vjp(g, out, x, v, *adv, index, distinct):
    gx = apply(INDEX_SET, [g, constant(np.zeros((), dtype=g.dtype)), *adv], index=index,
               distinct=distinct)
    gv = apply(GETITEM, [g, *adv], index=index)
    if not distinct:
        gv = where(_landed(x, gv, adv, index), gv, 0)
    return [gx, sum_to(gv, v)] + [None] * len(adv)


def _index_set_jvp(tangents, out, x, v, *adv, index, distinct):
    # the value is linear in (x, v) together: the tangent is the same write of tangents
    tx, tv = tangents[0], tangents[1]
    tx = full_like(x, 0) if tx is None else tx
    tv = constant(np.zeros((), dtype=x.dtype)) if tv is None else tv
    return apply(INDEX_SET, [tx, tv, *adv], index=index, distinct=distinct)


def _index_set_batch(ins, batched, size, index, distinct):
    """vmap rule: see ``indexing.batch_write`` (repeated positions stay within one
    element, and keep their order there, so the write that stays is the same)."""
    x, v, adv, new = batch_write(ins, batched, size, index)
    return apply(INDEX_SET, [x, v, *adv], index=new, distinct=distinct)


INDEX_SET = defop("index_set", infer=_index_set_infer, emit=_index_set_emit,
                  batch=_index_set_batch,
                  vjp=_index_set_vjp, jvp=_index_set_jvp, inline=False, short="idx_set",
                  linear="jointly",
                  helpers=(INDEX_SET_HELPER,),
                  doc="A copy of x with v written at x[index] (x.at[index].set(v)).",
                  array_api=xpf.INDEX_SET)


def _adv_axes(entries) -> list[int]:
    """The axis of ``x`` each integer-array index entry indexes, in order of ``adv``."""
    axes, axis = {}, 0
    for e in entries:
        if e[0] == "new":
            continue
        if e[0] == "adv":
            axes[e[1]] = axis
        axis += 1
    return [axes[k] for k in sorted(axes)]


def _positions(x: Var, entries, adv):
    """For constant index arrays over static sizes: the flat position tuple each index
    entry names (broadcast, negatives resolved), else None."""
    if not builtins.all(a.op.leaf == "constant" for a in adv):
        return None
    axes = _adv_axes(entries)
    dims = [x.type.shape[a] for a in axes]
    if not builtins.all(isinstance(d, int) for d in dims):
        return None
    arrays = np.broadcast_arrays(*[a.value for a in adv])
    cols = [np.asarray(arr, dtype=np.int64).ravel() % builtins.max(d, 1)
            for arr, d in zip(arrays, dims)]
    return np.ravel_multi_index(cols, [builtins.max(d, 1) for d in dims]) if cols else None


def known_distinct(x: Var, entries, adv) -> bool:
    """True when ``x[entries]`` is known to name each position once: no index array, an
    ``arange`` spanning it, one position only, or constant positions that differ."""
    if _distinct(entries, list(adv)) or builtins.all(
            builtins.all(isinstance(d, int) for d in a.type.shape)
            and math.prod(a.type.shape) <= 1 for a in adv):
        return True
    pos = _positions(x, entries, adv)
    return pos is not None and len(np.unique(pos)) == pos.size


class _IndexUpdate:
    """``x.at[idx]``: ``.set(v)``, ``.add(v)``, ``.multiply(v)`` and ``.get()`` return new
    variables (``x`` is never changed), as JAX's ``x.at[idx]``."""

    __slots__ = ("index", "x")

    def __init__(self, x: Var, index):
        self.x, self.index = x, index

    def _prepare(self, v, what: str):
        x = self.x
        entries, adv = prepare_index(x, self.index)
        target = TensorType(x.dtype, _getitem_infer([x.type, *[a.type for a in adv]],
                                                    entries).shape)
        v = as_var(v, x)
        if v.dtype != x.dtype:
            v = astype(v, x.dtype)
        try:
            shape, _ = broadcast_shapes(v.type.shape, target.shape)
            if len(shape) != target.ndim:
                raise ShapeError("too many dimensions")
        except ShapeError:
            err = ShapeError(f"x.at[...].{what}({describe(v)}): the values do not broadcast "
                             f"to the indexed shape {target.shape} of {describe(x)}")
            raise err from None
        return entries, adv, target, v

    def get(self):
        """``x[idx]``."""
        from .indexing import getitem
        return getitem(self.x, self.index)

    def set(self, values):
        """A copy of ``x`` with ``values`` written at ``idx`` (broadcast to ``x[idx]``'s
        shape, cast to ``x``'s dtype). Where positions repeat, the write that stays is the
        last one in the row-major order of ``x[idx]``: NumPy's assignment, and the
        array-API target's on every library (``_index_set``); the derivative gives the
        cotangent to that write only. ``x``'s cotangent is zero at ``idx``."""
        entries, adv, _, v = self._prepare(values, "set")
        return apply(INDEX_SET, [self.x, v, *adv], index=entries,
                     distinct=known_distinct(self.x, entries, adv))

    def add(self, values):
        """``x`` with ``values`` added at ``idx``; repeated positions accumulate (as
        ``np.add.at``)."""
        from .fused import index_add
        entries, adv, target, v = self._prepare(values, "add")
        v = _broadcast_to_target(v, self.x, adv, entries, target)
        return index_add(self.x, v, adv, entries, known_distinct(self.x, entries, adv))

    def multiply(self, values):
        """``x`` with its entries at ``idx`` multiplied by ``values``; repeated positions
        multiply (as ``np.multiply.at``), and the derivatives follow the product rule.

        Index data known only when the function runs must name distinct positions
        (repeats there are refused when the graph is built: use constant indices, whose
        repeats are applied one group after another)."""
        from .indexing import getitem
        x = self.x
        entries, adv, target, v = self._prepare(values, "multiply")
        if known_distinct(x, entries, adv):
            return apply(INDEX_SET, [x, getitem_entries(x, entries, adv) * v, *adv],
                         index=entries, distinct=True)
        pos = _positions(x, entries, adv)
        if pos is None:
            raise ValueError(
                "x.at[idx].multiply(v): idx is data that may name a position twice, and "
                "the product rule at repeated positions needs them known when the graph is "
                "built; use constant indices (a NumPy array) or x.at[idx].set(x[idx] * v) "
                "for distinct positions")
        # repeated constant positions: one group of distinct positions after another
        v = _broadcast_to_target(v, x, adv, entries, target)
        start = _adv_start(entries, len(adv))
        nb = len(np.broadcast_shapes(*[a.value.shape for a in adv]))
        vs = v.shape
        flat_v = reshape(v, tuple(vs[:start]) + (-1,) + tuple(vs[start + nb:]))
        arrays = [np.asarray(a, dtype=np.int64).ravel()
                  for a in np.broadcast_arrays(*[a.value for a in adv])]
        rank = np.zeros(pos.size, dtype=np.int64)
        seen: dict[int, int] = {}
        for k, p in enumerate(pos.tolist()):
            rank[k] = seen.get(p, 0)
            seen[p] = rank[k] + 1
        out = x
        for r in range(int(rank.max()) + 1):
            sel = np.flatnonzero(rank == r)
            group = [constant(arr[sel]) for arr in arrays]
            vr = getitem(flat_v, (slice(None),) * start + (sel,))
            out = apply(INDEX_SET, [out, getitem_entries(out, entries, group) * vr, *group],
                        index=entries, distinct=True)
        return out


def getitem_entries(x: Var, entries, adv):
    return apply(GETITEM, [x, *adv], index=entries)


def _adv_start(entries, n_adv: int) -> int:
    """Where the broadcast integer-array axes sit in ``x[entries]`` (NumPy's rule: at the
    first one when they are adjacent, else first)."""
    ks = [k for k, e in enumerate(entries) if e[0] == "adv" or (e[0] == "int" and n_adv)]
    contiguous = ks == list(range(ks[0], ks[0] + len(ks)))
    if not contiguous:
        return 0
    return builtins.sum(1 for e in entries[:ks[0]] if e[0] in ("slice", "new"))


def _broadcast_to_target(v: Var, x: Var, adv, entries, target: TensorType) -> Var:
    if v.type.shape == target.shape:
        return v
    if builtins.all(isinstance(d, int) for d in target.shape):
        return broadcast_to(v, target.shape)
    from .shape import broadcast_like
    return broadcast_like(v, getitem_entries(x, entries, adv))


def at(x: Var) -> _IndexUpdate:
    """``x.at``: index it, then ``.set``, ``.add``, ``.multiply`` or ``.get``."""
    return _IndexHelper(as_var(x))


class _IndexHelper:
    __slots__ = ("x",)

    def __init__(self, x: Var):
        self.x = x

    def __getitem__(self, index) -> _IndexUpdate:
        return _IndexUpdate(self.x, index)


any = any_   # NumPy's names (builtins.any / builtins.all above)
all = all_

__all__ = ["all", "any", "argsort", "at", "diff", "flip", "pad", "repeat", "roll", "sort",
           "take", "take_along_axis", "tile"]
