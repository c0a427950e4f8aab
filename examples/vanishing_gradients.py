#!/usr/bin/env python
"""Vanishing gradients: the gradient norm of every layer of a deep sigmoid network beside
a ReLU one.

Backpropagation multiplies the cotangent by sigma'(a) <= 1/4 at every sigmoid layer, so in
a deep sigmoid network the gradients of the first layers are orders of magnitude smaller
than those of the last ones, and those layers barely learn. ReLU passes the gradient
unchanged where a unit is active (with He initialisation keeping the scale), so its
layers receive gradients of similar size.

Both networks have the same depth and width and see the same batch (Gaussian inputs,
random labels, softmax cross-entropy), at initialisation. The script prints
||dL/dWk|| for every layer k and the ratio of the first layer's norm to the last one's.

    python examples/vanishing_gradients.py
    python examples/vanishing_gradients.py --depth 20 --width 32
"""

from __future__ import annotations

import argparse

import numpy as np

import symgrad as sg


def gradient_norms(activation: str, depth: int, width: int, X, y, seed: int) -> list[float]:
    """||dL/dWk|| for k = 1..depth+1 at initialisation (Glorot for sigmoid, He for ReLU)."""
    init = "he_normal" if activation == "relu" else "glorot_normal"
    sizes = [X.shape[1]] + [width] * depth + [int(y.max()) + 1]
    net = sg.nn.mlp(sizes, activation=activation, init=init, rng=seed)
    x = sg.matrix("x")
    t = sg.vector("t", dtype="int64")
    loss = sg.nn.cross_entropy(net(x), t)
    weights = [layer.W for layer in net.layers]
    grads = sg.grad(loss, weights)
    f = sg.function([x, t], [sg.sqrt(sg.sum(g * g)) for g in grads], name=f"{activation}_norms")
    return [float(v) for v in f(X, y)]


def parse_args(argv):
    p = argparse.ArgumentParser(description="Gradient norm per layer, sigmoid vs ReLU.")
    p.add_argument("--depth", type=int, default=10, help="hidden layers")
    p.add_argument("--width", type=int, default=64, help="units per hidden layer")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    return p.parse_args(argv)


def main(argv=None) -> dict:
    """Print the table; returns ``{"sigmoid": [norms], "relu": [norms]}``."""
    args = parse_args(argv)
    say = (lambda *a: None) if args.quiet else print
    rng = np.random.default_rng(args.seed)
    X = rng.normal(size=(args.batch, 32))
    y = rng.integers(0, 10, size=args.batch)
    norms = {act: gradient_norms(act, args.depth, args.width, X, y, args.seed)
             for act in ("sigmoid", "relu")}
    say(f"{args.depth} hidden layers of {args.width} units; ||dL/dWk|| at initialisation")
    say(f"{'layer':>6} {'sigmoid':>12} {'relu':>12}")
    for k, (s, r) in enumerate(zip(norms["sigmoid"], norms["relu"]), start=1):
        say(f"{'W' + str(k):>6} {s:12.3e} {r:12.3e}")
    for act in ("sigmoid", "relu"):
        ratio = norms[act][0] / norms[act][-1]
        say(f"{act:>8}: first layer / last layer = {ratio:.2e}")
    return norms


if __name__ == "__main__":
    main()
