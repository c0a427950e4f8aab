"""Elementwise special functions: inverse trigonometric and hyperbolic functions, logs and
exponentials in base 2 and 10, ``hypot``, ``logaddexp``/``logaddexp2``, ``cbrt``,
``reciprocal``, ``fmod``, the error function family (``erf``, ``erfc``, ``ndtr``), and the
activations that need rules of their own (``gelu``, ``silu``, ``softsign``; the others are
compositions in ``nnfuncs``). NumPy's names and conventions; each op is one ``defop``
(through the ``_unary``/``_binary`` rows of ``elementwise``).

The derivative rules are written so that they stay within a few ulps over the whole float
range (``tests/test_tails.py`` checks them against mpmath): ``1 - x**2`` is written
``(1 - x) * (1 + x)`` (no cancellation near |x| = 1), ``1 + x**2`` is never formed where it
overflows, and the rules of ``hypot`` and ``arctan2`` scale their inputs by a power of two
first (exact), so that no square overflows or underflows unless the result does.

NumPy has no error function, so ``erf``, ``erfc``, ``ndtr`` and ``gelu`` are emitted as
calls of short helper functions written into the generated module: W. J. Cody's rational
Chebyshev approximations (Math. Comp. 23, 1969; the coefficients of his ``calerf``), with
``exp(-x**2)`` computed from an exact split of ``x**2``. The helpers (and ``silu``'s) use
only functions that the array API standard has under the same names, so that their
array-API forms are the same text translated (``xp_forms.from_numpy``); ``cbrt``, ``fmod``
and ``logaddexp2``, which the standard lacks, have helpers of their own there.
"""

from __future__ import annotations

import math

import numpy as np
import sympy

from . import xp_forms as xpf
from .elementwise import (_binary, _unary, abs, clip, equal, exp, floor, floor_divide, less,
                          maximum, minimum, sigmoid, sign, sqrt, square, stop_gradient, where)
from .leaves import as_var

LN2 = 0.6931471805599453          # log(2)
LOG2E = 1.4426950408889634        # 1 / log(2)
LOG10E = 0.4342944819032518       # 1 / log(10)
TWO_OVER_SQRT_PI = 1.1283791670955126
ONE_OVER_SQRT_2PI = 0.3989422804014327

# ---------------------------------------------------------------------------------------
# helpers for the rules (graph builders; they make symgrad nodes)
# ---------------------------------------------------------------------------------------

# Power-of-two scalings for the rules of hypot and arctan2, per dtype: (t, s) scales
# inputs whose larger magnitude m is above 2**t by 2**-s, below 2**-t by 2**s. After it,
# 2**-(s - t) <= m' <= 2**(emax - s) (float64: 2**-474 ... 2**424 or 2**-100 ... 2**500), so
# that m'**2 neither overflows nor underflows; scaling by a power of two is exact.
_SCALES = {np.dtype("float64"): (500, 600), np.dtype("float32"): (52, 100)}


def _pow2_scale(a, b):
    """A power of two (a constant for differentiation) that brings max(|a|, |b|) into a
    range where squares are safe; 1 for dtypes without a table entry or for NaN."""
    dt = np.result_type(a.dtype, b.dtype)
    if dt not in _SCALES:
        return as_var(np.asarray(1, dt))
    t, s = _SCALES[dt]
    m = maximum(abs(a), abs(b))

    def c(v):
        return as_var(np.asarray(v, dt))
    return where(m > 2.0 ** t, c(2.0 ** -s), where(m < 2.0 ** -t, c(2.0 ** s), c(1.0)))


def _split(dtype):
    """(grid, top, shift) of ``exp_neg_square`` for a dtype: |x| is rounded down to a
    multiple of 1/grid and clipped to top (where exp(-x**2 / 2) has underflowed), so that
    ``shift - h**2`` is exact in the dtype."""
    return (1024.0, 40.0, 100.0) if np.dtype(dtype).itemsize >= 8 else (256.0, 16.0, 45.0)


