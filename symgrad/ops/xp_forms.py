"""Array-API emissions (``target="array_api"``) that are more than a template.

Each op names its array-API form in its own ``defop(..., array_api=...)`` call; the forms
that need a function or a helper live here, beside the helpers they call. Generated code
reads the namespace ``xp`` and the ``device`` of the call (both parameters of the generated
function). Helpers take ``xp`` as their first argument and use the standard only, except
where the standard has no such operation: then a helper says which library's own function
it uses (``einsum``, scatter-add) and has a portable fallback written with ``xp`` alone.
No helper converts to NumPy.
"""

from __future__ import annotations

import re

from .registry import PREC_ADD, PREC_CMP, PREC_MUL, Expr


class Refusal:
    """``array_api=refuse(reason)``: the op has no array-API form; compiling a graph that
    holds it for ``target="array_api"`` is an error naming the op and the reason."""

    def __init__(self, reason: str):
        self.reason = reason

    def __repr__(self) -> str:
        return f"refuse({self.reason!r})"


def refuse(reason: str) -> Refusal:
    return Refusal(reason)


def reads_node(emit):
    """Mark an emission that also reads the node (``node=``: its inputs' ranks and dtypes,
    where an index comes from), as the indexing forms do."""
    emit.reads_node = True
    return emit


def dtype_text(name: str) -> str:
    """``xp.float32`` for a NumPy dtype name (``bool`` is ``xp.bool``)."""
    return f"xp.{'bool' if name in ('bool', 'bool_') else name}"


# ---------------------------------------------------------------------------------------
# elementwise
# ---------------------------------------------------------------------------------------

SIGMOID_HELPER = '''def _sigmoid(xp, x):
    """1 / (1 + exp(-x)), to a few ulps for every x (see symgrad/ops/elementwise.py)."""
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1.0, e) / (1 + e)'''

SIGMOID = ("_sigmoid(xp, {0})", (SIGMOID_HELPER,))

# the line of a NumPy helper that makes its argument a float array: the array-API target
# casts every operand to the result's dtype before the call, so the xp helper drops it
_TO_FLOAT = re.compile(r"^ *(\w+) = np\.asarray\(\1, dtype=np\.result_type\(\1, 1\.0\)\)\n",
                       re.M)


