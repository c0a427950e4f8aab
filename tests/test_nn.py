"""sg.nn: initialisers, Dense / mlp, losses against NumPy references, mini-batches."""

import numpy as np
import pytest

import symgrad as sg
from symgrad.nn import init


# --- initialisers --------------------------------------------------------------------------

@pytest.mark.parametrize("name,limit_or_std,kind", [
    ("glorot_uniform", np.sqrt(6 / (300 + 200)), "uniform"),
    ("he_uniform", np.sqrt(6 / 300), "uniform"),
    ("glorot_normal", np.sqrt(2 / (300 + 200)), "normal"),
    ("he_normal", np.sqrt(2 / 300), "normal"),
])
def test_initialiser_distributions(name, limit_or_std, kind):
    fn = getattr(sg.nn, name)
    w = fn((300, 200), rng=0)
    assert w.shape == (300, 200) and w.dtype == np.float64
    np.testing.assert_array_equal(w, fn((300, 200), rng=np.random.default_rng(0)))
    assert not np.array_equal(w, fn((300, 200), rng=1))
    if kind == "uniform":
        assert np.abs(w).max() <= limit_or_std
        assert np.abs(w).max() > 0.99 * limit_or_std
        np.testing.assert_allclose(w.std(), limit_or_std / np.sqrt(3), rtol=0.02)
    else:
        np.testing.assert_allclose(w.std(), limit_or_std, rtol=0.02)
    assert abs(w.mean()) < 0.05 * limit_or_std
    assert fn((4, 3), rng=0, dtype="float32").dtype == np.float32


def test_zeros_fans_and_errors():
    np.testing.assert_array_equal(sg.nn.zeros((2, 3)), np.zeros((2, 3)))
    assert init.fans((5, 7)) == (5, 7)
    assert init.fans((9,)) == (9, 9)
    assert init.fans((3, 4, 2, 2)) == (12, 16)
    with pytest.raises(ValueError, match="unknown initialiser"):
        init.get_initializer("orthogonal")
    with pytest.raises(TypeError, match="float"):
        sg.nn.he_normal((2, 2), dtype="int64")
    with pytest.raises(TypeError, match="rng"):
        sg.nn.he_normal((2, 2), rng="seed")


# --- layers ---------------------------------------------------------------------------------

def test_mlp_parameters_names_and_forward_values():
    net = sg.nn.mlp([4, 6, 5, 3], activation="tanh", rng=0)
    assert [p.name for p in net.params] == ["W1", "b1", "W2", "b2", "W3", "b3"]
    assert [p.value.shape for p in net.params] == [(4, 6), (6,), (6, 5), (5,), (5, 3), (3,)]
    net.params[1].value = np.linspace(-1, 1, 6)
    x = sg.matrix("x", shape=("batch", 4))
    out = net(x)
    assert out.type.shape == ("batch", 3)
    X = np.random.default_rng(1).normal(size=(7, 4))
    W1, b1, W2, b2, W3, b3 = (p.value for p in net.params)
    ref = np.tanh(np.tanh(X @ W1 + b1) @ W2 + b2) @ W3 + b3
    np.testing.assert_allclose(sg.function([x], out)(X), ref, rtol=1e-13)


def test_mlp_same_seed_same_weights_and_default_init():
    a, b = sg.nn.mlp([10, 8, 2], rng=3), sg.nn.mlp([10, 8, 2], rng=3)
    for p, q in zip(a.params, b.params):
        np.testing.assert_array_equal(p.value, q.value)
    # ReLU layers default to He initialisation: std sqrt(2 / fan_in)
    big = sg.nn.Dense(400, 300, "relu", rng=0)
    np.testing.assert_allclose(big.W.value.std(), np.sqrt(2 / 400), rtol=0.02)
    np.testing.assert_array_equal(big.b.value, np.zeros(300))


def test_dense_float32_source_names_and_errors():
    layer = sg.nn.Dense(3, 2, "relu", rng=0, dtype="float32", name="1")
    x = sg.matrix("x", shape=(None, 3), dtype="float32")
    h = layer(x)
    assert h.dtype == np.float32 and [p.name for p in layer.params] == ["W1", "b1"]
    src = sg.function([x], sg.sum(h)).source
    assert "a1 = " in src and "W1" in src
    with pytest.raises(ValueError, match="3 features"):
        layer(sg.matrix("z", shape=(None, 4)))
    with pytest.raises(ValueError, match="activation"):
        sg.nn.Dense(3, 2, "swish")
    with pytest.raises(ValueError, match="n_out"):
        sg.nn.Dense(3, 0)
    assert sg.nn.Dense(3, 2, bias=False, rng=0).params[0].name == "W"


def test_mlp_dropout_train_vs_inference():
    net = sg.nn.mlp([5, 50, 2], rng=0)
    rng = sg.random.RandomStream(0)
    x = sg.matrix("x")
    train = sg.function([x], net(x, dropout=0.5, rng=rng))
    infer = sg.function([x], net(x, dropout=0.5, rng=rng, training=False))
    X = np.ones((3, 5))
    a, b = train(X), train(X)
    assert not np.allclose(a, b)
    np.testing.assert_array_equal(infer(X), infer(X))


def test_mlp_learns_with_sgd():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
    net = sg.nn.mlp([2, 16, 2], rng=0)
    x, t = sg.matrix("x"), sg.vector("t", dtype="int64")
    loss = sg.nn.cross_entropy(net(x), t)
    step = sg.function([x, t], loss, updates=sg.optim.sgd(loss, net, lr=0.5))
    first = float(step(X, y))
    for _ in range(300):
        last = float(step(X, y))
    assert last < 0.3 * first


