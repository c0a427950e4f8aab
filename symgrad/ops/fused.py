"""Fused ops that the optimizer introduces (``symgrad/rewrite/fusion.py``).

Users never need to build them; they exist so that the generated code can do in one
NumPy statement what the plain graph does in several. Each op is defined here once, with
its type rule, its emission and its VJP, so a graph that contains one can still be
differentiated.

``index_add(x, g, *adv, index, distinct)``
    ``x`` with ``g`` added at ``x[index]``: what ``x + index_grad(g, x, adv, index)``
    computes, without the array of zeros. The cross-entropy gradient
    ``softmax(z) - one_hot(y)`` becomes ``p`` with ``-1`` added at ``[rows, y]``.

``relu_mask(r)``
    For ``r`` a ReLU's output (``r >= 0``): 1 where ``r > 0``, 0 where ``r == 0``, in
    ``r``'s float dtype (NaN stays NaN). It is ``relu(x) > 0`` as a float mask, computed as
    ``ceil(minimum(r, 1))``: two vectorised passes, where ``np.sign`` takes 3x as long and
    a comparison needs a cast from bool (which allocates).

``matmul_sub(c, a, b)``
    ``c - a @ b`` for 2-D float arrays of one dtype: a gradient-descent update ``W - a.T @
    d`` (the learning rate already folded into ``d``). Written into ``c`` itself (an
    in-place update), it is one BLAS ``gemm`` with ``beta = 1`` (``symgrad/blas.py``)
    where the product is large enough to repay the ``ctypes`` call
    (``GEMM_UPDATE_MIN_SIZE`` elements), else ``np.dot`` into scratch and an in-place
    subtract; anywhere else, ``np.dot`` into the output buffer and a subtract.
"""

from __future__ import annotations

import sympy

from . import xp_forms as xpf
from ..blas import BLAS_SOURCE
from ..ir.types import TensorType
from .indexing import GETITEM, batch_write, index_text
from .registry import PREC_ADD, PREC_MUL, Expr, apply, defop, emit_infix, get_op

INDEX_ADD_HELPER = '''def _index_add(x, index, values, out=None, repeated=False):
    """`x` with `values` added at `index`, written into `out` (which may be `x`)."""
    if out is None:
        out = x.copy()
    elif out is not x:
        np.copyto(out, x)
    if repeated:
        np.add.at(out, index, values)  # repeated positions accumulate
    else:
        out[index] += values
    return out'''


def _index_add_infer(types, index, distinct):
    x, g = types[0], types[1]
    if g.dtype != x.dtype:
        raise TypeError(f"the added values are {g.dtype}, the array is {x.dtype}")
    return TensorType(x.dtype, x.shape)


def index_add_emit(args, index, distinct, out=None):
    """The emitted call; ``out`` is the text of the buffer to write into, if any."""
    x, g, adv = args[0], args[1], args[2:]
    tail = (f", out={out}" if out else "") + ("" if distinct else ", repeated=True")
    return Expr(f"_index_add({x.text}, np.s_[{index_text(index, adv)}], {g.text}{tail})")


def _index_add_vjp(ct, out, x, g, *adv, index, distinct):
    return [ct, apply(GETITEM, [ct, *adv], index=index)] + [None] * len(adv)


def _index_add_batch(ins, batched, size, index, distinct):
    """vmap rule: see ``indexing.batch_write``."""
    x, g, adv, new = batch_write(ins, batched, size, index)
    return apply(INDEX_ADD, [x, g, *adv], index=new, distinct=distinct)


INDEX_ADD = defop("index_add", infer=_index_add_infer, batch=_index_add_batch,
                  emit=lambda args, index, distinct: index_add_emit(args, index, distinct),
                  vjp=_index_add_vjp, inline=False, short="idx_add", linear="jointly",
                  writes="scatter_add",
                  helpers=(INDEX_ADD_HELPER,),
                      array_api=xpf.INDEX_ADD)


