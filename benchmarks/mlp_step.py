#!/usr/bin/env python
"""Speed of one MLP training step: symgrad against hand-written NumPy, PyTorch, JAX, PyTensor.

    python benchmarks/mlp_step.py                    # every size, every available tool
    python benchmarks/mlp_step.py --quick            # smoke test, well under 30 s
    python benchmarks/mlp_step.py --sizes small,large --impls numpy_tuned,symgrad
    python benchmarks/mlp_step.py --json results.json

One step = forward (ReLU hidden layers, linear output), mean softmax cross-entropy with
integer labels, backward, SGD update of all weights and biases.  See baselines.py for the
implementations.  Method:

* every implementation is built from the same initial parameters; the time from the
  factory call to the end of the first step is its "first call" (for jit tools: tracing
  and compiling; torch, pytensor and numba keep on-disk compile caches, so that time is
  much larger on a machine's first run: --cold-caches measures it from scratch);
* after 3 steps each one's parameters and losses are checked against numpy_naive
  (relative 1e-4 for float32, 1e-10 for float64); a mismatch is printed loudly and the
  exit status is 1 (also when numpy or symgrad raise; a third-party tool that raises is
  only reported);
* timing: R interleaved blocks (order rotated each block, garbage collector off); in a
  block every implementation runs the same N steps, N chosen so that the block's
  timed work takes about --block-ms; the per-step time is the median over blocks, and
  the ratio is to numpy_tuned's median from the same run; "paired" is the median over
  blocks of each block's own ratio (both timed within the same block);
* thread pools: between implementations that use different libraries' worker pools
  the harness pauses --gap-ms (untimed) so that the previous pool has stopped
  spinning; otherwise, on 2 cores, the next library runs 2x slower with 50 ms stalls.
  Every implementation then runs one untimed step before its N timed ones, so none
  pays for waking its pool (without it, whichever NumPy-based one came first after a
  pause looked ~5% slower than the others);
* shared machines: each block records the CPU that other processes used meanwhile
  (/proc/stat); blocks where they took > 10% of the machine are "busy" and are left
  out of the medians, and more blocks are run (up to 2R) to get R quiet ones; after a
  busy block the harness waits for a quiet moment (--max-wait-s in all).  When fewer
  than half are quiet, all blocks are used and the size is flagged as unreliable;
* memory: for the implementations whose arrays come from NumPy's allocator (which
  reports to tracemalloc), the peak of traced memory during one warmed-up step above
  the level before it ("peak alloc/step"), i.e. the temporaries a step needs.  torch,
  jax and numba allocate outside tracemalloc's view: n/a.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import tracemalloc
import traceback

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)
# symgrad from this working tree (repo root), ahead of any installed copy
sys.path.insert(1, os.path.dirname(_HERE))

import baselines as B  # noqa: E402  (sets thread env vars before NumPy is imported)
import numpy as np  # noqa: E402

SIZES = {
    "small": ((64, 32, 10), 32, "float32"),
    "medium": ((784, 256, 256, 10), 128, "float32"),
    "medium_f64": ((784, 256, 256, 10), 128, "float64"),
    "large": ((1024, 1024, 1024, 10), 256, "float32"),
}
# tools whose compile step takes seconds to tens of seconds on a cold machine
SLOW_COMPILE = ("torch_compile", "pytensor_c", "pytensor_numba")
REQUIRED = ("numpy_tuned", "numpy_naive", "symgrad", "symgrad_plain")  # errors fail the run
CHECK_STEPS = 3


def fmt_time(s):
    if s is None or s != s:
        return "-"
    if s < 1e-3:
        return f"{s * 1e6:.1f} us"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"


def fmt_bytes(n):
    if n is None:
        return "n/a"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default=",".join(SIZES),
                   help=f"comma-separated, from {', '.join(SIZES)} (default: all)")
    p.add_argument("--impls", default=None,
                   help=f"comma-separated, from {', '.join(B.IMPLEMENTATIONS)} "
                        "(default: all available; --quick leaves out "
                        f"{', '.join(SLOW_COMPILE)})")
    p.add_argument("--repeats", type=int, default=None,
                   help="interleaved timing blocks (default 21, --quick 5)")
    p.add_argument("--block-ms", type=float, default=None,
                   help="target duration of one block, all implementations together "
                        "(default 100, --quick 30)")
    p.add_argument("--quick", action="store_true",
                   help="few short blocks, no slow-compiling tools: a smoke test")
    p.add_argument("--json", metavar="PATH", help="write all results to PATH")
    p.add_argument("--cold-caches", action="store_true",
                   help="fresh, empty compile caches for torch/pytensor/numba, so their "
                        "first-call time includes a full compile")
    p.add_argument("--gap-ms", type=float, default=GAP_S * 1e3,
                   help="untimed pause when the next implementation uses another "
                        "library's thread pool (default %(default)g)")
    p.add_argument("--max-wait-s", type=float, default=None,
                   help="total time the run may wait for other processes to leave the "
                        "CPU idle (default 60, --quick 3)")
    p.add_argument("--no-memory", action="store_true", help="skip the tracemalloc pass")
    args = p.parse_args(argv)
    args.repeats = args.repeats or (5 if args.quick else 21)
    args.block_ms = args.block_ms or (30.0 if args.quick else 100.0)
    if args.max_wait_s is None:
        args.max_wait_s = 3.0 if args.quick else 60.0
    args.sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    for s in args.sizes:
        if s not in SIZES:
            p.error(f"unknown size {s!r}; choose from {', '.join(SIZES)}")
    if args.impls:
        args.impls = [s.strip() for s in args.impls.split(",") if s.strip()]
        for s in args.impls:
            if s not in B.IMPLEMENTATIONS:
                p.error(f"unknown implementation {s!r}; choose from "
                        f"{', '.join(B.IMPLEMENTATIONS)}")
        if B.REFERENCE not in args.impls:
            args.impls.insert(0, B.REFERENCE)
        if B.CHECK_REFERENCE not in args.impls:
            args.impls.insert(1, B.CHECK_REFERENCE)
    else:
        args.impls = [n for n in B.IMPLEMENTATIONS
                      if not (args.quick and n in SLOW_COMPILE)]
    return args


def use_cold_caches():
    root = tempfile.mkdtemp(prefix="symgrad-bench-caches-")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = os.path.join(root, "inductor")
    os.environ["NUMBA_CACHE_DIR"] = os.path.join(root, "numba")
    flags = os.environ.get("PYTENSOR_FLAGS", "")
    os.environ["PYTENSOR_FLAGS"] = ",".join(
        f for f in (flags, f"base_compiledir={os.path.join(root, 'pytensor')}") if f)
    return root


def loud(msg):
    bar = "!" * 78
    print(f"\n{bar}\n{msg}\n{bar}\n", flush=True)


def build_and_check(problem, factories, failures, notes):
    """Build every implementation, time its first call, run CHECK_STEPS steps, check."""
    tol = B.tolerance(problem.dtype)
    steps, res = {}, {}
    for name, factory in factories.items():
        r = res[name] = {}
        try:
            t0 = time.perf_counter()
            step = factory(problem)
            t1 = time.perf_counter()
            losses = [step()]
            t2 = time.perf_counter()
            losses += [step() for _ in range(CHECK_STEPS - 1)]
            params = step.get_params()
        except Exception as exc:
            msg = f"{name}: raised {type(exc).__name__}: {exc}"
            r["error"] = msg
            if name in REQUIRED:
                failures.append(f"[{problem.describe()}] {msg}")
                loud(f"ERROR  {msg}\n{traceback.format_exc()}")
            else:
                notes.append(f"{name} skipped on {problem.describe()}: "
                             f"{type(exc).__name__}: {str(exc)[:200]}")
                print(f"  note: {name} failed, skipped ({type(exc).__name__}: "
                      f"{str(exc)[:160]})", flush=True)
            continue
        r["first_call_s"] = t2 - t0
        r["setup_s"] = t1 - t0
        r["first_step_s"] = t2 - t1
        for k, v in step.info.items():
            if isinstance(v, (int, float, str)):
                r[k] = v
        r["losses"] = losses
        r["_params"] = params
        steps[name] = step
    ref = res.get(B.CHECK_REFERENCE, {})
    if "_params" not in ref:
        failures.append(f"[{problem.describe()}] no {B.CHECK_REFERENCE} to check against")
        return steps, res
    for name, r in res.items():
        if "_params" not in r:
            continue
        perr = B.check_params(r["_params"], ref["_params"])
        lref = np.asarray(ref["losses"], np.float64)
        lerr = float(np.max(np.abs(np.asarray(r["losses"], np.float64) - lref))
                     / max(np.max(np.abs(lref)), 1e-300))
        r["param_rel_err"], r["loss_rel_err"] = perr, lerr
        r["check_ok"] = bool(perr <= tol and lerr <= tol)
        if not r["check_ok"]:
            msg = (f"MISMATCH  {name} on {problem.describe()}: after {CHECK_STEPS} steps "
                   f"params rel err {perr:.3g}, loss rel err {lerr:.3g} (tolerance {tol:g})")
            failures.append(msg)
            loud(msg)
    for r in res.values():
        r.pop("_params", None)
    return steps, res


def calibrate(step, min_s=0.02, min_steps=3):
    """Per-step time estimate: the fastest single step in a window of >= min_s
    (robust to an occasional stall)."""
    best, n, start = float("inf"), 0, time.perf_counter()
    while True:
        t0 = time.perf_counter()
        step()
        t1 = time.perf_counter()
        best = min(best, t1 - t0)
        n += 1
        if n >= min_steps and t1 - start >= min_s:
            return best


# Worker-thread pools: implementations in one family share one pool.
FAMILY = {"numpy_tuned": "numpy", "numpy_naive": "numpy", "symgrad": "numpy",
          "symgrad_plain": "numpy",
          "torch_eager": "torch", "torch_compile": "torch", "jax_jit": "jax",
          "pytensor_c": "pytensor_c", "pytensor_numba": "numba"}
GAP_S = 0.15
BUSY_LIMIT = 0.10   # a block is "busy" when other processes took > 10% of the machine


def cpu_counters():
    """(machine busy CPU seconds incl. steal, this process's CPU seconds), or None."""
    try:
        with open("/proc/stat") as fh:
            vals = [int(v) for v in fh.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    user, nice, system, idle, iowait, irq, softirq, steal = (vals + [0] * 8)[:8]
    hz = os.sysconf("SC_CLK_TCK")
    own = os.times()
    return ((user + nice + system + irq + softirq + steal) / hz,
            own.user + own.system)


def foreign_load(c0, c1, wall):
    """Share of the machine's CPU used by OTHER processes (or stolen) in an interval."""
    if c0 is None or c1 is None or wall <= 0:
        return None
    foreign = (c1[0] - c0[0]) - (c1[1] - c0[1])
    return max(0.0, foreign / (wall * (os.cpu_count() or 1)))


class QuietWaiter:
    """Waits (within a total budget) for a window where other processes leave the
    machine alone, before calibrating and before a block that follows a busy one."""

    def __init__(self, budget_s, busy_limit=BUSY_LIMIT, window_s=0.3):
        self.left, self.busy_limit, self.window_s = budget_s, busy_limit, window_s
        self.waited = 0.0

    def wait(self):
        while self.left > 0:
            w0, c0 = time.perf_counter(), cpu_counters()
            time.sleep(self.window_s)
            dt = time.perf_counter() - w0
            load = foreign_load(c0, cpu_counters(), dt)
            if load is None or load <= self.busy_limit:
                return True
            self.left -= dt
            self.waited += dt
        return False


def time_blocks(steps, repeats, block_s, gap_s=GAP_S, busy_limit=BUSY_LIMIT,
                max_blocks=None, waiter=None):
    """Interleaved blocks; returns (nsteps, times, blocks).

    Between two implementations of different families the harness sleeps gap_s
    (untimed): OpenBLAS, OpenMP and Eigen worker threads keep spinning for up to
    ~0.1 s after their last task, and on 2 cores a spinning pool of one library slows
    the next one by 2x, with 50 ms stalls.  Each block records how much CPU other
    processes took meanwhile; a block where they took more than busy_limit of the
    machine is "busy" (multi-threaded BLAS slows down up to 10x when a core is taken),
    and extra blocks are run (up to max_blocks, default 2x repeats) to get `repeats`
    quiet ones, unless fewer than a third of the blocks so far were quiet."""
    max_blocks = 2 * repeats if max_blocks is None else max(repeats, max_blocks)
    names = list(steps)
    waiter = waiter or QuietWaiter(0)
    for _attempt in range(3):       # calibrate again if other processes interfered
        waiter.wait()
        w0, c0 = time.perf_counter(), cpu_counters()
        est = {n: calibrate(steps[n]) for n in names}
        load = foreign_load(c0, cpu_counters(), time.perf_counter() - w0)
        if load is None or load <= busy_limit or waiter.left <= 0:
            break
    per_block = sum(est.values())
    nsteps = max(1, int(round(block_s / per_block)))
    times = {n: [] for n in names}
    blocks = []
    gc_was_enabled = gc.isenabled()
    try:
        r = 0
        while True:
            quiet = sum(1 for b in blocks if b["quiet"])
            if quiet >= repeats or r >= max_blocks:
                break
            if r >= repeats and quiet < r / 3:
                break       # persistently busy: more blocks would not help
            k = r % len(names)
            order = names[k:] + names[:k]
            if blocks and not blocks[-1]["quiet"]:
                waiter.wait()
            gc.collect()
            gc.disable()
            prev = None
            w0, c0 = time.perf_counter(), cpu_counters()
            for n in order:
                step = steps[n]
                if gap_s and FAMILY.get(n, n) != prev:
                    time.sleep(gap_s)
                prev = FAMILY.get(n, n)
                step()      # untimed: wakes this library's pool, same for everyone
                t0 = time.perf_counter()
                for _ in range(nsteps):
                    step()
                times[n].append((time.perf_counter() - t0) / nsteps)
            gc.enable()
            load = foreign_load(c0, cpu_counters(), time.perf_counter() - w0)
            blocks.append({"foreign_load": load,
                           "quiet": load is None or load <= busy_limit})
            r += 1
    finally:
        if gc_was_enabled:
            gc.enable()
    return nsteps, times, blocks


def measure_alloc(step):
    """Peak traced bytes above the starting level during one warmed-up step."""
    tracemalloc.start()
    try:
        step()
        step()
        gc.collect()
        best = None
        for _ in range(3):
            cur0 = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            step()
            cur1, peak = tracemalloc.get_traced_memory()
            sample = (peak - cur0, cur1 - cur0)
            best = sample if best is None or sample[0] < best[0] else best
        return best
    finally:
        tracemalloc.stop()


def print_table(size, problem, res, nsteps, n_blocks, n_quiet, busy_run):
    used = f"all {n_blocks} blocks (busy machine)" if busy_run else \
        f"{n_quiet} quiet blocks of {n_blocks}"
    print(f"\n== {size}: {problem.describe()}   "
          f"({nsteps} step{'s' if nsteps > 1 else ''} per implementation per block; "
          f"medians over {used})")
    head = (f"{'implementation':<16}{'median/step':>13}{'spread':>9}{'ratio':>8}"
            f"{'paired':>8}{'first call':>12}{'peak alloc/step':>17}  check")
    print(head)
    print("-" * len(head))
    for name, r in res.items():
        if "error" in r:
            print(f"{name:<16}{'error':>13}   {r['error'][:60]}")
            continue
        med = r.get("median_s")
        spread = (f"{100 * r['iqr_s'] / med:.0f}%" if med else "-")
        ratio = f"{r['ratio']:.2f}" if r.get("ratio") is not None else "-"
        paired = f"{r['paired_ratio']:.2f}" if r.get("paired_ratio") is not None else "-"
        check = ("ok" if r.get("check_ok") else "MISMATCH") + \
            f" ({max(r.get('param_rel_err', 0), r.get('loss_rel_err', 0)):.0e})"
        print(f"{name:<16}{fmt_time(med):>13}{spread:>9}{ratio:>8}{paired:>8}"
              f"{fmt_time(r.get('first_call_s')):>12}"
              f"{fmt_bytes(r.get('peak_alloc_bytes')):>17}  {check}")
    sg = res.get("symgrad")
    if sg and "build_grad_s" in sg:
        print(f"  symgrad first call = build+grad {fmt_time(sg['build_grad_s'])}"
              f" + sg.function {fmt_time(sg['compile_s'])}"
              f" + first step {fmt_time(sg['first_step_s'])}")
    sys.stdout.flush()


def main(argv=None):
    args = parse_args(argv)
    t_start = time.perf_counter()
    if args.cold_caches:
        root = use_cold_caches()
        print(f"cold caches under {root}")
    factories, missing, versions = B.available(args.impls)
    print(f"MLP training step benchmark   python {platform.python_version()}, "
          f"{os.cpu_count()} cores, threads={B.NUM_THREADS}")
    print("  " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    for name, why in missing.items():
        label = "symgrad: not available" if name == "symgrad" else f"{name}: skipped"
        print(f"  {label} ({why})")
    sys.stdout.flush()

    failures, notes = [], []
    waiter = QuietWaiter(args.max_wait_s)
    out = {"meta": {"python": platform.python_version(), "machine": platform.machine(),
                    "processor": platform.processor(), "cpu_count": os.cpu_count(),
                    "threads": B.NUM_THREADS, "versions": versions,
                    "repeats": args.repeats, "block_ms": args.block_ms,
                    "gap_ms": args.gap_ms,
                    "quick": args.quick, "cold_caches": args.cold_caches,
                    "reference": B.REFERENCE, "check_reference": B.CHECK_REFERENCE,
                    "check_steps": CHECK_STEPS},
           "unavailable": missing, "sizes": {}}

    for size in args.sizes:
        widths, batch, dtype = SIZES[size]
        problem = B.make_problem(widths, batch, dtype, seed=0)
        print(f"\n[{size}] building and checking ...", flush=True)
        steps, res = build_and_check(problem, factories, failures, notes)
        nsteps, times, blocks = time_blocks(
            steps, args.repeats, args.block_ms / 1e3, args.gap_ms / 1e3,
            max_blocks=args.repeats if args.quick else None,
            waiter=waiter) if steps else (0, {}, [])
        quiet = [b["quiet"] for b in blocks]
        use = quiet if sum(quiet) >= max(3, args.repeats // 2) else [True] * len(blocks)
        busy_run = use is not quiet
        for name, ts in times.items():
            sel = [t for t, u in zip(ts, use) if u]
            q = statistics.quantiles(sel, n=4) if len(sel) >= 2 else [sel[0]] * 3
            res[name].update(median_s=statistics.median(sel), min_s=min(ts),
                             iqr_s=q[2] - q[0], block_times_s=ts)
        ref_med = res.get(B.REFERENCE, {}).get("median_s")
        ref_times = times.get(B.REFERENCE)
        for name, ts in times.items():
            res[name]["ratio"] = res[name]["median_s"] / ref_med if ref_med else None
            if ref_times:   # per block, against the reference timed in the same block
                pairs = [t / r for t, r, u in zip(ts, ref_times, use) if u]
                res[name]["paired_ratio"] = statistics.median(pairs)
        if not args.no_memory:
            for name, step in steps.items():
                if name in B.TRACEMALLOC_VISIBLE:
                    try:
                        peak, retained = measure_alloc(step)
                    except Exception as exc:  # noqa: BLE001
                        notes.append(f"{name}: tracemalloc pass failed: {exc}")
                        continue
                    res[name]["peak_alloc_bytes"] = peak
                    res[name]["retained_bytes"] = retained
        n_quiet, n_blocks = sum(quiet), len(blocks)
        print_table(size, problem, res, nsteps, n_blocks, n_quiet, busy_run)
        if busy_run:
            msg = (f"{size}: the machine was busy (other processes took > "
                   f"{BUSY_LIMIT:.0%} of the CPU in {n_blocks - n_quiet} of {n_blocks} "
                   f"blocks); these medians are unreliable, run again on a quiet machine")
            notes.append(msg)
            print(f"  WARNING: {msg}", flush=True)
        out["sizes"][size] = {"widths": list(widths), "batch": batch, "dtype": dtype,
                              "lr": problem.lr, "steps_per_block": nsteps,
                              "blocks": blocks, "quiet_blocks": n_quiet,
                              "busy": busy_run, "results": res}

    elapsed = time.perf_counter() - t_start
    print(f"\nratio = median / {B.REFERENCE} median (lower is faster); paired = median over "
          f"blocks of the time / {B.REFERENCE}'s time in the same block (less sensitive to "
          f"the machine speeding up or slowing down between blocks); spread = "
          f"interquartile range of the block medians; first call = build + compile + "
          f"first step; n/a = allocations not visible to tracemalloc.")
    for n in notes:
        print(f"note: {n}")
    print(f"total time {elapsed:.1f} s (of which {waiter.waited:.1f} s waiting for a "
          f"quiet machine)")
    out["notes"], out["failures"], out["elapsed_s"] = notes, failures, elapsed
    out["waited_s"] = waiter.waited
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1, default=str)
        print(f"wrote {args.json}")
    if failures:
        loud("FAILED:\n" + "\n".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