def exp_neg_square(x, s=1.0, factor=None):
    """``exp(-s * x**2)`` (s = 1 or 0.5), or ``factor * exp(-s * x**2)``, as a graph, to a
    few ulps: ``x**2`` is split exactly as ``h**2 + (|x| - h)(|x| + h)`` with ``h`` = |x|
    rounded down to a multiple of 1/1024 (1/256 in float32: ``h**2`` and ``s * h**2`` are
    exact floats),
    because exp multiplies the error of its argument by the argument (30 ulps at x = 5 for
    ``exp(-x * x)``). With a factor, the exact exponent is shifted by 100 so that no
    subnormal is multiplied by the factor (x exp(-x**2 / 2) at x = -38 is subnormal).
    ``h`` is piecewise constant, so the derivative is ``-2 s x exp(-s x**2)`` exactly."""
    grid, top, shift = _split(x.dtype)
    y = minimum(abs(x), top)
    h = floor(y * grid) / grid
    e2 = exp(-s * ((y - h) * (y + h)))
    if factor is None:
        return exp(-s * square(h)) * e2
    return ((factor * e2) * math.exp(-shift)) * exp(shift - s * square(h))


def _sigmoid2(z):
    """``2**z / (1 + 2**z)``, without overflow and without cancellation (as ``sigmoid``,
    in base 2); its derivative (``ln 2 sigmoid2(z) sigmoid2(-z)``) is right at z = 0 too."""
    pos = z >= 0
    e = exp2(where(pos, -z, z))           # 2**-|z|
    return where(pos, 1.0, e) / (1.0 + e)


def _inv_sqrt_one_minus_square(x):
    """``1 / sqrt(1 - x**2)``; ``(1 - x)(1 + x)`` does not cancel near |x| = 1."""
    return 1.0 / sqrt((1.0 - x) * (1.0 + x))


# ---------------------------------------------------------------------------------------
# inverse trigonometric and hyperbolic functions
# ---------------------------------------------------------------------------------------

def _arctan_vjp(g, out, x):
    # 1 / (1 + x**2); beyond |x| = 1 as (1/x) / (x + 1/x), which never overflows (1 + x**2
    # does from 1.3e154, where the exact value is still 5e-309). Each branch sees only
    # inputs where it is finite, so its own derivative is too.
    big = abs(x) > 1
    xb = where(big, x, 1.0)
    xs = where(big, 0.0, x)
    r = 1.0 / xb
    return [g * where(big, r / (xb + r), 1.0 / (1.0 + square(xs)))]


def _arcsinh_vjp(g, out, x):
    # 1 / sqrt(1 + x**2); beyond |x| = 1 as (1/|x|) / sqrt(1 + (1/x)**2) (no overflow)
    big = abs(x) > 1
    rb = 1.0 / abs(where(big, x, 1.0))
    xs = where(big, 0.0, x)
    return [g * where(big, rb / sqrt(1.0 + square(rb)), 1.0 / sqrt(1.0 + square(xs)))]


ARCSIN, arcsin = _unary("arcsin", "np.arcsin({0})",
                        lambda g, out, x: [g * _inv_sqrt_one_minus_square(x)], sympy.asin)
ARCCOS, arccos = _unary("arccos", "np.arccos({0})",
                        lambda g, out, x: [-(g * _inv_sqrt_one_minus_square(x))], sympy.acos)
ARCTAN, arctan = _unary("arctan", "np.arctan({0})", _arctan_vjp, sympy.atan)
ARCSINH, arcsinh = _unary("arcsinh", "np.arcsinh({0})", _arcsinh_vjp, sympy.asinh)
# 1 / sqrt(x**2 - 1) as 1 / (sqrt(x - 1) sqrt(x + 1)): no cancellation at 1, no overflow
ARCCOSH, arccosh = _unary("arccosh", "np.arccosh({0})",
                          lambda g, out, x: [g / (sqrt(x - 1.0) * sqrt(x + 1.0))], sympy.acosh)
# 1 / (1 - x**2) as (1 / (1 - x)) / (1 + x): no cancellation at |x| = 1, and (outside the
# domain) no overflow of (1 - x)(1 + x) where the exact value is a subnormal
ARCTANH, arctanh = _unary("arctanh", "np.arctanh({0})",
                          lambda g, out, x: [g * ((1.0 / (1.0 - x)) / (1.0 + x))],
                          sympy.atanh)
