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
import os
import re
import sys
from typing import Any

import numpy as np

from ..aligned import aligned_copy
from .types import TensorType, as_dtype, check_dim, check_int_fits

_ids = itertools.count()


def id_mark() -> int:
    """A number below the id of every node made from now on: a pass that takes a mark
    when it starts knows which nodes it made itself (``n.id > mark``) and may set their
    name and tag; every older node is left exactly as it is."""
    return next(_ids)

# Tag attached to every node created while it is set; autodiff uses it to mark the nodes
# that a derivative rule built (which forward node, which rule).
_current_tag: list = [None]


@contextlib.contextmanager
def _holding(cell: list, value):
    """``cell[0] = value`` inside the ``with`` block."""
    old = cell[0]
    cell[0] = value
    try:
        yield
    finally:
        cell[0] = old


def building_tag(tag):
    """Attach ``tag`` to every node created inside the ``with`` block."""
    return _holding(_current_tag, tag)


# Where in user code a node was built: the first frame outside symgrad's own files (and
# NumPy's dispatch shims). While ``_current_loc[0]`` is set (the optimizer passes of one
# compile), new nodes take it instead of walking the stack.
_current_loc: list = [None]
_OWN_FILES = (os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep,
              "<__array_function__")


def user_location(skip: int = 1) -> tuple[str, int, str] | None:
    """``(file, line, function)`` of the nearest caller outside symgrad, or None.

    ``skip`` frames above this function's caller are passed over first. Cheap: a few
    attribute reads per frame, no file access (the line's text is read only when shown).
    """
    try:
        f = sys._getframe(skip + 1)
    except ValueError:
        return None
    own = _OWN_FILES
    while f is not None:
        code = f.f_code
        if not code.co_filename.startswith(own):
            return (code.co_filename, f.f_lineno, code.co_name)
        f = f.f_back
    return None


def building_location(loc):
    """Give ``loc`` to every node created inside the ``with`` block (None: find it)."""
    return _holding(_current_loc, loc)


def format_location(loc, cwd: str | None = None) -> str:
    """``file:line (in function)``; a file under the working directory is shown relative
    to it."""
    if not loc:
        return "unknown location"
    fname, line, func = loc
    cwd = os.getcwd() if cwd is None else cwd
    if fname.startswith(cwd + os.sep):
        fname = fname[len(cwd) + 1:]
    if _NOTEBOOK_CELL.search(fname) or fname.startswith("<ipython-input-"):
        where = f"notebook cell, line {line}"      # the kernel's file name says nothing
    else:
        where = f"{fname}:{line}"
    return where if func in ("<module>", None) else f"{where} (in {func})"


_NOTEBOOK_CELL = re.compile(r"[/\\]ipykernel_\d+[/\\]\d+\.py$")


def add_location_note(exc: BaseException, loc, what: str = "built at") -> None:
    """Add ``what file:line`` to ``exc``: a note (Python 3.11+), else the message."""
    if not loc:
        return
    note = f"{what} {format_location(loc)}"
    if hasattr(exc, "add_note"):
        exc.add_note(note)
    elif len(exc.args) == 1 and isinstance(exc.args[0], str):
        exc.args = (f"{exc.args[0]}\n{note}",)


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


_DEFINING = frozenset(("op", "inputs", "params", "type", "id"))


class Var:
    """A symbolic tensor: the output of ``op`` applied to ``inputs``."""

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        """``np.exp(x)``, ``array + x``, ``np.add.reduce(x)``: graph nodes (numpy_api.py)."""
        from ..numpy_api import array_ufunc
        return array_ufunc(ufunc, method, inputs, kwargs)

    def eval(self, inputs=None):
        """The value of this variable, given ``inputs`` (a dict from the input variables
        it depends on to their values; none needed for graphs of shared values and
        constants). Compiled once per graph and set of inputs, then cached.

        >>> import numpy as np, symgrad as sg
        >>> x = sg.vector("x", 2)
        >>> float(np.sum(np.exp(x)).eval({x: np.zeros(2)}))
        2.0
        """
        from ..function import evaluate
        return evaluate(self, inputs)

    def __array_function__(self, func, types, args, kwargs):
        """``np.sum(x, axis=0)``, ``np.dot(a, x)``, ``np.linalg.norm(x)``: graph nodes."""
        from ..numpy_api import array_function
        return array_function(func, types, args, kwargs)

    __array_priority__ = 1000

    __slots__ = ("op", "inputs", "params", "type", "_name", "tag", "id", "loc",
                 "__weakref__")

    def __init__(self, op, inputs: tuple, params: dict, type: TensorType, name: str | None = None):
        init = object.__setattr__
        init(self, "op", op)
        init(self, "inputs", tuple(inputs))
        init(self, "params", params)
        init(self, "type", type)
        init(self, "_name", None)
        init(self, "tag", _current_tag[0])
        init(self, "id", next(_ids))
        # (file, line, function) of the user code that built this node
        loc = _current_loc[0]
        init(self, "loc", loc if loc is not None else user_location(1))
        if name is not None:
            self.name = name

    def __setattr__(self, key, value):
        # what defines the computation is set once (here, or by unpickling) and never again
        if key in _DEFINING:
            try:
                getattr(self, key)
            except AttributeError:
                pass
            else:
                raise AttributeError(
                    f"{self!r}: a variable's {key!r} cannot be changed after it is made "
                    "(variables are immutable; build a new one instead)")
        object.__setattr__(self, key, value)

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

    def _repr_html_(self) -> str:
        """In a notebook: the type, where it was built, and its graph."""
        from ..display import var_html
        return var_html(self)

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
    def at(self):
        """Functional index updates, JAX's spelling: ``x.at[idx].set(v)``, ``.add(v)``,
        ``.multiply(v)`` return new variables (symgrad/ops/manip.py)."""
        from ..ops.manip import at
        return at(self)

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
            "ravel", "cumsum", "argsort", "repeat", "take", "any", "all"}


def _ops():
    from .. import ops
    return ops


class SharedVariable(Var):
    """A variable that owns a NumPy array; compiled functions read it and may update it."""

    __slots__ = ("_value",)

    def __init__(self, op, value: np.ndarray, name: str | None):
        if isinstance(value, np.ndarray):
            t = TensorType(value.dtype, value.shape)
        else:       # an array of another library (symgrad/backend.py), kept as it is
            from ..backend import numpy_dtype
            t = TensorType(numpy_dtype(value), tuple(value.shape))
        super().__init__(op, (), {}, t, name)
        self._value = value

    @property
    def value(self) -> np.ndarray:
        """A copy of the current value (compiled functions update the array itself in
        place, so a reference would change under you; ``get_value(borrow=True)`` gives
        that reference). Assigning checks shape and dtype, and stores a copy. A value of
        another library (CuPy, PyTorch ...) stays in that library and on its device."""
        if not isinstance(self._value, np.ndarray):
            from ..backend import copy
            return copy(self._value)
        return self._value.copy()

    @value.setter
    def value(self, new):
        if not isinstance(self._value, np.ndarray):
            from ..backend import assign
            self._value = assign(self.name, self._value, new, self.type.dtype, self.type.shape)
            return
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
            check_int_fits(arr, self.type.dtype, f"shared variable {self.name!r}")
        self._value = aligned_copy(arr, self.type.dtype)

    def get_value(self, borrow: bool = False) -> np.ndarray:
        """The current value: a copy, or with ``borrow=True`` the array itself, which
        every call of a compiled function that updates this variable overwrites."""
        return self._value if borrow else self.value

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
