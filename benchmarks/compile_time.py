"""Compile time of the fused MLP training step (build + grad + optimize + codegen).

Prints one row per depth: node counts before and after the optimizer, the seconds spent
building the graph and its gradient, compiling it, and the compile time per node (which
should stay roughly constant: the passes are linear in graph size).

    python benchmarks/compile_time.py [depths...]     # default: 1 10 100 1000
"""

from __future__ import annotations

import sys
import time

import numpy as np

import symgrad as sg


def build_step(layers: int, width: int = 16, n_in: int = 8, classes: int = 4):
    rng = np.random.default_rng(0)
    x = sg.tensor("x", shape=("batch", n_in))
    y = sg.tensor("y", shape=("batch",), dtype="int64")
    lr = sg.scalar("lr")
    dims = [n_in] + [width] * (layers - 1) + [classes]
    params, h = [], x
    for i in range(layers):
        W = sg.shared(rng.normal(size=(dims[i], dims[i + 1])) * 0.1, name=f"W{i + 1}")
        b = sg.shared(np.zeros(dims[i + 1]), name=f"b{i + 1}")
        params += [W, b]
        h = h @ W + b
        if i < layers - 1:
            h = sg.relu(h)
    loss = sg.nn.cross_entropy(h, y)
    grads = sg.grad(loss, params)
    return [x, y, lr], loss, {p: p - lr * g for p, g in zip(params, grads)}


def measure(layers: int) -> dict:
    t0 = time.perf_counter()
    inputs, loss, updates = build_step(layers)
    t1 = time.perf_counter()
    step = sg.function(inputs, {"loss": loss}, updates=updates, name=f"step{layers}")
    t2 = time.perf_counter()
    st = step.stats
    return {"layers": layers, "before": st["nodes_before"], "after": st["nodes_after"],
            "matmul": st["ops"].get("matmul", 0), "build": t1 - t0, "compile": t2 - t1,
            "passes": {r["name"]: r.get("seconds", 0.0) for r in st["passes"]}}


def main(depths) -> None:
    print(f"{'layers':>6} {'nodes':>7} {'after':>7} {'matmul':>6} {'build+grad s':>12} "
          f"{'compile s':>9} {'us/node':>8}")
    for layers in depths:
        r = measure(layers)
        per = 1e6 * r["compile"] / r["before"]
        print(f"{r['layers']:>6} {r['before']:>7} {r['after']:>7} {r['matmul']:>6} "
              f"{r['build']:>12.3f} {r['compile']:>9.3f} {per:>8.1f}")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [1, 10, 100, 1000])
