#!/usr/bin/env python
"""Train a ReLU MLP on scikit-learn's handwritten digits with symgrad, in float32.

    python examples/train_mlp.py                                  # SGD, about 97-98% test
    python examples/train_mlp.py --optimizer adam --dropout 0.2
    python examples/train_mlp.py --epochs 5 --out /tmp/mlp_out
    python examples/train_mlp.py --plot                           # also train_mlp.png
    python examples/train_mlp.py --array-library torch            # PyTorch tensors (CUDA
    python examples/train_mlp.py --array-library cupy             #   where there is one), CuPy

The digits (8x8 images, 1797 of them) are split once into a training set and a held-out
test set (25%, stratified, fixed split). Every epoch visits the training set in shuffled
mini-batches; the compiled training step computes the loss, its gradients and the
optimizer's updates in one generated NumPy function. After training, the generated source
of that step (a standalone module, ``train_step.py``) and its graph in Graphviz DOT
(``train_step.dot``) are written to the output folder: read them to see the backward pass.
With ``--plot`` (matplotlib, ``pip install -e ".[examples]"``) the loss and accuracy
curves go next to them as ``train_mlp.png``. With ``--array-library`` the parameters and
the batches are arrays of that library (on its GPU where it has one) and the step is the
array-API rendering of the same program (docs/array_api.md).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

import symgrad as sg

DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")
DEFAULT_LR = {"sgd": 0.1, "momentum": 0.02, "adam": 0.002}
FIGSIZE, DPI = (10.0, 4.0), 100          # the figure is 1000 x 400 pixels


def load_data(seed: int = 0):
    """Digits scaled to [0, 1] as float32, split 75/25 (stratified)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    digits = load_digits()
    X = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y,
                                                        random_state=seed)
    # standardise each pixel with the training set's statistics
    mean, std = X_train.mean(axis=0), X_train.std(axis=0) + 0.1
    return (X_train - mean) / std, (X_test - mean) / std, y_train, y_test


def array_library(name: str, device: str | None):
    """``(like, to_array, to_numpy)`` for ``--array-library``: an empty array of that
    library on its device (CUDA where there is one, unless ``device`` says otherwise), and
    conversions of the batches to it and of predictions back to NumPy."""
    if name == "numpy":
        return None, np.asarray, np.asarray
    if name == "torch":
        import torch
        dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
        return (torch.zeros(0, device=dev), lambda a: torch.asarray(a, device=dev),
                lambda a: a.detach().cpu().numpy())
    if name == "cupy":
        import cupy
        return cupy.zeros(0), cupy.asarray, cupy.asnumpy
    import array_api_strict as xs          # "strict": the standard's reference arrays
    return xs.asarray(0.0), xs.asarray, np.from_dlpack


def build(args, like=None):
    """The network, the compiled training step and the compiled prediction function."""
    net = sg.nn.mlp([64, args.hidden, 10], activation="relu", rng=args.seed, dtype="float32",
                    like=like)
    x = sg.tensor("x", shape=("batch", 64), dtype="float32")
    y = sg.tensor("y", shape=("batch",), dtype="int64")
    lr = sg.scalar("lr", dtype="float32")
    stream = sg.random.RandomStream(args.seed)

    logits = net(x, dropout=args.dropout, rng=stream, training=True)
    loss = sg.nn.cross_entropy(logits, y)
    optimizer = {"sgd": sg.optim.sgd, "momentum": sg.optim.momentum,
                 "adam": sg.optim.adam}[args.optimizer]
    updates = optimizer(loss, net.params, lr=lr, weight_decay=args.weight_decay)
    train_step = sg.function([x, y, lr], {"loss": loss}, updates=updates, name="train_step")

    # inference: the same parameters, dropout off
    predict = sg.function([x], sg.argmax(net(x, training=False), axis=-1), name="predict")
    return net, train_step, predict


def accuracy(predict, X, y, to_array=np.asarray, to_numpy=np.asarray) -> float:
    return float(np.mean(to_numpy(predict(to_array(X))) == y))


