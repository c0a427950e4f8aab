"""Graph nodes.

Every value in a symgrad graph is a ``Var``: the result of one op applied to input
variables, with static parameters and a static ``TensorType``. Leaves are ops too:
``input`` (an argument of a compiled function), ``constant`` (a NumPy value baked into
the graph) and ``shared`` (a variable that owns a NumPy array that compiled functions read
and update).

Variables are immutable in everything that defines the computation (op, inputs, params,
type). The ``name`` is metadata that may be set later (``h.name = "h1"``); it never takes
part in structural equality. ``==`` is Python identity so that variables can be dict keys;
use ``sg.equal`` for the elementwise comparison.
"""

from __future__ import annotations

import contextlib
import itertools
from typing import Any

import numpy as np

from ..aligned import aligned_copy
from .types import TensorType, as_dtype, check_dim

_ids = itertools.count()

# Tag attached to every node created while it is set; autodiff uses it to mark the nodes
# that a derivative rule built (which forward node, which rule).
_current_tag: list = [None]


@contextlib.contextmanager
def building_tag(tag):
    """Attach ``tag`` to every node created inside the ``with`` block."""
    old = _current_tag[0]
    _current_tag[0] = tag
    try:
        yield
    finally:
        _current_tag[0] = old


class GradTag:
    """Marks a node built by a derivative rule: the forward node and the rule's name."""

    __slots__ = ("node", "rule")

    def __init__(self, node: "Var", rule: str):
        self.node = node
        self.rule = rule

    def __repr__(self) -> str:
        return f"GradTag({self.rule})"


def _freeze(value):
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, np.dtype):
        return value.name
    if isinstance(value, slice):
        return ("slice", value.start, value.stop, value.step)
    return value


class Var:
    """A symbolic tensor: the output of ``op`` applied to ``inputs``."""

    __array_ufunc__ = None  # make NumPy defer to our reflected operators
    __array_priority__ = 1000

    __slots__ = ("op", "inputs", "params", "type", "_name", "tag", "id", "__weakref__")

    def __init__(self, op, inputs: tuple, params: dict, type: TensorType, name: str | None = None):
        self.op = op
        self.inputs = tuple(inputs)
        self.params = params
        self.type = type
        self._name = None
        self.tag = _current_tag[0]
        self.id = next(_ids)
        if name is not None:
            self.name = name

    # --- metadata -------------------------------------------------------------------
    @property
    def name(self) -> str | None:
        return self._name

    @name.setter
    def name(self, value):
        if value is not None and not isinstance(value, str):
            raise TypeError(f"a variable's name must be a str or None, not {type(value).__name__}")
        self._name = value

    def rename(self, name: str) -> "Var":
        """Set the name (used by printers and by the generated source) and return self."""
        self.name = name
        return self

    @property
    def param_key(self) -> tuple:
        return tuple(sorted((k, _freeze(v)) for k, v in self.params.items()))

    @property
    def is_leaf(self) -> bool:
        return self.op.leaf

    @property
    def is_grad(self) -> bool:
        return isinstance(self.tag, GradTag)

    # --- type ------------------------------------------------------------------------
    @property
    def dtype(self) -> np.dtype:
        return self.type.dtype

    @property
    def ndim(self) -> int:
        return self.type.ndim

    @property
    def shape(self) -> tuple:
        """Python ints where static; symbolic int64 scalars elsewhere."""
        from ..ops import shape as _shape
        return tuple(d if isinstance(d, int) else _shape.shape_of(self, i)
                     for i, d in enumerate(self.type.shape))

    @property
    def size(self):
        from ..ops import shape as _shape
        return _shape.size_of(self)

    def __repr__(self) -> str:
        label = self.name or self.op.name
        return f"<Var {label}: {self.type}>"

    def __str__(self) -> str:
        return self.name or f"{self.op.name}:{self.type}"

    def __bool__(self):
        raise TypeError(
            f"the truth value of symbolic variable {self} is unknown while building; use "
            "sg.where for a data-dependent choice, and 'is' to compare variables")

    def __len__(self):
        d = self.type.shape[0] if self.type.shape else None
        if isinstance(d, int):
            return d
        raise TypeError(f"len() of {self!r}: the first dimension is not static; use x.shape[0]")

    def __iter__(self):
        raise TypeError(f"symbolic variable {self!r} is not iterable; index it instead")

    # --- operators (defined by the ops package) ---------------------------------------
    def __add__(self, o): return _ops().add(self, o)
    def __radd__(self, o): return _ops().add(o, self)
    def __sub__(self, o): return _ops().subtract(self, o)
    def __rsub__(self, o): return _ops().subtract(o, self)
    def __mul__(self, o): return _ops().multiply(self, o)
    def __rmul__(self, o): return _ops().multiply(o, self)
    def __truediv__(self, o): return _ops().divide(self, o)
    def __rtruediv__(self, o): return _ops().divide(o, self)
    def __floordiv__(self, o): return _ops().floor_divide(self, o)
    def __rfloordiv__(self, o): return _ops().floor_divide(o, self)
    def __mod__(self, o): return _ops().remainder(self, o)
    def __rmod__(self, o): return _ops().remainder(o, self)
    def __pow__(self, o): return _ops().power(self, o)
    def __rpow__(self, o): return _ops().power(o, self)
    def __matmul__(self, o): return _ops().matmul(self, o)
    def __rmatmul__(self, o): return _ops().matmul(o, self)
    def __neg__(self): return _ops().negative(self)
    def __pos__(self): return self
    def __abs__(self): return _ops().abs(self)
    def __lt__(self, o): return _ops().less(self, o)
    def __le__(self, o): return _ops().less_equal(self, o)
    def __gt__(self, o): return _ops().greater(self, o)
    def __ge__(self, o): return _ops().greater_equal(self, o)
    def __and__(self, o): return _ops().bitwise_and(self, o)
    def __rand__(self, o): return _ops().bitwise_and(o, self)
    def __or__(self, o): return _ops().bitwise_or(self, o)
    def __ror__(self, o): return _ops().bitwise_or(o, self)
    def __xor__(self, o): return _ops().bitwise_xor(self, o)
    def __rxor__(self, o): return _ops().bitwise_xor(o, self)
    def __invert__(self): return _ops().invert(self)
    __hash__ = object.__hash__

    def __eq__(self, other):  # identity, so that variables can be dict keys
        return self is other

    def __ne__(self, other):
        return self is not other

    def __getitem__(self, index): return _ops().getitem(self, index)

    # pickling (iterative, whatever the depth of the graph): see symgrad/pickling.py
    def __reduce__(self):
        from ..pickling import reduce_var
        return reduce_var(self)

    def __setstate__(self, state):
        from ..pickling import restore_var
        restore_var(self, state)

    @property
    def T(self): return _ops().transpose(self)

    def transpose(self, *axes):
        if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (tuple, list))):
            axes = axes[0]
        return _ops().transpose(self, axes or None)

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = shape[0]
        return _ops().reshape(self, tuple(shape))

    def astype(self, dtype): return _ops().astype(self, dtype)
    def sum(self, axis=None, keepdims=False, **kw):
        return _ops().sum(self, axis, keepdims=keepdims, **kw)

    def mean(self, axis=None, keepdims=False, **kw):
        return _ops().mean(self, axis, keepdims=keepdims, **kw)

    def max(self, axis=None, keepdims=False): return _ops().max(self, axis, keepdims=keepdims)
    def min(self, axis=None, keepdims=False): return _ops().min(self, axis, keepdims=keepdims)

    def __getattr__(self, attr):
        # Methods named like NumPy's that the ops package may add (prod, var, argmax...).
        if attr.startswith("_"):
            raise AttributeError(attr)
        fn = getattr(_ops(), attr, None)
        if fn is not None and attr in _METHODS:
            return lambda *a, **k: fn(self, *a, **k)
        raise AttributeError(f"symbolic variable has no attribute {attr!r}")


