"""optimize=True against optimize=False on random graphs: values, gradients and
Hessian-vector products must agree.

The optimizer (CSE, folding, algebra, stabilisation, fusion) and the planned NumPy
emission must never change a result; the unoptimized path must compile every graph the
optimized one compiles. The graphs mix what has broken before: integer casts (no
gradient), reductions over several axes and over no axis, zero-size dimensions, Python
scalar constants, reshapes of scalars, kinks (relu, abs, maximum), gathers and slices.
Where both paths raise, they must raise the same kind of error.
"""

from __future__ import annotations

import warnings

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symgrad as sg

from test_random_graphs import broadcastable

SHAPES = [(), (3,), (2, 3), (2, 1), (1, 3), (3, 2), (0, 3), (2, 3, 2)]

UNARY = {
    "tanh": sg.tanh,
    "sigmoid": sg.sigmoid,
    "softplus": sg.softplus,
    "relu": sg.relu,
    "abs": sg.abs,
    "square": sg.square,
    "exp_tanh": lambda a: sg.exp(sg.tanh(a)),
    "log_safe": lambda a: sg.log(2.0 + sg.sin(a)),
    "neg_neg": lambda a: -(-a),
    "times_one": lambda a: a * 1.0 + 0.0,
    "scalar_consts": lambda a: (2.0 * 0.5) * a - (1.0 - 0.75),
    "int_cast": lambda a: sg.astype(a * 3.0, "int64") * a,
    "bool_cast": lambda a: sg.astype(a > 0.1, "float64") * a + a,
    "stop": lambda a: sg.stop_gradient(a) * a,
    "log_softmax": lambda a: sg.log(sg.softmax(a, -1)) if a.ndim else a,
    "softmax": lambda a: sg.softmax(a, -1) * 2.0 if a.ndim else a,
    "clip": lambda a: sg.clip(a, -0.5, 0.7),
}

BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div_safe": lambda a, b: a / (2.0 + sg.cos(b)),
    "maximum": sg.maximum,
    "minimum": sg.minimum,
    "where": lambda a, b: sg.where(a > b, a * b, a - b),
}


def reduce_op(data, a):
    kind = data.draw(st.sampled_from(["sum", "mean", "max", "logsumexp", "prod"]))
    if a.ndim == 0:
        return a
    axes = data.draw(st.sampled_from(
        [None, (), tuple(range(a.ndim))] + [(k,) for k in range(a.ndim)]
        + ([(0, a.ndim - 1)] if a.ndim > 1 else [])))
    keep = data.draw(st.booleans())
    if kind == "logsumexp":
        if axes == ():
            return a
        return sg.logsumexp(a, axis=axes, keepdims=keep)
    return getattr(sg, kind)(a, axis=axes, keepdims=keep)


def shape_op(data, a):
    kind = data.draw(st.sampled_from(["reshape", "transpose", "slice", "gather", "expand"]))
    shape = a.type.shape
    size = int(np.prod(shape)) if shape else 1
    if kind == "reshape":
        if a.ndim == 0:
            return sg.reshape(a, (1, 1))[0]      # a reshape of a scalar, and back
        return sg.reshape(a, (size,))
    if kind == "transpose":
        return a.T
    if kind == "slice":
        return a[::-1] if a.ndim else a
    if kind == "gather":
        if a.ndim == 0 or shape[0] == 0:
            return a
        idx = np.array([shape[0] - 1, 0, shape[0] - 1])
        return a[idx]
    return sg.expand_dims(a, 0)


def build_graph(data):
    n_leaves = data.draw(st.integers(1, 3))
    leaves = [sg.tensor(f"x{k}", data.draw(st.sampled_from(SHAPES))) for k in range(n_leaves)]
    pool = list(leaves)
    for _ in range(data.draw(st.integers(2, 7))):
        kind = data.draw(st.sampled_from(["unary", "unary", "binary", "binary", "reduce",
                                          "shape", "matmul"]))
        a = data.draw(st.sampled_from(pool))
        if kind == "unary":
            pool.append(UNARY[data.draw(st.sampled_from(sorted(UNARY)))](a))
        elif kind == "binary":
            partners = [b for b in pool if broadcastable(a.type.shape, b.type.shape)]
            b = data.draw(st.sampled_from(partners))
            pool.append(BINARY[data.draw(st.sampled_from(sorted(BINARY)))](a, b))
        elif kind == "reduce":
            pool.append(reduce_op(data, a))
        elif kind == "shape":
            pool.append(shape_op(data, a))
        else:
            if a.ndim == 0:
                continue
            k = a.type.shape[-1]
            partners = [b for b in pool if b.ndim in (1, 2) and b.type.shape[0] == k]
            if partners:
                pool.append(sg.tanh(a @ data.draw(st.sampled_from(partners))))
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 16)))
    last, other = pool[-1], data.draw(st.sampled_from(pool))
    cost = sg.sum(last * rng.normal(size=last.type.shape)) + sg.mean(sg.sin(other) * 0.5)
    values = [rng.normal(size=v.type.shape) for v in leaves]
    vectors = [rng.normal(size=v.type.shape) for v in leaves]
    return cost, leaves, values, vectors


def _run(f, args):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return f(*args), None
    except Exception as exc:      # compared between the two paths below
        return None, exc


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.filter_too_much])
@given(st.data())
def test_optimized_and_unoptimized_agree(data):
    cost, leaves, values, vectors = build_graph(data)
    grads = sg.grad(cost, leaves)
    hvps = sg.hvp(cost, leaves, vectors)
    outputs = [cost, *grads, *hvps]
    results = {}
    for optimize in (True, False):
        f = sg.function(leaves, outputs, optimize=optimize)
        results[optimize] = _run(f, values)
    (fast, err_fast), (slow, err_slow) = results[True], results[False]
    if err_fast is not None or err_slow is not None:
        assert type(err_fast) is type(err_slow), (err_fast, err_slow)
        return
    for k, (a, b) in enumerate(zip(fast, slow)):
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape and a.dtype == b.dtype, (k, a.shape, b.shape)
        # the stabilised form may be finite where the naive one overflowed: compare where
        # the unoptimized result is finite
        finite = np.isfinite(b)
        np.testing.assert_allclose(a[finite], b[finite], rtol=1e-9, atol=1e-12,
                                   err_msg=f"output {k} of {len(outputs)}")
        assert np.array_equal(np.isnan(a) & finite, np.zeros_like(finite)), k
