"""The optimized training step of an MLP is lean: no duplicated work, no waste."""

import numpy as np
import pytest

import symgrad as sg
from symgrad.ir.graph import toposort


def build_mlp(L, act, width=6, n_in=4, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = sg.tensor("x", shape=("batch", n_in))
    y = sg.tensor("y", shape=("batch",), dtype="int64")
    lr = sg.scalar("lr")
    dims = [n_in] + [width] * (L - 1) + [classes]
    params, h = [], x
    for i in range(L):
        W = sg.shared(rng.normal(size=(dims[i], dims[i + 1])) * 0.5, name=f"W{i + 1}")
        b = sg.shared(rng.normal(size=dims[i + 1]) * 0.1, name=f"b{i + 1}")
        params += [W, b]
        h = h @ W + b
        if i < L - 1:
            h = getattr(sg, act)(h)
    loss = sg.nn.cross_entropy(h, y)
    return x, y, lr, params, loss


def structural_duplicates(roots):
    """Number of nodes of the graph that are structurally equal to another node."""
    keys, ids, dup = set(), {}, 0
    for n in toposort(roots):
        if n.op.leaf:
            k = (("c", n.value.dtype.str, n.value.shape, n.value.tobytes())
                 if n.op.name == "constant" else ("leaf", n.id))
        else:
            ins = [ids[i.id] for i in n.inputs]
            if n.op.commutative:
                ins.sort()
            k = (n.op.name, n.param_key, tuple(ins), n.op.random and n.id)
        if k in keys:
            dup += 1
        keys.add(k)
        ids[n.id] = hash(k)
    return dup


@pytest.mark.parametrize("act", ["relu", "sigmoid", "tanh"])
@pytest.mark.parametrize("L", [1, 2, 3, 5, 10])
def test_training_step_is_lean(L, act):
    x, y, lr, params, loss = build_mlp(L, act)
    grads = sg.grad(loss, params)
    step = sg.function([x, y, lr], {"loss": loss},
                       updates={p: p - lr * g for p, g in zip(params, grads)})
    ops = step.stats["ops"]
    # a weight update W - x.T @ delta (lr folded into delta) is one fused product,
    # matmul_sub: a ReLU MLP has one per layer
    assert ops["matmul"] + ops.get("matmul_sub", 0) == 3 * L - 1
    if act == "relu":
        assert ops["matmul_sub"] == L
    assert ops["exp"] == 1
    # sigmoid's derivative is sigmoid(x) * sigmoid(-x) (exact in the tails): one more
    # sigmoid per layer, in the backward pass
    assert ops.get(act, 0) == (L - 1) * (2 if act == "sigmoid" else 1)
    assert structural_duplicates(step.graph) == 0
    assert "broadcast_like" not in ops and "broadcast_to" not in ops


def test_lean_step_still_computes_the_gradient():
    x, y, lr, params, loss = build_mlp(3, "tanh")
    grads = sg.grad(loss, params)
    opt = sg.function([x, y], grads)
    raw = sg.function([x, y], grads, optimize=False)
    X = np.random.default_rng(3).normal(size=(8, 4))
    Y = np.arange(8) % 3
    for a, b in zip(opt(X, Y), raw(X, Y)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("act", ["relu", "tanh"])
def test_hvp_has_at_most_three_times_the_matmuls(act):
    L = 3
    x, y, lr, params, loss = build_mlp(L, act)
    vs = [sg.tensor(f"v{k}", shape=p.type.shape) for k, p in enumerate(params)]
    hv = sg.hvp(loss, params, vs)
    f = sg.function([x, y] + vs, hv)
    grads = sg.grad(loss, params)
    step = sg.function([x, y, lr], {"loss": loss},
                       updates={p: p - lr * g for p, g in zip(params, grads)})
    products = step.stats["ops"]["matmul"] + step.stats["ops"].get("matmul_sub", 0)
    assert f.stats["ops"]["matmul"] <= 3 * products
    assert structural_duplicates(f.graph) == 0
