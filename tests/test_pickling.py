"""Pickling (issue 14, part 1): compiled functions, graphs, shared variables, random
streams, layers and optimizer state survive ``pickle`` and cloudpickle, in this process,
in a ``spawn`` pool and as a checkpoint in the middle of training."""

import multiprocessing
import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import symgrad as sg
from symgrad.pickling import OpNotFoundError

try:
    import cloudpickle
except ImportError:  # pragma: no cover - installed with the distributed extra
    cloudpickle = None

DUMPERS = [pytest.param(pickle, id="pickle"),
           pytest.param(cloudpickle, id="cloudpickle",
                        marks=pytest.mark.skipif(cloudpickle is None,
                                                 reason="cloudpickle not installed"))]

HERE = os.path.dirname(os.path.abspath(__file__))


def roundtrip(obj, dumper=pickle):
    return pickle.loads(dumper.dumps(obj))


def _training(seed=0, dropout=0.0, n_in=5):
    """A 3-layer MLP step with Adam (and optional dropout): (step, net, data)."""
    rng = np.random.default_rng(seed)
    x = sg.tensor("x", shape=("batch", n_in))
    y = sg.tensor("y", shape=("batch",), dtype="int64")
    lr = sg.scalar("lr")
    net = sg.nn.mlp([n_in, 7, 6, 3], rng=seed)
    stream = sg.random.RandomStream(seed + 1)
    logits = net(x, dropout=dropout, rng=stream) if dropout else net(x)
    loss = sg.nn.cross_entropy(logits, y)
    step = sg.function([x, y, lr], {"loss": loss}, updates=sg.optim.adam(loss, net, lr=lr),
                       name="train_step")
    data = (rng.normal(size=(13, n_in)), rng.integers(0, 3, size=13))
    return step, net, stream, data


@pytest.mark.parametrize("dumper", DUMPERS)
def test_compiled_function_roundtrip_gives_the_same_results_and_owns_copies(dumper):
    step, net, _, (xb, yb) = _training()
    twin = roundtrip(step, dumper)
    assert twin is not step and twin.source == step.source
    before = [p.value for p in net.params]
    out_twin = twin(xb, yb, 0.01)
    # the original's shared values did not move: the copy owns its own
    for p, b in zip(net.params, before):
        np.testing.assert_array_equal(p.value, b)
    out = step(xb, yb, 0.01)
    assert out_twin["loss"] == out["loss"]
    for p, q in zip(step._shared_params, twin._shared_params):
        assert p is not q and p.name == q.name
        np.testing.assert_array_equal(p.value, q.value)


@pytest.mark.parametrize("dumper", DUMPERS)
def test_graph_roundtrip_keeps_structure_names_and_sharing(dumper):
    x = sg.tensor("x", shape=("batch", 3))
    W = sg.shared(np.arange(6.0).reshape(3, 2), name="W")
    h = sg.tanh(x @ W)
    h.name = "h"
    loss = (h * h).sum() + h.mean()          # h used twice
    gW = sg.grad(loss, W)
    x2, W2, loss2, gW2 = roundtrip((x, W, loss, gW), dumper)
    assert sg.debugprint(loss2) == sg.debugprint(loss)
    assert sg.debugprint(gW2) == sg.debugprint(gW)
    assert isinstance(W2, sg.SharedVariable) and W2 is not W
    np.testing.assert_array_equal(W2.value, W.value)
    # the leaves in the graph are the very objects unpickled beside it
    f = sg.function([x2], [loss2, gW2])
    xv = np.random.default_rng(1).normal(size=(4, 3))
    want = sg.function([x], [loss, gW])(xv)
    got = f(xv)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    assert len({v.id for v in (x2, W2, loss2, gW2)}) == 4


def test_shared_value_is_copied_writable_and_constants_stay_read_only():
    W = sg.shared(np.ones((2, 2)), name="W")
    c = sg.constant(np.arange(3.0))
    W2, c2 = roundtrip((W, c))
    W2.value = np.zeros((2, 2))
    np.testing.assert_array_equal(W.value, np.ones((2, 2)))
    assert not c2.value.flags.writeable
    np.testing.assert_array_equal(c2.value, np.arange(3.0))


def test_deep_chain_pickles_without_recursion():
    x = sg.scalar("x")
    y = x
    for _ in range(20000):
        y = y * 1.0001 + 1.0
    y2 = roundtrip(y)
    # walk down the chain iteratively: the structure is intact
    depth, node = 0, y2
    while node.inputs:
        node = node.inputs[0]
        depth += 1
    assert depth == 40000 and node.name == "x"
    assert pickle.dumps(y2)  # and it pickles again (no marks left over)