arcsin.__doc__ = "Inverse sine, elementwise, as ``np.arcsin`` (NaN outside [-1, 1])."
arccos.__doc__ = "Inverse cosine, elementwise, as ``np.arccos`` (NaN outside [-1, 1])."
arctan.__doc__ = "Inverse tangent, elementwise, as ``np.arctan``."
arcsinh.__doc__ = "Inverse hyperbolic sine, elementwise, as ``np.arcsinh``."
arccosh.__doc__ = "Inverse hyperbolic cosine, elementwise, as ``np.arccosh`` (NaN below 1)."
arctanh.__doc__ = "Inverse hyperbolic tangent, elementwise, as ``np.arctanh``."


def _arctan2_vjp(g, out, y, x):
    # d/dy = x / (x**2 + y**2), d/dx = -y / (x**2 + y**2). Both are homogeneous of degree
    # -1: with X = s x, Y = s y (s a power of two) they are s X / S and -s Y / S, S = X**2 +
    # Y**2, which neither overflows nor underflows. At the origin both are taken as 0.
    s = _pow2_scale(y, x)
    xs, ys = x * s, y * s
    ss = square(xs) + square(ys)
    ss = where(equal(ss, 0), 1.0, ss)
    return [g * ((xs / ss) * s), -(g * ((ys / ss) * s))]


ARCTAN2, arctan2 = _binary("arctan2", "np.arctan2({0}, {1})", _arctan2_vjp, sympy.atan2)
arctan2.__doc__ = ("``arctan(x1 / x2)`` in the right quadrant, elementwise, as "
                   "``np.arctan2(x1, x2)``; the gradient at (0, 0) is taken as 0.")

# ---------------------------------------------------------------------------------------
# logs and exponentials
# ---------------------------------------------------------------------------------------

LOG2, log2 = _unary("log2", "np.log2({0})", lambda g, out, x: [g * (LOG2E / x)],
                    lambda x: sympy.log(x, 2))
LOG10, log10 = _unary("log10", "np.log10({0})", lambda g, out, x: [g * (LOG10E / x)],
                      lambda x: sympy.log(x, 10))
log2.__doc__ = "Base-2 logarithm, elementwise, as ``np.log2``."
log10.__doc__ = "Base-10 logarithm, elementwise, as ``np.log10``."


def _difference(a, b):
    """``a - b`` as the rounded difference ``d`` and its rounding error ``e`` (Knuth's
    TwoSum: ``a - b = d + e`` exactly; e is 0 where d is not finite). ``e`` is a constant
    for differentiation (it is the rounding of d, not a function of the inputs)."""
    d = a - b
    bv = d - a
    e = (a - (d - bv)) - (b + bv)
    return d, stop_gradient(where(less(abs(d), np.inf), e, 0.0))


def _logaddexp_vjp(g, out, a, b):
    # d/da log(e**a + e**b) = sigmoid(a - b): never 0 / 0 or inf / inf. a - b is rounded
    # (by |a - b| / 2 ulps of the slope at |a - b| = 10): sigmoid(d + e) is taken as
    # sigmoid(d) + sigmoid(d) sigmoid(-d) e
    d, e = _difference(a, b)
    sd, sn = sigmoid(d), sigmoid(-d)
    c = (sd * sn) * e
    return [g * (sd + c), g * (sn - c)]


def _logaddexp2_vjp(g, out, a, b):
    # d/da log2(2**a + 2**b) = 2**(a - b) / (1 + 2**(a - b)), with exp2 of the difference
    # (not sigmoid((a - b) ln 2), whose rounded argument costs |a - b| ulps) and the
    # difference's rounding error added to first order, as for logaddexp
    d, e = _difference(a, b)
    sd, sn = _sigmoid2(d), _sigmoid2(-d)
    c = ((sd * sn) * e) * LN2
    return [g * (sd + c), g * (sn - c)]


LOGADDEXP, logaddexp = _binary("logaddexp", "np.logaddexp({0}, {1})", _logaddexp_vjp,
                               lambda a, b: sympy.log(sympy.exp(a) + sympy.exp(b)),
                               commutative=True)
