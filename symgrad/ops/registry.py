"""The op registry: one ``OpDef`` holds everything about an op.

An op is defined in one place, by one ``defop(...)`` call:

* ``infer(input_types, **params) -> TensorType``: the shape and dtype rule. It raises
  ``ShapeError``/``TypeError`` with a message about the operands; ``apply`` prefixes the
  op's name and the operands' names and types.
* ``emit(args, **params) -> Expr``: the NumPy expression, given the inputs' expressions.
  A format string such as ``"np.exp({0})"`` is accepted as a shortcut (the result is an
  atom: a call, a name or a subscript).
* ``vjp(g, out, inputs, **params) -> [cotangent or None per input]``: the reverse-mode
  rule, written with symgrad ops only, so it can itself be differentiated. ``out`` is the
  node itself, so ``exp``'s rule is ``g * out``. Each cotangent must have its input's
  shape (elementwise ops get this for free through ``elementwise=True``).
* ``jvp(tangents, out, inputs, **params) -> tangent``: optional forward-mode rule; when it
  is missing, forward mode derives it from the VJP (the VJP is linear in its cotangent).
* flags: ``elementwise`` (NumPy broadcasting applies; cotangents are summed back to the
  input shape automatically), ``nondiff`` (no gradient flows through it), ``commutative``,
  ``view`` (the result may share memory with input 0), ``random`` (never merged by CSE,
  a constant for differentiation), ``inline`` (a single-use value may be written inside
  its consumer's expression), ``sympy`` (the elementwise SymPy form), ``helpers`` (extra
  module-level functions the emission calls), ``shape_only`` (positions of inputs read
  only for their shape, never their data: ``broadcast_like``'s reference, say).

Facts that the passes, the code generator and the printers read instead of testing op
names (an op that says nothing gets the conservative default):

* ``leaf``: None for an op; for a leaf of the graph, where its value comes from:
  ``"input"`` (an argument of the compiled function), ``"constant"`` (a value baked into
  the graph: ``node.value``) or ``"shared"`` (a ``SharedVariable``: state of the function).
* ``linear``: in which inputs the value is linear (degree-1 homogeneous), the others held
  fixed; the learning-rate folding (``codegen/lower``) follows a gradient through such
  ops. ``"jointly"``: in all inputs together (``add``, ``subtract``, ``index_add``);
  ``"first"``: in input 0 alone (``negative``, ``divide``, ``sum``, ``astype``, reshapes,
  broadcasts, ``getitem``...); ``"each"``: in each input, one varying at a time
  (``multiply``, ``matmul``, ``tensordot``, ``einsum``); ``"branches"``: in the inputs
  after a fixed condition, together, a zero branch included (``where``); None: not linear.
* ``identity``: the value is input 0's, unchanged (``stop_gradient``: only
  differentiation tells them apart); the emission may return input 0 itself.
* ``entries``: how the entries of input 0 make the result's: ``"broadcast"`` (each entry
  repeated along new or size-1 axes: ``broadcast_to``, ``broadcast_like``), ``"same"``
  (the entries in their places, the shape or the dtype changed: ``expand_dims``,
  ``squeeze``, ``astype``), ``"moved"`` (the same entries in another order: ``reshape``,
  ``reshape_like``, ``transpose``); None: anything else. Rules see through such ops to a
  constant's value; ``to_sympy`` drops them (a ``"moved"`` op only over one element).
  ``identity`` ops keep their entries too but are never seen through: they are gradient
  barriers.
* ``fills``: the name of the parameter that every entry equals (``fill_like``, ``full``:
  ``"value"``).
* ``ufunc``: the NumPy ufunc of the op: ``np.<ufunc>(..., out=)`` for an elementwise op,
  ``np.<ufunc>.reduce`` for a ``"fold"`` reduction, ``"matmul"`` for the matrix product.
* ``reduction``: None, or how the op reduces over its ``axis`` parameter (its result is a
  new array): ``"fold"`` (``np.<ufunc>.reduce``: ``sum``, ``max``, ``min``, ``prod``),
  ``"mean"`` (the ``add`` fold divided by the count), ``"index"`` (the position of an
  extreme: ``argmax``, ``argmin``).
* ``writes``: a special form that writes the op into a given array, for planned code:
  ``"scatter_add"`` (``x[index] += g``, in place on input 0: ``index_add``) or
  ``"gemm_update"`` (``c -= a @ b`` in place on input 0, one BLAS call: ``matmul_sub``).
* ``python_int``: the emission is a Python int read from a shape (``shape_of``,
  ``size_of``), not a NumPy value.
* ``positive``: the value is positive by construction, though it may underflow to 0
  (``exp``, ``sigmoid``); stability rules rely on it.
* ``truth_inputs``: positions of inputs read as truth values, nonzero meaning true (the
  logical ops; ``where``'s condition); ``to_sympy`` gives the ``sympy`` form truth values
  there and numbers elsewhere.
* ``batch(inputs, batched, size, **params) -> Var | None``: the batching rule for
  ``sg.vmap`` (autodiff/vmap.py), tried before the generic rules from the facts:
  ``inputs`` are the new inputs, those flagged in ``batched`` with a leading batch axis of
  ``size`` (an int, or an int64 scalar variable for a symbolic batch); it returns the
  op's result for the whole batch (batch axis first), ``Unbatched(v)`` when the result
  does not depend on the batch after all (a size read from a batched array's shape), or
  None to leave the case to the generic rules (and failing those, to the op applied once
  per element). Elementwise ops, reductions, transposes, axis insertions, reshapes and
  ops with a ``core`` need none.
* ``core``: the axes one problem of the op lives on, the other axes being a stack of
  independent problems; ``sg.vmap`` batches such an op by adding its batch axis to the
  stack. ``"axis"``: the axis named by the op's int ``axis`` parameter, every input having
  the result's other axes in the same order (``stack``: all but its new one), so one
  leading axis on every input, with ``axis`` shifted by one, solves every problem at once
  (``argsort``, ``permute_along``, ``cumsum``, ``linear_scan``, ``concatenate``); an int
  ``k``, or a tuple of one int per input: the last ``k`` axes of each input, the axes
  before them a stack that broadcasts between the inputs as NumPy's batch axes do
  (``inv``, ``det``, ``cholesky``, ``eigh``, ``qr``, ``tril``; ``solve`` for a ``b`` of two
  or more axes); None: neither.
* ``positionwise``: along every axis of the result except the one named by the op's
  ``axis`` parameter (if any), each position depends only on the same position of the
  inputs: the op never mixes entries across those axes (``concatenate``, ``stack``,
  ``cumsum`` along its axis only, run-time checks). Elementwise ops, reductions and
  entry-moving ops say so through their own facts. ``sg.distributed`` reads it to know
  which ops keep the examples of a batch apart.
* ``label``: a word for the comment of a forward line computing the op in generated code
  (the activations: ``"relu"``, ``"tanh"``...); None: no such comment.
* ``sympy``: also read backwards: ``from_sympy`` turns the SymPy function an op's
  ``sympy`` names (a SymPy class such as ``sympy.exp`` or ``sympy.StrictLessThan``) back
  into the op's public function.
* ``array_api``: optional; the emission for ``target="array_api"`` (the array API standard
  through the namespace ``xp``): a template (``"xp.exp({0})"``), a function like ``emit``,
  a pair ``(template or function, helpers)``, or ``refuse("why")``. Without it, operators
  and ufuncs whose name and arguments are the standard's keep their NumPy emission with
  ``xp.`` (``symgrad/codegen/array_api.py``).

User-defined ops use the same ``defop`` (see docs/adding_an_op.md).
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Sequence

from ..ir.node import Var, add_location_note, user_location
from ..ir.types import ShapeError, TensorType

# Python operator precedences used to parenthesise emitted expressions.
PREC_TERNARY = 1
PREC_OR = 2
PREC_AND = 3
PREC_NOT = 4
PREC_CMP = 6
PREC_BITOR = 7
PREC_BITAND = 9
PREC_ADD = 11
PREC_MUL = 12
PREC_UNARY = 13
PREC_POW = 14
PREC_ATOM = 20


class Expr(NamedTuple):
    """An emitted Python expression and its precedence."""

    text: str
    prec: int = PREC_ATOM

    def at(self, prec: int) -> str:
        """The text, parenthesised if it binds less tightly than ``prec``."""
        return self.text if self.prec >= prec else f"({self.text})"

    @property
    def atom(self) -> str:
        return self.at(PREC_ATOM)

    def __str__(self) -> str:  # for format templates: arguments of calls need no parens
        return self.text


class Statement(str):
    """What a statement lowering (``codegen/lower/statements.py``) returns for a statement
    that updates ``out`` in place and has
    no value of its own (``out[rows, y] += g``): the emitter writes it as a line and
    names the result after ``out``. ``note`` is added to the line's comment."""

    note: str

    def __new__(cls, text: str, note: str = ""):
        self = super().__new__(cls, text)
        self.note = note
        return self


