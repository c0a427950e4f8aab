"""symgrad on a real Dask cluster (issue 14): exact data-parallel training split by the
compiler, a killed worker, compiled functions on workers, map_blocks and client.map.

One ``LocalCluster`` of 2 worker processes serves the module; it is closed by the fixture.
"""

import logging
import os
import signal
import time

import numpy as np
import pytest

import symgrad as sg
from symgrad.distributed import SplitError, split

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=logging.CRITICAL,
                           timeout=60)
    c = Client(cluster, timeout=60)
    try:
        c.wait_for_workers(2, timeout=60)
        yield c
    finally:
        c.close(timeout=30)
        cluster.close(timeout=30)


def _mlp_step(seed=0, n=101, n_in=6, dropout=0.0):
    """A 3-layer MLP trained with Adam, float64; the data has ``n`` rows."""
    rng = np.random.default_rng(seed)
    x = sg.tensor("x", shape=("batch", n_in))
    y = sg.tensor("y", shape=("batch",), dtype="int64")
    lr = sg.scalar("lr")
    net = sg.nn.mlp([n_in, 16, 12, 4], rng=seed)
    stream = sg.random.RandomStream(seed + 10)
    logits = net(x, dropout=dropout, rng=stream) if dropout else net(x)
    loss = sg.nn.cross_entropy(logits, y)
    step = sg.function([x, y, lr], {"loss": loss, "logits": logits},
                       updates=sg.optim.adam(loss, net, lr=lr), name="train_step")
    data = (rng.normal(size=(n, n_in)), rng.integers(0, 4, size=n))
    return step, net, data


