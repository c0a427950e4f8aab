"""NumPy's own functions on symbolic variables build graphs (__array_ufunc__ and
__array_function__): a table of NumPy calls, each applied to variables and to arrays. The
graph's value must equal NumPy's, and its gradient two-sided finite differences.
"""

from __future__ import annotations

import numpy as np
import pytest

import symgrad as sg
from symgrad.numpy_api import supported

A = np.array([[0.3, -1.2, 0.7], [1.5, 0.2, -0.4]])
B = np.array([[0.5, 1.1], [-0.3, 0.8], [0.9, -0.6]])
V = np.array([0.4, -0.9, 1.3])
P = np.array([[0.6, 1.4, 0.9], [1.2, 0.3, 2.1]])          # positive
M = np.array([[2.0, 0.3, 0.1], [0.3, 1.5, 0.2], [0.1, 0.2, 1.8]])   # square

# (name, function of the inputs written with NumPy, input arrays, differentiable)
CALLS = [
    ("np.exp", lambda a: np.exp(a), [A], True),
    ("np.log", lambda p: np.log(p), [P], True),
    ("np.log1p", lambda p: np.log1p(p), [P], True),
    ("np.expm1", lambda a: np.expm1(a), [A], True),
    ("np.sqrt", lambda p: np.sqrt(p), [P], True),
    ("np.square", lambda a: np.square(a), [A], True),
    ("np.abs", lambda a: np.abs(a), [A], True),
    ("np.absolute", lambda a: np.absolute(a), [A], True),
    ("np.sin", lambda a: np.sin(a), [A], True),
    ("np.cos", lambda a: np.cos(a), [A], True),
    ("np.tan", lambda a: np.tan(a), [A], True),
    ("np.sinh", lambda a: np.sinh(a), [A], True),
    ("np.cosh", lambda a: np.cosh(a), [A], True),
    ("np.tanh", lambda a: np.tanh(a), [A], True),
    # special functions (issue 15, item 3)
    ("np.arcsin", lambda a: np.arcsin(a / 2), [A], True),
    ("np.arccos", lambda a: np.arccos(a / 2), [A], True),
    ("np.arctan", lambda a: np.arctan(a), [A], True),
    ("np.arctan2", lambda a, p: np.arctan2(a, p - 1.0), [A, P], True),
    ("np.arcsinh", lambda a: np.arcsinh(a), [A], True),
    ("np.arccosh", lambda p: np.arccosh(p + 1.0), [P], True),
    ("np.arctanh", lambda a: np.arctanh(a / 2), [A], True),
    ("np.log2", lambda p: np.log2(p), [P], True),
    ("np.log10", lambda p: np.log10(p), [P], True),
    ("np.exp2", lambda a: np.exp2(a), [A], True),
    ("np.hypot", lambda a, p: np.hypot(a, p), [A, P], True),
    ("np.logaddexp", lambda a, p: np.logaddexp(a, p), [A, P], True),
    ("np.logaddexp2", lambda a, p: np.logaddexp2(a, p), [A, P], True),
    ("np.cbrt", lambda a: np.cbrt(a), [A], True),
    ("np.reciprocal", lambda p: np.reciprocal(p), [P], True),
    ("np.fmod", lambda a, p: np.fmod(a, p), [A, P], True),
    ("np.negative", lambda a: np.negative(a), [A], True),
    ("np.add", lambda a, p: np.add(a, p), [A, P], True),
    ("np.subtract", lambda a, p: np.subtract(a, p), [A, P], True),
    ("np.multiply", lambda a, p: np.multiply(a, p), [A, P], True),
    ("np.divide", lambda a, p: np.divide(a, p), [A, P], True),
    ("np.power", lambda p, a: np.power(p, a), [P, A], True),
    ("np.maximum", lambda a, p: np.maximum(a, p - 1.0), [A, P], True),
    ("np.minimum", lambda a, p: np.minimum(a, p - 1.0), [A, P], True),
    ("np.sign", lambda a: np.sign(a), [A], False),
    ("np.floor", lambda a: np.floor(a), [A], False),
    ("np.greater", lambda a, p: np.greater(a, p - 1.0), [A, P], False),
    ("np.logical_and", lambda a, p: np.logical_and(a > 0, p > 1), [A, P], False),
    ("array + x", lambda a: V + a, [A], True),
    ("array * x", lambda a: V * a * 2.0, [A], True),
    ("array < x", lambda a: V < a, [A], False),
    ("np.add.reduce", lambda a: np.add.reduce(a, axis=1), [A], True),
    ("np.maximum.reduce", lambda a: np.maximum.reduce(a, axis=0), [A], True),
    ("np.multiply.reduce", lambda p: np.multiply.reduce(p, axis=1), [P], True),
    ("np.add.accumulate", lambda a: np.add.accumulate(a, axis=1), [A], True),
    ("np.sum", lambda a: np.sum(a), [A], True),
    ("np.sum axis keepdims", lambda a: np.sum(a, axis=0, keepdims=True), [A], True),
    ("np.mean", lambda a: np.mean(a, axis=1), [A], True),
    ("np.max", lambda a: np.max(a, axis=1), [A], True),
    ("np.min", lambda a: np.min(a), [A], True),
    ("np.amax", lambda a: np.amax(a, axis=0), [A], True),
    ("np.prod", lambda p: np.prod(p, axis=0), [P], True),
    ("np.var", lambda a: np.var(a, axis=1), [A], True),
    ("np.std", lambda a: np.std(a, ddof=1), [A], True),
    ("np.argmax", lambda a: np.argmax(a, axis=1), [A], False),
    ("np.argmin", lambda a: np.argmin(a), [A], False),
    ("np.cumsum", lambda a: np.cumsum(a, axis=1), [A], True),
    ("np.cumprod", lambda p: np.cumprod(p, axis=0), [P], True),
    ("np.dot", lambda a, b: np.dot(a, b), [A, B], True),
    ("np.dot vector", lambda v: np.dot(v, V), [V], True),
    ("np.matmul", lambda a, b: np.matmul(a, b), [A, B], True),
    ("@ with an array", lambda a: a @ B, [A], True),
    ("np.inner", lambda a, v: np.inner(a, v), [A, V], True),
    ("np.vdot", lambda a, p: np.vdot(a, p), [A, P], True),
    ("np.outer", lambda v: np.outer(v, V), [V], True),
    ("np.tensordot", lambda a, b: np.tensordot(a, b, axes=1), [A, B], True),
    ("np.einsum", lambda a, b: np.einsum("ij,jk->ik", a, b), [A, B], True),
    ("np.where", lambda a, p: np.where(a > 0, a, p), [A, P], True),
    ("np.clip", lambda a: np.clip(a, -0.5, 0.5), [A], True),
    ("np.concatenate", lambda a, p: np.concatenate([a, p], axis=0), [A, P], True),
    ("np.stack", lambda a, p: np.stack([a, p], axis=1), [A, P], True),
    ("np.reshape", lambda a: np.reshape(a, (3, 2)), [A], True),
    ("np.transpose", lambda a: np.transpose(a), [A], True),
    ("np.swapaxes", lambda a: np.swapaxes(a, 0, 1), [A], True),
    ("np.expand_dims", lambda a: np.expand_dims(a, 1), [A], True),
    ("np.squeeze", lambda a: np.squeeze(np.expand_dims(a, 0), 0), [A], True),
    ("np.ravel", lambda a: np.ravel(a), [A], True),
    ("np.broadcast_to", lambda v: np.broadcast_to(v, (2, 3)), [V], True),
    ("np.zeros_like", lambda a: np.zeros_like(a) + a, [A], True),
    ("np.ones_like", lambda a: np.ones_like(a) * a, [A], True),
    ("np.full_like", lambda a: np.full_like(a, 2.0) * a, [A], True),
    ("np.linalg.norm", lambda a: np.linalg.norm(a), [A], True),
    ("np.linalg.norm axis", lambda a: np.linalg.norm(a, axis=1), [A], True),
    ("np.linalg.norm ord=1", lambda v: np.linalg.norm(v, ord=1), [V], True),
    ("np.trace", lambda m: np.trace(m), [M], True),
    ("np.diagonal", lambda m: np.diagonal(m, 1), [M], True),
    ("np.tril", lambda m: np.tril(m), [M], True),
    ("np.linalg.solve", lambda m, v: np.linalg.solve(m, v), [M, V], True),
    ("np.linalg.inv", lambda m: np.linalg.inv(m), [M], True),
    ("np.linalg.det", lambda m: np.linalg.det(m), [M], True),
    ("np.linalg.slogdet", lambda m: np.linalg.slogdet(m)[1], [M], True),
    ("np.linalg.norm ord=inf", lambda v: np.linalg.norm(v, np.inf), [V], True),
    ("np.linalg.norm ord=3", lambda v: np.linalg.norm(v, 3), [V], True),
    ("a NumPy formula", lambda a, b: np.sum(np.tanh(a @ b) ** 2) + np.mean(np.exp(-a)),
     [A, B], True),
    # array manipulation (symgrad/ops/manip.py)
    ("np.sort", lambda a: np.sort(a), [A], True),
    ("np.sort axis=None", lambda a: np.sort(a, axis=None, stable=True), [A], True),
    ("np.argsort", lambda a: np.argsort(a, axis=0), [A], False),
    ("np.flip", lambda a: np.flip(a), [A], True),
    ("np.fliplr", lambda a: np.fliplr(a), [A], True),
    ("np.flipud", lambda a: np.flipud(a), [A], True),
    ("np.roll", lambda a: np.roll(a, -1, axis=1), [A], True),
    ("np.pad", lambda a: np.pad(a, ((1, 0), (2, 1)), constant_values=0.5), [A], True),
    ("np.pad reflect", lambda a: np.pad(a, 1, mode="reflect"), [A], True),
    ("np.tile", lambda v: np.tile(v, (2, 2)), [V], True),
    ("np.repeat", lambda a: np.repeat(a, 2, axis=0), [A], True),
    ("np.repeat counts", lambda v: np.repeat(v, [1, 0, 3]), [V], True),
    ("np.take", lambda a: np.take(a, [2, -1, 0], axis=1), [A], True),
    ("np.take_along_axis", lambda a: np.take_along_axis(
        a, np.array([[2, 0], [1, 1]]), axis=1), [A], True),
    ("np.diff", lambda a: np.diff(a, axis=0), [A], True),
    ("np.diff n=2", lambda v: np.diff(v, n=2, prepend=0.0), [V], True),
    ("np.any", lambda a: np.any(a > 1.0, axis=1), [A], False),
    ("np.all", lambda a: np.all(a), [A], False),
    ("boolean mask", lambda a: a[A > 0], [A], True),
]


