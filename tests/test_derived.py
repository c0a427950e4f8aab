"""jvp, jacobian, hessian, hvp and stop_gradient, against finite differences in float64."""

import numpy as np
import pytest

import symgrad as sg
from symgrad.ir.graph import toposort
from symgrad.ops.registry import apply
from symgrad.testing import numeric_derivative

RNG = np.random.default_rng(0)


def rel_err(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    denom = np.linalg.norm(a) + np.linalg.norm(b)
    return 0.0 if denom == 0 else float(np.linalg.norm(a - b) / denom)


def fd_directional(f, x, v):
    """d/dh f(x + h v) at 0, elementwise over f's output (Ridders, per element)."""
    y0 = np.asarray(f(x))
    out = np.empty(y0.shape)
    for k in np.ndindex(y0.shape):
        out[k] = numeric_derivative(lambda h: float(np.asarray(f(x + h * v))[k]), 1e-2)[0]
    return out


def fd_jacobian(f, x):
    """Jacobian of f at x by finite differences, shape f(x).shape + x.shape."""
    y0 = np.asarray(f(x))
    J = np.empty(y0.shape + x.shape)
    for j in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[j] = 1.0
        J[(Ellipsis,) + j] = fd_directional(f, x, e)
    return J


def test_hessian_matches_fd_of_gradient():
    x = sg.vector("x", 4)
    A = RNG.normal(size=(4, 4))
    cost = sg.sum(sg.tanh(A @ x) ** 2) + sg.sum(x ** 3) * sg.sum(sg.exp(0.1 * x))
    H = sg.hessian(cost, x)
    assert H.type.shape == (4, 4)
    f_h = sg.function([x], H)
    f_g = sg.function([x], sg.grad(cost, x))
    xv = RNG.normal(size=4)
    Hv = f_h(xv)
    assert rel_err(Hv, fd_jacobian(f_g, xv)) < 1e-8
    assert np.allclose(Hv, Hv.T, atol=1e-12)


def test_hessian_of_matrix_variable_has_doubled_shape():
    W = sg.matrix("W", (2, 3))
    cost = sg.sum(sg.sin(W) * W)
    H = sg.hessian(cost, W)
    assert H.type.shape == (2, 3, 2, 3)
    Wv = RNG.normal(size=(2, 3))
    Hv = sg.function([W], H)(Wv)
    expected = np.zeros((2, 3, 2, 3))
    for i in np.ndindex(2, 3):  # d2/dw2 (w sin w) = 2 cos w - w sin w, diagonal
        expected[i + i] = 2 * np.cos(Wv[i]) - Wv[i] * np.sin(Wv[i])
    assert np.allclose(Hv, expected, rtol=1e-12, atol=1e-14)


def test_hvp_equals_hessian_times_vector():
    x = sg.vector("x", 5)
    cost = sg.sum(sg.log1p(x ** 2)) * sg.sum(sg.cos(x))
    v = RNG.normal(size=5)
    f = sg.function([x], [sg.hessian(cost, x), sg.hvp(cost, x, v)])
    H, hv = f(RNG.normal(size=5))
    assert hv.shape == (5,)
    assert rel_err(hv, H @ v) < 1e-12


def test_hvp_structures_and_symbolic_vectors():
    a, b = sg.vector("a", 3), sg.scalar("b")
    va, vb = sg.vector("va", 3), sg.scalar("vb")
    cost = sg.sum(sg.exp(a * b))
    out = sg.hvp(cost, {"a": a, "b": b}, {"b": vb, "a": va})
    assert set(out) == {"a", "b"}
    f = sg.function([a, b, va, vb], [out["a"], out["b"]])
    av, bv, vav, vbv = RNG.normal(size=3), 0.7, RNG.normal(size=3), -0.3
    ha, hb = f(av, bv, vav, vbv)
    # full Hessian of sum(exp(a b)) over (a, b) by hand
    e = np.exp(av * bv)
    Haa = np.diag(bv ** 2 * e)
    Hab = e + av * bv * e
    Hbb = np.sum(av ** 2 * e)
    assert np.allclose(ha, Haa @ vav + Hab * vbv, rtol=1e-12)
    assert np.allclose(hb, Hab @ vav + Hbb * vbv, rtol=1e-12)


def test_hvp_of_mlp_loss_matches_fd():
    x = sg.matrix("x", (6, 3))
    y = sg.tensor("y", (6,), dtype="int64")
    W1 = sg.shared(RNG.normal(size=(3, 5)) * 0.5, name="W1")
    b1 = sg.shared(np.zeros(5), name="b1")
    W2 = sg.shared(RNG.normal(size=(5, 4)) * 0.5, name="W2")
    logits = sg.tanh(x @ W1 + b1) @ W2
    loss = sg.nn.cross_entropy(logits, y)
    params = [W1, b1, W2]
    vecs = [RNG.normal(size=p.value.shape) for p in params]
    hv = sg.hvp(loss, params, vecs)
    assert [h.type.shape for h in hv] == [p.type.shape for p in params]
    xv, yv = RNG.normal(size=(6, 3)), RNG.integers(0, 4, size=6)
    hv_vals = sg.function([x, y], hv)(xv, yv)
    # finite differences of the gradient along the joint direction
    gW1, gb1, gW2 = sg.grad(loss, params)
    f_grad = sg.function([x, y], [gW1, gb1, gW2])
    base = [p.value.copy() for p in params]

    def grads_at(h):
        for p, b0, v in zip(params, base, vecs):
            p.value = b0 + h * v
        return f_grad(xv, yv)

    for k in range(3):
        fd = np.empty(base[k].shape)
        for idx in np.ndindex(fd.shape):
            fd[idx] = numeric_derivative(lambda h: float(grads_at(h)[k][idx]), 1e-2)[0]
        assert rel_err(hv_vals[k], fd) < 1e-7
    for p, b0 in zip(params, base):
        p.value = b0


@pytest.mark.parametrize("xshape,build", [
    ((3,), lambda x: sg.tanh(x)[:, None] * sg.constant(np.arange(1.0, 5.0))),  # forward mode
    ((2, 3), lambda x: sg.sum(sg.exp(x) * x, axis=0)),  # reverse mode (3 rows < 6 columns)
    ((4,), lambda x: sg.sum(x ** 2) * x[:2]),
    ((), lambda x: sg.stack([sg.sin(x), x * x, sg.exp(x)])),
])
def test_jacobian_shape_and_values(xshape, build):
    x = sg.tensor("x", xshape)
    y = build(x)
    J = sg.jacobian(y, x)
    assert J.type.shape == y.type.shape + x.type.shape
    f_y, f_J = sg.function([x], y), sg.function([x], J)
    xv = RNG.normal(size=xshape)
    Jv = f_J(xv)
    assert Jv.shape == y.type.shape + xshape
    assert rel_err(Jv, fd_jacobian(f_y, np.asarray(xv, float))) < 1e-8


def test_jacobian_with_named_sizes():
    # y has a named size, x is static: forward mode builds y.shape + x.shape
    a = sg.vector("a", "n")
    x = sg.vector("x", 2)
    y = a * x[0] + sg.square(a) * x[1]
    J = sg.jacobian(y, x)
    assert J.type.shape == ("n", 2)
    av, xv = RNG.normal(size=5), RNG.normal(size=2)
    Jv = sg.function([a, x], J)(av, xv)
    assert np.allclose(Jv, np.stack([av, av ** 2], axis=1), rtol=1e-14)
    with pytest.raises(ValueError, match="static"):
        sg.jacobian(sg.exp(a), a)
    with pytest.raises(ValueError, match="static"):
        sg.hessian(sg.sum(a), a)
    with pytest.raises(TypeError, match="float"):
        sg.jacobian(x, sg.vector("k", 2, dtype="int64"))


def test_third_derivative_of_tanh_matches_closed_form():
    x = sg.scalar("x")
    d3 = sg.grad(sg.grad(sg.grad(sg.tanh(x), x), x), x)
    f = sg.function([x], d3)
    for xv in (-1.3, 0.0, 0.4, 2.0):
        t = np.tanh(xv)
        assert np.isclose(f(xv), (1 - t ** 2) * (6 * t ** 2 - 2), rtol=1e-13, atol=1e-15)
    # also through jacobian of a hessian
    v = sg.vector("v", 1)
    T = sg.jacobian(sg.hessian(sg.sum(sg.tanh(v)), v), v)
    assert T.type.shape == (1, 1, 1)
    t = np.tanh(0.4)
    assert np.isclose(sg.function([v], T)(np.array([0.4]))[0, 0, 0],
                      (1 - t ** 2) * (6 * t ** 2 - 2), rtol=1e-13)


def test_jvp_matches_fd():
    x = sg.vector("x", 3)
    W = sg.shared(RNG.normal(size=(3, 4)), name="W")
    y = sg.softmax(sg.tanh(x @ W) * sg.sum(x ** 2))
    z = sg.logsumexp(x) * sg.sqrt(sg.sum(sg.exp(x)))
    v = RNG.normal(size=3)
    ty, tz = sg.jvp([y, z], [x], [v])
    f = sg.function([x], [ty, tz])
    xv = RNG.normal(size=3)
    tyv, tzv = f(xv)
    assert rel_err(tyv, fd_directional(sg.function([x], y), xv, v)) < 1e-8
    assert rel_err(tzv, fd_directional(sg.function([x], z), xv, v)) < 1e-8


def test_jvp_structures_variables_zeros_and_broadcasting():
    a = sg.vector("a", 3)
    b = sg.scalar("b")
    c = sg.vector("c", 3)
    ta = sg.vector("ta", 3)
    outs = sg.jvp({"p": a * b + 1.0, "q": sg.exp(c), "r": sg.sum(a) * b},
                  {"a": a, "b": b}, {"b": 2.0, "a": ta})
    assert set(outs) == {"p", "q", "r"}
    assert outs["q"].op.name == "constant" and outs["q"].type.shape == (3,)
    f = sg.function([a, b, ta], [outs["p"], outs["r"]])
    av, tav = RNG.normal(size=3), RNG.normal(size=3)
    p, r = f(av, 1.5, tav)
    assert np.allclose(p, tav * 1.5 + av * 2.0, rtol=1e-14)
    assert np.isclose(r, tav.sum() * 1.5 + av.sum() * 2.0, rtol=1e-14)
    assert sg.function([c], outs["q"])(np.ones(3)).tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="tangent"):
        sg.jvp(a * 2, a, np.ones(4))
    with pytest.raises(ValueError, match="different keys"):
        sg.jvp(a, {"a": a}, {"x": np.ones(3)})


