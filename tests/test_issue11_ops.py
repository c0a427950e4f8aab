"""Regression tests for the op-local defects of issue 11 ("no silent wrong answers"):
casts to integer types have no derivative (2), sigmoid is exact in its tails (4), second
derivatives of prod with several zeros (5), and the op reference's SymPy summaries (12)."""

import numpy as np
import pytest

import symgrad as sg
from symgrad import docgen
from symgrad.ops.registry import REGISTRY

X = np.array([1.7, -2.3, 3.5])


# ---- defect 2: a cast to an integer or bool dtype has no derivative ---------------------

@pytest.mark.parametrize("optimize", [True, False])
def test_grad_through_int_cast_is_zero(optimize):
    x = sg.vector("x", 3)
    g = sg.grad(sg.sum(sg.astype(x, "int64") * x), x)
    np.testing.assert_array_equal(sg.function([x], g, optimize=optimize)(X), [1.0, -2.0, 3.0])
    # the cast alone carries no gradient: zero, in x's dtype and shape
    g = sg.grad(sg.sum(sg.astype(10 * x, "int64") * 1.0), x)
    out = sg.function([x], g, optimize=optimize)(X)
    np.testing.assert_array_equal(out, np.zeros(3))
    assert out.dtype == np.float64 and out.shape == (3,)


@pytest.mark.parametrize("dtype", ["int32", "int64", "uint8", "bool"])
def test_vjp_and_jvp_of_integer_casts_are_zero(dtype):
    x = sg.vector("x", 3, dtype="float32")
    y = sg.astype(sg.astype(sg.abs(x), dtype), "float32") * 2.0
    xv = np.array([0.25, 1.5, 2.75], "float32")
    g = sg.function([x], sg.grad(sg.sum(y), x))(xv)
    assert g.dtype == np.float32 and g.shape == (3,)
    np.testing.assert_array_equal(g, 0)
    t = sg.function([x], sg.jvp(y, x, np.ones(3, "float32")))(xv)
    np.testing.assert_array_equal(t, 0)
    # higher order too
    H = sg.function([x], sg.hessian(sg.sum(y * x), x))(xv)
    np.testing.assert_array_equal(H, 0)


def test_float_casts_still_pass_the_gradient():
    x = sg.vector("x", 3)
    g = sg.grad(sg.sum(sg.astype(x, "float32") * 3.0), x)
    out = sg.function([x], g)(X)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, 3.0)


def test_integer_valued_ops_have_zero_derivative():
    # floor, ceil, sign, comparisons, argmax, floor_divide and casts are piecewise
    # constant: their derivative is 0 wherever it exists (and taken as 0 at the jumps)
    x = sg.vector("x", 3)
    pieces = [sg.floor(x), sg.ceil(x), sg.sign(x), sg.astype(x > 0, "float64"),
              sg.astype(sg.argmax(x), "float64") + 0 * x, x // 1.0,
              sg.astype(sg.astype(x, "int32") % 2, "float64")]
    for p in pieces:
        g = sg.function([x], sg.grad(sg.sum(p * 1.0), x))(X)
        np.testing.assert_array_equal(g, 0)
        t = sg.function([x], sg.jvp(p, x, np.ones(3)))(X)
        np.testing.assert_array_equal(t, 0)


# ---- defect 4: sigmoid in its tails -----------------------------------------------------

def test_sigmoid_is_exact_in_its_tails():
    s = sg.scalar("s")
    f = sg.function([s], sg.sigmoid(s))
    assert f(-40.0) == pytest.approx(4.248354255291589e-18, rel=4e-16)
    assert f(-30.0) == pytest.approx(9.357622968840175e-14, rel=4e-16)
    assert f(-700.0) == pytest.approx(9.85967654375977e-305, rel=4e-16)
    assert f(40.0) == 1.0 and f(np.inf) == 1.0 and f(-np.inf) == 0.0
    assert np.isnan(f(np.nan))
    assert "import numpy as np" in f.source and "np.tanh" not in f.source


def test_sigmoid_float32_keeps_its_dtype_and_tail():
    x = sg.vector("x", 2, dtype="float32")
    out = sg.function([x], sg.sigmoid(x))(np.array([-40.0, 3.0], "float32"))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [4.248354e-18, 0.95257413], rtol=1e-6)