@pytest.mark.parametrize("name,fn,arrays,diff", CALLS, ids=[c[0] for c in CALLS])
def test_numpy_call_on_variables_builds_the_graph(name, fn, arrays, diff):
    xs = [sg.tensor(f"x{k}", shape=a.shape) for k, a in enumerate(arrays)]
    out = fn(*xs)
    assert isinstance(out, sg.Var), f"{name} returned {type(out).__name__}, not a graph node"
    expect = np.asarray(fn(*arrays))
    got = out.eval(dict(zip(xs, arrays)))
    assert got.shape == expect.shape and got.dtype == expect.dtype, (got.dtype, expect.dtype)
    np.testing.assert_allclose(got, expect, rtol=1e-12, atol=1e-15)
    if diff:
        rng = np.random.default_rng(0)
        weights = rng.normal(size=expect.shape)
        cost = sg.sum(out * weights)
        errors = sg.check_grad(cost, dict(zip(xs, arrays)), tol=1e-6)
        assert set(errors) == set(xs)


def test_the_table_has_at_least_forty_calls():
    assert len(CALLS) >= 40
    assert len(supported()) >= 40


@pytest.mark.parametrize("call", [lambda x: np.unique(x), lambda x: np.fft.fft(x),
                                  lambda x: np.linalg.eig(x), lambda x: np.cos.at(x, [0])])
