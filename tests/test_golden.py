"""Golden file: the generated source of a small MLP training step, so that a change to the
code generator's output (readability included) is seen in review.

Regenerate after an intended change with:  SYMGRAD_UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py
"""

import os
from pathlib import Path

import numpy as np
import pytest

import symgrad as sg

GOLDEN = Path(__file__).parent / "golden" / "small_mlp_step.py"


def small_mlp_step():
    rng = np.random.default_rng(0)
    x = sg.tensor("x", shape=("batch", 4), dtype="float32")
    y = sg.tensor("y", shape=("batch",), dtype="int64")
    lr = sg.scalar("lr", dtype="float32")
    W1 = sg.shared(rng.normal(size=(4, 8)).astype("float32"), name="W1")
    b1 = sg.shared(np.zeros(8, "float32"), name="b1")
    W2 = sg.shared(rng.normal(size=(8, 3)).astype("float32"), name="W2")
    b2 = sg.shared(np.zeros(3, "float32"), name="b2")
    h1 = sg.relu(x @ W1 + b1)
    h1.name = "h1"
    logits = h1 @ W2 + b2
    logits.name = "logits"
    loss = sg.nn.cross_entropy(logits, y)
    params = [W1, b1, W2, b2]
    grads = sg.grad(loss, params)
    return sg.function([x, y, lr], {"loss": loss},
                       updates={p: p - lr * g for p, g in zip(params, grads)},
                       name="train_step")


def test_generated_source_matches_golden_file():
    source = small_mlp_step().source
    if os.environ.get("SYMGRAD_UPDATE_GOLDEN"):
        GOLDEN.write_text(source, encoding="utf-8")
    expected = GOLDEN.read_text(encoding="utf-8")
    assert source == expected, (
        "generated source changed; review the diff and regenerate with "
        "SYMGRAD_UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py")


def test_golden_module_runs_and_trains():
    namespace: dict = {}
    exec(compile(GOLDEN.read_text(encoding="utf-8"), str(GOLDEN), "exec"), namespace)
    step = small_mlp_step()
    assert "train_step" in namespace
    rng = np.random.default_rng(1)
    xb = rng.normal(size=(16, 4)).astype("float32")
    yb = rng.integers(0, 3, 16)
    losses = [float(step(xb, yb, 0.5)["loss"]) for _ in range(30)]
    assert losses[-1] < 0.6 * losses[0]


# --- the plain and the fast rendering of the same programs ---------------------------------
# The digits step of examples/train_mlp.py (SGD, default flags) and a tanh/sigmoid MLP with
# momentum: each program's plain rendering (f.plain_source, what target="plain" runs) and
# its fast rendering (f.source of the default target), side by side in tests/golden/.

def digits_step():
    import argparse
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "train_mlp", Path(__file__).parent.parent / "examples" / "train_mlp.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    args = argparse.Namespace(hidden=128, seed=0, dropout=0.0, optimizer="sgd",
                              weight_decay=0.0)
    return module.build(args)[1]


def tanh_sigmoid_momentum_step():
    x = sg.tensor("x", shape=("batch", 4))
    t = sg.tensor("t", shape=("batch", 2))
    W1 = sg.shared(np.full((4, 5), 0.1), name="W1")
    b1 = sg.shared(np.zeros(5), name="b1")
    W2 = sg.shared(np.full((5, 2), 0.1), name="W2")
    b2 = sg.shared(np.zeros(2), name="b2")
    h1 = sg.tanh(x @ W1 + b1)
    h1.name = "h1"
    out = sg.sigmoid(h1 @ W2 + b2)
    out.name = "out"
    loss = sg.nn.mse(out, t)
    updates = sg.optim.momentum(loss, [W1, b1, W2, b2], lr=0.1, beta=0.9)
    return sg.function([x, t], {"loss": loss}, updates=updates, name="train_step")


RENDERINGS = {
    "digits_step": digits_step,
    "tanh_sigmoid_momentum_step": tanh_sigmoid_momentum_step,
}


@pytest.mark.parametrize("which", ["plain", "fast"])
@pytest.mark.parametrize("program", sorted(RENDERINGS))
def test_plain_and_fast_renderings_match_golden_files(program, which):
    f = RENDERINGS[program]()
    source = f.plain_source if which == "plain" else f.source
    path = GOLDEN.parent / f"{program}.{which}.py"
    if os.environ.get("SYMGRAD_UPDATE_GOLDEN"):
        path.write_text(source, encoding="utf-8")
    assert source == path.read_text(encoding="utf-8"), (
        f"{path.name} changed; review the diff and regenerate with "
        "SYMGRAD_UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py")


@pytest.mark.parametrize("program", sorted(RENDERINGS))
def test_plain_golden_reads_plainly(program):
    text = (GOLDEN.parent / f"{program}.plain.py").read_text(encoding="utf-8")
    body = text.split("def train_step(", 1)[1]
    for trick in ("out=", "_ws", "_buf", "np.copyto", "np.dot(", ".reduce(", "_gemm"):
        assert trick not in body, trick
    assert "W1_new = " in body and "d_W1 = " in body
