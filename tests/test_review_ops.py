"""Regression tests for review findings on the op families: bitwise operators, arange's
NumPy signatures, build-time bounds checks, the exponent gradient of ``x ** w`` at x = 0,
``-`` of bools, reductions with ``dtype=``, the input shortcuts and l1/l2 on a list."""

from __future__ import annotations

import numpy as np
import pytest

import symgrad as sg

I = np.array([-7, -2, 0, 3, 5, 12], dtype=np.int64)
B = np.array([True, False, True, False, True, True])
C = np.array([True, True, False, False, False, True])


def _run(inputs, outputs, *args, optimize=True):
    return sg.function(inputs, outputs, optimize=optimize)(*args)


# ---------------------------------------------------------------------------------------
# 1. bitwise operators
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("optimize", [True, False])
def test_integer_operators_are_bitwise(optimize):
    i = sg.vector("i", dtype="int64")
    outs = _run([i], [i & 1, i | 6, i ^ 3, ~i, 5 & i, 9 | i, 10 ^ i, i & i[::-1]], I,
                optimize=optimize)
    refs = [I & 1, I | 6, I ^ 3, ~I, 5 & I, 9 | I, 10 ^ I, I & I[::-1]]
    for got, ref in zip(outs, refs):
        assert got.dtype == ref.dtype
        np.testing.assert_array_equal(got, ref)


def test_bitwise_functions_match_numpy_dtypes():
    a = sg.vector("a", dtype="uint8")
    b = sg.vector("b", dtype="int16")
    A = np.array([1, 200, 7], dtype=np.uint8)
    Bv = np.array([-1, 3, 300], dtype=np.int16)
    outs = _run([a, b], [sg.bitwise_and(a, b), sg.bitwise_or(a, b), sg.bitwise_xor(a, b),
                         sg.invert(a)], A, Bv)
    refs = [np.bitwise_and(A, Bv), np.bitwise_or(A, Bv), np.bitwise_xor(A, Bv), np.invert(A)]
    for got, ref in zip(outs, refs):
        assert got.dtype == ref.dtype
        np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("optimize", [True, False])
def test_bool_operators_equal_logical_ops(optimize):
    b = sg.vector("b", dtype="bool")
    c = sg.vector("c", dtype="bool")
    outs = _run([b, c], [b & c, b | c, b ^ c, ~b, ~(b & c), b ^ True,
                         sg.logical_xor(b, c), sg.logical_not(b)], B, C, optimize=optimize)
    refs = [B & C, B | C, B ^ C, ~B, ~(B & C), B ^ True, np.logical_xor(B, C), ~B]
    for got, ref in zip(outs, refs):
        assert got.dtype == np.bool_
        np.testing.assert_array_equal(got, ref)


def test_invert_of_a_bool_constant_is_logical_not():
    x = sg.scalar("x")
    for optimize in (True, False):
        t, f = _run([x], [~sg.constant(True), sg.invert(sg.constant(False))], 0.0,
                    optimize=optimize)
        assert t.dtype == np.bool_ and not t
        assert f.dtype == np.bool_ and f


def test_operator_nodes_are_the_bitwise_ops():
    i = sg.vector("i", dtype="int32")
    assert (i & 1).op.name == "bitwise_and"
    assert (i | 1).op.name == "bitwise_or"
    assert (i ^ 1).op.name == "bitwise_xor"
    assert (~i).op.name == "invert"


def test_bitwise_refuses_floats():
    x = sg.vector("x")
    for fn in (lambda: x & 1, lambda: x | x, lambda: x ^ 1, lambda: ~x):
        with pytest.raises(TypeError, match="integer or bool"):
            fn()


# ---------------------------------------------------------------------------------------
# 2. arange with NumPy's signatures
# ---------------------------------------------------------------------------------------