def plot(history: dict, path: str, title: str) -> str | None:
    """Loss per epoch (left) and train/test accuracy (right) as a PNG; None without
    matplotlib."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    epochs = range(1, len(history["loss"]) + 1)
    fig, (left, right) = plt.subplots(1, 2, figsize=FIGSIZE, dpi=DPI)
    left.plot(epochs, history["loss"], marker="o")
    left.set_xlabel("epoch")
    left.set_ylabel("mean training loss")
    left.set_yscale("log")
    right.plot(epochs, history["train_accuracy"], marker="o", label="train")
    right.plot(epochs, history["test_accuracy"], marker="o", label="test")
    right.set_xlabel("epoch")
    right.set_ylabel("accuracy")
    right.legend()
    from matplotlib.ticker import MaxNLocator
    for ax in (left, right):
        ax.grid(True, alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(title)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--optimizer", choices=["sgd", "momentum", "adam"], default="sgd")
    p.add_argument("--dropout", type=float, default=0.0, metavar="RATE",
                   help="dropout rate on the hidden layer (0 = none)")
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--hidden", type=int, default=128, help="hidden units")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=None,
                   help="learning rate (default: %s)" % DEFAULT_LR)
    p.add_argument("--schedule", choices=["cosine", "constant"], default="cosine",
                   help="learning-rate schedule over the epochs")
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--out", default=DEFAULT_OUT,
                   help="folder for the generated source and DOT dump (default: %(default)s)")
    p.add_argument("--plot", action="store_true",
                   help="also write the loss and accuracy curves (train_mlp.png, matplotlib)")
    p.add_argument("--quiet", action="store_true", help="print the final line only")
    p.add_argument("--array-library", choices=["numpy", "torch", "cupy", "strict"],
                   default="numpy", help="the arrays the step runs on (target='array_api' "
                   "for other libraries; CUDA where torch or cupy has it)")
    p.add_argument("--device", default=None, help="torch device (default: cuda if available)")
    args = p.parse_args(argv)
    if not 0 <= args.dropout < 1:
        p.error("--dropout must be in [0, 1)")
    if args.epochs < 1:
        p.error("--epochs must be at least 1")
    if args.lr is None:
        args.lr = DEFAULT_LR[args.optimizer]
    return args


def main(argv=None) -> dict:
    """Train, print the per-epoch log, write the dumps; returns the final metrics."""
    args = parse_args(argv)
    X_train, X_test, y_train, y_test = load_data()
    like, to_array, to_numpy = array_library(args.array_library, args.device)
    start = time.perf_counter()
    net, train_step, predict = build(args, like)
    compile_s = time.perf_counter() - start
    say = (lambda *a: None) if args.quiet else print
    say(f"digits: {len(X_train)} train / {len(X_test)} test; MLP 64-{args.hidden}-10 ReLU, "
        f"{args.optimizer} lr={args.lr}, dropout={args.dropout}, batch {args.batch_size}, "
        f"float32, {args.array_library}"
        f"{'' if like is None else ' on ' + str(sg.backend.device(like))}; "
        f"compiled in {compile_s:.2f} s")
    say(f"{'epoch':>5} {'loss':>8} {'train acc':>9} {'test acc':>8} {'time':>7}")
    order = np.random.default_rng(args.seed)
    history: dict = {"loss": [], "train_accuracy": [], "test_accuracy": []}
    for epoch in range(1, args.epochs + 1):
        # cosine schedule: the learning rate (an input of the step) falls from lr to ~0
        lr = np.float32(args.lr * 0.5 * (1 + np.cos(np.pi * (epoch - 1) / args.epochs))
                        if args.schedule == "cosine" else args.lr)
        losses = [train_step(to_array(xb), to_array(yb), float(lr))["loss"]
                  for xb, yb in sg.nn.minibatches(X_train, y_train,
                                                  batch_size=args.batch_size, rng=order)]
        loss = float(np.mean([float(v) for v in losses]))
        train_acc = accuracy(predict, X_train, y_train, to_array, to_numpy)
        test_acc = accuracy(predict, X_test, y_test, to_array, to_numpy)
        for key, value in zip(history, (loss, train_acc, test_acc)):
            history[key].append(value)
        elapsed = time.perf_counter() - start
        say(f"{epoch:5d} {loss:8.4f} {train_acc:9.2%} {test_acc:8.2%} {elapsed:6.2f}s")
        if not np.isfinite(loss):
            print("the loss diverged; try a smaller --lr", file=sys.stderr)
            break

    os.makedirs(args.out, exist_ok=True)
    source_path = train_step.save(os.path.join(args.out, "train_step.py"))
    dot_path = os.path.join(args.out, "train_step.dot")
    with open(dot_path, "w", encoding="utf-8") as fh:
        fh.write(sg.to_dot(train_step))
    figure = None
    if args.plot:
        figure = plot(history, os.path.join(args.out, "train_mlp.png"),
                      f"MLP 64-{args.hidden}-10 on the digits, {args.optimizer}")
        say("matplotlib is not installed: no figure (pip install -e '.[examples]')"
            if figure is None else f"wrote {figure}")
    elapsed = time.perf_counter() - start
    print(f"final: test accuracy {test_acc:.2%}, train accuracy {train_acc:.2%}, "
          f"{elapsed:.1f} s; wrote {source_path} and {dot_path}")
    return {"test_accuracy": test_acc, "train_accuracy": train_acc, "loss": loss,
            "target": train_step.target, "params": [to_numpy(p.value) for p in net.params],
            "seconds": elapsed, "source": source_path, "dot": dot_path,
            "epochs": epoch, "history": history, "figure": figure}


if __name__ == "__main__":
    main()
