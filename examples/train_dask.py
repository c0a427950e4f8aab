#!/usr/bin/env python
"""Train an MLP data-parallel on Dask with ``sg.distributed.data_parallel``.

    python examples/train_dask.py                              # digits, then a synthetic set
    python examples/train_dask.py --dataset synthetic --rows 200000 --batch-size 20000
    python examples/train_dask.py --scheduler tcp://HOST:8786  # join a running cluster

By default a ``LocalCluster`` of ``--workers`` worker processes is started. Each training
step is split by the compiler: every worker computes its shard's partial sums of the loss
and the gradients, the driver adds them and applies the Adam updates once. The parameters
equal those of the same step run locally (to about 1e-15 in float64), which the script
checks at the end. Every epoch prints the loss and the time per step against the same
step run locally on the whole batch.

The digits (1797 images of 8x8) are far too small to gain from splitting: they show the
mechanics. The synthetic classification set (``--rows`` examples of ``--features``
features, a wide hidden layer) makes each step heavy enough for the split to pay on a
machine with spare cores, or on a real cluster.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import symgrad as sg


def digits():
    from sklearn.datasets import load_digits
    d = load_digits()
    X = d.data / 16.0
    X = (X - X.mean(axis=0)) / (X.std(axis=0) + 0.1)
    return X.astype(np.float64), d.target.astype(np.int64), 10


def synthetic(rows: int, features: int, classes: int = 10, seed: int = 0):
    """Gaussian clusters, one per class, with noise: a classification task of any size."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(classes, features)) * 0.15
    y = rng.integers(0, classes, size=rows)
    X = centers[y] + rng.normal(size=(rows, features))
    return X, y.astype(np.int64), classes


def build(n_in: int, hidden: int, classes: int, seed: int):
    net = sg.nn.mlp([n_in, hidden, hidden, classes], activation="relu", rng=seed)
    x = sg.tensor("x", shape=("batch", n_in))
    y = sg.tensor("y", shape=("batch",), dtype="int64")
    lr = sg.scalar("lr")
    logits = net(x)
    loss = sg.nn.cross_entropy(logits, y)
    accuracy = sg.mean(sg.equal(sg.argmax(logits, axis=-1), y).astype("float64"))
    step = sg.function([x, y, lr], {"loss": loss, "accuracy": accuracy},
                       updates=sg.optim.adam(loss, net, lr=lr), name="train_step")
    return net, step


def train(name, X, y, classes, client, args):
    print(f"\n== {name}: {X.shape[0]} examples, {X.shape[1]} features, {classes} classes, "
          f"batch {args.batch_size}")
    net, step = build(X.shape[1], args.hidden, classes, args.seed)
    ref_net, ref_step = build(X.shape[1], args.hidden, classes, args.seed)
    pstep = sg.distributed.data_parallel(step, client, dim="batch")
    print(f"   {pstep.shards} shards per batch, on {len(client.scheduler_info()['workers'])} "
          "workers")
    rng = np.random.default_rng(args.seed)
    for epoch in range(1, args.epochs + 1):
        order = rng.permutation(X.shape[0])
        t_split = t_local = 0.0
        losses, accs, steps = [], [], 0
        for lo in range(0, X.shape[0] - args.batch_size + 1, args.batch_size):
            idx = order[lo:lo + args.batch_size]
            xb, yb = X[idx], y[idx]
            t0 = time.perf_counter()
            out = pstep(xb, yb, args.lr)
            t1 = time.perf_counter()
            ref_step(xb, yb, args.lr)
            t2 = time.perf_counter()
            t_split += t1 - t0
            t_local += t2 - t1
            losses.append(float(out["loss"]))
            accs.append(float(out["accuracy"]))
            steps += 1
        print(f"   epoch {epoch}: loss {np.mean(losses):.4f}  accuracy {np.mean(accs):.3f}  "
              f"step {1e3 * t_split / steps:.2f} ms data-parallel vs "
              f"{1e3 * t_local / steps:.2f} ms local")
    worst = max(float(np.max(np.abs(p.value - q.value)) / np.max(np.abs(q.value)))
                for p, q in zip(net.params, ref_net.params))
    print(f"   parameters vs the local run: largest relative difference {worst:.1e}")
    return {"loss": float(np.mean(losses)), "accuracy": float(np.mean(accs)),
            "max_rel_diff": worst, "stats": dict(pstep.stats)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scheduler", help="address of a running scheduler, e.g. "
                        "tcp://HOST:8786 (default: start a LocalCluster)")
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster workers")
    parser.add_argument("--dataset", choices=["digits", "synthetic", "both"], default="both")
    parser.add_argument("--rows", type=int, default=40000, help="synthetic examples")
    parser.add_argument("--features", type=int, default=128, help="synthetic features")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=4000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=0.003)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from distributed import Client, LocalCluster
    cluster = None
    if args.scheduler:
        client = Client(args.scheduler)
    else:
        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    results = {}
    try:
        if args.dataset in ("digits", "both"):
            X, y, k = digits()
            dig = argparse.Namespace(**{**vars(args), "batch_size": min(args.batch_size,
                                                                          256)})
            results["digits"] = train("digits", X, y, k, client, dig)
        if args.dataset in ("synthetic", "both"):
            X, y, k = synthetic(args.rows, args.features, seed=args.seed)
            results["synthetic"] = train("synthetic", X, y, k, client, args)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return results


if __name__ == "__main__":
    main()