ARANGE_CASES = [
    ((5,), {}), ((2, 7), {}), ((1, 10, 3), {}), ((10, 0, -3), {}), ((5.0,), {}),
    ((0, 1, 0.25), {}), ((-2.5, 2), {}), ((5,), {"dtype": "float32"}),
    ((1, 6), {"dtype": "int32"}), ((3, 1), {}), ((np.int32(4),), {}),
]


@pytest.mark.parametrize("args,kw", ARANGE_CASES, ids=[str(c) for c in ARANGE_CASES])
def test_arange_static_matches_numpy(args, kw):
    out = sg.arange(*args, **kw)
    ref = np.arange(*args, **kw)
    assert out.type.shape == ref.shape
    (got,) = _run([], [out])
    assert got.dtype == ref.dtype
    np.testing.assert_array_equal(got, ref)


def test_arange_symbolic_stop():
    x = sg.vector("x", "n")
    outs = [sg.arange(x.shape[0]), sg.arange(1, x.shape[0]), sg.arange(1, x.shape[0], 2),
            sg.arange(0.5, x.shape[0]), sg.arange(x.shape[0], dtype="float32")]
    f = sg.function([x], outs)
    assert "np.arange(n1)" in f.source.replace("x.shape[0]", "n1") or \
        "np.arange(x.shape[0])" in f.source
    for n in (0, 1, 6):
        got = f(np.zeros(n))
        refs = [np.arange(n), np.arange(1, n), np.arange(1, n, 2), np.arange(0.5, n),
                np.arange(n, dtype="float32")]
        for g, r in zip(got, refs):
            assert g.dtype == r.dtype
            np.testing.assert_array_equal(g, r)


def test_arange_static_symbolic_size_keeps_length():
    x = sg.vector("x", 5)
    assert sg.arange(1, sg.tensor("y", (None, 5)).shape[1], 2).type.shape == (2,)
    assert sg.arange(x.shape[0]).type.shape == (5,)


def test_arange_bad_arguments():
    x = sg.vector("x", "n")
    with pytest.raises(TypeError, match="start"):
        sg.arange(x.shape[0], 10)
    with pytest.raises(TypeError, match="step"):
        sg.arange(0, 10, x.shape[0])
    with pytest.raises(ValueError, match="step must not be zero"):
        sg.arange(0, 10, 0)
    with pytest.raises(TypeError, match="stop"):
        sg.arange("5")
    with pytest.raises(TypeError, match="integer scalar"):
        sg.arange(x)


def test_gather_with_negative_arange_accumulates():
    # arange(-3, 3) names each row twice (-3 is row 0): the gradient must add both
    x = sg.tensor("x", (3,))
    g = sg.grad(sg.sum(x[sg.arange(-3, 3)] * sg.constant(np.arange(6.0))), x)
    (got,) = _run([x], [g], np.zeros(3))
    np.testing.assert_array_equal(got, [0 + 3, 1 + 4, 2 + 5])


# ---------------------------------------------------------------------------------------
# 3. build-time checks
# ---------------------------------------------------------------------------------------

def test_expand_dims_axis_out_of_range():
    a = sg.tensor("a", (3, 4))
    for axis in (5, 3, -4, (0, 4)):
        with pytest.raises(IndexError, match=r"axis -?\d is out of bounds.*ndim 2"):
            sg.expand_dims(a, axis)
    with pytest.raises(ValueError):  # NumPy's AxisError is a ValueError too
        sg.expand_dims(a, 5)
    assert sg.expand_dims(a, -3).type.shape == (1, 3, 4)
    assert sg.expand_dims(a, 2).type.shape == (3, 4, 1)


def test_constant_index_out_of_bounds():
    a = sg.tensor("a", (3, 4))
    with pytest.raises(IndexError, match="index 7 is out of bounds for axis 0 with size 3"):
        a[np.array([0, 7])]
    with pytest.raises(IndexError, match="index -5 is out of bounds for axis 1 with size 4"):
        a[:, np.array([[1], [-5]])]
    with pytest.raises(IndexError, match="axis 1 with size 4"):
        a[None, 0, np.array([4])]


