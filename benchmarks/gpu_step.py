#!/usr/bin/env python
"""One MLP training step on an NVIDIA GPU: symgrad (target="array_api") on CuPy and on
PyTorch CUDA tensors, against PyTorch CUDA eager, torch.compile and JAX on the GPU.

    python benchmarks/gpu_step.py                      # every size, every available tool
    python benchmarks/gpu_step.py --quick              # the small sizes, few repeats
    python benchmarks/gpu_step.py --sizes gpu_large --json gpu.json

The step is benchmarks/mlp_step.py's (ReLU hidden layers, mean softmax cross-entropy with
integer labels, backward, SGD update of every weight and bias), with its sizes plus
``gpu_large`` = [4096, 4096, 4096, 10], batch 4096, which fills a GPU. Every
implementation starts from the same parameters (baselines.make_problem); after 3 steps
its parameters are checked against NumPy's (baselines.numpy_naive, on the CPU; relative
1e-4 for float32, 1e-10 for float64): a mismatch is printed and the exit status is 1.

Timing: 3 untimed warm-up steps (compiles, caches, cuBLAS handles), then ``--repeat``
blocks of N steps, N chosen so that a block takes about ``--block-ms``; each block ends
with a device synchronisation (``cupy.cuda.Device().synchronize()``,
``torch.cuda.synchronize()``, JAX's ``block_until_ready``), so the time is that of the
GPU work, not of queueing it. The per-step time is the median over blocks; ratios are to
PyTorch CUDA eager. No step reads its loss back to the host (that would synchronise every
step): each returns the loss as a device array.

On a machine without a GPU (no CuPy device and no CUDA for PyTorch) the script says so and
exits 0. ``--cpu`` runs the PyTorch rows on the CPU instead: a check of the harness and of
symgrad on torch tensors where there is no GPU (the times then say nothing about GPUs).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import traceback

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)
sys.path.insert(1, os.path.dirname(_HERE))        # symgrad from this working tree

import baselines as B  # noqa: E402
import numpy as np  # noqa: E402

SIZES = {
    "small": ((64, 32, 10), 32, "float32"),
    "medium": ((784, 256, 256, 10), 128, "float32"),
    "medium_f64": ((784, 256, 256, 10), 128, "float64"),
    "large": ((1024, 1024, 1024, 10), 256, "float32"),
    "gpu_large": ((4096, 4096, 4096, 10), 4096, "float32"),
}
QUICK = ("small", "large")
CHECK_STEPS = 3
TORCH_DEVICE = ["cuda"]          # --cpu: "cpu"


# --------------------------------------------------------------------------------------
# which GPU libraries are here
# --------------------------------------------------------------------------------------
def cupy_gpu():
    """CuPy, where it imports and sees a device; else None."""
    try:
        import cupy
        if cupy.cuda.runtime.getDeviceCount() > 0:
            return cupy
    except Exception:
        pass
    return None


def torch_cuda():
    try:
        import torch
        if TORCH_DEVICE[0] == "cpu" or torch.cuda.is_available():
            return torch
    except Exception:
        pass
    return None


def jax_gpu():
    try:
        import jax
        if any(d.platform == "gpu" for d in jax.devices()):
            return jax
    except Exception:
        pass
    return None


def gpu_name() -> str:
    torch = torch_cuda()
    if TORCH_DEVICE[0] == "cpu":
        return "no GPU: PyTorch on the CPU (--cpu)"
    if torch is not None:
        return torch.cuda.get_device_name(0)
    cupy = cupy_gpu()
    if cupy is not None:
        props = cupy.cuda.runtime.getDeviceProperties(0)
        name = props["name"]
        return name.decode() if isinstance(name, bytes) else str(name)
    return "none"


# --------------------------------------------------------------------------------------
# implementations: (step, sync, get_params)
# --------------------------------------------------------------------------------------
def _symgrad(problem, to_device, to_numpy):
    """symgrad's array-API rendering of the step, on ``like``'s library and device."""
    import symgrad as sg
    dt = np.dtype(problem.dtype).name
    x = sg.tensor("x", shape=("batch", problem.widths[0]), dtype=dt)
    y = sg.tensor("y", shape=("batch",), dtype="int64")
    params = [(sg.shared(to_device(W), name=f"W{i + 1}"), sg.shared(to_device(b),
                                                                   name=f"b{i + 1}"))
              for i, (W, b) in enumerate(problem.copy_params())]
    h = x
    for W, b in params[:-1]:
        h = sg.relu(h @ W + b)
    W, b = params[-1]
    loss = sg.nn.cross_entropy(h @ W + b, y)
    flat = [t for pair in params for t in pair]
    grads = sg.grad(loss, flat)
    lr = problem.lr
    fn = sg.function([x, y], loss, updates={p: p - lr * g for p, g in zip(flat, grads)},
                     name="mlp_step")
    assert fn.target == "array_api"
    X, yv = to_device(problem.X), to_device(problem.y)

    def get_params():
        return [(to_numpy(W.get_value(borrow=True)), to_numpy(b.get_value(borrow=True)))
                for W, b in params]
    return (lambda: fn(X, yv)), get_params


def symgrad_cupy(problem):
    cupy = cupy_gpu()
    step, get = _symgrad(problem, cupy.asarray, cupy.asnumpy)
    return step, cupy.cuda.Device().synchronize, get


def symgrad_torch(problem):
    torch = torch_cuda()
    step, get = _symgrad(problem, lambda a: torch.asarray(np.array(a), device=TORCH_DEVICE[0]),
                         lambda t: t.detach().cpu().numpy())
    return step, _torch_sync(torch), get


def _torch_sync(torch):
    return torch.cuda.synchronize if TORCH_DEVICE[0] == "cuda" else (lambda: None)


def _torch_parts(problem):
    torch = torch_cuda()
    dev = TORCH_DEVICE[0]
    params = [(torch.tensor(W, device=dev, requires_grad=True),
               torch.tensor(b, device=dev, requires_grad=True))
              for W, b in problem.copy_params()]
    flat = [t for pair in params for t in pair]
    X = torch.tensor(np.array(problem.X), device=dev)
    y = torch.tensor(np.array(problem.y), device=dev)
    lr = problem.lr

    def loss_fn(X, y, *flat):
        return B._torch_loss(torch, X, y, *flat)

    def make(fn):
        def step():
            loss = fn(X, y, *flat)
            loss.backward()
            with torch.no_grad():
                torch._foreach_add_(flat, [p.grad for p in flat], alpha=-lr)
            for p in flat:
                p.grad = None
            return loss.detach()
        return step

    def get_params():
        return [(W.detach().cpu().numpy(), b.detach().cpu().numpy()) for W, b in params]
    return torch, loss_fn, make, get_params


def torch_eager(problem):
    torch, loss_fn, make, get = _torch_parts(problem)
    return make(loss_fn), _torch_sync(torch), get


def torch_compile(problem):
    torch, loss_fn, make, get = _torch_parts(problem)
    torch._dynamo.reset()
    return make(torch.compile(loss_fn, dynamic=False, fullgraph=True)), _torch_sync(torch), get


def jax_jit(problem):
    jax = jax_gpu()
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    update = B.jax_update(jax, jnp, problem.lr)
    gpu = [d for d in jax.devices() if d.platform == "gpu"][0]
    state = {"params": [(jax.device_put(W, gpu), jax.device_put(b, gpu))
                        for W, b in problem.copy_params()], "loss": None}
    X, y = jax.device_put(np.array(problem.X), gpu), jax.device_put(np.array(problem.y), gpu)

    def step():
        state["params"], state["loss"] = update(state["params"], X, y)
        return state["loss"]

    def sync():
        jax.block_until_ready(state["params"])

    def get_params():
        return [(np.array(W), np.array(b)) for W, b in state["params"]]
    return step, sync, get_params


IMPLEMENTATIONS = {
    "symgrad_cupy": (symgrad_cupy, cupy_gpu),
    "symgrad_torch": (symgrad_torch, torch_cuda),
    "torch_eager": (torch_eager, torch_cuda),
    "torch_compile": (torch_compile, torch_cuda),
    "jax_jit": (jax_jit, jax_gpu),
}
REFERENCE = "torch_eager"


# --------------------------------------------------------------------------------------
# the harness
# --------------------------------------------------------------------------------------
def time_blocks(step, sync, repeat: int, block_ms: float) -> list[float]:
    """Per-step seconds of ``repeat`` blocks, each ended by a device synchronisation."""
    sync()
    t = time.perf_counter()
    step()
    sync()
    one = max(time.perf_counter() - t, 1e-6)
    n = max(1, min(1000, int(block_ms / 1e3 / one)))
    times = []
    for _ in range(repeat):
        sync()
        t = time.perf_counter()
        for _ in range(n):
            step()
        sync()
        times.append((time.perf_counter() - t) / n)
    return times


def run_size(name, impls, repeat, block_ms):
    widths, batch, dtype = SIZES[name]
    problem = B.make_problem(widths, batch, dtype)
    ref = B.numpy_naive(problem)
    for _ in range(CHECK_STEPS):
        ref()
    ref_params = ref.get_params()
    rows, failed = {}, False
    for impl in impls:
        make, _ = IMPLEMENTATIONS[impl]
        try:
            t0 = time.perf_counter()
            step, sync, get_params = make(problem)
            for _ in range(CHECK_STEPS):
                step()
            sync()
            first = time.perf_counter() - t0
            err = B.check_params(get_params(), ref_params)
            ok = err <= B.tolerance(dtype)
            failed |= not ok
            times = time_blocks(step, sync, repeat, block_ms)
            rows[impl] = {"median_s": statistics.median(times), "first_s": first,
                          "error": err, "ok": ok}
        except Exception as exc:          # a tool that fails is reported, not fatal
            traceback.print_exc()
            rows[impl] = {"median_s": None, "failed": f"{type(exc).__name__}: {exc}"}
            failed |= impl.startswith("symgrad")
    base = rows.get(REFERENCE, {}).get("median_s")
    for r in rows.values():
        m = r.get("median_s")
        r["ratio"] = (m / base) if m and base else None
    return problem, rows, failed


def fmt(s):
    if s is None:
        return "-"
    return f"{s * 1e6:.1f} us" if s < 1e-3 else f"{s * 1e3:.2f} ms"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default=None, help=f"comma-separated, of {', '.join(SIZES)}")
    p.add_argument("--impls", default=None,
                   help=f"comma-separated, of {', '.join(IMPLEMENTATIONS)}")
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--block-ms", type=float, default=300.0)
    p.add_argument("--quick", action="store_true", help="small and large, 3 short blocks")
    p.add_argument("--json", default=None, help="write the results here")
    p.add_argument("--cpu", action="store_true",
                   help="PyTorch rows on the CPU (checks the harness where there is no GPU)")
    args = p.parse_args(argv)
    TORCH_DEVICE[0] = "cpu" if args.cpu else "cuda"

    available = [k for k, (_, probe) in IMPLEMENTATIONS.items() if probe() is not None]
    if cupy_gpu() is None and torch_cuda() is None:
        print("gpu_step: no GPU here (no CuPy device, no CUDA for PyTorch): nothing to time. "
              "On a machine with an NVIDIA GPU: pip install cupy-cuda12x (and torch, jax "
              "with CUDA) and run this again.")
        return 0
    sizes = args.sizes.split(",") if args.sizes else list(QUICK if args.quick else SIZES)
    impls = [i for i in (args.impls.split(",") if args.impls else IMPLEMENTATIONS)
             if i in available]
    repeat, block_ms = (3, 100.0) if args.quick else (args.repeat, args.block_ms)
    print(f"gpu_step: {gpu_name()}; {platform.python_version()}; "
          f"{time.strftime('%Y-%m-%d')}; implementations: {', '.join(impls)}")
    results, failed = {}, False
    for name in sizes:
        problem, rows, bad = run_size(name, impls, repeat, block_ms)
        failed |= bad
        print(f"\n{name}: {problem.describe()}")
        print(f"  {'implementation':<16} {'median/step':>12} {'vs torch eager':>15} "
              f"{'first 3 steps':>14} {'check':>8}")
        for impl, r in rows.items():
            ratio = "-" if r.get("ratio") is None else f"{r['ratio']:.2f}x"
            check = "FAILED" if r.get("failed") else ("ok" if r.get("ok") else
                                                      f"BAD {r.get('error', 0):.1e}")
            print(f"  {impl:<16} {fmt(r.get('median_s')):>12} {ratio:>15} "
                  f"{fmt(r.get('first_s')):>14} {check:>8}")
        results[name] = {"problem": problem.describe(), "rows": rows}
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"gpu": gpu_name(), "date": time.strftime("%Y-%m-%d"),
                       "results": results}, fh, indent=2, default=str)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
