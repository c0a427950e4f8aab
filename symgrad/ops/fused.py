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
"""

from __future__ import annotations

import sympy

from ..ir.types import TensorType
from .indexing import GETITEM, index_text
from .registry import Expr, Statement, apply, defop

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


def _index_add_out(node, args, out, ws):
    if node.params["distinct"] and out == args[0].text:   # in place, each position once
        adv = args[2:]
        return Statement(f"{out}[{index_text(node.params['index'], adv)}] += {args[1].text}")
    return index_add_emit(args, out=out, **node.params).text


def _index_add_vjp(ct, out, x, g, *adv, index, distinct):
    return [ct, apply(GETITEM, [ct, *adv], index=index)] + [None] * len(adv)


INDEX_ADD = defop("index_add", infer=_index_add_infer,
                  emit=lambda args, index, distinct: index_add_emit(args, index, distinct),
                  emit_out=_index_add_out,
                  vjp=_index_add_vjp, inline=False, short="idx_add",
                  helpers=(INDEX_ADD_HELPER,))


def index_add(x, g, adv, index, distinct):
    """``x`` with ``g`` added at ``x[index]`` (``adv``: the integer-array index inputs)."""
    return apply(INDEX_ADD, [x, g, *adv], index=index, distinct=bool(distinct))


def _relu_mask_infer(types):
    (t,) = types
    if not t.is_float:
        raise TypeError(f"relu_mask needs a float input, got {t.dtype}")
    return t


def _relu_mask_out(node, args, out, ws):
    ones = ws.filled(node.type.shape, node.dtype, 1) if node.ndim else None
    if ones is None:
        return None
    return f"np.ceil(np.minimum({args[0].text}, {ones}, out={out}), out={out})"


RELU_MASK = defop("relu_mask", infer=_relu_mask_infer,
                  emit="np.ceil(np.minimum({0}, 1))", emit_out=_relu_mask_out,
                  elementwise=True, inline=False, short="mask",
                  sympy=lambda r: sympy.Heaviside(r, 0),
                  doc="1 where a ReLU output is positive, 0 where it is 0 (float)")


def relu_mask(r):
    """The 0/1 float mask ``r > 0`` of a ReLU output ``r`` (``r >= 0``)."""
    return apply(RELU_MASK, [r])


__all__ = ["INDEX_ADD", "RELU_MASK", "index_add", "index_add_emit", "relu_mask"]
