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
* ``emit_out(node, args, out, ws) -> str | None``: optional; the statement that computes
  ``node`` into the array named ``out``, for planned code (``symgrad/codegen/memory.py``).
  ``ws`` offers read-only workspace arrays: ``ws.filled(shape, dtype, value)`` gives the
  name of an array full of ``value`` (or None where none can be made). Returning None
  falls back to the ufunc's own ``out=`` form; returning a ``Statement`` says the text
  updates ``out`` in place.
* ``array_api``: optional; the emission for ``target="array_api"`` (the array API standard
  through the namespace ``xp``): a template (``"xp.exp({0})"``), a function like ``emit``,
  a pair ``(template or function, helpers)``, or ``refuse("why")``. Without it, operators
  (``infix``) and ufuncs whose name and arguments are the standard's keep their NumPy
  emission with ``xp.`` (``symgrad/codegen/array_api.py``).

User-defined ops use the same ``defop`` (see docs/adding_an_op.md).
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Sequence

import numpy as np

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
    """What an ``emit_out`` returns for a statement that updates ``out`` in place and has
    no value of its own (``out[rows, y] += g``): the emitter writes it as a line and
    names the result after ``out``. ``note`` is added to the line's comment."""

    note: str

    def __new__(cls, text: str, note: str = ""):
        self = super().__new__(cls, text)
        self.note = note
        return self


class OpDef:
    """Everything about one op. Instances are created by ``defop``."""

    def __init__(self, name: str, *, infer: Callable, emit, vjp: Callable | None = None,
                 jvp: Callable | None = None, elementwise: bool = False, nondiff: bool = False,
                 commutative: bool = False, view: bool = False, leaf: bool = False,
                 random: bool = False, inline: bool | None = None, sympy: Callable | None = None,
                 helpers: Sequence[str] = (), short: str | None = None, doc: str = "",
                 infix: str | None = None, ufunc: str | None = None, cost: int = 1,
                 shape_only: Sequence[int] = (), emit_out: Callable | None = None,
                 array_api=None):
        self.name = name
        self.infer = infer
        self.emit = _template_emitter(emit) if isinstance(emit, str) else emit
        self.vjp = vjp
        self.jvp = jvp
        self.elementwise = elementwise
        self.nondiff = nondiff or vjp is None
        self.commutative = commutative
        self.view = view
        self.leaf = leaf
        self.random = random
        self.inline = elementwise if inline is None else inline
        self.sympy = sympy
        self.helpers = tuple(helpers)
        self.short = short or name
        self.doc = doc
        self.infix = infix
        self.ufunc = ufunc
        self.cost = cost
        self.shape_only = tuple(shape_only)
        self.emit_out = emit_out
        self.array_api = array_api

    def __repr__(self) -> str:
        return f"<op {self.name}>"


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


def constant_scalar_value(v: Var):
    """The Python number held by a 0-d (or all-equal) constant, else None."""
    if v.op.name != "constant":
        return None
    val = v.value
    if val.size == 0:
        return None
    if val.ndim == 0:
        return val.item()
    flat = val.reshape(-1)
    if val.size <= 4096 and np.all(flat == flat[0]):
        return flat[0].item()
    return None
