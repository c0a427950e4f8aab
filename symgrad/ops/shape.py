"""Shape ops: symbolic sizes, reshape (ravel, flatten), transpose, expand_dims, squeeze,
broadcasting, casts, fills (zeros, ones, full and their ``_like`` forms, arange),
concatenate, stack and one_hot.

Sizes may be symbolic: ``x.shape[0]`` of a named or unknown dimension is an int64 scalar
variable (op ``shape_of``) that ``reshape``, ``broadcast_to``, ``arange`` and arithmetic
accept. Where a target shape mixes ints and such variables, the variables become extra
inputs of the node and the ``shape`` parameter holds ``("$", k)`` for the k-th of them.
"""

from __future__ import annotations

import math

import numpy as np

from . import xp_forms as xpf
from ..ir.node import Var
from ..ir.types import ShapeError, TensorType, as_dtype, format_shape
from .leaves import as_var
from .registry import Expr, Unbatched, apply, defop


def normalize_axes(axis, ndim: int, what: str) -> tuple:
    """Axis argument -> sorted tuple of non-negative ints (None -> every axis)."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        if not isinstance(a, (int, np.integer)) or isinstance(a, bool):
            raise TypeError(f"{what}: axis must be an int or a tuple of ints, got {axis!r}")
        if not -ndim <= a < ndim:
            raise ValueError(f"{what}: axis {a} is out of range for {ndim} dimensions")
        out.append(int(a) % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{what}: repeated axis in {axis!r}")
    return tuple(sorted(out))


# ---------------------------------------------------------------------------------------
# symbolic sizes
# ---------------------------------------------------------------------------------------

def _shape_of_infer(types, axis):
    if not 0 <= axis < types[0].ndim:
        raise ValueError(f"axis {axis} out of range")
    return TensorType(np.int64, ())


SHAPE_OF = defop("shape_of", infer=_shape_of_infer, emit=lambda a, axis: Expr(
    f"{a[0].atom}.shape[{axis}]"), inline=True, short="n", shape_only=(0,), python_int=True,
    batch=lambda ins, batched, size, axis: Unbatched(apply(SHAPE_OF, ins, axis=axis + 1)),
        array_api="{0.atom}.shape[{axis}]")


def shape_of(x, axis: int):
    """The size of ``x`` along ``axis``: a Python int when static, else an int64 scalar
    that meets arrays as a Python int does (``leaves.weak_size``)."""
    x = as_var(x)
    axis = normalize_axes(axis, x.ndim, "shape_of")[0]
    d = x.type.shape[axis]
    if isinstance(d, int):
        return d
    return apply(SHAPE_OF, [x], axis=axis)


def _size_emit(args, axes, dtype):
    parts = [f"{args[0].atom}.shape[{a}]" for a in axes]
    if not parts:
        return Expr("1")
    if len(parts) == 1:
        return Expr(parts[0])
    return Expr(" * ".join(parts), 12)


SIZE_OF = defop("size_of", infer=lambda types, axes, dtype: TensorType(dtype, ()),
                emit=_size_emit, inline=True, short="n", shape_only=(0,), python_int=True,
                batch=lambda ins, batched, size, axes, dtype: Unbatched(apply(
                    SIZE_OF, ins, axes=tuple(a + 1 for a in axes), dtype=dtype)),
                    array_api=_size_emit)


def size_of(x, axes=None, dtype="int64"):
    """Number of elements of ``x`` over ``axes`` (all by default), as a scalar of ``dtype``.

    A constant when those dimensions are static. The generated code reads it from the
    array's ``.shape`` (a Python int, which NumPy treats as a weak scalar).
    """
    x = as_var(x)
    axes = normalize_axes(axes, x.ndim, "size_of")
    dims = [x.type.shape[a] for a in axes]
    dtype = as_dtype(dtype)
    if all(isinstance(d, int) for d in dims):
        from .leaves import constant
        return constant(np.asarray(math.prod(dims), dtype=dtype))
    return apply(SIZE_OF, [x], axes=axes, dtype=dtype.name)


def dim_of(v) -> object:
    """The dimension a size-valued variable stands for, when it can be told statically."""
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, Var):
        if v.op is SHAPE_OF:
            return v.inputs[0].type.shape[v.params["axis"]]
        if v.op.leaf == "constant" and v.value.ndim == 0:
            return int(v.value)
    return None


def _shape_template(shape, what):
    """Split a shape of ints and size variables into (template, extra inputs)."""
    if isinstance(shape, (int, np.integer, Var)):
        shape = (shape,)
    template, extra = [], []
    for d in shape:
        if isinstance(d, Var):
            if d.ndim != 0 or d.dtype.kind not in "iu":
                raise TypeError(f"{what}: a symbolic size must be an integer scalar, got {d!r}")
            if d.op.leaf == "constant":
                template.append(int(d.value))
                continue
            template.append(("$", len(extra), dim_of(d)))
            extra.append(d)
        elif isinstance(d, (int, np.integer)) and not isinstance(d, bool):
            template.append(int(d))
        else:
            raise TypeError(f"{what}: shape entries must be ints or integer scalars, got {d!r}")
    return tuple(template), extra


def _template_dims(template):
    return [d if isinstance(d, int) else d[2] for d in template]


def _template_text(template, args):
    parts = [str(d) if isinstance(d, int) else args[d[1]].text for d in template]
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


# ---------------------------------------------------------------------------------------
# reshape
# ---------------------------------------------------------------------------------------

def _reshape_dims(src_shape, dims):
    """Resolve -1 and check sizes statically where possible (dims: ints, names or None)."""
    dims = list(dims)
    if dims.count(-1) > 1:
        raise ValueError("only one dimension can be -1")
    if any(isinstance(d, int) and d < -1 for d in dims):
        raise ValueError(f"negative dimension in {format_shape(dims)}")
    if -1 in dims:
        k = dims.index(-1)
        src_rest = list(src_shape)
        others = []
        for d in dims[:k] + dims[k + 1:]:
            if d is not None and d in src_rest:
                src_rest.remove(d)  # the same size on both sides cancels out
            else:
                others.append(d)
        if all(isinstance(d, int) for d in others):
            ps = math.prod(d for d in src_rest if isinstance(d, int))
            po = math.prod(others)
            ns = [d for d in src_rest if not isinstance(d, int)]
            if not ns:
                if po == 0 or ps % po:
                    raise ShapeError(f"cannot reshape {format_shape(src_shape)} into "
                                     f"{format_shape(dims)}")
                dims[k] = ps // po
            elif len(ns) == 1 and ps == po:
                dims[k] = ns[0]
            else:
                dims[k] = None
        else:
            dims[k] = None
    elif all(isinstance(d, int) for d in list(src_shape) + dims):
        if math.prod(src_shape) != math.prod(dims):
            raise ShapeError(f"cannot reshape {format_shape(src_shape)} into "
                             f"{format_shape(dims)}")
    return tuple(dims)


def _reshape_infer(types, shape):
    return TensorType(types[0].dtype, _reshape_dims(types[0].shape, _template_dims(shape)))


def _reshape_emit(args, shape):
    return Expr(f"{args[0].atom}.reshape({_template_text(shape, args[1:])})")


def _reshape_vjp(g, out, x, *sizes, shape):
    return [reshape_like(g, x)] + [None] * len(sizes)


RESHAPE = defop("reshape", infer=_reshape_infer, emit=_reshape_emit, vjp=_reshape_vjp,
                view=True, inline=True, linear="first", entries="moved",
                    array_api=xpf.reshape)


def reshape(x, shape):
    """NumPy's reshape; entries may be ints, -1 or symbolic sizes such as ``y.shape[0]``."""
    x = as_var(x)
    template, extra = _shape_template(shape, "reshape")
    return apply(RESHAPE, [x] + extra, shape=template)