def test_jvp_named_sizes_leaves_no_placeholder():
    x = sg.vector("x", "n")
    t = sg.vector("t", "n")
    y = sg.mean(sg.exp(x)) * sg.sum(x * x)
    ty = sg.jvp(y, x, t)
    assert not any(n.op.name == "input" and n.name.startswith("u_") for n in toposort([ty]))
    f = sg.function([x, t], ty)
    xv, tv = RNG.normal(size=6), RNG.normal(size=6)
    expected = np.mean(np.exp(xv) * tv) * np.sum(xv * xv) + np.mean(np.exp(xv)) * 2 * xv @ tv
    assert np.isclose(f(xv, tv), expected, rtol=1e-13)


def test_jvp_float32_keeps_dtype():
    x = sg.vector("x", 3, dtype="float32")
    t = sg.jvp(sg.tanh(x) * 2, x, np.ones(3))
    assert t.dtype == np.float32
    out = sg.function([x], t)(np.zeros(3, np.float32))
    assert out.dtype == np.float32 and np.allclose(out, 2.0)


@pytest.fixture
def scratch_ops():
    """Ops defined by a test are unregistered afterwards."""
    before = set(sg.REGISTRY)
    yield
    for name in set(sg.REGISTRY) - before:
        del sg.REGISTRY[name]


