"""Fused ops that the optimizer introduces (``symgrad/rewrite/fusion.py``).

Users never need to build them; they exist so that the generated code can do in one
NumPy statement what the plain graph does in several. Each op is defined here once, with
its type rule, its emission and its VJP, so a graph that contains one can still be
differentiated.

``index_add(x, g, *adv, index, distinct)``
    ``x`` with ``g`` added at ``x[index]``: what ``x + index_grad(g, x, adv, index)``
    computes, without the array of zeros. The cross-entropy gradient
    ``softmax(z) - one_hot(y)`` becomes ``p`` with ``-1`` added at ``[rows, y]``.
"""

from __future__ import annotations

from ..ir.types import TensorType
from .indexing import GETITEM, index_text
from .registry import Expr, apply, defop

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


INDEX_ADD = defop("index_add", infer=_index_add_infer,
                  emit=lambda args, index, distinct: index_add_emit(args, index, distinct),
                  vjp=_index_add_vjp, inline=False, short="idx_add",
                  helpers=(INDEX_ADD_HELPER,))


def index_add(x, g, adv, index, distinct):
    """``x`` with ``g`` added at ``x[index]`` (``adv``: the integer-array index inputs)."""
    return apply(INDEX_ADD, [x, g, *adv], index=index, distinct=bool(distinct))


__all__ = ["INDEX_ADD", "index_add", "index_add_emit"]