def _like_batch(make):
    """vmap rule of ``broadcast_like``: with a batched reference the op
    itself (the batch axis is part of both shapes); with an unbatched one, the batch size
    in front of the reference's shape."""
    def rule(ins, batched, size):
        x, ref = ins
        fx, fref = batched
        if fref:
            return make(x, ref, ref.ndim - 1, fx, None)
        return make(x, None, ref.ndim, fx, (size,) + tuple(ref.shape))
    return rule


def _lifted(x, rank, fx):
    missing = rank - (x.ndim - 1)
    return expand_dims(x, tuple(range(1, 1 + missing))) if fx and missing > 0 else x


def _reshape_like_batch(ins, batched, size):
    """vmap rule of ``reshape_like``: with a batched reference the op itself (the batch
    axis is part of both shapes; an unbatched ``x`` spread over the batch first); with an
    unbatched one, the batch size in front of the reference's shape."""
    (x, ref), (fx, fref) = ins, batched
    if not fx:
        x = broadcast_to(expand_dims(x, 0), (size,) + tuple(x.shape))
    return reshape_like(x, ref) if fref else reshape(x, (size,) + tuple(ref.shape))


RESHAPE_LIKE = defop(
    "reshape_like", infer=lambda types: TensorType(types[0].dtype, types[1].shape),
    emit=lambda a: Expr(f"{a[0].atom}.reshape({a[1].atom}.shape)"),
    vjp=lambda g, out, x, ref: [reshape_like(g, x), None], view=True, inline=True,
    shape_only=(1,), linear="first", entries="moved",
    batch=_reshape_like_batch,
            array_api="xp.reshape({0}, {1.atom}.shape)")


