"""sg.render: a real Graphviz run when `dot` is installed, and the error without it."""

import shutil

import numpy as np
import pytest

import symgrad as sg


def _step():
    x = sg.matrix("x")
    w = sg.shared(np.ones((3, 2)), name="w")
    loss = sg.sum(sg.tanh(x @ w))
    return sg.function([x], loss, updates={w: w - 0.1 * sg.grad(loss, w)}), loss


needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")


@needs_dot
@pytest.mark.parametrize("ext", ["svg", "png"])
def test_render_writes_an_image(tmp_path, ext):
    f, loss = _step()
    path = tmp_path / f"step.{ext}"
    assert sg.render(f, str(path)) == str(path)
    data = path.read_bytes()
    if ext == "svg":
        text = data.decode()
        assert "<svg" in text and "tanh" in text
    else:
        assert data.startswith(b"\x89PNG")


@needs_dot
def test_render_dot_text_and_explicit_format(tmp_path):
    _, loss = _step()
    path = tmp_path / "graph.out"
    sg.render(sg.to_dot(loss), str(path), format="svg")
    assert "<svg" in path.read_text()


@needs_dot
def test_render_reports_dot_failure(tmp_path):
    with pytest.raises(RuntimeError, match="dot failed"):
        sg.render("digraph { this is not dot", str(tmp_path / "bad.svg"))


def test_render_without_graphviz_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda *args, **kwargs: None)
    _, loss = _step()
    with pytest.raises(RuntimeError) as info:
        sg.render(loss, str(tmp_path / "g.svg"))
    msg = str(info.value)
    assert "Graphviz" in msg and "apt-get install graphviz" in msg and "brew" in msg
    assert not (tmp_path / "g.svg").exists()
