"""Calls from several threads: every call path that writes shared values is atomic with
respect to other calls (no lost update), and random streams never repeat a draw."""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest

import symgrad as sg

THREADS, CALLS = 4, 150


@pytest.fixture(autouse=True)
def _frequent_switches():
    """Switch threads often, so that a race shows up in a short test."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


def _hammer(call):
    errors = []

    def work():
        try:
            for _ in range(CALLS):
                call()
        except BaseException as exc:    # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


PATHS = {
    "default": dict(),
    "check_finite": dict(check_finite=True),
    "optimize=False": dict(optimize=False),
    "optimize=False, check_finite": dict(optimize=False, check_finite=True),
    "plain": dict(target="plain"),
}


@pytest.mark.parametrize("options", PATHS.values(), ids=PATHS.keys())
@pytest.mark.parametrize("how", ["position", "keyword"])
def test_counter_update_is_never_lost(options, how):
    c = sg.shared(np.zeros(3), name="c")
    x = sg.vector("x", 3)
    f = sg.function([x], sg.sum(c * x), updates={c: c + 1}, **options)
    ones = np.ones(3)
    _hammer((lambda: f(ones)) if how == "position" else (lambda: f(x=ones)))
    np.testing.assert_array_equal(c.get_value(), np.full(3, THREADS * CALLS))


@pytest.mark.parametrize("options", PATHS.values(), ids=PATHS.keys())
def test_workspace_step_update_is_never_lost(options):
    """A planned step with a workspace (named batch size) and a matmul update."""
    x = sg.tensor("x", shape=("batch", 8))
    W = sg.shared(np.zeros((8, 4)), name="W")
    loss = sg.sum(x @ W)
    f = sg.function([x], loss, updates={W: W + 1.0 + 0.0 * sg.grad(loss, W)}, **options)
    xb = np.ones((16, 8))
    _hammer(lambda: f(xb))
    np.testing.assert_array_equal(W.get_value(), np.full((8, 4), THREADS * CALLS))


@pytest.mark.parametrize("options", PATHS.values(), ids=PATHS.keys())
def test_random_stream_never_repeats_a_draw(options):
    rng = sg.random.RandomStream(1)
    draw = rng.uniform(0.0, 1.0, size=(4,))
    f = sg.function([], draw, **options)
    seen, lock = [], threading.Lock()

    def call():
        value = f()
        with lock:
            seen.append(tuple(value))

    _hammer(call)
    assert len(set(seen)) == THREADS * CALLS
    # the same stream, called as often in one thread, gives the same set of draws
    rng2 = sg.random.RandomStream(1)
    g = sg.function([], rng2.uniform(0.0, 1.0, size=(4,)), **options)
    assert {tuple(g()) for _ in range(THREADS * CALLS)} == set(seen)