def reshape_like(x, ref):
    """``x`` reshaped to the shape of ``ref``."""
    x, ref = as_var(x), as_var(ref)
    if x.type.shape == ref.type.shape:
        return x
    return apply(RESHAPE_LIKE, [x, ref])


# ---------------------------------------------------------------------------------------
# transpose, expand_dims, squeeze
# ---------------------------------------------------------------------------------------

def _transpose_infer(types, axes):
    t = types[0]
    if sorted(axes) != list(range(t.ndim)):
        raise ValueError(f"axes {axes} are not a permutation of {t.ndim} dimensions")
    return TensorType(t.dtype, tuple(t.shape[a] for a in axes))


def _transpose_emit(args, axes):
    if axes == tuple(reversed(range(len(axes)))):
        return Expr(f"{args[0].atom}.T")
    return Expr(f"{args[0].atom}.transpose({', '.join(map(str, axes))})")


def _transpose_vjp(g, out, x, axes):
    return [transpose(g, tuple(int(i) for i in np.argsort(axes)))]


TRANSPOSE = defop("transpose", infer=_transpose_infer, emit=_transpose_emit,
                  vjp=_transpose_vjp, view=True, inline=True, linear="first",
                  entries="moved",
                      array_api=xpf.transpose)


def transpose(x, axes=None):
    """Permute axes (reverse them by default), as ``np.transpose``."""
    x = as_var(x)
    if axes is None:
        axes = tuple(reversed(range(x.ndim)))
    else:
        axes = tuple(int(a) % max(x.ndim, 1) for a in axes)
    if axes == tuple(range(x.ndim)):
        return x
    return apply(TRANSPOSE, [x], axes=axes)


def swapaxes(x, a, b):
    x = as_var(x)
    axes = list(range(x.ndim))
    a, b = a % x.ndim, b % x.ndim
    axes[a], axes[b] = axes[b], axes[a]
    return transpose(x, tuple(axes))


def _expand_infer(types, axis):
    t = types[0]
    shape = list(t.shape)
    for a in axis:
        shape.insert(a, 1)
    return TensorType(t.dtype, tuple(shape))


def _index_text(x, ndim, axes, fill):
    """``x[:, None]``-style text: ``fill`` at ``axes`` of an ``ndim`` index, ``:`` elsewhere
    (``x`` itself where there are no axes)."""
    if not axes:
        return x.text
    parts = [fill if i in axes else ":" for i in range(ndim)]
    while parts and parts[-1] == ":":
        parts.pop()
    return f"{x.atom}[{', '.join(parts)}]"


EXPAND_DIMS = defop(
    "expand_dims", infer=_expand_infer,
    emit=lambda a, axis: Expr(_index_text(a[0], max(axis, default=-1) + 1, axis, "None")),
    vjp=lambda g, out, x, axis: [squeeze(g, axis)], view=True, inline=True, short="expand",
    linear="first", entries="same",
        array_api=xpf.expand_dims)


def expand_dims(x, axis):
    """Insert size-1 axes at ``axis`` (int or tuple), as ``np.expand_dims``."""
    x = as_var(x)
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    n = x.ndim + len(axes)
    for a in axes:
        if not isinstance(a, (int, np.integer)) or isinstance(a, bool):
            raise TypeError(f"expand_dims: axis must be an int or a tuple of ints, got {axis!r}")
        if not -n <= a < n:
            # NumPy's AxisError is both an IndexError and a ValueError
            raise np.exceptions.AxisError(
                f"expand_dims: axis {a} is out of bounds for the result's {n} dimensions "
                f"({x!r} has ndim {x.ndim})")
    axes = tuple(sorted(int(a) % n for a in axes))
    if len(set(axes)) != len(axes):
        raise ValueError(f"expand_dims: repeated axis in {axis!r}")
    return apply(EXPAND_DIMS, [x], axis=axes)


def _squeeze_infer(types, axis):
    t = types[0]
    for a in axis:
        if t.shape[a] != 1:
            raise ShapeError(f"cannot squeeze axis {a} of size {t.shape[a]} (it must be 1)")
    return TensorType(t.dtype, tuple(d for i, d in enumerate(t.shape) if i not in axis))


def _squeeze_emit(args, axis):
    return Expr(_index_text(args[0], max(axis, default=-1) + 1, axis, "0"))


