#!/usr/bin/env python
"""Vanishing gradients: the gradient norm of every layer of a deep sigmoid network beside
a ReLU one (and a tanh one).

Backpropagation multiplies the cotangent by sigma'(a) <= 1/4 at every sigmoid layer, so in
a deep sigmoid network the gradients of the first layers are orders of magnitude smaller
than those of the last ones, and those layers barely learn. ReLU passes the gradient
unchanged where a unit is active (with He initialisation keeping the scale), so its
layers receive gradients of similar size.

Both networks have the same depth and width and see the same batch (Gaussian inputs,
random labels, softmax cross-entropy), at initialisation. The script prints
||dL/dWk|| for every layer k and the ratio of the first layer's norm to the last one's,
writes the generated source of each network's gradient-norm function and, when
matplotlib is installed (``pip install -e ".[examples]"``), the figure
``vanishing_gradients.png`` (norm per layer, log scale) next to them.

    python examples/vanishing_gradients.py
    python examples/vanishing_gradients.py --depth 20 --width 32 --out /tmp/vg
"""

from __future__ import annotations

import argparse
import os

import numpy as np

import symgrad as sg


ACTIVATIONS = ("sigmoid", "tanh", "relu")
DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")
FIGSIZE, DPI = (8.0, 4.5), 100          # the figure is 800 x 450 pixels


def gradient_norms(activation: str, depth: int, width: int, X, y, seed: int,
                   out: str | None = None) -> list[float]:
    """||dL/dWk|| for k = 1..depth+1 at initialisation (He for ReLU, Glorot otherwise);
    with ``out``, the generated source of the norms function is saved there."""
    init = "he_normal" if activation == "relu" else "glorot_normal"
    sizes = [X.shape[1]] + [width] * depth + [int(y.max()) + 1]
    net = sg.nn.mlp(sizes, activation=activation, init=init, rng=seed)
    x = sg.matrix("x")
    t = sg.vector("t", dtype="int64")
    loss = sg.nn.cross_entropy(net(x), t)
    weights = [layer.W for layer in net.layers]
    grads = sg.grad(loss, weights)
    f = sg.function([x, t], [sg.sqrt(sg.sum(g * g)) for g in grads], name=f"{activation}_norms")
    if out is not None:
        f.save(os.path.join(out, f"{activation}_norms.py"))
    return [float(v) for v in f(X, y)]


def plot(norms: dict, path: str, title: str) -> str | None:
    """Norm per layer, one line per activation (log scale), as a PNG; None without
    matplotlib."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=FIGSIZE, dpi=DPI)
    for act, values in norms.items():
        ax.semilogy(range(1, len(values) + 1), values, marker="o", label=act)
    ax.set_xlabel("layer k (1 = next to the input)")
    ax.set_ylabel("||dL/dWk|| at initialisation")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def parse_args(argv):
    p = argparse.ArgumentParser(description="Gradient norm per layer, sigmoid vs ReLU.")
    p.add_argument("--depth", type=int, default=10, help="hidden layers")
    p.add_argument("--width", type=int, default=64, help="units per hidden layer")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=DEFAULT_OUT,
                   help="folder for the generated sources and the figure "
                        "(default: %(default)s)")
    p.add_argument("--quiet", action="store_true")
    return p.parse_args(argv)


def main(argv=None) -> dict:
    """Print the table, write the sources and the figure; returns ``{"sigmoid": [norms],
    "tanh": [norms], "relu": [norms], "figure": path or None}``."""
    args = parse_args(argv)
    say = (lambda *a: None) if args.quiet else print
    rng = np.random.default_rng(args.seed)
    X = rng.normal(size=(args.batch, 32))
    y = rng.integers(0, 10, size=args.batch)
    os.makedirs(args.out, exist_ok=True)
    norms = {act: gradient_norms(act, args.depth, args.width, X, y, args.seed, args.out)
             for act in ACTIVATIONS}
    say(f"{args.depth} hidden layers of {args.width} units; ||dL/dWk|| at initialisation")
    say(f"{'layer':>6}" + "".join(f" {act:>12}" for act in ACTIVATIONS))
    for k, row in enumerate(zip(*(norms[act] for act in ACTIVATIONS)), start=1):
        say(f"{'W' + str(k):>6}" + "".join(f" {v:12.3e}" for v in row))
    for act in ACTIVATIONS:
        ratio = norms[act][0] / norms[act][-1]
        say(f"{act:>8}: first layer / last layer = {ratio:.2e}")
    figure = plot(norms, os.path.join(args.out, "vanishing_gradients.png"),
                  f"{args.depth} hidden layers of {args.width} units")
    if figure is None:
        say("matplotlib is not installed: no figure (pip install -e '.[examples]')")
    else:
        say(f"wrote {figure}")
    return {**norms, "figure": figure}


if __name__ == "__main__":
    main()
