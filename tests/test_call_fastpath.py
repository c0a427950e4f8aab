"""The call fast path: ``Function.__call__`` hands every call to an entry generated for
that function, which runs the common case itself (exact ndarrays of the input dtypes,
valid shapes, passed by position) and gives everything else to ``_call_general``.

Every test here compares the fast path with the general one: the same results, the same
shared values, the same errors with the same messages, and no call the general path would
convert or refuse ever taken by the fast path.
"""

import contextlib
import copy
import pickle
import threading

import numpy as np
import pytest

import symgrad as sg

GENERAL = sg.Function._call_general


def _reference(f):
    """Make ``f`` (a separately built twin) always take the general path."""
    f._entry = GENERAL
    return f


@contextlib.contextmanager
def fallbacks(f):
    """Record the calls that ``f``'s entry hands to the general path."""
    assert f._entry is not GENERAL, "this function has no fast path"
    g = f._entry.__globals__
    real, calls = g["_convert_all"], []

    def spy(self, args, kwargs):
        calls.append((args, kwargs))
        return real(self, args, kwargs)

    g["_convert_all"] = spy
    try:
        yield calls
    finally:
        g["_convert_all"] = real


def _assert_same(a, b):
    assert type(a) is type(b)
    if isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for u, v in zip(a, b):
            _assert_same(u, v)
    else:
        assert isinstance(a, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)


# ---- functions under test --------------------------------------------------------------

def _mlp_step(dtype="float32", optimize=True, seed=0, name="step"):
    """Named 'batch' shared by two inputs, a static width, in-place updates, dict output."""
    rng = np.random.default_rng(seed)
    x = sg.tensor("x", shape=("batch", 5), dtype=dtype)
    y = sg.tensor("y", shape=("batch",), dtype="int64")
    W1 = sg.shared(rng.standard_normal((5, 4)).astype(dtype), name="W1")
    b1 = sg.shared(np.zeros(4, dtype), name="b1")
    W2 = sg.shared(rng.standard_normal((4, 3)).astype(dtype), name="W2")
    h = sg.relu(x @ W1 + b1)
    loss = sg.nn.cross_entropy(h @ W2, y)
    params = [W1, b1, W2]
    grads = sg.grad(loss, params)
    f = sg.function([x, y], {"loss": loss, "h": h},
                    updates={p: p - 0.1 * g for p, g in zip(params, grads)},
                    optimize=optimize, name=name)
    return f, params


def _mlp_data(n, seed=0, dtype="float32"):
    rng = np.random.default_rng(100 + seed)
    return rng.standard_normal((n, 5)).astype(dtype), rng.integers(0, 3, size=n)


def _square():
    """One named dimension twice in one input and once in another; a None dimension."""
    m = sg.tensor("m", shape=("n", "n"))
    v = sg.tensor("v", shape=("n", None))
    w = sg.shared(np.ones(1), name="w")
    return sg.function([m, v], [m @ v, (m * w).sum()], name="square"), [w]


def _scalars():
    """0-d inputs, a tuple output."""
    a, b = sg.scalar("a"), sg.scalar("b")
    return sg.function([a, b], (a * b, a - b), name="scalars"), []


def _static():
    """Only static dimensions; a single output."""
    x = sg.tensor("x", shape=(2, 3))
    W = sg.shared(np.arange(6.0).reshape(3, 2), name="W")
    return sg.function([x], sg.tanh(x @ W), name="static"), [W]


def _unread_update():
    """Updates of shared variables the graph does not read: a counter and a last value."""
    x = sg.tensor("x", shape=("n", 2))
    last = sg.shared(np.zeros(2), name="last")
    total = sg.shared(np.zeros(2), name="total")
    f = sg.function([x], [x.sum()], updates={last: x.sum(axis=0), total: total + x.sum(axis=0)},
                    name="track")
    return f, [last, total]


def _no_inputs():
    c = sg.shared(np.zeros(3), name="c")
    return sg.function([], c * 2.0, updates={c: c + 1.0}, name="tick"), [c]


BUILDERS = {
    "mlp_step": lambda: _mlp_step(),
    "mlp_step_unoptimized": lambda: _mlp_step(optimize=False),
    "square": _square,
    "scalars": _scalars,
    "static": _static,
    "unread_update": _unread_update,
    "no_inputs": _no_inputs,
}


