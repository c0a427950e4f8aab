"""Statement lowerings of the fast target: the ``out=`` forms of particular statements.

The planned renderer (``codegen/planner.py``) writes a statement into a buffer through
``memory.out_call``; for the statements below it uses a faster form than the op's own
``out=`` call. Each form is chosen by what the statement is (a pattern over its op and
inputs), returns None where it does not apply, and keeps the plain form of its line as the
line's comment (the renderer adds it). The plain rendering never uses them.
"""

from __future__ import annotations

import numpy as np

from ...ops.fused import GEMM_UPDATE_MIN_SIZE, index_add_emit
from ...ops.indexing import index_text
from ...ops.registry import PREC_MUL, Statement
from ...rewrite.pattern import P, first_match, pvars

_x, _a, _b, _c, _g = pvars("x a b c g")


# NumPy 2 runs maximum/minimum with vector instructions only between two arrays: with a
# Python scalar operand they are 4-7x slower. Planned code therefore compares with a
# read-only workspace array full of the scalar.
def _emit_relu_out(node, args, out, ws):
    zeros = ws.filled(node.type.shape, node.dtype, 0) if node.ndim else None
    return f"np.maximum({args[0].text}, {zeros}, out={out})" if zeros else None


def _extremum_out(ufunc):
    def emit_out(node, args, out, ws):
        if node.ndim == 0 or node.dtype.kind not in "fiu":
            return None
        for k, c in enumerate(node.inputs):
            other = node.inputs[1 - k]
            if (c.op.leaf != "constant" or c.ndim != 0 or other.type.shape != node.type.shape
                    or other.dtype != node.dtype or not np.isfinite(c.value)):
                continue
            full = ws.filled(node.type.shape, node.dtype, c.value.item())
            if full is None:
                return None
            texts = [a.text for a in args]
            texts[k] = full
            return f"np.{ufunc}({texts[0]}, {texts[1]}, out={out})"
        return None
    return emit_out


def _index_add_out(node, args, out, ws):
    if node.params["distinct"] and out == args[0].text:   # in place, each position once
        adv = args[2:]
        return Statement(f"{out}[{index_text(node.params['index'], adv)}] += {args[1].text}")
    return index_add_emit(args, out=out, **node.params).text


def _relu_mask_out(node, args, out, ws):
    ones = ws.filled(node.type.shape, node.dtype, 1) if node.ndim else None
    if ones is None:
        return None
    return f"np.ceil(np.minimum({args[0].text}, {ones}, out={out}), out={out})"


def _matmul_sub_out(node, args, out, ws):
    c, a, b = (x.text for x in args)
    if out != c:      # a fresh buffer: the product there, then c minus it
        return f"np.subtract({c}, np.dot({a}, {b}, out={out}), out={out})"
    shape = node.type.shape
    scratch = ws.scratch(shape, node.dtype)
    if scratch is None:
        return None
    size = 1
    for d in shape:
        size *= d if isinstance(d, int) else GEMM_UPDATE_MIN_SIZE
    product = node.params["product"]
    note = f"{c} -= {product + ' = ' if product else ''}{args[1].at(PREC_MUL)} @ {args[2].at(PREC_MUL + 1)}"
    if size >= GEMM_UPDATE_MIN_SIZE:
        return Statement(f"_gemm_update({c}, {a}, {b}, {scratch})", note + ", one BLAS call")
    return Statement(f"np.subtract({c}, np.dot({a}, {b}, out={scratch}), out={c})", note)


# (pattern, form): the first whose pattern matches the statement and whose form returns a
# text is used
OUT_FORMS = [   # (pattern, form, the name f.stats["lowerings"] counts it under)
    (P.relu(_x), _emit_relu_out, "relu_vs_zeros_array"),
    (P.maximum(_a, _b), _extremum_out("maximum"), "maximum_vs_filled_array"),
    (P.minimum(_a, _b), _extremum_out("minimum"), "minimum_vs_filled_array"),
    (P.index_add(_x, _g, ...), _index_add_out, "index_add_in_place"),
    (P.relu_mask(_x), _relu_mask_out, "relu_mask_as_ceil_min"),
    (P.matmul_sub(_c, _a, _b), _matmul_sub_out, "gemm_update"),
]
_BY_ROOT: dict[str, list] = {}
for _pattern, _form, _name in OUT_FORMS:
    _BY_ROOT.setdefault(_pattern.op, []).append((_pattern, _form, _name))


def out_form(node, args, out, ws):
    """The lowered ``out=`` text of ``node`` (a str, or a ``Statement`` for an in-place
    form), or None where no statement lowering applies."""
    for pattern, form, name in _BY_ROOT.get(node.op.name, ()):   # the pattern's own op
        if first_match(pattern, node) is not None:
            text = form(node, args, out, ws)
            if text is not None:
                count = getattr(ws, "count", None)
                if count is not None:                     # f.stats["lowerings"]
                    count(name)
                return text
    return None
