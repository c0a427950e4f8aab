"""Every node remembers the user's file and line that built it; errors name it."""

import inspect
import os

import numpy as np
import pytest

import symgrad as sg
from symgrad.ir.graph import toposort

HERE = os.path.basename(__file__)


def _line() -> int:
    """The line number of the caller's next line."""
    return inspect.currentframe().f_back.f_lineno + 1


def _notes(exc) -> str:
    return "\n".join(getattr(exc, "__notes__", [])) + str(exc)


def test_gather_out_of_range_names_the_users_line():
    logits = sg.tensor("logits", shape=("batch", 3))
    y = sg.tensor("y", shape=("batch",), dtype="int64")
    line = _line()
    picked = logits[sg.arange(logits.shape[0]), y]
    loss = -sg.mean(picked)
    f = sg.function([logits, y], [loss, sg.grad(loss, logits)])
    assert picked.loc[:2] == (__file__, line)
    with pytest.raises(IndexError) as info:
        f(np.zeros((2, 3)), np.array([0, 7]))
    text = _notes(info.value)
    assert f"{HERE}:{line}" in text
    assert "raised in the generated function 'f', line" in text
    assert "_check_index(y" in text             # the generated line itself
    assert "computing check_index" in text      # the run-time check of the labels
    # the traceback still ends in the generated source
    tb = info.traceback[-1]
    assert str(tb.path).startswith("<symgrad f ")


def test_named_size_mismatch_at_run_time_names_the_users_line():
    a = sg.tensor("a", shape=(None,))
    b = sg.tensor("b", shape=(None,))
    line = _line()
    total = a * 2.0 + b
    f = sg.function([a, b], sg.sum(total))
    with pytest.raises(ValueError, match="do not match") as info:
        f(np.ones(3), np.ones(4))
    text = _notes(info.value)
    assert f"{HERE}:{line}" in text and "computing add" in text


def test_the_general_call_path_names_the_users_line_too():
    table = sg.matrix("table")
    rows = sg.vector("rows", dtype="int64")
    line = _line()
    picked = table[rows] * 2.0
    f = sg.function([table, rows], sg.sum(picked))
    with pytest.raises(IndexError) as info:
        f(table=np.zeros((2, 2)), rows=[0, 3])    # keywords and a list: the general path
    assert f"{HERE}:{line}" in _notes(info.value)


def test_gradient_nodes_name_the_forward_node_and_the_grad_call():
    x = sg.vector("x")
    idx = sg.tensor("idx", shape=("k",), dtype="int64")
    fwd_line = _line()
    g = x[idx]
    cost = sg.sum(g * g)
    grad_line = _line()
    d = sg.grad(cost, x)
    assert g.loc[1] == fwd_line and d.loc[1] == grad_line
    grad_nodes = [n for n in toposort([d]) if n.is_grad]
    assert grad_nodes and all(n.loc[1] == grad_line for n in grad_nodes)
    text = sg.debugprint(d, show_location=True)
    assert f"{HERE}:{grad_line}" in text and f"{HERE}:{fwd_line}" in text
    from symgrad.diagnostics import node_origin
    origin = node_origin(d)
    assert f"{HERE}:{fwd_line}" in origin and f"{HERE}:{grad_line}" in origin


def test_locations_survive_the_optimizer():
    x = sg.matrix("x")
    line = _line()
    out = sg.log(sg.softmax(x, axis=-1))       # rewritten to log_softmax by the passes
    f = sg.function([x], sg.sum(out))
    before = {n.op.name for n in toposort([out])}
    nodes = [n for n in toposort(f.graph) if not n.op.leaf and n.op.name != "sum"]
    after = {n.op.name for n in nodes}
    assert "divide" in before and "divide" not in after    # the passes rebuilt the graph
    assert nodes and all(n.loc[:2] == (__file__, line) for n in nodes)


def test_build_time_error_adds_the_location():
    a = sg.matrix("a")
    b = sg.tensor("b", shape=(4, 5))
    line = _line() + 1
    with pytest.raises(sg.ShapeError) as info:
        sg.tensor("c", shape=(2, 3)) @ b
    text = _notes(info.value)
    assert "'c' f64[2, 3]" in text and f"{HERE}:{line}" in text
    del a


def test_errors_outside_generated_code_get_no_note():
    x = sg.vector("x")
    f = sg.function([x], sg.sum(x))
    with pytest.raises(TypeError) as info:
        f("not numbers")
    assert "symgrad: raised in the generated function" not in _notes(info.value)


def test_a_failed_call_still_changes_no_shared_value():
    W = sg.shared(np.ones(3), name="W")
    idx = sg.tensor("idx", shape=(2,), dtype="int64")
    loss = sg.sum(W[idx])
    f = sg.function([idx], loss, updates={W: W - 0.1 * sg.grad(loss, W)})
    with pytest.raises(IndexError) as info:
        f(np.array([0, 5]))
    assert f"{HERE}:" in _notes(info.value)
    np.testing.assert_array_equal(W.value, np.ones(3))