def _rel(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


@pytest.mark.parametrize("n", [100, 101])     # divisible by 2 workers, and not
def test_adam_mlp_20_steps_equal_the_single_process_step(client, n):
    step, net, (xb, yb) = _mlp_step(n=n)
    ref_step, ref_net, _ = _mlp_step(n=n)
    pstep = sg.distributed.data_parallel(step, client, dim="batch")
    assert pstep.shards == 2
    worst = 0.0
    for _ in range(20):
        got = pstep(xb, yb, 0.01)
        want = ref_step(xb, yb, 0.01)
        worst = max(worst, _rel(got["loss"], want["loss"]), _rel(got["logits"], want["logits"]))
    for p, q in zip(net.params, ref_net.params):
        worst = max(worst, _rel(p.value, q.value))
    # the optimizer state (moments, step counter) too
    for (t, _), (u, _) in zip(step.updates, ref_step.updates):
        worst = max(worst, _rel(t.value, u.value))
    assert worst <= 1e-12, worst
    # the data stayed on the workers: each shard was sent once
    assert pstep.stats["shards_sent"] == 2 and pstep.stats["steps"] == 20


def test_new_data_is_sent_again_and_same_data_is_not(client):
    step, net, (xb, yb) = _mlp_step(n=40)
    pstep = sg.distributed.data_parallel(step, client)
    pstep(xb, yb, 0.01)
    pstep(xb, yb, 0.01)
    assert pstep.stats["shards_sent"] == 2
    xb2 = xb.copy()
    xb2[3, 1] += 1.0                           # same object identity does not matter
    pstep(xb2, yb, 0.01)
    assert pstep.stats["shards_sent"] == 4


def test_max_over_the_batch_is_refused_naming_the_op(client):
    x = sg.tensor("x", shape=("batch", 3))
    W = sg.shared(np.ones((3, 2)), name="W")
    loss = (x @ W).max(axis=0).sum()
    step = sg.function([x], loss, updates={W: W - 0.1 * sg.grad(loss, W)})
    with pytest.raises(SplitError, match=r"op max .*non-linearly"):
        sg.distributed.data_parallel(step, client)


def test_batch_statistics_are_refused():
    x = sg.tensor("x", shape=("batch", 3))
    W = sg.shared(np.ones((3, 2)), name="W")
    h = x @ W
    loss = ((h - h.mean(axis=0)) ** 2).sum()          # batch normalisation-like
    step = sg.function([x], loss, updates={W: W - 0.1 * sg.grad(loss, W)})
    with pytest.raises(SplitError, match="reduced over the batch"):
        split(step)


def test_an_op_mixing_examples_is_refused_naming_it():
    x = sg.tensor("x", shape=("batch", 3))
    W = sg.shared(np.ones((3, 2)), name="W")
    loss = sg.cumsum(x @ W, axis=0).sum()
    step = sg.function([x], loss, updates={W: W - 0.1 * sg.grad(loss, W)})
    with pytest.raises(SplitError, match="at op cumsum .*combines entries along the batch axis"):
        split(step)


def test_split_needs_the_named_dimension():
    x = sg.tensor("x", shape=(4, 3))
    W = sg.shared(np.ones((3, 2)), name="W")
    loss = (x @ W).sum()
    step = sg.function([x], loss, updates={W: W - 0.1 * sg.grad(loss, W)})
    with pytest.raises(SplitError, match="no input .* has the dimension 'batch'"):
        split(step)


def test_dropout_draws_per_shard_reproducibly(client):
    runs = []
    for _ in range(2):
        step, net, (xb, yb) = _mlp_step(n=60, dropout=0.3)
        pstep = sg.distributed.data_parallel(step, client)
        losses = [float(pstep(xb, yb, 0.01)["loss"]) for _ in range(3)]
        runs.append((losses, [p.value for p in net.params]))
    assert runs[0][0] == runs[1][0]
    assert len(set(runs[0][0])) == 3                 # a new mask every step
    for a, b in zip(runs[0][1], runs[1][1]):
        np.testing.assert_array_equal(a, b)
    # the same as the in-process split on as many shards
    step, net, (xb, yb) = _mlp_step(n=60, dropout=0.3)
    local = split(step)
    assert [float(local.run_local((xb, yb, 0.01), 2)["loss"]) for _ in range(3)] == runs[0][0]


def test_a_dask_worker_runs_a_compiled_function(client):
    step, net, (xb, yb) = _mlp_step(n=30)
    x = sg.tensor("x", shape=("batch", 6))
    predict = sg.function([x], sg.softmax(net(x)), name="predict")
    got = client.submit(predict, xb, pure=False).result(timeout=60)
    np.testing.assert_array_equal(got, predict(xb))
    # a training step run on a worker changes the worker's copy, not ours
    before = [p.value for p in net.params]
    loss = client.submit(lambda f, a, b: f(a, b, 0.01)["loss"], step, xb, yb,
                         pure=False).result(timeout=60)
    assert loss == step(xb, yb, 0.01)["loss"]
    assert not np.array_equal(before[0], net.params[0].value)


def test_map_blocks_inference_over_many_chunks(client):
    step, net, _ = _mlp_step()
    x = sg.tensor("x", shape=("batch", 6))
    predict = sg.function([x], sg.softmax(net(x)), name="predict")
    X = np.random.default_rng(3).normal(size=(1000, 6))
    dX = da.from_array(X, chunks=(100, 6))
    assert dX.numblocks == (10, 1)
    probs = da.map_blocks(predict, dX, chunks=(100, 4), dtype=np.float64)
    got = probs.compute()
    np.testing.assert_allclose(got, predict(X), rtol=1e-13, atol=0)
    np.testing.assert_allclose(got.sum(axis=1), 1.0)


def train_and_score(config):
    """A sweep job: train a small MLP with this learning rate, return the final loss."""
    step, net, (xb, yb) = _mlp_step(seed=config["seed"], n=64)
    for _ in range(config["steps"]):
        out = step(xb, yb, config["lr"])
    return float(out["loss"])


def test_client_map_sweep(client):
    configs = [{"lr": lr, "seed": 1, "steps": 15} for lr in (0.001, 0.01, 0.05)]
    futures = client.map(train_and_score, configs, pure=False)
    scores = client.gather(futures)
    assert scores == [train_and_score(c) for c in configs]
    assert scores[2] < scores[0]


def test_a_killed_worker_loses_no_update(client):
    """Kill a worker process (SIGKILL) between steps and again in the middle of a step:
    the run completes and ends with the parameters of the run without faults."""
    n_steps = 12
    step, net, (xb, yb) = _mlp_step(n=301, seed=5)
    ref_step, ref_net, _ = _mlp_step(n=301, seed=5)
    pstep = sg.distributed.data_parallel(step, client, timeout=60)
    ref_losses = [float(ref_step(xb, yb, 0.01)["loss"]) for _ in range(n_steps)]
    losses = []
    for k in range(n_steps):
        if k in (4, 8):
            client.wait_for_workers(2, timeout=60)
            pids = client.run(os.getpid)
            victim = sorted(pids)[k // 4 - 1]
            if k == 4:
                os.kill(pids[victim], signal.SIGKILL)       # between two steps
                time.sleep(0.3)
            else:                                            # while the step runs
                import threading
                threading.Timer(0.005, os.kill, (pids[victim], signal.SIGKILL)).start()
        losses.append(float(pstep(xb, yb, 0.01)["loss"]))
    assert pstep.stats["steps"] == n_steps
    assert pstep.stats["shards_sent"] > 2            # lost shards were sent again
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-12, atol=0)
    for p, q in zip(net.params, ref_net.params):
        assert _rel(p.value, q.value) <= 1e-12
    counter = {t.name: t for t, _ in step.updates}["adam_t"]
    assert float(counter.value) == n_steps            # each update applied exactly once
    for (t, _), (u, _) in zip(step.updates, ref_step.updates):
        assert _rel(t.value, u.value) <= 1e-12
    client.wait_for_workers(2, timeout=60)