# the values the fact fields take (see the module docstring)
LEAF_KINDS = ("input", "constant", "shared")
LINEAR = ("jointly", "first", "each", "branches")
ENTRIES = ("broadcast", "same", "moved")
REDUCTIONS = ("fold", "mean", "index")
WRITES = ("scatter_add", "gemm_update")


class OpDef:
    """Everything about one op. Instances are created by ``defop``."""

    def __init__(self, name: str, *, infer: Callable, emit, vjp: Callable | None = None,
                 jvp: Callable | None = None, elementwise: bool = False, nondiff: bool = False,
                 commutative: bool = False, view: bool = False, leaf: str | None = None,
                 random: bool = False, inline: bool | None = None, sympy: Callable | None = None,
                 helpers: Sequence[str] = (), short: str | None = None, doc: str = "",
                 ufunc: str | None = None, shape_only: Sequence[int] = (),
                 linear: str | None = None,
                 identity: bool = False, entries: str | None = None, fills: str | None = None,
                 reduction: str | None = None, writes: str | None = None,
                 python_int: bool = False, positive: bool = False, label: str | None = None,
                 truth_inputs: Sequence[int] = (), batch: Callable | None = None,
                 core=None, positionwise: bool = False, array_api=None):
        if not (core is None or core == "axis" or isinstance(core, int) or (
                isinstance(core, tuple) and all(isinstance(k, int) for k in core))):
            raise ValueError(f"op {name!r}: core={core!r}; expected None, 'axis', an int "
                             "or a tuple of ints")
        for field, value, allowed in (("leaf", leaf, LEAF_KINDS), ("linear", linear, LINEAR),
                                      ("entries", entries, ENTRIES),
                                      ("reduction", reduction, REDUCTIONS),
                                      ("writes", writes, WRITES)):
            if value is not None and value is not False and value not in allowed:
                raise ValueError(f"op {name!r}: {field}={value!r}; expected None or one of "
                                 f"{', '.join(map(repr, allowed))}")
        self.name = name
        self.infer = infer
        self.emit = _template_emitter(emit) if isinstance(emit, str) else emit
        self.vjp = vjp
        self.jvp = jvp
        self.elementwise = elementwise
        self.nondiff = nondiff or vjp is None
        self.commutative = commutative
        self.view = view
        self.leaf = leaf or None
        self.random = random
        self.inline = elementwise if inline is None else inline
        self.sympy = sympy
        self.helpers = tuple(helpers)
        self.short = short or name
        self.doc = doc
        self.ufunc = ufunc
        self.shape_only = tuple(shape_only)
        self.linear = linear
        self.identity = identity
        self.entries = entries
        self.fills = fills
        self.reduction = reduction
        self.writes = writes
        self.python_int = python_int
        self.positive = positive
        self.label = label
        self.truth_inputs = tuple(truth_inputs)
        self.batch = batch
        self.core = core
        self.positionwise = positionwise
        self.array_api = array_api

    def __repr__(self) -> str:
        return f"<op {self.name}>"

    def __reduce__(self):  # by name and defining module: see symgrad/pickling.py
        from ..pickling import reduce_op
        return reduce_op(self)


