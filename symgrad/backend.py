"""Arrays of other libraries: namespaces, devices, and the checks of an array-API call.

symgrad needs NumPy alone; CuPy, PyTorch and ``array_api_strict`` arrays are recognised
through ``array_api_compat`` (the optional extra ``array``). A shared variable keeps its
value's library and device; a function compiled for ``target="array_api"`` takes the
namespace ``xp`` and the device of its arrays at every call and refuses arrays of another
library or device with an error naming the input, before anything is computed or updated.
Nothing is ever copied between libraries or devices behind the caller's back: Python
numbers (a learning rate) are the only values made on the call's device.

A random stream's call counter (``StreamCounter``, a NumPy int64 scalar on the host) is the
one exception: it is read as a Python int (``int(counter)``) and its next value stored back
as a NumPy scalar, whatever the namespace.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .ir.types import check_int_fits

_DTYPE_NAMES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                "uint64", "float32", "float64", "complex64", "complex128")


def compat():
    """``array_api_compat``, or an ImportError that says how to install it."""
    try:
        import array_api_compat
    except ImportError:
        raise ImportError("arrays of libraries other than NumPy (target='array_api') need "
                          "array-api-compat: pip install 'symgrad[array]'") from None
    return array_api_compat


# per array type, what does not change from call to call (a call's arguments are checked
# with these on every call: looking them up is cheaper than asking array_api_compat)
_FOREIGN_TYPES: set = set()         # array types of other libraries seen so far
_NAMESPACES: dict = {}              # array type -> its namespace
_NUMPY_DTYPES: dict = {}            # dtype object of any library -> the NumPy dtype
_LIBRARIES: dict = {}               # array type -> its library's name
_PLAIN_DEVICE = ("torch", "cupy", "array_api_strict")    # whose .device is the standard's


def is_foreign(value) -> bool:
    """An array of a library other than NumPy (a torch tensor, a CuPy or array_api_strict
    array ...)."""
    if type(value) in _FOREIGN_TYPES:
        return True
    if isinstance(value, (np.ndarray, np.generic, numbers.Number, list, tuple)):
        return False
    if not hasattr(value, "shape") or not hasattr(value, "dtype"):
        return False
    try:
        foreign = bool(compat().is_array_api_obj(value))
    except ImportError:
        return False
    if foreign:
        _FOREIGN_TYPES.add(type(value))
    return foreign


def is_array(value) -> bool:
    return isinstance(value, np.ndarray) or is_foreign(value)


def namespace(value):
    xp = _NAMESPACES.get(type(value))
    if xp is None:
        xp = _NAMESPACES[type(value)] = compat().array_namespace(value)
    return xp


def device(value):
    return placement(value)[1]


def library(value) -> str:
    """``torch``, ``cupy``, ``array_api_strict``, ``numpy`` ... for an array."""
    lib = _LIBRARIES.get(type(value))
    if lib is None:
        lib = "numpy" if isinstance(value, np.ndarray) else type(value).__module__.split(".")[0]
        _LIBRARIES[type(value)] = lib
    return lib


def placement(value) -> tuple:
    """``(library, device)`` of an array."""
    lib = library(value)
    return lib, (value.device if lib in _PLAIN_DEVICE else compat().device(value))


def describe(value) -> str:
    """'a torch array on cuda:0' for messages."""
    if not is_array(value):
        return f"a {type(value).__name__}"
    return f"an array of {library(value)} on {device(value)}"


def numpy_dtype(value) -> np.dtype:
    """The NumPy dtype of the same name as ``value.dtype`` (any array library)."""
    dt = value.dtype
    if isinstance(dt, np.dtype):
        return dt
    got = _NUMPY_DTYPES.get(dt)
    if got is not None:
        return got
    xp = namespace(value)
    for name in _DTYPE_NAMES:
        if getattr(xp, name, None) == dt:
            got = _NUMPY_DTYPES[dt] = np.dtype(name)
            return got
    raise TypeError(f"unsupported dtype {dt!r} of {describe(value)}")


def xp_dtype(xp, dtype: np.dtype):
    return getattr(xp, "bool" if dtype == np.bool_ else np.dtype(dtype).name)


def copy(value):
    """A copy of an array of any library, on its own device."""
    if isinstance(value, np.ndarray):
        return value.copy()
    return namespace(value).asarray(value, copy=True)


def assign(name: str, old, new, dtype: np.dtype, shape: tuple):
    """The value a shared variable holding the foreign array ``old`` stores when assigned
    ``new``: an array of ``old``'s library and device (a copy), of ``shape``, cast to
    ``dtype`` where NumPy's ``same_kind`` rule allows. Python numbers and lists are made
    on that device; arrays of another library or device are refused."""
    xp, dev = namespace(old), device(old)
    if is_array(new):
        if library(new) != library(old) or device(new) != dev:
            raise TypeError(f"shared variable {name!r} holds {describe(old)}; the new value is "
                            f"{describe(new)} (no silent copy between libraries or devices: "
                            "convert it first)")
        got = numpy_dtype(new)
    else:
        got = np.asarray(new).dtype
        if got.kind in "OUSVM":
            raise TypeError(f"shared variable {name!r}: cannot store {got} data")
        new = xp.asarray(np.asarray(new).tolist(), dtype=xp_dtype(xp, got), device=dev)
    if tuple(new.shape) != tuple(shape):
        raise ValueError(f"shared variable {name!r} has shape {tuple(shape)}; the new value "
                         f"has shape {tuple(new.shape)}")
    if got != dtype and not np.can_cast(got, dtype, "same_kind"):
        raise TypeError(f"shared variable {name!r} has dtype {dtype}; cannot store {got} data "
                        "(not a same_kind cast)")
    check_ints_fit(new, got, dtype, f"shared variable {name!r}")
    return xp.astype(new, xp_dtype(xp, dtype), copy=True)


def as_library(value: np.ndarray, like):
    """The NumPy array ``value`` as an array of ``like``'s library, on its device (``like``
    a NumPy array or None: ``value`` itself). For setting up parameters, never in a call."""
    if like is None or not is_foreign(like):
        return value
    xp = namespace(like)
    return xp.asarray(value, dtype=xp_dtype(xp, value.dtype), device=device(like))


def zeros_like(value):
    """Zeros of ``value``'s shape and dtype, in its library and on its device."""
    if not is_foreign(value):
        return np.zeros_like(value)
    return namespace(value).zeros_like(value)


