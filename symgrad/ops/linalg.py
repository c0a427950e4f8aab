"""Linear algebra with NumPy's names and rules: matmul (``@``), dot, tensordot, einsum,
outer.

``matmul``, ``tensordot`` and ``einsum`` are primitives whose VJPs are again products of
the same kind (so every derivative order is a product too); ``dot`` picks ``matmul`` or
``tensordot`` by rank and ``outer`` is a broadcast multiply.
"""

from __future__ import annotations

import numpy as np

from . import xp_forms as xpf
from ..ir.node import Var
from ..ir.types import ShapeError, TensorType, broadcast_shapes, format_shape, merge_dim
from .elementwise import ufunc_dtype
from .leaves import as_var, as_vars
from .registry import PREC_MUL, Expr, apply, defop, emit_infix
from .shape import expand_dims, squeeze, sum_to, swapaxes, transpose


def _matmul_infer(types, **_):
    a, b = types
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError("matmul does not take scalars; use * for scaling")
    ash = a.shape if a.ndim > 1 else (1,) + a.shape
    bsh = b.shape if b.ndim > 1 else b.shape + (1,)
    ka, kb = ash[-1], bsh[-2]
    if isinstance(ka, int) and isinstance(kb, int) and ka != kb:
        raise ShapeError(f"inner dimensions differ: {format_shape(a.shape)} @ "
                         f"{format_shape(b.shape)} ({ka} vs {kb})")
    try:
        batch, _ = broadcast_shapes(ash[:-2], bsh[:-2])
    except ShapeError as exc:
        raise ShapeError(f"batch dimensions of {format_shape(a.shape)} and "
                         f"{format_shape(b.shape)} do not broadcast ({exc})") from None
    shape = batch + ((ash[-2],) if a.ndim > 1 else ()) + ((bsh[-1],) if b.ndim > 1 else ())
    return TensorType(ufunc_dtype("matmul", a.dtype, b.dtype), shape)


def _mT(x):
    return swapaxes(x, -1, -2)


def _matmul_vjp(g, out, a, b):
    if a.ndim == 1 and b.ndim == 1:       # inner product
        return [g * b, g * a]
    if a.ndim == 1:                       # (k,) @ (..., k, n) -> (..., n)
        ga = squeeze(matmul(b, expand_dims(g, -1)), -1)
        gb = expand_dims(a, -1) * expand_dims(g, -2)
        return [sum_to(ga, a), sum_to(gb, b)]
    if b.ndim == 1:                       # (..., m, k) @ (k,) -> (..., m)
        ga = expand_dims(g, -1) * b
        gb = squeeze(matmul(_mT(a), expand_dims(g, -1)), -1) if a.ndim > 2 else matmul(_mT(a), g)
        return [ga, sum_to(gb, b)]
    return [sum_to(matmul(g, _mT(b)), a), sum_to(matmul(_mT(a), g), b)]


def _lift_batch(v, rank):
    """``v`` with a leading batch axis and singleton axes after it, up to ``rank``
    dimensions per element (for matmul's batch broadcasting)."""
    missing = rank - (v.ndim - 1)
    return expand_dims(v, tuple(range(1, 1 + missing))) if missing > 0 else v


def _matmul_batch(ins, batched, size):
    """vmap rule: matmul of a batch (leading axis) with a matrix, or of two batches."""
    a, b = ins
    fa, fb = batched
    ra, rb = a.ndim - fa, b.ndim - fb          # the element ranks
    rank = max(ra, rb, 2)
    if ra >= 2 and rb >= 2:
        return matmul(_lift_batch(a, rank) if fa else a, _lift_batch(b, rank) if fb else b)
    if ra == 1 and rb == 1:
        if fa and fb:
            return (a * b).sum(axis=-1)
        return matmul(a, b) if fa else matmul(b, a)   # (B, k) @ (k,)
    if ra == 1:                                 # a vector times a (batch of) matrices
        row = expand_dims(a, -2)
        return squeeze(matmul(_lift_batch(row, rank) if fa else row,
                              _lift_batch(b, rank) if fb else b), -2)
    if fb and not fa and ra == 2:               # a matrix times a batch of vectors:
        return matmul(b, _mT(a))                # one product, (B, k) @ (k, m)
    col = expand_dims(b, -1)                    # a (batch of) matrices times a vector
    return squeeze(matmul(_lift_batch(a, rank) if fa else a,
                          _lift_batch(col, rank) if fb else col), -1)


