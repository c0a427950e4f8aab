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
  block every implementation runs the same N steps, N chosen so a block takes about
  --block-ms; the per-step time is the median over blocks, and the ratio is to
  numpy_tuned's median from the same run;
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
REQUIRED = ("numpy_tuned", "numpy_naive", "symgrad")  # errors here fail the run
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
    p.add_argument("--no-memory", action="store_true", help="skip the tracemalloc pass")
    args = p.parse_args(argv)
    args.repeats = args.repeats or (5 if args.quick else 21)
    args.block_ms = args.block_ms or (30.0 if args.quick else 100.0)
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


def calibrate(step, min_s=0.02, min_steps=2):
    n, t0 = 0, time.perf_counter()
    while True:
        step()
        n += 1
        dt = time.perf_counter() - t0
        if n >= min_steps and dt >= min_s:
            return dt / n


# Worker-thread pools: implementations in one family share one pool.
FAMILY = {"numpy_tuned": "numpy", "numpy_naive": "numpy", "symgrad": "numpy",
          "torch_eager": "torch", "torch_compile": "torch", "jax_jit": "jax",
          "pytensor_c": "pytensor_c", "pytensor_numba": "numba"}
GAP_S = 0.12


def time_blocks(steps, repeats, block_s, gap_s=GAP_S):
    """Interleaved blocks.  Between two implementations of different families the
    harness sleeps gap_s (untimed): OpenBLAS, OpenMP and Eigen worker threads keep
    spinning for up to ~0.1 s after their last task, and on 2 cores a spinning pool
    of one library slows the next library by 2x, with 50 ms stalls."""
    names = list(steps)
    est = {n: calibrate(steps[n]) for n in names}
    per_block = sum(est.values())
    nsteps = max(1, int(round(block_s / per_block)))
    times = {n: [] for n in names}
    gc_was_enabled = gc.isenabled()
    try:
        for r in range(repeats):
            k = r % len(names)
            order = names[k:] + names[:k]
            gc.collect()
            gc.disable()
            prev = None
            for n in order:
                step = steps[n]
                if gap_s and FAMILY.get(n, n) != prev:
                    time.sleep(gap_s)
                prev = FAMILY.get(n, n)
                t0 = time.perf_counter()
                for _ in range(nsteps):
                    step()
                times[n].append((time.perf_counter() - t0) / nsteps)
            gc.enable()
    finally:
        if gc_was_enabled:
            gc.enable()
    return nsteps, times


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


def print_table(size, problem, res, nsteps, repeats):
    print(f"\n== {size}: {problem.describe()}   "
          f"({repeats} blocks x {nsteps} step{'s' if nsteps > 1 else ''})")
    head = (f"{'implementation':<16}{'median/step':>13}{'spread':>9}{'ratio':>8}"
            f"{'first call':>12}{'peak alloc/step':>17}  check")
    print(head)
    print("-" * len(head))
    for name, r in res.items():
        if "error" in r:
            print(f"{name:<16}{'error':>13}   {r['error'][:60]}")
            continue
        med = r.get("median_s")
        spread = (f"{100 * r['iqr_s'] / med:.0f}%" if med else "-")
        ratio = f"{r['ratio']:.2f}" if r.get("ratio") is not None else "-"
        check = ("ok" if r.get("check_ok") else "MISMATCH") + \
            f" ({max(r.get('param_rel_err', 0), r.get('loss_rel_err', 0)):.0e})"
        print(f"{name:<16}{fmt_time(med):>13}{spread:>9}{ratio:>8}"
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
    out = {"meta": {"python": platform.python_version(), "machine": platform.machine(),
                    "processor": platform.processor(), "cpu_count": os.cpu_count(),
                    "threads": B.NUM_THREADS, "versions": versions,
                    "repeats": args.repeats, "block_ms": args.block_ms,
                    "quick": args.quick, "cold_caches": args.cold_caches,
                    "reference": B.REFERENCE, "check_reference": B.CHECK_REFERENCE,
                    "check_steps": CHECK_STEPS},
           "unavailable": missing, "sizes": {}}

    for size in args.sizes:
        widths, batch, dtype = SIZES[size]
        problem = B.make_problem(widths, batch, dtype, seed=0)
        print(f"\n[{size}] building and checking ...", flush=True)
        steps, res = build_and_check(problem, factories, failures, notes)
        nsteps, times = time_blocks(steps, args.repeats, args.block_ms / 1e3) \
            if steps else (0, {})
        for name, ts in times.items():
            q = statistics.quantiles(ts, n=4) if len(ts) >= 2 else [ts[0]] * 3
            res[name].update(median_s=statistics.median(ts), min_s=min(ts),
                             iqr_s=q[2] - q[0], block_times_s=ts)
        ref_med = res.get(B.REFERENCE, {}).get("median_s")
        for name in times:
            res[name]["ratio"] = res[name]["median_s"] / ref_med if ref_med else None
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
        print_table(size, problem, res, nsteps, args.repeats)
        out["sizes"][size] = {"widths": list(widths), "batch": batch, "dtype": dtype,
                              "lr": problem.lr, "steps_per_block": nsteps,
                              "results": res}

    elapsed = time.perf_counter() - t_start
    print(f"\nratio = median / {B.REFERENCE} median (lower is faster); spread = "
          f"interquartile range of the block medians; first call = build + compile + "
          f"first step; n/a = allocations not visible to tracemalloc.")
    for n in notes:
        print(f"note: {n}")
    print(f"total time {elapsed:.1f} s")
    out["notes"], out["failures"], out["elapsed_s"] = notes, failures, elapsed
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
