"""Memory planning in the generated code: workspace buffers, in-place updates, fusions.

Every planned function is checked against the same graph compiled with optimize=False
(no fusion rewrites) over several calls: buffer reuse must never change a value.
"""

import re
import threading

import numpy as np
import pytest

import symgrad as sg


def _mlp(seed=0, dtype="float64", widths=(6, 5, 4, 3), lr=0.1, check_finite=False,
         optimize=True):
    rng = np.random.default_rng(seed)
    x = sg.tensor("x", shape=("batch", widths[0]), dtype=dtype)
    y = sg.tensor("y", shape=("batch",), dtype="int64")
    params = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        params.append((sg.shared(rng.standard_normal((a, b)).astype(dtype), name=f"W{i + 1}"),
                       sg.shared(rng.standard_normal(b).astype(dtype) * 0.1, name=f"b{i + 1}")))
    h = x
    for W, b in params[:-1]:
        h = sg.relu(h @ W + b)
    W, b = params[-1]
    loss = sg.nn.cross_entropy(h @ W + b, y)
    flat = [p for pair in params for p in pair]
    grads = sg.grad(loss, flat)
    f = sg.function([x, y], {"loss": loss}, updates={p: p - lr * g for p, g in zip(flat, grads)},
                    check_finite=check_finite, optimize=optimize)
    return f, flat


def _data(n, seed, widths=(6, 5, 4, 3), dtype="float64"):
    rng = np.random.default_rng(100 + seed)
    return (rng.standard_normal((n, widths[0])).astype(dtype),
            rng.integers(0, widths[-1], size=n))


def test_planned_step_matches_unoptimized_over_calls():
    f, fp = _mlp()
    g, gp = _mlp(optimize=False)
    assert "out=" in f.source and "_workspace" in f.source
    assert "out=" not in g.source
    for k, n in enumerate([8, 8, 5, 8, 5]):          # two signatures, interleaved
        xb, yb = _data(n, k)
        x0, y0 = xb.copy(), yb.copy()
        a, b = f(xb, yb), g(xb, yb)
        np.testing.assert_allclose(a["loss"], b["loss"], rtol=1e-12)
        for p, q in zip(fp, gp):
            np.testing.assert_allclose(p.value, q.value, rtol=1e-12, atol=1e-14)
        np.testing.assert_array_equal(xb, x0)        # inputs never modified
        np.testing.assert_array_equal(yb, y0)
    assert len(f._compiled.pool.free) == 2               # one workspace per signature


def test_updates_are_in_place_and_outputs_never_alias():
    x = sg.tensor("x", shape=("n", 3))
    W = sg.shared(np.arange(6.0).reshape(3, 2), name="W")
    h = x @ W
    loss = (h * h).sum()
    (gW,) = sg.grad(loss, [W])
    f = sg.function([x], [h, loss, gW * 1.0], updates={W: W - 0.01 * gW})
    assert "out=W)" in f.source                      # written into the shared array
    arr = W.get_value(borrow=True)
    xb = np.ones((4, 3))
    outs = []
    for _ in range(3):
        before = W.value.copy()
        res = f(xb)
        expect_h = xb @ before
        np.testing.assert_allclose(res[0], expect_h)
        np.testing.assert_allclose(res[2], 2 * xb.T @ expect_h)
        np.testing.assert_allclose(W.value, before - 0.01 * 2 * xb.T @ expect_h)
        assert W.get_value(borrow=True) is arr        # same array, updated in place
        for o in res:
            assert not np.shares_memory(o, W.value)
        outs.append(res)
    # arrays returned by one call are not overwritten by the next
    for a in outs[0] + outs[1]:
        for b in outs[2]:
            assert not np.shares_memory(a, b)
    ws = [w for free in f._compiled.pool.free.values() for ws in free for w in ws]
    for res in outs:
        for o in res:
            assert not any(np.shares_memory(o, w) for w in ws)


def test_output_of_shared_value_is_a_copy_of_the_old_value():
    x = sg.scalar("x")
    W = sg.shared(np.array([1.0, 2.0]), name="W")
    V = sg.shared(np.array([10.0, 20.0]), name="V")
    f = sg.function([x], [W, V * 1.0], updates={W: W * x, V: W})   # V gets the old W
    out = f(3.0)
    np.testing.assert_array_equal(out[0], [1.0, 2.0])
    np.testing.assert_array_equal(out[1], [10.0, 20.0])
    np.testing.assert_array_equal(W.value, [3.0, 6.0])
    np.testing.assert_array_equal(V.value, [1.0, 2.0])
    assert not np.shares_memory(out[0], W.value)


