"""f.save: the standalone module reproduces the compiled function in a process where
symgrad cannot be imported (NumPy alone), random streams included."""

import subprocess
import sys
import textwrap

import numpy as np

import symgrad as sg

RUNNER = textwrap.dedent('''
    import importlib.abc, importlib.util, sys

    class _Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "symgrad" or name.startswith("symgrad."):
                raise ImportError("symgrad is blocked in this process")

    sys.meta_path.insert(0, _Block())
    try:
        import symgrad  # noqa: F401
    except ImportError:
        pass
    else:
        raise SystemExit("symgrad could be imported")

    import numpy as np
    module_path, fname, data_path, out_path, calls = sys.argv[1:6]
    spec = importlib.util.spec_from_file_location("saved_module", module_path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert "symgrad" not in sys.modules
    data = dict(np.load(data_path))
    names = [k for k in data if k.startswith("arg_")]
    args = [data[k] for k in sorted(names, key=lambda k: int(k.split("_")[1]))]
    shared = {k[7:]: v for k, v in data.items() if k.startswith("shared_")}
    fn = getattr(mod, fname)
    results = {}
    for call in range(int(calls)):
        outputs, new_shared = fn(*args, **shared)
        shared.update(new_shared)   # feed the new values back, as the runtime does
        if isinstance(outputs, dict):
            outputs = list(outputs.values())
        elif not isinstance(outputs, (list, tuple)):
            outputs = [outputs]
        for k, o in enumerate(outputs):
            results[f"call{call}_out{k}"] = np.asarray(o)
    for k, v in shared.items():
        results[f"shared_{k}"] = np.asarray(v)
    np.savez(out_path, **results)
''')


def _run_saved(tmp_path, f, args, shared_vars, calls=1):
    path = tmp_path / f"{f.name}.py"
    f.save(path)
    data = {f"arg_{k}": np.asarray(a) for k, a in enumerate(args)}
    data.update({f"shared_{s.name}": s.value for s in shared_vars})
    np.savez(tmp_path / "data.npz", **data)
    runner = tmp_path / "runner.py"
    runner.write_text(RUNNER)
    proc = subprocess.run([sys.executable, "-I", str(runner), str(path), f.name,
                           str(tmp_path / "data.npz"), str(tmp_path / "out.npz"), str(calls)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    return dict(np.load(tmp_path / "out.npz"))


def test_saved_training_step_reproduces_outputs_and_updates(tmp_path):
    rng = np.random.default_rng(0)
    net = sg.nn.mlp([8, 16, 3], rng=0, dtype="float32")
    x = sg.matrix("x", shape=("batch", 8), dtype="float32")
    y = sg.vector("y", size="batch", dtype="int64")
    lr = sg.scalar("lr", dtype="float32")
    scale = sg.constant(np.linspace(0.5, 1.5, 8).astype(np.float32), name="scale")  # literal
    big = sg.constant(rng.normal(size=(8, 3)).astype(np.float32), name="skip")  # base64
    logits = net(x * scale) + x @ big
    loss = sg.nn.cross_entropy(logits, y)
    updates = sg.optim.momentum(loss, net, lr=lr)
    step = sg.function([x, y, lr], {"loss": loss, "logits": logits}, updates=updates,
                       name="train_step")
    X = rng.normal(size=(5, 8)).astype(np.float32)
    Y = rng.integers(0, 3, size=5)
    shared_vars = sorted(updates, key=lambda v: v.name)
    before = {s.name: s.value.copy() for s in shared_vars}
    # run the saved module on the values the compiled function starts from
    snapshot = [(s, s.value.copy()) for s in shared_vars]
    got = _run_saved(tmp_path, step, [X, Y, np.float32(0.1)], shared_vars, calls=2)
    for s, v in snapshot:
        np.testing.assert_array_equal(s.value, v)  # saving and running it changed nothing here
    out1 = step(X, Y, 0.1)
    out2 = step(X, Y, 0.1)
    np.testing.assert_array_equal(got["call0_out0"], out1["loss"])
    np.testing.assert_array_equal(got["call0_out1"], out1["logits"])
    np.testing.assert_array_equal(got["call1_out0"], out2["loss"])
    for s in shared_vars:
        np.testing.assert_array_equal(got[f"shared_{s.name}"], s.value, err_msg=s.name)
        assert got[f"shared_{s.name}"].dtype == s.value.dtype
    assert not np.array_equal(before["W1"], net.params[0].value)
    src = (tmp_path / "train_step.py").read_text()
    assert "symgrad" not in src.split("\n", 1)[1]  # only the header comment names it
    assert "import base64" in src


def test_saved_module_with_random_stream(tmp_path):
    stream = sg.random.RandomStream(2024)
    x = sg.matrix("x", shape=("batch", 6))
    w = sg.shared(np.linspace(-1, 1, 6), name="w")
    h = sg.nn.dropout(x, 0.4, stream) + stream.normal(0.0, 0.1, size=(x.shape[0], 6))
    loss = sg.sum(h * w)
    step = sg.function([x], [loss, h], updates=sg.optim.sgd(loss, [w], lr=0.01), name="noisy")
    X = np.random.default_rng(3).normal(size=(4, 6))
    got = _run_saved(tmp_path, step, [X], [w, stream.counter], calls=3)
    for call in range(3):
        loss_v, h_v = step(X)
        np.testing.assert_array_equal(got[f"call{call}_out0"], loss_v)
        np.testing.assert_array_equal(got[f"call{call}_out1"], h_v)
    np.testing.assert_array_equal(got["shared_w"], w.value)
    assert int(got["shared_rng_calls"]) == 3 == int(stream.calls)
    # successive calls drew different masks
    assert not np.array_equal(got["call0_out1"], got["call1_out1"])