MATMUL = defop("matmul", infer=_matmul_infer, emit=emit_infix("@", PREC_MUL),
               vjp=_matmul_vjp, inline=False, short="mm", linear="each", ufunc="matmul",
               batch=_matmul_batch)


def matmul(a, b):
    """Matrix product with NumPy's ``@`` rules (1-D operands, batch broadcasting)."""
    a, b = as_vars(a, b)
    return apply(MATMUL, [a, b])


# ---------------------------------------------------------------------------------------
# tensordot, dot, outer
# ---------------------------------------------------------------------------------------

def _axis_list(axs, v, what):
    axs = (axs,) if isinstance(axs, (int, np.integer)) else tuple(axs)
    norm = []
    for k in axs:
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool):
            raise TypeError(f"{what}: axes must be ints, got {k!r}")
        if not -v.ndim <= k < v.ndim:
            raise ValueError(f"{what}: axis {k} is out of range for {v.ndim} dimensions")
        norm.append(int(k) % v.ndim)
    if len(set(norm)) != len(norm):
        raise ValueError(f"{what}: repeated axis in {axs!r}")
    return tuple(norm)


def _normalize_tensordot_axes(axes, a, b):
    if isinstance(axes, (int, np.integer)) and not isinstance(axes, bool):
        n = int(axes)
        if n < 0 or n > a.ndim or n > b.ndim:
            raise ValueError(f"tensordot: axes={n} does not fit operands with {a.ndim} and "
                             f"{b.ndim} dimensions")
        return tuple(range(a.ndim - n, a.ndim)), tuple(range(n))
    try:
        ax_a, ax_b = axes
    except (TypeError, ValueError):
        raise TypeError(f"tensordot: axes must be an int or a pair of axis sequences, got "
                        f"{axes!r}") from None
    ax_a = _axis_list(ax_a, a, "tensordot")
    ax_b = _axis_list(ax_b, b, "tensordot")
    if len(ax_a) != len(ax_b):
        raise ValueError(f"tensordot: {len(ax_a)} axes of the first operand but {len(ax_b)} "
                         "of the second")
    return ax_a, ax_b


def _tensordot_infer(types, axes):
    a, b = types
    ax_a, ax_b = axes
    for i, j in zip(ax_a, ax_b):
        da, db = a.shape[i], b.shape[j]
        if isinstance(da, int) and isinstance(db, int) and da != db:
            raise ShapeError(f"summed axes differ in size: axis {i} of {format_shape(a.shape)}"
                             f" has {da}, axis {j} of {format_shape(b.shape)} has {db}")
    free_a = tuple(d for i, d in enumerate(a.shape) if i not in ax_a)
    free_b = tuple(d for j, d in enumerate(b.shape) if j not in ax_b)
    return TensorType(np.result_type(a.dtype, b.dtype), free_a + free_b)


def _tensordot_emit(args, axes):
    a, b = args
    ax_a, ax_b = axes
    return Expr(f"np.tensordot({a.text}, {b.text}, axes=({list(ax_a)}, {list(ax_b)}))")


def _tensordot_vjp(g, out, a, b, axes):
    ax_a, ax_b = axes
    free_a = [i for i in range(a.ndim) if i not in ax_a]
    free_b = [j for j in range(b.ndim) if j not in ax_b]
    nfa = len(free_a)
    # np.tensordot keeps the axes it does not sum in their own order, so the summed axes
    # of the other operand come out sorted by that operand's axis numbers.
    # g has axes free_a + free_b; contracting its free_b part with b leaves a's free axes,
    # then the partners of b's summed axes.
    ga = tensordot(g, b, (tuple(range(nfa, g.ndim)), tuple(free_b)))
    a_axes = free_a + [ax_a[ax_b.index(j)] for j in sorted(ax_b)]
    ga = transpose(ga, tuple(int(i) for i in np.argsort(a_axes)))
    gb = tensordot(a, g, (tuple(free_a), tuple(range(nfa))))
    b_axes = [ax_b[ax_a.index(i)] for i in sorted(ax_a)] + free_b
    gb = transpose(gb, tuple(int(i) for i in np.argsort(b_axes)))
    return [ga, gb]