def test_swap_updates_read_old_values():
    A = sg.shared(np.array([1.0, 2.0]), name="A")
    B = sg.shared(np.array([3.0, 4.0]), name="B")
    f = sg.function([], None, updates={A: B + 0.0, B: A + 0.0})
    f()
    np.testing.assert_array_equal(A.value, [3.0, 4.0])
    np.testing.assert_array_equal(B.value, [1.0, 2.0])
    g = sg.function([], None, updates={A: A - B, B: B - A})
    g()
    np.testing.assert_array_equal(A.value, [2.0, 2.0])
    np.testing.assert_array_equal(B.value, [-2.0, -2.0])


def test_failing_call_changes_nothing():
    f, params = _mlp()
    xb, yb = _data(6, 0)
    f(xb, yb)
    before = [p.value.copy() for p in params]
    bad_y = yb.copy()
    bad_y[2] = 99                                     # index error inside the step
    with pytest.raises(IndexError):
        f(xb, bad_y)
    for p, v in zip(params, before):
        np.testing.assert_array_equal(p.value, v)
    f(xb, yb)                                         # and it still works afterwards


def test_check_finite_refuses_before_any_write():
    f, params = _mlp(check_finite=True)
    xb, yb = _data(6, 0)
    before = [p.value.copy() for p in params]
    with pytest.raises(FloatingPointError):
        f(np.full_like(xb, np.inf), yb)               # inputs themselves are inf
    big = xb.copy()
    big[0, :] = 1e308                                 # finite input, inf values inside
    with pytest.raises(FloatingPointError), np.errstate(over="ignore", invalid="ignore"):
        f(big, yb)
    for p, v in zip(params, before):
        np.testing.assert_array_equal(p.value, v)


