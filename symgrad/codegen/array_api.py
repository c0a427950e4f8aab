"""The array-API rendering (``target="array_api"``).

The same optimized program as the plain rendering, written against the Python array API
standard through two parameters of the generated function: ``xp``, the namespace of the
call's arrays (``array_api_compat.array_namespace``), and ``device``, their device. It runs
unchanged on NumPy, CuPy, PyTorch (CPU or CUDA) and ``array_api_strict`` arrays.

Where each op's form comes from (``emission``):

* the op's own ``defop(..., array_api=...)``: a template over ``xp`` (``"xp.exp({0})"``),
  a function like ``emit``, a pair ``(template or function, helpers)``, or
  ``refuse(reason)`` (``symgrad/ops/xp_forms.py``); a function marked ``reads_node`` is
  also given the node (``node=``), for forms that depend on the inputs' ranks and
  dtypes or on where an index comes from (the indexing forms);
* otherwise operators (``infix``: ``a + b``, ``a @ b``, ``a > b``) keep their NumPy text,
  and ufuncs whose name and arguments are the standard's (``STANDARD_UFUNCS``) become
  ``xp.<name>(...)``;
* any other op has no array-API form: compiling it for this target raises
  ``ArrayAPIError`` naming the op (``tests/test_array_api.py`` checks that every
  registered op has one).

Nothing is written in place (the standard's arrays may be immutable): every value,
update included, is a new array, returned and assigned by the runtime.
"""

from __future__ import annotations

import re

import numpy as np

from ..ir.node import Var
from ..ops.registry import REGISTRY, Expr, OpDef, _template_emitter
from ..ops.xp_forms import Refusal, dtype_text
from .emitter import _Emitter

# NumPy ufuncs whose array-API function has the same arguments (name: the standard's name)
STANDARD_UFUNCS = {name: name for name in (
    "abs", "exp", "log", "log1p", "expm1", "sqrt", "square", "sign", "sin", "cos", "tan",
    "floor", "ceil", "sinh", "cosh", "tanh", "maximum", "minimum", "logical_and",
    "logical_or", "logical_xor", "logical_not", "clip", "negative", "add", "subtract",
    "multiply", "divide", "floor_divide", "remainder", "less", "less_equal", "greater",
    "greater_equal", "equal", "not_equal", "bitwise_and", "bitwise_or", "bitwise_xor",
    "logaddexp")}
STANDARD_UFUNCS.update(power="pow", invert="bitwise_invert", arctan="atan",
                       arctan2="atan2", arcsin="asin", arccos="acos", arcsinh="asinh",
                       arccosh="acosh", arctanh="atanh", log2="log2", log10="log10",
                       hypot="hypot")


# ufuncs that NumPy runs on bools (the results bools) and the standard on numbers only
BOOL_AS_INT8 = frozenset(("abs", "maximum", "minimum", "multiply", "add", "less",
                          "less_equal", "greater", "greater_equal"))


def _numeric(op: OpDef) -> bool:
    """Non-elementwise ops whose inputs take the result's dtype (NumPy's promotion):
    arithmetic reductions, scans, products (from the op's facts)."""
    return bool(op.reduction in ("fold", "mean") or op.positionwise
                or op.ufunc == "matmul" or (op.linear == "each" and not op.elementwise))


def _is_operator(op: OpDef) -> bool:
    """An op emitted as a Python operator (``a + b``, ``a @ b``, ``-a``, ``a > b``): the
    standard's arrays have the same operators."""
    if not (op.elementwise or op.ufunc == "matmul") or op.helpers:
        return False
    for arity in (2, 1):
        try:
            text = op.emit([Expr(f"a{k}") for k in range(arity)]).text
        except Exception:       # another arity, or parameters needed
            continue
        return "np." not in text and "(" not in text.replace("(a", "")
    return False


def _cast_free(n: Var) -> bool:
    """Nodes whose inputs are never cast to the result's dtype: casts themselves,
    identities and indexing (the index arrays keep their integer dtype)."""
    op = n.op
    return bool(op.identity or (op.entries == "same" and op.elementwise)   # astype
                or "index" in n.params)                                     # gathers


class ArrayAPIError(TypeError):
    """An op that has no array-API form was compiled for ``target="array_api"``."""


