"""sg.grad: structures, fan-out, disconnected inputs, errors, higher order, and the MLP
acceptance checks against two-sided finite differences."""

import numpy as np
import pytest

import symgrad as sg
from symgrad.ir.graph import toposort


def numeric_grad(f, value, eps=1e-6):
    """Two-sided finite differences of the scalar function f at value (float64)."""
    value = np.array(value, dtype=np.float64)
    out = np.zeros_like(value)
    for idx in np.ndindex(value.shape):
        plus, minus = value.copy(), value.copy()
        plus[idx] += eps
        minus[idx] -= eps
        out[idx] = (float(f(plus)) - float(f(minus))) / (2 * eps)
    return out


def rel_err(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    denom = np.abs(a).sum() + np.abs(b).sum()
    return 0.0 if denom == 0 else float(np.abs(a - b).sum() / denom)


def test_grad_structures():
    a, b = sg.scalar("a"), sg.scalar("b")
    cost = a * b + a
    assert isinstance(sg.grad(cost, [a, b]), list)
    assert isinstance(sg.grad(cost, (a, b)), tuple)
    d = sg.grad(cost, {"first": a, "second": b})
    assert set(d) == {"first", "second"}
    f = sg.function([a, b], d)
    out = f(2.0, 3.0)
    assert float(out["first"]) == 4.0 and float(out["second"]) == 2.0


def test_fan_out_accumulates():
    x = sg.scalar("x")
    y = x * x * x + sg.sin(x) * x  # x used four times
    g = sg.function([x], sg.grad(y, x))
    v = 0.7
    assert float(g(v)) == pytest.approx(3 * v ** 2 + np.cos(v) * v + np.sin(v))


def test_disconnected_inputs_get_zeros_of_their_shape():
    x = sg.vector("x", 3)
    W = sg.shared(np.ones((2, 5)), name="W")
    n = sg.tensor("n", shape=("k", 2))
    gx, gW, gn = sg.grad((x ** 2).sum(), [x, W, n])
    f = sg.function([x, n], [gx, gW, gn])
    out = f(np.array([1.0, 2.0, 3.0]), np.ones((4, 2)))
    np.testing.assert_array_equal(out[0], [2.0, 4.0, 6.0])
    np.testing.assert_array_equal(out[1], np.zeros((2, 5)))
    np.testing.assert_array_equal(out[2], np.zeros((4, 2)))


def test_broadcasting_gradients_sum_back():
    x = sg.tensor("x", shape=(4, 3))
    b = sg.vector("b", 3)
    c = sg.tensor("c", shape=(4, 1))
    s = sg.scalar("s")
    cost = ((x + b) * c * s).sum()
    f = sg.function([x, b, c, s], sg.grad(cost, [b, c, s]))
    xv = np.arange(12.0).reshape(4, 3)
    bv, cv, sv = np.array([1.0, 2.0, 3.0]), np.arange(4.0).reshape(4, 1), 2.0
    gb, gc, gs = f(xv, bv, cv, sv)
    np.testing.assert_allclose(gb, np.broadcast_to(cv * sv, (4, 3)).sum(axis=0))
    np.testing.assert_allclose(gc, ((xv + bv) * sv).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(gs, ((xv + bv) * cv).sum())


def test_non_scalar_cost_points_to_vjp():
    x = sg.vector("x", 3)
    with pytest.raises(ValueError, match="sg.vjp"):
        sg.grad(x * 2, x)


def test_integer_wrt_is_an_error():
    i = sg.vector("i", 3, dtype="int64")
    x = sg.vector("x", 3)
    with pytest.raises(TypeError, match="'i'"):
        sg.grad((x * i).sum(), i)


def test_bad_wrt_type():
    x = sg.vector("x", 3)
    with pytest.raises(TypeError):
        sg.grad(x.sum(), "x")


def test_vjp_matches_manual():
    x = sg.vector("x", 3)
    y = sg.exp(x)
    ct = sg.vector("ct", 3)
    gx = sg.vjp(y, x, ct)
    f = sg.function([x, ct], gx)
    xv, cv = np.array([0.1, 0.2, 0.3]), np.array([1.0, -1.0, 2.0])
    np.testing.assert_allclose(f(xv, cv), np.exp(xv) * cv)
    # arrays as cotangents
    f2 = sg.function([x], sg.vjp([y], [x], [np.array([1.0, 0.0, 0.0])])[0])
    np.testing.assert_allclose(f2(xv), [np.exp(0.1), 0, 0])


@pytest.mark.parametrize("order_point", [0.3, -1.2])
def test_third_derivative_of_tanh(order_point):
    s = sg.scalar("s")
    d1 = sg.grad(sg.tanh(s), s)
    d2 = sg.grad(d1, s)
    d3 = sg.grad(d2, s)
    out = sg.function([s], [d1, d2, d3])(order_point)
    t = np.tanh(order_point)
    expect = [1 - t ** 2, -2 * t * (1 - t ** 2), -2 * (1 - t ** 2) ** 2 + 4 * t ** 2 * (1 - t ** 2)]
    np.testing.assert_allclose([float(o) for o in out], expect, rtol=1e-12)


def test_second_derivative_through_matmul_and_softmax():
    x = sg.vector("x", 4)
    W = sg.shared(np.random.default_rng(3).normal(size=(4, 3)), name="W")
    cost = sg.logsumexp(sg.tanh(x @ W))
    gx = sg.grad(cost, x)
    v = np.array([0.3, -0.2, 0.1, 0.5])
    # grad of <grad, v> is the Hessian-vector product; compare with FD of the gradient
    hv = sg.grad((gx * v).sum(), x)
    f_g = sg.function([x], gx)
    f_hv = sg.function([x], hv)
    x0 = np.array([0.1, -0.4, 0.2, 0.3])
    eps = 1e-6
    fd = (f_g(x0 + eps * v) - f_g(x0 - eps * v)) / (2 * eps)
    assert rel_err(f_hv(x0), fd) < 1e-6


def _mlp(widths, act, dtype="float64", seed=0):
    rng = np.random.default_rng(seed)
    x = sg.tensor("x", shape=("batch", widths[0]), dtype=dtype)
    y = sg.tensor("y", shape=("batch",), dtype="int64")
    params, h = [], x
    for i in range(len(widths) - 1):
        W = sg.shared(rng.normal(size=(widths[i], widths[i + 1])).astype(dtype) * 0.7,
                      name=f"W{i + 1}")
        b = sg.shared(rng.normal(size=widths[i + 1]).astype(dtype) * 0.1, name=f"b{i + 1}")
        params += [W, b]
        h = h @ W + b
        if i < len(widths) - 2:
            h = act(h)
    return x, y, params, sg.nn.cross_entropy(h, y)


@pytest.mark.parametrize("act", [sg.sigmoid, sg.tanh, sg.relu])
def test_three_layer_mlp_gradients_match_finite_differences(act):
    x, y, params, loss = _mlp([5, 6, 7, 4], act)
    grads = sg.grad(loss, params)
    f = sg.function([x, y], grads)
    f_loss = sg.function([x, y], loss)
    rng = np.random.default_rng(1)
    xv, yv = rng.normal(size=(6, 5)), rng.integers(0, 4, 6)
    analytic = f(xv, yv)
    for p, g in zip(params, analytic):
        original = p.value.copy()

        def at(v, p=p):
            p.value = v
            return f_loss(xv, yv)
        num = numeric_grad(at, original)
        p.value = original
        assert rel_err(g, num) < 1e-6, p.name


def test_sigmoid_mlp_step_computes_each_sigmoid_once_and_is_lean():
    x, y, params, loss = _mlp([5, 6, 7, 4], sg.sigmoid)
    grads = sg.grad(loss, params)
    step = sg.function([x, y], loss,
                       updates={p: p - 0.1 * g for p, g in zip(params, grads)})
    nodes = toposort(step.graph)
    # sigmoid(h) forward, sigmoid(-h) for its derivative (exact in the tails): once each
    assert sum(1 for n in nodes if n.op.name == "sigmoid") == 4
    keys = set()
    from symgrad.rewrite.cse import node_key
    for n in nodes:
        k = node_key(n, n.inputs)
        assert k not in keys, f"two structurally equal nodes: {n!r}"
        keys.add(k)


def test_cse_merges_repeated_subexpressions_and_reports_it():
    x = sg.vector("x", 3)
    a = sg.exp(x * 2)
    b = sg.exp(x * 2)  # built twice
    cost = (a + b).sum()
    f = sg.function([x], cost)
    assert sum(1 for n in toposort(f.graph) if n.op.name == "exp") == 1
    assert f.stats.pass_report("cse")["merged"] >= 2
    f0 = sg.function([x], cost, optimize=False)
    assert sum(1 for n in toposort(f0.graph) if n.op.name == "exp") == 2
    code = "\n".join(line.split("#")[0] for line in f.source.splitlines())   # no comments
    assert f0.source.count("np.exp(") == 2 and code.count("np.exp(") == 1
    np.testing.assert_allclose(f(np.ones(3)), f0(np.ones(3)))


def test_stop_gradient_blocks():
    x = sg.scalar("x")
    y = sg.stop_gradient(x * x) + x
    assert float(sg.function([x], sg.grad(y, x))(3.0)) == 1.0


def test_deep_chain_builds_differentiates_and_compiles():
    # iterative traversals: far beyond Python's recursion limit
    z = sg.scalar("z")
    c = z
    for _ in range(20000):
        c = sg.tanh(c) * 1.0001
    g = sg.grad(c, z)
    f = sg.function([z], [c, g])
    value, slope = f(0.01)
    assert np.isfinite(value) and np.isfinite(slope)


def test_a_rule_returning_a_wrongly_shaped_cotangent_is_caught():
    from symgrad.ops.registry import apply, defop
    bad = defop("bad_shape_rule_op", infer=lambda types: types[0], emit="({0} * 2)",
                vjp=lambda g, out, x: [sg.ones_like(sg.constant(np.zeros(4)))],
                elementwise=False, replace=True)
    x = sg.vector("x", 3)
    with pytest.raises(ValueError, match="bad_shape_rule_op.*\\[4\\].*\\[3\\]"):
        sg.grad(apply(bad, [x]).sum(), x)
