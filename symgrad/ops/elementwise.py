"""Elementwise ops. Each row below is the whole definition of one op: its NumPy emission,
its derivative written with symgrad ops, its SymPy form, and its dtype rule.

Broadcasting follows NumPy; cotangents are summed back to each input's shape by the
reverse pass (``elementwise=True``), so no rule here un-broadcasts by hand.

Subgradient conventions, the same in every rule: relu'(0) = 0, abs'(0) = 0, sign' = 0,
ties of ``maximum``/``minimum`` split the gradient evenly between the two operands.
"""

from __future__ import annotations

import functools

import numpy as np
import sympy

from . import xp_forms as xpf
from ..ir.types import ShapeError, TensorType, broadcast_shapes, float_dtype_for, format_shape
from .leaves import as_var, as_vars
from .registry import (PREC_ADD, PREC_BITAND, PREC_BITOR, PREC_CMP, PREC_MUL, PREC_POW,
                       PREC_UNARY, Expr, apply, defop, emit_infix)


@functools.lru_cache(maxsize=None)
def ufunc_dtype(ufunc: str, *dtypes: np.dtype) -> np.dtype:
    """The dtype NumPy's ufunc gives for these input dtypes (0-d arrays: no value-based
    casting, so this is exactly NumPy 2's type promotion for arrays)."""
    shape = (1, 1) if ufunc == "matmul" else ()
    args = [np.zeros(shape, d) for d in dtypes]
    with np.errstate(all="ignore"):
        return np.asarray(getattr(np, ufunc)(*args)).dtype


def broadcast_infer(types, what="operands"):
    try:
        shape, _ = broadcast_shapes(*[t.shape for t in types])
    except ShapeError as exc:
        shapes = " and ".join(format_shape(t.shape) for t in types)
        raise ShapeError(f"shapes {shapes} cannot be broadcast together ({exc})") from None
    return shape


def _ufunc_infer(ufunc):
    def infer(types, **_):
        shape = broadcast_infer(types)
        try:
            dt = ufunc_dtype(ufunc, *[t.dtype for t in types])
        except TypeError as exc:
            raise TypeError(f"not defined for dtypes {', '.join(t.dtype.name for t in types)} "
                            f"({exc})") from None
        return TensorType(dt, shape)
    return infer


def _float_infer(types, **_):
    (t,) = types
    return TensorType(float_dtype_for(t.dtype), t.shape)


def _same_infer(types, **_):
    (t,) = types
    return t


def _bool_infer(types, **_):
    return TensorType(np.bool_, broadcast_infer(types))


# ---------------------------------------------------------------------------------------
# unary ops
# ---------------------------------------------------------------------------------------

def _float_operands(op, xs: list, kinds: str) -> list:
    """The operands of ``op`` cast to its result's dtype where that is a float and every
    operand is of the ``kinds`` given: NumPy computes float functions of bools in float16
    (``np.exp(True)`` is 2.719, ``np.hypot(True, True)`` float16), and a helper's
    arithmetic on integers may overflow before its first float operation; the graph's
    type says the float dtype, so the code computes in it."""
    if not all(x.dtype.kind in kinds for x in xs):
        return xs       # a float operand: NumPy computes in the float dtype already
    dt = op.infer([x.type for x in xs]).dtype
    if dt.kind != "f":
        return xs
    from .shape import astype
    return [astype(x, dt) for x in xs]


def _unary(name, emit, vjp, sympy_form=None, infer=None, ufunc=None, **kw):
    if infer is None:   # NumPy's dtype rule where the ufunc is named, else float results
        infer = _ufunc_infer(ufunc) if ufunc else _float_infer
    if ufunc is None and isinstance(emit, str) and emit.startswith("np.") \
            and emit.endswith("({0})"):     # "np.exp({0})": the ufunc exp
        ufunc = emit[3:-len("({0})")]
    if ufunc is not None and not isinstance(getattr(np, ufunc, None), np.ufunc):
        ufunc = None
    op = defop(name, infer=infer, emit=emit, vjp=vjp, elementwise=True, sympy=sympy_form,
               ufunc=ufunc, **kw)

    def fn(x):
        return apply(op, _float_operands(op, [as_var(x)], "biu"))
    fn.__name__ = name
    fn.__qualname__ = name
    fn.op = op
    return op, fn


def _emit_neg(args, **_):
    return Expr(f"-{args[0].at(PREC_UNARY)}", PREC_UNARY)