def _tensordot_batch(ins, batched, size, axes):
    """vmap rule: one batched operand keeps its batch axis free (the result's first axis
    when it is ``a``, moved there when it is ``b``); two batched operands are an einsum
    with the batch subscript on both and in front."""
    a, b = ins
    fa, fb = batched
    ax_a, ax_b = axes
    if not fb:
        return apply(TENSORDOT, [a, b], axes=(tuple(i + 1 for i in ax_a), ax_b))
    if not fa:
        out = apply(TENSORDOT, [a, b], axes=(ax_a, tuple(j + 1 for j in ax_b)))
        k = a.ndim - len(ax_a)                   # a's free axes come first
        return transpose(out, (k,) + tuple(i for i in range(out.ndim) if i != k))
    letters = iter(_LETTERS)
    batch = next(letters)
    ta = [next(letters) for _ in range(a.ndim - 1)]
    tb = [None] * (b.ndim - 1)
    for i, j in zip(ax_a, ax_b):
        tb[j] = ta[i]
    tb = [c if c is not None else next(letters) for c in tb]
    out = (batch + "".join(c for i, c in enumerate(ta) if i not in ax_a)
           + "".join(c for j, c in enumerate(tb) if j not in ax_b))
    return apply(EINSUM, [a, b], terms=(batch + "".join(ta), batch + "".join(tb)),
                 output=out)


TENSORDOT = defop("tensordot", infer=_tensordot_infer, emit=_tensordot_emit,
                  vjp=_tensordot_vjp, batch=_tensordot_batch, inline=False, short="tdot",
                  linear="each",
                      array_api=xpf.same_names(_tensordot_emit))


def tensordot(a, b, axes=2):
    """Sum products over the given axes, as ``np.tensordot``.

    ``axes`` is an int ``n`` (the last ``n`` axes of ``a`` with the first ``n`` of ``b``)
    or a pair of axis sequences. The result has ``a``'s remaining axes, then ``b``'s.
    """
    a, b = as_vars(a, b)
    return apply(TENSORDOT, [a, b], axes=_normalize_tensordot_axes(axes, a, b))


def dot(a, b):
    """``np.dot``: products of scalars, inner products of vectors, matrix products, and for
    N-d operands a sum over the last axis of ``a`` and the second-to-last of ``b``."""
    from .elementwise import multiply
    a, b = as_vars(a, b)
    if a.ndim == 0 or b.ndim == 0:
        return multiply(a, b)
    if a.ndim == 1 or b.ndim <= 2:
        return matmul(a, b)  # the same as np.dot for these ranks
    return tensordot(a, b, ((a.ndim - 1,), (b.ndim - 2,)))


def outer(a, b):
    """``np.outer``: ``ravel(a)[:, None] * ravel(b)[None, :]``."""
    from .elementwise import multiply
    from .shape import ravel
    a, b = as_vars(a, b)
    return multiply(expand_dims(ravel(a), 1), expand_dims(ravel(b), 0))


# ---------------------------------------------------------------------------------------
# einsum
# ---------------------------------------------------------------------------------------

_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _parse_einsum(subscripts: str, types) -> tuple[tuple[str, ...], str]:
    """Explicit subscripts for each operand and the output; ``...`` is expanded into
    letters that no operand uses (right-aligned, like NumPy's broadcasting)."""
    if not isinstance(subscripts, str):
        raise TypeError(f"einsum: subscripts must be a str, got {type(subscripts).__name__}")
    spec = subscripts.replace(" ", "")
    lhs, arrow, rhs = spec.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(types):
        raise ValueError(f"einsum: {subscripts!r} names {len(terms)} operands but "
                         f"{len(types)} were given")
    for term in terms + [rhs]:
        bad = set(term.replace("...", "")) - set(_LETTERS)
        if bad or term.count("...") > 1:
            raise ValueError(f"einsum: bad subscripts {subscripts!r}")
    free = [c for c in _LETTERS if c not in spec]
    n_ell = 0
    for term, t in zip(terms, types):
        if "..." in term:
            n_ell = max(n_ell, t.ndim - (len(term) - 3))
    ell = "".join(free[:n_ell])
    out_terms = []
    for term, t in zip(terms, types):
        if "..." in term:
            k = t.ndim - (len(term) - 3)
            if k < 0:
                raise ValueError(f"einsum: {term!r} has more subscripts than {t} has axes")
            term = term.replace("...", ell[n_ell - k:])
        if len(term) != t.ndim:
            raise ValueError(f"einsum: subscripts {term!r} for an operand of type {t} "
                             f"({t.ndim} dimensions)")
        out_terms.append(term)
    if arrow:
        out = rhs.replace("...", ell)
    else:
        counts = {}
        for term in out_terms:
            for c in term:
                counts[c] = counts.get(c, 0) + 1
        out = ell + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in ell))
    used = set("".join(out_terms))
    for c in out:
        if c not in used:
            raise ValueError(f"einsum: output subscript {c!r} of {subscripts!r} is not in "
                             "any operand")
    if len(set(out)) != len(out):
        raise ValueError(f"einsum: repeated output subscript in {subscripts!r}")
    return tuple(out_terms), out


