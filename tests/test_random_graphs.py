"""Random expression graphs (hypothesis): sg.grad and sg.jvp against finite differences.

Graphs mix fan-out (any earlier node may be reused), NumPy broadcasting, reductions,
matmul, transposes and smooth elementwise ops on safe domains (no kinks, no poles, no
overflow), so that a mismatch can only come from a derivative rule or the reverse pass.
"""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symgrad as sg

SHAPES = [(), (3,), (2, 3), (2, 1), (1, 3), (3, 2)]

UNARY = {
    "sin": sg.sin,
    "cos": sg.cos,
    "tanh": sg.tanh,
    "sigmoid": sg.sigmoid,
    "softplus": sg.softplus,
    "exp_tanh": lambda a: sg.exp(sg.tanh(a)),
    "log1p_sq": lambda a: sg.log1p(sg.square(a)),
    "sqrt_1p_sq": lambda a: sg.sqrt(1.0 + a * a),
    "square_tanh": lambda a: sg.square(sg.tanh(a)) * 3.0,
    "neg": lambda a: -a,
    "scale": lambda a: 0.5 * a - 0.25,
    "log_safe": lambda a: sg.log(2.0 + sg.sin(a)),
}

BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div_safe": lambda a, b: a / (2.0 + sg.cos(b)),
    "pow_safe": lambda a, b: sg.power(1.5 + sg.sigmoid(a), sg.tanh(b)),
}


def broadcastable(s, t):
    for x, y in zip(reversed(s), reversed(t)):
        if x != y and x != 1 and y != 1:
            return False
    return True


def reduce_op(data, a):
    kind = data.draw(st.sampled_from(["sum", "mean", "logsumexp"]))
    if a.ndim == 0:
        return a
    axis = data.draw(st.sampled_from([None] + list(range(a.ndim))))
    keep = data.draw(st.booleans())
    if kind == "logsumexp":
        return sg.logsumexp(a, axis=axis, keepdims=keep)
    return getattr(sg, kind)(a, axis=axis, keepdims=keep)


def build_graph(data):
    n_leaves = data.draw(st.integers(1, 3))
    leaves = []
    for k in range(n_leaves):
        shape = data.draw(st.sampled_from(SHAPES))
        leaves.append(sg.tensor(f"x{k}", shape))
    pool = list(leaves)
    for _ in range(data.draw(st.integers(2, 8))):
        kind = data.draw(st.sampled_from(["unary", "binary", "binary", "reduce", "matmul",
                                          "transpose"]))
        a = data.draw(st.sampled_from(pool))
        if kind == "unary":
            name = data.draw(st.sampled_from(sorted(UNARY)))
            pool.append(UNARY[name](a))
        elif kind == "binary":
            partners = [b for b in pool if broadcastable(a.type.shape, b.type.shape)]
            b = data.draw(st.sampled_from(partners))
            name = data.draw(st.sampled_from(sorted(BINARY)))
            pool.append(BINARY[name](a, b))
        elif kind == "reduce":
            pool.append(reduce_op(data, a))
        elif kind == "transpose":
            pool.append(a.T if a.ndim == 2 else a)
        else:
            if a.ndim == 0:
                continue
            k = a.type.shape[-1]
            partners = [b for b in pool if b.ndim in (1, 2) and b.type.shape[0] == k]
            if not partners:
                continue
            b = data.draw(st.sampled_from(partners))
            pool.append(sg.tanh(a @ b))  # keep magnitudes moderate
    # the cost reads the last node and, with weights, one earlier node (more fan-out)
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 16)))
    last, other = pool[-1], data.draw(st.sampled_from(pool))
    cost = sg.sum(last * rng.normal(size=last.type.shape)) + sg.mean(sg.sin(other))
    values = {v: rng.normal(size=v.type.shape) for v in leaves}
    return cost, leaves, values


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_grad_matches_finite_differences(data):
    cost, leaves, values = build_graph(data)
    # relative error below 1e-6; gradients that are exactly zero (x - (x + y) in x, say)
    # meet finite-difference noise of ~1e-14, so the absolute floor is 1e-6 * 1e-6 = 1e-12
    errors = sg.check_grad(cost, values, tol=1e-6, atol=1e-6)
    assert set(errors) == set(leaves)


@settings(max_examples=15, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_jvp_agrees_with_grad(data):
    cost, leaves, values = build_graph(data)
    rng = np.random.default_rng(7)
    tangents = [rng.normal(size=v.type.shape) for v in leaves]
    t = sg.jvp(cost, leaves, tangents)
    grads = sg.grad(cost, leaves)
    f = sg.function(leaves, [t, *grads])
    tv, *gv = f(*[values[v] for v in leaves])
    expected = sum(float(np.sum(g * d)) for g, d in zip(gv, tangents))
    scale = sum(float(np.sum(np.abs(g * d))) for g, d in zip(gv, tangents))
    assert abs(float(tv) - expected) <= 1e-12 * max(scale, 1e-300) + 1e-300
