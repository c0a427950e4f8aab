"""Broadcasting and type promotion: build-time shape errors, gradients of broadcast
operands, named dimensions, Python numbers and NumPy arrays on either side of every
operator, and NumPy 2 (NEP 50) promotion."""

from __future__ import annotations

import operator

import numpy as np
import pytest

import symgrad as sg


def _run(inputs, outputs, *values):
    return sg.function(inputs, outputs)(*values)


# ---------------------------------------------------------------------------------------
# shape errors while building
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("op", [operator.add, operator.sub, operator.mul, operator.truediv,
                                operator.pow, operator.lt, sg.maximum, sg.logical_and],
                         ids=lambda o: getattr(o, "__name__", str(o)))
def test_shape_error_names_both_operands(op):
    a = sg.tensor("a", (2, 3))
    b = sg.tensor("b", (4,))
    with pytest.raises(sg.ShapeError) as info:
        op(a, b)
    msg = str(info.value)
    assert "'a' f64[2, 3]" in msg and "'b' f64[4]" in msg, msg


def test_matmul_shape_error_names_both_operands():
    a, b = sg.tensor("a", (2, 3)), sg.tensor("b", (4, 5))
    with pytest.raises(sg.ShapeError, match=r"'a' f64\[2, 3\].*'b' f64\[4, 5\]"):
        a @ b


def test_shape_error_with_a_numpy_operand():
    a = sg.tensor("a", (2, 3))
    with pytest.raises(sg.ShapeError, match=r"'a' f64\[2, 3\].*\[2\]"):
        a + np.ones(2)


def test_shape_error_in_where_names_all_operands():
    c, a, b = sg.tensor("c", (2, 1), "bool"), sg.tensor("a", (3,)), sg.tensor("b", (4,))
    with pytest.raises(sg.ShapeError, match=r"'c'.*'a'.*'b'"):
        sg.where(c, a, b)


# ---------------------------------------------------------------------------------------
# gradients of broadcast operands
# ---------------------------------------------------------------------------------------

def test_bias_add_gradient_sums_over_the_batch():
    x = sg.tensor("x", ("batch", 3))
    b = sg.tensor("b", (3,))
    w = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    cost = sg.sum((x + b) * w)
    gx, gb = _run([x, b], sg.grad(cost, [x, b]), np.zeros((2, 3)), np.zeros(3))
    np.testing.assert_array_equal(gx, w)
    np.testing.assert_array_equal(gb, [5.0, 7.0, 9.0])


def test_keepdims_style_broadcast_gradient():
    x = sg.tensor("x", (2, 3))
    s = sg.tensor("s", (2, 1))
    cost = sg.sum(x * s)
    gs = _run([x, s], sg.grad(cost, s), np.arange(6.0).reshape(2, 3), np.ones((2, 1)))
    np.testing.assert_array_equal(gs, [[3.0], [12.0]])


def test_scalar_operand_gradient():
    x = sg.tensor("x", (2, 3))
    a = sg.scalar("a")
    cost = sg.sum(a * x + a ** 2)
    ga = _run([x, a], sg.grad(cost, a), np.ones((2, 3)), 3.0)
    assert float(ga) == 6.0 + 6 * 2 * 3.0


def test_both_operands_broadcast():
    a = sg.tensor("a", (2, 1))
    b = sg.tensor("b", (1, 3))
    ga, gb = _run([a, b], sg.grad(sg.sum(a * b), [a, b]),
                  np.array([[1.0], [2.0]]), np.array([[1.0, 10.0, 100.0]]))
    np.testing.assert_array_equal(ga, [[111.0], [111.0]])
    np.testing.assert_array_equal(gb, [[3.0, 3.0, 3.0]])


# ---------------------------------------------------------------------------------------
# named dimensions
# ---------------------------------------------------------------------------------------

def test_named_dimensions_propagate():
    x = sg.tensor("x", ("n", 3))
    y = sg.tensor("y", ("n", 1))
    assert (x + y).type.shape == ("n", 3)
    assert (x * sg.tensor("z", (3,))).type.shape == ("n", 3)
    assert (x + sg.tensor("u", (None, 3))).type.shape[1] == 3


def test_named_dimensions_checked_at_call():
    x = sg.tensor("x", ("n", 3))
    y = sg.tensor("y", ("m", 3))
    f = sg.function([x, y], x + y)  # build-time: cannot know; call-time: checked
    np.testing.assert_array_equal(f(np.ones((2, 3)), np.ones((2, 3))), 2 * np.ones((2, 3)))
    with pytest.raises(ValueError):
        f(np.ones((2, 3)), np.ones((4, 3)))


def test_same_name_same_size_is_checked_at_call():
    x = sg.tensor("x", ("n", 3))
    y = sg.tensor("y", ("n",))
    f = sg.function([x, y], x.sum(axis=1) + y)
    with pytest.raises(ValueError, match="n"):
        f(np.ones((2, 3)), np.ones(3))