@pytest.mark.parametrize("dumper", DUMPERS)
def test_random_stream_continues_where_it_was(dumper):
    stream = sg.random.RandomStream(7)
    x = sg.vector("x", 4)
    f = sg.function([x], x + stream.normal(size=(4,)))
    f(np.zeros(4))
    f2, stream2 = roundtrip((f, stream), dumper)
    assert int(stream2.calls) == 1 and stream2.seed == 7
    np.testing.assert_array_equal(f2(np.zeros(4)), f(np.zeros(4)))
    assert int(stream2.calls) == 2 and int(stream.calls) == 2


@pytest.mark.parametrize("dumper", DUMPERS)
def test_layers_and_optimizer_state(dumper):
    step, net, _, (xb, yb) = _training()
    for _ in range(3):
        step(xb, yb, 0.01)
    state = [t for t, _ in step.updates]          # parameters, moments, step counter
    net2, state2 = roundtrip((net, state), dumper)
    assert repr(net2) == repr(net)
    for a, b in zip(state, state2):
        assert a.name == b.name
        np.testing.assert_array_equal(a.value, b.value)
    assert [p.name for p in net2.params] == [p.name for p in net.params]
    x = sg.tensor("x", shape=("batch", 5))
    np.testing.assert_array_equal(sg.function([x], net2(x))(xb), sg.function([x], net(x))(xb))


def test_checkpoint_in_the_middle_of_training_equals_the_run_without_it(tmp_path):
    def run(checkpoint_at=None):
        step, net, stream, (xb, yb) = _training(dropout=0.2)
        losses = []
        for k in range(10):
            if k == checkpoint_at:
                path = tmp_path / "step.pkl"
                with open(path, "wb") as fh:
                    pickle.dump((step, net), fh)
                del step, net
                with open(path, "rb") as fh:
                    step, net = pickle.load(fh)
            losses.append(float(step(xb, yb, 0.01)["loss"]))
        return losses, [p.value for p in net.params]

    losses, params = run()
    losses_ck, params_ck = run(checkpoint_at=5)
    assert losses_ck == losses
    for a, b in zip(params_ck, params):
        np.testing.assert_array_equal(a, b)


def _spawn_job(blob):
    step, xb, yb = pickle.loads(blob)
    return step(xb, yb, 0.01)["loss"], [p.value for p in step._shared_params]


def test_spawn_pool_runs_a_compiled_function():
    step, net, _, (xb, yb) = _training()
    blob = pickle.dumps((step, xb, yb))
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        loss, shared = pool.apply_async(_spawn_job, (blob,)).get(timeout=120)
    want = step(xb, yb, 0.01)["loss"]
    assert loss == want
    for p, v in zip(step._shared_params, shared):
        np.testing.assert_array_equal(p.value, v)


def _user_op_job(blob):
    f, xv = pickle.loads(blob)
    return f(xv)


def test_user_op_from_an_importable_module_unpickles_in_another_process():
    import sg_user_ops
    x = sg.vector("x", 3)
    y = sg_user_ops.cube(x).sum()
    f = sg.function([x], [y, sg.grad(y, x)])
    xv = np.array([1.0, -2.0, 0.5])
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        got = pool.apply_async(_user_op_job, (pickle.dumps((f, xv)),)).get(timeout=120)
    want = f(xv)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], 3 * xv ** 2)


def test_user_op_whose_module_does_not_import_is_a_clear_error(tmp_path):
    (tmp_path / "my_private_ops.py").write_text(textwrap.dedent("""
        import symgrad as sg
        def _infer(types):
            return types[0]
        SQUISH = sg.defop("my_private_squish", infer=_infer, emit="np.tanh({0})",
                          vjp=lambda g, out, x: [g * (1.0 - out * out)], elementwise=True)
    """))
    sys.path.insert(0, str(tmp_path))
    try:
        import my_private_ops
        from symgrad.ops.registry import apply
        x = sg.vector("x", 2)
        blob = pickle.dumps(sg.function([x], apply(my_private_ops.SQUISH, [x])))
    finally:
        sys.path.remove(str(tmp_path))
    code = ("import pickle, sys\n"
            "try:\n"
            "    pickle.loads(sys.stdin.buffer.read())\n"
            "except Exception as exc:\n"
            "    print(type(exc).__name__, exc)\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    res = subprocess.run([sys.executable, "-c", code], input=blob, capture_output=True,
                         timeout=120, env=env, cwd=HERE)
    out = res.stdout.decode()
    assert "OpNotFoundError" in out and "'my_private_squish'" in out
    assert "my_private_ops" in out, out


def test_load_op_error_names_a_main_script_op():
    from symgrad.pickling import load_op
    with pytest.raises(OpNotFoundError, match="'not_registered_op'.*main script"):
        load_op("not_registered_op", "__main__")


def test_copies_of_functions_still_work():
    import copy
    step, net, _, (xb, yb) = _training()
    deep = copy.deepcopy(step)
    shallow = copy.copy(step)
    assert shallow._shared_params[0] is step._shared_params[0]
    assert deep._shared_params[0] is not step._shared_params[0]
    a = deep(xb, yb, 0.01)["loss"]
    assert step(xb, yb, 0.01)["loss"] == a