def _calls(kind):
    rng = np.random.default_rng(7)
    if kind.startswith("mlp_step"):
        return [_mlp_data(n, k) for k, n in enumerate([8, 8, 3, 8, 3, 1, 8])]
    if kind == "square":
        return [(rng.standard_normal((n, n)), rng.standard_normal((n, k)))
                for n, k in [(3, 2), (3, 5), (4, 1), (3, 2), (1, 7)]]
    if kind == "scalars":
        return [(np.array(float(a)), np.array(2.5)) for a in range(4)]
    if kind == "static":
        return [(rng.standard_normal((2, 3)),) for _ in range(3)]
    if kind == "unread_update":
        return [(rng.standard_normal((n, 2)),) for n in (4, 1, 4, 6)]
    return [() for _ in range(3)]


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_fast_path_matches_general_path_over_calls(kind):
    f, fp = BUILDERS[kind]()
    g, gp = BUILDERS[kind]()
    _reference(g)
    with fallbacks(f) as fell_back:
        for args in _calls(kind):
            keep = [a.copy() for a in args]
            _assert_same(f(*args), g(*args))
            for p, q in zip(fp, gp):
                np.testing.assert_array_equal(p.value, q.value)
            for a, k in zip(args, keep):
                np.testing.assert_array_equal(a, k)      # inputs never modified
    assert fell_back == []                               # every call took the fast path


def test_unoptimized_function_has_no_workspace_and_still_takes_the_fast_path():
    f, _ = _mlp_step(optimize=False)
    assert f._compiled.ws_dims is None and not f._compiled.module.inplace
    with fallbacks(f) as fell_back:
        f(*_mlp_data(4))
    assert fell_back == []


def test_keywords_and_equal_but_not_identical_dtypes_take_the_general_path():
    f, fp = _mlp_step()
    g, gp = _mlp_step()
    _reference(g)
    x, y = _mlp_data(6)
    meta = np.dtype("float32", metadata={"unit": "m"})   # == float32, another object
    unpickled = pickle.loads(pickle.dumps(np.dtype("int64")))
    assert meta == np.float32 and meta is not np.dtype("float32")
    assert unpickled == np.int64 and unpickled is not np.dtype("int64")
    forms = [((), {"x": x, "y": y}), ((x,), {"y": y}), ((x.astype(meta), y), {}),
             ((x, y.astype(unpickled)), {})]
    for args, kwargs in forms:
        with fallbacks(f) as fell_back:
            out = f(*args, **kwargs)
        assert len(fell_back) == 1
        _assert_same(out, g(x, y))
        for p, q in zip(fp, gp):
            np.testing.assert_array_equal(p.value, q.value)


def test_outputs_of_every_structure():
    x = sg.tensor("x", shape=("n",))
    for outputs in [x * 2.0, [x * 2.0, x.sum()], (x.sum(),), {"a": x + 1.0, "b": x.sum()}, []]:
        f = sg.function([x], outputs)
        g = _reference(sg.function([x], outputs))
        data = np.arange(4.0)
        with fallbacks(f) as fell_back:
            _assert_same(f(data), g(data))
        assert fell_back == []


def test_in_place_updates_write_the_same_arrays():
    f, params = _mlp_step()
    arrays = [p.get_value(borrow=True) for p in params]
    assert f._compiled.module.inplace
    g, gparams = _mlp_step()
    _reference(g)
    for n in (4, 4, 2):
        x, y = _mlp_data(n, n)
        _assert_same(f(x, y), g(x, y))
    for p, a, q in zip(params, arrays, gparams):
        assert p.get_value(borrow=True) is a
        np.testing.assert_array_equal(p.value, q.value)


def test_shared_values_are_read_at_every_call():
    f, (W,) = _static()
    x = np.ones((2, 3))
    first = f(x)
    W.value = np.full((3, 2), 0.5)
    second = f(x)
    np.testing.assert_allclose(first, np.tanh(x @ np.arange(6.0).reshape(3, 2)))
    np.testing.assert_allclose(second, np.tanh(x @ np.full((3, 2), 0.5)))


def test_functions_of_one_structure_keep_their_own_shared_variables():
    f, fp = _static()
    g, gp = _static()
    assert g.cache_hit and g._compiled is f._compiled
    gp[0].value = np.zeros((3, 2))
    x = np.ones((2, 3))
    np.testing.assert_allclose(f(x), np.tanh(x @ np.arange(6.0).reshape(3, 2)))
    np.testing.assert_array_equal(g(x), np.zeros((2, 2)))


