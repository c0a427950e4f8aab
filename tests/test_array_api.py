"""target="array_api": one program, any array library (docs/array_api.md).

The op table (values, gradients, second order), the random graphs of
test_optimize_differential and MLP training steps run on array_api_strict arrays (the
reference implementation, which refuses anything outside the standard, NumPy arrays
included) and on PyTorch CPU tensors, and give what the NumPy target gives: float64 to
1e-12, float32 to float32 rounding. Shared values keep their library and device; arrays of
another library or device are refused with an error naming the input, before anything is
updated. Tests that need PyTorch are skipped (with the reason) where it is not installed.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import symgrad as sg
from symgrad.ir.graph import toposort
from symgrad.codegen.array_api import ArrayAPIError, missing_forms
from symgrad.ops.registry import REGISTRY, apply, defop

from op_table import ROWS
from test_tails import GRID, GRID32, SMALL
from test_optimize_differential import build_graph
from test_targets import _mlp_training, _outputs

xs = pytest.importorskip("array_api_strict", reason="needs the 'array' extra "
                         "(pip install -e '.[array]')")
pytest.importorskip("array_api_compat", reason="needs the 'array' extra")
try:
    import torch
except ImportError:          # the torch cases are skipped, with this reason
    torch = None

NEEDS_TORCH = pytest.mark.skipif(torch is None, reason="PyTorch is not installed "
                                 "(CI installs torch==2.13.0, CPU)")


def _cupy_gpu():
    try:
        import cupy
        return cupy if cupy.cuda.runtime.getDeviceCount() > 0 else None
    except Exception:       # not installed, or no driver/device
        return None


cupy = _cupy_gpu()
# array_api_strict and PyTorch CPU everywhere (CI); on a machine with an NVIDIA GPU also
# PyTorch CUDA tensors and CuPy arrays (install cupy-cuda12x there): the same tests
LIBRARIES = ["strict", pytest.param("torch", marks=NEEDS_TORCH)]
if torch is not None and torch.cuda.is_available():
    LIBRARIES.append("torch_cuda")
if cupy is not None:
    LIBRARIES.append("cupy")


def to_lib(lib, value):
    """A NumPy array (or number) as an array of ``lib``."""
    value = np.asarray(value)
    if lib == "strict":
        return xs.asarray(value)
    if lib == "cupy":
        return cupy.asarray(value)
    return torch.asarray(value, device="cuda" if lib == "torch_cuda" else "cpu")


def to_numpy(value):
    if isinstance(value, (list, tuple)):
        return [to_numpy(v) for v in value]
    if isinstance(value, dict):
        return {k: to_numpy(v) for k, v in value.items()}
    if torch is not None and isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return value
    if cupy is not None and isinstance(value, cupy.ndarray):
        return cupy.asnumpy(value)
    return np.from_dlpack(value)


def is_lib(lib, value) -> bool:
    if lib == "strict":
        return type(value).__module__.startswith("array_api_strict")
    if lib == "cupy":
        return isinstance(value, cupy.ndarray)
    return isinstance(value, torch.Tensor) and value.device.type == (
        "cuda" if lib == "torch_cuda" else "cpu")


def same(a, b, what, dtype=None):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype, (what, a.shape, b.shape, a.dtype, b.dtype)
    if a.dtype.kind in "fc":
        rtol, atol = (1e-12, 1e-13) if a.dtype == np.float64 else (2e-5, 1e-6)
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, equal_nan=True, err_msg=what)
    else:
        np.testing.assert_array_equal(a, b, err_msg=what)


def uses_only_xp(source: str) -> bool:
    """No NumPy in the code that runs (comments and strings aside)."""
    code = "\n".join(line.split("#")[0] for line in source.splitlines())
    return re.search(r"\bnp\.|import numpy\b", code) is None


# --- every op has an array-API form ---------------------------------------------------

# registered ops that refuse the array-API target on purpose, each with its reason in its
# defop (array_api=refuse(...)): none today, every registered op has a form (an op of a
# user's own may still refuse; test_an_op_without_an_array_api_form... covers the error)
REFUSED: set[str] = set()


def test_every_registered_op_has_an_array_api_form():
    missing = missing_forms()
    assert set(missing) == REFUSED, sorted(set(missing) ^ REFUSED)
    for name, message in missing.items():       # refusals only, each saying why
        assert f"op {name!r} has no array-API form: " in message, message


def test_an_op_without_an_array_api_form_is_a_clear_error_at_compile_time():
    op = defop("numpy_only_twice", infer=lambda types: types[0], emit="np.add({0}, {0})",
               vjp=None, replace=True)
    try:
        x = sg.vector("x")
        y = apply(op, [x])
        sg.function([x], y, target="plain")             # NumPy targets are fine
        with pytest.raises(ArrayAPIError, match="'numpy_only_twice' has no array-API form"):
            sg.function([x], y, target="array_api")
    finally:
        REGISTRY.pop("numpy_only_twice")


# --- the op table, random graphs --------------------------------------------------------

@pytest.mark.parametrize("lib", LIBRARIES)
@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_op_table_rows_on_other_libraries(row, lib):
    xs_ = row.variables()
    out = sg.ops.as_var(row.build(*xs_))
    outs = _outputs(row, xs_, out)
    args = row.arrays()
    refused = sorted({n.op.name for n in toposort(outs) if n.op.name in REFUSED})
    if refused:                 # a clear error at compile time, naming the op
        with pytest.raises(ArrayAPIError, match=f"op '({'|'.join(refused)})' has no"):
            sg.function(xs_, outs, target="array_api")
        return
    ref_f = sg.function(xs_, outs, target="numpy")
    f = sg.function(xs_, outs, target="array_api")
    assert uses_only_xp(f.source), f.source
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        want = ref_f(*args)
        got = f(*[to_lib(lib, a) for a in args])
    assert all(is_lib(lib, g) for g in got) or not args    # no inputs: NumPy's namespace
    for k, (a, b) in enumerate(zip(to_numpy(got), want)):
        same(a, b, f"{row.name}: output {k}")


@pytest.mark.parametrize("lib", LIBRARIES)
@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_random_graphs_on_other_libraries(lib, data):
    cost, leaves, values, vectors = build_graph(data)
    # slices that end past an empty axis (x[:1] of a size-0 axis) are outside the standard:
    # array_api_strict refuses them
    assume(lib != "strict" or all(v.size for v in values))
    outputs = [cost, *sg.grad(cost, leaves), *sg.hvp(cost, leaves, vectors)]
    got = {}
    for target, conv in (("numpy", np.asarray), ("array_api", lambda a: to_lib(lib, a))):
        f = sg.function(leaves, outputs, target=target)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                got[target] = (to_numpy(f(*[conv(v) for v in values])), None)
        except Exception as exc:
            got[target] = (None, exc)
    (p, ep), (q, eq) = got["numpy"], got["array_api"]
    if ep is not None or eq is not None:
        assert type(ep) is type(eq), (ep, eq)
        return
    for k, (a, b) in enumerate(zip(q, p)):
        same(a, b, f"output {k}")


# --- training steps ---------------------------------------------------------------------

def _training(lib, optimizer, activation, dtype="float64", steps=4):
    """test_targets' training steps, with the parameters and batches in ``lib``."""
    like = None if lib is None else to_lib(lib, np.zeros(0))
    conv = np.asarray if lib is None else (lambda a: to_lib(lib, a))
    step, losses, _ = _mlp_training(None, optimizer, activation, dtype, steps, like=like,
                                    conv=conv)
    variables = [t for t, _ in step.updates]
    return step, to_numpy(losses), [to_numpy(s.value) for s in variables], variables