def _negative_infer(types, **_):
    (t,) = types
    if t.dtype == np.bool_:
        # as NumPy: ``-`` of a bool array is an error (it once meant logical not)
        raise TypeError("negating a bool tensor is not supported (as in NumPy); "
                        "use ~x or sg.logical_not(x) for the logical not")
    return t


NEGATIVE, negative = _unary("negative", _emit_neg, lambda g, out, x: [-g],
                            lambda x: -x, infer=_negative_infer, short="neg", ufunc="negative",
                            linear="first",
                                array_api=_emit_neg)
EXP, exp = _unary("exp", "np.exp({0})", lambda g, out, x: [g * out], sympy.exp,
                  positive=True)
LOG, log = _unary("log", "np.log({0})", lambda g, out, x: [g / x], sympy.log)
LOG1P, log1p = _unary("log1p", "np.log1p({0})", lambda g, out, x: [g / (1 + x)],
                      lambda x: sympy.log(1 + x))
# expm1' = exp(x), not out + 1: that sum is 0 once expm1(x) rounds to -1 (x < -37)
EXPM1, expm1 = _unary("expm1", "np.expm1({0})", lambda g, out, x: [g * exp(x)],
                      lambda x: sympy.exp(x) - 1)
SQRT, sqrt = _unary("sqrt", "np.sqrt({0})", lambda g, out, x: [g * 0.5 / out], sympy.sqrt)
# NumPy's type rule (an integer's square is an integer, as np.square computes it): the
# float rule declared float64 while the NumPy targets computed int32 (wrapping at 46341)
# and the array-API target cast to float64
SQUARE, square = _unary("square", "np.square({0})", lambda g, out, x: [g * (2 * x)],
                        lambda x: x ** 2, ufunc="square")
ABS, abs = _unary("abs", "np.abs({0})", lambda g, out, x: [g * sign(x)], sympy.Abs,
                  infer=_same_infer, ufunc="abs")
SIGN, sign = _unary("sign", "np.sign({0})", None, sympy.sign, infer=_same_infer)
SIN, sin = _unary("sin", "np.sin({0})", lambda g, out, x: [g * cos(x)], sympy.sin)
COS, cos = _unary("cos", "np.cos({0})", lambda g, out, x: [-(g * sin(x))], sympy.cos)
TAN, tan = _unary("tan", "np.tan({0})", lambda g, out, x: [g * (1 + square(out))], sympy.tan)
FLOOR, floor = _unary("floor", "np.floor({0})", None, sympy.floor, infer=_same_infer)
CEIL, ceil = _unary("ceil", "np.ceil({0})", None, sympy.ceiling, infer=_same_infer)
SINH, sinh = _unary("sinh", "np.sinh({0})", lambda g, out, x: [g * cosh(x)], sympy.sinh)
COSH, cosh = _unary("cosh", "np.cosh({0})", lambda g, out, x: [g * sinh(x)], sympy.cosh)
sinh.__doc__ = "Hyperbolic sine, elementwise, as ``np.sinh``."
cosh.__doc__ = "Hyperbolic cosine, elementwise, as ``np.cosh``."
# tanh' = 1 / cosh(x)**2, to a few ulps everywhere. 1 - tanh(x)**2, read from the output,
# cancels: 30 ulps off at |x| = 2, and 0 instead of 1.6e-16 from |x| = 19 on.
TANH, tanh = _unary("tanh", "np.tanh({0})", lambda g, out, x: [g * square(1 / cosh(x))],
                    sympy.tanh, label="tanh")


# sigmoid is emitted as a call of this helper (written once at the top of a generated
# module that uses it; NumPy only). ``0.5 * tanh(0.5 * x) + 0.5``, its earlier form, loses
# every digit for x < -20 (the sum cancels: sigmoid(-40) came out as 0 instead of 4.2e-18);
# here neither branch cancels and exp(-|x|) never overflows, so the result is within about
# 2 ulps of the exact value over the whole float range, subnormals included.
SIGMOID_HELPER = '''def _sigmoid(x):
    """1 / (1 + exp(-x)), to a few ulps for every x: exp(-|x|) never overflows, and
    neither branch (1 / (1 + e) for x >= 0, e / (1 + e) below) subtracts."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1, e) / (1 + e)'''


def _emit_sigmoid(args, **_):
    return Expr(f"_sigmoid({args[0].text})")


# sigmoid' = sigmoid(x) * sigmoid(-x), to a few ulps everywhere. out * (1 - out) cancels
# for x > 0 (20 ulps off at x = 3, 0 instead of 4.2e-18 at x = 40), and so did the
# gradient of log(sigmoid(x)), which the stability rules reduce to g * sigmoid(-x).
SIGMOID, sigmoid = _unary("sigmoid", _emit_sigmoid,
                          lambda g, out, x: [g * (out * sigmoid(-x))],
                          lambda x: 1 / (1 + sympy.exp(-x)), helpers=(SIGMOID_HELPER,),
                          positive=True, label="sigmoid",
                              array_api=xpf.SIGMOID)


