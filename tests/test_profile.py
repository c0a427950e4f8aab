"""f.profile: per-statement times of the generated code, on copies of the shared values."""

import os
import sys

import numpy as np
import pytest

import symgrad as sg

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")


def _mlp(seed=0, dropout=0.0):
    rng = np.random.default_rng(seed)
    x = sg.tensor("x", shape=("batch", 8))
    y = sg.tensor("y", shape=("batch",), dtype="int64")
    W1 = sg.shared(rng.normal(size=(8, 16)) * 0.3, name="W1")
    b1 = sg.shared(np.zeros(16), name="b1")
    W2 = sg.shared(rng.normal(size=(16, 3)) * 0.3, name="W2")
    h = sg.relu(x @ W1 + b1)
    if dropout:
        h = sg.nn.dropout(h, dropout, sg.random.RandomStream(seed))
    loss = sg.nn.cross_entropy(h @ W2, y)
    params = [W1, b1, W2]
    grads = sg.grad(loss, params)
    step = sg.function([x, y], {"loss": loss},
                       updates={p: p - 0.1 * g for p, g in zip(params, grads)}, name="step")
    X = rng.normal(size=(32, 8))
    Y = rng.integers(0, 3, size=32)
    return step, params, X, Y


def test_rows_are_the_statements_of_the_generated_source():
    step, params, X, Y = _mlp()
    prof = step.profile(X, Y, repeat=3)
    lines = step.source.splitlines()
    assert len(prof.rows) >= 8
    for row in prof.rows:
        assert row.seconds >= 0
        # the row's text is the statement at that line of f.source (comment left out)
        first = lines[row.line - 1].strip()
        assert first.startswith(row.source[: min(len(row.source), 30)])
    texts = [r.source for r in prof.rows]
    assert any("np.dot(x, W1" in t or "x @ W1" in t for t in texts)
    assert texts[-1].startswith("return ")
    assert abs(sum(r.share for r in prof.rows) - 1) < 1e-9
    assert prof.total == pytest.approx(sum(r.seconds for r in prof.rows))
    assert prof.top(3)[0].seconds == max(r.seconds for r in prof.rows)


def test_profile_changes_no_shared_value_and_no_random_state():
    step, params, X, Y = _mlp(dropout=0.5)
    twin, twin_params, _, _ = _mlp(dropout=0.5)
    before = [p.value for p in params]
    step.profile(X, Y, repeat=4)
    for p, v in zip(params, before):
        np.testing.assert_array_equal(p.value, v)
    # the next real call gives what it gives without the profile (same dropout draw)
    np.testing.assert_array_equal(step(X, Y)["loss"], twin(X, Y)["loss"])
    for p, q in zip(params, twin_params):
        np.testing.assert_array_equal(p.value, q.value)


def test_profile_prints_as_text_and_html():
    step, params, X, Y = _mlp()
    prof = step.profile(X, Y, repeat=2)
    text = str(prof)
    assert text.startswith("profile of step: 2 runs")
    assert "time/run" in text and "share" in text and "return" in text
    page = prof._repr_html_()
    assert page.count("<tr>") == len(prof.rows) + 1
    assert "&lt;" not in text and "<table>" in page


def test_profile_validates_like_a_call():
    step, params, X, Y = _mlp()
    with pytest.raises(ValueError, match="'x'"):
        step.profile(X[:, :3], Y)
    with pytest.raises(ValueError, match="repeat"):
        step.profile(X, Y, repeat=0)
    prof = step.profile(x=X, y=Y.tolist(), repeat=1)      # keywords and lists, as a call
    assert prof.repeat == 1


def test_an_error_while_profiling_names_the_users_line():
    table = sg.vector("table")
    idx = sg.tensor("idx", shape=(2,), dtype="int64")
    line = sys._getframe().f_lineno + 1
    out = sg.sum(table[idx] * 3.0)
    f = sg.function([table, idx], out)
    with pytest.raises(IndexError) as info:
        f.profile(np.zeros(3), np.array([0, 9]))
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert f"test_profile.py:{line}" in notes


def test_medium_mlp_lines_sum_to_the_whole_step():
    """The acceptance check of issue 16: per-statement times sum to within 25% of the
    uninstrumented step (medians over the runs; a few tries against a noisy machine)."""
    sys.path.insert(0, BENCH)
    try:
        import baselines as B
    finally:
        sys.path.remove(BENCH)
    problem = B.make_problem((784, 256, 256, 10), 128, "float32")
    fn = B.symgrad_step(problem).info["function"]
    ratios = []
    for _ in range(3):
        prof = fn.profile(problem.X, problem.y, repeat=15)
        ratios.append(prof.total / prof.step_seconds)
        if 0.75 <= ratios[-1] <= 1.25:
            break
    assert 0.75 <= ratios[-1] <= 1.25, ratios
    assert any("_gemm_update" in r.source or "W1" in r.source for r in prof.top(5))


@pytest.mark.parametrize("lib", ["array_api_strict", "torch"])
def test_profile_on_the_array_api_target(lib):
    """Shared values of another library: the copies stay in that library, the timed
    function runs through the call's namespace/device machinery, and an error in the
    generated code still names the user's line."""
    mod = pytest.importorskip(lib)
    pytest.importorskip("array_api_compat")
    rng = np.random.default_rng(0)
    x = sg.tensor("x", shape=("batch", 4))
    w = sg.shared(mod.asarray(rng.normal(size=(4, 3))), name="w")
    loss = sg.mean(sg.tanh(x @ w))
    step = sg.function([x], loss, updates={w: w - 0.5 * sg.grad(loss, w)}, name="step")
    assert step.target == "array_api"
    before = np.asarray(step(mod.asarray(np.ones((2, 4)))))   # one real call
    w_before = np.array(np.from_dlpack(w.value), copy=True)
    prof = step.profile(mod.asarray(rng.normal(size=(5, 4))), repeat=3)
    assert type(w.value).__module__.split(".")[0] == lib          # still the user's array
    np.testing.assert_array_equal(np.from_dlpack(w.value), w_before)
    texts = [r.source for r in prof.rows]
    assert any("x @ w" in t for t in texts) and texts[-1].startswith("return ")
    assert prof.total > 0 and prof.step_seconds > 0
    assert np.isfinite(before)
    with pytest.raises(ValueError, match="'x'"):
        step.profile(mod.asarray(np.ones((2, 5))))
