"""The fused weight update ``W - a @ b`` (op ``matmul_sub``) and its BLAS path
(``symgrad/blas.py``): ``c -= a @ b`` in one gemm call through NumPy's own OpenBLAS."""

import numpy as np
import pytest

import symgrad as sg
from symgrad import blas
from symgrad.ops.fused import GEMM_UPDATE_MIN_SIZE

HAVE_BLAS = bool(blas.gemm_table())
needs_blas = pytest.mark.skipif(not HAVE_BLAS, reason="NumPy's bundled OpenBLAS not found")


def _layouts(rng, m, k, n, dtype):
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    a_t = np.ascontiguousarray(a.T).T          # the same values, a transposed view
    b_t = np.ascontiguousarray(b.T).T
    return [(a, b), (a_t, b), (a, b_t), (a_t, b_t)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("mkn", [(7, 5, 3), (64, 33, 17), (1, 4, 3), (3, 1, 2), (4, 3, 1)])
def test_gemm_update_matches_numpy_for_every_layout(dtype, mkn):
    rng = np.random.default_rng(sum(mkn))
    tol = 1e-5 if dtype == "float32" else 1e-12
    for a, b in _layouts(rng, *mkn, dtype):
        c = rng.standard_normal((mkn[0], mkn[2])).astype(dtype)
        want = c - a @ b
        out = blas._gemm_update(c, a, b, np.empty_like(c), blas.gemm_table())
        assert out is c
        np.testing.assert_allclose(c, want, rtol=tol, atol=tol)


@needs_blas
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gemm_update_takes_the_blas_path_and_leaves_scratch_alone(dtype):
    rng = np.random.default_rng(0)
    for a, b in _layouts(rng, 40, 30, 20, dtype):
        c = rng.standard_normal((40, 20)).astype(dtype)
        want = c - a @ b
        scratch = np.full_like(c, np.nan)
        blas._gemm_update(c, a, b, scratch, blas.gemm_table())
        assert np.isnan(scratch).all()          # BLAS wrote into c directly
        np.testing.assert_allclose(c, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case", ["strided_c", "overlap", "mixed_dtype", "strided_a",
                                  "no_blas"])
def test_gemm_update_falls_back_to_numpy(case):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((6, 4))
    b = rng.standard_normal((4, 5))
    big = rng.standard_normal((6, 10))
    c = big[:, ::2] if case == "strided_c" else rng.standard_normal((6, 5))
    gemms = blas.gemm_table()
    if case == "overlap":          # b is c: BLAS would read what it writes
        c = rng.standard_normal((6, 6))
        a, b = rng.standard_normal((6, 6)), c
    if case == "mixed_dtype":
        b = b.astype(np.float32)
    if case == "strided_a":
        a = rng.standard_normal((6, 8))[:, ::2]
    if case == "no_blas":
        gemms = {}
    want = c - a @ b
    scratch = np.full(want.shape, np.nan, want.dtype)
    blas._gemm_update(c, a, b, scratch, gemms)
    np.testing.assert_allclose(c, want, rtol=1e-12, atol=1e-12)
    assert not np.isnan(scratch).any()          # the NumPy path used the scratch array


def test_environment_variable_turns_the_blas_path_off(monkeypatch):
    monkeypatch.setenv("SYMGRAD_BLAS", "0")
    assert blas.gemm_table() == {}
    monkeypatch.setenv("SYMGRAD_BLAS", "1")
    assert bool(blas.gemm_table()) == HAVE_BLAS
    assert blas.gemm_table() is blas.gemm_table()       # looked up once


def _mlp(widths, dtype="float64", seed=0):
    rng = np.random.default_rng(seed)
    x = sg.tensor("x", shape=("batch", widths[0]), dtype=dtype)
    y = sg.tensor("y", shape=("batch",), dtype="int64")
    params, h = [], x
    for k, (m, n) in enumerate(zip(widths[:-1], widths[1:])):
        W = sg.shared((rng.standard_normal((m, n)) / np.sqrt(m)).astype(dtype), name=f"W{k + 1}")
        b = sg.shared(np.zeros(n, dtype), name=f"b{k + 1}")
        params += [W, b]
        h = h @ W + b
        if k < len(widths) - 2:
            h = sg.relu(h)
    loss = sg.nn.cross_entropy(h, y)
    grads = sg.grad(loss, params)
    return [x, y], loss, params, grads


def _data(widths, batch, dtype="float64", seed=1):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((batch, widths[0])).astype(dtype),
            rng.integers(0, widths[-1], batch))