def test_jvp_uses_an_ops_own_rule_and_reports_nonlinear_vjp(scratch_ops):
    calls = []

    def cube_jvp(tangents, out, x):
        calls.append(1)
        return tangents[0] * 3 * sg.square(x)

    cube = sg.defop("test_derived_cube", infer=lambda types: types[0], emit="{0} ** 3",
                    vjp=lambda g, out, x: [g * 3 * sg.square(x)], jvp=cube_jvp,
                    elementwise=True, replace=True)
    x = sg.vector("x", 2)
    t = sg.jvp(apply(cube, [x]), x, np.array([1.0, 2.0]))
    assert calls == [1]
    assert np.allclose(sg.function([x], t)(np.array([1.0, 3.0])), [3.0, 54.0])

    # a VJP rule that is not linear in its cotangent cannot be transposed
    bad = sg.defop("test_derived_bad", infer=lambda types: types[0], emit="{0}",
                   vjp=lambda g, out, x: [g * g], elementwise=True, replace=True)
    with pytest.raises(ValueError, match="test_derived_bad"):
        sg.jvp(apply(bad, [x]), x, np.ones(2))


def test_stop_gradient():
    x = sg.scalar("x")
    y = sg.stop_gradient(x) * x ** 2
    g = sg.grad(y, x)
    t = sg.jvp(y, x, 1.0)
    h = sg.grad(g, x)
    f = sg.function([x], [g, t, h, y])
    gv, tv, hv, yv = f(3.0)
    assert gv == 18.0 and tv == 18.0 and hv == 6.0 and yv == 27.0
    assert sg.function([x], sg.grad(sg.sum(sg.stop_gradient(x) * 5.0), x))(2.0) == 0.0