LOGADDEXP2, logaddexp2 = _binary("logaddexp2", "np.logaddexp2({0}, {1})", _logaddexp2_vjp,
                                 lambda a, b: sympy.log(2 ** a + 2 ** b, 2), commutative=True,
                                 array_api=xpf.LOGADDEXP2)
logaddexp.__doc__ = "``log(exp(x1) + exp(x2))`` without overflow, as ``np.logaddexp``."
logaddexp2.__doc__ = "``log2(2**x1 + 2**x2)`` without overflow, as ``np.logaddexp2``."


def _hypot_vjp(g, out, a, b):
    # d/da = a / hypot(a, b): homogeneous of degree 0, so computed on inputs scaled by a
    # power of two (no overflow of the hypot where a and b are near the largest float, no
    # precision lost where they are subnormal). At (0, 0) taken as 0.
    s = _pow2_scale(a, b)
    as_, bs = a * s, b * s
    h = hypot(as_, bs)
    h = where(equal(h, 0), 1.0, h)
    return [g * (as_ / h), g * (bs / h)]


HYPOT, hypot = _binary("hypot", "np.hypot({0}, {1})", _hypot_vjp,
                       lambda a, b: sympy.sqrt(a ** 2 + b ** 2), commutative=True)
hypot.__doc__ = ("``sqrt(x1**2 + x2**2)`` without overflow, as ``np.hypot``; the gradient "
                 "at (0, 0) is taken as 0.")

# ---------------------------------------------------------------------------------------
# powers and remainders
# ---------------------------------------------------------------------------------------

EXP2, exp2 = _unary("exp2", "np.exp2({0})", lambda g, out, x: [g * (out * LN2)],
                    lambda x: 2 ** x, positive=True,
                    array_api="xp.pow(xp.full_like({0}, 2), {0})")
exp2.__doc__ = "``2**x``, elementwise, as ``np.exp2``."
# cbrt' = 1 / (3 cbrt(x)**2): cbrt(x)**2 neither overflows nor underflows for any float x
CBRT, cbrt = _unary("cbrt", "np.cbrt({0})", lambda g, out, x: [g / (3.0 * square(out))],
                    lambda x: sympy.Piecewise((sympy.Abs(x) ** sympy.Rational(1, 3), x >= 0),
                                              (-sympy.Abs(x) ** sympy.Rational(1, 3), True)),
                    array_api=xpf.CBRT)
RECIPROCAL, reciprocal = _unary("reciprocal", "np.reciprocal({0})",
                                lambda g, out, x: [-(g * square(out))], lambda x: 1 / x,
                                array_api="xp.divide(xp.ones_like({0}), {0})")
cbrt.__doc__ = "Real cube root, elementwise, as ``np.cbrt`` (negative for negative x)."
reciprocal.__doc__ = ("``1 / x``, elementwise, as ``np.reciprocal``; integers are taken as "
                      "float64 (NumPy's own reciprocal of integers divides as integers).")


def _fmod_vjp(g, out, a, b):
    # fmod(a, b) = a - b trunc(a / b): slope 1 in a, -trunc(a / b) in b (away from the
    # jumps), the truncated quotient read from NumPy's exact floor division of |a| by |b|
    q = floor_divide(abs(a), abs(b)) * (sign(a) * sign(b))
    return [g, -(g * q)]


FMOD, fmod = _binary("fmod", "np.fmod({0}, {1})", _fmod_vjp,
                     lambda a, b: a - b * sympy.sign(a / b) * sympy.floor(sympy.Abs(a / b)),
                     array_api=xpf.FMOD)
fmod.__doc__ = ("C's remainder ``x1 - x2 * trunc(x1 / x2)`` (the sign of x1), as "
                "``np.fmod``; ``np.remainder`` is ``sg.remainder``.")

# ---------------------------------------------------------------------------------------
# the error function family
# ---------------------------------------------------------------------------------------

