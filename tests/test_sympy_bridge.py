"""sg.to_sympy / sg.from_sympy: forms, round trips, and gradients against sympy.diff."""

import numpy as np
import pytest
import sympy

import symgrad as sg

RNG = np.random.default_rng(2)
s, t = sympy.symbols("s t", real=True)


def close(a, b, rtol=1e-12):
    return np.allclose(np.asarray(a, float), np.asarray(b, float), rtol=rtol, atol=1e-14)


def test_to_sympy_forms_and_scalar_broadcast():
    x = sg.scalar("x")
    v = sg.vector("v", 3)
    X, V = sympy.Symbol("x"), sympy.Symbol("v")  # plain symbols by default
    assert sg.to_sympy(sg.tanh(x) * 2 + 1) == 2 * sympy.tanh(X) + 1
    assert sg.to_sympy(x + v) == X + V  # broadcasting is implicit per element
    assert sg.to_sympy(sg.broadcast_to(x, (3,)) * v) == X * V
    assert sg.to_sympy(v * np.full(3, 2.5)) == sympy.Float(2.5) * V  # uniform constant
    assert sg.to_sympy(sg.relu(x)) == sympy.Max(X, 0)
    assert sg.to_sympy(sg.where(x > 0, x, -x)) == sympy.Piecewise((X, X > 0), (-X, True))
    assert sg.to_sympy([x * 2, sg.exp(x)]) == [2 * X, sympy.exp(X)]
    k = sympy.Symbol("k")
    assert sg.to_sympy(sg.sin(x), symbols={x: k}) == sympy.sin(k)


def test_to_sympy_unsupported_nodes_are_named():
    v = sg.vector("v", 3)
    with pytest.raises(ValueError, match="'sum'"):
        sg.to_sympy(sg.sum(v))
    with pytest.raises(ValueError, match="'matmul'"):
        sg.to_sympy(v @ v)
    with pytest.raises(ValueError, match="different elements"):
        sg.to_sympy(v * np.arange(3.0))
    with pytest.raises(ValueError, match="named 'a'"):
        sg.to_sympy(sg.scalar("a") + sg.scalar("a"))


UNARY = ["exp", "log", "sqrt", "sin", "cos", "tan", "tanh", "sigmoid", "softplus", "square",
         "log1p", "expm1", "abs", "relu"]


@pytest.mark.parametrize("name", UNARY)
def test_elementwise_forms_and_gradients_agree_with_sympy(name):
    x = sg.vector("x", 5)
    y = getattr(sg, name)(x)
    real = name == "abs"  # SymPy differentiates Abs of a plain (complex) symbol as re/im
    e = sg.to_sympy(y, real=real)
    X = sympy.Symbol("x", real=True) if real else sympy.Symbol("x")
    xv = RNG.uniform(0.2, 1.3, size=5)  # inside every domain, away from kinks
    value = sympy.lambdify(X, e, "numpy")(xv)
    deriv = sympy.lambdify(X, sympy.diff(e, X), "numpy")(xv)
    f = sg.function([x], [y, sg.grad(sg.sum(y), x)])
    yv, gv = f(xv)
    assert close(yv, value) and close(gv, deriv)


EXPRESSIONS = [
    sympy.exp(s) * sympy.sin(t) / (1 + s ** 2),
    sympy.sqrt(t) - sympy.log(t) / s + s ** 3 * t ** -2,
    sympy.tanh(s * t) + sympy.cos(s - t) ** 2 + sympy.Abs(s) * t,
    sympy.Max(s, t, 0) + sympy.Min(s, 2 * t),
    sympy.Piecewise((s ** 2, s > t), (t * 2, True)) + sympy.sinh(s) - sympy.cosh(t),
    s ** t + sympy.pi * sympy.E ** s - sympy.Rational(3, 4) / sympy.sqrt(s),
    sympy.tan(s) + sympy.sign(t - 3) * s,
]


@pytest.mark.parametrize("k", range(len(EXPRESSIONS)))
def test_from_sympy_values_and_gradients_match_sympy(k):
    e = EXPRESSIONS[k]
    x, y = sg.vector("x", 4), sg.vector("y", 4)
    v = sg.from_sympy(e, {s: x, "t": y})
    f = sg.function([x, y], [v, *sg.grad(sg.sum(v), [x, y])])
    xv, yv = RNG.uniform(0.3, 2.0, size=4), RNG.uniform(0.3, 2.0, size=4)
    val, gx, gy = f(xv, yv)
    # sign' is a DiracDelta: zero away from the jump, where these samples lie
    modules = [{"DiracDelta": lambda a: np.zeros_like(a)}, "numpy"]
    num = sympy.lambdify((s, t), [e, sympy.diff(e, s), sympy.diff(e, t)], modules)
    ev, es, et = (np.broadcast_to(a, (4,)) for a in num(xv, yv))
    assert close(val, ev) and close(gx, es) and close(gy, et)