def test_constant_index_in_bounds_and_unknown_sizes():
    a = sg.tensor("a", (3, 4))
    A = np.arange(12.0).reshape(3, 4)
    idx = np.array([-3, 2, -1])
    (got,) = _run([a], [a[idx, np.array([-4])]], A)
    np.testing.assert_array_equal(got, A[idx, np.array([-4])])
    b = sg.tensor("b", ("n", 4))  # the size is not known: NumPy checks when it runs
    assert b[np.array([0, 7])].type.shape == (2, 4)


# ---------------------------------------------------------------------------------------
# 4. d(x ** w)/dw at x == 0
# ---------------------------------------------------------------------------------------

def test_power_exponent_gradient_at_zero_base():
    x = sg.vector("x", 3)
    w = sg.scalar("w")
    gw_elem = sg.grad(sg.sum(x ** w), w)
    X = np.array([0.0, 1.0, 2.0])
    (gw,) = _run([x, w], [gw_elem], X, 2.0)
    assert np.isfinite(gw)
    np.testing.assert_allclose(gw, 4 * np.log(2.0), rtol=1e-14)
    wv = sg.vector("wv", 3)
    (gv,) = _run([x, wv], [sg.grad(sg.sum(x ** wv), wv)], X, np.full(3, 2.0))
    np.testing.assert_allclose(gv, [0.0, 0.0, 4 * np.log(2.0)], rtol=1e-14, atol=0)


def test_power_second_derivatives_at_zero_base_are_finite():
    x = sg.vector("x", 3)
    w = sg.scalar("w")
    gw = sg.grad(sg.sum(x ** w), w)
    hww = sg.grad(gw, w)
    hwx = sg.grad(gw, x)
    X = np.array([0.0, 1.0, 2.0])
    got_ww, got_wx = _run([x, w], [hww, hwx], X, 2.0)
    # d2/dw2 x**w = x**w log(x)**2;  d2/dxdw x**w = x**(w-1) (1 + w log x)
    np.testing.assert_allclose(got_ww, 4 * np.log(2.0) ** 2, rtol=1e-12)
    np.testing.assert_allclose(got_wx, [0.0, 1.0, 2 * (1 + 2 * np.log(2.0))], rtol=1e-12)


def test_power_exponent_gradient_finite_differences():
    x = sg.vector("x", 3)
    w = sg.vector("w", 3)
    X = np.array([0.7, 1.3, 2.1])
    W = np.array([1.5, -0.4, 2.2])
    (g,) = _run([x, w], [sg.grad(sg.sum(x ** w), w)], X, W)
    h = 1e-6
    fd = ((X ** (W + h)) - (X ** (W - h))) / (2 * h)
    np.testing.assert_allclose(g, fd, rtol=1e-7)


# ---------------------------------------------------------------------------------------
# 5. negative of bools
# ---------------------------------------------------------------------------------------

def test_negative_of_bool_is_refused():
    b = sg.vector("b", dtype="bool")
    x = sg.vector("x")
    with pytest.raises(TypeError, match=r"~x or sg\.logical_not"):
        -b
    with pytest.raises(TypeError, match="bool"):
        sg.negative(x > 0)
    i = sg.vector("i", dtype="int8")
    (got,) = _run([i], [-i], np.array([1, -3], dtype=np.int8))
    assert got.dtype == np.int8
    np.testing.assert_array_equal(got, [-1, 3])


# ---------------------------------------------------------------------------------------
# 6. reductions with dtype=
# ---------------------------------------------------------------------------------------

RNG = np.random.default_rng(3)
XF = RNG.normal(size=(3, 4))
XI = (np.arange(12, dtype=np.int16).reshape(3, 4) * 7 - 20)