def _emit_relu(args, **_):
    return Expr(f"np.maximum({args[0].text}, 0)")


# relu'(0) = 0: the mask is x > 0
RELU, relu = _unary("relu", _emit_relu, lambda g, out, x: [g * (x > 0)],
                    lambda x: sympy.Max(x, 0), infer=_same_infer,
                    label="relu",
                        array_api="xp.maximum({0}, 0)")
SOFTPLUS, softplus = _unary("softplus", "np.logaddexp(0, {0})",
                            lambda g, out, x: [g * sigmoid(x)],
                            lambda x: sympy.log(1 + sympy.exp(x)), infer=_float_infer,
                            label="softplus",
                                array_api="xp.logaddexp(0.0, {0})")


def _emit_leaky(args, negative_slope):
    x = args[0]
    return Expr(f"np.where({x.text} > 0, {x.text}, {negative_slope!r} * {x.at(PREC_MUL + 1)})")


LEAKY_RELU = defop(
    "leaky_relu", infer=_same_infer, emit=_emit_leaky, elementwise=True, inline=False,
    label="leaky_relu",
    vjp=lambda g, out, x, negative_slope: [where(x > 0, g, g * negative_slope)],
    sympy=lambda x, negative_slope: sympy.Piecewise((x, x > 0), (negative_slope * x, True)),
        array_api=xpf.leaky_relu)


def leaky_relu(x, negative_slope=0.01):
    """``x`` where ``x > 0``, else ``negative_slope * x``."""
    return apply(LEAKY_RELU, [as_var(x)], negative_slope=float(negative_slope))


def _emit_identity(args, **_):
    return args[0]


STOP_GRADIENT = defop("stop_gradient", infer=_same_infer, emit=_emit_identity, vjp=None,
                      elementwise=True, identity=True, linear="first",
                          array_api=_emit_identity)


def stop_gradient(x):
    """The value of ``x``, seen as a constant by differentiation."""
    return apply(STOP_GRADIENT, [as_var(x)])


LOGICAL_NOT = defop("logical_not", infer=lambda types, **_: TensorType(np.bool_, types[0].shape),
                    emit="np.logical_not({0})", elementwise=True, sympy=sympy.Not,
                    ufunc="logical_not", truth_inputs=(0,),
                        array_api="xp.logical_not({0})")


def logical_not(x):
    """Elementwise NOT of the truth values of ``x`` (a bool result, as ``np.logical_not``)."""
    return apply(LOGICAL_NOT, [as_var(x)])


def _emit_invert(args, **_):
    if args[0].text in ("True", "False"):  # ~ of a Python bool is the int -2 or -1
        return Expr(f"np.invert({args[0].text})")
    return Expr(f"~{args[0].at(PREC_UNARY)}", PREC_UNARY)


def _bitwise_unary_infer(types, **_):
    (t,) = types
    if t.dtype.kind not in "biu":
        raise TypeError(f"invert needs integer or bool operands, got {t.dtype.name} "
                        "(for a logical not of any values use sg.logical_not)")
    return t


INVERT = defop("invert", infer=_bitwise_unary_infer, emit=_emit_invert, elementwise=True,
               ufunc="invert", short="inv")


def invert(x):
    """Bitwise NOT (``~x``), as ``np.invert``: two's complement of integers, logical NOT
    of bools. Integer or bool operands only; no gradient."""
    return apply(INVERT, [as_var(x)])


# ---------------------------------------------------------------------------------------
# binary ops
# ---------------------------------------------------------------------------------------

def _binary(name, emit, vjp, sympy_form=None, infer=None, ufunc=None, **kw):
    ufunc = ufunc or name
    op = defop(name, infer=infer or _ufunc_infer(ufunc), emit=emit, vjp=vjp, elementwise=True,
               sympy=sympy_form, ufunc=ufunc, **kw)

    def fn(a, b):
        return apply(op, _float_operands(op, list(as_vars(a, b)), "b"))
    fn.__name__ = name
    fn.__qualname__ = name
    fn.op = op
    return op, fn


ADD, add = _binary("add", emit_infix("+", PREC_ADD), lambda g, out, a, b: [g, g],
                   lambda a, b: a + b, commutative=True, linear="jointly")
