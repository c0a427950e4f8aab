"""Rich display (IPython's _repr_*_ protocol, called directly: no IPython needed)."""

import os
import pickle
import shutil
import subprocess
import sys

import numpy as np
import pytest

import symgrad as sg
from symgrad.display import DotSource, plain_source_html, source_html
from symgrad.ir.graph import toposort
from symgrad.printing import layers

needs_dot = pytest.mark.skipif(shutil.which("dot") is None,
                               reason="Graphviz's dot is not installed")


def _mlp():
    net = sg.nn.mlp([4, 5, 3], rng=0)                   # W1, b1, W2, b2
    x = sg.tensor("x", shape=("batch", 4))
    y = sg.tensor("y", shape=("batch",), dtype="int64")
    loss = sg.nn.cross_entropy(net(x), y)
    grads = sg.grad(loss, net.params)
    step = sg.function([x, y], {"loss": loss},
                       updates={p: p - 0.1 * g for p, g in zip(net.params, grads)},
                       name="step")
    return net, loss, grads, step


def test_to_dot_is_still_a_str_of_dot():
    net, loss, grads, step = _mlp()
    dot = sg.to_dot(step)
    assert isinstance(dot, str) and isinstance(dot, DotSource)
    assert dot.startswith('digraph "symgrad" {') and dot.rstrip().endswith("}")
    assert dot == str(dot) and (dot + "") == str(dot) and "->" in dot
    back = pickle.loads(pickle.dumps(dot))
    assert back == dot and isinstance(back, DotSource)


def test_layers_are_clusters_named_after_the_parameters():
    net, loss, grads, step = _mlp()
    roots = [loss] + list(grads)
    dot = sg.to_dot(roots)
    assert 'label="layer 1 (W1, b1)"' in dot and 'label="layer 2 (W2, b2)"' in dot
    layer = layers(toposort(roots))
    by = {n.id: n for n in toposort(roots)}
    relu = [n for n in by.values() if n.op.name == "relu"]
    assert relu and all(layer.get(n.id) == 1 for n in relu)       # activation of layer 1
    assert layer.get(loss.id) is None                              # the loss is in none
    assert all(layer.get(g.id) == layer[p.id] for g, p in zip(grads, net.params))
    assert {layer[p.id] for p in net.params} == {1, 2}
    x = sg.vector("x")                                            # no numbered names
    assert "cluster" not in sg.to_dot(sg.sum(sg.exp(x)))


@needs_dot
def test_dot_draws_as_svg_with_the_colours():
    net, loss, grads, step = _mlp()
    svg = sg.to_dot(step)._repr_svg_()
    assert svg.lstrip().startswith("<?xml") or "<svg" in svg[:400]
    assert "<svg" in svg and "</svg>" in svg
    assert "#dbe9f6" in svg and "#fde2c8" in svg       # forward blue, gradient orange
    assert "layer 1 (W1, b1)" in svg and "relu" in svg


def test_without_graphviz_the_dot_shows_as_text(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))            # no `dot` on PATH
    dot = sg.to_dot(sg.sum(sg.vector("x") * 2))
    assert dot._repr_svg_() is None                      # the notebook falls back to text
    assert "digraph" in repr(dot)


def test_function_html_shows_signature_passes_lowerings_source():
    net, loss, grads, step = _mlp()
    page = step._repr_html_()
    assert "step(x: f64[batch, 4], y: i64[batch])" in page
    assert "&#x27;loss&#x27;: f64[]" in page
    assert "updates: <code>W1: f64[4, 5]</code>" in page
    assert "<td>cse</td>" in page and "merged" in page
    assert "in-place updates" in page and "workspace arrays" in page
    assert "<span style=" in page                      # Pygments highlighting
    if shutil.which("dot"):
        assert "<svg" in page and "<?xml" not in page


def test_source_html_fallback_is_escaped():
    text = "x = a < b  # <tag> & more"
    assert plain_source_html(text) == "<pre>x = a &lt; b  # &lt;tag&gt; &amp; more</pre>"
    highlighted = source_html(text)
    assert "<tag>" not in highlighted and "&lt;" in highlighted


def test_var_html_shows_type_origin_and_graph():
    x = sg.tensor("x<1>", shape=("batch", 3))
    line = sys._getframe().f_lineno + 1
    h = sg.tanh(x * 2.0)
    page = h._repr_html_()
    assert "f64[batch, 3]" in page and "tanh" in page
    assert f"test_display.py:{line}" in page
    assert "x<1>" not in page and "x&lt;1&gt;" in page
    if shutil.which("dot"):
        assert "<svg" in page
    else:
        assert "<pre>" in page
    assert "input" in x._repr_html_()


def test_no_ipython_import_at_run_time():
    code = ("import sys, numpy as np, symgrad as sg\n"
            "x = sg.vector('x')\n"
            "f = sg.function([x], sg.sum(x * x))\n"
            "f._repr_html_(); (x * 2)._repr_html_(); sg.to_dot(f)._repr_svg_()\n"
            "str(f.profile(np.ones(3), repeat=1)); f.profile(np.ones(3), repeat=1)._repr_html_()\n"
            "assert 'IPython' not in sys.modules, 'IPython was imported'\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env={**os.environ})
    assert proc.returncode == 0, proc.stderr


def test_shared_variable_html():
    W = sg.shared(np.zeros((2, 3)), name="W7")
    page = W._repr_html_()
    assert "shared variable" in page and "W7" in page and "f64[2, 3]" in page