def test_copies_use_their_own_shared_variables():
    f, (c,) = _no_inputs()
    for h in (copy.deepcopy(f), copy.copy(f)):
        shared = h._shared_params[0]
        before, mine = c.value, shared.value
        h()
        if shared is c:                      # a shallow copy shares the variable
            np.testing.assert_array_equal(c.value, before + 1.0)
        else:
            np.testing.assert_array_equal(c.value, before)
            np.testing.assert_array_equal(shared.value, mine + 1.0)


# ---- conversions the fast path leaves to the general one ---------------------------------

def test_float64_into_float32_input_is_cast():
    f, fp = _mlp_step("float32")
    g, gp = _mlp_step("float32")
    _reference(g)
    x, y = _mlp_data(5, dtype="float64")
    with fallbacks(f) as fell_back:
        out = f(x, y)
    assert len(fell_back) == 1
    assert out["loss"].dtype == np.float32
    _assert_same(out, g(x.astype(np.float32), y))
    for p, q in zip(fp, gp):
        np.testing.assert_array_equal(p.value, q.value)


def test_int32_labels_into_int64_input_are_cast():
    f, _ = _mlp_step()
    g, _ = _mlp_step()
    x, y = _mlp_data(5)
    _assert_same(f(x, y.astype(np.int32)), g(x, y))


def test_lists_numbers_and_zero_d_arrays():
    f, _ = _scalars()
    g, _ = _scalars()
    _reference(g)
    for args in [(2.0, 3.0), (np.float64(2.0), 3), (np.array(2.0), np.array(3.0)),
                 (np.array(2.0, "float32"), np.array(3))]:
        _assert_same(f(*args), g(*args))
    h, _ = _static()
    np.testing.assert_array_equal(h([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]),
                                  h(np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])))


def test_non_contiguous_views_and_subclasses():
    f, fp = _mlp_step("float64")
    g, gp = _mlp_step("float64")
    _reference(g)
    rng = np.random.default_rng(3)
    big = rng.standard_normal((12, 10))
    y = rng.integers(0, 3, size=12)

    class Sub(np.ndarray):
        pass

    views = [(big[::2, ::2], y[::2]),                    # strided
             (np.asfortranarray(big[:6, :5]), y[:6]),    # column-major
             (big[:5, :5].T.copy().T, y[:5]),
             (big[:4, :5].view(Sub), y[:4].view(Sub)),   # a subclass: converted
             (np.ma.masked_array(big[:3, :5]), y[:3])]
    for x, yy in views:
        with fallbacks(f) as fell_back:
            out = f(x, yy)
        assert len(fell_back) == (1 if type(x) is not np.ndarray else 0)
        _assert_same(out, g(np.asarray(x), np.asarray(yy)))
        assert type(out["h"]) is np.ndarray
        for p, q in zip(fp, gp):
            np.testing.assert_array_equal(p.value, q.value)


# ---- errors: the same as the general path's, and nothing changed ---------------------------

def _error(fn, *args, **kwargs):
    with pytest.raises((TypeError, ValueError)) as info:
        fn(*args, **kwargs)
    return type(info.value), str(info.value)


def _bad_calls():
    x, y = _mlp_data(4)
    var = sg.tensor("z", shape=("batch", 5))
    return {
        "too few": ((x,), r"takes 2 arguments \(x, y\), got 1"),
        "too many": ((x, y, y), r"takes 2 arguments \(x, y\), got 3"),
        "ndim x": ((x[0], y), "'x' expects 2 dimensions"),
        "ndim y": ((x, y[:, None]), "'y' expects 1 dimensions"),
        "0-d": ((np.array(1.0, "float32"), y), "'x' expects 2 dimensions"),
        "static": ((x[:, :4], y), r"'x' expects shape \[batch, 5\], got \(4, 4\) \(axis 1\)"),
        "named": ((x, y[:3]), "'batch' is 4 in input 'x' but 3 in input 'y'"),
        "float into int": ((x, y.astype(np.float64)), "'y' expects int64, got float64"),
        "string": ((x.astype(str), y), "'x' expects float32 data, got <U"),
        "object": ((x.astype(object), y), "'x' expects float32 data, got object"),
        "text": (("text", y), "'x' expects float32 data"),
        "var": ((var, y), "'x' got a symbolic variable"),
        "ragged": (([[1.0], [1.0, 2.0]], y), "could not convert"),
    }