def test_unsupported_numpy_function_names_it_and_points_to_defop(call):
    x = sg.matrix("x", (2, 2))
    with pytest.raises(TypeError, match=r"np\.[\w.]+ is not supported.*sg\.defop"):
        call(x)


def test_out_and_identity_comparison():
    x = sg.vector("x", 3)
    with pytest.raises(TypeError, match="out="):
        np.exp(x, out=np.zeros(3))
    with pytest.raises(TypeError, match="out="):
        np.sum(x, out=np.zeros(()))
    a = np.zeros(3)
    assert (a == x) is False and (x == a) is False and (a != x) is True
    assert {x: 1}[x] == 1                      # variables stay usable as dict keys


def test_eval_of_shared_and_constant_graphs_and_missing_inputs():
    W = sg.shared(np.eye(2), name="W")
    np.testing.assert_array_equal((W * 3.0).eval(), 3 * np.eye(2))
    x = sg.vector("x", 2)
    y = np.exp(x) @ W
    np.testing.assert_allclose(y.eval({x: np.zeros(2)}), [1.0, 1.0])
    np.testing.assert_allclose(y.eval({x: np.ones(2)}), [np.e, np.e])   # cached compile
    with pytest.raises(sg.MissingInputError, match="'x'"):
        y.eval()
    with pytest.raises(TypeError, match="input variables"):
        y.eval({W: np.eye(2)})


def test_an_existing_numpy_function_becomes_a_graph():
    def log_likelihood(mu, data):          # written for NumPy arrays
        return -0.5 * np.sum((data - mu) ** 2) - data.size * 0.5 * np.log(2 * np.pi)

    data = np.array([0.3, 1.2, -0.4, 0.8])
    mu = sg.scalar("mu")
    ll = log_likelihood(mu, data)
    g = sg.grad(ll, mu)
    value, grad = sg.function([mu], [ll, g])(0.2)
    np.testing.assert_allclose(value, log_likelihood(0.2, data))
    np.testing.assert_allclose(grad, np.sum(data - 0.2))
