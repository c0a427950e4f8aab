"""Inspection: debugprint, to_dot, to_networkx."""

import networkx as nx
import numpy as np
import pytest

import symgrad as sg


def _step():
    x = sg.tensor("x", shape=("batch", 3))
    W = sg.shared(np.ones((3, 2)), name="W")
    h = sg.tanh(x @ W)
    h.name = "h"
    loss = sg.mean(h * h)
    gW = sg.grad(loss, W)
    return x, W, h, loss, gW


def test_debugprint_tree_with_types_and_shared_references():
    x, W, h, loss, gW = _step()
    text = sg.debugprint(loss)
    lines = text.splitlines()
    assert lines[0].startswith("#1 mean")
    assert "tanh 'h' : f64[batch, 2]" in text
    assert "input x : f64[batch, 3]" in text and "shared W : f64[3, 2]" in text
    # h is used twice: printed once, then referenced
    assert sum(1 for ln in lines if "tanh 'h'" in ln) == 1
    assert any(ln.strip().startswith("└─ *") for ln in lines)


def test_debugprint_marks_gradient_nodes_and_accepts_functions():
    x, W, h, loss, gW = _step()
    assert "(grad)" in sg.debugprint(gW)
    f = sg.function([x], loss, updates={W: W - 0.1 * gW})
    text = sg.debugprint(f)
    assert "(grad)" in text and "mean" in text


def test_to_dot_colours_forward_and_gradient_nodes_differently():
    x, W, h, loss, gW = _step()
    dot = sg.to_dot([loss, gW])
    assert dot.startswith('digraph "symgrad" {') and dot.rstrip().endswith("}")
    assert "#dbe9f6" in dot and "#fde2c8" in dot  # forward blue, gradient orange
    assert "shape=invhouse" in dot and "shape=cylinder" in dot  # input, shared
    assert dot.count("->") >= 6


def test_to_dot_escapes_names():
    x = sg.tensor('x"; evil [label="', shape=(2,))
    dot = sg.to_dot(x * 2)
    assert '\\"' in dot


def test_to_networkx_attributes():
    x, W, h, loss, gW = _step()
    g = sg.to_networkx([loss, gW])
    assert isinstance(g, nx.DiGraph) and nx.is_directed_acyclic_graph(g)
    ops = {d["op"] for _, d in g.nodes(data=True)}
    assert {"matmul", "tanh", "mean", "input", "shared"} <= ops
    for _, d in g.nodes(data=True):
        assert {"op", "shape", "dtype", "grad"} <= set(d)
    assert any(d["grad"] for _, d in g.nodes(data=True))


def test_inspection_rejects_other_objects():
    with pytest.raises(TypeError, match="expected a variable"):
        sg.debugprint(42)
