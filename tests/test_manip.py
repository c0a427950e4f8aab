"""Array manipulation (symgrad/ops/manip.py): the conventions and errors the op table
cannot show (ties, NaN, empty arrays, index data out of range, refused arguments)."""

from __future__ import annotations

import numpy as np
import pytest

import symgrad as sg


def _grad(fn, value):
    """The gradient of sum(fn(x) * [1, 2, 3, ...]) at ``value``."""
    x = sg.tensor("x", np.shape(value))
    y = fn(x)
    w = np.arange(1.0, np.prod(y.type.shape) + 1).reshape(y.type.shape)
    return sg.function([x], sg.grad(sg.sum(y * w), x))(np.asarray(value, dtype=float))


def test_sort_ties_keep_their_order_in_the_derivative():
    # sorted: [1 (pos 1), 2 (pos 0), 2 (pos 2), 2 (pos 3)]: the tied 2s take the output
    # places 2, 3, 4 in the order they came
    g = _grad(sg.sort, [2.0, 1.0, 2.0, 2.0])
    np.testing.assert_array_equal(g, [2, 1, 3, 4])


def test_sort_puts_nan_last_as_numpy():
    x = sg.vector("x", 4)
    v = np.array([3.0, np.nan, -1.0, 0.5])
    np.testing.assert_array_equal(sg.sort(x).eval({x: v}), np.sort(v))
    np.testing.assert_array_equal(sg.argsort(x).eval({x: v}), np.argsort(v))


def test_sort_of_integers_and_bools():
    n = sg.vector("n", 5, dtype="int32")
    v = np.array([4, -2, 7, 0, -2], dtype=np.int32)
    got = sg.sort(n).eval({n: v})
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, np.sort(v))
    np.testing.assert_array_equal(sg.sort(n > 0).eval({n: v}), np.sort(v > 0))


def test_empty_arrays():
    x = sg.tensor("x", (0, 3))
    e = np.zeros((0, 3))
    for fn, ref in [(lambda a: sg.sort(a, axis=0), lambda a: np.sort(a, axis=0)),
                    (sg.flip, np.flip), (lambda a: sg.diff(a, axis=1), lambda a: np.diff(a)),
                    (lambda a: sg.pad(a, 1), lambda a: np.pad(a, 1)),
                    (lambda a: sg.tile(a, 2), lambda a: np.tile(a, 2)),
                    (sg.any, np.any), (sg.all, np.all)]:
        got = fn(x).eval({x: e})
        want = ref(e)
        assert np.shape(got) == np.shape(want)
        np.testing.assert_array_equal(got, want)


def test_roll_and_flip_gradients_move_back():
    np.testing.assert_array_equal(_grad(lambda x: sg.roll(x, 1), [0.0, 0.0, 0.0]), [2, 3, 1])
    np.testing.assert_array_equal(_grad(sg.flip, [0.0, 0.0, 0.0]), [3, 2, 1])