SQUEEZE = defop("squeeze", infer=_squeeze_infer, emit=_squeeze_emit,
                vjp=lambda g, out, x, axis: [expand_dims(g, axis)], view=True, inline=True,
                linear="first", entries="same",
                    array_api=xpf.squeeze)


def squeeze(x, axis=None):
    """Remove size-1 axes (all statically-1 axes when ``axis`` is None)."""
    x = as_var(x)
    if axis is None:
        axes = tuple(i for i, d in enumerate(x.type.shape) if d == 1)
    else:
        axes = normalize_axes(axis, x.ndim, "squeeze")
    if not axes:
        return x
    return apply(SQUEEZE, [x], axis=axes)


# ---------------------------------------------------------------------------------------
# broadcasting
# ---------------------------------------------------------------------------------------

def sum_to(g, target: TensorType | Var):
    """Sum ``g`` over the axes along which ``target``'s shape was broadcast to ``g``'s.

    Leading extra axes are summed away; axes where the target is statically 1 and ``g``
    is not are summed with keepdims. This is the one place where un-broadcasting happens.
    """
    from .reduce import sum as _sum
    ttype = target.type if isinstance(target, Var) else target
    lead = g.ndim - ttype.ndim
    if lead < 0:
        raise ShapeError(f"sum_to: cannot reduce {g.type} to {ttype}")
    ones = tuple(lead + i for i, d in enumerate(ttype.shape)
                 if d == 1 and g.type.shape[lead + i] != 1)
    out = g
    if ones:
        out = _sum(out, ones, keepdims=True)
    if lead:
        out = _sum(out, tuple(range(lead)))
    return out


def _broadcast_to_infer(types, shape):
    src = types[0]
    dims = _template_dims(shape)
    lead = len(dims) - src.ndim
    if lead < 0:
        raise ShapeError(f"cannot broadcast {format_shape(src.shape)} to fewer dimensions "
                         f"{format_shape(dims)}")
    for i, d in enumerate(src.shape):
        t = dims[lead + i]
        if d != 1 and isinstance(d, int) and isinstance(t, int) and d != t:
            raise ShapeError(f"cannot broadcast {format_shape(src.shape)} to "
                             f"{format_shape(dims)}")
    return TensorType(src.dtype, tuple(dims))


def _broadcast_to_emit(args, shape):
    return Expr(f"np.broadcast_to({args[0].text}, {_template_text(shape, args[1:])})")


BROADCAST_TO = defop(
    "broadcast_to", infer=_broadcast_to_infer, emit=_broadcast_to_emit,
    vjp=lambda g, out, x, *sizes, shape: [sum_to(g, x)] + [None] * len(sizes), view=True,
    inline=False, linear="first", entries="broadcast",
        array_api=xpf.broadcast_to)


def broadcast_to(x, shape):
    """NumPy's broadcast_to; entries may be symbolic sizes such as ``y.shape[0]``."""
    x = as_var(x)
    template, extra = _shape_template(shape, "broadcast_to")
    return apply(BROADCAST_TO, [x] + extra, shape=template)


def _broadcast_like_infer(types):
    src, ref = types
    lead = ref.ndim - src.ndim
    if lead < 0:
        raise ShapeError(f"cannot broadcast {src} to the shape of {ref}")
    for i, d in enumerate(src.shape):
        r = ref.shape[lead + i]
        if d != 1 and isinstance(d, int) and isinstance(r, int) and d != r:
            raise ShapeError(f"cannot broadcast {src} to the shape of {ref}")
    return TensorType(src.dtype, ref.shape)


BROADCAST_LIKE = defop(
    "broadcast_like", infer=_broadcast_like_infer,
    emit=lambda a: Expr(f"np.broadcast_to({a[0].text}, {a[1].atom}.shape)"),
    vjp=lambda g, out, x, ref: [sum_to(g, x), None], view=True, inline=False,
    short="bcast", shape_only=(1,), linear="first", entries="broadcast",
    batch=_like_batch(lambda x, ref, rank, fx, shape: (
        broadcast_like(_lifted(x, rank, fx), ref) if ref is not None
        else broadcast_to(_lifted(x, rank, fx), shape))),
            array_api="xp.broadcast_to({0}, {1.atom}.shape)")


def broadcast_like(x, ref):
    """``x`` broadcast to the shape of ``ref`` (no data of ``ref`` is read)."""
    x, ref = as_var(x), as_var(ref)
    if x.type.shape == ref.type.shape:
        return x
    return apply(BROADCAST_LIKE, [x, ref])


