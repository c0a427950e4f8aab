"""Regression tests for wrong or missing answers found by trying symgrad as users would
(issue 11): the unoptimized path compiles everything, zero-size batches behave as NumPy,
and out-of-range labels and indices are clear errors that change nothing."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import symgrad as sg

BOTH = [True, False]


@pytest.mark.parametrize("optimize", BOTH)
def test_weak_scalar_is_indexed_as_numpy_scalar(optimize):
    """grad(0.7 * logsumexp(v)) emitted (1.0 * 0.7)[None] unoptimized."""
    v = sg.vector("v", 3)
    f = sg.function([v], sg.grad(0.7 * sg.logsumexp(v), v), optimize=optimize)
    np.testing.assert_allclose(f(np.ones(3)), np.full(3, 0.7 / 3), rtol=1e-14)


@pytest.mark.parametrize("optimize", BOTH)
def test_scalar_hvp_and_hessian(optimize):
    s = sg.scalar("s")
    cost = 0.5 * s * s * 3.0
    f = sg.function([s], [sg.hvp(cost, s, 1.0), sg.hessian(cost, s)], optimize=optimize)
    np.testing.assert_allclose([float(a) for a in f(2.0)], [3.0, 3.0])


@pytest.mark.parametrize("optimize", BOTH)
@pytest.mark.parametrize("reduce", ["sum", "mean", "max", "min", "prod"])
def test_reduction_over_no_axes(reduce, optimize):
    m = sg.matrix("m", (2, 3))
    r = getattr(sg, reduce)(m, axis=())
    cost = sg.sum(r * r)
    f = sg.function([m], [r, sg.grad(cost, m)], optimize=optimize)
    M = np.arange(6.0).reshape(2, 3)
    value, grad = f(M)
    np.testing.assert_array_equal(value, getattr(np, reduce)(M, axis=()))
    np.testing.assert_allclose(grad, 2 * M)


@pytest.mark.parametrize("optimize", BOTH)
def test_mean_of_empty_batch_is_nan_and_its_gradient_empty(optimize):
    x = sg.tensor("x", shape=("batch", 3))
    f = sg.function([x], [sg.mean(x), sg.grad(sg.mean(x), x), sg.mean(x, axis=0)],
                    optimize=optimize)
    X = np.zeros((0, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        m, g, m0 = f(X)
        expect_m0 = np.mean(X, axis=0)
    assert np.isnan(m)
    assert g.shape == (0, 3)
    np.testing.assert_array_equal(m0, expect_m0)


@pytest.mark.parametrize("optimize", BOTH)
def test_python_number_arithmetic_follows_numpy(optimize):
    """Sizes are Python ints in the generated code; dividing by a zero size must give
    NumPy's inf/nan, not ZeroDivisionError, and powers must stay real."""
    x = sg.tensor("x", shape=("n",))
    n = x.shape[0]
    f = sg.function([x], [1.0 / n, n // n, (0.0 - n) ** 0.5], optimize=optimize)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        a, b, c = f(np.zeros(0))
        np.testing.assert_array_equal(a, np.float64(1.0) / np.int64(0))
        np.testing.assert_array_equal(b, np.int64(0) // np.int64(0))
    assert np.isnan(c) or c == 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        a, b, c = f(np.zeros(4))
    assert float(a) == 0.25 and int(b) == 1 and np.isnan(c)
    assert not np.iscomplexobj(c)


def test_power_of_python_numbers_stays_real_unoptimized():
    """(1.0 - 2.0) ** 0.5 is complex in Python; NumPy gives nan (as optimize=True does)."""
    x = sg.scalar("x")
    e = (sg.constant(1.0) - sg.constant(2.0)) ** 0.5 + x
    f = sg.function([x], e, optimize=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out = f(1.0)
    assert not np.iscomplexobj(out) and np.isnan(out)


@pytest.mark.parametrize("optimize", BOTH)
@pytest.mark.parametrize("spec", ["ij,jk->ik", "ij->j", "ij,ij->", "i,j->ij"])
def test_einsum_with_zero_size_dimension(spec, optimize):
    ins = spec.split("->")[0].split(",")
    sizes = {"i": 0, "j": 3, "k": 2}
    arrays = [np.random.default_rng(0).normal(size=[sizes[c] for c in term]) for term in ins]
    vs = [sg.tensor(f"a{k}", shape=a.shape) for k, a in enumerate(arrays)]
    out = sg.einsum(spec, *vs)
    cost = sg.sum(out)
    f = sg.function(vs, [out, *sg.grad(cost, vs)], optimize=optimize)
    value, *grads = f(*arrays)
    np.testing.assert_array_equal(value, np.einsum(spec, *arrays))
    for g, a in zip(grads, arrays):
        assert g.shape == a.shape


def _digits_like_step(options):
    rng = np.random.default_rng(0)
    x = sg.tensor("x", shape=("batch", 4))
    y = sg.tensor("y", shape=("batch",), dtype="int64")
    W = sg.shared(rng.normal(size=(4, 3)), name="W")
    loss = sg.nn.cross_entropy(x @ W, y)
    step = sg.function([x, y], loss, updates={W: W - 0.1 * sg.grad(loss, W)}, **options)
    return step, W


OPTIONS = [dict(), dict(optimize=False), dict(check_finite=True)]


@pytest.mark.parametrize("options", OPTIONS, ids=str)
@pytest.mark.parametrize("bad", [-1, 3, 7])
def test_out_of_range_label_is_a_clear_error_and_changes_nothing(bad, options):
    step, W = _digits_like_step(options)
    before = W.get_value()
    with pytest.raises(IndexError, match=r"labels 'y'.*out of range \[0, 3\)"):
        step(np.ones((2, 4)), np.array([0, bad]))
    np.testing.assert_array_equal(W.get_value(), before)
    step(np.ones((2, 4)), np.array([0, 2]))          # in range: runs and updates
    assert not np.array_equal(W.get_value(), before)


@pytest.mark.parametrize("optimize", BOTH)
def test_gather_index_that_is_data_is_checked(optimize):
    x = sg.vector("x", 5)
    i = sg.vector("i", 2, dtype="int64")
    f = sg.function([x, i], [x[i], sg.grad(sg.sum(x[i]), x)], optimize=optimize)
    value, grad = f(np.arange(5.0), np.array([-1, 4]))     # negative indices as in NumPy
    np.testing.assert_array_equal(value, [4.0, 4.0])
    np.testing.assert_array_equal(grad, [0, 0, 0, 0, 2.0])
    with pytest.raises(IndexError, match=r"index 'i'.*into axis 0 of 'x'.*value 5"):
        f(np.arange(5.0), np.array([5, 0]))
    with pytest.raises(IndexError, match=r"value -6"):
        f(np.arange(5.0), np.array([-6, 0]))


@pytest.mark.parametrize("optimize", BOTH)
def test_constant_arrays_keep_shape_and_non_finite_values(optimize):
    """An empty (0, 3) constant was emitted as np.array([]) of shape (0,); nan and inf in a
    small constant were emitted as undefined names."""
    x = sg.matrix("x", (0, 3))
    y = sg.vector("y", 3)
    special = np.array([np.nan, -np.inf, np.inf])
    f = sg.function([x, y], [x * sg.constant(np.zeros((0, 3))), y * sg.constant(special)],
                    optimize=optimize)
    empty, out = f(np.zeros((0, 3)), np.ones(3))
    assert empty.shape == (0, 3)
    np.testing.assert_array_equal(out, special)