class Unbatched(NamedTuple):
    """What a ``batch`` rule returns for a result that does not depend on the batch."""

    value: Var


def _template_emitter(template: str):
    def emit(args, **params):
        return Expr(template.format(*args, **params), PREC_ATOM)
    return emit


REGISTRY: dict[str, OpDef] = {}


def defop(name: str, **kwargs) -> OpDef:
    """Define and register an op (see the module docstring); returns its ``OpDef``.

    Registering a name twice is an error unless ``replace=True`` is given.
    """
    replace = kwargs.pop("replace", False)
    if name in REGISTRY and not replace:
        raise ValueError(f"an op named {name!r} is already registered")
    if not name.isidentifier():
        raise ValueError(f"op name {name!r} must be a Python identifier")
    op = OpDef(name, **kwargs)
    REGISTRY[name] = op
    return op


def get_op(name: str) -> OpDef:
    return REGISTRY[name]


def describe(v: Var) -> str:
    label = f"'{v.name}'" if v.name else v.op.name
    return f"{label} {v.type}"


def apply(op: OpDef, inputs: Sequence[Var], **params) -> Var:
    """Create the node ``op(*inputs, **params)`` after checking its type rule."""
    for v in inputs:
        if not isinstance(v, Var):
            raise TypeError(f"{op.name}: inputs must be symgrad variables, got {type(v).__name__}")
    try:
        t = op.infer([v.type for v in inputs], **params)
    except (ShapeError, TypeError, ValueError) as exc:
        operands = ", ".join(describe(v) for v in inputs)
        err = type(exc)(f"{op.name}({operands}): {exc}")
        add_location_note(err, user_location(1))
        raise err from None
    if not isinstance(t, TensorType):
        raise TypeError(f"op {op.name}: its infer rule returned {t!r}, not a TensorType")
    return Var(op, tuple(inputs), params, t)


def emit_infix(symbol: str, prec: int):
    """Emission for a left-associative binary operator."""
    def emit(args, **_):
        a, b = args
        return Expr(f"{a.at(prec)} {symbol} {b.at(prec + 1)}", prec)
    return emit