def test_named_dimension_does_not_broadcast_against_static():
    x = sg.tensor("x", ("n",))
    f = sg.function([x], x + np.ones(3))
    np.testing.assert_array_equal(f(np.ones(3)), 2 * np.ones(3))
    with pytest.raises(ValueError):
        f(np.ones(1))  # 'n' is not declared 1, so it does not broadcast


# ---------------------------------------------------------------------------------------
# Python numbers and NumPy arrays on either side of every operator
# ---------------------------------------------------------------------------------------

ARITH = [operator.add, operator.sub, operator.mul, operator.truediv, operator.floordiv,
         operator.pow]
COMPARE = [operator.lt, operator.le, operator.gt, operator.ge]


@pytest.mark.parametrize("op", ARITH + COMPARE, ids=lambda o: o.__name__)
@pytest.mark.parametrize("other", [2, 1.5, np.float64(1.5), np.array([1.0, 2.0, 4.0]),
                                   np.array([[0.5], [3.0]])],
                         ids=["int", "float", "np_scalar", "np_vec", "np_col"])
def test_mixed_operands_build_nodes(op, other):
    x = sg.tensor("x", (2, 3))
    xv = np.arange(1.0, 7.0).reshape(2, 3)
    for expr, want in ((op(x, other), op(xv, other)), (op(other, x), op(other, xv))):
        assert isinstance(expr, sg.Var), type(expr)
        got = _run([x], expr, xv)
        assert got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=1e-14)


@pytest.mark.parametrize("other", [np.array([[1.0, 0.0], [2.0, 1.0]]), [[1.0, 0.0], [2.0, 1.0]]])
def test_matmul_with_arrays_on_either_side(other):
    x = sg.tensor("x", (2, 2))
    xv = np.array([[1.0, 2.0], [3.0, 4.0]])
    for expr, want in ((x @ other if isinstance(other, np.ndarray) else sg.matmul(x, other),
                        xv @ np.asarray(other)),
                       (other @ x if isinstance(other, np.ndarray) else sg.matmul(other, x),
                        np.asarray(other) @ xv)):
        assert isinstance(expr, sg.Var)
        np.testing.assert_array_equal(_run([x], expr, xv), want)


@pytest.mark.parametrize("op", [operator.and_, operator.or_], ids=["and", "or"])
def test_logical_operators_with_arrays(op):
    m = sg.tensor("m", (3,), "bool")
    mv = np.array([True, False, True])
    other = np.array([False, False, True])
    for expr, want in ((op(m, other), op(mv, other)), (op(other, m), op(other, mv))):
        assert isinstance(expr, sg.Var)
        np.testing.assert_array_equal(_run([m], expr, mv), want)


def test_python_number_gradient_through_either_side():
    x = sg.vector("x", 3)
    cost = sg.sum(2.0 / x + x / 4 - 3 ** x + np.array([1.0, 2.0, 3.0]) * x)
    xv = np.array([1.0, 2.0, 0.5])
    g = _run([x], sg.grad(cost, x), xv)
    np.testing.assert_allclose(g, -2 / xv ** 2 + 0.25 - np.log(3) * 3 ** xv + [1, 2, 3],
                               rtol=1e-14)


# ---------------------------------------------------------------------------------------
# NEP 50 promotion
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype, other, want", [
    ("float32", 2.0, "float32"),            # Python float is weak
    ("float32", 2, "float32"),              # Python int is weak
    ("float32", np.float64(2.0), "float64"),  # NumPy scalar is not
    ("float32", np.ones(3), "float64"),     # float64 array
    ("float32", np.ones(3, "float32"), "float32"),
    ("int32", 2, "int32"),
    ("int32", 2.5, "float64"),
    ("int64", np.ones(3, "int32"), "int64"),
    ("int32", np.ones(3, "float32"), "float64"),
    ("float64", np.ones(3, "float32"), "float64"),
])
def test_nep50_promotion(dtype, other, want):
    x = sg.tensor("x", (3,), dtype)
    xv = np.ones(3, dtype)
    for expr, ref in ((x * other, xv * other), (other * x, other * xv)):
        assert expr.dtype == np.dtype(want) == ref.dtype
        got = _run([x], expr, xv)
        assert got.dtype == np.dtype(want)


def test_python_int_too_large_for_the_dtype_is_refused():
    # NumPy 2 raises OverflowError for int8_array + 1000; so does building the node
    x = sg.tensor("x", (3,), "int8")
    with pytest.raises((OverflowError, TypeError), match="1000"):
        x + 1000


def test_mixed_tensor_dtypes_follow_numpy():
    a = sg.tensor("a", (2,), "float32")
    b = sg.tensor("b", (2,), "int64")
    c = sg.tensor("c", (2,), "bool")
    assert (a + b).dtype == np.result_type(np.float32, np.int64)
    assert (b + c).dtype == np.int64
    assert (a / 2).dtype == np.float32
    assert (b / 2).dtype == np.float64
    assert sg.exp(b).dtype == np.float64
    assert sg.exp(a).dtype == np.float32
