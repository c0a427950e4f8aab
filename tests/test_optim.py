"""sg.optim: every optimizer against a NumPy reference written from the same formulas."""

import numpy as np
import pytest

import symgrad as sg

STEPS = 10


def _data():
    rng = np.random.default_rng(42)
    X = rng.normal(size=(8, 3))
    T = rng.normal(size=(8, 2))
    W1 = rng.normal(size=(3, 5)) * 0.5
    b1 = rng.normal(size=5) * 0.1
    W2 = rng.normal(size=(5, 2)) * 0.5
    b2 = rng.normal(size=2) * 0.1
    return X, T, [W1, b1, W2, b2]


def _np_grads(X, T, params):
    """Hand-written backprop of mean((tanh(X W1 + b1) W2 + b2 - T)^2)."""
    W1, b1, W2, b2 = params
    h = np.tanh(X @ W1 + b1)
    out = h @ W2 + b2
    d_out = 2.0 * (out - T) / out.size
    d_h = d_out @ W2.T
    d_a = d_h * (1.0 - h * h)
    return [X.T @ d_a, d_a.sum(0), h.T @ d_out, d_out.sum(0)]


def _np_run(rule, hyper, wd):
    X, T, params = _data()
    state = [dict() for _ in params]
    t = 0
    for _ in range(STEPS):
        grads = _np_grads(X, T, params)
        t += 1
        new = []
        for p, g, s in zip(params, grads, state):
            g = g + wd * p
            lr = hyper["lr"]
            if rule == "sgd":
                p = p - lr * g
            elif rule == "momentum":
                s["v"] = hyper["beta"] * s.get("v", 0.0) + g
                p = p - lr * s["v"]
            elif rule == "nesterov":
                s["v"] = hyper["beta"] * s.get("v", 0.0) + g
                p = p - lr * (g + hyper["beta"] * s["v"])
            elif rule == "rmsprop":
                s["s"] = hyper["rho"] * s.get("s", 0.0) + (1 - hyper["rho"]) * g ** 2
                p = p - lr * g / (np.sqrt(s["s"]) + hyper["eps"])
            elif rule == "adam":
                b1, b2 = hyper["beta1"], hyper["beta2"]
                s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
                s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * g ** 2
                mhat = s["m"] / (1 - b1 ** t)
                vhat = s["v"] / (1 - b2 ** t)
                p = p - lr * mhat / (np.sqrt(vhat) + hyper["eps"])
            new.append(p)
        params = new
    return params


CASES = [
    ("sgd", {"lr": 0.1}),
    ("momentum", {"lr": 0.05, "beta": 0.9}),
    ("nesterov", {"lr": 0.05, "beta": 0.8}),
    ("rmsprop", {"lr": 0.01, "rho": 0.9, "eps": 1e-8}),
    ("adam", {"lr": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}),
]


@pytest.mark.parametrize("wd", [0.0, 0.01])
@pytest.mark.parametrize("rule,hyper", CASES, ids=[c[0] for c in CASES])
def test_ten_steps_match_numpy_reference(rule, hyper, wd):
    X, T, init = _data()
    params = [sg.shared(v, name=n) for v, n in zip(init, ["W1", "b1", "W2", "b2"])]
    x, t = sg.matrix("x"), sg.matrix("t")
    W1, b1, W2, b2 = params
    loss = sg.nn.mse(sg.tanh(x @ W1 + b1) @ W2 + b2, t)
    updates = getattr(sg.optim, rule)(loss, params, weight_decay=wd, **hyper)
    step = sg.function([x, t], loss, updates=updates)
    for _ in range(STEPS):
        step(X, T)
    expected = _np_run(rule, hyper, wd)
    for p, e in zip(params, expected):
        np.testing.assert_allclose(p.value, e, rtol=1e-12, atol=1e-12, err_msg=p.name)
    # the parameters moved: the comparison is not between two unchanged copies
    assert not np.allclose(params[0].value, init[0])


@pytest.mark.parametrize("rule", [c[0] for c in CASES])
def test_docstring_opens_with_update_rule(rule):
    doc = getattr(sg.optim, rule).__doc__
    assert "<-" in doc.splitlines()[0]


def test_gradients_list_or_dict_equal_loss():
    X, T, init = _data()
    results = []
    for form in ("loss", "list", "dict"):
        w = sg.shared(init[0], name="w")
        x = sg.matrix("x")
        loss = sg.sum(sg.tanh(x @ w) ** 2)
        g = sg.grad(loss, w)
        arg = {"loss": loss, "list": [g], "dict": {w: g}}[form]
        step = sg.function([x], loss, updates=sg.optim.momentum(arg, [w], lr=0.1))
        step(X)
        step(X)
        results.append(w.value.copy())
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_array_equal(results[0], results[2])


def test_symbolic_learning_rate_and_state_names():
    w = sg.shared(np.array([3.0]), name="w")
    lr = sg.scalar("lr")
    updates = sg.optim.adam((w ** 2).sum(), [w], lr=lr)
    names = sorted(v.name for v in updates)
    assert names == ["adam_t", "w", "w_m", "w_v"]
    step = sg.function([lr], (w ** 2).sum(), updates=updates)
    step(0.0)
    assert w.value[0] == 3.0  # lr 0: no move, but the state advanced
    t = next(v for v in updates if v.name == "adam_t")
    assert t.value == 1.0
    step(0.5)
    assert w.value[0] < 3.0


def test_float32_parameters_stay_float32():
    w = sg.shared(np.ones(3, np.float32), name="w")
    for rule in ("sgd", "momentum", "nesterov", "rmsprop", "adam"):
        updates = getattr(sg.optim, rule)((w * w).sum(), [w])
        for target, value in updates.items():
            assert value.dtype == target.dtype == np.float32, (rule, target.name)


def test_bad_arguments():
    w = sg.shared(np.ones(2), name="w")
    loss = (w * w).sum()
    with pytest.raises(TypeError, match="shared variable"):
        sg.optim.sgd(loss, [sg.vector("v")])
    with pytest.raises(ValueError, match="beta"):
        sg.optim.momentum(loss, [w], beta=1.5)
    with pytest.raises(ValueError, match="eps"):
        sg.optim.adam(loss, [w], eps=0.0)
    with pytest.raises(ValueError, match="scalar"):
        sg.optim.sgd(w * 2, [w])
    with pytest.raises(ValueError, match="2 gradients for 1"):
        sg.optim.sgd([w, w], [w])
    with pytest.raises(ValueError, match="no gradient"):
        sg.optim.sgd({}, [w])
    with pytest.raises(ValueError, match="listed twice"):
        sg.optim.sgd(loss, [w, w])
    with pytest.raises(TypeError, match="float"):
        sg.optim.sgd(loss, [sg.shared(np.ones(2, np.int64), name="k")])


def test_params_from_mlp_object():
    net = sg.nn.mlp([3, 4, 2], rng=0)
    x = sg.matrix("x")
    updates = sg.optim.sgd(sg.sum(net(x) ** 2), net, lr=0.1)
    assert set(updates) == set(net.params)
