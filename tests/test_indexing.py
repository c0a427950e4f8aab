"""Indexing: basic (ints, slices with steps, None, ...), negative indices, integer arrays
and variables (gather), and the gradient of indexing, which accumulates repeated indices
(``np.add.at``)."""

from __future__ import annotations

import numpy as np
import pytest

import symgrad as sg

X = np.arange(24.0).reshape(2, 3, 4)

BASIC = [
    (1,), (-1,), (slice(None, None, 2),), (slice(None, None, -1),), (Ellipsis, -1),
    (0, slice(1, None), None), (None, Ellipsis, None), (slice(-2, None), -3, slice(3, 0, -2)),
    (Ellipsis,), (1, 2, 3), (-2, -3, -4),
]


@pytest.mark.parametrize("index", BASIC, ids=[repr(i) for i in BASIC])
def test_basic_indexing_values_and_gradient(index):
    x = sg.tensor("x", X.shape)
    y = x[index]
    f = sg.function([x], [y, sg.grad(sg.sum(y * 2.0), x)])
    got, g = f(X)
    want = X[index]
    assert y.type.shape == np.shape(want)
    np.testing.assert_array_equal(got, want)
    expect = np.zeros_like(X)
    expect[index] += 2.0
    np.testing.assert_array_equal(g, expect)


def test_repeated_integer_indices_accumulate():
    x = sg.vector("x", 4)
    idx = np.array([0, 2, 0, 0, 3])
    w = np.array([1.0, 10.0, 100.0, 1000.0, 5.0])
    g = sg.function([x], sg.grad(sg.sum(x[idx] * w), x))(np.zeros(4))
    np.testing.assert_array_equal(g, [1101.0, 0.0, 10.0, 5.0])


def test_repeated_index_variable_accumulates():
    x = sg.matrix("x", (3, 2))
    i = sg.vector("i", None, dtype="int64")
    g = sg.function([x, i], sg.grad(sg.sum(x[i, -1]), x))(np.zeros((3, 2)),
                                                           np.array([1, 1, -1, 1]))
    np.testing.assert_array_equal(g, [[0, 0], [0, 3], [0, 1]])


def test_gather_rows_with_arange():
    logits = sg.matrix("logits", ("n", 3))
    y = sg.vector("y", "n", dtype="int64")
    picked = logits[sg.arange(logits.shape[0]), y]
    assert picked.type.shape == ("n",)
    lv = np.arange(12.0).reshape(4, 3)
    yv = np.array([2, 0, 0, 1])
    f = sg.function([logits, y], [picked, sg.grad(sg.sum(picked * 3.0), logits)])
    got, g = f(lv, yv)
    np.testing.assert_array_equal(got, lv[np.arange(4), yv])
    np.testing.assert_array_equal(g, 3.0 * np.eye(3)[yv])


def test_length_one_arange_broadcast_against_repeats_still_accumulates():
    # arange(1) broadcast against a longer index selects repeated positions
    x = sg.matrix("x", (2, 3))
    y = sg.vector("y", 4, dtype="int64")
    g = sg.function([x, y], sg.grad(sg.sum(x[sg.arange(1), y]), x))(
        np.zeros((2, 3)), np.array([0, 2, 2, 2]))
    np.testing.assert_array_equal(g, [[1, 0, 3], [0, 0, 0]])


def test_two_dimensional_index_and_separated_advanced_indices():
    x = sg.tensor("x", (3, 2, 4))
    i = np.array([[0, 2], [2, 2]])
    j = np.array([1, 2])
    v = np.arange(24.0).reshape(3, 2, 4)
    for build in (lambda t: t[i], lambda t: t[j[:, None], :, j], lambda t: t[..., j]):
        y = build(x)
        f = sg.function([x], [y, sg.grad(sg.sum(y), x)])
        got, g = f(v)
        want = build(v)
        assert y.type.shape == want.shape
        np.testing.assert_array_equal(got, want)
        expect = np.zeros_like(v)
        np.add.at(expect, _index_of(build), 1.0)
        np.testing.assert_array_equal(g, expect)


def _index_of(build):
    class Grab:
        def __getitem__(self, index):
            return index
    return build(Grab())


def test_second_derivative_through_gather():
    x = sg.vector("x", 3)
    y = x[np.array([0, 0, 2])]
    cost = sg.sum(y ** 3)
    h = sg.function([x], sg.hessian(cost, x) if hasattr(sg, "hessian") else sg.grad(
        sg.grad(cost, x)[0], x))(np.array([1.0, 2.0, 3.0]))
    if h.ndim == 2:
        np.testing.assert_allclose(h, np.diag([12.0, 0.0, 18.0]))
    else:
        np.testing.assert_allclose(h, [12.0, 0.0, 0.0])


@pytest.mark.parametrize("index, error, match", [
    ((0, 0, 0, 0), IndexError, "too many indices"),
    ((5,), IndexError, "out of bounds"),
    ((Ellipsis, Ellipsis), IndexError, "single ellipsis"),
    ((np.array([True, False, True]),), IndexError, "boolean"),
    ((np.array([0.5]),), IndexError, "integers"),
    ((slice(0, 2, 0),), IndexError, "step"),
])
def test_bad_indices_are_refused_while_building(index, error, match):
    x = sg.tensor("x", (2, 3, 4))
    with pytest.raises(error, match=match):
        x[index]