# --- losses against NumPy -----------------------------------------------------------------

def _np_log_softmax(z):
    m = z.max(axis=-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True))


def test_cross_entropy_integer_and_probability_targets():
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(6, 4)) * 3
    y = rng.integers(0, 4, size=6)
    P = rng.dirichlet(np.ones(4), size=6)
    z = sg.matrix("z")
    ref_int = -_np_log_softmax(Z)[np.arange(6), y].mean()
    ref_prob = -(P * _np_log_softmax(Z)).sum(axis=1).mean()
    yv, pv = sg.vector("y", dtype="int64"), sg.matrix("p")
    f = sg.function([z, yv, pv], [sg.nn.cross_entropy(z, yv), sg.nn.cross_entropy(z, pv)])
    a, b = f(Z, y, P)
    np.testing.assert_allclose(a, ref_int, rtol=1e-13)
    np.testing.assert_allclose(b, ref_prob, rtol=1e-13)
    # one-hot probabilities give the integer-label loss; large logits stay finite
    a2, b2 = f(Z * 1e4, y, np.eye(4)[y])
    assert np.isfinite(a2) and np.isclose(a2, b2, rtol=1e-12)


def test_binary_cross_entropy_mse_l1_l2():
    rng = np.random.default_rng(1)
    Z = rng.normal(size=(5, 3)) * 4
    T = rng.integers(0, 2, size=(5, 3)).astype(float)
    z, t = sg.matrix("z"), sg.matrix("t")
    s = 1 / (1 + np.exp(-Z))
    f = sg.function([z, t], [sg.nn.binary_cross_entropy(z, t), sg.nn.mse(z, t),
                             sg.nn.l1(z, t), sg.nn.l2(z, t)])
    bce, mse, l1, l2 = f(Z, T)
    np.testing.assert_allclose(bce, -(T * np.log(s) + (1 - T) * np.log(1 - s)).mean(),
                               rtol=1e-12)
    np.testing.assert_allclose(mse, ((Z - T) ** 2).mean(), rtol=1e-13)
    np.testing.assert_allclose(l1, np.abs(Z).sum() + np.abs(T).sum(), rtol=1e-13)
    np.testing.assert_allclose(l2, (Z ** 2).sum() + (T ** 2).sum(), rtol=1e-13)
    big = sg.function([z, t], sg.nn.binary_cross_entropy(z, t))(np.array([[800.0, -800.0]]),
                                                               np.array([[0.0, 1.0]]))
    np.testing.assert_allclose(big, 800.0)


def _fd_check(loss_fn, X, *extra, eps=1e-6):
    x = sg.matrix("x")
    others = [sg.constant(e) for e in extra]
    cost = loss_fn(x, *others)
    g = sg.function([x], sg.grad(cost, x))(X)
    f = sg.function([x], cost)
    num = np.zeros_like(X)
    for idx in np.ndindex(X.shape):
        d = np.zeros_like(X)
        d[idx] = eps
        num[idx] = (f(X + d) - f(X - d)) / (2 * eps)
    err = np.abs(g - num).max() / (np.abs(g).max() + np.abs(num).max())
    assert err < 1e-6, err


def test_loss_gradients_by_finite_differences():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(4, 3))
    y = rng.integers(0, 3, size=4)
    P = rng.dirichlet(np.ones(3), size=4)
    T = rng.integers(0, 2, size=(4, 3)).astype(float)
    _fd_check(sg.nn.cross_entropy, X, y)
    _fd_check(sg.nn.cross_entropy, X, P)
    _fd_check(sg.nn.binary_cross_entropy, X, T)
    _fd_check(sg.nn.mse, X, T)
    _fd_check(lambda x: sg.nn.l2(x), X)


# --- mini-batches ---------------------------------------------------------------------------

def test_minibatches_cover_everything_once_seeded():
    X = np.arange(23 * 2).reshape(23, 2)
    y = np.arange(23)
    batches = list(sg.nn.minibatches(X, y, batch_size=5, rng=0))
    assert [len(b[1]) for b in batches] == [5, 5, 5, 5, 3]
    seen = np.concatenate([b[1] for b in batches])
    assert sorted(seen) == list(range(23)) and not np.array_equal(seen, np.arange(23))
    for xb, yb in batches:
        np.testing.assert_array_equal(xb[:, 0], 2 * yb)  # rows stay aligned
    again = np.concatenate([b[1] for b in sg.nn.minibatches(X, y, batch_size=5, rng=0)])
    np.testing.assert_array_equal(seen, again)
    gen = np.random.default_rng(0)
    e1 = np.concatenate([b for b in sg.nn.minibatches(y, batch_size=5, rng=gen)])
    e2 = np.concatenate([b for b in sg.nn.minibatches(y, batch_size=5, rng=gen)])
    assert not np.array_equal(e1, e2)  # one generator across epochs: a new order each time
    assert [len(b) for b in sg.nn.minibatches(y, batch_size=5, drop_last=True)] == [5] * 4
    ordered = np.concatenate(list(sg.nn.minibatches(y, batch_size=4, shuffle=False)))
    np.testing.assert_array_equal(ordered, y)


def test_minibatches_errors():
    with pytest.raises(ValueError, match="array 1 has 3 rows"):
        list(sg.nn.minibatches(np.zeros(4), np.zeros(3)))
    with pytest.raises(ValueError, match="batch_size"):
        list(sg.nn.minibatches(np.zeros(4), batch_size=0))