@pytest.mark.parametrize("lib", LIBRARIES)
@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_training_steps_on_other_libraries(lib, optimizer, activation):
    _, want_losses, want_shared, _ = _training(None, optimizer, activation)
    step, losses, shared, variables = _training(lib, optimizer, activation)
    assert step.target == "array_api"          # the default for such shared values
    assert all(is_lib(lib, s.get_value(borrow=True)) for s in variables)
    for k, (a, b) in enumerate(zip(losses, want_losses)):
        same(a, b, f"loss {k}")
    for k, (a, b) in enumerate(zip(shared, want_shared)):
        same(a, b, f"shared {k}")


@pytest.mark.parametrize("lib", LIBRARIES)
def test_float32_training_within_float32_rounding(lib):
    _, want_losses, want_shared, _ = _training(None, "adam", "relu", dtype="float32")
    _, losses, shared, _ = _training(lib, "adam", "relu", dtype="float32")
    for a, b in zip(losses + shared, want_losses + want_shared):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("lib", LIBRARIES)
def test_digits_training_step(lib):
    """The digits step of examples/train_mlp.py: 64 -> 32 -> 10, ReLU, cross-entropy,
    plain SGD, 20 steps of batch 64, on the library against the NumPy target."""
    datasets = pytest.importorskip("sklearn.datasets", reason="needs the 'examples' extra")
    data = datasets.load_digits()
    X = (data.data / 16.0).astype(np.float64)
    Y = data.target.astype(np.int64)
    results = {}
    for which in (None, lib):
        like = None if which is None else to_lib(which, np.zeros(0))
        x = sg.tensor("x", shape=("batch", 64))
        y = sg.tensor("y", shape=("batch",), dtype="int64")
        lr = sg.scalar("lr")
        net = sg.nn.mlp([64, 32, 10], rng=0, like=like)
        loss = sg.nn.cross_entropy(net(x), y)
        grads = sg.grad(loss, net.params)
        step = sg.function([x, y, lr], {"loss": loss},
                           updates={p: p - lr * g for p, g in zip(net.params, grads)},
                           name="train_step")
        if which is not None:
            assert step.target == "array_api" and uses_only_xp(step.source)
        conv = np.asarray if which is None else (lambda a: to_lib(which, a))
        losses = [step(conv(X[k:k + 64]), conv(Y[k:k + 64]), 0.5)["loss"]
                  for k in range(0, 20 * 64, 64)]
        results[which] = (to_numpy(losses), [to_numpy(p.value) for p in net.params])
    (a_losses, a_params), (b_losses, b_params) = results[lib], results[None]
    assert b_losses[-1] < b_losses[0]
    for a, b in zip(a_losses + a_params, b_losses + b_params):
        same(a, b, "digits step")


