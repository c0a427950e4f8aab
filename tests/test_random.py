"""sg.random.RandomStream and sg.nn.dropout: state advances per call, seeds reproduce."""

import numpy as np
import pytest

import symgrad as sg
from symgrad.rewrite.cse import cse
from symgrad.ir.graph import Graph


def _stream_fn(seed, dist="uniform"):
    rng = sg.random.RandomStream(seed)
    x = sg.matrix("x")
    draw = {"uniform": lambda: rng.uniform(-1.0, 2.0, size=x.shape),
            "normal": lambda: rng.normal(3.0, 0.5, size=x.shape),
            "bernoulli": lambda: rng.bernoulli(0.3, size=x.shape)}[dist]()
    return rng, sg.function([x], draw)


@pytest.mark.parametrize("dist", ["uniform", "normal", "bernoulli"])
def test_same_seed_same_run_new_draws_each_call(dist):
    _, f = _stream_fn(7, dist)
    _, g = _stream_fn(7, dist)
    _, h = _stream_fn(8, dist)
    x = np.zeros((50, 40))
    a1, a2 = f(x), f(x)
    b1, b2 = g(x), g(x)
    np.testing.assert_array_equal(a1, b1)
    np.testing.assert_array_equal(a2, b2)
    assert not np.array_equal(a1, a2)
    assert not np.array_equal(a1, h(x))
    assert a1.shape == (50, 40) and a1.dtype == np.float64


def test_distributions_have_the_right_moments():
    rng = sg.random.RandomStream(0)
    n = sg.scalar("n", dtype="int64")
    f = sg.function([n], [rng.uniform(-1.0, 3.0, size=(n,)), rng.normal(2.0, 0.5, size=(n,)),
                          rng.bernoulli(0.25, size=(n,))])
    u, z, b = f(200_000)
    assert u.min() >= -1.0 and u.max() < 3.0 and abs(u.mean() - 1.0) < 0.02
    assert abs(z.mean() - 2.0) < 0.01 and abs(z.std() - 0.5) < 0.01
    assert set(np.unique(b)) == {0.0, 1.0} and abs(b.mean() - 0.25) < 0.01


def test_matches_numpy_generator_formula():
    # documented construction: SeedSequence(seed, spawn_key=(draw index, call count))
    def gen(draw, call):
        return np.random.default_rng(np.random.SeedSequence(123, spawn_key=(draw, call)))

    rng = sg.random.RandomStream(123)
    f = sg.function([], [rng.normal(1.0, 2.0, size=(3, 4)), rng.uniform(0.0, 1.0, size=(5,))])
    for call in range(3):
        a, b = f()
        np.testing.assert_array_equal(a, gen(0, call).normal(
            1.0, 2.0, (3, 4)))
        np.testing.assert_array_equal(b, gen(1, call).uniform(
            0.0, 1.0, (5,)))
    assert int(rng.calls) == 3
    rng.reset()
    a, _ = f()
    np.testing.assert_array_equal(a, gen(0, 0).normal(1.0, 2.0, (3, 4)))


def test_symbolic_parameters_and_dtype():
    rng = sg.random.RandomStream(1)
    lo = sg.vector("lo")
    x = sg.matrix("x", shape=("batch", 3))
    u = rng.uniform(lo, lo + 1.0, size=(x.shape[0], 3), dtype="float32")
    assert u.type.shape == ("batch", 3) and u.dtype == np.float32
    f = sg.function([x, lo], u)
    out = f(np.zeros((4, 3)), np.array([0.0, 10.0, 100.0]))
    assert out.dtype == np.float32 and out.shape == (4, 3)
    assert np.all((out >= [0, 10, 100]) & (out < [1, 11, 101]))
    with pytest.raises(ValueError, match="does not broadcast"):
        rng.uniform(sg.vector("v", size=4), 1.0, size=(2, 3))
    with pytest.raises(TypeError, match="low must be a number"):
        rng.uniform("a", 1.0, size=(2,))
    with pytest.raises(ValueError, match="seed"):
        sg.random.RandomStream(-1)
    with pytest.raises(TypeError, match="float"):
        rng.normal(size=(2,), dtype="int64")


def test_random_nodes_are_not_merged_nor_differentiated():
    rng = sg.random.RandomStream(3)
    x = sg.vector("x", size=5)
    a, b = rng.uniform(size=(5,)), rng.uniform(size=(5,))
    graph, info = cse(Graph([a + b]))
    assert info["merged"] == 0
    f = sg.function([x], [a, b])
    ra, rb = f(np.zeros(5))
    assert not np.array_equal(ra, rb)
    # a draw is a constant for differentiation
    noise = rng.normal(size=(5,))
    g = sg.grad(sg.sum(x * noise), x)
    fg = sg.function([x], [g, noise])
    gv, nv = fg(np.ones(5))
    np.testing.assert_array_equal(gv, nv)