def test_pad_copies_pass_their_gradient_back():
    # edge mode copies x[0] twice and x[-1] once: those entries collect three and two
    # output places' cotangents (weights 1..6)
    g = _grad(lambda x: sg.pad(x, (2, 1), mode="edge"), [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(g, [1 + 2 + 3, 4, 5 + 6])
    # a constant value that is a variable gets the padded places' cotangents
    x, c = sg.vector("x", 2), sg.scalar("c")
    y = sg.pad(x, 1, constant_values=c)
    gc = sg.function([x, c], sg.grad(sg.sum(y * np.array([1.0, 2, 3, 4])), c))(
        np.zeros(2), 0.0)
    assert gc == 5.0


def test_repeat_with_counts_accumulates():
    np.testing.assert_array_equal(_grad(lambda x: sg.repeat(x, [2, 0, 1]), [0.0, 0.0, 0.0]),
                                  [1 + 2, 0, 3])


def test_index_data_out_of_range_is_an_error_naming_it():
    x = sg.vector("x", 3)
    i = sg.vector("i", 2, dtype="int64")
    f = sg.function([x, i], sg.take(x, i))
    np.testing.assert_array_equal(f(np.arange(3.0), np.array([-3, 2])), [0, 2])
    with pytest.raises(IndexError, match="'i'.*value 3 is out of range"):
        f(np.arange(3.0), np.array([0, 3]))
    m = sg.matrix("m", (2, 3))
    j = sg.matrix("j", (2, 1), dtype="int64")
    g = sg.function([m, j], sg.take_along_axis(m, j, axis=1))
    with pytest.raises(IndexError, match="'j'.*value -4 is out of range"):
        g(np.zeros((2, 3)), np.array([[0], [-4]]))
    with pytest.raises(IndexError, match="out of bounds"):
        sg.take(x, np.array([0, 3]))
    with pytest.raises(IndexError, match="out of bounds"):
        sg.take_along_axis(m, np.array([[0], [3]]), axis=1)


@pytest.mark.parametrize("build, error, match", [
    (lambda x: sg.pad(x, 3, mode="reflect"), ValueError, "reflect.*at most 2"),
    (lambda x: sg.pad(x, 1, mode="median"), ValueError, "mode must be one of"),
    (lambda x: sg.pad(x, -1), ValueError, "non-negative"),
    (lambda x: sg.repeat(x, [1, 2]), ValueError, "2 counts for axis 0 of size 3"),
    (lambda x: sg.repeat(x, sg.vector("r", 3, dtype="int64")), TypeError, "known when"),
    (lambda x: sg.tile(x, (2, -1)), ValueError, "non-negative"),
    (lambda x: sg.take(x, np.array([0.5])), IndexError, "integers"),
    (lambda x: sg.take(x, 0, mode="fold"), ValueError, "mode"),
    (lambda x: sg.take_along_axis(x, np.zeros((1, 1), dtype=int), 0), ValueError,
     "same number of dimensions"),
    (lambda x: sg.diff(x, -1), ValueError, "non-negative"),
    (lambda x: sg.sort(x, kind="bogo"), ValueError, "kind"),
    (lambda x: np.sort(x, order="f"), TypeError, "order="),
    (lambda x: np.pad(x, 1, mode="linear_ramp"), ValueError, "mode must be one of"),
    (lambda x: np.pad(x, 1, end_values=2), TypeError, "np.pad with end_values"),
    (lambda x: x[np.array([True, False])], IndexError, "boolean index of shape"),
    (lambda x: x[x > 0], IndexError, "boolean mask indices that are data"),
])
def test_refused_while_building(build, error, match):
    x = sg.vector("x", 3)
    with pytest.raises(error, match=match):
        build(x)


def test_roll_needs_static_sizes():
    x = sg.vector("x", "n")
    with pytest.raises(sg.ShapeError, match="static size"):
        sg.roll(x, 1)


def test_symbolic_sizes_where_static_ones_are_not_needed():
    x = sg.matrix("x", ("n", 3))
    v = np.arange(12.0).reshape(4, 3)
    for fn, ref in [(lambda a: sg.sort(a, axis=0), lambda a: np.sort(a, axis=0)),
                    (lambda a: sg.pad(a, ((1, 2), (0, 1))), lambda a: np.pad(a, ((1, 2), (0, 1)))),
                    (lambda a: sg.tile(a, (2, 1)), lambda a: np.tile(a, (2, 1))),
                    (lambda a: sg.repeat(a, 2, axis=0), lambda a: np.repeat(a, 2, axis=0)),
                    (lambda a: sg.diff(a, axis=0), lambda a: np.diff(a, axis=0)),
                    (lambda a: a.at[1:, 0].set(-1.0), lambda a: np.where(
                        (np.arange(4)[:, None] >= 1) & (np.arange(3) == 0), -1.0, a))]:
        np.testing.assert_array_equal(fn(x).eval({x: v}), ref(v))


def test_any_all_match_numpy_and_have_no_gradient():
    x = sg.matrix("x", (2, 3))
    v = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(sg.any(x, axis=1).eval({x: v}), [True, False])
    assert sg.all(sg.not_equal(x, 1.0)).eval({x: v}) == np.False_
    assert sg.any(x).op.nondiff and sg.all(x).dtype == np.bool_