class Pending:
    """An argument that is not an array (a Python number, a list): made on the call's
    device once its namespace is known."""

    __slots__ = ("value", "dtype", "shape")

    def __init__(self, value, dtype, shape):
        self.value, self.dtype, self.shape = value, dtype, shape

    def make(self, xp, dev):
        value = self.value
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, (list, tuple)):
            value = np.asarray(value).tolist()
        return xp.asarray(value, dtype=xp_dtype(xp, self.dtype), device=dev)


def convert(f, label, dtype, shape, value, sizes):
    """``Function._convert`` for the array-API target: arrays of any library are checked
    (dtype, shape) and cast where ``same_kind`` allows, on their own device; anything else
    becomes a ``Pending`` value made on the call's device."""
    from .ir.node import Var
    if isinstance(value, Var):
        raise TypeError(f"{f.name}(): input {label!r} got a symbolic variable; pass an array "
                        "or a number")
    if is_array(value):
        got = numpy_dtype(value)
        if got != dtype:
            if not np.can_cast(got, dtype, "same_kind"):
                raise TypeError(f"{f.name}(): input {label!r} expects {dtype}, got {got}: "
                                "that cast is not same_kind safe")
            xp = namespace(value)
            check_ints_fit(value, got, dtype, f"{f.name}(): input {label!r}")
            value = xp.astype(value, xp_dtype(xp, dtype))
        f._check_shape(label, shape, tuple(value.shape), sizes)
        return value
    if isinstance(value, (bool, int, float)):    # a Python number: no array made here
        got = np.result_type(value)
        if got != dtype and not np.can_cast(got, dtype, "same_kind"):
            raise TypeError(f"{f.name}(): input {label!r} expects {dtype}, got {got}: that "
                            "cast is not same_kind safe")
        check_int_fits(np.asarray(value), dtype, f"{f.name}(): input {label!r}")
        f._check_shape(label, shape, (), sizes)
        return Pending(value, dtype, ())
    try:
        arr = np.asarray(value)        # a list: its dtype and shape only
    except Exception as exc:
        raise TypeError(f"{f.name}(): input {label!r} expects {dtype} data; could not "
                        f"convert {type(value).__name__}: {exc}") from None
    if arr.dtype.kind in "OUSVMmc":
        raise TypeError(f"{f.name}(): input {label!r} expects {dtype} data, got {arr.dtype} "
                        f"({type(value).__name__})")
    if arr.dtype != dtype and not np.can_cast(arr.dtype, dtype, "same_kind"):
        raise TypeError(f"{f.name}(): input {label!r} expects {dtype}, got {arr.dtype}: that "
                        "cast is not same_kind safe")
    check_int_fits(arr, dtype, f"{f.name}(): input {label!r}")
    f._check_shape(label, shape, arr.shape, sizes)
    return Pending(value, dtype, arr.shape)


