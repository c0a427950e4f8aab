"""sg.check_grad: finite differences in float64, errors per variable, failures named."""

import numpy as np
import pytest

import symgrad as sg
from symgrad.ops.registry import apply
from symgrad.testing import numeric_derivative

RNG = np.random.default_rng(1)



@pytest.fixture(scope="module")
def bad_square():
    """An op whose VJP is deliberately wrong (d/dx x^2 given as x instead of 2x); it is
    unregistered afterwards so that other tests see only the library's own ops."""
    op = sg.defop("test_check_grad_bad_square", infer=lambda types: types[0],
                  emit="np.square({0})", vjp=lambda g, out, x: [g * x], elementwise=True,
                  replace=True)
    yield op
    sg.REGISTRY.pop(op.name, None)


def test_correct_gradients_pass_for_inputs_and_shared():
    x = sg.matrix("x", (4, 3))
    y = sg.tensor("y", (4,), dtype="int64")
    W = sg.shared(RNG.normal(size=(3, 5)), name="W")
    b = sg.shared(RNG.normal(size=5), name="b")
    loss = sg.nn.cross_entropy(sg.tanh(x @ W + b), y) + 1e-2 * sg.nn.l2(W)
    errs = sg.check_grad(loss, {x: RNG.normal(size=(4, 3)), y: np.array([0, 4, 2, 1])})
    assert set(errs) == {x, W, b}
    assert all(e < 1e-8 for e in errs.values())


def test_wrong_rule_is_reported_by_variable_name(bad_square):
    x = sg.vector("x", 3)
    z = sg.vector("zeta", 2)
    cost = sg.sum(apply(bad_square, [x])) + sg.sum(sg.sin(z))
    with pytest.raises(AssertionError) as info:
        sg.check_grad(cost, {x: np.array([1.0, 2.0, 3.0]), z: np.ones(2)})
    msg = str(info.value)
    assert "'x'" in msg and "zeta" not in msg.split("\n")[0]
    assert "relative error 0.333" in msg  # |x - 2x| / (|x| + |2x|) = 1/3
    # a tolerance above the error passes and reports it
    errs = sg.check_grad(cost, {x: np.array([1.0, 2.0, 3.0]), z: np.ones(2)}, tol=0.5)
    assert abs(errs[x] - 1 / 3) < 1e-8 and errs[z] < 1e-8


def test_large_variables_use_random_directions_and_still_catch_errors(bad_square):
    x = sg.vector("x", 500)
    good = sg.sum(sg.sin(x) * x)
    assert sg.check_grad(good, {x: RNG.normal(size=500)})[x] < 1e-8
    with pytest.raises(AssertionError, match="random direction"):
        sg.check_grad(sg.sum(apply(bad_square, [x])), {x: RNG.normal(size=500)})


def test_float32_is_checked_in_float64_and_nothing_is_modified():
    x = sg.vector("x", 3, dtype="float32")
    W = sg.shared(RNG.normal(size=(3, 3)).astype(np.float32), name="W")
    cost = sg.sum(sg.exp(sg.tanh(x @ W)) * 0.3)
    xv = np.array([0.1, -0.2, 0.3], np.float32)
    x_copy, W_copy = xv.copy(), W.value.copy()
    errs = sg.check_grad(cost, {x: xv})
    assert errs[x] < 1e-8 and errs[W] < 1e-8  # float32 differences could not get here
    assert np.array_equal(xv, x_copy) and np.array_equal(W.value, W_copy)
    assert W.value.dtype == np.float32


def test_shared_value_can_be_overridden_and_wrt_restricts():
    W = sg.shared(np.ones(2), name="W")
    a = sg.vector("a", 2)
    cost = sg.sum(sg.log(W) * a)
    errs = sg.check_grad(cost, {a: np.array([1.0, 2.0]), W: np.array([0.5, 3.0])}, wrt=W)
    assert list(errs) == [W] and errs[W] < 1e-8
    assert np.array_equal(W.value, np.ones(2))


def test_near_a_domain_boundary_the_step_shrinks():
    x = sg.vector("x", 3)
    cost = sg.sum(sg.log(x) + sg.sqrt(x))
    errs = sg.check_grad(cost, {x: np.array([1e-3, 2e-2, 5.0])})
    assert errs[x] < 1e-8


def test_accepts_a_compiled_function():
    x = sg.vector("x", 2)
    f = sg.function([x], sg.sum(sg.exp(x) * x))
    errs = sg.check_grad(f, {x: np.array([0.3, -1.0])})
    assert errs[x] < 1e-8
    g = sg.function([x], [sg.sum(x), sg.sum(x)])
    with pytest.raises(ValueError, match="exactly one"):
        sg.check_grad(g, {x: np.ones(2)})


def test_bad_calls_raise_clear_errors():
    x = sg.vector("x", 2)
    other = sg.vector("other", 2)
    with pytest.raises(ValueError, match="no value given for input 'x'"):
        sg.check_grad(sg.sum(x), {})
    with pytest.raises(ValueError, match="computed from other variables"):
        sg.check_grad(sg.sum(x), {x: np.ones(2), x * 2: np.ones(2)})
    # a variable the cost does not read has a zero gradient, matched exactly
    assert sg.check_grad(sg.sum(x), {x: np.ones(2), other: np.ones(2)})[other] == 0.0
    with pytest.raises(ValueError, match="float scalar"):
        sg.check_grad(x * 2, {x: np.ones(2)})
    with pytest.raises(ValueError, match="shape"):
        sg.check_grad(sg.sum(x), {x: np.ones(3)})
    n = sg.vector("n", "k")
    m = sg.vector("m", "k")
    with pytest.raises(ValueError, match="'k'"):
        sg.check_grad(sg.sum(n * m), {n: np.ones(2), m: np.ones(3)})


def test_numeric_derivative_is_accurate():
    est, err = numeric_derivative(lambda h: np.exp(1.0 + h), 0.1)
    assert abs(est - np.e) < 1e-11 and err < 1e-9
    with np.errstate(invalid="ignore", divide="ignore"):  # log(x <= 0) is nan or -inf
        est, _ = numeric_derivative(lambda h: np.log(1e-4 + h), 1e-2)
    assert abs(est - 1e4) / 1e4 < 1e-7
