"""Update semantics: every output and every update is computed from the *old* shared
values, then all updates are assigned together (SPEC section 4).

A randomized differential test: random sets of shared variables whose update expressions
read each other (identities, views, transposes, reshapes, arithmetic that the optimizer
simplifies away), compiled with every option combination, run twice in a row, and compared
with a NumPy evaluation of the same expressions on the old values. After every call no two
shared variables, and no returned array and shared variable, may share memory.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import symgrad as sg

N = 3   # every shared value is N x N, so transposes and reversals keep the shape

# (name, arity, symgrad builder, NumPy reference); each keeps the N x N float64 shape
_UNARY = [
    ("id", lambda a: a, lambda a: a),
    ("times1", lambda a: a * 1.0, lambda a: a * 1.0),
    ("plus0", lambda a: a + 0.0, lambda a: a + 0.0),
    ("negneg", lambda a: -(-a), lambda a: -(-a)),
    ("rev", lambda a: a[::-1], lambda a: a[::-1]),
    ("revcols", lambda a: a[:, ::-1], lambda a: a[:, ::-1]),
    ("T", lambda a: a.T, lambda a: a.T),
    ("TT", lambda a: a.T.T, lambda a: a),
    ("reshape", lambda a: a.reshape((N * N,)).reshape((N, N)), lambda a: a),
    ("stop", lambda a: sg.stop_gradient(a), lambda a: a),
    ("plus1", lambda a: a + 1.0, lambda a: a + 1.0),
    ("scale", lambda a: 0.5 * a, lambda a: 0.5 * a),
    ("exp", lambda a: sg.exp(a * 0.1), lambda a: np.exp(a * 0.1)),
]
_BINARY = [
    ("add", lambda a, b: a + b, lambda a, b: a + b),
    ("sub", lambda a, b: a - b, lambda a, b: a - b),
    ("mul", lambda a, b: a * b, lambda a, b: a * b),
    ("matmul", lambda a, b: a @ b * 0.1, lambda a, b: a @ b * 0.1),
    ("max", lambda a, b: sg.maximum(a, b), lambda a, b: np.maximum(a, b)),
]


def _random_expr(rng, leaves, depth):
    """A random expression over ``leaves`` (pairs of symgrad variable and NumPy value
    getter): returns (symgrad var, function of the old values dict)."""
    if depth == 0 or rng.random() < 0.3:
        k = int(rng.integers(len(leaves)))
        return leaves[k][0], (lambda old, k=k: old[k])
    if rng.random() < 0.65:
        _, build, ref = _UNARY[int(rng.integers(len(_UNARY)))]
        v, f = _random_expr(rng, leaves, depth - 1)
        return build(v), (lambda old, f=f, ref=ref: ref(f(old)))
    _, build, ref = _BINARY[int(rng.integers(len(_BINARY)))]
    v1, f1 = _random_expr(rng, leaves, depth - 1)
    v2, f2 = _random_expr(rng, leaves, depth - 1)
    return build(v1, v2), (lambda old, f1=f1, f2=f2, ref=ref: ref(f1(old), f2(old)))


def _program(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 5))
    shared = [sg.shared(rng.normal(size=(N, N)), name=f"s{j}") for j in range(k)]
    leaves = [(s, None) for s in shared]
    targets = rng.permutation(k)[: int(rng.integers(1, k + 1))]
    updates = {}
    for t in targets:
        updates[shared[t]] = _random_expr(rng, leaves, int(rng.integers(0, 4)))
    outputs = [_random_expr(rng, leaves, int(rng.integers(0, 3)))
               for _ in range(int(rng.integers(0, 3)))]
    return shared, updates, outputs


def _no_shared_memory(arrays, what):
    for (na, a), (nb, b) in itertools.combinations(arrays, 2):
        assert not np.shares_memory(a, b), f"{what}: {na} and {nb} share memory"


OPTIONS = [dict(optimize=o, check_finite=c) for o in (True, False) for c in (False, True)]
OPTIONS.append(dict(target="plain"))


@pytest.mark.parametrize("seed", range(160))
def test_random_update_programs(seed):
    for options in OPTIONS:
        shared, updates, outputs = _program(seed)     # fresh shared values per option set
        upd = {t: v for t, (v, _) in updates.items()}
        f = sg.function([], [v for v, _ in outputs], updates=upd, **options)
        for call in range(2):
            old = [s.get_value() for s in shared]
            expect_out = [np.array(fn(old)) for _, fn in outputs]
            expect = [old[j] for j in range(len(shared))]
            for t, (_, fn) in updates.items():
                expect[shared.index(t)] = np.array(fn(old))
            got = f()
            where = f"seed {seed}, {options}, call {call}"
            for j, (g, e) in enumerate(zip(got, expect_out)):
                np.testing.assert_allclose(g, e, rtol=1e-13, atol=1e-13,
                                           err_msg=f"{where}: output {j}")
            for s, e in zip(shared, expect):
                np.testing.assert_allclose(s.get_value(), e, rtol=1e-13, atol=1e-13,
                                           err_msg=f"{where}: shared {s.name}")
            arrays = [(s.name, s.get_value(borrow=True)) for s in shared]
            arrays += [(f"output {j}", np.asarray(g)) for j, g in enumerate(got)]
            _no_shared_memory(arrays, where)


@pytest.mark.parametrize("options", OPTIONS, ids=str)
@pytest.mark.parametrize("form", ["b", "b*1", "b+0", "--b", "b[::-1]", "b.T", "reshape",
                                  "stop_gradient"])
def test_update_reads_old_value_of_updated_shared(form, options):
    """The reproductions of the issue: a <- (a form of) b while b <- b + 1."""
    a = sg.shared(np.array([[1.0, 2.0], [3.0, 4.0]]), name="a")
    b = sg.shared(np.array([[10.0, 20.0], [30.0, 40.0]]), name="b")
    build = {"b": lambda: b, "b*1": lambda: b * 1.0, "b+0": lambda: b + 0.0,
             "--b": lambda: -(-b), "b[::-1]": lambda: b[::-1], "b.T": lambda: b.T,
             "reshape": lambda: sg.reshape(sg.reshape(b, (4,)), (2, 2)),
             "stop_gradient": lambda: sg.stop_gradient(b)}[form]
    ref = {"b[::-1]": lambda v: v[::-1], "b.T": lambda v: v.T}.get(form, lambda v: v)
    old_b = b.get_value()
    sg.function([], [], updates={a: build(), b: b + 1}, **options)()
    np.testing.assert_array_equal(a.get_value(), ref(old_b))
    np.testing.assert_array_equal(b.get_value(), old_b + 1)
    assert not np.shares_memory(a.get_value(borrow=True), b.get_value(borrow=True))


@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_previous_weights_kept_while_training(options):
    """{W_prev: W, W: W - lr * gW}: W_prev must hold the weights before the step."""
    rng = np.random.default_rng(0)
    x = sg.matrix("x", (5, 3))
    W = sg.shared(rng.normal(size=(3, 2)), name="W")
    W_prev = sg.shared(np.zeros((3, 2)), name="W_prev")
    loss = sg.sum((x @ W) ** 2)
    gW = sg.grad(loss, W)
    step = sg.function([x], loss, updates={W_prev: W, W: W - 0.01 * gW}, **options)
    xb = rng.normal(size=(5, 3))
    for _ in range(3):
        before = W.get_value()
        step(xb)
        np.testing.assert_array_equal(W_prev.get_value(), before)
        np.testing.assert_allclose(W.get_value(), before - 0.01 * 2 * xb.T @ (xb @ before),
                                   rtol=1e-12)


def test_swap():
    a = sg.shared(np.array([1.0, 2.0]), name="a")
    b = sg.shared(np.array([3.0, 4.0]), name="b")
    for options in OPTIONS:
        f = sg.function([], [], updates={a: b, b: a}, **options)
        old_a, old_b = a.get_value(), b.get_value()
        f()
        np.testing.assert_array_equal(a.get_value(), old_b)
        np.testing.assert_array_equal(b.get_value(), old_a)