def from_numpy(helpers) -> tuple[str, ...]:
    """NumPy helpers (``symgrad/ops/special.py``) as xp helpers, so that each has one
    source: ``xp`` becomes the first parameter of every helper defined here and the first
    argument of every call of one, ``np.`` becomes ``xp.``, and the conversion of the
    argument to a float array goes. The NumPy text must use only functions that the
    standard has under the same name (``tests/test_array_api.py`` checks the result)."""
    names = [n for h in helpers for n in re.findall(r"^def (\w+)\(", h, re.M)]
    calls = re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\(")
    out = []
    for h in helpers:
        text = calls.sub(r"\1(xp, ", _TO_FLOAT.sub("", h))
        text = re.sub(r"\bnp\.", "xp.", text)
        if re.search(r"\bnumpy\b|\.itemsize\b|asarray\(", text):
            raise ValueError(f"a NumPy-only construct is left in {text.splitlines()[0]!r}")
        out.append(text)
    return tuple(out)


CBRT_HELPER = '''def _cbrt(xp, x):
    """The real cube root: |x|**(1/3) (up to 60 ulps off, as 1/3 is rounded) with one
    Newton step where it is finite and not 0, and the sign of x."""
    a = xp.abs(x)
    y = xp.pow(a, 1.0 / 3.0)
    ok = (y > 0) & (y < xp.inf)
    y1 = xp.where(ok, y, 1.0)
    return xp.copysign(xp.where(ok, y1 + (a / (y1 * y1) - y1) / 3.0, y), x)'''

CBRT = ("_cbrt(xp, {0})", (CBRT_HELPER,))

FMOD_HELPER = '''def _fmod(xp, a, b):
    """C's remainder a - b * trunc(a / b), with the sign of a (NumPy's fmod; 0 where an
    integer b is 0). Floats: the namespace's own fmod where it has one (NumPy, CuPy,
    PyTorch, JAX: CuPy's remainder is not exact), else the floored remainder, which is the
    same on |a| and |b|. PyTorch's gives NaN where |a| / |b| overflows, so |a| is first
    reduced modulo |b| * 2**(2k) and |b| * 2**k (exact multiples of |b|; inf where they
    would overflow), which leaves quotients below 2**k. Integers: the floored remainder,
    moved to the sign of a."""
    if xp.isdtype(a.dtype, "integral"):
        if xp.isdtype(a.dtype, "signed integer"):
            b = xp.where(b == -1, 1, b)            # x % -1 is 0; C's INT_MIN % -1 overflows
        b = xp.where(b == 0, 1, b)                 # NumPy gives 0; PyTorch raises
        r = xp.remainder(a, b)
        return xp.where((r != 0) & ((a < 0) != (b < 0)), r - b, r)
    mod = getattr(xp, "fmod", xp.remainder)
    s = 2.0 ** (540 if a.dtype == xp.float64 else 76 if a.dtype == xp.float32 else 13)
    top = xp.finfo(a.dtype).max / s
    m = xp.abs(b)
    m2 = xp.where(m <= top / s, xp.minimum(m, top / s) * s * s, xp.inf)
    m1 = xp.where(m <= top, xp.minimum(m, top) * s, xp.inf)
    return xp.copysign(mod(mod(mod(xp.abs(a), m2), m1), m), a)'''

FMOD = ("_fmod(xp, {0}, {1})", (FMOD_HELPER,))

LOGADDEXP2_HELPER = '''def _logaddexp2(xp, a, b):
    """log2(2**a + 2**b) as NumPy computes it: a + 1 where a == b (infinities included),
    else max(a, b) + log1p(e) / log(2), e = 2**-|a - b|. log1p(e) is e where e < eps / 2
    (rounded, as NumPy's gives it): PyTorch's log1p is 0 at the smallest subnormals."""
    e = xp.pow(2.0, -xp.abs(a - b))
    l1p = xp.where(e < xp.finfo(e.dtype).eps / 2, e, xp.log1p(e))
    return xp.where(a == b, a + 1, xp.maximum(a, b) + 1.4426950408889634 * l1p)'''

LOGADDEXP2 = ("_logaddexp2(xp, {0}, {1})", (LOGADDEXP2_HELPER,))


def same_names(numpy_emit):
    """An emission whose NumPy functions and dtypes are the standard's, under the same names
    and arguments (``np.tensordot(a, b, axes=...)``, ``np.zeros_like(x, dtype=np.float32)``):
    the same text with ``xp.``."""
    def emit(args, **params):
        e = numpy_emit(args, **params)
        return Expr(re.sub(r"\bnp\.", "xp.", e.text), e.prec)
    return emit


def leaky_relu(args, negative_slope):
    x = args[0]
    return Expr(f"xp.where({x.text} > 0, {x.text}, {negative_slope!r} * {x.at(PREC_MUL + 1)})")


# ---------------------------------------------------------------------------------------
# shape
# ---------------------------------------------------------------------------------------

def _shape_text(template, args) -> str:
    parts = [str(d) if isinstance(d, int) else args[d[1]].text for d in template]
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


def reshape(args, shape):
    return Expr(f"xp.reshape({args[0].text}, {_shape_text(shape, args[1:])})")


def transpose(args, axes):
    if len(axes) == 2 and axes == (1, 0):
        return Expr(f"{args[0].atom}.T")       # the standard's .T is for 2-D arrays
    return Expr(f"xp.permute_dims({args[0].text}, {tuple(axes)!r})")


def _axes_index(x, ndim, axes, fill) -> Expr:
    if not axes:
        return x
    parts = [fill if i in axes else ":" for i in range(ndim)]
    while parts and parts[-1] == ":":
        parts.pop()
    return Expr(f"{x.atom}[{', '.join(parts + ['...'])}]")


def expand_dims(args, axis):
    return _axes_index(args[0], max(axis, default=-1) + 1, axis, "None")


def squeeze(args, axis):
    return _axes_index(args[0], max(axis, default=-1) + 1, axis, "0")


def broadcast_to(args, shape):
    return Expr(f"xp.broadcast_to({args[0].text}, {_shape_text(shape, args[1:])})")


def astype(args, dtype):
    return Expr(f"xp.astype({args[0].text}, {dtype_text(dtype)})")


def arange(numpy_emit):
    """NumPy's ``np.arange(bounds)`` with the dtype always said and the call's device."""
    def emit(args, dtype, **params):
        text = numpy_emit(args, dtype=dtype, **params).text
        bounds = text[len("np.arange("):-1].split(", dtype=")[0]
        return Expr(f"xp.arange({bounds}, dtype={dtype_text(dtype)}, device=device)")
    return emit


def full(args, shape, value, dtype):
    dims = _shape_text(shape, args)
    dt = f"dtype={dtype_text(dtype)}, device=device"
    if value == 0 and not isinstance(value, bool):
        return Expr(f"xp.zeros({dims}, {dt})")
    if value == 1 and not isinstance(value, bool):
        return Expr(f"xp.ones({dims}, {dt})")
    return Expr(f"xp.full({dims}, {value!r}, {dt})")


def concatenate(args, axis):
    return Expr(f"xp.concat([{', '.join(x.text for x in args)}], axis={axis})")


def stack(args, axis):
    return Expr(f"xp.stack([{', '.join(x.text for x in args)}], axis={axis})")


def concat_part(numpy_emit):
    """``g[:, a:b]`` as NumPy writes it, with ``...`` for the axes after (the standard
    indexes every axis or says ``...``)."""
    def emit(args, **params):
        e = numpy_emit(args, **params)
        return Expr(e.text[:-1] + ", ...]") if e.text.endswith("]") else e
    return emit


# ---------------------------------------------------------------------------------------
# reductions and scans
# ---------------------------------------------------------------------------------------

def reduction(name):
    def emit(args, axis, keepdims):
        parts = [args[0].text]
        if axis is not None:
            parts.append(f"axis={axis[0]}" if len(axis) == 1 else f"axis={tuple(axis)}")
        if keepdims:
            parts.append("keepdims=True")
        return Expr(f"xp.{name}({', '.join(parts)})")
    return emit


def argreduction(name):
    def emit(args, axis, keepdims):
        parts = [args[0].text] + ([] if axis is None else [f"axis={axis}"])
        if keepdims:
            parts.append("keepdims=True")
        return Expr(f"xp.{name}({', '.join(parts)})")
    return emit


def cumsum(args, axis):
    if axis is None:
        return Expr(f"xp.cumulative_sum(xp.reshape({args[0].text}, (-1,)))")
    return Expr(f"xp.cumulative_sum({args[0].text}, axis={axis})")


LINEAR_SCAN_HELPER = '''def _linear_scan(xp, a, b, axis, reverse):
    """h[k] = a[k] * h[k - 1] + b[k] along `axis`, with h[-1] = 0 (from the last entry
    backwards when `reverse`), in log2(n) vectorised steps, new arrays only."""
    a, h = xp.broadcast_arrays(a, b)
    a = xp.moveaxis(a, axis, 0)
    h = xp.astype(xp.moveaxis(h, axis, 0), xp.result_type(a, h))
    if reverse:
        a, h = xp.flip(a, axis=0), xp.flip(h, axis=0)
    n, d = h.shape[0], 1
    while d < n:
        h = xp.concat([h[:d, ...], h[d:, ...] + a[d:, ...] * h[:-d, ...]], axis=0)
        if 2 * d < n:
            a = xp.concat([a[:d, ...], a[d:, ...] * a[:-d, ...]], axis=0)
        d *= 2
    if reverse:
        h = xp.flip(h, axis=0)
    return xp.moveaxis(h, 0, axis)'''

LINEAR_SCAN = ("_linear_scan(xp, {0}, {1}, {axis}, {reverse})", (LINEAR_SCAN_HELPER,))

# ---------------------------------------------------------------------------------------
# indexing: gathers, scatter-adds and writes at flat positions
# ---------------------------------------------------------------------------------------
#
# Where every axis gets an int or an integer array (``z[rows, y]``, the usual case), the
# standard indexes directly: the gather is ``x[a, b]`` and the flat (row-major) positions
# of a scatter are ``a * x.shape[1] + b``. One 1-D integer array with full slices elsewhere
# (``E[ids]``, ``x[:, i]``) is ``xp.take``. Any other index (slices or None beside integer
# arrays, a slice with a negative step) goes through ``_positions``, NumPy's rules.

POSITIONS_HELPER = '''def _positions(xp, shape, index, device):
    """The flat (row-major) positions that x[index] selects from an array of `shape`, in
    the shape of the result. `index` holds ints, slices, None and integer arrays, with
    NumPy's rules (integer arrays broadcast together; their axes go where the first one
    stands when they are adjacent, else first)."""
    shape = list(shape)
    index = list(index) + [slice(None)] * (len(shape) - sum(i is not None for i in index))
    for k, i in enumerate(index):          # None: a new axis of size 1
        if i is None:
            shape.insert(k, 1)
            index[k] = slice(None)
    stride, strides = 1, [0] * len(shape)
    for k in range(len(shape) - 1, -1, -1):
        strides[k] = stride
        stride *= shape[k]
    arrays = [k for k, i in enumerate(index) if not isinstance(i, slice)]
    adv = xp.broadcast_arrays(*[xp.asarray(index[k], dtype=xp.int64, device=device)
                                for k in arrays]) if arrays else []
    adv_shape = tuple(adv[0].shape) if arrays else ()
    front = arrays and arrays != list(range(arrays[0], arrays[-1] + 1))
    slices = [k for k in range(len(index)) if k not in arrays]
    at = 0 if front or not arrays else sum(1 for k in slices if k < arrays[0])
    out_ndim = len(slices) + len(adv_shape)
    pos = xp.zeros((1,) * out_ndim, dtype=xp.int64, device=device)
    for j, k in enumerate(slices):
        r = xp.arange(*index[k].indices(shape[k]), dtype=xp.int64, device=device)
        where = j + (len(adv_shape) if j >= at else 0)
        dims = [1] * out_ndim
        dims[where] = r.shape[0]
        pos = pos + xp.reshape(r * strides[k], tuple(dims))
    for a, k in zip(adv, arrays):
        a = xp.where(a < 0, a + shape[k], a)
        dims = (1,) * at + adv_shape + (1,) * (out_ndim - at - len(adv_shape))
        pos = pos + xp.reshape(a * strides[k], dims)
    return pos'''

GATHER_HELPER = '''def _gather(xp, x, index, device):
    """x[index] (ints, slices, None, integer arrays; NumPy's rules), as one xp.take of
    the flat positions: the standard indexes with integer arrays only where every axis
    has an integer index."""
    pos = _positions(xp, x.shape, index, device)
    flat = xp.take(xp.reshape(x, (-1,)), xp.reshape(pos, (-1,)), axis=0)
    return xp.reshape(flat, pos.shape)'''

SCATTER_HELPER = '''def _scatter_add(xp, shape, pos, values, dtype, device):
    """Zeros of `shape` with `values` (broadcast to the shape of `pos`) added at the flat
    (row-major) positions `pos`; repeated positions accumulate. The standard has no
    scatter: PyTorch's index_add, CuPy's scatter_add, NumPy's add.at and JAX's .at[].add
    are used where the arrays are theirs; elsewhere each entry sums the values whose
    position is its own (memory: positions x size)."""
    vals = xp.astype(values, dtype, copy=False)
    vals = xp.reshape(xp.broadcast_to(vals, tuple(pos.shape)), (-1,))
    pos = xp.reshape(pos, (-1,))
    size = 1
    for d in shape:
        size *= d
    out = xp.zeros((size,), dtype=dtype, device=device)
    if hasattr(out, "index_add"):                        # PyTorch
        out = out.index_add(0, pos, vals)
    elif getattr(xp, "__name__", "").endswith("cupy"):
        import cupyx
        cupyx.scatter_add(out, pos, vals)
    elif hasattr(getattr(xp, "add", None), "at"):        # NumPy's ufunc.at
        xp.add.at(out, pos, vals)
    elif hasattr(out, "at"):                             # JAX
        out = out.at[pos].add(vals)
    elif pos.shape[0]:
        hits = pos[:, None] == xp.arange(size, dtype=pos.dtype, device=device)[None, :]
        out = xp.sum(xp.where(hits, vals[:, None], out[None, :]), axis=0, dtype=dtype)
    return xp.reshape(out, tuple(shape))'''

INDEX_SET_HELPER = '''def _index_set(xp, x, pos, values, device, distinct=False):
    """A copy of `x` with `values` (broadcast to the shape of `pos`) written at the flat
    (row-major) positions `pos`. Where a position repeats, the write that stays is the
    last one in the row-major order of `pos`, on every library (as NumPy's assignment).
    The standard has no scatter: PyTorch, NumPy, CuPy and JAX write with their own
    indexed assignment, the writes that are overwritten first sent to a spare entry past
    the end (so that no library meets a repeated position); elsewhere each entry looks up
    its last write in the sorted positions. `distinct`: the positions never repeat."""
    flat = xp.reshape(x, (-1,))
    vals = xp.broadcast_to(xp.asarray(values, dtype=x.dtype, device=device), tuple(pos.shape))
    vals, pos = xp.reshape(vals, (-1,)), xp.reshape(pos, (-1,))
    size = flat.shape[0]
    if pos.shape[0] == 0:
        return xp.asarray(x, copy=True)
    lib = type(flat).__module__.split(".")[0]
    own = lib in ("torch", "numpy", "cupy", "jax", "jaxlib")
    if not (own and distinct):
        order = xp.argsort(pos, stable=True)             # repeats keep their order
        pos, vals = xp.take(pos, order, axis=0), xp.take(vals, order, axis=0)
    if own:
        if not distinct:                                 # the last write of each position
            last = xp.concat([pos[1:] != pos[:-1], xp.ones((1,), dtype=xp.bool, device=device)])
            pos = xp.where(last, pos, size)
        out = xp.concat([flat, flat[:1]])
        if lib == "torch":
            out = out.index_put((pos,), vals)
        elif lib in ("numpy", "cupy"):
            out[pos] = vals
        else:                                            # JAX
            out = out.at[pos].set(vals)
        return xp.reshape(out[:size], tuple(x.shape))
    every = xp.arange(size, dtype=pos.dtype, device=device)
    k = xp.clip(xp.searchsorted(pos, every, side="right") - 1, 0)   # the last write <= each
    hit = xp.take(pos, k, axis=0) == every
    return xp.reshape(xp.where(hit, xp.take(vals, k, axis=0), flat), tuple(x.shape))'''


def _index_tuple(index, adv) -> str:
    from .indexing import index_parts
    parts = index_parts(index, adv, lambda *se: f"slice({se[0]!r}, {se[1]!r}, {se[2]!r})")
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


def _basic_index(index) -> str:
    """NumPy's index text, ending in ``...`` (the standard indexes every axis or says so)."""
    from .indexing import index_text
    text = index_text(index, ())
    return "..." if text == "()" else text + ", ..."


def _every_axis(x, index) -> bool:
    """Each axis of ``x`` gets an int or an integer array, at least one an array: the
    standard's own integer-array indexing."""
    return (len(index) == x.ndim and any(e[0] == "adv" for e in index)
            and all(e[0] in ("adv", "int") for e in index))


def _take_axis(index, adv_vars):
    """The axis of the one 1-D integer array of an index that is full slices elsewhere
    (``E[ids]``, ``x[:, i]``), else None."""
    if len(adv_vars) != 1 or adv_vars[0].ndim != 1:
        return None
    for e in index:
        if e[0] != "adv" and not (e[0] == "slice" and e[1] is None and e[2] is None
                                  and e[3] in (None, 1)):
            return None
    return [e[0] for e in index].index("adv")


def _nonnegative(v) -> bool:
    """Index data known to hold no negative entry: unsigned, checked to lie in [0, n),
    an arange counting up from 0 or more, a constant, or a basic index of one of those."""
    op = v.op
    if v.dtype.kind == "u":
        return True
    if op.name == "check_index":
        return not v.params["negative"]
    if op.name == "arange":
        return v.params.get("start", 0) >= 0 and v.params.get("step", 1) > 0
    if op.leaf == "constant":
        return v.value.size == 0 or int(v.value.min()) >= 0
    if op.name == "getitem" and len(v.inputs) == 1:
        return _nonnegative(v.inputs[0])
    return False


def _int64(a: Expr, v) -> Expr:
    """Index data as int64 (PyTorch reads a uint8 index as a mask; positions need 64
    bits)."""
    return a if v.dtype.name == "int64" else Expr(f"xp.astype({a.text}, xp.int64)")


def _literal(e: Expr):
    return int(e.text) if e.text.lstrip("-").isdigit() else None


def _flat_positions(ref: str, x, index, adv, adv_vars) -> str:
    """The flat (row-major) positions of ``x[index]`` for an index that gives every axis
    of ``x`` (named ``ref``) an int or an integer array: ``a * x.shape[1] + b`` (a static
    size as its number, ints folded), entries that may be negative counted from the end."""
    pos = None
    for k, e in enumerate(index):
        d = x.type.shape[k]
        n = str(d) if isinstance(d, int) else f"{ref}.shape[{k}]"
        if e[0] == "int":
            if e[1] >= 0 or isinstance(d, int):
                term = Expr(str(e[1] % d if e[1] < 0 else e[1]))
            else:
                term = Expr(f"{n} - {-e[1]}", PREC_ADD)
        else:
            v = adv_vars[e[1]]
            term = _int64(adv[e[1]], v)
            if not _nonnegative(v):
                term = Expr(f"xp.where({term.at(PREC_CMP + 1)} < 0, {term.at(PREC_ADD)} + {n}, "
                            f"{term.text})")
        if pos is None:
            pos = term
            continue
        p, t = _literal(pos), _literal(term)
        if p is not None and isinstance(d, int):        # a number so far: fold it
            p *= d
            pos = (Expr(str(p + t)) if t is not None else term if p == 0
                   else Expr(f"{p} + {term.at(PREC_ADD + 1)}", PREC_ADD))
        elif p == 0:
            pos = term
        elif t == 0:
            pos = Expr(f"{pos.at(PREC_MUL)} * {n}", PREC_MUL)
        else:
            pos = Expr(f"{pos.at(PREC_MUL)} * {n} + {term.at(PREC_ADD + 1)}", PREC_ADD)
    return pos.text


def _positions_of(ref: str, x, index, adv, adv_vars) -> str:
    """The text of the flat positions of ``x[index]`` (``x`` named ``ref``)."""
    if _every_axis(x, index):
        return _flat_positions(ref, x, index, adv, adv_vars)
    return f"_positions(xp, {ref}.shape, {_index_tuple(index, adv)}, device)"


@reads_node
def getitem(args, index, node):
    x, adv, adv_vars = args[0], args[1:], node.inputs[1:]
    if not adv and not any(e[0] == "slice" and (e[3] or 1) < 0 for e in index):
        return Expr(f"{x.atom}[{_basic_index(index)}]")
    if _every_axis(node.inputs[0], index):        # the standard's integer-array indexing
        parts = [str(e[1]) if e[0] == "int" else _int64(adv[e[1]], adv_vars[e[1]]).text
                 for e in index]
        return Expr(f"{x.atom}[{', '.join(parts)}]")
    axis = _take_axis(index, adv_vars)
    if axis is not None:
        return Expr(f"xp.take({x.text}, {_int64(adv[0], adv_vars[0]).text}, axis={axis})")
    # slices or None beside integer arrays, or a negative step (which PyTorch's slices
    # refuse): one take of the flat positions
    return Expr(f"_gather(xp, {x.text}, {_index_tuple(index, adv)}, device)")


GETITEM = (getitem, (POSITIONS_HELPER, GATHER_HELPER))


@reads_node
def index_grad(args, index, distinct, dtype, node):
    g, ref, adv = args[0], args[1], args[2:]
    pos = _positions_of(ref.atom, node.inputs[1], index, adv, node.inputs[2:])
    return Expr(f"_scatter_add(xp, {ref.atom}.shape, {pos}, {g.text}, {dtype_text(dtype)}, "
                "device)")


INDEX_GRAD = (index_grad, (POSITIONS_HELPER, SCATTER_HELPER))


@reads_node
def index_add(args, index, distinct, node):
    x, g, adv = args[0], args[1], args[2:]
    pos = _positions_of(x.atom, node.inputs[0], index, adv, node.inputs[2:])
    return Expr(f"{x.at(PREC_ADD)} + _scatter_add(xp, {x.atom}.shape, {pos}, {g.text}, "
                f"{x.atom}.dtype, device)", PREC_ADD)


INDEX_ADD = (index_add, (POSITIONS_HELPER, SCATTER_HELPER))


@reads_node
def index_set(args, index, distinct, node):
    x, v, adv = args[0], args[1], args[2:]
    pos = _positions_of(x.atom, node.inputs[0], index, adv, node.inputs[2:])
    known = ", distinct=True" if distinct else ""
    return Expr(f"_index_set(xp, {x.text}, {pos}, {v.text}, device{known})")


INDEX_SET = (index_set, (POSITIONS_HELPER, INDEX_SET_HELPER))


def permute_along(args, axis, inverse):
    x, perm = args
    if inverse:         # put back: the inverse of a permutation is its argsort (exact)
        perm = Expr(f"xp.argsort({perm.text}, axis={axis})")
    return Expr(f"xp.take_along_axis({x.text}, {perm.text}, axis={axis})")


CHECK_INDEX_HELPER = '''def _check_index(xp, index, size, low, what):
    """`index` itself, once every entry is checked to lie in [low, size)."""
    if index.size:
        lo, hi = int(xp.min(index)), int(xp.max(index))
        if lo < low or hi >= size:
            bad = lo if lo < low else hi
            raise IndexError(f"{what}: value {bad} is out of range [{low}, {size})")
    return index'''


def check_index(args, axis, negative, what):
    ref = f"{args[1].atom}.shape[{axis}]"
    return Expr(f"_check_index(xp, {args[0].text}, {ref}, {'-' + ref if negative else '0'}, "
                f"{what!r})")


CHECK_INDEX = (check_index, (CHECK_INDEX_HELPER,))

# ---------------------------------------------------------------------------------------
# linear algebra
# ---------------------------------------------------------------------------------------

EINSUM_HELPER = '''def _einsum(xp, spec, *operands):
    """NumPy's einsum(spec, *operands) for explicit specs ('ij,jk->ik'). The standard has no
    einsum: the namespace's own is used where it has one (NumPy, CuPy, PyTorch, JAX);
    elsewhere each operand's axes are laid out over all the letters, the operands
    multiplied and the letters not in the output summed."""
    own = getattr(xp, "einsum", None)
    if own is not None:
        return own(spec, *operands)
    inputs, output = spec.split("->")
    terms = inputs.split(",")
    letters = list(output) + sorted({c for t in terms for c in t} - set(output))
    product = None
    for term, x in zip(terms, operands):
        for c in sorted(set(term)):          # a repeated letter: the diagonal
            while term.count(c) > 1:
                i, j = term.index(c), term.index(c, term.index(c) + 1)
                n = x.shape[i]
                eye = xp.eye(n, dtype=xp.bool, device=x.device)
                shape = [1] * x.ndim
                shape[i], shape[j] = n, n
                x = xp.sum(xp.where(xp.reshape(eye, tuple(shape)), x, 0), axis=j)
                term = term[:j] + term[j + 1:]
        order = sorted(range(len(term)), key=lambda k: letters.index(term[k]))
        x = xp.permute_dims(x, tuple(order))
        placed = [term[k] for k in order]
        x = xp.reshape(x, tuple(x.shape[placed.index(c)] if c in placed else 1
                                for c in letters))
        product = x if product is None else product * x
    summed = tuple(range(len(output), len(letters)))
    return xp.sum(product, axis=summed) if summed else product'''


def einsum(args, terms, output):
    spec = ",".join(terms) + "->" + output
    return Expr(f"_einsum(xp, {spec!r}, {', '.join(a.text for a in args)})")


EINSUM = (einsum, (EINSUM_HELPER,))

# ---------------------------------------------------------------------------------------
# random draws: a counter-based generator written in xp
# ---------------------------------------------------------------------------------------

RANDOM_HELPER = '''def _random_bits(xp, seed, draw, calls, shape, device):
    """Uniform floats in [0, 1) of `shape`, 53 random bits each, from a counter-based
    generator written with the standard's int64 arithmetic (32-bit multiply-xorshift
    rounds on (seed, draw, calls, position)): the same numbers on every array library
    and device, a new draw for every call (`calls`) and random node (`draw`)."""
    size = 1
    for d in shape:
        size *= d
    mask = 0xFFFFFFFF
    key = (seed * 0x9E3779B1 + draw * 0x85EBCA77 + calls * 0xC2B2AE3D) & mask
    def mix(h):
        for mult in (0x7FEB352D, 0x46CA68B5, 0x2C1B3C6D):
            h = (h ^ (h >> 16)) * mult & mask
        return h ^ (h >> 15)
    counter = xp.arange(size, dtype=xp.int64, device=device)
    hi = mix((counter * 2 + key) & mask ^ (key >> 7))
    lo = mix((counter * 2 + 1 + key) & mask ^ (seed & mask))
    bits = (hi >> 6) * 134217728 + (lo >> 5)          # 26 + 27 bits
    return xp.reshape(xp.astype(bits, xp.float64) / 9007199254740992.0, tuple(shape))'''


def random(opname: str):
    def emit(args, seed, draw, size, params, dtype):
        n_vars = sum(1 for p in params if isinstance(p, tuple))
        state, var_args, size_args = args[0], args[1:1 + n_vars], args[1 + n_vars:]
        values = [var_args[p[1]].at(PREC_MUL + 1) if isinstance(p, tuple) else repr(p)
                  for p in params]
        shape = _shape_text(size, size_args)
        u = f"_random_bits(xp, {seed}, {draw}, int({state.text}), {shape}, device)"
        if opname == "random_uniform":
            low, high = values
            text = f"{low} + ({high} - {low}) * {u}"
            text = f"xp.astype({text}, {dtype_text(dtype)})"
        elif opname == "random_normal":
            loc, scale = values
            u2 = u.replace(f", {draw}, ", f", {draw} + 0x10000, ")
            text = (f"{loc} + {scale} * xp.sqrt(-2 * xp.log1p(-{u})) * xp.cos(6.283185307179586"
                    f" * {u2})")
            text = f"xp.astype({text}, {dtype_text(dtype)})"
        else:
            text = f"xp.astype({u} < {values[0]}, {dtype_text(dtype)})"
        return Expr(text)
    return (emit, (RANDOM_HELPER,))
