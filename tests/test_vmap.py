"""sg.vmap and the vectorised Jacobians and Hessians built on it.

vmap(fn)(batch) must equal fn applied to each element and stacked (values and gradients,
every op-table row), and the generated source of a Hessian must not grow with the
number of variables.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pytest

import symgrad as sg

from op_table import ROWS


V = sys.modules["symgrad.autodiff.vmap"]      # the module (sg.vmap is the function)

# ops that vmap still applies once per batch element (none at present): see the module
# docstring of symgrad/autodiff/vmap.py for what remains
UNROLLED_OK: set = set()


@pytest.fixture
def no_unrolling(monkeypatch):
    """Fail when vmap falls back to applying an op once per batch element."""
    def refuse(n, ins, flags, size):
        if n.op.name in UNROLLED_OK:
            return unrolled(n, ins, flags, size)
        raise AssertionError(f"vmap unrolled {n.op.name} (flags {flags})")
    unrolled = V._unrolled
    monkeypatch.setattr(V, "_unrolled", refuse)


def _rows_for_vmap():
    return [r for r in ROWS if r.decl is None and r.shapes
            and all(len(s) for s in r.shapes)]


VROWS = _rows_for_vmap()
FLOAT_ROWS = [r for r in VROWS if all(d.kind == "f" for d in r.input_dtypes())]
MULTI_ROWS = [r for r in VROWS if len(r.shapes) > 1]


def _vmap_equals_a_loop(build, samples, batched, symbolic=False, size=3):
    """``vmap(build)`` over ``size`` elements (``samples[k]``: the arguments of element
    k; arguments flagged in ``batched`` vary, the others are element 0's) against
    ``build`` compiled for one element and called once per element."""
    first = samples[0]
    args, values, axes = [], [], []
    for j, a in enumerate(first):
        if batched[j]:
            data = np.stack([np.asarray(s[j]) for s in samples[:size]])
            shape = (("n",) if symbolic else (size,)) + a.shape
            args.append(sg.tensor(f"b{j}", shape, dtype=a.dtype))
            values.append(data)
            axes.append(0)
        else:
            args.append(sg.tensor(f"u{j}", a.shape, dtype=a.dtype))
            values.append(a)
            axes.append(None)
    out = sg.vmap(lambda *xs: sg.ops.as_var(build(*xs)), in_axes=axes)(*args)
    if symbolic:
        assert out.type.shape[0] == "n"
    got = sg.function(args, out)(*values)
    elems = [sg.tensor(f"e{j}", a.shape, dtype=a.dtype) for j, a in enumerate(first)]
    f1 = sg.function(elems, build(*elems))
    expect = np.stack([np.asarray(f1(*[s[j] if batched[j] else first[j]
                                       for j in range(len(first))]))
                       for s in samples[:size]])
    assert got.shape == expect.shape and got.dtype == expect.dtype, (got.shape, expect.shape)
    if got.dtype.kind == "f":
        np.testing.assert_allclose(got, expect, rtol=1e-12, atol=1e-14)
    else:
        np.testing.assert_array_equal(got, expect)
    return out


def _samples(row, size=3):
    return [row.arrays(seed=k) for k in range(size)]


@pytest.mark.parametrize("row", FLOAT_ROWS, ids=[r.name for r in FLOAT_ROWS])
def test_vmap_of_every_op_equals_a_loop(row, no_unrolling):
    """Batch the first argument (3 elements) of every op-table row; the others stay. No
    row is applied once per element."""
    _vmap_equals_a_loop(row.build, _samples(row), [True] + [False] * (len(row.shapes) - 1))


@pytest.mark.parametrize("row", VROWS, ids=[r.name for r in VROWS])
def test_vmap_of_every_op_over_every_argument(row, no_unrolling):
    """Every argument batched (integer index data included), with a symbolic batch size,
    which cannot be unrolled."""
    _vmap_equals_a_loop(row.build, _samples(row), [True] * len(row.shapes), symbolic=True)


@pytest.mark.parametrize("row", MULTI_ROWS, ids=[r.name for r in MULTI_ROWS])
def test_vmap_of_every_op_over_its_last_argument(row, no_unrolling):
    """Only the last argument batched (a batched index into an unbatched array, a batch
    of right-hand sides for one matrix ...)."""
    _vmap_equals_a_loop(row.build, _samples(row), [False] * (len(row.shapes) - 1) + [True])


def test_vmap_axes_and_errors():
    W = sg.matrix("W", (3, 2))
    xs = sg.matrix("xs", (3, 5))                 # batch along axis 1
    ys = sg.vmap(lambda x: sg.tanh(x @ W), in_axes=1, out_axes=1)(xs)
    assert ys.type.shape == (2, 5)
    X = np.random.default_rng(0).normal(size=(3, 5))
    Wv = np.random.default_rng(1).normal(size=(3, 2))
    np.testing.assert_allclose(sg.function([xs, W], ys)(X, Wv), np.tanh(X.T @ Wv).T)
    with pytest.raises(ValueError, match="no argument is batched"):
        sg.vmap(lambda x: x, in_axes=None)(xs)
    with pytest.raises(ValueError, match="in_axes has 2 entries"):
        sg.vmap(lambda x: x, in_axes=[0, 0])(xs)


def test_vmap_of_a_gradient_is_per_example_gradients():
    """Per-example gradients of a logistic loss: vmap over grad."""
    w = sg.vector("w", 4)
    xs = sg.matrix("xs", (6, 4))
    ys = sg.vector("ys", 6)

    def loss_grad(x, y):
        return sg.grad(sg.softplus(-y * sg.sum(x * w)), w)

    g = sg.vmap(loss_grad, in_axes=[0, 0])(xs, ys)
    rng = np.random.default_rng(2)
    X, Y, Wv = rng.normal(size=(6, 4)), np.sign(rng.normal(size=6)), rng.normal(size=4)
    got = sg.function([xs, ys, w], g)(X, Y, Wv)
    s = 1 / (1 + np.exp(Y * (X @ Wv)))
    np.testing.assert_allclose(got, -(Y * s)[:, None] * X, rtol=1e-12)


def _logcosh_hessian(n, m=40):
    rng = np.random.default_rng(0)
    A = rng.normal(size=(m, n)) * 0.1
    x = sg.vector("x", n)
    cost = sg.sum(sg.log(sg.cosh(sg.constant(A) @ x)))
    return A, x, cost


def test_hessian_of_200_variables_is_compact_fast_and_exact():
    A, x, cost = _logcosh_hessian(200)
    t0 = time.perf_counter()
    f = sg.function([x], sg.hessian(cost, x))
    compile_s = time.perf_counter() - t0
    assert f.source.count("\n") < 150 and f.plain_source.count("\n") < 150
    assert compile_s < 0.5, compile_s
    xv = np.random.default_rng(3).normal(size=200)
    z = A @ xv
    exact = A.T @ (A / np.cosh(z)[:, None] ** 2)
    np.testing.assert_allclose(f(xv), exact, rtol=1e-12, atol=1e-15)


def test_hessian_equals_the_unrolled_one():
    """The vectorised Hessian against one Hessian-vector product per basis vector."""
    A, x, cost = _logcosh_hessian(12, m=7)
    H = sg.function([x], sg.hessian(cost, x))
    basis = np.eye(12)
    rows = [sg.hvp(cost, x, basis[k]) for k in range(12)]
    unrolled = sg.function([x], rows)
    xv = np.random.default_rng(4).normal(size=12)
    np.testing.assert_allclose(H(xv), np.stack(unrolled(xv)), rtol=1e-12, atol=1e-15)


def test_source_of_a_jacobian_does_not_grow_with_its_size():
    sizes = []
    for n in (5, 50):
        x = sg.vector("x", n)
        y = sg.tanh(x) * sg.sum(x ** 2)
        f = sg.function([x], sg.jacobian(y, x))
        sizes.append(f.source.count("\n"))
        xv = np.linspace(-1, 1, n)
        t = np.tanh(xv)
        expect = np.diag((1 - t ** 2) * np.sum(xv ** 2)) + np.outer(t, 2 * xv)
        np.testing.assert_allclose(f(xv), expect, rtol=1e-12, atol=1e-14)
    assert sizes[0] == sizes[1]


# ---- integer-array indexes: batched data, batched index, or both -----------------------
_S = slice(None)
INDEXES = {                         # x is (4, 5, 6); i is (2,), j is (3, 1) unless noted
    "i": lambda i, j: (i,),
    ":,i": lambda i, j: (_S, i),
    "...,i": lambda i, j: (Ellipsis, i),
    "i,j": lambda i, j: (j, i),                       # broadcast to (3, 2)
    ":,j,i": lambda i, j: (_S, j, i),
    "i,:,j": lambda i, j: (i, _S, j),                 # split: NumPy puts (3, 2) first
    "i,:,0": lambda i, j: (i, _S, 0),                 # an int beside an array splits too
    "1,i": lambda i, j: (1, i),
    "None,:,i,1": lambda i, j: (None, _S, i, 1),
    ":,i,::2": lambda i, j: (_S, i, slice(None, None, 2)),
    "j": lambda i, j: (j,),
}


def _index_samples(key, extra=None, size=2, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(size):
        x = rng.normal(size=(4, 5, 6))
        i = rng.integers(-4, 4, size=2)               # negative and repeated positions
        j = rng.integers(0, 4, size=(3, 1))
        args = [x, i, j]
        if extra:
            shape = x[INDEXES[key](i, j)].shape
            args.append(rng.normal(size=shape[1:] if extra == "row" else shape))
        out.append(args)
    return out


_MODES = {"x": (1, 0, 0, 0), "index": (0, 1, 1, 0), "x,i": (1, 1, 0, 0),
          "values": (0, 0, 0, 1), "index,values": (0, 1, 1, 1), "all": (1, 1, 1, 1)}


@pytest.mark.parametrize("mode", ["x", "index", "x,i", "all"])
@pytest.mark.parametrize("key", list(INDEXES))
def test_vmap_of_gathers(key, mode, no_unrolling):
    flags = [bool(f) for f in _MODES[mode][:3]]
    _vmap_equals_a_loop(lambda x, i, j: x[INDEXES[key](i, j)], _index_samples(key), flags,
                        size=2, symbolic=mode == "all")


@pytest.mark.parametrize("mode", list(_MODES))
@pytest.mark.parametrize("key", ["i", ":,i", "i,j", "i,:,j", "i,:,0", "None,:,i,1"])
@pytest.mark.parametrize("how", ["set", "add", "grad", "set_row"])
def test_vmap_of_index_writes(how, key, mode, no_unrolling):
    """x.at[idx].set(v) (repeated positions: the last write stays), .add(v) (they
    accumulate) and the gradient of a gather (a scatter-add), v broadcast ("set_row")."""
    flags = [bool(f) for f in _MODES[mode]]
    if how == "grad":
        def build(x, i, j, w):
            return sg.grad(sg.sum(x[INDEXES[key](i, j)] * w), x)
    else:
        def build(x, i, j, v):
            at = x.at[INDEXES[key](i, j)]
            return at.add(v) if how == "add" else at.set(v)
    samples = _index_samples(key, extra="row" if how == "set_row" else "full")
    _vmap_equals_a_loop(build, samples, flags, size=2, symbolic=mode == "all")


def test_vmap_of_a_batched_index_is_one_gather():
    """A batch of index vectors into one array: one gather along a new leading axis."""
    x = sg.matrix("x", (5, 3))
    idx = sg.tensor("idx", (4, 2), dtype="int64")
    out = sg.vmap(lambda i: x[i], in_axes=0)(idx)
    f = sg.function([x, idx], out)
    assert f.source.count("x[") == 1, f.source
    X = np.arange(15.0).reshape(5, 3)
    I = np.array([[0, 1], [4, 4], [-1, 2], [3, 0]])
    np.testing.assert_array_equal(f(X, I), X[I])


# ---- Hessians through linear algebra stay small ------------------------------------------
def _matrix_of(x, m=4):
    """An m x m matrix that depends on every entry of x (well conditioned)."""
    n = x.type.shape[0]
    rng = np.random.default_rng(5)
    C = rng.normal(size=(m * m, n)) * (0.3 / np.sqrt(n))
    A0 = 3.0 * np.eye(m) + 0.3 * rng.normal(size=(m, m))
    return sg.constant(A0) + sg.reshape(sg.constant(C) @ x, (m, m))


LINALG_COSTS = {
    "solve": lambda M: sg.sum(sg.linalg.solve(M, sg.constant(np.arange(1.0, 5.0))) ** 2),
    "solve[matrix]": lambda M: sg.sum(sg.tanh(sg.linalg.solve(M, M.T @ M))),
    "det": lambda M: sg.linalg.det(M),
    "slogdet": lambda M: sg.linalg.slogdet(M)[1] * sg.linalg.slogdet(M)[0],
    "inv": lambda M: sg.sum(sg.linalg.inv(M) ** 3),
    "eigh": lambda M: sg.sum(sg.exp(0.3 * sg.linalg.eigh(M + M.T)[0])),
    "eigh_vectors": lambda M: sg.sum(sg.linalg.eigh(M + M.T)[1] ** 2 * sg.constant(
        np.cos(np.arange(16.0)).reshape(4, 4))),
    "cholesky": lambda M: sg.sum(sg.linalg.cholesky(M @ M.T) ** 2),
    "qr": lambda M: sg.sum(sg.linalg.qr(M).R ** 2 * sg.constant(np.arange(16.0).reshape(4, 4))),
}


@pytest.mark.parametrize("name", list(LINALG_COSTS))
def test_hessian_through_linalg_is_compact_and_exact(name, no_unrolling):
    """Hessians of 30 and 60 variables through sg.linalg: the same source (no op applied
    once per variable), and each equal to one Hessian-vector product per basis vector."""
    sources = []
    for n in (30, 60):
        x = sg.vector("x", n)
        cost = LINALG_COSTS[name](_matrix_of(x))
        H = sg.function([x], sg.hessian(cost, x))
        sources.append(H.source)
        v = sg.vector("v", n)
        hvp = sg.function([x, v], sg.hvp(cost, x, v))
        xv = np.random.default_rng(n).normal(size=n) * 0.5
        loop = np.stack([hvp(xv, e) for e in np.eye(n)])
        got = H(xv)
        np.testing.assert_allclose(got, loop, rtol=1e-12, atol=1e-12 * np.abs(loop).max())
        np.testing.assert_allclose(got, got.T, rtol=1e-10, atol=1e-12 * np.abs(got).max())
    assert len(sources[0]) == len(sources[1]), [len(s) for s in sources]


def test_vmap_with_symbolic_sizes_inside_the_elements(no_unrolling):
    """Elements of a named size: sizes read from a batched array are not batched, and
    reshapes, broadcasts, aranges and joins to such sizes batch without unrolling."""
    xs = sg.tensor("xs", ("n", "m"))

    def fn(x):
        m = x.shape[0]
        grid = sg.broadcast_to(sg.reshape(x, (m, 1)), (m, 3))
        steps = sg.arange(m).astype("float64")[:, None]
        both = sg.concatenate([grid, sg.ones_like(grid)], axis=1)
        return sg.cumsum(both, axis=0) * steps + sg.sum(x) / sg.ops.size_of(x)

    out = sg.vmap(fn)(xs)
    assert out.type.shape == ("n", "m", 6)
    X = np.random.default_rng(0).normal(size=(4, 5))
    e = sg.vector("e", "m")
    f1 = sg.function([e], fn(e))
    np.testing.assert_allclose(sg.function([xs], out)(X), np.stack([f1(r) for r in X]),
                               rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("flags", [(1, 0), (0, 1), (1, 1)], ids=["a", "b", "ab"])
@pytest.mark.parametrize("a_shape,b_shape", [((3, 3), (3,)), ((2, 3, 3), (3,)),
                                             ((3, 3), (3, 2)), ((2, 3, 3), (3, 2)),
                                             ((3, 3), (2, 3, 2)), ((1, 3, 3), (2, 3, 3))])
def test_vmap_of_solve_keeps_numpy2_rules_for_b(a_shape, b_shape, flags, no_unrolling):
    """A 1-D b is one vector (for every matrix of a stack), anything else a stack of
    matrices; a batch of 3 vectors of size 3 must not turn into one 3 x 3 matrix."""
    rng = np.random.default_rng(1)
    samples = [[np.eye(3) * 4 + rng.normal(size=a_shape), rng.normal(size=b_shape)]
               for _ in range(3)]
    _vmap_equals_a_loop(sg.linalg.solve, samples, [bool(f) for f in flags])
    _vmap_equals_a_loop(sg.linalg.solve, samples, [bool(f) for f in flags], symbolic=True)


@pytest.mark.parametrize("axis", [None, 0, 1])
@pytest.mark.parametrize("keepdims", [False, True])
def test_vmap_of_argmax_and_argmin(axis, keepdims, no_unrolling):
    samples = [[np.random.default_rng(k).normal(size=(3, 4))] for k in range(3)]
    for fn in (sg.argmax, sg.argmin):
        _vmap_equals_a_loop(lambda x: fn(x, axis, keepdims=keepdims), samples, [True],
                            symbolic=True)


def test_a_batch_of_right_hand_sides_is_one_solve():
    """The Jacobian of solve(A, b) in b: one solve whatever the number of columns."""
    for n in (3, 40):
        A = sg.matrix("A", (n, n))
        b = sg.vector("b", n)
        f = sg.function([A, b], sg.jacobian(sg.linalg.solve(A, b), b))
        assert f.source.count("np.linalg.solve(") == 1, f.source
        Av = np.eye(n) * 4 + np.random.default_rng(0).normal(size=(n, n))
        np.testing.assert_allclose(f(Av, np.ones(n)), np.linalg.inv(Av), rtol=1e-10,
                                   atol=1e-14)