SUBTRACT, subtract = _binary("subtract", emit_infix("-", PREC_ADD),
                             lambda g, out, a, b: [g, -g], lambda a, b: a - b, short="sub",
                             linear="jointly")
MULTIPLY, multiply = _binary("multiply", emit_infix("*", PREC_MUL),
                             lambda g, out, a, b: [g * b, g * a], lambda a, b: a * b,
                             commutative=True, short="mul", linear="each")
DIVIDE, divide = _binary("divide", emit_infix("/", PREC_MUL),
                         lambda g, out, a, b: [g / b, -(g * out) / b], lambda a, b: a / b,
                         short="div", linear="first")
FLOOR_DIVIDE, floor_divide = _binary("floor_divide", emit_infix("//", PREC_MUL), None,
                                     lambda a, b: sympy.floor(a / b), short="floordiv")


# a % b = a - b * (a // b): slope 1 in a, -(a // b) in b (away from the jumps). NumPy's
# a // b is the quotient its a % b uses; floor(a / b) is not where a / b rounds or
# underflows (5e-324 % -1e300 is -1e300: the slope in b is 1, floor(a / b) gave 0).
REMAINDER, remainder = _binary("remainder", emit_infix("%", PREC_MUL),
                               lambda g, out, a, b: [g, -(g * floor_divide(a, b))],
                               lambda a, b: sympy.Mod(a, b), short="mod")
mod = remainder


def _emit_pow(args, **_):
    a, b = args
    # ** is right-associative and binds tighter than unary minus on its left
    return Expr(f"{a.at(PREC_POW + 1)} ** {b.at(PREC_UNARY)}", PREC_POW)


def _pow_vjp(g, out, a, b):
    # d/da a**b = b a**(b-1). Where b >= 1, b - 1 is exact and a**(b-1) over- or underflows
    # only where the derivative does: b * a**(b-1) (x**3 -> 3 * x**2). Below 1, b - 1 may
    # round (200 ulps off for b = 0.3 at a = 1e-300) and a**(b-1) overflows for a tiny a
    # whose derivative is finite: there it is (b * out) / a for |b| < 1, b * (out / a)
    # for b <= -1, so that no step overflows or underflows unless the result does. At
    # a == 0 it is b * 0**(b-1) (0, 1 or inf).
    # d/db a**b = a**b log(a); at a == 0 it is taken as 0 (as JAX does), not 0 * log(0) = nan
    zero = equal(a, 0)
    safe = where(zero, 1, a)
    if b.op.leaf == "constant" and np.all(b.value >= 1):
        da = b * power(a, b - 1)
    elif b.op.leaf == "constant" and np.all(b.value <= -1):
        da = b * (out / safe)
    else:
        # b * 0**(b-1) where a == 0; 0 where b == 0 too (a**0 is the constant 1, as JAX
        # has it), not 0 * 0**-1 = nan
        at_zero = b * power(where(zero, a, 1), where(equal(b, 0), 1, b - 1))
        if b.op.leaf == "constant" and np.all(np.abs(b.value) < 1):
            da = where(zero, at_zero, (b * out) / safe)
        else:
            da = where(b >= 1, b * power(a, b - 1),
                       where(zero, at_zero,
                             where(abs(b) < 1, (b * out) / safe, b * (out / safe))))
    return [g * da, g * (out * log(safe))]


POWER, power = _binary("power", _emit_pow, _pow_vjp, lambda a, b: a ** b, short="pow")


def _tie_vjp(first_wins):
    # ties split evenly (as JAX does): each operand gets half of g where a == b
    def vjp(g, out, a, b):
        ga = where(first_wins(a, b), g, where(equal(a, b), g * 0.5, 0))
        gb = where(first_wins(b, a), g, where(equal(a, b), g * 0.5, 0))
        return [ga, gb]
    return vjp


MAXIMUM, maximum = _binary("maximum", "np.maximum({0}, {1})", _tie_vjp(lambda a, b: a > b),
                           sympy.Max, commutative=True)
MINIMUM, minimum = _binary("minimum", "np.minimum({0}, {1})", _tie_vjp(lambda a, b: a < b),
                           sympy.Min, commutative=True)


def _cmp(name, symbol, sym_form, commutative=False):
    return _binary(name, emit_infix(symbol, PREC_CMP), None, sym_form, infer=_bool_infer,
                   commutative=commutative)