@pytest.mark.parametrize("optimize", [True, False])
def test_hessian_of_log_sigmoid_is_finite_in_the_tail(optimize):
    x = sg.vector("x", 4)
    xv = np.array([-40.0, -100.0, -700.0, -3.0])
    H = sg.function([x], sg.hessian(sg.sum(sg.log(sg.sigmoid(x))), x), optimize=optimize)(xv)
    assert np.all(np.isfinite(H))
    exact = -1 / (2 + 2 * np.cosh(xv))    # -sigmoid(x) sigmoid(-x)
    np.testing.assert_allclose(np.diag(H), exact, rtol=1e-12, atol=1e-15)
    g = sg.function([x], sg.grad(sg.sum(sg.log(sg.sigmoid(x))), x), optimize=optimize)(xv)
    np.testing.assert_allclose(g, 1 / (1 + np.exp(xv)), rtol=1e-15)


def test_saved_sigmoid_module_runs_with_numpy_alone(tmp_path):
    x = sg.vector("x", 2)
    f = sg.function([x], sg.sigmoid(x), name="sig")
    path = tmp_path / "sig.py"
    f.save(str(path))
    ns = {}
    exec(compile(path.read_text(), str(path), "exec"), ns)
    out, _ = ns["sig"](np.array([-40.0, 2.0]))
    np.testing.assert_allclose(out, [4.248354255291589e-18, 1 / (1 + np.exp(-2.0))],
                               rtol=4e-16)


# ---- defect 5: second derivatives of prod with zeros ------------------------------------

def _prod_hessian_exact(a):
    n = a.size
    H = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            if i != j:
                H[i, j] = np.prod(np.delete(a, [i, j]))
    return H


@pytest.mark.parametrize("value", [[2.0, 0.0, 0.0, 4.0], [2.0, 0.0, 3.0, 4.0],
                                   [0.0, 0.0, 0.0, 5.0], [1.5, -2.0, 3.0, 0.5]])
@pytest.mark.parametrize("optimize", [True, False])
def test_hessian_of_prod_with_zeros(value, optimize):
    a = sg.vector("a", 4)
    av = np.array(value)
    H = sg.function([a], sg.hessian(sg.prod(a), a), optimize=optimize)(av)
    np.testing.assert_allclose(H, _prod_hessian_exact(av), rtol=1e-15, atol=0)
    g = sg.function([a], sg.grad(sg.prod(a), a), optimize=optimize)(av)
    np.testing.assert_allclose(g, [np.prod(np.delete(av, i)) for i in range(4)], rtol=1e-15)


def test_hessian_of_prod_example_from_the_issue():
    a = sg.vector("a", 4)
    H = sg.function([a], sg.hessian(sg.prod(a), a))(np.array([2.0, 0.0, 0.0, 4.0]))
    assert H[1, 2] == 8.0 and H[2, 1] == 8.0
    assert np.count_nonzero(H) == 2


@pytest.mark.parametrize("axis,keepdims", [(0, False), (1, True), ((0, 2), False),
                                           (None, True), (-1, False)])
def test_prod_second_and_third_order_with_axes(axis, keepdims):
    rng = np.random.default_rng(5)
    xv = rng.normal(size=(3, 4, 2))
    xv[0, 1, :] = 0.0      # two zeros in slices along axis 2 and (0, 2)
    xv[1, :2, 1] = 0.0     # and along axis 1
    x = sg.tensor("x", (3, 4, 2))
    w = sg.constant(rng.normal(size=np.sum(xv, axis=axis, keepdims=keepdims).shape))
    cost = sg.sum(sg.prod(x, axis=axis, keepdims=keepdims) * w)
    H = sg.function([x], sg.hessian(cost, x))(xv)

    # exact Hessian by the same formula on float128-free numbers: d2/dxi dxj
    def cost_np(v):
        return np.sum(np.prod(v, axis=axis, keepdims=keepdims) * w.value)
    n = xv.size
    ref = np.zeros((n, n))
    flat = xv.reshape(-1)
    for i in range(n):      # the cost is multilinear: a second difference with step 1 is exact
        for j in range(n):
            if i == j:
                continue
            vals = []
            for si, sj in ((1, 1), (1, 0), (0, 1), (0, 0)):
                v = flat.copy()
                v[i] = si
                v[j] = sj
                vals.append(cost_np(v.reshape(xv.shape)))
            ref[i, j] = vals[0] - vals[1] - vals[2] + vals[3]
    np.testing.assert_allclose(H.reshape(n, n), ref, rtol=1e-12, atol=1e-12)
    # third order, through the hvp of the gradient: again multilinear, so exact
    v = sg.constant(rng.normal(size=xv.shape))
    hv = sg.hvp(cost, x, v)
    d3 = sg.function([x], sg.grad(sg.sum(hv * v), x))(xv)
    assert np.all(np.isfinite(d3))


