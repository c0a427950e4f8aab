"""Logistic regression by Newton's method with an exact symbolic Hessian.

Data: scikit-learn's bundled breast-cancer set (569 samples, 30 features), standardised,
with a bias column. The objective is the mean logistic loss plus a small ridge term on the
weights (not on the bias), which keeps the problem strictly convex:

    L(w) = mean(softplus(X w) - y * (X w)) + ridge / 2 * |w[1:]|^2

``sg.grad`` and ``sg.hessian`` give the gradient and the 31 x 31 Hessian as graph nodes;
one compiled function returns loss, gradient and Hessian, and each Newton step solves
``H d = g``. Plain gradient descent on the same compiled gradient runs beside it for
comparison. Run: ``python examples/newton_logistic.py``.
"""

from __future__ import annotations

import numpy as np

import symgrad as sg


def load_data():
    """Standardised breast-cancer features with a leading bias column, and 0/1 labels."""
    from sklearn.datasets import load_breast_cancer
    data = load_breast_cancer()
    X = data.data.astype(np.float64)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    X = np.hstack([np.ones((X.shape[0], 1)), X])
    return X, data.target.astype(np.float64)


def build(n_features: int, ridge: float):
    """Compile ``(loss, gradient, hessian)`` of the regularised logistic loss."""
    X = sg.matrix("X", ("n", n_features))
    y = sg.vector("y", "n")
    w = sg.vector("w", n_features)
    z = X @ w
    penalty = np.ones(n_features)
    penalty[0] = 0.0  # the bias is not regularised
    loss = sg.mean(sg.softplus(z) - y * z) + 0.5 * ridge * sg.sum(penalty * w ** 2)
    loss.name = "loss"
    g = sg.grad(loss, w)
    H = sg.hessian(loss, w)
    newton = sg.function([X, y, w], [loss, g, H], name="loss_grad_hessian")
    first_order = sg.function([X, y, w], [loss, g], name="loss_grad")
    return newton, first_order


def newton(f, X, y, w0, iterations=10, tol=1e-8):
    """Newton's method: ``w <- w - H^-1 g``. Returns (w, history of (it, loss, |g|))."""
    w = w0.copy()
    history = []
    for it in range(iterations + 1):
        loss, g, H = f(X, y, w)
        gnorm = float(np.linalg.norm(g))
        history.append((it, float(loss), gnorm))
        if gnorm < tol or it == iterations:
            break
        w = w - np.linalg.solve(H, g)
    return w, history


def gradient_descent(f, X, y, w0, lr=1.0, iterations=200):
    """Plain gradient descent with a fixed step. Returns (w, history of (it, loss, |g|))."""
    w = w0.copy()
    history = []
    for it in range(iterations + 1):
        loss, g = f(X, y, w)
        history.append((it, float(loss), float(np.linalg.norm(g))))
        if it < iterations:
            w = w - lr * g
    return w, history


def print_history(title, history, every=1):
    print(title)
    print(f"{'iter':>6} {'loss':>22} {'|grad|':>12}")
    for k, (it, loss, gnorm) in enumerate(history):
        if k % every == 0 or k == len(history) - 1:
            print(f"{it:>6} {loss:>22.16f} {gnorm:>12.3e}")


def main(ridge=1e-3, newton_iterations=10, gd_iterations=200, verbose=True):
    """Train both ways; returns a dict with the weights and the histories."""
    X, y = load_data()
    f_newton, f_first = build(X.shape[1], ridge)
    w0 = np.zeros(X.shape[1])
    w_newton, hist_newton = newton(f_newton, X, y, w0, newton_iterations)
    w_gd, hist_gd = gradient_descent(f_first, X, y, w0, lr=1.0, iterations=gd_iterations)
    if verbose:
        print(f"breast cancer: {X.shape[0]} samples, {X.shape[1] - 1} features + bias, "
              f"ridge {ridge:g}\n")
        print_history("Newton's method (sg.hessian)", hist_newton)
        print()
        print_history(f"gradient descent (lr = 1.0, every {gd_iterations // 10} iterations)",
                      hist_gd, every=max(1, gd_iterations // 10))
        acc = np.mean(((X @ w_newton) > 0) == (y > 0.5))
        print(f"\ntraining accuracy (Newton): {acc:.4f}")
    return {"w_newton": w_newton, "newton": hist_newton, "w_gd": w_gd, "gd": hist_gd,
            "ridge": ridge, "X": X, "y": y}


if __name__ == "__main__":
    main()
