"""sg.function: output structures, updates, argument validation, atomicity, aliasing,
tracebacks into the generated source, caching, and safety of user-supplied names."""

import ast
import threading
import traceback

import numpy as np
import pytest

import symgrad as sg


def _linear(dtype="float64"):
    x = sg.tensor("x", shape=("batch", 3), dtype=dtype)
    W = sg.shared(np.arange(6, dtype=dtype).reshape(3, 2), name="W")
    return x, W, x @ W


# ---- outputs -------------------------------------------------------------------------

def test_single_output_returns_array():
    x, W, y = _linear()
    f = sg.function([x], y)
    out = f(np.ones((4, 3)))
    assert isinstance(out, np.ndarray)
    np.testing.assert_array_equal(out, np.ones((4, 3)) @ W.value)


@pytest.mark.parametrize("kind", [list, tuple])
def test_list_and_tuple_outputs(kind):
    x, W, y = _linear()
    f = sg.function([x], kind([y, y.sum()]))
    out = f(np.ones((2, 3)))
    assert type(out) is kind and len(out) == 2
    assert out[1].shape == () and isinstance(out[1], np.ndarray)
    assert float(out[1]) == pytest.approx(float((np.ones((2, 3)) @ W.value).sum()))


def test_dict_outputs_keep_keys():
    x, W, y = _linear()
    f = sg.function([x], {"y": y, "total": y.sum()})
    out = f(np.ones((2, 3)))
    assert list(out) == ["y", "total"]


def test_no_outputs_only_updates():
    c = sg.shared(np.zeros(2), name="c")
    f = sg.function([], updates={c: c + 1})
    assert f() == []
    f()
    np.testing.assert_array_equal(c.value, [2.0, 2.0])


def test_scalar_zero_d_output_is_array():
    s = sg.scalar("s")
    out = sg.function([s], s * 2)(3.0)
    assert isinstance(out, np.ndarray) and out.shape == () and float(out) == 6.0


# ---- updates -------------------------------------------------------------------------

def test_updates_use_old_values_and_are_assigned_together():
    a = sg.shared(np.array([1.0]), name="a")
    b = sg.shared(np.array([10.0]), name="b")
    f = sg.function([], [a, b], updates={a: b, b: a + b})
    out = f()
    np.testing.assert_array_equal(out[0], [1.0])
    np.testing.assert_array_equal(out[1], [10.0])
    np.testing.assert_array_equal(a.value, [10.0])
    np.testing.assert_array_equal(b.value, [11.0])


def test_update_dtype_is_cast_same_kind():
    w = sg.shared(np.ones(3, "float32"), name="w")
    lr = sg.scalar("lr")  # float64
    f = sg.function([lr], updates={w: w - lr * 2.0})
    f(0.25)
    assert w.value.dtype == np.float32
    np.testing.assert_allclose(w.value, 0.5)


def test_update_must_target_shared_and_match_shape():
    x, W, y = _linear()
    with pytest.raises(TypeError, match="shared"):
        sg.function([x], updates={x: x})
    with pytest.raises(ValueError, match="'W'"):
        sg.function([x], updates={W: sg.constant(np.zeros((2, 3)))})


def test_shared_value_assignment_is_checked():
    W = sg.shared(np.zeros((2, 2), "float32"), name="W")
    with pytest.raises(ValueError, match="shape"):
        W.value = np.zeros((3, 2))
    with pytest.raises(TypeError, match="W"):
        W.value = np.array([["a", "b"], ["c", "d"]])
    W.value = np.ones((2, 2))  # float64 -> float32 is same_kind
    assert W.value.dtype == np.float32


# ---- validation ----------------------------------------------------------------------

def test_wrong_argument_count_names_inputs():
    x, W, y = _linear()
    f = sg.function([x], y)
    with pytest.raises(TypeError, match=r"takes 1 arguments \(x\), got 2"):
        f(np.ones((1, 3)), 1)


def test_static_shape_mismatch_names_input_and_shapes():
    x, W, y = _linear()
    f = sg.function([x], y)
    with pytest.raises(ValueError, match=r"'x'.*\[batch, 3\].*\(2, 4\)"):
        f(np.ones((2, 4)))
    with pytest.raises(ValueError, match="'x' expects 2 dimensions"):
        f(np.ones(3))


