"""Golden file: the generated source of a small MLP training step, so that a change to the
code generator's output (readability included) is seen in review.

Regenerate after an intended change with:  SYMGRAD_UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py
"""

import os
from pathlib import Path

import numpy as np

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