LESS, less = _cmp("less", "<", sympy.StrictLessThan)
LESS_EQUAL, less_equal = _cmp("less_equal", "<=", sympy.LessThan)
GREATER, greater = _cmp("greater", ">", sympy.StrictGreaterThan)
GREATER_EQUAL, greater_equal = _cmp("greater_equal", ">=", sympy.GreaterThan)
EQUAL, equal = _cmp("equal", "==", sympy.Eq, commutative=True)
NOT_EQUAL, not_equal = _cmp("not_equal", "!=", sympy.Ne, commutative=True)
LOGICAL_AND, logical_and = _binary("logical_and", "np.logical_and({0}, {1})", None, sympy.And,
                                   infer=_bool_infer, commutative=True, truth_inputs=(0, 1))
LOGICAL_OR, logical_or = _binary("logical_or", "np.logical_or({0}, {1})", None, sympy.Or,
                                 infer=_bool_infer, commutative=True, truth_inputs=(0, 1))
LOGICAL_XOR, logical_xor = _binary("logical_xor", "np.logical_xor({0}, {1})", None, sympy.Xor,
                                   infer=_bool_infer, commutative=True, truth_inputs=(0, 1))


PREC_BITXOR = 8  # Python's ``^`` binds between ``|`` and ``&``


def _bitwise(name, symbol, prec):
    ufunc_infer = _ufunc_infer(name)

    def infer(types, **params):
        for t in types:
            if t.dtype.kind not in "biu":
                raise TypeError(f"{name} needs integer or bool operands, got "
                                f"{', '.join(u.dtype.name for u in types)} (for truth values "
                                f"of any dtype use sg.logical_{name.split('_')[1]})")
        return ufunc_infer(types, **params)
    return _binary(name, emit_infix(symbol, prec), None, infer=infer, commutative=True)


# NumPy's bitwise ops (the operators ``&``, ``|``, ``^``): bits of integers, truth values of
# bools (where they equal logical_and/or/xor). No gradient.
BITWISE_AND, bitwise_and = _bitwise("bitwise_and", "&", PREC_BITAND)
BITWISE_OR, bitwise_or = _bitwise("bitwise_or", "|", PREC_BITOR)
BITWISE_XOR, bitwise_xor = _bitwise("bitwise_xor", "^", PREC_BITXOR)
bitwise_and.__doc__ = "Bitwise AND (``a & b``), as ``np.bitwise_and``; integers or bools."
bitwise_or.__doc__ = "Bitwise OR (``a | b``), as ``np.bitwise_or``; integers or bools."
bitwise_xor.__doc__ = "Bitwise XOR (``a ^ b``), as ``np.bitwise_xor``; integers or bools."

# ---------------------------------------------------------------------------------------
# where
# ---------------------------------------------------------------------------------------

def _where_infer(types, **_):
    c, a, b = types
    shape = broadcast_infer(types)
    return TensorType(np.result_type(a.dtype, b.dtype), shape)


WHERE = defop("where", infer=_where_infer, emit="np.where({0}, {1}, {2})", elementwise=True,
              vjp=lambda g, out, c, a, b: [None, where(c, g, 0), where(c, 0, g)],
              linear="branches", truth_inputs=(0,),
              sympy=lambda c, a, b: sympy.Piecewise((a, c), (b, True)),
                  array_api="xp.where({0}, {1}, {2})")


def where(condition, x, y):
    """``x`` where ``condition`` holds, else ``y`` (NumPy's ``np.where`` with three
    arguments)."""
    c = as_var(condition)
    if c.dtype != np.bool_:
        c = not_equal(c, 0)
    x, y = as_vars(x, y)
    return apply(WHERE, [c, x, y])


def _clip_vjp(g, out, x, lo, hi):
    inside = logical_and(x >= lo, x <= hi)
    return [where(inside, g, 0), where(x < lo, g, 0), where(x > hi, g, 0)]


CLIP = defop("clip", infer=_ufunc_infer("clip"), emit="np.clip({0}, {1}, {2})",
             elementwise=True, vjp=_clip_vjp, ufunc="clip",
             sympy=lambda x, lo, hi: sympy.Min(sympy.Max(x, lo), hi))


def clip(x, a_min=None, a_max=None):
    """Limit values to ``[a_min, a_max]``; the gradient passes where a_min <= x <= a_max."""
    x = as_var(x)
    if a_min is None and a_max is None:
        raise ValueError("clip: give a_min, a_max or both")
    # a missing bound is the extreme of x's type (of int64 for bool, which a Python int
    # bound promotes to, as in np.clip)
    info = np.finfo(x.dtype) if x.type.is_float else np.iinfo(
        x.dtype if x.dtype.kind in "iu" else np.int64)
    lo = as_var(info.min if a_min is None else a_min, x)
    hi = as_var(info.max if a_max is None else a_max, x)
    return apply(CLIP, [x, lo, hi])
