"""One program, two renderings: target="plain" (NumPy as a careful person writes it) and
target="numpy" (the same program lowered for speed) give the same outputs and the same
updated shared values, and f.plain_source is the plain rendering of every function.

Differential over every op-table row (values, gradients, second order), the random graphs
of test_optimize_differential, and training steps run for several calls (float64: equal
to 1e-12; each update applied exactly once).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symgrad as sg

from op_table import ROWS
from test_optimize_differential import build_graph

RTOL, ATOL = 1e-12, 1e-13


def _same(a, b, what):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype, (what, a.shape, b.shape, a.dtype, b.dtype)
    if a.dtype.kind in "fc":
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL, equal_nan=True, err_msg=what)
    else:
        np.testing.assert_array_equal(a, b, err_msg=what)


def _outputs(row, xs, out):
    outs = [out]
    floats = [x for x in xs if x.type.is_float]
    if row.grad and out.type.is_float and floats:
        cost = sg.sum(out * sg.sin(out))
        grads = sg.grad(cost, floats)
        outs += list(grads)
        if row.second_order:
            outs += list(sg.grad(sg.sum(sum(sg.sum(g * g) for g in grads)), floats))
    return outs


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_op_table_rows_agree(row):
    xs = row.variables()
    out = sg.ops.as_var(row.build(*xs))
    outs = _outputs(row, xs, out)
    args = row.arrays()
    results = {}
    for target in ("plain", "numpy"):
        f = sg.function(xs, outs, target=target)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            results[target] = f(*args)
    for k, (a, b) in enumerate(zip(results["plain"], results["numpy"])):
        _same(a, b, f"{row.name}: output {k}")


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_random_graphs_agree(data):
    cost, leaves, values, vectors = build_graph(data)
    outputs = [cost, *sg.grad(cost, leaves), *sg.hvp(cost, leaves, vectors)]
    got = {}
    for target in ("plain", "numpy"):
        f = sg.function(leaves, outputs, target=target)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                got[target] = (f(*values), None)
        except Exception as exc:
            got[target] = (None, exc)
    (p, ep), (q, eq) = got["plain"], got["numpy"]
    if ep is not None or eq is not None:
        assert type(ep) is type(eq), (ep, eq)
        return
    for k, (a, b) in enumerate(zip(p, q)):
        _same(a, b, f"output {k}")


def _mlp_training(target, optimizer, activation, dtype="float64", steps=4, like=None,
                  conv=np.asarray):
    """``steps`` training steps; ``like`` and ``conv`` put the parameters and the batches
    in another array library (tests/test_array_api.py)."""
    rng = np.random.default_rng(0)
    x = sg.tensor("x", shape=("batch", 6), dtype=dtype)
    y = sg.tensor("y", shape=("batch",), dtype="int64")
    lr = sg.scalar("lr", dtype=dtype)
    net = sg.nn.mlp([6, 8, 7, 3], activation=activation, dtype=dtype, rng=1, like=like)
    loss = sg.nn.cross_entropy(net(x), y)
    if optimizer == "sgd":
        grads = sg.grad(loss, net.params)
        updates = {p: p - lr * g for p, g in zip(net.params, grads)}
        inputs = [x, y, lr]
    else:
        updates = getattr(sg.optim, optimizer)(loss, net.params, 0.05)
        inputs = [x, y]
    step = sg.function(inputs, {"loss": loss}, updates=updates, target=target)
    losses = []
    for k in range(steps):
        xb = rng.normal(size=(5 + k, 6)).astype(dtype)
        yb = rng.integers(0, 3, size=5 + k)
        args = [conv(xb), conv(yb), 0.1] if optimizer == "sgd" else [conv(xb), conv(yb)]
        losses.append(step(*args)["loss"])
    shared = [s.get_value() for s in updates]
    return step, losses, shared


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_training_steps_agree(optimizer, activation):
    _, plain_losses, plain_shared = _mlp_training("plain", optimizer, activation)
    _, fast_losses, fast_shared = _mlp_training("numpy", optimizer, activation)
    for k, (a, b) in enumerate(zip(plain_losses, fast_losses)):
        _same(a, b, f"loss {k}")
    for k, (a, b) in enumerate(zip(plain_shared, fast_shared)):
        _same(a, b, f"shared {k}")


def test_plain_source_is_plain_and_the_fast_one_is_lowered():
    step, _, _ = _mlp_training("numpy", "sgd", "relu", steps=1)
    plain, fast = step.plain_source, step.source
    assert "_ws" not in plain and "out=" not in plain and "_buf" not in plain
    assert "W1_new = W1 - lr * d_W1" in plain
    assert "np.maximum(" in plain and " > 0" in plain       # relu and its mask, as written
    assert "out=" in fast and "lr_d_" in fast
    # a lowered line names its plain form
    assert "  = " in fast
    plain_step = _mlp_training("plain", "sgd", "relu", steps=1)[0]
    assert plain_step.source == plain_step.plain_source
    assert plain_step.stats["lowerings"] == {}
    lowered = step.stats["lowerings"]
    assert lowered["fold_scale"] >= 1 and lowered["relu_vs_zeros_array"] >= 1
    assert lowered["workspace_buffers"] >= 1 and lowered["inplace_updates"] >= 1


def test_the_array_api_target_folds_the_learning_rate_and_nothing_else():
    pytest.importorskip("array_api_compat")
    step, _, _ = _mlp_training("array_api", "sgd", "relu", steps=1)
    assert step.stats["lowerings"] == {"fold_scale": 6}       # 3 weights, 3 biases
    assert "W1_new = W1 - lr_d_W1" in step.source and "out=" not in step.source
    unoptimized = sg.function(step.inputs, step.outputs, updates=dict(step.updates),
                              target="array_api", optimize=False)
    assert unoptimized.stats["lowerings"] == {}


def test_unknown_target_is_a_clear_error():
    x = sg.vector("x", 2)
    with pytest.raises(ValueError, match="target must be one of 'numpy', 'plain'"):
        sg.function([x], x * 2.0, target="cuda")