# The helpers written into a generated module that uses erf, erfc, ndtr or gelu. Only
# functions the standard has under NumPy's names, so that from_numpy gives the xp ones.
# Every branch is evaluated on inputs clipped to its own interval, so no branch overflows
# or warns, and NaN goes through the last one. Measured against mpmath over the whole float
# range (tests/test_tails.py, and a dense grid): erf within 2.1 ulps, erfc 2.7 (down to its
# underflow), ndtr and gelu 3.6; the rules' exp(-x**2) within 2.6.
ERF_HELPERS = (
    '''def _exp_neg_sq(x, s=1.0):
    """exp(-s * x**2) for s = 1 or 0.5 and a float x, to a few ulps: x**2 is split exactly
    as h**2 + (|x| - h)(|x| + h), h = |x| rounded down to a multiple of 1/1024 (1/256 in
    float32), since exp multiplies the error of its argument by the argument."""
    grid, top = (1024.0, 40.0) if x.dtype == np.float64 else (256.0, 16.0)
    y = np.minimum(np.abs(x), top)
    h = np.floor(y * grid) / grid
    return np.exp(-s * (h * h)) * np.exp(-s * ((y - h) * (y + h)))''',
    '''def _erf_small(x):
    """erf(x) for |x| <= 0.46875 (W. J. Cody, Rational Chebyshev approximations for the
    error function, Math. Comp. 23 (1969), as in his calerf); other x are clipped."""
    x = np.clip(x, -0.46875, 0.46875)
    z = x * x
    num = (((0.185777706184603153 * z + 3.16112374387056560) * z + 113.864154151050156)
           * z + 377.485237685302021) * z + 3209.37758913846947
    den = (((z + 23.6012909523441209) * z + 244.024637934444173) * z
           + 1282.61652607737228) * z + 2844.23683343917062
    return x * num / den''',
    '''def _horner(coefs, t):
    """The polynomial with these coefficients (highest power first) at t > 0, by
    compensated Horner (Graillat, Langlois and Louvet 2005): each step's rounding errors,
    found exactly by Dekker's product and Knuth's sum, are summed alongside, so the
    result is as if computed in twice the precision (4 ulps less error than plain Horner
    for erfc's rational on [0.5, 4])."""
    k = 134217729.0 if t.dtype == np.float64 else 4097.0   # 2**27 + 1, 2**12 + 1
    th = k * t
    th = th - (th - t)
    tl = t - th
    s, c = coefs[0] + 0.0 * t, 0.0 * t
    for a in coefs[1:]:
        p = s * t
        sh = k * s
        sh = sh - (sh - s)
        sl = s - sh
        err_p = ((sh * th - p) + sh * tl + sl * th) + sl * tl
        s_new = p + a
        z = s_new - p
        c = c * t + (err_p + ((p - (s_new - z)) + (a - z)))
        s = s_new
    return s + c''',
    '''def _erfcx(y):
    """exp(y**2) erfc(y) for y >= 0.46875: Cody's rational function of y up to 4, of
    1 / y**2 beyond (calerf's coefficients)."""
    t = np.clip(y, 0.46875, 4.0)
    num = (2.15311535474403846e-8, 0.564188496988670089, 8.88314979438837594,
           66.1191906371416295, 298.635138197400131, 881.952221241769090,
           1712.04761263407058, 2051.07837782607147, 1230.33935479799725)
    den = (1.0, 15.7449261107098347, 117.693950891312499, 537.181101862009858,
           1621.38957456669019, 3290.79923573345963, 4362.61909014324716,
           3439.36767414372164, 1230.33935480374942)
    mid = _horner(num, t) / _horner(den, t)
    u = np.maximum(y, 4.0)
    z = np.square(1.0 / u)
    num, den = 0.0163153871373020978 * z, z
    for p, q in ((0.305326634961232344, 2.56852019228982242),
                 (0.360344899949804439, 1.87295284992346047),
                 (0.125781726111229246, 0.527905102951428412),
                 (0.0160837851487422766, 0.0605183413124413191)):
        num, den = (num + p) * z, (den + q) * z
    r = z * (num + 6.58749161529837803e-4) / (den + 2.33520497626869185e-3)
    return np.where(y <= 4.0, mid, (0.56418958354775628695 - r) / u)''',
    '''def _erf(x):
    """The error function, to a few ulps for every float x."""
    x = np.asarray(x, dtype=np.result_type(x, 1.0))
    y = np.abs(x)
    tail = _exp_neg_sq(y) * _erfcx(y)                 # erfc(|x|)
    return np.where(y <= 0.46875, _erf_small(x), np.copysign((0.5 - tail) + 0.5, x))''',
    '''def _erfc(x):
    """1 - erf(x), to a few ulps for every float x, down to its underflow (x > 27.2)."""
    x = np.asarray(x, dtype=np.result_type(x, 1.0))
    y = np.abs(x)
    tail = _exp_neg_sq(y) * _erfcx(y)                 # erfc(|x|)
    return np.where(y <= 0.46875, 1.0 - _erf_small(x), np.where(x < 0, 2.0 - tail, tail))''',
    '''def _ndtr(x):
    """The standard normal CDF (1 + erf(x / sqrt(2))) / 2, to a few ulps for every float x:
    in the tails exp(-x**2 / 2) is taken from x itself (x / sqrt(2) is rounded)."""
    x = np.asarray(x, dtype=np.result_type(x, 1.0))
    y = np.abs(x) * 0.7071067811865476
    tail = 0.5 * (_exp_neg_sq(x, 0.5) * _erfcx(y))   # ndtr(-|x|)
    return np.where(y <= 0.46875, 0.5 + 0.5 * _erf_small(x * 0.7071067811865476),
                    np.where(x < 0, tail, 1.0 - tail))''',
    '''def _gelu(x):
    """x * ndtr(x), to a few ulps for every float x: in the tails from
    (x erfcx(|x| / sqrt(2)) / 2) exp(-x**2 / 2), so that no subnormal is multiplied by |x|."""
    x = np.asarray(x, dtype=np.result_type(x, 1.0))
    y = np.abs(x) * 0.7071067811865476
    xt = np.clip(x, -40.0, 40.0)
    tail = (xt * (0.5 * _erfcx(y))) * _exp_neg_sq(xt, 0.5)   # x * ndtr(-|x|)
    small = x * (0.5 + 0.5 * _erf_small(x * 0.7071067811865476))
    return np.where(y <= 0.46875, small, np.where(x < 0, tail, x - tail))''',
)
_CORE = ERF_HELPERS[:4]


