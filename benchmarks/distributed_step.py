#!/usr/bin/env python
"""Per-step cost of ``sg.distributed.data_parallel`` on a LocalCluster against the local step.

    python benchmarks/distributed_step.py                    # 2 workers, default sizes
    python benchmarks/distributed_step.py --workers 4 --batches 1024 8192 65536

For each batch size the same Adam training step of an MLP (float64) runs locally on the
whole batch and data-parallel on the cluster (the same batch every step, so the shards stay
on the workers and only the parameters travel). The table gives medians per step, the
overhead (data-parallel minus local; negative when splitting wins), the ratio, and the
bytes moved per step: the parameters the shard program reads, to every worker, plus the
partial sums, back from every worker. The last line names the smallest batch from which
the split step is faster than the local one on this machine (the break-even batch).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

import symgrad as sg


def build(n_in, hidden, classes, seed=0):
    net = sg.nn.mlp([n_in, hidden, hidden, classes], activation="relu", rng=seed)
    x = sg.tensor("x", shape=("batch", n_in))
    y = sg.tensor("y", shape=("batch",), dtype="int64")
    loss = sg.nn.cross_entropy(net(x), y)
    return sg.function([x, y], {"loss": loss}, updates=sg.optim.adam(loss, net, lr=1e-3),
                       name="train_step")


def median_time(fn, repeat, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batches", type=int, nargs="+",
                        default=[256, 1024, 4096, 16384, 65536])
    parser.add_argument("--features", type=int, default=128)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args(argv)

    from distributed import Client, LocalCluster
    cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                           dashboard_address=None)
    client = Client(cluster)
    rows = []
    try:
        print(f"MLP {args.features}-{args.hidden}-{args.hidden}-10, Adam, float64; "
              f"LocalCluster of {args.workers} worker processes (1 thread each); "
              f"{os.cpu_count()} cores")
        print(f"{'batch':>7} {'local ms':>9} {'split ms':>9} {'overhead ms':>12} "
              f"{'split/local':>11} {'MB out':>7} {'MB back':>8}")
        for n in args.batches:
            rng = np.random.default_rng(0)
            xb = rng.normal(size=(n, args.features))
            yb = rng.integers(0, 10, size=n)
            local = build(args.features, args.hidden, 10)
            split = build(args.features, args.hidden, 10)
            pstep = sg.distributed.data_parallel(split, client)
            t_local = median_time(lambda: local(xb, yb), args.repeat)
            t_split = median_time(lambda: pstep(xb, yb), args.repeat)
            sp = pstep.split
            out_bytes = sum(s._value.nbytes for s in sp.shared_reads) * pstep.shards
            back_bytes = sum(v.type.dtype.itemsize * int(np.prod(
                [d for d in v.type.shape if isinstance(d, int)], dtype=np.int64))
                for v in sp.shard_fn.outputs) * pstep.shards
            rows.append((n, t_local, t_split))
            print(f"{n:>7} {1e3 * t_local:>9.2f} {1e3 * t_split:>9.2f} "
                  f"{1e3 * (t_split - t_local):>12.2f} {t_split / t_local:>11.2f} "
                  f"{out_bytes / 1e6:>7.2f} {back_bytes / 1e6:>8.2f}")
    finally:
        client.close()
        cluster.close()
    wins = [n for n, tl, ts in rows if ts < tl]
    if wins:
        print(f"break-even: splitting pays from a batch of {wins[0]} on this machine")
    else:
        print("break-even: splitting did not pay at any measured batch on this machine")
    return rows


if __name__ == "__main__":
    main()