# --- shared values of other libraries, namespaces and devices --------------------------

@pytest.mark.parametrize("lib", LIBRARIES)
def test_shared_keeps_its_library(lib):
    w = sg.shared(to_lib(lib, np.arange(3.0)), name="w")
    assert w.dtype == np.float64 and w.type.shape == (3,)
    v = w.value
    assert is_lib(lib, v) and v is not w.get_value(borrow=True)
    w.value = to_lib(lib, np.ones(3))
    assert is_lib(lib, w.get_value(borrow=True))
    np.testing.assert_array_equal(to_numpy(w.value), np.ones(3))
    w.value = [1.0, 2.0, 3.0]                 # numbers are made on the value's device
    np.testing.assert_array_equal(to_numpy(w.value), [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="has shape"):
        w.value = to_lib(lib, np.ones(4))
    with pytest.raises(TypeError, match="not a same_kind cast"):
        w.value = to_lib(lib, np.ones(3, dtype=np.complex128))
    with pytest.raises(TypeError, match="no silent copy"):
        w.value = np.ones(3)
    np.testing.assert_array_equal(to_numpy(w.value), [1.0, 2.0, 3.0])


def _step_on(w):
    x = sg.vector("x", 3)
    lr = sg.scalar("lr")
    loss = sg.sum((w * x) ** 2)
    return sg.function([x, lr], loss, updates={w: w - lr * sg.grad(loss, w)})


@pytest.mark.parametrize("lib", LIBRARIES)
def test_wrong_namespace_is_a_clear_error_and_nothing_is_updated(lib):
    w = sg.shared(to_lib(lib, np.arange(3.0)), name="w")
    step = _step_on(w)
    assert step.target == "array_api"
    before = to_numpy(w.value)
    other = np.ones(3) if lib.startswith("torch") else torch.ones(3, dtype=torch.float64) \
        if torch is not None else np.ones(3)
    with pytest.raises(TypeError, match=r"input 'x' is an array of (numpy|torch) .*shared "
                                        r"value 'w' is an array of"):
        step(other, 0.1)
    np.testing.assert_array_equal(to_numpy(w.value), before)
    step(to_lib(lib, np.ones(3)), 0.1)       # the right library: runs, and updates
    assert not np.array_equal(to_numpy(w.value), before)


@NEEDS_TORCH
def test_wrong_device_is_a_clear_error_and_nothing_is_updated():
    w = sg.shared(torch.arange(3.0, dtype=torch.float64), name="w")
    step = _step_on(w)
    before = to_numpy(w.value)
    meta = torch.ones(3, dtype=torch.float64, device="meta")
    with pytest.raises(TypeError, match=r"input 'x' is an array of torch on meta, but shared "
                                        r"value 'w' is an array of torch on cpu"):
        step(meta, 0.1)
    np.testing.assert_array_equal(to_numpy(w.value), before)


@NEEDS_TORCH
def test_shared_values_of_two_libraries_are_refused_when_compiling():
    a = sg.shared(xs.asarray([1.0, 2.0]), name="a")
    b = sg.shared(torch.tensor([1.0, 2.0], dtype=torch.float64), name="b")
    with pytest.raises(TypeError, match="shared variable 'b' is an array of torch"):
        sg.function([], a + b)


def test_numpy_targets_refuse_shared_values_of_other_libraries():
    w = sg.shared(xs.asarray([1.0, 2.0]), name="w")
    with pytest.raises(TypeError, match="use target='array_api'"):
        sg.function([], w * 2, target="numpy")
    f = sg.function([], w * 2)
    assert f.target == "array_api"
    np.testing.assert_array_equal(to_numpy(f()), [2.0, 4.0])


def test_numpy_arrays_run_through_the_array_api_target():
    x = sg.matrix("x")
    y = sg.vector("y", dtype="int64")
    f = sg.function([x, y], sg.sum(sg.softmax(x)[sg.arange(x.shape[0]), y] ** 2),
                    target="array_api")
    g = sg.function([x, y], sg.sum(sg.softmax(x)[sg.arange(x.shape[0]), y] ** 2))
    a, b = np.random.default_rng(0).normal(size=(4, 3)), np.array([0, 2, 1, 1])
    same(f(a, b), g(a, b), "numpy through xp")


def test_argument_checks_name_the_input():
    w = sg.shared(xs.asarray([1.0, 2.0, 3.0]), name="w")
    step = _step_on(w)
    with pytest.raises(ValueError, match="input 'x' expects shape"):
        step(xs.asarray([1.0, 2.0]), 0.1)
    with pytest.raises(TypeError, match="input 'x' expects float64, got complex128"):
        step(xs.asarray([1j, 2j, 3j]), 0.1)
    np.testing.assert_array_equal(to_numpy(w.value), [1.0, 2.0, 3.0])
    out = step(xs.asarray([1, 2, 3]), 0.0)     # int64 -> float64 is a same_kind cast
    assert float(to_numpy(out)) == 98.0


def test_check_finite_on_other_libraries():
    w = sg.shared(xs.asarray([1.0, 2.0, 3.0]), name="w")
    x = sg.vector("x", 3)
    f = sg.function([x], sg.sum(sg.log(w * x)), updates={w: w * x}, check_finite=True)
    with pytest.raises(FloatingPointError), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)      # log(-1)
        f(xs.asarray([1.0, -1.0, 1.0]))
    np.testing.assert_array_equal(to_numpy(w.value), [1.0, 2.0, 3.0])