def test_failed_call_does_not_advance_the_stream():
    rng = sg.random.RandomStream(5)
    x = sg.vector("x", size=3)
    f = sg.function([x], x + rng.normal(size=(3,)))
    f(np.zeros(3))
    with pytest.raises(ValueError):
        f(np.zeros(4))
    assert int(rng.calls) == 1


def test_explicit_update_of_the_counter_wins():
    rng = sg.random.RandomStream(5)
    f = sg.function([], rng.normal(size=(2,)), updates={rng.counter: rng.counter})
    a, b = f(), f()
    np.testing.assert_array_equal(a, b)
    assert int(rng.calls) == 0


# --- dropout ------------------------------------------------------------------------------

def _dropout_fn(seed, rate=0.3, dtype="float64"):
    rng = sg.random.RandomStream(seed)
    x = sg.matrix("x", dtype=dtype)
    return sg.function([x], sg.nn.dropout(x, rate, rng))


def test_dropout_keeps_the_mean_and_scales_kept_units():
    f = _dropout_fn(0, rate=0.3)
    x = np.random.default_rng(0).uniform(1.0, 2.0, size=(400, 500))
    y = f(x)
    kept = y != 0
    np.testing.assert_allclose(y[kept], x[kept] / 0.7, rtol=1e-15)
    # fraction kept and mean within a few standard errors of their expectations
    n = x.size
    assert abs(kept.mean() - 0.7) < 4 * np.sqrt(0.21 / n)
    assert abs(y.mean() - x.mean()) / x.mean() < 0.01


def test_dropout_masks_same_per_seed_new_per_call():
    f, g = _dropout_fn(11), _dropout_fn(11)
    x = np.ones((20, 30))
    m1, m2 = f(x) != 0, f(x) != 0
    np.testing.assert_array_equal(m1, g(x) != 0)
    np.testing.assert_array_equal(m2, g(x) != 0)
    assert not np.array_equal(m1, m2)


def test_dropout_identity_at_inference_and_rate_zero():
    rng = sg.random.RandomStream(0)
    x = sg.matrix("x")
    assert sg.nn.dropout(x, 0.5, rng, training=False) is x
    assert sg.nn.dropout(x, 0.0, rng) is x
    with pytest.raises(ValueError, match="rate"):
        sg.nn.dropout(x, 1.0, rng)
    with pytest.raises(TypeError, match="RandomStream"):
        sg.nn.dropout(x, 0.5, np.random.default_rng(0))


def test_dropout_float32_and_gradient_through_mask():
    rng = sg.random.RandomStream(2)
    x = sg.matrix("x", dtype="float32")
    y = sg.nn.dropout(x, 0.5, rng)
    assert y.dtype == np.float32
    g = sg.grad(sg.sum(y * 3.0), x)
    f = sg.function([x], [y, g])
    yv, gv = f(np.ones((10, 10), np.float32))
    assert yv.dtype == gv.dtype == np.float32
    # d/dx sum(3 * x * mask / keep) = 3 * mask / keep: same units as the forward mask
    np.testing.assert_array_equal(gv, 3.0 * yv)


def test_size_none_uses_the_broadcast_shape_of_the_parameters():
    # NumPy's Generator: size=None draws one value per element of the broadcast parameters
    def gen(draw, call):
        return np.random.default_rng(np.random.SeedSequence(11, spawn_key=(draw, call)))

    rng = sg.random.RandomStream(11)
    loc = sg.vector("loc")  # unknown size
    p = sg.matrix("p", shape=("n", 3))
    hi = sg.matrix("hi", shape=(2, 1))
    z = rng.normal(loc=loc)
    b = rng.bernoulli(p=p)
    u = rng.uniform(low=loc, high=hi)  # (2, 1) with (None,): broadcast (2, None)
    s = rng.normal(loc=2.0)  # no variable parameter: a scalar, as in NumPy
    assert b.type.shape == ("n", 3) and u.type.shape[0] == 2 and s.type.shape == ()
    f = sg.function([loc, p, hi], [z, b, u, s])
    lv, pv, hv = np.array([1.0, -1.0, 5.0, 0.0]), np.full((5, 3), 0.5), np.array([[6.0], [7.0]])
    for call in range(2):
        zv, bv, uv, sv = f(lv, pv, hv)
        np.testing.assert_array_equal(zv, gen(0, call).normal(lv, 1.0))
        np.testing.assert_array_equal(bv, (gen(1, call).random((5, 3)) < pv).astype(float))
        np.testing.assert_array_equal(uv, gen(2, call).uniform(lv, hv))
        assert uv.shape == (2, 4) and sv.shape == ()
    # two parameters of unknown sizes: the larger one wins where the other is 1, like NumPy
    a, c = sg.vector("a"), sg.vector("c")
    g = sg.function([a, c], rng.normal(a, c))
    assert g(np.zeros(1), np.full(3, 1e-9)).shape == (3,)
    assert g(np.zeros(4), np.full(1, 1e-9)).shape == (4,)
    with pytest.raises(ValueError, match="do not broadcast"):
        rng.normal(sg.vector("v", 4), sg.vector("w", 3))