DTYPE_CASES = [
    ("sum", "f", {"axis": 0, "dtype": "float32"}),
    ("sum", "i", {"dtype": "uint8"}),
    ("sum", "i", {"axis": 1, "dtype": "float64", "keepdims": True}),
    ("sum", "i", {"axis": 1, "dtype": "int16"}),
    ("mean", "f", {"dtype": "float32"}),
    ("mean", "i", {"axis": 1, "dtype": "int32"}),
    ("mean", "i", {"axis": 0, "dtype": np.float32}),
    ("prod", "i", {"axis": 1, "dtype": "int8"}),
    ("prod", "f", {"axis": 1, "dtype": "float32", "keepdims": True}),
    ("sum", "f", {"dtype": None}),
]


@pytest.mark.parametrize("name,kind,kw", DTYPE_CASES, ids=[f"{c[0]}-{c[1]}-{c[2]}"
                                                            for c in DTYPE_CASES])
def test_reduction_dtype_keyword(name, kind, kw):
    value = XF if kind == "f" else XI
    x = sg.tensor("x", value.shape, dtype=value.dtype)
    out = getattr(sg, name)(x, **kw)
    ref = getattr(np, name)(value, **kw)
    assert out.dtype == ref.dtype
    (got,) = _run([x], [out], value)
    assert got.dtype == ref.dtype and got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=1e-6 if ref.dtype == np.float32 else 1e-14)


def test_reduction_dtype_gradient():
    x = sg.tensor("x", (3, 4))
    g = sg.grad(sg.sum(sg.sum(x, axis=0, dtype="float32") * 2), x)
    (got,) = _run([x], [g], XF)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, np.full((3, 4), 2.0))


def test_reduction_rejects_other_keywords():
    x = sg.tensor("x", (3, 4))
    with pytest.raises(TypeError, match="unexpected keyword"):
        sg.sum(x, out=None)
    with pytest.raises(TypeError, match="unexpected keyword"):
        sg.max(x, dtype="float32")


# ---------------------------------------------------------------------------------------
# 7. input shortcuts with shape=, l1/l2 on a list
# ---------------------------------------------------------------------------------------

def test_vector_and_matrix_accept_shape_keyword():
    assert sg.vector("v", shape=(3,)).type.shape == (3,)
    assert sg.vector("v", shape=("n",), dtype="int32").type.dtype == np.int32
    assert sg.vector("v", 4).type.shape == (4,)
    assert sg.vector("v").type.shape == (None,)
    assert sg.matrix("m", shape=(2, 3)).type.shape == (2, 3)
    assert sg.matrix("m", (2, "k")).type.shape == (2, "k")
    assert sg.scalar("s", shape=()).type.shape == ()
    with pytest.raises(ValueError, match="one dimension"):
        sg.vector("v", shape=(2, 3))
    with pytest.raises(TypeError, match="not both"):
        sg.vector("v", 3, shape=(3,))
    with pytest.raises(ValueError, match="two dimensions"):
        sg.matrix("m", shape=(3,))


@pytest.mark.parametrize("penalty,ref", [(sg.nn.l2, np.square), (sg.nn.l1, np.abs)])
def test_penalties_accept_a_list(penalty, ref):
    w1 = sg.tensor("w1", (2, 3))
    w2 = sg.vector("w2", 3)
    W1 = RNG.normal(size=(2, 3))
    W2 = RNG.normal(size=3)
    expected = ref(W1).sum() + ref(W2).sum()
    for out in (penalty([w1, w2]), penalty((w1, w2)), penalty(w1, w2)):
        (got,) = _run([w1, w2], [out], W1, W2)
        np.testing.assert_allclose(got, expected, rtol=1e-14)
    with pytest.raises(ValueError, match="at least one"):
        penalty([])


def test_sum_and_mean_methods_take_dtype():
    x = sg.vector("x", 3, dtype="int32")
    total, avg = sg.function([x], [x.sum(dtype="float32"), x.mean(dtype="float32")])(
        np.array([1, 2, 4], "int32"))
    assert total.dtype == np.float32 and float(total) == 7.0
    assert avg.dtype == np.float32 and float(avg) == pytest.approx(7 / 3)