def test_plain_source_is_the_numpy_rendering():
    w = sg.shared(xs.asarray([1.0, 2.0]), name="w")
    f = sg.function([], sg.exp(w))
    assert "xp.exp(w)" in f.source and "np.exp(w)" in f.plain_source


# --- random streams ----------------------------------------------------------------------

def _dropout_fn(lib, seed):
    w = sg.shared(to_lib(lib, np.ones((50, 40))), name="w")
    rng = sg.random.RandomStream(seed)
    out = {"drop": sg.nn.dropout(w, 0.25, rng), "u": rng.uniform(-1.0, 2.0, size=(1000,)),
           "n": rng.normal(1.0, 2.0, size=(4000,), dtype="float32")}
    return sg.function([], out), rng


@pytest.mark.parametrize("lib", LIBRARIES)
def test_random_streams_on_other_libraries(lib):
    f, rng = _dropout_fn(lib, 7)
    first, second = to_numpy(f()), to_numpy(f())
    assert int(rng.calls) == 2
    assert not np.array_equal(first["drop"], second["drop"])    # a new mask every call
    drop = first["drop"]
    assert set(np.unique(drop)) <= {0.0, 1 / 0.75}
    assert abs((drop == 0).mean() - 0.25) < 0.05
    u, n = first["u"], first["n"]
    assert u.min() >= -1.0 and u.max() < 2.0 and abs(u.mean() - 0.5) < 0.1
    assert n.dtype == np.float32 and abs(n.mean() - 1.0) < 0.15 and abs(n.std() - 2.0) < 0.15
    again = to_numpy(_dropout_fn(lib, 7)[0]())                   # reproducible per seed
    for key in first:
        np.testing.assert_array_equal(again[key], first[key])
    other, _ = _dropout_fn(lib, 8)
    assert not np.array_equal(to_numpy(other())["drop"], first["drop"])


@NEEDS_TORCH
def test_random_draws_are_the_same_on_every_library():
    a, _ = _dropout_fn("strict", 3)
    b, _ = _dropout_fn("torch", 3)
    ra, rb = to_numpy(a()), to_numpy(b())
    for key in ra:
        np.testing.assert_allclose(ra[key], rb[key], rtol=1e-6)


# --- benchmarks/gpu_step.py ---------------------------------------------------------------