# ---------------------------------------------------------------------------------------
# casts and fills
# ---------------------------------------------------------------------------------------

def _astype_vjp(g, out, x, dtype):
    # A cast to an integer or bool dtype has no derivative (its value is piecewise
    # constant): no cotangent reaches ``x``, as in JAX and PyTorch. Forward mode agrees,
    # since tangents never flow through non-float nodes. Float-to-float casts pass the
    # cotangent back in ``x``'s dtype; a cast from an integer input has nothing to pass.
    if not (x.type.is_float and out.type.is_float):
        return [None]
    return [astype(g, x.dtype)]


ASTYPE = defop("astype", infer=lambda types, dtype: types[0].with_dtype(dtype),
               emit=lambda a, dtype: Expr(f"{a[0].atom}.astype(np.{dtype})"),
               vjp=_astype_vjp, elementwise=True, inline=True, short="cast", linear="first",
               entries="same",
                   array_api=xpf.astype)


SIZE_AS_HELPER = '''def _size_as(n, low, high, dtype):
    """The size `n` as a Python int, refused where it lies outside [low, high]: the range
    of the integer dtype it meets (NumPy refuses such a Python int rather than wrap it)."""
    n = int(n)
    if not low <= n <= high:
        raise OverflowError(f"the size {n} does not fit in {dtype} ({low} to {high}), the "
                            "dtype of the array it meets")
    return n'''


def _size_as_emit(args, dtype, xp=False):
    dt = np.dtype(dtype)
    if dt.kind not in "iu":     # a float: the size converted as NumPy converts a Python int
        if xp:
            return Expr(f"xp.asarray(float({args[0].text}), dtype={xpf.dtype_text(dt.name)}, "
                        "device=device)")
        return Expr(f"np.{dt.name}({args[0].text})")
    info = np.iinfo(dt)
    return Expr(f"_size_as({args[0].text}, {int(info.min)}, {int(info.max)}, {dt.name!r})")


# A symbolic size (a Python int at run time, or an int64 0-d array where a program takes
# it as an input: data_parallel's batch size) with the dtype a Python int takes beside an
# array (leaves.weak_size). An integer one stays a Python int in the generated code, so
# NumPy and the array API promote it as they promote a static size, and one that does not
# fit the dtype is an error where a cast would wrap it around (int32 + n * n); a float one
# is a scalar of that dtype.
SIZE_AS = defop("size_as", infer=lambda types, dtype: types[0].with_dtype(dtype),
                emit=_size_as_emit, vjp=lambda g, out, x, dtype: [None],
                elementwise=True, inline=True, short="n", helpers=(SIZE_AS_HELPER,),
                array_api=(lambda args, dtype: _size_as_emit(args, dtype, xp=True),
                           (SIZE_AS_HELPER,)),
                doc="a symbolic size with the dtype a Python int takes beside an array: "
                    "the same Python int in the code, checked to fit an integer dtype")


def size_as(n, dtype):
    """The size ``n`` (a 0-d integer computed from sizes) typed as ``dtype``: the dtype a
    Python int takes beside an array of that dtype (no node when ``n`` has it)."""
    n = as_var(n)
    dt = as_dtype(dtype)
    if n.dtype == dt:
        return n
    return apply(SIZE_AS, [n], dtype=dt)


def astype(x, dtype):
    """``x`` converted to ``dtype`` (no node when it already has it)."""
    x = as_var(x)
    dt = as_dtype(dtype)
    if x.dtype == dt:
        return x
    return apply(ASTYPE, [x], dtype=dt.name)


def _fill_infer(types, value, dtype):
    t = types[0]
    return TensorType(dtype or t.dtype, t.shape)


def _fill_emit(args, value, dtype):
    dt = f", dtype=np.{dtype}" if dtype else ""
    if value == 0:
        return Expr(f"np.zeros_like({args[0].text}{dt})")
    if value == 1:
        return Expr(f"np.ones_like({args[0].text}{dt})")
    return Expr(f"np.full_like({args[0].text}, {value!r}{dt})")


FILL_LIKE = defop("fill_like", infer=_fill_infer, emit=_fill_emit, vjp=None, inline=False,
                  short="fill", shape_only=(0,), fills="value",
                  batch=lambda ins, batched, size, value, dtype: apply(
                      FILL_LIKE, ins, value=value, dtype=dtype),
                      array_api=xpf.same_names(_fill_emit))


def full_like(x, value, dtype=None):
    x = as_var(x)
    return apply(FILL_LIKE, [x], value=value, dtype=as_dtype(dtype).name if dtype else None)


