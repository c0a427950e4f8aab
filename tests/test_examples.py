"""The examples run (quickly where they train) and do what they claim."""

import importlib.util
import os

import numpy as np
import pytest

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


def _load(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}",
                                                  os.path.join(EXAMPLES, f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_xor_learns(capsys):
    result = _load("xor").main([])
    assert result["solved"]
    assert result["loss"] < 0.05
    np.testing.assert_array_equal(result["probabilities"] > 0.5, [False, True, True, False])
    assert "XOR learned" in capsys.readouterr().out


def test_xor_notes_solution_is_exact():
    result = _load("xor").main(["--activation", "relu", "--steps", "1", "--quiet"])
    np.testing.assert_array_equal(result["notes_solution"], [0.0, 1.0, 1.0, 0.0])


def test_vanishing_gradients_sigmoid_vs_relu(capsys):
    norms = _load("vanishing_gradients").main(["--depth", "8", "--width", "32"])
    sig, relu = norms["sigmoid"], norms["relu"]
    assert len(sig) == len(relu) == 9
    assert sig[0] / sig[-1] < 1e-3          # sigmoid: the first layers get almost nothing
    assert relu[0] / relu[-1] > 0.05        # ReLU: comparable sizes
    assert all(a < b for a, b in zip(sig, sig[1:]))  # shrinking toward the input
    out = capsys.readouterr().out
    assert "W1" in out and "W9" in out and "sigmoid" in out and "relu" in out


def test_inspect_graph(tmp_path, capsys):
    result = _load("inspect_graph").main(["--out", str(tmp_path)])
    for key, value in result["values"].items():
        np.testing.assert_allclose(value, result["by_hand"][key], rtol=1e-14)
    out = capsys.readouterr().out
    assert "(grad)" in out and "digraph" in out and "def f_and_grad" in out
    before = open(result["paths"]["before"]).read()
    after = open(result["paths"]["after"]).read()
    assert before.count(" -> ") > after.count(" -> ")  # the passes shrank the graph
    stats = result["function"].stats
    assert stats["nodes_after"] < stats["nodes_before"]


def test_adversarial_accuracy_falls():
    pytest.importorskip("sklearn")
    result = _load("adversarial").main(["--epochs", "5", "--eps", "0", "0.05", "0.1", "0.2",
                                        "--quiet"])
    adv, rnd = result["adversarial"], result["random"]
    assert adv[0] > 0.9
    assert all(a > b for a, b in zip(adv, adv[1:]))      # falls as eps grows
    assert adv[-1] < 0.3
    assert all(a < r for a, r in zip(adv[1:], rnd[1:]))  # worse than noise of the same size
    assert adv[0] == rnd[0]


def test_train_mlp_quick_run_writes_its_files(tmp_path, capsys):
    pytest.importorskip("sklearn")
    result = _load("train_mlp").main(["--epochs", "2", "--out", str(tmp_path),
                                      "--optimizer", "momentum", "--dropout", "0.1"])
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if ln.strip()[:1].isdigit()]
    assert len(lines) == 2 and lines[0].split()[0] == "1"   # one line per epoch
    assert "%" in lines[0] and lines[0].rstrip().endswith("s")
    source = open(tmp_path / "train_step.py").read()
    assert "def train_step(" in source and "d_W1" in source
    assert open(tmp_path / "train_step.dot").read().startswith("digraph")
    assert result["test_accuracy"] > 0.8


@pytest.mark.parametrize("argv", [[], ["--optimizer", "adam", "--dropout", "0.2"]],
                         ids=["default", "adam-dropout"])
def test_train_mlp_reaches_97_percent(tmp_path, argv):
    pytest.importorskip("sklearn")
    result = _load("train_mlp").main(argv + ["--out", str(tmp_path), "--quiet"])
    assert result["test_accuracy"] >= 0.97
    assert result["seconds"] < 60


def test_train_dask_quick_run_matches_the_local_step(capsys):
    pytest.importorskip("distributed")
    result = _load("train_dask").main(["--rows", "2000", "--features", "16", "--hidden", "32",
                                       "--batch-size", "500", "--epochs", "1"])
    assert set(result) == {"digits", "synthetic"}
    for r in result.values():
        assert r["max_rel_diff"] < 1e-12 and r["stats"]["failed_attempts"] == 0
    out = capsys.readouterr().out
    assert "ms data-parallel vs" in out and "epoch 1" in out