def test_gpu_benchmark_says_so_without_a_gpu_and_checks_on_the_cpu(capsys):
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parent.parent / "benchmarks" / "gpu_step.py"
    spec = importlib.util.spec_from_file_location("gpu_step", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    if mod.cupy_gpu() is None and mod.torch_cuda() is None:
        assert mod.main([]) == 0
        assert "no GPU here" in capsys.readouterr().out
    if torch is not None:       # the harness itself, PyTorch on the CPU: checks pass
        assert mod.main(["--cpu", "--quick", "--sizes", "small",
                         "--impls", "symgrad_torch,torch_eager"]) == 0
        out = capsys.readouterr().out
        assert "symgrad_torch" in out and "FAILED" not in out and "BAD" not in out
        mod.TORCH_DEVICE[0] = "cuda"


# --- gathers and their scatter-add: NumPy's indexing rules through flat positions --------

INDEX_FORMS = {
    "x[i]": lambda x, a, b, c: x[a],
    "x[:, i]": lambda x, a, b, c: x[:, a],
    "x[:, :, c]": lambda x, a, b, c: x[:, :, c],
    "x[i, :, c]": lambda x, a, b, c: x[a, :, c],          # not adjacent: their axes first
    "x[:, j]": lambda x, a, b, c: x[:, b],                # a 2-D index
    "x[None, i, 1:4]": lambda x, a, b, c: x[None, a, 1:4],
    "x[1, i]": lambda x, a, b, c: x[1, a],
    "x[i, 2, c]": lambda x, a, b, c: x[a, 2, c],
    "x[::-1, i, ::2]": lambda x, a, b, c: x[::-1, a, ::2],
    "x[i, j[0]]": lambda x, a, b, c: x[a, b[0]],          # repeated positions accumulate
}


@pytest.mark.parametrize("lib", LIBRARIES)
@pytest.mark.parametrize("form", sorted(INDEX_FORMS))
def test_gathers_and_their_gradients_follow_numpy(lib, form):
    rng = np.random.default_rng(0)
    values = (rng.normal(size=(4, 5, 6)), np.array([0, 3, 1]),
              np.array([[1, 4, 2], [0, 0, 3]]), np.array([5, -1, 2]))
    x = sg.tensor("x", (4, 5, 6))
    idx = [sg.tensor(n, v.shape, dtype="int64") for n, v in zip("abc", values[1:])]
    out = INDEX_FORMS[form](x, *idx)
    outs = [out, sg.grad(sg.sum(out * rng.normal(size=out.type.shape)), x)]
    want = sg.function([x, *idx], outs)(*values)
    got = sg.function([x, *idx], outs, target="array_api")(*[to_lib(lib, v) for v in values])
    for k, (a, b) in enumerate(zip(to_numpy(got), want)):
        same(a, b, f"{form}: output {k}")


# --- writes at an index (x.at[idx].set) and sort: the same numbers as NumPy ---------------

class _Index:
    """``_Index()[...]`` is the index itself."""

    def __getitem__(self, index):
        return index


SET_FORMS = {       # (index of i, j, constants for i, j): repeats, negatives, slices beside arrays
    "x[i]": (lambda i, j: _Index()[i], [0, 3, 0, -1, 3, 0], None),
    "x[i, j]": (lambda i, j: _Index()[i, j], [1, -3, 1, 2, 1], [4, 0, -1, 0, 4]),
    "x[:, j]": (lambda i, j: _Index()[:, j], None, [2, -3, 2, 0]),
    "x[i, 1:4]": (lambda i, j: _Index()[i, 1:4], [2, 0, -2, 2], None),
    "x[1, j]": (lambda i, j: _Index()[1, j], None, [0, 0, -5, 3]),
    "x[::-1, j]": (lambda i, j: _Index()[::-1, j], None, [1, 1, 4]),
    "x[i[:, None], j]": (lambda i, j: _Index()[i[:, None], j], [0, 3, 0], [1, 2, 1, -4]),
    "x[None, i, ::2]": (lambda i, j: _Index()[None, i, ::2], [3, 3, -1], None),
}
LIBRARIES_AND_NUMPY = LIBRARIES + ["numpy"]    # NumPy: its own indexed assignment


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("lib", LIBRARIES_AND_NUMPY)
@pytest.mark.parametrize("form", sorted(SET_FORMS))
def test_index_set_follows_numpy_where_positions_repeat(form, lib, dtype):
    """x.at[idx].set(v) with repeated positions: the last write in the row-major order of
    x[idx] stays on every library, as with NumPy, and the derivative goes to that write."""
    build, iv, jv = SET_FORMS[form]
    rng = np.random.default_rng(1)
    x = sg.tensor("x", (4, 5), dtype=dtype)
    data = [(n, np.array(a)) for n, a in (("i", iv), ("j", jv)) if a is not None]
    idx = {n: sg.tensor(n, a.shape, dtype="int64") for n, a in data}
    index = build(idx.get("i"), idx.get("j"))
    v = sg.tensor("v", x[index].type.shape, dtype=dtype)
    out = x.at[index].set(v)
    w = rng.normal(size=(4, 5)).astype(dtype)
    outs = [out, *sg.grad(sg.sum(out * w * out), [x, v])]
    ins = [x, v, *idx.values()]
    values = [rng.normal(size=(4, 5)).astype(dtype),
              rng.normal(size=v.type.shape).astype(dtype), *[a for _, a in data]]
    want = sg.function(ins, outs)(*values)
    f = sg.function(ins, outs, target="array_api")
    assert "_index_set(" in f.source and uses_only_xp(f.source)
    conv = np.asarray if lib == "numpy" else (lambda a: to_lib(lib, a))
    got = f(*[conv(a) for a in values])
    for k, (a, b) in enumerate(zip(to_numpy(got), want)):
        same(a, b, f"{form}: output {k}")
    # the same index as constants (positions known when the graph is built)
    consts = build(*[np.array(a) if a is not None else None for a in (iv, jv)])
    out = x.at[consts].set(v)
    outs = [out, *sg.grad(sg.sum(out * w * out), [x, v])]
    want = sg.function([x, v], outs)(*values[:2])
    got = sg.function([x, v], outs, target="array_api")(*[conv(a) for a in values[:2]])
    for k, (a, b) in enumerate(zip(to_numpy(got), want)):
        same(a, b, f"{form} (constants): output {k}")


@pytest.mark.parametrize("lib", LIBRARIES_AND_NUMPY)
def test_index_set_last_write_wins_in_row_major_order(lib):
    x = sg.vector("x", 4)
    i = sg.tensor("i", (2, 3), dtype="int64")
    v = sg.tensor("v", (2, 3))
    f = sg.function([x, i, v], x.at[i].set(v), target="array_api")
    conv = np.asarray if lib == "numpy" else (lambda a: to_lib(lib, a))
    got = f(conv(np.zeros(4)), conv(np.array([[2, 0, 2], [-2, 0, 3]])),
            conv(np.arange(1.0, 7.0).reshape(2, 3)))
    np.testing.assert_array_equal(to_numpy(got), [5.0, 0.0, 4.0, 6.0])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("lib", LIBRARIES)
@pytest.mark.parametrize("axis", [0, 1, 2, -1, None])
def test_sort_along_each_axis(axis, lib, dtype):
    """sort (take_along_axis by argsort) and its derivatives, tied entries included: the
    put-back of the gradient is a take_along_axis by the inverse permutation."""
    rng = np.random.default_rng(2)
    values = rng.integers(0, 4, size=(3, 4, 5)).astype(dtype) / 2    # many ties
    x = sg.tensor("x", values.shape, dtype=dtype)
    u = sg.tensor("u", values.shape, dtype=dtype)
    out = sg.sort(x, axis=axis)
    w = rng.normal(size=out.type.shape).astype(dtype)
    cost = sg.sum(out * w * out)
    outs = [out, sg.grad(cost, x), *sg.hvp(cost, [x], [u])]
    want = sg.function([x, u], outs)(values, np.ones_like(values))
    f = sg.function([x, u], outs, target="array_api")
    assert "xp.take_along_axis(" in f.source and uses_only_xp(f.source)
    got = f(to_lib(lib, values), to_lib(lib, np.ones_like(values)))
    for k, (a, b) in enumerate(zip(to_numpy(got), want)):
        same(a, b, f"sort axis={axis}: output {k}")


# --- the direct forms of gathers and scatters ------------------------------------------------

def test_every_axis_indexed_is_the_standards_own_indexing():
    """z[rows, y]: a plain gather, and the scatter of its gradient at rows * n + y."""
    z = sg.matrix("z")
    y = sg.vector("y", dtype="int64")
    rows = sg.arange(z.shape[0])
    loss = sg.sum(sg.log(z[rows, y]))
    f = sg.function([z, y], [loss, sg.grad(loss, z)], target="array_api")
    src = f.source
    assert "z[arange1, y_checked]" in src, src
    # y may count from the end (z[rows, -1]); an arange never does
    assert ("_scatter_add(xp, z.shape, arange1 * z.shape[1] + xp.where(y_checked < 0, "
            "y_checked + z.shape[1], y_checked), ") in src, src
    assert "_positions(" not in src and "_gather(" not in src
    a = np.random.default_rng(0).uniform(1, 2, size=(5, 3))
    want = sg.function([z, y], [loss, sg.grad(loss, z)])(a, np.array([0, 2, 2, 1, 0]))
    got = f(xs.asarray(a), xs.asarray(np.array([0, 2, 2, 1, 0])))
    for k, (p, q) in enumerate(zip(to_numpy(got), want)):
        same(p, q, f"output {k}")


@pytest.mark.parametrize("lib", LIBRARIES_AND_NUMPY)
@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8"])
def test_direct_gathers_and_scatters_accumulate_and_count_from_the_end(lib, dtype):
    """Negative entries, repeated positions (they accumulate), 3 axes, an int among the
    arrays, index dtypes other than int64, one array with slices elsewhere (xp.take):
    every direct form against the NumPy target."""
    rng = np.random.default_rng(3)
    x = sg.tensor("x", (4, 5, 3))
    neg = dtype != "uint8"
    iv = np.array([0, -1, 3, 0, 0] if neg else [0, 3, 3, 0, 0], dtype=dtype)
    jv = np.array([4, -5, 4, 2, 4] if neg else [4, 0, 4, 2, 4], dtype=dtype)
    kv = np.array([2, 2, -3, 2, 2] if neg else [2, 2, 0, 2, 2], dtype=dtype)
    i, j, k = (sg.tensor(n, (5,), dtype=dtype) for n in "ijk")
    parts = [x[i, j, k], x[i, 2, k], x[-1, j, k], x[i[:, None], j, 0], x[:, j], x[i],
             x[:, :, k]]
    outs = list(parts)
    for p in parts:
        outs.append(sg.grad(sg.sum(p * rng.normal(size=p.type.shape)), x))
    outs.append(x.at[i, j, k].add(sg.ones(5)))
    values = [rng.normal(size=(4, 5, 3)), iv, jv, kv]
    want = sg.function([x, i, j, k], outs)(*values)
    f = sg.function([x, i, j, k], outs, target="array_api")
    assert "_gather(" not in f.source and "xp.take(x, " in f.source
    conv = np.asarray if lib == "numpy" else (lambda a: to_lib(lib, a))
    got = f(*[conv(a) for a in values])
    for n, (a, b) in enumerate(zip(to_numpy(got), want)):
        same(a, b, f"output {n}")


@pytest.mark.parametrize("lib", LIBRARIES_AND_NUMPY)
def test_scatter_add_keeps_inf_to_its_own_position(lib):
    """An infinite value added at one position leaves the others finite (the portable
    scatter never multiplies a value by 0)."""
    x = sg.vector("x", 4)
    i = sg.vector("i", 3, dtype="int64")
    v = sg.vector("v", 3)
    f = sg.function([x, i, v], x.at[i].add(v), target="array_api")
    conv = np.asarray if lib == "numpy" else (lambda a: to_lib(lib, a))
    got = f(conv(np.zeros(4)), conv(np.array([1, 3, 1])), conv(np.array([np.inf, 2.0, 1.0])))
    np.testing.assert_array_equal(to_numpy(got), [0.0, np.inf, 0.0, 2.0])


# --- the special functions' xp forms, tails included ---------------------------------------

SHOW_BAD = 6      # failing points shown
SPECIAL = {"erf": sg.erf, "erfc": sg.erfc, "ndtr": sg.ndtr, "gelu": sg.gelu, "silu": sg.silu,
           "cbrt": sg.cbrt, "fmod": sg.fmod, "logaddexp2": sg.logaddexp2}
# The most ulps from the NumPy target, (value, derivative), per dtype. Measured on both
# libraries: float64 0 for the erf family and silu (the same helpers; exp agrees) and for
# fmod (exact); 1 for cbrt (pow and a Newton step: within 0.72 ulps of exact, NumPy's within
# 0.53), 4 for its derivative, which reads the output; logaddexp2 2 (NumPy's logaddexp2
# calls libm's exp2 and log1p, whose roundings differ from its own vectorised ones and
# PyTorch's). float32: up to 3 on PyTorch, whose float32 exp is within 0.52 ulps of exact
# where NumPy's is 1.7 ulps off; cbrt 2 (NumPy's float32 cbrt is 1.8 ulps off, ours 0.71).
# The derivatives of gelu and silu cancel near their roots (-0.75 and -1.28, see
# test_tails): 24 and 8 ulps at the grid's -0.7 and -1.5 in float32 on PyTorch.
SPECIAL_ULPS = {"float64": dict(erf=(2, 2), erfc=(2, 2), ndtr=(2, 2), gelu=(2, 2), silu=(2, 2),
                                cbrt=(2, 6), fmod=(0, 0), logaddexp2=(4, 2)),
                "float32": dict(erf=(4, 4), erfc=(4, 4), ndtr=(4, 4), gelu=(4, 30), silu=(4, 10),
                                cbrt=(3, 6), fmod=(0, 0), logaddexp2=(3, 3))}


def _special_inputs(name, dtype):
    """test_tails' grid (+-0, subnormals, huge values, +-inf) and NaN, then seeded random
    points; pairs of its small grid for the binary ops, and results near the smallest
    subnormal for logaddexp2. Returns the inputs and how many lead (the grid)."""
    rng = np.random.default_rng(7)
    f32 = dtype == "float32"
    if name not in ("fmod", "logaddexp2"):
        grid = np.concatenate([GRID32 if f32 else GRID, [np.nan]])
        return [np.concatenate([grid, rng.uniform(-40, 40, 2000)]).astype(dtype)], grid.size
    with np.errstate(over="ignore"):
        small = SMALL.astype(dtype)
    if f32:
        small = np.concatenate([small, np.float32([1.4e-45, 1e-40, 3.4028235e38]),
                                -np.float32([1.4e-45, 1e-40, 3.4028235e38])])
    a, b = (v.ravel() for v in np.meshgrid(np.append(small, np.nan), np.append(small, np.nan)))
    deep = -np.array(DEEP[dtype])
    a = np.concatenate([a, np.zeros(len(deep)), rng.uniform(-50, 50, 2000)]).astype(dtype)
    b = np.concatenate([b, deep, rng.uniform(-50, 50, 2000)]).astype(dtype)
    return [a, b], a.size - 2000


# logaddexp2(0, -d): results at the smallest subnormals (PyTorch's log1p gives 0 for them)
DEEP = {"float64": [1030.0, 1070.0, 1073.9, 1074.0, 1074.5],
        "float32": [130.0, 148.0, 149.0, 149.5]}


def _ulps(got, want, scale=None):
    """|got - want| in ulps of ``scale`` (default ``want``); 0 where both are the same
    infinity, NaN or zero (its sign included), inf where only one is."""
    got, want = np.asarray(got), np.asarray(want)
    scale = np.abs(want if scale is None else scale)
    same = ((got == want) & (np.signbit(got) == np.signbit(want))) | (np.isnan(got)
                                                                      & np.isnan(want))
    err = np.where(same, 0.0, np.inf)
    both = ~same & np.isfinite(got) & np.isfinite(want)
    spacing = np.spacing(scale[both].astype(want.dtype)).astype(np.float64)
    err[both] = np.abs(got[both].astype(np.float64) - want[both]) / spacing
    return err


@pytest.mark.parametrize("lib", LIBRARIES)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", sorted(SPECIAL))
def test_special_function_tails_follow_numpy(name, dtype, lib):
    """Values over the whole float range, and derivatives on the grid, of the helpers
    written for the array API against the NumPy target."""
    args, n_grid = _special_inputs(name, dtype)
    xs_ = [sg.vector(c, dtype=dtype) for c in "ab"[:len(args)]]
    out = SPECIAL[name](*xs_)
    outs = [out, *sg.grad(sg.sum(out), xs_)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        want = sg.function(xs_, outs, target="numpy")(*args)
        got = to_numpy(sg.function(xs_, outs, target="array_api")(
            *[to_lib(lib, a) for a in args]))
    vtol, dtol = SPECIAL_ULPS[dtype][name]
    problems = []
    for k, (g, w) in enumerate(zip(got, want)):
        assert g.dtype == w.dtype == np.dtype(dtype)
        scale = None
        if k == 0 and name == "logaddexp2":
            # max(a, b) + log2(1 + e) cancels where the result is near 0 (a, b < 0): NumPy's
            # own error there is some ulps of max(a, b), so differences are measured in those
            scale = np.fmax(np.abs(w), np.abs(np.fmax(args[0], args[1])))
            deep = slice(n_grid - len(DEEP[dtype]), n_grid)
            np.testing.assert_array_equal(g[deep], w[deep], f"logaddexp2 {dtype} on {lib}")
        err = _ulps(g, w, scale)
        if k:       # derivatives on the grid only
            err = err[:n_grid]
        tol = vtol if k == 0 else dtol
        for i in np.nonzero(err > tol)[0][:SHOW_BAD]:
            problems.append(f"{'value' if k == 0 else f'd/d{xs_[k - 1].name}'} at "
                            f"{[a[i] for a in args]}: {g[i]!r}, NumPy {w[i]!r} ({err[i]:.3g} ulps)")
    assert not problems, f"{name} {dtype} on {lib}:\n" + "\n".join(problems)


@pytest.mark.parametrize("lib", LIBRARIES)
@pytest.mark.parametrize("dtype", ["int8", "int32", "int64", "uint8", "uint64"])
def test_fmod_of_integers_follows_numpy(dtype, lib):
    """C's remainder of integers, the most negative one, 0 and -1 divisors included (NumPy
    gives 0 for x % 0, where PyTorch raises)."""
    if lib.startswith("torch") and dtype == "uint64":
        pytest.skip("PyTorch has no remainder of uint64 tensors")
    info = np.iinfo(dtype)
    vals = np.array(sorted({min(max(v, info.min), info.max) for v in (
        info.min, info.min + 1, -7, -3, -1, 0, 1, 3, 7, info.max - 1, info.max)}), dtype)
    a, b = (v.ravel() for v in np.meshgrid(vals, vals))
    x, y = sg.vector("x", dtype=dtype), sg.vector("y", dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        want = sg.function([x, y], sg.fmod(x, y))(a, b)
    got = to_numpy(sg.function([x, y], sg.fmod(x, y), target="array_api")(
        to_lib(lib, a), to_lib(lib, b)))
    assert got.dtype == want.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(got, want)
    with np.errstate(divide="ignore"):
        np.testing.assert_array_equal(want, np.where(b == 0, 0, np.fmod(a, b)))


@pytest.mark.parametrize("lib", LIBRARIES)
def test_special_functions_of_python_numbers(lib):
    """A Python number operand of a helper is made an array of the result's dtype."""
    x = sg.vector("x")
    outs = [sg.fmod(x, 3.0), sg.fmod(7.5, x), sg.logaddexp2(x, 0.5), sg.logaddexp2(2, x),
            sg.fmod(x, x.shape[0]), sg.cbrt(x) + sg.erf(0.5)]
    args = np.array([-7.25, 0.0, 2.5, 10.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)     # 7.5 % 0 is NaN, as in NumPy
        want = sg.function([x], outs)(args)
        got = to_numpy(sg.function([x], outs, target="array_api")(to_lib(lib, args)))
    for k, (a, b) in enumerate(zip(got, want)):
        same(a, b, f"output {k}")


def test_erf_family_helpers_are_the_numpy_helpers_translated():
    """One source: the xp helpers of erf, erfc, ndtr, gelu and silu are their NumPy
    helpers with xp passed and np. -> xp., and use only the standard's functions."""
    from symgrad.codegen.array_api import emission
    from symgrad.ops import xp_forms
    for name in ("erf", "erfc", "ndtr", "gelu", "silu"):
        op = REGISTRY[name]
        helpers = emission(op)[1]
        assert helpers == xp_forms.from_numpy(op.helpers)
        assert len(helpers) == len(op.helpers)
        for h in helpers:
            compile(h, name, "exec")
            assert "np." not in h and "itemsize" not in h
            assert re.match(r"def _\w+\(xp, ", h), h.splitlines()[0]
            for attr in re.findall(r"\bxp\.(\w+)", h):
                assert hasattr(xs, attr), f"{name}: xp.{attr} is not in the standard"
            for called in re.findall(r"\b(_\w+)\((?!xp\b)", h):
                assert called not in {re.match(r"def (\w+)", g).group(1) for g in helpers}
    with pytest.raises(ValueError, match="NumPy-only"):
        xp_forms.from_numpy(("def _f(x):\n    return x.dtype.itemsize",))