def emission(op: OpDef):
    """``(emit, helpers)`` of ``op`` for the array-API target; raises ``ArrayAPIError``."""
    spec = op.array_api
    if isinstance(spec, Refusal):
        raise ArrayAPIError(f"op {op.name!r} has no array-API form: {spec.reason}")
    if spec is None:
        if _is_operator(op):              # operators are the standard's own
            return op.emit, ()
        name = STANDARD_UFUNCS.get(op.ufunc) or _standard_template(op)
        if name is not None:
            def call(args, **_):
                return Expr(f"xp.{name}({', '.join(a.text for a in args)})")
            return call, ()
        raise ArrayAPIError(
            f"op {op.name!r} has no array-API form (target='array_api'): give its defop an "
            "array_api= emission over the namespace xp, or array_api=refuse(reason)")
    helpers: tuple = ()
    if isinstance(spec, tuple):
        spec, helpers = spec
    if isinstance(spec, str):
        spec = _template_emitter(spec)
    return spec, tuple(helpers)


def _standard_template(op: OpDef) -> str | None:
    """The standard's name for an elementwise op whose NumPy emission is a template
    ``np.<ufunc>({0}, ...)`` of a function in ``STANDARD_UFUNCS``, else None."""
    if not op.elementwise or op.helpers:
        return None
    try:
        text = op.emit([Expr("{%d}" % k) for k in range(4)]).text
    except Exception:       # an emission that needs parameters: not a plain template
        return None
    m = re.fullmatch(r"np\.(\w+)\((\{\d\}(?:, \{\d\})*)\)", text)
    if m is None or m.group(2) != ", ".join("{%d}" % k for k in range(m.group(2).count("{"))):
        return None
    return STANDARD_UFUNCS.get(m.group(1))


def missing_forms() -> dict[str, str]:
    """Registered ops (leaves aside) without an array-API form, with the error each gives
    (refusals included)."""
    out = {}
    for name, op in REGISTRY.items():
        if op.leaf:
            continue
        try:
            emission(op)
        except ArrayAPIError as exc:
            out[name] = str(exc)
    return out


def check_graph(nodes) -> None:
    """Raise ``ArrayAPIError`` for the first op of ``nodes`` without an array-API form."""
    for n in nodes:
        if not n.op.leaf:
            emission(n.op)


_CACHE: dict[int, tuple] = {}


def _cached(op: OpDef):
    hit = _CACHE.get(id(op))
    if hit is None or hit[0] is not op:
        hit = _CACHE[id(op)] = (op, *emission(op))
    return hit[1], hit[2]


