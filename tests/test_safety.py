"""Regression tests for state safety and API details found in review: update shapes are
checked before any shared array is written, ``.value`` is a copy, one node returned twice
gives two arrays, reserved function names are refused, passes run on variables."""

import numpy as np
import pytest

import symgrad as sg


def test_wrong_update_shape_fails_before_any_write():
    W = sg.shared(np.ones(3), name="W")
    A = sg.shared(np.ones(1), name="A")
    x = sg.tensor("x", shape=("n",))
    f = sg.function([x], None, updates={W: W * 2, A: A + x})
    with pytest.raises(ValueError, match="shared variable 'A'.*\\(1,\\).*\\(4,\\)"):
        f(np.ones(4))
    np.testing.assert_array_equal(W.value, [1.0, 1.0, 1.0])  # untouched
    f(np.ones(1))
    np.testing.assert_array_equal(W.value, [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(A.value, [2.0])


@pytest.mark.parametrize("optimize", [True, False])
def test_an_update_never_changes_a_shared_shape(optimize):
    A = sg.shared(np.ones(1), name="A")
    x = sg.tensor("x", shape=(None,))
    f = sg.function([x], None, updates={A: x}, optimize=optimize)
    with pytest.raises(ValueError, match="'A'"):
        f(np.ones(4))
    assert A.value.shape == (1,)
    f(np.array([7.0]))
    np.testing.assert_array_equal(A.value, [7.0])


def test_impossible_update_shape_is_a_build_error():
    A = sg.shared(np.ones(2), name="A")
    x = sg.tensor("x", shape=(3,))
    with pytest.raises(ValueError, match="'A'"):
        sg.function([x], None, updates={A: x})


def test_value_is_a_copy_and_borrow_gives_the_array():
    W = sg.shared(np.zeros(2), name="W")
    f = sg.function([], None, updates={W: W + 1})
    snapshot = W.value
    f()
    np.testing.assert_array_equal(snapshot, [0.0, 0.0])  # an early-stopping copy stays put
    v = W.value
    v[0] = 42.0
    np.testing.assert_array_equal(W.value, [1.0, 1.0])
    live = W.get_value(borrow=True)
    f()
    np.testing.assert_array_equal(live, [2.0, 2.0])  # the borrowed array is the live one


def test_one_node_returned_twice_gives_two_arrays():
    x = sg.vector("x", 3)
    a, b = sg.function([x], [x * 2, x * 2])(np.ones(3))  # CSE makes these one node
    assert not np.shares_memory(a, b)
    a[0] = 99.0
    assert b[0] == 2.0


@pytest.mark.parametrize("name", ["np", "lambda", "_helper", "class"])
def test_reserved_function_names_are_refused(name):
    x = sg.vector("x", 3)
    with pytest.raises(ValueError, match=repr(name)):
        sg.function([x], x * 2, name=name)


def test_passes_run_on_variables_and_structures():
    x = sg.vector("x", 3)
    (a, b), info = sg.rewrite.cse([sg.exp(x) * 2, sg.exp(x) * 2])
    assert a is b and info["merged"] >= 2
    outs, reports = sg.optimize({"y": sg.log(1 + sg.exp(x))})
    assert outs["y"].op.name == "softplus"
    assert [r["name"] for r in reports][0] == "cse"
    simplified, info = sg.rewrite.simplify(x * 1.0 + 0.0)
    assert simplified is x