def _helper_call(name):
    def emit(args, **_):
        from .registry import Expr
        return Expr(f"{name}({args[0].text})")
    return emit


def _xp_helper_call(name, helpers):
    """The array-API form of an op whose NumPy form calls these helpers: the same helpers,
    translated (``xp_forms.from_numpy``)."""
    return (f"{name}(xp, {{0}})", xpf.from_numpy(helpers))


def _erf_vjp(g, out, x):
    return [g * (TWO_OVER_SQRT_PI * exp_neg_square(x))]


def _erfc_vjp(g, out, x):
    return [-(g * (TWO_OVER_SQRT_PI * exp_neg_square(x)))]


def _ndtr_vjp(g, out, x):
    return [g * (ONE_OVER_SQRT_2PI * exp_neg_square(x, 0.5))]


ERF, erf = _unary("erf", _helper_call("_erf"), _erf_vjp, sympy.erf,
                  helpers=_CORE + (ERF_HELPERS[4],),
                  array_api=_xp_helper_call("_erf", _CORE + (ERF_HELPERS[4],)))
ERFC, erfc = _unary("erfc", _helper_call("_erfc"), _erfc_vjp, sympy.erfc,
                    helpers=_CORE + (ERF_HELPERS[5],), positive=True,
                    array_api=_xp_helper_call("_erfc", _CORE + (ERF_HELPERS[5],)))
NDTR, ndtr = _unary("ndtr", _helper_call("_ndtr"), _ndtr_vjp,
                    lambda x: sympy.erfc(-x / sympy.sqrt(2)) / 2,
                    helpers=_CORE + (ERF_HELPERS[6],), positive=True,
                    array_api=_xp_helper_call("_ndtr", _CORE + (ERF_HELPERS[6],)))
erf.__doc__ = ("The error function ``2/sqrt(pi) * integral of exp(-t**2) from 0 to x``, "
               "elementwise (as ``scipy.special.erf``), to a few ulps.")
erfc.__doc__ = ("The complementary error function ``1 - erf(x)``, elementwise (as "
                "``scipy.special.erfc``), to a few ulps down to its underflow.")