def test_threads_get_their_own_workspace():
    x = sg.tensor("x", shape=("n", 4))
    W = sg.shared(np.linspace(-1, 1, 12).reshape(4, 3), name="W")
    h = sg.relu(x @ W + 1.0)
    out = (h * h).sum(axis=1) + sg.exp(-h).sum(axis=1)
    f = sg.function([x], out)
    rng = np.random.default_rng(0)
    data = [rng.standard_normal((n, 4)) for n in (50, 50, 7, 50, 7, 50) * 4]
    expect = [f(d).copy() for d in data]
    errors = []

    def work(order):
        for _ in range(30):
            for k in order:
                if not np.allclose(f(data[k]), expect[k], rtol=0, atol=0):
                    errors.append(k)

    ts = [threading.Thread(target=work, args=(list(range(len(data))),)),
          threading.Thread(target=work, args=(list(reversed(range(len(data)))),))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors


def test_fusions_in_the_mlp_step_source():
    f, _ = _mlp()
    # the code without its comments (a lowered line's comment gives its plain form)
    src = "\n".join(line.split("  # ")[0] for line in f.source.splitlines())
    rep = f.stats["lowerings"]
    assert rep["fold_scale"] == 6 and rep["index_add"] == 1 and rep["relu_mask"] == 2
    # the label term of the cross-entropy gradient: one in-place indexed add
    assert re.search(r"\n    \w+\[_rows1, \w+\] \+= ", src), src
    assert "_index_add(" not in src and "_scatter" not in src
    # ReLU against a workspace array of zeros (NumPy's maximum with a scalar is slow), its
    # mask as ceil(min(r, 1)) (float, no sign()), row sums as products with ones
    assert re.search(r"np\.maximum\(\w+, _zeros\d+, out=", src), src
    assert re.search(r"np\.ceil\(np\.minimum\(\w+, _ones\d+, out=", src), src
    assert "np.sign" not in src and ".reduce(exp" not in src
    assert src.count("np.subtract(W") == 3 and "0.1 *" not in src
    assert "np.dot(_ones" in src                      # bias gradients as ones @ delta
    assert ".T, " in src                               # transposes are views


def test_save_writes_the_plain_module(tmp_path):
    f, params = _mlp()
    path = f.save(tmp_path / "step.py")
    ns = {}
    exec(compile(open(path).read(), str(path), "exec"), ns)
    xb, yb = _data(5, 3)
    values = [p.value.copy() for p in params]
    out, new = ns["f"](xb, yb, *values)
    out2, new2 = ns["f"](xb, yb, *values)             # reproducible, inputs untouched
    np.testing.assert_array_equal(out["loss"], out2["loss"])
    res = f(xb, yb)
    np.testing.assert_allclose(out["loss"], res["loss"], rtol=1e-12)
    for p in params:
        np.testing.assert_allclose(new[p.name], p.value, rtol=1e-12)
        assert not np.shares_memory(new[p.name], p.value)


def test_large_temporaries_are_deleted():
    x = sg.tensor("x", shape=(None, 300))
    y = sg.exp(x) @ sg.constant(np.ones((300, 300)))   # unknown rows: not pooled
    z = (y * 2.0).sum() + (y + 1.0).sum()
    f = sg.function([x], z)
    assert "del " in f.source
    xb = np.linspace(0, 1, 600).reshape(2, 300)
    ex = np.exp(xb) @ np.ones((300, 300))
    np.testing.assert_allclose(f(xb), (ex * 2).sum() + (ex + 1).sum())


def test_call_allocates_little_after_the_first():
    import tracemalloc
    f, _ = _mlp(widths=(64, 128, 128, 10))
    xb, yb = _data(256, 0, widths=(64, 128, 128, 10))
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        f(xb, yb)
        first = tracemalloc.get_traced_memory()[1]
        f(xb, yb)
        c0 = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        f(xb, yb)
        later = tracemalloc.get_traced_memory()[1] - c0
    finally:
        tracemalloc.stop()
    # what remains is NumPy's own ufunc iteration buffer (bias add, bool-mask multiply),
    # which hand-written NumPy with out= pays as well
    assert later < 0.01 * first + 2 * np.getbufsize() * 8, (later, first)


def test_unknown_batch_size_and_views_of_reused_buffers():
    def build(optimize):
        x = sg.tensor("x", shape=(None, 3))            # rows unknown: no ones vector
        b = sg.shared(np.zeros(3), name="b")
        h = sg.tanh(x + b)
        loss = (h[0] * h[1]).sum() + h.sum()           # views of a value read after others
        (gb,) = sg.grad(loss, [b])
        return sg.function([x], loss, updates={b: b - 0.5 * gb}, optimize=optimize), b

    (f, b), (g, b2) = build(True), build(False)
    xb = np.linspace(-1, 1, 12).reshape(4, 3)
    for _ in range(3):
        np.testing.assert_allclose(f(xb), g(xb), rtol=1e-12)
        np.testing.assert_allclose(b.value, b2.value, rtol=1e-12)


def test_optimizer_state_updates_allocate_nothing_after_the_first_call():
    """Adam's moments live in workspace buffers and are copied into their shared arrays:
    a warm Adam step allocates no more than the plain SGD step of the same network (whose
    peak is NumPy's own fixed-size ufunc scratch buffer)."""
    import tracemalloc

    def warm_peak(make_updates):
        # parameters far larger than the activations (and than NumPy's scratch buffer)
        x = sg.tensor("x", shape=("batch", 64))
        y = sg.tensor("y", shape=("batch",), dtype="int64")
        net = sg.nn.mlp([64, 256, 3])
        loss = sg.nn.cross_entropy(net(x), y)
        step = sg.function([x, y], loss, updates=make_updates(loss, net.params))
        xb = np.random.default_rng(0).normal(size=(4, 64))
        yb = np.arange(4) % 3
        step(xb, yb)
        tracemalloc.start()
        step(xb, yb)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return peak, sum(p.value.nbytes for p in net.params)

    sgd_peak, _ = warm_peak(lambda loss, ps: sg.optim.sgd(loss, ps, lr=0.01))
    adam_peak, param_bytes = warm_peak(lambda loss, ps: sg.optim.adam(loss, ps, lr=0.01))
    # before the fix Adam allocated its two new moments per parameter on every step
    assert adam_peak < sgd_peak + param_bytes // 4, (adam_peak, sgd_peak, param_bytes)


# ---- the faster spellings the planner picks, each against the unplanned code -----------
_SPECIAL = {
    # name: (build(x) -> output, a regex the planned source must contain)
    "relu vs zeros": (lambda x: sg.relu(x) * 2.0, r"np\.maximum\(\w+, _zeros\d+, out="),
    "maximum vs 0.5": (lambda x: sg.maximum(x, 0.5) + 1.0, r"np\.maximum\(\w+, _full\d+, out="),
    "minimum 0.5 first": (lambda x: sg.minimum(0.5, x) + 1.0, r"np\.minimum\(_full\d+, \w+,"),
    "row max, keepdims": (lambda x: x - sg.max(x, axis=1, keepdims=True),
                          r"np\.maximum\.reduce\(_buf\d+, axis=0, keepdims=True, out=_buf\d+\.T\)\.T"),
    "row min": (lambda x: sg.min(x, axis=1) * 2.0, r"np\.minimum\.reduce\(_buf\d+, axis=0, out="),
    "row sums": (lambda x: sg.sum(sg.exp(x), axis=1) * 2.0, r"np\.dot\(exp\d+, _ones\d+, out="),
    "row sums, keepdims": (lambda x: sg.exp(x) / sg.sum(sg.exp(x), axis=1, keepdims=True),
                           r"np\.dot\(exp\d+, _ones\d+, out="),
    "column sums, keepdims": (lambda x: sg.exp(x) / sg.sum(sg.exp(x), axis=0, keepdims=True),
                              r"np\.dot\(_ones\d+, exp\d+, out="),
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", sorted(_SPECIAL))
def test_planned_special_forms_match_unplanned(case, dtype):
    build, pattern = _SPECIAL[case]
    x = sg.tensor("x", shape=("n", 5), dtype=dtype)
    out = build(x)
    f = sg.function([x], out)
    g = sg.function([x], out, optimize=False)
    assert re.search(pattern, f.source), f.source
    rng = np.random.default_rng(3)
    for n in (4, 7, 4):
        xb = rng.standard_normal((n, 5)).astype(dtype)
        xb[0, 1] = 0.0
        xb[1, 2] = np.nan                              # NaN and inf propagate as in NumPy
        xb[2, 3] = -np.inf if "sums" not in case else 0.5
        with np.errstate(all="ignore"):
            a, b = f(xb), g(xb)
        tol = 1e-5 if dtype == "float32" else 1e-12
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
        assert a.dtype == b.dtype and a.shape == b.shape


def test_relu_mask_is_the_mask_of_positive_values():
    # the gradient of relu through the planned mask ceil(min(r, 1)): 1 where r > 0, 0 at
    # r == 0 (relu'(0) = 0), whatever the magnitude of r (tiny and huge values included)
    x = sg.tensor("x", shape=("n", 6), dtype="float32")
    w = sg.tensor("w", shape=("n", 6), dtype="float32")
    r = sg.relu(x)
    (gx,) = sg.grad(sg.sum(r * w), [x])
    f = sg.function([x, w], [r * 1.0, gx])
    assert "np.ceil(np.minimum(" in f.source, f.source
    xb = np.array([[0.0, -0.0, 1e-45, 1e-30, 3e38, -1.0]] * 2, np.float32)
    wb = np.full_like(xb, 3.0)
    np.testing.assert_array_equal(f(xb, wb)[1], np.where(xb > 0, 3.0, 0.0).astype(np.float32))


@pytest.mark.parametrize("shape", [(), (0,), (3, 0), (1,), (5, 7), (2, 3, 4)])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "bool"])
def test_aligned_arrays(shape, dtype):
    from symgrad.aligned import _aligned, aligned_copy
    a = _aligned(shape, dtype)
    assert a.shape == shape and a.dtype == np.dtype(dtype) and a.flags.c_contiguous
    assert a.ctypes.data % 64 == 0 or a.size == 0
    z = _aligned(shape, dtype, 1)
    np.testing.assert_array_equal(z, np.ones(shape, dtype))
    src = np.arange(int(np.prod(shape))).reshape(shape).astype(dtype)
    c = aligned_copy(src[::-1] if src.ndim else src)
    np.testing.assert_array_equal(c, src[::-1] if src.ndim else src)
    assert not np.shares_memory(c, src)


def test_workspaces_and_shared_arrays_start_on_cache_lines():
    f, params = _mlp()
    xb, yb = _data(9, 0)
    f(xb, yb)
    workspaces = [w for pool in f._compiled.pool.free.values() for w in pool]
    assert workspaces and "_aligned(" in f.source
    for a in (a for ws in workspaces for a in ws):
        if a.dtype.kind == "f":
            assert a.ctypes.data % 64 == 0
    for p in params:
        assert p.get_value(borrow=True).ctypes.data % 64 == 0
        p.value = p.value * 2.0                        # assignment keeps the alignment
        assert p.get_value(borrow=True).ctypes.data % 64 == 0