class ArrayAPIEmitter(_Emitter):
    """The plain emitter with the standard's spellings: ops through ``emission``, 0-d
    values as ``xp.asarray(..., device=device)``, constants made on the call's device,
    copies as ``xp.asarray(..., copy=True)``."""

    prefix = "xp."
    extra_params = ["*", "xp", "device"]

    def __init__(self, graph, inputs, fname, n_outputs):
        super().__init__(graph, inputs, fname, n_outputs, plan=False)
        self.names.taken.update(("xp", "device"))       # never a value's name

    def emit_op(self, n: Var, args: list[Expr]) -> Expr:
        if n.op.elementwise and n.op.ufunc in BOOL_AS_INT8 and n.inputs and all(
                i.dtype == np.bool_ for i in n.inputs):
            # NumPy's loops for bools (maximum is or, multiply is and, True > False) where
            # the standard takes numbers only: computed on 0/1 int8, read back as bools
            args = [Expr(f"xp.astype({a.text}, xp.int8)") if not self.scalar_like(i)
                    else Expr(str(int(i.value.item()))) if i.op.leaf == "constant"
                    else self.scalar(a.text, np.dtype(np.int8))
                    for a, i in zip(args, n.inputs)]
            emit, _ = _cached(n.op)
            if not any(a.text.startswith("xp.") for a in args):
                args[0] = self.scalar(args[0].text, np.dtype(np.int8))
            expr = emit(args, **n.params)
            return Expr(f"xp.astype({expr.text}, xp.bool)")
        emit, _ = _cached(n.op)
        casts = self.casts(n, args)
        if casts:
            args = [Expr(f"xp.astype({a.text}, {dtype_text(casts[k].name)})") if k in casts
                    else a for k, a in enumerate(args)]
        if n.op.elementwise and not _is_operator(n.op) and args:
            # the standard's functions take arrays: a condition, and the first operand where
            # every operand is a Python number, are made arrays on the call's device; a
            # helper's operands all are (it reads their dtype)
            args = list(args)
            first = 1 if n.op.linear == "branches" else 0      # where's condition
            if first and self.scalar_like(n.inputs[0]):
                args[0] = self.scalar(args[0].text, n.inputs[0].dtype)
            numbers = [k for k in range(first, len(args)) if self.scalar_like(n.inputs[k])]
            if self.helpers_of(n):
                for k in numbers:
                    args[k] = self.scalar(args[k].text, n.dtype)
            elif len(numbers) == len(args) - first:
                args[first] = self.scalar(args[first].text, n.dtype)
        if getattr(emit, "reads_node", False):
            return emit(args, node=n, **n.params)
        return emit(args, **n.params)

    def scalar_like(self, v: Var) -> bool:
        """Written as a Python number (a literal, a size read from a shape)."""
        return v.id in self.weak or (v.op.leaf == "constant" and v.ndim == 0)

    def casts(self, n: Var, args=None) -> dict:
        """Inputs to cast first, by position: the standard defines no promotion between
        kinds (bool * float, int / int, float < int, mean of ints), where NumPy promotes.
        Each array input takes the dtype NumPy computes in (Python numbers need none; a
        0-d value written as an array of its own dtype, a NumPy scalar of the user's such
        as ``np.int32(3) > x``, is an array here)."""
        op = n.op
        if _cast_free(n):
            return {}
        numeric = op.elementwise or _numeric(op)
        if not numeric:
            return {}
        first = 1 if op.linear == "branches" else 0             # where's condition
        arrays = [k for k in range(first, len(n.inputs))
                  if k not in op.shape_only and (
                      not self.scalar_like(n.inputs[k])
                      or (args is not None and args[k].text.startswith("xp.asarray(")))]
        if not arrays:
            return {}
        if op.elementwise and len(op.truth_inputs) == len(n.inputs):    # logical ops
            target = np.dtype(bool)
        elif n.dtype == np.bool_:        # comparisons: the inputs' common dtype, with
            # Python numbers weak as NumPy takes them (int32 < 0.5 compares in float64;
            # the standard compares an int array with a Python float not at all)
            numbers = [n.inputs[k] for k in range(first, len(n.inputs)) if k not in arrays
                       and k not in op.shape_only]
            try:
                target = np.result_type(*[n.inputs[k].dtype for k in arrays],
                                        *[v.value.item() if v.op.leaf == "constant"
                                          else {"b": True, "f": 1.0}.get(v.dtype.kind, 1)
                                          for v in numbers])
            except OverflowError:       # uint8 > -1: the arrays' dtype, as before
                target = np.result_type(*[n.inputs[k].dtype for k in arrays])
        else:
            target = n.dtype
        return {k: target for k in arrays if n.inputs[k].dtype != target}

    def op_helpers(self, op):
        try:
            return _cached(op)[1]
        except ArrayAPIError:       # compiling such an op fails before any helper is asked
            return ()

    def scalar(self, text: str, dtype) -> Expr:
        return Expr(f"xp.asarray({text}, dtype={dtype_text(dtype.name)}, device=device)")

    def weak_call(self, n: Var, args: list[Expr]) -> Expr:
        # Python numbers (sizes read from shapes): NumPy's semantics (x / 0 is inf, not
        # an exception), in the result's dtype on the call's device
        a, b = args[0].text, args[1].text
        name = STANDARD_UFUNCS.get(n.op.ufunc, n.op.ufunc)
        self.weak.discard(n.id)         # the result is an array of n's dtype, not a number
        first = a if a.startswith("xp.asarray(") else self.scalar(a, n.dtype).text
        return Expr(f"xp.{name}({first}, {b})")

    def copy_text(self, text: str) -> str:
        return f"xp.asarray({text}, copy=True)"

    def array_text(self, text: str, dtype=None) -> str:
        if dtype is None:
            return f"xp.asarray({text})"
        return f"xp.asarray({text}, dtype={dtype_text(dtype.name)}, device=device)"

    def imports(self) -> list[str]:
        return ["# the array namespace xp and the device of the call are parameters"]

    def constant_expr(self, c: Var, consumer: Var) -> Expr:
        value = c.value
        if value.ndim == 0:
            e = super().constant_expr(c, consumer)
            return Expr(re.sub(r"\bnp\.(nan|inf)\b", r"xp.\1", e.text), e.prec)
        if c.id not in self.const_name:   # made on the call's device, where first used
            name = self.names.fresh("_c", numbered=True)
            self.const_name[c.id] = name
            text = repr(value.tolist())
            if value.dtype.kind == "f":
                text = re.sub(r"\b(nan|inf)\b", r"xp.\1", text)
            if value.size == 0:
                text = f"xp.zeros({value.shape!r}, dtype={dtype_text(value.dtype.name)}, " \
                       "device=device)"
            else:
                text = f"xp.asarray({text}, dtype={dtype_text(value.dtype.name)}, " \
                       "device=device)"
            self.add_line(f"    {name} = {text}")
        return Expr(self.const_name[c.id])