@pytest.mark.parametrize("case", sorted(_bad_calls()))
def test_bad_inputs_raise_the_general_path_error_and_change_nothing(case):
    f, params = _mlp_step()
    args, pattern = _bad_calls()[case]
    before = [p.value for p in params]
    kind, message = _error(f, *args)
    assert (kind, message) == _error(GENERAL, f, args, {})
    with pytest.raises(kind, match=pattern):
        f(*args)
    for p, b in zip(params, before):
        np.testing.assert_array_equal(p.value, b)


def test_named_dimension_repeated_in_one_input_and_none_dimensions():
    f, _ = _square()
    m, v = np.ones((3, 3)), np.ones((3, 2))
    for args in [(np.ones((3, 4)), v), (m, np.ones((4, 2))), (np.ones(3), v), (m, np.ones(3))]:
        kind, message = _error(f, *args)
        assert (kind, message) == _error(GENERAL, f, args, {})
    with pytest.raises(ValueError, match="'n' is 3 in input 'm' but 4 in input 'm'"):
        f(np.ones((3, 4)), v)
    for k in (1, 2, 9):                                   # None: any size
        assert f(m, np.ones((3, k)))[0].shape == (3, k)


def test_keywords_with_every_positional_argument_still_go_to_the_general_path():
    f, fp = _mlp_step()
    g, gp = _mlp_step()
    x, y = _mlp_data(4)
    other = (y + 1) % 3
    with pytest.raises(TypeError, match="unexpected keyword argument 'z'"):
        f(x, y, z=y)
    with pytest.raises(TypeError, match="multiple values for input 'x'"):
        f(x, y, x=x, z=y)
    with pytest.raises(TypeError, match="unexpected keyword argument 'z'"):
        f(x, z=y)
    with pytest.raises(TypeError, match=r"is missing inputs \['y'\]"):
        f(x=x)
    # an input given both by position and by keyword is refused, as Python refuses it,
    # and nothing is updated
    before = [p.value.copy() for p in fp]
    with pytest.raises(TypeError, match="multiple values for input 'y'"):
        f(x, y, y=other)
    for p, b in zip(fp, before):
        np.testing.assert_array_equal(p.value, b)
    _assert_same(f(x, y=other), g(x, other))
    for p, q in zip(fp, gp):
        np.testing.assert_array_equal(p.value, q.value)


@pytest.mark.parametrize("bad", [np.ones((2, 4)), np.ones((3, 3)), np.ones(3), np.ones((2, 3, 1)),
                                 np.array(1.0)])
def test_static_shapes_errors(bad):
    f, (W,) = _static()
    before = W.value
    assert _error(f, bad) == _error(GENERAL, f, (bad,), {})
    with pytest.raises(ValueError, match="'x' expects"):
        f(bad)
    np.testing.assert_array_equal(W.value, before)


@pytest.mark.parametrize("bad", [np.ones(1), np.ones((1, 1)), np.array([2.0, 3.0])])
def test_zero_d_inputs_refuse_arrays(bad):
    f, _ = _scalars()
    assert _error(f, bad, 1.0) == _error(GENERAL, f, (bad, 1.0), {})
    with pytest.raises(ValueError, match="'a' expects 0 dimensions"):
        f(bad, np.array(1.0))


def test_unread_update_is_not_assigned_when_the_call_fails():
    f, (last, total) = _unread_update()
    f(np.ones((2, 2)))
    with pytest.raises(ValueError):
        f(np.ones((2, 3)))
    np.testing.assert_array_equal(last.value, [2.0, 2.0])
    np.testing.assert_array_equal(total.value, [2.0, 2.0])


def test_check_finite_functions_use_the_general_path():
    x = sg.vector("x", 2)
    w = sg.shared(np.ones(2), name="w")
    f = sg.function([x], (w * x).sum(), updates={w: w / x}, check_finite=True)
    assert f._entry is f._slow_entry
    with pytest.raises(FloatingPointError, match="'x'"):
        f(np.array([np.nan, 1.0]))
    np.testing.assert_array_equal(w.value, [1.0, 1.0])


# ---- workspaces and threads ---------------------------------------------------------------

