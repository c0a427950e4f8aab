"""Special functions and activations (issue 15, item 3): the conventions the op table and
the tails test cannot show (values at kinks and at the origin), NumPy 2's names, and the
generated code of the error functions (NumPy only)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import symgrad as sg


def _grads(fn, *values):
    xs = [sg.tensor(f"x{k}", np.shape(v)) for k, v in enumerate(values)]
    return sg.function(xs, sg.grad(sg.sum(fn(*xs)), xs))(
        *[np.asarray(v, dtype=float) for v in values])


def test_conventions_at_kinks_and_the_origin():
    z = np.array([0.0, 1.0])
    ga, gb = _grads(sg.hypot, [0.0, 3.0], [0.0, 4.0])           # 0 at the origin
    np.testing.assert_array_equal(ga, [0, 0.6])
    np.testing.assert_array_equal(gb, [0, 0.8])
    gy, gx = _grads(sg.arctan2, [0.0, 1.0], [0.0, 0.0])         # 0 at the origin
    np.testing.assert_array_equal(gy, [0, 0])
    np.testing.assert_array_equal(gx, [0, -1])
    (g,) = _grads(lambda x: sg.elu(x, alpha=0.5), [-1.0, 0.0, 1.0])   # alpha at 0
    np.testing.assert_allclose(g, [0.5 * math.exp(-1), 0.5, 1.0])
    (g,) = _grads(sg.hard_tanh, [-2.0, -1.0, 0.0, 1.0, 2.0])   # bounds included
    np.testing.assert_array_equal(g, [0, 1, 1, 1, 0])
    with np.errstate(divide="ignore"):
        (g,) = _grads(sg.cbrt, z)                                # the vertical tangent
    assert g[0] == np.inf and g[1] == pytest.approx(1 / 3)


def test_numpy_2_names_and_ufuncs_on_variables():
    x = sg.vector("x", 3)
    assert sg.asin is sg.arcsin and sg.atan2 is sg.arctan2 and sg.acosh is sg.arccosh
    v = np.array([0.1, -0.4, 0.7])
    got = np.asin(x).eval({x: v})              # np.asin is np.arcsin's ufunc
    np.testing.assert_allclose(got, np.arcsin(v), rtol=1e-15)
    for name in ("gelu", "elu", "selu", "silu", "log_sigmoid", "softsign", "hard_tanh"):
        assert getattr(sg.nn, name) is getattr(sg, name)


@pytest.mark.parametrize("name", ["erf", "erfc", "ndtr", "gelu"])
def test_error_function_modules_need_numpy_only(name):
    x = sg.vector("x", None)
    f = sg.function([x], [getattr(sg, name)(x), sg.grad(sg.sum(getattr(sg, name)(x)), x)])
    imports = [ln for ln in f.source.splitlines() if ln.startswith(("import", "from"))]
    assert imports == ["import numpy as np"], imports
    v = np.array([-30.0, -3.0, -0.2, 0.0, 0.4, 2.5, 9.0, np.inf, -np.inf, np.nan])
    with np.errstate(over="raise", divide="raise", invalid="raise"):   # no branch warns
        f(v[:-1])
    value = f(v)[0]
    assert np.isnan(value[-1]) and np.isfinite(value[:-3]).all()


def test_error_functions_of_integers_and_float32():
    i = sg.tensor("i", (3,), "int32")
    f = sg.function([i], [sg.erf(i), sg.erfc(i)])
    e, c = f(np.array([-1, 0, 2], np.int32))
    assert e.dtype == np.float64
    np.testing.assert_allclose(e, [math.erf(-1), 0.0, math.erf(2)], rtol=1e-15)
    np.testing.assert_allclose(c, [math.erfc(-1), 1.0, math.erfc(2)], rtol=1e-15)
    x = sg.tensor("x", (3,), "float32")
    v = np.array([-2.0, 0.3, 5.0], np.float32)
    got = sg.function([x], sg.erfc(x))(v)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, [math.erfc(t) for t in v.tolist()], rtol=1e-6)


def test_dense_layers_take_the_new_activations_by_name():
    x = sg.matrix("x", (4, 3))
    for act in ("gelu", "silu", "elu", "selu", "softsign"):
        layer = sg.nn.Dense(3, 2, activation=act, rng=0)
        out = sg.function([x], layer(x))(np.ones((4, 3)))
        assert out.shape == (4, 2) and np.isfinite(out).all()