_METHODS = {"prod", "var", "std", "argmax", "argmin", "squeeze", "clip", "dot", "flatten",
            "ravel", "cumsum"}


def _ops():
    from .. import ops
    return ops


class SharedVariable(Var):
    """A variable that owns a NumPy array; compiled functions read it and may update it."""

    __slots__ = ("_value",)

    def __init__(self, op, value: np.ndarray, name: str | None):
        super().__init__(op, (), {}, TensorType(value.dtype, value.shape), name)
        self._value = value

    @property
    def value(self) -> np.ndarray:
        """A copy of the current value (compiled functions update the array itself in
        place, so a reference would change under you; ``get_value(borrow=True)`` gives
        that reference). Assigning checks shape and dtype, and stores a copy."""
        return self._value.copy()

    @value.setter
    def value(self, new):
        arr = np.asarray(new)
        if arr.dtype.kind in "OUSVM":
            raise TypeError(f"shared variable {self.name!r}: cannot store {arr.dtype} data")
        if arr.shape != self.type.shape:
            raise ValueError(f"shared variable {self.name!r} has shape {self.type.shape}; "
                             f"the new value has shape {arr.shape}")
        if arr.dtype != self.type.dtype:
            if not np.can_cast(arr.dtype, self.type.dtype, "same_kind"):
                raise TypeError(f"shared variable {self.name!r} has dtype {self.type.dtype}; "
                                f"cannot store {arr.dtype} data (not a same_kind cast)")
        self._value = aligned_copy(arr, self.type.dtype)

    def get_value(self, borrow: bool = False) -> np.ndarray:
        """The current value: a copy, or with ``borrow=True`` the array itself, which
        every call of a compiled function that updates this variable overwrites."""
        return self._value if borrow else self._value.copy()

    def set_value(self, new) -> None:
        self.value = new

    def __repr__(self) -> str:
        return f"<SharedVariable {self.name}: {self.type}>"


def normalize_shape(shape, where: str) -> tuple:
    if shape is None:
        return ()
    if isinstance(shape, (int, str, np.integer)):
        shape = (shape,)
    try:
        return tuple(check_dim(d, where) for d in shape)
    except TypeError:
        raise


def coerce_value(value: Any, name: str | None = None) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind in "OUSVMm":
        who = f" {name!r}" if name else ""
        raise TypeError(f"cannot make a symgrad value{who} from {arr.dtype} data")
    as_dtype(arr.dtype)
    return arr