def test_named_dimensions_must_agree_across_inputs():
    x = sg.tensor("x", shape=("n", 2))
    t = sg.tensor("t", shape=("n",))
    f = sg.function([x, t], x.sum(axis=1) - t)
    f(np.ones((3, 2)), np.ones(3))
    with pytest.raises(ValueError, match="'n' is 3 in input 'x' but 4 in input 't'"):
        f(np.ones((3, 2)), np.ones(4))


def test_unknown_dims_must_match_at_run_time():
    a = sg.tensor("a", shape=(None,))
    b = sg.tensor("b", shape=(None,))
    f = sg.function([a, b], a + b)
    np.testing.assert_array_equal(f(np.ones(3), np.ones(3)), 2 * np.ones(3))
    with pytest.raises(ValueError, match="do not match"):
        f(np.ones(3), np.ones(1))  # NumPy would broadcast; symgrad refuses


@pytest.mark.parametrize("bad", ["text", np.array(["a", "b", "c"]), np.array([object(), 1, 2],
                                                                              dtype=object)])
def test_strings_and_objects_are_refused(bad):
    v = sg.vector("v", 3)
    f = sg.function([v], v * 2)
    with pytest.raises(TypeError, match="'v'"):
        f(bad)


def test_float_data_into_integer_input_is_refused():
    i = sg.vector("i", 3, dtype="int64")
    f = sg.function([i], i * 2)
    with pytest.raises(TypeError, match="'i' expects int64, got float64"):
        f(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(f(np.array([1, 2, 3], "int32")), [2, 4, 6])


def test_float64_into_float32_is_cast():
    x, W, y = _linear("float32")
    f = sg.function([x], y)
    out = f(np.ones((2, 3), "float64"))
    assert out.dtype == np.float32


def test_missing_input_is_a_clear_error():
    x, W, y = _linear()
    z = sg.tensor("z", shape=(3,))
    with pytest.raises(sg.MissingInputError, match="'z'"):
        sg.function([x], y + z.sum())


def test_inputs_must_be_input_variables():
    x, W, y = _linear()
    with pytest.raises(TypeError, match="shared"):
        sg.function([x, W], y)
    with pytest.raises(TypeError, match="computed"):
        sg.function([y], y * 2)
    with pytest.raises(ValueError, match="twice"):
        sg.function([x, x], y)


def test_keyword_arguments_by_input_name():
    a, b = sg.scalar("a"), sg.scalar("b")
    f = sg.function([a, b], a - b)
    assert float(f(b=1.0, a=3.0)) == 2.0


# ---- atomicity and aliasing ----------------------------------------------------------

def test_failing_call_changes_no_shared_value():
    a = sg.tensor("a", shape=(None,))
    b = sg.tensor("b", shape=(None,))
    w = sg.shared(np.zeros(3), name="w")
    v = sg.shared(np.ones(3), name="v")
    f = sg.function([a, b], (a + b).sum(), updates={w: w + 1, v: v * 2})
    before = (w.value.copy(), v.value.copy())
    with pytest.raises(ValueError):
        f(np.ones(3), np.ones(2))
    np.testing.assert_array_equal(w.value, before[0])
    np.testing.assert_array_equal(v.value, before[1])


def test_check_finite_refuses_updates():
    x = sg.vector("x", 2)
    w = sg.shared(np.ones(2), name="w")
    f = sg.function([x], (w * x).sum(), updates={w: w / x}, check_finite=True)
    with pytest.raises(FloatingPointError, match="'w'"):
        with np.errstate(divide="ignore"):
            f(np.array([0.0, 1.0]))
    np.testing.assert_array_equal(w.value, [1.0, 1.0])
    with pytest.raises(FloatingPointError, match="'x'"):
        f(np.array([np.nan, 1.0]))
    f(np.array([2.0, 1.0]))
    np.testing.assert_array_equal(w.value, [0.5, 1.0])


def test_nan_propagates_without_check_finite():
    x = sg.vector("x", 2)
    with np.errstate(invalid="ignore"):
        out = sg.function([x], sg.log(x))(np.array([-1.0, 1.0]))
    assert np.isnan(out[0]) and out[1] == 0.0


def test_inputs_never_modified_and_outputs_do_not_alias_shared():
    x = sg.vector("x", 3)
    w = sg.shared(np.ones(3), name="w")
    f = sg.function([x], [w, w.T, x, x * 1.0], updates={w: w + x})
    data = np.array([1.0, 2.0, 3.0])
    keep = data.copy()
    out = f(data)
    np.testing.assert_array_equal(data, keep)
    for o in out:
        assert not np.shares_memory(o, w.value)
        assert not np.shares_memory(o, data)
    np.testing.assert_array_equal(out[0], np.ones(3))  # the old value, not the new


def test_output_that_is_also_an_update_does_not_alias():
    w = sg.shared(np.ones(2), name="w")
    new = w * 2
    f = sg.function([], new, updates={w: new})
    out = f()
    assert not np.shares_memory(out, w.value)


def test_concurrent_calls_are_correct():
    x = sg.tensor("x", shape=("n", 8))
    W = sg.shared(np.random.default_rng(0).normal(size=(8, 8)), name="W")
    f = sg.function([x], sg.tanh(x @ W).sum(axis=1))
    rng = np.random.default_rng(1)
    data = [rng.normal(size=(5, 8)) for _ in range(8)]
    expect = [np.tanh(d @ W.value).sum(axis=1) for d in data]
    errors = []

    def work(k):
        for _ in range(50):
            out = f(data[k])
            if not np.allclose(out, expect[k]):
                errors.append(k)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


# ---- source, tracebacks, caching -----------------------------------------------------

def test_traceback_points_into_generated_source():
    a = sg.tensor("a", shape=(None,))
    b = sg.tensor("b", shape=(None,))
    f = sg.function([a, b], a * b, name="mul_step")
    try:
        f(np.ones(2), np.ones(3))
    except ValueError:
        text = traceback.format_exc()
    assert "<symgrad mul_step" in text
    assert "_same_size(" in text  # the generated line itself is shown


def test_source_names_come_from_user_names():
    x = sg.tensor("x", shape=("batch", 4))
    W1 = sg.shared(np.ones((4, 3)), name="W1")
    h1 = sg.relu(x @ W1)
    h1.name = "h1"
    loss = sg.mean(h1)
    g = sg.grad(loss, W1)
    f = sg.function([x], loss, updates={W1: W1 - 0.1 * g})
    src = f.source
    assert "def f(x, W1" in src  # then the workspace, when the code uses one
    assert "h1 = " in src and "d_W1 = " in src
    assert "# ---- backward" in src and "vjp of" in src


def test_same_graph_compiles_once():
    x = sg.vector("x", 4)
    y = sg.exp(x).sum() * 3
    f1 = sg.function([x], y, name="cached")
    f2 = sg.function([x], y, name="cached")
    assert f2.cache_hit and f1._compiled is f2._compiled
    # the same structure with other shared objects reuses the code, with its own values
    w1 = sg.shared(np.ones(2), name="w")
    w2 = sg.shared(np.full(2, 5.0), name="w")
    g1 = sg.function([], (w1 * 2).sum(), name="g")
    g2 = sg.function([], (w2 * 2).sum(), name="g")
    assert g2.cache_hit
    assert float(g1()) == 4.0 and float(g2()) == 20.0


@pytest.mark.parametrize("evil", ['x"""\nimport os\nos.system("echo pwned")\n"""',
                                  "a\nb = 1", "import os; os.remove('x')", "1abc", "class",
                                  "np", "__import__('os')", "\\", "'", "é ü"])
def test_no_user_name_puts_code_into_the_source(evil):
    x = sg.tensor(evil, shape=(evil, 2))
    w = sg.shared(np.ones(2), name=evil)
    y = (x * w).sum()
    y.name = evil
    f = sg.function([x], {evil: y}, updates={w: w + 1}, name="safe")
    tree = ast.parse(f.source)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            assert [a.name for a in node.names] in (["numpy"], ["base64"])
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id.startswith("_") or node.func.id in ("len",), node.func.id
        if isinstance(node, ast.Name):
            assert node.id.isidentifier() and node.id not in ("os", "__import__", "eval")
    out = f(np.ones((3, 2)))
    assert float(out[evil]) == 6.0


@pytest.mark.parametrize("target", ["numpy", "plain", "array_api"])
def test_a_value_named_like_a_helper_does_not_hide_it(target):
    names = ["_erf", "_sigmoid", "_erfcx", "_same_size"]
    x = [sg.vector(n) for n in names]
    outs = [sg.erf(x[0]), sg.sigmoid(x[1]) + sg.erfc(x[2]) + x[3]]
    f = sg.function(x, outs, target=target)
    got = f(*[np.full(2, 0.5)] * 4)
    np.testing.assert_allclose(got[0], 0.5204998778130465, rtol=1e-15)
    np.testing.assert_allclose(got[1], 0.6224593312018546 + 0.4795001221869535 + 0.5,
                               rtol=1e-15)