WIDE = [256, 128, 4]     # W1 has 32768 elements: the BLAS call; W2 the NumPy pair


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_sgd_step_writes_fused_updates_and_matches_the_unoptimized_step(dtype):
    assert 256 * 128 >= GEMM_UPDATE_MIN_SIZE > 128 * 4
    inputs, loss, params, grads = _mlp(WIDE, dtype)
    updates = {p: p - 0.1 * g for p, g in zip(params, grads)}
    fast = sg.function(inputs, loss, updates=updates)
    src = fast.source
    assert fast.stats["ops"]["matmul_sub"] == 2
    assert "_gemm_update(W1, x.T, " in src                  # big: one BLAS call
    assert "np.subtract(W2, np.dot(relu1.T, " in src        # small: np.dot, then subtract
    assert "W1 -= scaled_d_W1 = x.T @ " in src               # the comment says what it is
    start = [p.value.copy() for p in params]
    got = []
    for _ in range(3):
        got.append(fast(*_data(WIDE, 16, dtype)))
    after_fast = [p.value.copy() for p in params]
    for p, v in zip(params, start):
        p.value = v
    slow = sg.function(inputs, loss, updates=updates, optimize=False)
    want = [slow(*_data(WIDE, 16, dtype)) for _ in range(3)]
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    for p, v in zip(params, after_fast):
        np.testing.assert_allclose(p.value, v, rtol=tol, atol=tol)


def test_no_fusion_where_the_gradient_is_also_an_output_or_checked():
    inputs, loss, params, grads = _mlp(WIDE)
    updates = {p: p - 0.1 * g for p, g in zip(params, grads)}
    both = sg.function(inputs, [loss, grads[0]], updates=updates)
    assert "_gemm_update(W1," not in both.source       # d_W1 is returned: computed once
    checked = sg.function(inputs, loss, updates=updates, check_finite=True)
    assert "_gemm_update" not in checked.source         # new values checked before writing
    X, Y = _data(WIDE, 8)
    start = [p.value.copy() for p in params]
    a = both(X, Y)
    first = [p.value.copy() for p in params]
    for p, v in zip(params, start):
        p.value = v
    b = checked(X, Y)
    np.testing.assert_allclose(a[0], b, rtol=1e-12)
    for p, v in zip(params, first):
        np.testing.assert_allclose(p.value, v, rtol=1e-12, atol=1e-15)


def test_failed_call_leaves_weights_unchanged():
    inputs, loss, params, grads = _mlp(WIDE)
    f = sg.function(inputs, loss, updates={p: p - 0.1 * g for p, g in zip(params, grads)})
    X, Y = _data(WIDE, 8)
    f(X, Y)
    before = [p.value.copy() for p in params]
    with pytest.raises(IndexError):
        f(X, Y + 10)                 # labels out of range: fails in the forward pass
    for p, v in zip(params, before):
        np.testing.assert_array_equal(p.value, v)


def test_saved_module_uses_numpy_alone(tmp_path):
    inputs, loss, params, grads = _mlp(WIDE)
    f = sg.function(inputs, loss, updates={p: p - 0.1 * g for p, g in zip(params, grads)})
    src = open(f.save(tmp_path / "step.py")).read()
    assert "import ctypes" not in src and "_gemm_update" not in src
    assert "W1_new = W1 - x.T @ " in src               # a new array, returned


def test_blas_path_off_gives_the_same_step(monkeypatch):
    inputs, loss, params, grads = _mlp(WIDE)
    updates = {p: p - 0.1 * g for p, g in zip(params, grads)}
    start = [p.value.copy() for p in params]
    X, Y = _data(WIDE, 8)
    sg.function(inputs, loss, updates=updates)(X, Y)
    on = [p.value.copy() for p in params]
    for p, v in zip(params, start):
        p.value = v
    monkeypatch.setenv("SYMGRAD_BLAS", "0")
    g = sg.function(inputs, loss, updates=updates, name="no_blas")
    assert g._compiled.fn.__globals__["_BLAS_GEMM"] == {}
    if HAVE_BLAS:
        monkeypatch.setenv("SYMGRAD_BLAS", "1")
        h = sg.function(inputs, loss, updates=updates, name="with_blas")
        assert h._compiled.fn.__globals__["_BLAS_GEMM"] is blas.gemm_table()
    g(X, Y)
    for p, v in zip(params, on):
        np.testing.assert_allclose(p.value, v, rtol=1e-12, atol=1e-15)
