"""Numerical stabilisation: forward and gradient graphs stay finite where the naive
formulas overflow or give 0/0."""

import numpy as np
import pytest

import symgrad as sg


def _compile(expr, wrt, inputs):
    return sg.function(inputs, [expr, sg.grad(expr, wrt)])


def test_naive_cross_entropy_matches_fused_at_large_logits():
    z = sg.tensor("z", shape=("n", 5))
    y = sg.tensor("y", shape=("n",), dtype="int64")
    naive = -sg.mean(sg.log(sg.softmax(z))[sg.arange(z.shape[0]), y])
    fused = sg.nn.cross_entropy(z, y)
    f = _compile(naive, z, [z, y])
    g = _compile(fused, z, [z, y])
    rng = np.random.default_rng(1)
    Z = rng.normal(size=(7, 5)) * 1e4
    Y = rng.integers(0, 5, size=7)
    (la, ga), (lb, gb) = f(Z, Y), g(Z, Y)
    assert np.isfinite(la) and np.all(np.isfinite(ga))
    np.testing.assert_allclose(la, lb, rtol=1e-12, atol=0)
    np.testing.assert_allclose(ga, gb, rtol=1e-12, atol=1e-12)
    assert f.stats.pass_report("stabilize")["rewrites"]["log_softmax"] == 1
    # unoptimized, the same formula is not finite: the rewrite is what makes it so
    raw = sg.function([z, y], [naive, sg.grad(naive, z)], optimize=False)
    with np.errstate(all="ignore"):
        assert not np.all(np.isfinite(raw(Z, Y)[1]))