def _einsum_sizes(terms, types):
    sizes: dict = {}
    for term, t in zip(terms, types):
        for c, d in zip(term, t.shape):
            if c in sizes:
                try:
                    sizes[c], _ = merge_dim(sizes[c], d)
                except ShapeError as exc:
                    raise ShapeError(f"subscript {c!r} has sizes that differ ({exc})") from None
            else:
                sizes[c] = d
    return sizes


def _einsum_infer(types, terms, output):
    sizes = _einsum_sizes(terms, types)
    return TensorType(np.result_type(*[t.dtype for t in types]), tuple(sizes[c] for c in output))


def _einsum_emit(args, terms, output):
    spec = ",".join(terms) + "->" + output
    return Expr(f"np.einsum({spec!r}, {', '.join(a.text for a in args)})")


def _einsum_grad(g, xs, terms, output, k):
    """Cotangent of operand ``k``: an einsum of the cotangent ``g`` with the other
    operands. A subscript repeated in operand ``k`` (a diagonal) gets a fresh letter tied
    to the first by an identity matrix; subscripts found only in operand ``k`` (summed
    there) are broadcast back."""
    from .elementwise import equal
    from .reduce import sum as _sum
    from .shape import arange, astype, broadcast_like, shape_of
    x = xs[k]
    spec = "".join(terms) + output
    fresh = iter([c for c in _LETTERS if c not in spec])
    target, operands, subs = [], [], []
    for axis, c in enumerate(terms[k]):
        if c in target:
            f = next(fresh)
            idx = arange(shape_of(x, axis))
            eye = astype(equal(expand_dims(idx, 1), expand_dims(idx, 0)), g.dtype)
            operands.append(eye)
            subs.append(c + f)
            target.append(f)
        else:
            target.append(c)
    for j, (xj, tj) in enumerate(zip(xs, terms)):
        if j != k:
            operands.append(xj)
            subs.append(tj)
    operands.append(g)
    subs.append(output)
    have = set("".join(subs))
    present = "".join(c for c in target if c in have)
    res = apply(EINSUM, operands, terms=tuple(subs), output=present)
    missing = tuple(i for i, c in enumerate(target) if c not in have)
    if missing:
        res = expand_dims(res, missing)
    # where x has a static 1 that the other operands broadcast, sum that axis; where the
    # other operands have a 1 that x broadcast, spread the result back over x's shape
    ones = tuple(i for i, (d, r) in enumerate(zip(x.type.shape, res.type.shape))
                 if d == 1 and r != 1)
    if ones:
        res = _sum(res, ones, keepdims=True)
    if res.type.shape != x.type.shape:
        res = broadcast_like(res, x)
    return res


def _einsum_vjp(g, out, *xs, terms, output):
    return [_einsum_grad(g, xs, terms, output, k) for k in range(len(xs))]


def _einsum_batch(ins, batched, size, terms, output):
    """vmap rule: a new subscript for the batch axis, on the batched operands and in
    front of the output."""
    free = next(c for c in "zyxwvutsrqponmlkjihgfedcbaZYXWVUTSRQPONMLKJIHGFEDCBA"
                if all(c not in t for t in terms) and c not in output)
    new_terms = tuple(free + t if f else t for t, f in zip(terms, batched))
    return apply(EINSUM, ins, terms=new_terms, output=free + output)


EINSUM = defop("einsum", infer=_einsum_infer, emit=_einsum_emit, vjp=_einsum_vjp,
               inline=False, linear="each", batch=_einsum_batch,
                   array_api=xpf.EINSUM)


def einsum(subscripts, *operands):
    """Einstein summation, as ``np.einsum``: ``einsum("ij,jk->ik", a, b)``.

    Explicit (``->``) and implicit forms are accepted, and ``...`` for broadcast axes
    (expanded into letters while building, so the emitted call is explicit). A subscript
    may repeat within an operand (``"ii->i"`` takes a diagonal). Size-1 axes broadcast as
    in NumPy. The VJP of each operand is again an einsum (of the cotangent with the other
    operands), so derivatives of every order are einsums too.
    """
    if not operands:
        raise ValueError("einsum: no operands")
    # Python numbers take the dtype of the first variable operand (NEP 50)
    like = next((o for o in operands if isinstance(o, Var)), None)
    xs = [as_var(o, like) for o in operands]
    terms, output = _parse_einsum(subscripts, [x.type for x in xs])
    return apply(EINSUM, xs, terms=terms, output=output)
