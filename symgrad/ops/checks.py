"""Run-time checks that are ops, so that they run where the schedule puts them.

``ensure_shape(x, shape, what)`` is ``x`` itself, after checking at run time that its
shape is ``shape``; its type then has that static shape. ``sg.function`` puts it on every
update value whose shape is not provably the shared variable's, so that a wrong shape is
an error (naming the shared variable) before any shared array is written, never a
half-applied update or a shared value that silently changes shape.
"""

from __future__ import annotations

from . import xp_forms as xpf
from ..ir.types import ShapeError, TensorType, format_shape
from .registry import Expr, Unbatched, apply, defop

ENSURE_SHAPE_HELPER = '''def _ensure_shape(x, shape, what):
    """`x` itself, once its shape is checked (a wrong shape is an error, not a broadcast)."""
    if x.shape != shape:
        raise ValueError(f"{what}: expected shape {shape}, got {x.shape}")
    return x'''


def _infer(types, shape, what):
    (t,) = types
    if t.ndim != len(shape) or any(isinstance(d, int) and d != s for d, s in zip(t.shape,
                                                                                   shape)):
        raise ShapeError(f"{what}: shape {format_shape(t.shape)} can never be "
                         f"{format_shape(shape)}")
    return TensorType(t.dtype, tuple(shape))


ENSURE_SHAPE = defop(
    "ensure_shape", infer=_infer,
    # vmap: the batch's shape is known when the batch size is (else one check per element)
    batch=lambda ins, batched, size, shape, what: apply(
        ENSURE_SHAPE, ins, shape=(size,) + tuple(shape), what=what) if isinstance(
        size, int) else None,
    emit=lambda a, shape, what: Expr(f"_ensure_shape({a[0].text}, {tuple(shape)!r}, "
                                     f"{what!r})"),
    vjp=lambda g, out, x, shape, what: [g], inline=False, helpers=(ENSURE_SHAPE_HELPER,),
    shape_only=(), short="checked", positionwise=True,
        array_api=("_ensure_shape({0}, {shape!r}, {what!r})", (ENSURE_SHAPE_HELPER,)))


def ensure_shape(x, shape, what: str):
    """``x``, checked at run time to have the static ``shape`` (``what`` names it in the
    error)."""
    shape = tuple(int(d) for d in shape)
    if x.type.shape == shape:
        return x
    return apply(ENSURE_SHAPE, [x], shape=shape, what=str(what))


CHECK_INDEX_HELPER = '''def _check_index(index, size, low, what):
    """`index` itself, once every entry is checked to lie in [low, size)."""
    if index.size:
        if low == 0 and index.dtype.kind == "i":
            # one pass: read as unsigned, a negative entry is larger than any size
            if np.maximum.reduce(index.view(f"u{index.itemsize}"), axis=None) < size:
                return index
        lo, hi = index.min(), index.max()
        if lo < low or hi >= size:
            bad = lo if lo < low else hi
            raise IndexError(f"{what}: value {bad} is out of range [{low}, {size})")
    return index'''


def _check_index_infer(types, axis, negative, what):
    return types[0]


def _check_index_batch(ins, batched, size, axis, negative, what):
    """vmap rule: the check of each element's index against its array's size; an index
    that is not batched stays so (the array's batch changes no size it is checked
    against)."""
    (index, ref), (fi, fr) = ins, batched
    out = apply(CHECK_INDEX, [index, ref], axis=axis + fr, negative=negative, what=what)
    return out if fi else Unbatched(out)


CHECK_INDEX = defop(
    "check_index", infer=_check_index_infer, batch=_check_index_batch,
    emit=lambda a, axis, negative, what: Expr(
        f"_check_index({a[0].text}, {a[1].atom}.shape[{axis}], "
        f"{f'-{a[1].atom}.shape[{axis}]' if negative else '0'}, {what!r})"),
    vjp=lambda g, out, idx, ref, axis, negative, what: [None, None], inline=False,
    helpers=(CHECK_INDEX_HELPER,), shape_only=(1,), short="checked", positionwise=True,
        array_api=xpf.CHECK_INDEX)


def check_index(index, ref, axis: int, what: str, negative: bool = False):
    """``index``, checked at run time to index axis ``axis`` of ``ref`` (``0 <= i < n``;
    ``-n <= i < n`` with ``negative``): a value that is data gets a clear error naming it,
    raised before any shared value changes, instead of NumPy's wrap-around for -1 or an
    IndexError from a generated line. Constants are checked when the graph is built."""
    if index.op is CHECK_INDEX or index.op.leaf == "constant" or index.op.name == "arange":
        return index
    out = apply(CHECK_INDEX, [index, ref], axis=int(axis), negative=bool(negative),
                what=str(what))
    if index.name:
        out.name = f"{index.name}_checked"
    return out


SAME_SIZE_HELPER = '''def _same_size_as(x, axis, size, what):
    """`x` itself, once its size along `axis` is checked to be `size`."""
    if x.shape[axis] != size:
        raise ValueError(f"{what}: sizes {x.shape[axis]} and {size} do not match")
    return x'''


def _same_size_batch(ins, batched, size, axis, ref_axis, what):
    """vmap rule: the same check on each element (the axes move past the batch axis); a
    value that is not batched stays so."""
    (x, ref), (fx, fr) = ins, batched
    out = apply(SAME_SIZE, [x, ref], axis=axis + fx, ref_axis=ref_axis + fr, what=what)
    return out if fx else Unbatched(out)


SAME_SIZE = defop(
    "same_size", infer=lambda types, axis, ref_axis, what: types[0],
    batch=_same_size_batch,
    emit=lambda a, axis, ref_axis, what: Expr(
        f"_same_size_as({a[0].text}, {axis}, {a[1].atom}.shape[{ref_axis}], {what!r})"),
    vjp=lambda g, out, x, ref, axis, ref_axis, what: [g, None],
    jvp=lambda tangents, out, x, ref, axis, ref_axis, what: tangents[0],
    inline=False, helpers=(SAME_SIZE_HELPER,), shape_only=(1,), short="checked",
    positionwise=True, linear="first",
    array_api=("_same_size_as({0}, {axis}, {1.atom}.shape[{ref_axis}], {what!r})",
               (SAME_SIZE_HELPER,)),
    doc="x itself, checked at run time to have the size of ref's axis ref_axis along its "
        "axis (sizes that cannot be compared while building: vmap's batched arguments)")


def same_size(x, ref, axis: int, ref_axis: int, what: str):
    """``x``, checked at run time to be as long along ``axis`` as ``ref`` along
    ``ref_axis`` (no node where both sizes are the same int or the same name)."""
    a, b = x.type.shape[axis], ref.type.shape[ref_axis]
    if a == b and a is not None:
        return x
    if isinstance(a, int) and isinstance(b, int):
        raise ShapeError(f"{what}: sizes {a} and {b} do not match")
    return apply(SAME_SIZE, [x, ref], axis=int(axis), ref_axis=int(ref_axis), what=str(what))