def test_round_trips():
    x, y = sg.vector("x", 3), sg.vector("y", 3)
    g = sg.exp(-x) * sg.tanh(y) + sg.sqrt(x * y) / (1 + sg.square(x)) - sg.sigmoid(x - y)
    e = sg.to_sympy(g)
    back = sg.from_sympy(e, {"x": x, "y": y})
    xv, yv = RNG.uniform(0.1, 2, 3), RNG.uniform(0.1, 2, 3)
    f = sg.function([x, y], [g, back])
    a, b = f(xv, yv)
    assert close(a, b)
    # sympy -> symgrad -> sympy gives back the same expression
    for e in EXPRESSIONS[:4]:
        xs, ts = sg.scalar("s"), sg.scalar("t")
        again = sg.to_sympy(sg.from_sympy(e, {s: xs, t: ts}), real=True)
        assert sympy.simplify(again - e) == 0


def test_from_sympy_dtypes_constants_and_errors():
    x = sg.vector("x", 2, dtype="float32")
    v = sg.from_sympy(2 * s + sympy.Rational(1, 2), {s: x})
    assert v.dtype == np.float32  # Python-scalar constants do not upcast
    c = sg.from_sympy(sympy.Integer(3) * sympy.pi, {})
    assert c.op.name == "constant" and np.isclose(c.value, 3 * np.pi)
    with pytest.raises(ValueError, match="symbol 't'"):
        sg.from_sympy(s + t, {s: x})
    with pytest.raises(ValueError, match="gamma"):
        sg.from_sympy(sympy.gamma(s), {s: x})
    with pytest.raises(TypeError, match="symgrad variables"):
        sg.from_sympy(s, {s: 1.0})


def test_relations_and_logic():
    x, y = sg.vector("x", 4), sg.vector("y", 4)
    e = sympy.Piecewise((s, sympy.And(s > 0, t <= 1)), (-s, sympy.Or(sympy.Eq(s, t), s < -1)),
                        (0, True))
    v = sg.from_sympy(e, {s: x, t: y})
    xv = np.array([0.5, 0.5, 2.0, -3.0])
    yv = np.array([1.0, 2.0, 2.0, 5.0])
    assert sg.function([x, y], v)(xv, yv).tolist() == [0.5, 0.0, -2.0, 3.0]


def _sympy_values(e, sym, points):
    return np.array([float(e.subs(sym, p)) for p in points])


def test_booleans_used_as_numbers_become_piecewise():
    a = sg.scalar("a")
    A = sympy.Symbol("a")
    points = [-2.0, -0.5, 0.0, 0.3, 1.7]
    cases = [sg.grad(sg.relu(a), a), (a > 0) * a, (a >= 1) + (a < 0) * 2.0,
             sg.astype(a < 0.5, "float64"), sg.where(a > 0, a, 0.0) * (a <= 1)]
    for y in cases:
        e = sg.to_sympy(y)
        assert isinstance(e, sympy.Expr)  # a valid expression, not a crash or a Boolean
        f = sg.function([a], y)
        got = np.array([float(f(p)) for p in points])
        assert close(got, _sympy_values(e, A, points)), (y, e)
    assert sg.to_sympy((a > 0) * a) == sympy.Piecewise((1, A > 0), (0, True)) * A
    # a boolean result stays a SymPy Boolean; numbers used as booleans become "!= 0"
    assert sg.to_sympy(a > 0) == (A > 0)
    assert sg.to_sympy(sg.logical_and(a, a > 1)) == sympy.And(sympy.Ne(A, 0), A > 1)
    # back through from_sympy: same values, and the ReLU gradient compiles from SymPy's diff
    d = sympy.diff(sg.to_sympy(sg.relu(a)), A)  # Heaviside(a)
    g = sg.function([a], sg.from_sympy(d, {A: a}))
    assert [float(g(p)) for p in points] == [0.0, 0.0, 0.5, 1.0, 1.0]
    back = sg.function([a], sg.from_sympy(sg.to_sympy(cases[2]), {A: a}))
    assert close([float(back(p)) for p in points], [2.0, 2.0, 0.0, 0.0, 1.0])


def test_round_trip_through_sympy_diff_with_plain_symbols():
    a = sg.scalar("a")
    A = sympy.Symbol("a")  # no assumptions, as a user would write it
    e = sg.to_sympy(sg.exp(a) * a)
    assert e.free_symbols == {A}
    d = sympy.diff(e, A)
    assert d != 0
    f = sg.function([a], sg.from_sympy(d, {A: a}))
    assert close(f(0.7), np.exp(0.7) * 1.7)
    # real=True asks for real symbols (nicer derivatives of abs); from_sympy matches by name
    R = sympy.Symbol("a", real=True)
    er = sg.to_sympy(sg.abs(a), real=True)
    assert er == sympy.Abs(R) and sympy.diff(er, R) == sympy.sign(R)
    h = sg.function([a], sg.from_sympy(sympy.diff(er, R), {A: a}))
    assert float(h(-3.0)) == -1.0
    # a free symbol with no variable is an error naming it, never a silent constant
    with pytest.raises(ValueError, match="symbol 'b'"):
        sg.from_sympy(sympy.diff(e, A) + sympy.Symbol("b"), {A: a})
    with pytest.raises(ValueError, match="'a'.*two different"):
        sg.from_sympy(e, {A: a, R: sg.scalar("a2")})
