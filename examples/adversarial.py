#!/usr/bin/env python
"""Adversarial digits: perturb each pixel along the sign of the input gradient (FGSM).

After training an MLP on the digits (pixels in [0, 1]), differentiate the loss with
respect to the *input* instead of the weights and move every pixel by eps in the direction
that increases the loss:

    x_adv = clip(x + eps * sign(dL/dx), 0, 1)

(the fast gradient sign method of Goodfellow et al.). The whole attack, gradient
included, is one compiled symgrad function. The script prints the test accuracy against
eps, beside the accuracy under random +-eps noise of the same size: the gradient direction
does far more damage than noise.

    python examples/adversarial.py
    python examples/adversarial.py --eps 0 0.02 0.05 0.1 --epochs 20
"""

from __future__ import annotations

import argparse

import numpy as np

import symgrad as sg


def load_digits_01(seed: int = 0):
    """Digits with pixels in [0, 1] (float32), split 75/25 (stratified)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    digits = load_digits()
    X = (digits.data / 16.0).astype(np.float32)
    return train_test_split(X, digits.target.astype(np.int64), test_size=0.25,
                            stratify=digits.target, random_state=seed)


def parse_args(argv):
    p = argparse.ArgumentParser(description="FGSM: accuracy against perturbation size.")
    p.add_argument("--eps", type=float, nargs="+", default=[0.0, 0.02, 0.05, 0.1, 0.15, 0.2])
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    return p.parse_args(argv)


def main(argv=None) -> dict:
    """Train, attack; returns ``{"eps": [...], "adversarial": [...], "random": [...]}``
    (test accuracies)."""
    args = parse_args(argv)
    say = (lambda *a: None) if args.quiet else print
    X_train, X_test, y_train, y_test = load_digits_01()

    net = sg.nn.mlp([64, args.hidden, 10], rng=args.seed, dtype="float32")
    x = sg.tensor("x", shape=("batch", 64), dtype="float32")
    y = sg.tensor("y", shape=("batch",), dtype="int64")
    loss = sg.nn.cross_entropy(net(x), y)
    step = sg.function([x, y], loss, updates=sg.optim.adam(loss, net, lr=0.003),
                       name="train_step")
    order = np.random.default_rng(args.seed)
    for _ in range(args.epochs):
        for xb, yb in sg.nn.minibatches(X_train, y_train, batch_size=32, rng=order):
            step(xb, yb)

    # the attack: gradient with respect to the input, one step of size eps along its sign
    eps = sg.scalar("eps", dtype="float32")
    d_x = sg.grad(loss, x)
    x_adv = sg.clip(x + eps * sg.sign(d_x), 0.0, 1.0)
    x_adv.name = "x_adv"
    correct = sg.mean(sg.equal(sg.argmax(net(x_adv), axis=-1), y).astype("float32"))
    attack = sg.function([x, y, eps], correct, name="fgsm_accuracy")
    accuracy = sg.function([x, y], sg.mean(sg.equal(sg.argmax(net(x), axis=-1), y)
                                        .astype("float32")), name="accuracy")

    noise_sign = np.random.default_rng(args.seed + 1).choice([-1.0, 1.0], size=X_test.shape)
    adv_acc, rnd_acc = [], []
    say(f"{'eps':>6} {'FGSM acc':>9} {'noise acc':>9}")
    for e in args.eps:
        a = float(attack(X_test, y_test, e))
        r = float(accuracy(np.clip(X_test + e * noise_sign, 0, 1).astype(np.float32), y_test))
        adv_acc.append(a)
        rnd_acc.append(r)
        say(f"{e:6.3f} {a:9.2%} {r:9.2%}")
    return {"eps": list(args.eps), "adversarial": adv_acc, "random": rnd_acc}


if __name__ == "__main__":
    main()