def test_jvp_and_grad_compiled_into_one_function():
    # found by tests/test_random_graphs.py: both outputs in one compiled function share
    # intermediate values (and scratch buffers) and must still both be right
    x = sg.matrix("x", (2, 3))
    y = sg.logsumexp(x, axis=0)
    c = sg.sum(y * np.array([1.0, 2.0, 3.0])) + sg.mean(sg.sin(y))
    rng = np.random.default_rng(0)
    v, xv = rng.normal(size=(2, 3)), rng.normal(size=(2, 3))
    t, g = sg.jvp(c, x, v), sg.grad(c, x)
    tv, gv = sg.function([x], [t, g])(xv)
    fd = numeric_derivative(lambda h: float(sg.function([x], c)(xv + h * v)), 1e-2)[0]
    assert np.isclose(np.sum(gv * v), fd, rtol=1e-9)
    assert np.isclose(tv, fd, rtol=1e-9)


def test_jvp_does_not_build_zero_tangents():
    x, y = sg.vector("x", 4), sg.vector("y", 4)
    t = sg.jvp(sg.sin(x) * sg.exp(y) + y, [x], [sg.vector("tx", 4)])
    nodes = toposort([t])
    zeros = [n for n in nodes if n.op.name == "fill_like" or (
        n.op.name == "constant" and n.value.size > 1 and not n.value.any())]
    assert zeros == []
    assert not any(n.op.name == "input" and n.name.startswith("u_") for n in nodes)


def test_jacobian_of_structures_nests_like_jax():
    x, w = sg.vector("x", 3), sg.scalar("w")
    y1 = sg.tanh(x) * w  # (3,)
    y2 = sg.sum(x ** 2) * w  # scalar
    y3 = sg.exp(x[:2]) * x[1:]  # (2,): no w
    xv, wv = RNG.normal(size=3), 0.7

    def fd(f, at):
        return fd_jacobian(f, np.asarray(at, float))

    f_y = {
        "y1": lambda x_, w_: np.tanh(x_) * w_, "y2": lambda x_, w_: np.sum(x_ ** 2) * w_,
        "y3": lambda x_, w_: np.exp(x_[:2]) * x_[1:]}
    want = {k: (fd(lambda a: g(a, wv), xv), fd(lambda b: g(xv, b), wv)) for k, g in f_y.items()}
    # list of outputs, one wrt: a list of Jacobians (reverse and forward mode mixed)
    J = sg.jacobian([y1, y2, y3], x)
    assert isinstance(J, list) and [j.type.shape for j in J] == [(3, 3), (3,), (2, 3)]
    got = sg.function([x, w], J)(xv, wv)
    for g, k in zip(got, ["y1", "y2", "y3"]):
        assert rel_err(g, want[k][0]) < 1e-8
    # dict of outputs, tuple of wrt: {name: (dy/dx, dy/dw)}
    J = sg.jacobian({"y1": y1, "y3": y3}, (x, w))
    assert set(J) == {"y1", "y3"} and all(isinstance(v, tuple) for v in J.values())
    assert J["y3"][1].type.shape == (2,)
    names = [(k, i) for k in J for i in range(2)]
    got = sg.function([x, w], [J[k][i] for k, i in names])(xv, wv)
    for (k, i), g in zip(names, got):
        assert rel_err(g, want[k][i]) < 1e-8, (k, i)
    # one output, dict of wrt
    J = sg.jacobian(y2, {"w": w, "x": x})
    gw, gx = sg.function([x, w], [J["w"], J["x"]])(xv, wv)
    assert rel_err(gw, want["y2"][1]) < 1e-8 and rel_err(gx, want["y2"][0]) < 1e-8
    with pytest.raises(TypeError, match="list, a tuple or a dict"):
        sg.jacobian({1, 2}, x)
    with pytest.raises(TypeError, match="expected variables"):
        sg.jacobian(y1, [x, "w"])


def test_jacobian_hessian_of_unknown_sizes_say_how_to_fix_it():
    x = sg.vector("x")  # shape (None,)
    # a scalar output needs no static size: its Jacobian is the gradient
    g = sg.function([x], sg.jacobian(sg.sum(sg.sin(x)), x))(np.array([0.0, 1.0]))
    assert np.allclose(g, np.cos([0.0, 1.0]), rtol=1e-14)
    for build in [lambda: sg.jacobian(sg.exp(x), x), lambda: sg.hessian(sg.sum(x ** 3), x)]:
        with pytest.raises(ValueError, match=r"sg\.vector\(\"x\", 3\)") as err:
            build()
        assert "'x'" in str(err.value) and "[?]" in str(err.value)
    with pytest.raises(ValueError, match=r"sg\.hvp"):
        sg.hessian(sg.sum(x ** 3), x)