def zeros_like(x, dtype=None):
    """An array of zeros with the shape (and by default the dtype) of ``x``."""
    return full_like(x, 0, dtype)


def ones_like(x, dtype=None):
    """An array of ones with the shape (and by default the dtype) of ``x``."""
    return full_like(x, 1, dtype)


def _arange_infer(types, dtype, length, **_):
    return TensorType(dtype, (length,))


def _arange_natural_dtype(start, step) -> np.dtype:
    """The dtype ``np.arange`` picks for these bounds with an integer stop."""
    return np.result_type(np.int64, *[np.asarray(v).dtype for v in (start, step)])


def _arange_emit(args, dtype, length, start=0, step=1, stop=None):
    n = args[0].text if args else repr(length if stop is None else stop)
    if isinstance(start, int) and start == 0 and step == 1:
        bounds = n
    elif step == 1 and not isinstance(step, float):
        bounds = f"{start!r}, {n}"
    else:
        bounds = f"{start!r}, {n}, {step!r}"
    natural = _arange_natural_dtype(start, step)
    if stop is not None:
        natural = np.result_type(natural, np.asarray(stop).dtype)
    dt = "" if dtype == natural.name else f", dtype=np.{dtype}"
    return Expr(f"np.arange({bounds}{dt})")


ARANGE = defop("arange", infer=_arange_infer, emit=_arange_emit, vjp=None, inline=True,
    array_api=xpf.arange(_arange_emit))


def _arange_number(v, what):
    if isinstance(v, Var) and v.op.leaf == "constant" and v.ndim == 0:
        v = v.value.item()
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError(f"arange: {what} must be finite, got {v!r}")
        return v
    return None


def arange(start, stop=None, step=None, dtype=None):
    """Evenly spaced values in ``[start, stop)``, as ``np.arange``.

    Parameters
    ----------
    start, stop, step : numbers
        NumPy's conventions: ``arange(stop)``, ``arange(start, stop)`` or
        ``arange(start, stop, step)`` (``start`` 0 and ``step`` 1 by default). ``stop`` may
        also be a symbolic size such as ``x.shape[0]`` (an integer scalar variable); the
        others must be Python numbers.
    dtype : dtype, optional
        The result's dtype; by default NumPy's (int64 for integer bounds, float64 when
        any of them is a float).

    Returns
    -------
    Var
        A 1-D array; a constant for differentiation.
    """
    if stop is None:
        start, stop = 0, start
    if step is None:
        step = 1
    bounds = {}
    for what, v in (("start", start), ("step", step)):
        num = _arange_number(v, what)
        if num is None:
            raise TypeError(f"arange: {what} must be a Python number (only stop may be a "
                            f"symbolic size), got {v!r}")
        bounds[what] = num
    start, step = bounds["start"], bounds["step"]
    if step == 0:
        raise ValueError("arange: step must not be zero")
    extra = {} if isinstance(start, int) and start == 0 and step == 1 else {
        "start": start, "step": step}
    n = _arange_number(stop, "stop")
    if n is None:
        if not isinstance(stop, Var):
            raise TypeError(f"arange: stop must be a number or a symbolic size such as "
                            f"x.shape[0], got {stop!r}")
        if stop.ndim != 0 or stop.dtype.kind not in "iu":
            raise TypeError(f"arange: a symbolic stop must be an integer scalar, got {stop!r}")
        dt = as_dtype(_arange_natural_dtype(start, step) if dtype is None else dtype).name
        d = dim_of(stop)
        if isinstance(d, int):
            length = len(np.arange(start, d, step, dtype=dt))
        else:  # a named size stays named only for np.arange(n)
            length = d if not extra else None
        return apply(ARANGE, [stop], dtype=dt, length=length, **extra)
    with np.errstate(all="ignore"):
        try:
            value = np.arange(start, n, step, dtype=None if dtype is None else as_dtype(dtype))
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"arange({start!r}, {n!r}, {step!r}): {exc}") from None
    if not extra and isinstance(n, int):
        return apply(ARANGE, [], dtype=value.dtype.name, length=len(value))
    return apply(ARANGE, [], dtype=value.dtype.name, length=len(value), start=start,
                 step=step, stop=n)


def _full_infer(types, shape, value, dtype):
    return TensorType(dtype, tuple(_template_dims(shape)))


def _full_emit(args, shape, value, dtype):
    dims = _template_text(shape, args)
    if value == 0 and not isinstance(value, bool):
        return Expr(f"np.zeros({dims}, dtype=np.{dtype})")
    if value == 1 and not isinstance(value, bool):
        return Expr(f"np.ones({dims}, dtype=np.{dtype})")
    return Expr(f"np.full({dims}, {value!r}, dtype=np.{dtype})")


