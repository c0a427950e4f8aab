"""Derivatives of NumPy formulas used the way a scientist would (issue 15): SciPy's
optimizers with symgrad's exact gradient and Hessian."""

from __future__ import annotations

import numpy as np
import pytest

import symgrad as sg

scipy_optimize = pytest.importorskip("scipy.optimize")


def rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


@pytest.mark.parametrize("method", ["trust-exact", "Newton-CG"])
def test_rosenbrock_10d_converges_with_symgrads_gradient_and_hessian(method):
    x = sg.vector("x", 10)
    f = rosenbrock(x)
    fun = sg.function([x], [f, sg.grad(f, x)])
    hess = sg.function([x], sg.hessian(f, x))
    p = np.linspace(-1.0, 1.5, 10)
    value, grad = fun(p)
    np.testing.assert_allclose(value, scipy_optimize.rosen(p), rtol=1e-13)
    np.testing.assert_allclose(grad, scipy_optimize.rosen_der(p), rtol=1e-12)
    np.testing.assert_allclose(hess(p), scipy_optimize.rosen_hess(p), rtol=1e-12)
    options = {"maxiter": 500} if method == "trust-exact" else {"maxiter": 500, "xtol": 1e-12}
    result = scipy_optimize.minimize(fun, np.full(10, -1.2), jac=True, hess=hess,
                                     method=method, options=options)
    assert result.success, result.message
    np.testing.assert_allclose(result.x, np.ones(10), atol=1e-5)