def test_prod_gradient_has_no_division():
    x = sg.vector("x", 5)
    f = sg.function([x], sg.grad(sg.prod(x), x))
    assert "np.divide" not in f.source and " / " not in f.source.split("# ---- backward")[-1]


# ---- defect 12: the op reference's SymPy summaries --------------------------------------

def test_ops_reference_summaries_name_their_inputs():
    text = docgen.render()
    rows = {line.split("|")[1].strip(): line for line in text.splitlines()
            if line.startswith("| `")}
    assert "``Max(x, y)``" in rows["`sg.maximum`"]
    assert "``Min(x, y)``" in rows["`sg.minimum`"]
    assert "``x & y``" in rows["`sg.logical_and`"]
    assert "``x \\| y``" in rows["`sg.logical_or`"]
    assert "``x ^ y``" in rows["`sg.logical_xor`"]
    # no summary is a bare constant (what a SymPy class called with no arguments gives)
    for name, line in rows.items():
        summary = line.split("|")[3]
        for const in ("``-oo``", "``oo``", "``True``", "``False``", "``0``", "``1``"):
            assert const not in summary, f"{name}: {summary}"


def test_every_sympy_summary_uses_all_inputs():
    import sympy
    for name, op in REGISTRY.items():
        if op.sympy is None or not op.elementwise:
            continue
        n = docgen._arity(op)
        if n is None:
            continue
        s = docgen._sympy_summary(op)
        if not s:
            continue
        form = sympy.sympify(s.split("``")[1], locals={"Max": sympy.Max, "Min": sympy.Min})
        assert len(form.free_symbols) == n, (name, s)


# ---- further wrong answers found by tests/test_tails.py ---------------------------------

def _d(fn, at):
    x = sg.vector("x", len(at))
    return sg.function([x], sg.grad(sg.sum(fn(x)), x))(np.array(at, dtype=float))


def test_derivatives_in_the_tails():
    # each was 0 (or off by 30-300 ulps), from 1 - out, 1 - out**2, out + 1, b - 1
    np.testing.assert_allclose(_d(sg.sigmoid, [40.0, 3.0]),
                               [4.248354255291589e-18, 0.045176659730912144], rtol=4e-16)
    np.testing.assert_allclose(_d(sg.tanh, [20.0, -2.0]),
                               [1.6993417021166356e-17, 0.07065082485316447], rtol=6e-16)
    np.testing.assert_allclose(_d(sg.expm1, [-40.0]), [4.248354255291589e-18], rtol=4e-16)
    np.testing.assert_allclose(_d(lambda x: sg.log(sg.sigmoid(x)), [40.0]),
                               [4.248354255291589e-18], rtol=4e-16)
    np.testing.assert_allclose(_d(lambda x: x ** 0.3, [1e-300]), [3.0000000000000228e+209],
                               rtol=4e-16)
    np.testing.assert_allclose(_d(lambda x: x ** 1e-8, [1e-310]), [9.9999286201169035e+301],
                               rtol=4e-16)


def test_remainder_slope_in_the_divisor_uses_the_floor_quotient():
    a, b = sg.vector("a", 2), sg.vector("b", 2)
    g = sg.function([a, b], sg.grad(sg.sum(a % b), b))(np.array([5e-324, 7.0]),
                                                       np.array([-1e300, 2.0]))
    np.testing.assert_array_equal(g, [1.0, -3.0])    # -(a // b)


def test_power_slope_is_nan_where_the_power_is():
    # (-10) ** 0.5 is NaN; its slope in the base was a finite number (b - 1 rounded to -0.5
    # is fine, but -1e-100 - 1 rounds to the integer -1)
    a = sg.vector("a", 1)
    with np.errstate(invalid="ignore"):     # the value itself is NaN
        g = sg.function([a], sg.grad(sg.sum(a ** -1e-100), a))(np.array([-10.0]))
    assert np.isnan(g[0])