def check_ints_fit(value, got: np.dtype, dtype, what: str) -> None:
    """``check_int_fits`` for an array of any library (``got`` its NumPy dtype): an
    integer cast that would wrap a value around is refused, on the array's own device (two
    reductions, read back as Python ints)."""
    dtype = np.dtype(dtype)
    if (got.kind not in "iu" or dtype.kind not in "iu" or np.can_cast(got, dtype, "safe")
            or math.prod(value.shape) == 0):
        return
    xp = namespace(value)
    check_int_fits(np.array([int(xp.min(value)), int(xp.max(value))]), dtype, what)


def all_finite(value) -> bool:
    if isinstance(value, Pending):
        return bool(np.isfinite(np.asarray(value.value, dtype=value.dtype)).all())
    if numpy_dtype(value).kind != "f":
        return True
    xp = namespace(value)
    return bool(xp.all(xp.isfinite(value)))


def make_runner(fn, module, portable: set):
    """The call of a generated array-API function: the namespace and device of its arrays
    (one library, one device, else an error naming the input), Python numbers made there,
    the stream counters (positions ``portable`` among the shared parameters) read as ints,
    then ``fn(*arrays, xp=xp, device=device)``."""
    labels = list(module.param_names)
    n_in = len(labels) - len(module.shared)
    kinds = ["input"] * n_in + ["shared value"] * len(module.shared)
    counter_pos = {n_in + k for k in portable}
    counter_keys = {module.param_names[n_in + k] for k in portable}

    order = [*range(n_in, len(labels)), *range(n_in)]   # shared values first
    convert = bool(counter_pos)

    def run(*values):
        ref = None
        pending = convert
        for k in order:
            v = values[k]
            if k in counter_pos:
                continue
            if isinstance(v, Pending):
                pending = True
                continue
            where = placement(v)
            if ref is None:
                ref, ref_where = k, where
            elif where != ref_where:
                raise TypeError(
                    f"{module.name}(): {kinds[k]} {labels[k]!r} is {describe(v)}, but "
                    f"{kinds[ref]} {labels[ref]!r} is {describe(values[ref])}: the arrays of a "
                    "call must share one library and one device (nothing is copied for you)")
        if ref is None:
            xp, dev = compat().array_namespace(np.zeros(0)), "cpu"
        else:
            xp, dev = namespace(values[ref]), ref_where[1]
        args = values
        if pending:         # Python numbers made on the device, stream counters read
            args = []
            for k, v in enumerate(values):
                if isinstance(v, Pending):
                    v = v.make(xp, dev)
                elif k in counter_pos and ref is not None and ref_where[0] != "numpy":
                    v = xp.asarray(int(v), dtype=xp.int64, device=dev)
                args.append(v)
        outputs, new_shared = fn(*args, xp=xp, device=dev)
        for key in counter_keys:
            if key in new_shared:
                new_shared[key] = np.asarray(int(new_shared[key]), dtype=np.int64)
        return outputs, new_shared
    run.__wrapped__ = fn        # the generated function (diagnostics look for its frames)
    # the same call machinery around another build of the function (f.profile's timed one)
    run.runner_for = lambda other: make_runner(other, module, portable)
    return run


def function_namespace(shared) -> tuple | None:
    """(library, device, the variable) of the first foreign shared value, checking that
    every foreign shared value has that library and device; None when all are NumPy."""
    ref = None
    for s in shared:
        v = getattr(s, "_value", None)
        if v is None or not is_foreign(v):
            continue
        if ref is None:
            ref = (library(v), device(v), s)
        elif (library(v), device(v)) != ref[:2]:
            raise TypeError(f"shared variable {s.name!r} is {describe(v)} but shared variable "
                            f"{ref[2].name!r} is {describe(ref[2]._value)}: a function's arrays "
                            "must share one library and one device")
    return ref