def test_naive_cross_entropy_gradient_at_moderate_logits():
    z = sg.tensor("z", shape=(3, 4))
    y = sg.tensor("y", shape=(3,), dtype="int64")
    naive = -sg.mean(sg.log(sg.softmax(z))[sg.arange(3), y])
    f = _compile(naive, z, [z, y])
    Z = np.random.default_rng(2).normal(size=(3, 4))
    Y = np.array([0, 3, 1])

    def loss(v):
        p = np.exp(v - v.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        return -np.mean(np.log(p[np.arange(3), Y]))
    num = np.zeros_like(Z)
    for idx in np.ndindex(Z.shape):
        d = np.zeros_like(Z)
        d[idx] = 1e-6
        num[idx] = (loss(Z + d) - loss(Z - d)) / 2e-6
    _, gz = f(Z, Y)
    assert np.abs(gz - num).max() / np.abs(num).max() < 1e-6


@pytest.mark.parametrize("value, expect_value, expect_grad", [(-1000.0, -1000.0, 1.0),
                                                              (1000.0, 0.0, 0.0)])
def test_log_sigmoid(value, expect_value, expect_grad):
    x = sg.scalar("x")
    f = _compile(sg.log(sg.sigmoid(x)), x, [x])
    v, g = f(value)
    assert v == expect_value and g == expect_grad


@pytest.mark.parametrize("value, expect_value, expect_grad", [(1000.0, 1000.0, 1.0),
                                                              (-1000.0, 0.0, 0.0)])
def test_log_one_plus_exp(value, expect_value, expect_grad):
    x = sg.scalar("x")
    f = _compile(sg.log(1 + sg.exp(x)), x, [x])
    v, g = f(value)
    assert v == expect_value and g == expect_grad
    assert "softplus" in f.stats["ops"]


def test_log_one_minus_sigmoid():
    x = sg.scalar("x")
    f = _compile(sg.log(1 - sg.sigmoid(x)), x, [x])
    assert f(1000.0) == [-1000.0, -1.0]
    v, g = f(0.3)
    s = 1 / (1 + np.exp(-0.3))
    assert abs(v - np.log(1 - s)) < 1e-15 and abs(g + s) < 1e-15


def test_log_sum_exp_forward_and_gradient():
    x = sg.vector("x", 3)
    for keep in (True, False):
        expr = sg.log(sg.sum(sg.exp(x), keepdims=keep)).sum()
        f = _compile(expr, x, [x])
        v, g = f(np.array([1000.0, 1000.0, 0.0]))
        assert abs(v - (1000 + np.log(2))) < 1e-9
        np.testing.assert_allclose(g, [0.5, 0.5, 0.0], atol=1e-15)


def test_log1p_and_expm1():
    x = sg.scalar("x")
    f = sg.function([x], [sg.log(1 + x), sg.exp(x) - 1])
    a, b = f(1e-20)
    assert a == 1e-20 and b == 1e-20
    assert {"log1p", "expm1"} <= set(f.stats["ops"])


def test_binary_cross_entropy_by_hand():
    z = sg.vector("z", 2)
    t = sg.vector("t", 2)
    s = sg.sigmoid(z)
    bce = -sg.mean(t * sg.log(s) + (1 - t) * sg.log(1 - s))
    f = _compile(bce, z, [z, t])
    v, g = f(np.array([-800.0, 800.0]), np.array([1.0, 0.0]))
    assert v == 800.0
    np.testing.assert_array_equal(g, [-0.5, 0.5])


def _log_softmax_ref(Z, axis):
    m = Z.max(axis=axis, keepdims=True)
    return Z - m - np.log(np.exp(Z - m).sum(axis=axis, keepdims=True))


# every way of reducing log(softmax(z)) to a scalar: (name, build cost, NumPy weights W such
# that cost = sum(W * log_softmax(z)), so that d cost / dz = W - softmax(z) * sum(W, axis))
_REDUCTIONS = {
    "sum": (lambda ls, W: sg.sum(ls), lambda shape, rng: np.ones(shape)),
    "mean": (lambda ls, W: sg.mean(ls), lambda shape, rng: np.full(shape, 1 / np.prod(shape))),
    "soft targets": (lambda ls, W: -sg.sum((-W) * ls),   # -sum(t * log(softmax(z)))
                     lambda shape, rng: -rng.dirichlet(np.ones(shape[-1]), size=shape[:-1])),
    "row weights": (lambda ls, W: sg.sum(ls * W[:1]), lambda shape, rng: np.broadcast_to(
        rng.normal(size=(1, shape[-1])), shape)),
    "column 0": (lambda ls, W: sg.sum(ls[:, 0]),
                 lambda shape, rng: np.eye(1, shape[-1], 0).repeat(shape[0], axis=0)),
    "mean of rows": (lambda ls, W: sg.mean(sg.sum(ls, axis=1)),
                     lambda shape, rng: np.full(shape, 1 / shape[0])),
}


@pytest.mark.parametrize("axis", [-1, 0])
@pytest.mark.parametrize("name", list(_REDUCTIONS))
def test_log_softmax_gradient_finite_for_every_reduction(name, axis):
    """log(softmax(z)) has a finite value and an exact gradient W - softmax * sum(W), also
    where softmax underflows to 0 (issue: [0, 800, 1000] gave NaN through sum and mean)."""
    build, weights = _REDUCTIONS[name]
    rng = np.random.default_rng(3)
    Z = np.array([[0.0, 800.0, 1000.0], [-1000.0, 3.0, 2.0]])
    if axis == 0:
        Z = np.array([[0.0, -900.0, 4.0], [1000.0, 2.0, 5.0]])
    W = np.array(weights(Z.shape, rng))
    z = sg.matrix("z", Z.shape)
    Wv = sg.constant(W)
    cost = build(sg.log(sg.softmax(z, axis)), Wv)
    f = sg.function([z], [cost, sg.grad(cost, z)])
    value, grad = f(Z)
    ls = _log_softmax_ref(Z, axis)
    sm = np.exp(ls)
    np.testing.assert_allclose(value, np.sum(W * ls), rtol=1e-12)
    expect = W - sm * W.sum(axis=axis, keepdims=True)
    assert np.all(np.isfinite(grad)), grad
    np.testing.assert_allclose(grad, expect, rtol=1e-12, atol=1e-15)


def test_stabilised_gradient_lines_say_so():
    """A backward line built by a stability rewrite names the rewrite beside its rule."""
    z = sg.matrix("z", (2, 3))
    cost = sg.sum(sg.log(sg.softmax(z, -1)))
    f = sg.function([z], [cost, sg.grad(cost, z)], target="plain")
    line = next(ln for ln in f.source.splitlines() if ln.lstrip().startswith("d_z = "))
    assert "(stabilised: grad_log_softmax)" in line, line
    assert "stabilised" not in f.source.split("# ---- backward")[0]