FULL = defop("full", infer=_full_infer, emit=_full_emit, vjp=None, inline=False, fills="value",
    array_api=xpf.full)


def full(shape, fill_value, dtype=None):
    """An array of ``shape`` filled with ``fill_value``, as ``np.full``.

    ``shape`` entries are ints or symbolic sizes such as ``x.shape[0]``. With ``dtype``
    None the dtype is NumPy's for the value (float64 for a Python float, int64 for an
    int, bool for a bool). The result is a constant for differentiation.
    """
    if isinstance(fill_value, Var):
        raise TypeError("full: fill_value must be a number; to spread a variable over a "
                        "shape use sg.broadcast_to(value, shape)")
    if isinstance(fill_value, np.generic):
        fill_value = fill_value.item()
    if not isinstance(fill_value, (bool, int, float)):
        raise TypeError(f"full: fill_value must be a number, got {fill_value!r}")
    dt = as_dtype(np.asarray(fill_value).dtype if dtype is None else dtype)
    value = np.asarray(fill_value).astype(dt).item()
    template, extra = _shape_template(shape, "full")
    return apply(FULL, extra, shape=template, value=value, dtype=dt.name)


def zeros(shape, dtype="float64"):
    """An array of zeros, as ``np.zeros``; ``shape`` may hold symbolic sizes."""
    return full(shape, 0, dtype)


def ones(shape, dtype="float64"):
    """An array of ones, as ``np.ones``; ``shape`` may hold symbolic sizes."""
    return full(shape, 1, dtype)


def ravel(x):
    """``x`` as one dimension (row-major), as ``np.ravel``: ``reshape(x, (-1,))``."""
    x = as_var(x)
    if x.ndim == 1:
        return x
    return reshape(x, (-1,))


def flatten(x):
    """The same as ``ravel`` (NumPy's ``ndarray.flatten`` copies; symgrad values are
    never modified in place, so the two do not differ)."""
    return ravel(x)


# ---------------------------------------------------------------------------------------
# concatenate and stack
# ---------------------------------------------------------------------------------------

def _strict_dim(a, b, what):
    """Two dimensions that must be equal (no broadcasting): the more specific one."""
    if isinstance(a, int) and isinstance(b, int):
        if a != b:
            raise ShapeError(f"{what}: sizes {a} and {b} differ")
        return a
    if isinstance(a, int) or (isinstance(a, str) and b is None):
        return a
    return b if b is not None else a


def _join_infer(types, axis, what):
    first = types[0]
    for t in types[1:]:
        if t.ndim != first.ndim:
            raise ShapeError(f"all operands must have the same number of dimensions "
                             f"({first.ndim} vs {t.ndim})")
    shape = list(first.shape)
    for k, t in enumerate(types[1:], 1):
        for i, d in enumerate(t.shape):
            if i != axis:
                shape[i] = _strict_dim(shape[i], d, f"operand {k}, axis {i}")
    return shape, np.result_type(*[t.dtype for t in types])


def _concatenate_infer(types, axis):
    shape, dtype = _join_infer(types, axis, "concatenate")
    dims = [t.shape[axis] for t in types]
    shape[axis] = sum(dims) if all(isinstance(d, int) for d in dims) else None
    return TensorType(dtype, tuple(shape))


def _concat_part_infer(types, axis, part, dims):
    shape = list(types[0].shape)
    shape[axis] = dims[part]
    return TensorType(types[0].dtype, tuple(shape))


def _concat_part_sizes(args, axis, dims):
    """The text of each operand's size along ``axis``: an int, or a size input."""
    it = iter(args)
    return [str(d) if isinstance(d, int) else next(it).text for d in dims]


def _concat_part_emit(args, axis, part, dims):
    # g[..., start:stop] where start sums the preceding sizes (ints where static)
    g = args[0]
    sizes = _concat_part_sizes(args[1:], axis, dims)
    static = sum(d for d in dims[:part] if isinstance(d, int))
    start = ([str(static)] if static else []) + [
        s for d, s in zip(dims[:part], sizes) if not isinstance(d, int)]
    if part == len(dims) - 1:
        stop = ""
    elif all(isinstance(d, int) for d in dims[:part + 1]):
        stop = str(static + dims[part])
    else:
        stop = " + ".join(start + [sizes[part]])
    index = [":"] * axis + [f"{' + '.join(start)}:{stop}"]
    return Expr(f"{g.atom}[{', '.join(index)}]")


