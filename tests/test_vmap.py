"""sg.vmap and the vectorised Jacobians and Hessians built on it.

vmap(fn)(batch) must equal fn applied to each element and stacked (values and gradients,
every op-table row), and the generated source of a Hessian must not grow with the
number of variables.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

import symgrad as sg

from op_table import ROWS


def _rows_for_vmap():
    out = []
    for r in ROWS:
        if r.decl is not None or not r.shapes or any(len(s) == 0 for s in r.shapes):
            continue
        if any(d.kind not in "f" for d in r.input_dtypes()):
            continue
        out.append(r)
    return out


VROWS = _rows_for_vmap()


@pytest.mark.parametrize("row", VROWS, ids=[r.name for r in VROWS])
def test_vmap_of_every_op_equals_a_loop(row):
    """Batch the first argument (3 elements) of every op-table row; the others stay."""
    args = row.arrays()
    batch = np.stack([args[0] + 0.01 * k for k in range(3)])
    xs = sg.tensor("xs", batch.shape)
    rest = [sg.tensor(f"r{k}", a.shape, dtype=a.dtype) for k, a in enumerate(args[1:], 1)]
    out = sg.vmap(lambda x, *r: sg.ops.as_var(row.build(x, *r)),
                  in_axes=[0] + [None] * len(rest))(xs, *rest)
    got = sg.function([xs, *rest], out)(batch, *args[1:])
    elem = sg.tensor("e", args[0].shape)
    f1 = sg.function([elem, *rest], row.build(elem, *rest))
    expect = np.stack([np.asarray(f1(b, *args[1:])) for b in batch])
    assert got.shape == expect.shape and got.dtype == expect.dtype
    np.testing.assert_allclose(got, expect, rtol=1e-12, atol=1e-14)


def test_vmap_axes_and_errors():
    W = sg.matrix("W", (3, 2))
    xs = sg.matrix("xs", (3, 5))                 # batch along axis 1
    ys = sg.vmap(lambda x: sg.tanh(x @ W), in_axes=1, out_axes=1)(xs)
    assert ys.type.shape == (2, 5)
    X = np.random.default_rng(0).normal(size=(3, 5))
    Wv = np.random.default_rng(1).normal(size=(3, 2))
    np.testing.assert_allclose(sg.function([xs, W], ys)(X, Wv), np.tanh(X.T @ Wv).T)
    with pytest.raises(ValueError, match="no argument is batched"):
        sg.vmap(lambda x: x, in_axes=None)(xs)
    with pytest.raises(ValueError, match="in_axes has 2 entries"):
        sg.vmap(lambda x: x, in_axes=[0, 0])(xs)


def test_vmap_of_a_gradient_is_per_example_gradients():
    """Per-example gradients of a logistic loss: vmap over grad."""
    w = sg.vector("w", 4)
    xs = sg.matrix("xs", (6, 4))
    ys = sg.vector("ys", 6)

    def loss_grad(x, y):
        return sg.grad(sg.softplus(-y * sg.sum(x * w)), w)

    g = sg.vmap(loss_grad, in_axes=[0, 0])(xs, ys)
    rng = np.random.default_rng(2)
    X, Y, Wv = rng.normal(size=(6, 4)), np.sign(rng.normal(size=6)), rng.normal(size=4)
    got = sg.function([xs, ys, w], g)(X, Y, Wv)
    s = 1 / (1 + np.exp(Y * (X @ Wv)))
    np.testing.assert_allclose(got, -(Y * s)[:, None] * X, rtol=1e-12)


def _logcosh_hessian(n, m=40):
    rng = np.random.default_rng(0)
    A = rng.normal(size=(m, n)) * 0.1
    x = sg.vector("x", n)
    cost = sg.sum(sg.log(sg.cosh(sg.constant(A) @ x)))
    return A, x, cost


def test_hessian_of_200_variables_is_compact_fast_and_exact():
    A, x, cost = _logcosh_hessian(200)
    t0 = time.perf_counter()
    f = sg.function([x], sg.hessian(cost, x))
    compile_s = time.perf_counter() - t0
    assert f.source.count("\n") < 150 and f.plain_source.count("\n") < 150
    assert compile_s < 0.5, compile_s
    xv = np.random.default_rng(3).normal(size=200)
    z = A @ xv
    exact = A.T @ (A / np.cosh(z)[:, None] ** 2)
    np.testing.assert_allclose(f(xv), exact, rtol=1e-12, atol=1e-15)


def test_hessian_equals_the_unrolled_one():
    """The vectorised Hessian against one Hessian-vector product per basis vector."""
    A, x, cost = _logcosh_hessian(12, m=7)
    H = sg.function([x], sg.hessian(cost, x))
    basis = np.eye(12)
    rows = [sg.hvp(cost, x, basis[k]) for k in range(12)]
    unrolled = sg.function([x], rows)
    xv = np.random.default_rng(4).normal(size=12)
    np.testing.assert_allclose(H(xv), np.stack(unrolled(xv)), rtol=1e-12, atol=1e-15)


def test_source_of_a_jacobian_does_not_grow_with_its_size():
    sizes = []
    for n in (5, 50):
        x = sg.vector("x", n)
        y = sg.tanh(x) * sg.sum(x ** 2)
        f = sg.function([x], sg.jacobian(y, x))
        sizes.append(f.source.count("\n"))
        xv = np.linspace(-1, 1, n)
        t = np.tanh(xv)
        expect = np.diag((1 - t ** 2) * np.sum(xv ** 2)) + np.outer(t, 2 * xv)
        np.testing.assert_allclose(f(xv), expect, rtol=1e-12, atol=1e-14)
    assert sizes[0] == sizes[1]