def _gelu_vjp(g, out, x):
    # gelu' = ndtr(x) + x phi(x), phi the normal density; x phi(x) as a scaled exponential
    # (no subnormal multiplied by |x|). The two terms cancel near the root x = -0.7518.
    xt = clip(x, -40.0, 40.0)
    return [g * (ndtr(x) + exp_neg_square(x, 0.5, factor=xt * ONE_OVER_SQRT_2PI))]


GELU, gelu = _unary("gelu", _helper_call("_gelu"), _gelu_vjp,
                    lambda x: x * sympy.erfc(-x / sympy.sqrt(2)) / 2,
                    helpers=_CORE + (ERF_HELPERS[7],), label="gelu",
                    array_api=_xp_helper_call("_gelu", _CORE + (ERF_HELPERS[7],)))
gelu.__doc__ = "x * ndtr(x), the exact Gaussian error linear unit (see ``sg.gelu``)."
ndtr.__doc__ = ("The standard normal CDF ``(1 + erf(x / sqrt(2))) / 2``, elementwise (as "
                "``scipy.special.ndtr``), to a few ulps in both tails.")

# ---------------------------------------------------------------------------------------
# softsign
# ---------------------------------------------------------------------------------------

SOFTSIGN_HELPER = '''def _softsign(x):
    """x / (1 + |x|), and its limits -1 and 1 at -inf and inf: beyond |x| = 1 as
    1 / (1 + 1 / |x|), with the sign of x."""
    a = np.abs(x)
    small = np.minimum(a, 1.0)
    big = 1.0 / (1.0 + 1.0 / np.maximum(a, 1.0))
    return np.copysign(np.where(a > 1.0, big, small / (1.0 + small)), x)'''


# softsign' = 1 / (1 + |x|)**2, squared after the division so that it underflows only
# where the exact value does (the rule of the quotient, (1 - |out|) / (1 + |x|), cancels)
SOFTSIGN, softsign = _unary("softsign", _helper_call("_softsign"),
                            lambda g, out, x: [g * square(1.0 / (1.0 + abs(x)))],
                            lambda x: x / (1 + sympy.Abs(x)), helpers=(SOFTSIGN_HELPER,),
                            label="softsign",
                            array_api="xp.divide({0}, xp.abs({0}) + 1)")
softsign.__doc__ = "``x / (1 + |x|)``, elementwise (its limits -1 and 1 at -inf and inf)."

# ---------------------------------------------------------------------------------------
# silu
# ---------------------------------------------------------------------------------------

SILU_HELPER = '''def _silu(x):
    """x * sigmoid(x), to a few ulps for every float x: where sigmoid(x) is below e**2
    times the smallest normal (x below its log + 2) as ((x q) q) / (1 + q**2), q =
    exp(x / 2), so that no subnormal is multiplied by |x|."""
    x = np.asarray(x, dtype=np.result_type(x, 1.0))
    xm = np.maximum(x, -1500.0)
    e = np.exp(-np.abs(xm))
    s = np.where(xm >= 0, 1.0, e) / (1.0 + e)        # sigmoid(x)
    xq = np.minimum(xm, 0.0)
    q = np.exp(0.5 * xq)
    deep = ((xq * q) * q) / (1.0 + q * q)
    return np.where(s < 7.38905609893065 * np.finfo(x.dtype).smallest_normal, deep, xm * s)'''


def _silu_vjp(g, out, x):
    # silu' = sigmoid(x) + x sigmoid(x) sigmoid(-x) = sigmoid(x) + silu(x) sigmoid(-x): read
    # from the output, never a subnormal times x (and 1 at x = inf, not inf * 0). The
    # terms cancel near the root x = -1.2785.
    finite = where(less(out, np.inf), out, 0.0)
    return [g * (sigmoid(x) + finite * sigmoid(-x))]


SILU, silu = _unary("silu", _helper_call("_silu"), _silu_vjp,
                    lambda x: x / (1 + sympy.exp(-x)), helpers=(SILU_HELPER,), label="silu",
                    array_api=_xp_helper_call("_silu", (SILU_HELPER,)))
silu.__doc__ = "``x * sigmoid(x)`` (the sigmoid linear unit, also called swish)."