def test_batch_sizes_alternate_with_one_workspace_each():
    f, fp = _mlp_step(name="alternating")      # its own compiled module, own pools
    g, gp = _mlp_step(name="alternating")
    assert g._compiled is f._compiled
    _reference(g)
    sizes = [8, 3, 8, 3, 5, 8, 5, 3]
    for k, n in enumerate(sizes):
        x, y = _mlp_data(n, k)
        _assert_same(f(x, y), g(x, y))
    for p, q in zip(fp, gp):
        np.testing.assert_array_equal(p.value, q.value)
    pools = f._compiled.pool.free                 # keyed by the size of 'batch'
    assert set(pools) == {(8,), (3,), (5,)}
    assert all(len(free) == 1 for free in pools.values())
    # the fast path alone: the workspace of each size goes back and is taken again
    kept = {key: free[0] for key, free in pools.items()}
    for k, n in enumerate(sizes):
        f(*_mlp_data(n, k))
        assert len(pools[(n,)]) == 1 and pools[(n,)][0] is kept[(n,)]


def test_threads_alternating_shapes_get_correct_results():
    x = sg.tensor("x", shape=("n", 6))
    W = sg.shared(np.linspace(-1, 1, 24).reshape(6, 4), name="W")
    h = sg.relu(x @ W + 0.5)
    f = sg.function([x], {"s": (h * h).sum(axis=1), "m": h.mean()})
    rng = np.random.default_rng(0)
    data = [rng.standard_normal((n, 6)) for n in (40, 3, 40, 17, 3) * 3]
    expect = [_reference(sg.function([x], {"s": (h * h).sum(axis=1), "m": h.mean()}))(d)
              for d in data]
    errors = []

    def work(order):
        for _ in range(20):
            for k in order:
                out = f(data[k])
                if not (np.array_equal(out["s"], expect[k]["s"])
                        and np.array_equal(out["m"], expect[k]["m"])):
                    errors.append(k)

    ts = [threading.Thread(target=work, args=(list(range(len(data)))[::step],))
          for step in (1, -1, 2, -2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert errors == []


def test_threads_updating_in_place_lose_no_update():
    # every call adds the column sums of x to W: the sum over all calls does not depend on
    # their order, and integers in float64 add exactly, so any lost update shows
    x = sg.tensor("x", shape=("n", 512))
    W = sg.shared(np.zeros((64, 512)), name="W")
    f = sg.function([x], (W * 1.0).sum(), updates={W: W + x.sum(axis=0)})
    assert f._compiled.module.inplace and f._compiled.ws_dims is not None
    rng = np.random.default_rng(5)
    data = [rng.integers(-3, 4, size=(n, 512)).astype(np.float64) for n in (2, 5, 2, 9)]
    calls = 25
    threads = [threading.Thread(target=lambda d=d: [f(d) for _ in range(calls)])
               for d in data]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    expect = sum(d.sum(axis=0) for d in data) * calls
    np.testing.assert_array_equal(W.value, np.broadcast_to(expect, (64, 512)))


# ---- tracebacks ----------------------------------------------------------------------------

def test_traceback_shows_the_entry_and_the_generated_lines():
    import traceback

    a = sg.tensor("a", shape=(None,))
    b = sg.tensor("b", shape=(None,))
    f = sg.function([a, b], a * b, name="mul_entry")
    try:
        f(np.ones(2), np.ones(3))
    except ValueError:
        text = traceback.format_exc()
    assert "<symgrad entry mul_entry" in text and "outputs, new_shared = _fn(" in text
    assert "<symgrad mul_entry" in text and "_same_size(" in text


@pytest.mark.parametrize("general", [False, True])
def test_in_place_updates_without_a_workspace_run_one_call_at_a_time(general):
    # no named dimensions, so no workspace: the in-place write still takes the lock
    n = 1_000_000                      # large enough that NumPy releases the GIL
    x = sg.vector("x", n)
    w = sg.shared(np.zeros(n), name="w")
    f = sg.function([x], updates={w: w + x})
    assert f._compiled.ws_dims is None and f._compiled.module.inplace
    one = np.ones(n)
    call = (lambda: f(x=one)) if general else (lambda: f(one))

    def work():
        for _ in range(8):
            call()
    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    np.testing.assert_array_equal(w.get_value(borrow=True), np.full(n, 32.0))
