"""examples/newton_logistic.py: Newton's method with sg.hessian converges in <= 10 steps."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "newton_logistic.py"


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("newton_logistic", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def result(example):
    return example.main(verbose=False)


def test_newton_reaches_tiny_gradient_within_ten_iterations(result):
    hist = result["newton"]
    its, losses, gnorms = zip(*hist)
    assert gnorms[-1] < 1e-8
    assert its[-1] <= 10
    assert all(b <= a for a, b in zip(losses, losses[1:]))  # monotone decrease
    # quadratic convergence at the end: the last gradient norm is about the square of the
    # previous one (here 1e-10 after 1.5e-6), far below what a linear rate would give
    assert gnorms[-1] < 1e3 * gnorms[-2] ** 2
    # plain gradient descent is far from converged after 200 steps
    assert result["gd"][-1][2] > 1e-4
    assert result["gd"][-1][1] > losses[-1]


def test_symbolic_hessian_is_the_closed_form(example, result):
    X, y, w, ridge = result["X"], result["y"], result["w_newton"], result["ridge"]
    f, _ = example.build(X.shape[1], ridge)
    loss, g, H = f(X, y, w)
    p = 1 / (1 + np.exp(-(X @ w)))
    penalty = np.ones(X.shape[1])
    penalty[0] = 0
    H_exact = (X.T * (p * (1 - p))) @ X / len(y) + ridge * np.diag(penalty)
    g_exact = X.T @ (p - y) / len(y) + ridge * penalty * w
    assert np.allclose(H, H_exact, rtol=1e-10, atol=1e-14)
    assert np.allclose(g, g_exact, rtol=1e-8, atol=1e-13)


def test_solution_matches_scikit_learn(result):
    from sklearn.linear_model import LogisticRegression
    X, y, ridge = result["X"], result["y"], result["ridge"]
    # sklearn minimises C * sum(loss) + |coef|^2 / 2, our objective times 1 / (C n)
    clf = LogisticRegression(C=1.0 / (ridge * len(y)), tol=1e-12, max_iter=100000)
    clf.fit(X[:, 1:], y)
    w = result["w_newton"]
    assert np.allclose(w[1:], clf.coef_[0], rtol=1e-4, atol=1e-5)
    assert np.isclose(w[0], clf.intercept_[0], rtol=1e-4, atol=1e-5)