def _concat_part_vjp(g, out, gin, *sizes, axis, part, dims):
    # the transpose of taking a part: put it back between zeros
    it = iter(sizes)
    size_vars = [d if isinstance(d, int) else next(it) for d in dims]
    pieces = []
    for j, d in enumerate(size_vars):
        if j == part:
            pieces.append(g)
        else:
            shape = list(g.shape)
            shape[axis] = d
            pieces.append(full(tuple(shape), 0, g.dtype))
    return [concatenate(pieces, axis)] + [None] * len(sizes)


def _concat_part_batch(ins, batched, size, axis, part, dims):
    """vmap rule: the part of a batch of joined arrays (the sizes are never batched: a
    size read from a batched array is not, see ``shape_of``)."""
    if any(batched[1:]):
        return None
    return apply(CONCAT_PART, ins, axis=axis + 1, part=part, dims=dims)


CONCAT_PART = defop("concat_part", infer=_concat_part_infer, emit=_concat_part_emit,
                    vjp=_concat_part_vjp, view=True, inline=True, short="part", positionwise=True,
                    batch=_concat_part_batch,
                        array_api=xpf.concat_part(_concat_part_emit))


def _concatenate_vjp(g, out, *xs, axis):
    dims = tuple(x.type.shape[axis] for x in xs)
    sizes = [shape_of(x, axis) for x, d in zip(xs, dims) if not isinstance(d, int)]
    return [apply(CONCAT_PART, [g, *sizes], axis=axis, part=k, dims=dims)
            for k in range(len(xs))]


CONCATENATE = defop(
    "concatenate", infer=_concatenate_infer,
    emit=lambda a, axis: Expr(f"np.concatenate([{', '.join(x.text for x in a)}], "
                              f"axis={axis})"),
    vjp=_concatenate_vjp, inline=False, short="concat", positionwise=True, core="axis",
        array_api=xpf.concatenate)


def concatenate(arrays, axis=0):
    """Join a sequence of arrays along an existing ``axis``, as ``np.concatenate``.

    The cotangent of each operand is its slice of the result's cotangent.
    """
    if isinstance(arrays, Var) or not isinstance(arrays, (list, tuple)) or not arrays:
        raise TypeError("concatenate: expected a non-empty list or tuple of arrays")
    xs = _join_operands(arrays)
    if axis is None:
        xs, axis = [ravel(x) for x in xs], 0
    if any(x.ndim == 0 for x in xs):
        raise ValueError("concatenate: zero-dimensional arrays cannot be concatenated")
    axis = normalize_axes(axis, xs[0].ndim, "concatenate")[0]
    if len(xs) == 1:
        return xs[0]
    return apply(CONCATENATE, xs, axis=axis)


def _join_operands(arrays):
    like = next((a for a in arrays if isinstance(a, Var)), None)
    return [as_var(a, like) for a in arrays]


def _stack_infer(types, axis):
    shape, dtype = _join_infer(types, -1, "stack")
    shape.insert(axis, len(types))
    return TensorType(dtype, tuple(shape))


def _stack_vjp(g, out, *xs, axis):
    from .indexing import getitem
    lead = (slice(None),) * axis
    return [getitem(g, lead + (k,)) for k in range(len(xs))]


STACK = defop(
    "stack", infer=_stack_infer,
    emit=lambda a, axis: Expr(f"np.stack([{', '.join(x.text for x in a)}], axis={axis})"),
    vjp=_stack_vjp, inline=False, positionwise=True, core="axis",
        array_api=xpf.stack)


def stack(arrays, axis=0):
    """Join a sequence of same-shaped arrays along a new ``axis``, as ``np.stack``."""
    if isinstance(arrays, Var) or not isinstance(arrays, (list, tuple)) or not arrays:
        raise TypeError("stack: expected a non-empty list or tuple of arrays")
    xs = _join_operands(arrays)
    axis = normalize_axes(axis, xs[0].ndim + 1, "stack")[0]
    return apply(STACK, xs, axis=axis)


# ---------------------------------------------------------------------------------------
# one_hot
# ---------------------------------------------------------------------------------------

def one_hot(labels, num_classes, dtype="float64"):
    """Rows of ``num_classes`` entries with a 1 at each label:
    ``(labels[..., None] == arange(num_classes)).astype(dtype)``.

    ``labels`` is an integer array of any shape; ``num_classes`` an int or a symbolic
    size. A label outside ``[0, num_classes)`` gives a row of zeros.
    """
    from .elementwise import equal
    labels = as_var(labels)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"one_hot: labels must be integers, got {labels!r}")
    return astype(equal(expand_dims(labels, -1), arange(num_classes)), dtype)