def index_add(x, g, adv, index, distinct):
    """``x`` with ``g`` added at ``x[index]`` (``adv``: the integer-array index inputs)."""
    return apply(INDEX_ADD, [x, g, *adv], index=index, distinct=bool(distinct))


def _relu_mask_infer(types):
    (t,) = types
    if not t.is_float:
        raise TypeError(f"relu_mask needs a float input, got {t.dtype}")
    return t


RELU_MASK = defop("relu_mask", infer=_relu_mask_infer,
                  emit="np.ceil(np.minimum({0}, 1))",
                  elementwise=True, inline=False, short="mask",
                  sympy=lambda r: sympy.Heaviside(r, 0),
                  doc="1 where a ReLU output is positive, 0 where it is 0 (float)",
                      array_api="xp.ceil(xp.minimum({0}, 1))")


def relu_mask(r):
    """The 0/1 float mask ``r > 0`` of a ReLU output ``r`` (``r >= 0``)."""
    return apply(RELU_MASK, [r])


# the in-place update ``c -= a @ b`` calls BLAS through ctypes when ``c`` has at least
# this many elements; below it the call costs more than the subtract it saves (measured:
# a 32x64 @ 64x32 update takes 9 us that way, 4 us with np.dot and np.subtract)
GEMM_UPDATE_MIN_SIZE = 32768


def _matmul_sub_infer(types, product):
    c, a, b = types
    for what, t in (("c", c), ("a", a), ("b", b)):
        if t.ndim != 2 or not t.is_float:
            raise TypeError(f"matmul_sub needs 2-D float arrays, got {what}: {t}")
    if not a.dtype == b.dtype == c.dtype:
        raise TypeError(f"matmul_sub needs one dtype, got {c.dtype}, {a.dtype}, {b.dtype}")
    if a.shape[1] != b.shape[0] or (c.shape[0], c.shape[1]) != (a.shape[0], b.shape[1]):
        raise ValueError(f"matmul_sub shapes do not fit: c {c.shape}, a {a.shape}, "
                         f"b {b.shape}")
    return c


def _matmul_sub_emit(args, product):
    c, a, b = args
    return emit_infix("-", PREC_ADD)([c, emit_infix("@", PREC_MUL)([a, b])])


def _matmul_sub_vjp(ct, out, c, a, b, product):
    mm, neg, tr = get_op("matmul"), get_op("negative"), get_op("transpose")
    return [ct,
            apply(neg, [apply(mm, [ct, apply(tr, [b], axes=(1, 0))])]),
            apply(neg, [apply(mm, [apply(tr, [a], axes=(1, 0)), ct])])]


def _matmul_sub_batch(ins, batched, size, product):
    """vmap rule: ``c - a @ b`` as a subtract and a batched matmul (the in-place BLAS
    update is for 2-D arrays)."""
    c, a, b = ins
    mm = get_op("matmul")
    prod = mm.batch([a, b], batched[1:], size) if any(batched[1:]) else apply(mm, [a, b])
    return apply(get_op("subtract"), [c, prod])


MATMUL_SUB = defop("matmul_sub", infer=_matmul_sub_infer, batch=_matmul_sub_batch,
                   emit=_matmul_sub_emit,
                   vjp=_matmul_sub_vjp, inline=False, short="mm_sub", writes="gemm_update",
                   helpers=(BLAS_SOURCE,),
                   doc="c - a @ b (2-D): a gradient-descent update, in one BLAS call when "
                       "written into c",
                           array_api=_matmul_sub_emit)


def matmul_sub(c, a, b, product=None):
    """``c - a @ b`` for 2-D float arrays of one dtype (see the module docstring);
    ``product``: the name of ``a @ b`` (``d_W1``), for the generated code's comment."""
    return apply(MATMUL_SUB, [c, a, b], product=product)


__all__ = ["GEMM_UPDATE_MIN_SIZE", "INDEX_ADD", "MATMUL_SUB", "RELU_MASK", "index_add",
           "index_add_emit", "matmul_sub", "relu_mask"]
