"""Implementations of one MLP training step, for ``benchmarks/mlp_step.py``.

The step: forward through ReLU hidden layers and a linear output layer, mean softmax
cross-entropy against integer labels, backward, plain SGD update of every weight and
bias.  Every implementation is a factory ``f(problem) -> step``:

* ``step()`` runs one SGD step, in place, on the implementation's OWN copy of the
  parameters and returns the loss (a Python float, computed from the old parameters);
* ``step.get_params()`` returns the current parameters as a list of ``(W, b)`` NumPy
  arrays (for the correctness check);
* ``step.info`` is a dict of extra facts (compile-time breakdown, notes).

Only NumPy is needed.  torch, jax, pytensor (and numba) are used when they import;
``available()`` says which implementations can run here and why the others cannot.
symgrad is imported from the repository working tree (see ``mlp_step.py``) or from an
installed copy; when it is not importable the benchmark says "symgrad: not available".
"""
from __future__ import annotations

import os

# Equal, explicit thread settings for every library: all cores of the machine.  These
# only take effect when this module is imported before NumPy / torch / jax.
NUM_THREADS = os.cpu_count() or 1
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, str(NUM_THREADS))
os.environ.setdefault("JAX_PLATFORMS", "cpu")          # CPU only, no accelerator probing
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("TORCHINDUCTOR_COMPILE_THREADS", "1")  # no compile worker pool

import importlib
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "Problem", "make_problem", "IMPLEMENTATIONS", "REFERENCE", "CHECK_REFERENCE",
    "available", "check_params", "tolerance",
]


# --------------------------------------------------------------------------------------
# the problem
# --------------------------------------------------------------------------------------
@dataclass
class Problem:
    widths: tuple
    batch: int
    dtype: np.dtype
    params: list            # [(W, b), ...]  W: (fan_in, fan_out), b: (fan_out,)
    X: np.ndarray           # (batch, widths[0])
    y: np.ndarray           # (batch,) int64
    lr: float
    seed: int = 0
    extra: dict = field(default_factory=dict)

    def copy_params(self):
        return [(W.copy(), b.copy()) for W, b in self.params]

    def describe(self):
        return (f"widths={list(self.widths)} batch={self.batch} "
                f"{np.dtype(self.dtype).name}")


def make_problem(widths, batch, dtype="float32", seed=0, lr=0.01):
    """He-normal weights, zero biases, standard-normal inputs, uniform random labels.

    The learning rate is small on purpose: the timing loop keeps training on the same
    batch for thousands of steps, and a small step keeps the workload stationary
    (no saturated softmax, no subnormal numbers).
    """
    widths = tuple(int(w) for w in widths)
    if len(widths) < 2:
        raise ValueError("widths needs at least an input and an output size")
    dtype = np.dtype(dtype)
    rng = np.random.default_rng(seed)
    params = []
    for fan_in, fan_out in zip(widths[:-1], widths[1:]):
        W = (rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)).astype(dtype)
        b = np.zeros(fan_out, dtype)
        params.append((W, b))
    X = rng.standard_normal((batch, widths[0])).astype(dtype)
    y = rng.integers(0, widths[-1], size=batch).astype(np.int64)
    for a in (X, y):
        a.setflags(write=False)      # implementations must never modify the inputs
    return Problem(widths, int(batch), dtype, params, X, y, float(lr), seed)


def tolerance(dtype):
    """Relative tolerance of the correctness check (normwise, per array)."""
    return 1e-4 if np.dtype(dtype) == np.float32 else 1e-10


def check_params(got, ref):
    """Largest normwise relative error max|a-r| / max|r| over all arrays."""
    worst = 0.0
    if len(got) != len(ref):
        return float("inf")
    for (gW, gb), (rW, rb) in zip(got, ref):
        for a, r in ((gW, rW), (gb, rb)):
            a = np.asarray(a, dtype=np.float64)
            r = np.asarray(r, dtype=np.float64)
            if a.shape != r.shape or not np.all(np.isfinite(a)):
                return float("inf")
            scale = max(float(np.max(np.abs(r))), np.finfo(np.float64).tiny)
            worst = max(worst, float(np.max(np.abs(a - r))) / scale)
    return worst


class Step:
    """A callable step plus ``get_params`` and ``info``."""

    def __init__(self, fn, get_params, info=None):
        self._fn = fn
        self.get_params = get_params
        self.info = info if info is not None else {}

    def __call__(self):
        return self._fn()


# --------------------------------------------------------------------------------------
# NumPy, written the way a student would
# --------------------------------------------------------------------------------------
def numpy_naive(problem):
    X, y, lr = problem.X, problem.y, problem.lr
    state = {"params": problem.copy_params()}

    def step():
        params = state["params"]
        n = X.shape[0]
        acts = [X]
        h = X
        for W, b in params[:-1]:
            h = np.maximum(0, h @ W + b)
            acts.append(h)
        W, b = params[-1]
        logits = h @ W + b
        logits = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        probs = e / e.sum(axis=1, keepdims=True)
        loss = -np.mean(np.log(probs[np.arange(n), y]))
        d = probs.copy()
        d[np.arange(n), y] -= 1
        d /= n
        grads = []
        for i in reversed(range(len(params))):
            W, b = params[i]
            grads.append((acts[i].T @ d, d.sum(axis=0)))
            if i > 0:
                d = (d @ W.T) * (acts[i] > 0)
        grads.reverse()
        state["params"] = [(W - lr * gW, b - lr * gb)
                           for (W, b), (gW, gb) in zip(params, grads)]
        return float(loss)

    return Step(step, lambda: state["params"])


# --------------------------------------------------------------------------------------
# NumPy, written with great care for speed (the 1.00 reference)
# --------------------------------------------------------------------------------------
def numpy_tuned(problem):
    """Hand-tuned NumPy.  Nothing is allocated per step except a few scalars.

    * one preallocated buffer per layer for the activations (bias added and ReLU
      applied in place), one per hidden layer for the deltas, one bool mask buffer;
    * ``np.dot(out=)`` for every product (less call overhead than ``np.matmul``, and
      BLAS gets transposed views such as ``W.T`` / ``h.T`` with a trans flag, no copy);
    * the output buffer becomes exp(shifted logits), then the output delta with lr/batch
      folded in, so every gradient comes out already multiplied by lr and is
      subtracted in place; the label terms are read from ``y`` at every step (labels
      change from batch to batch in training, so nothing derived from them may be
      cached): one gather for the loss, one indexed subtract for the delta, with the row
      indices ``arange(batch)`` made once;
    * the gradient through a layer (``delta @ W.T``) is taken before ``W`` is updated;
      the input layer's input gradient is never computed;
    * bias gradients ``ones @ delta`` (a BLAS gemv) into preallocated buffers;
    * ReLU backward: ``greater(h, 0, out=mask)`` then one in-place multiply (much faster
      than ``copyto(..., where=)`` or ``putmask``, which branch on a random mask).
    Variants measured are listed in docs/performance_baselines.md; this one was the
    fastest or within 2% of the fastest on every size.
    """
    dt = np.dtype(problem.dtype)
    X, y = problem.X, problem.y
    n = problem.batch
    widths = problem.widths
    L = len(widths) - 1
    params = problem.copy_params()
    act = [np.empty((n, w), dt) for w in widths[1:]]        # act[i]: output of layer i
    delta = [np.empty((n, w), dt) for w in widths[1:-1]]    # deltas of hidden layers
    mask = [np.empty((n, w), np.bool_) for w in widths[1:-1]]
    gW = [np.empty_like(W) for W, _ in params]
    gb = [np.empty_like(b) for _, b in params]
    ones = np.ones(n, dt)
    rowmax = np.empty((n, 1), dt)
    rowsum = np.empty((n, 1), dt)
    rowscale = np.empty((n, 1), dt)
    logsum = np.empty(n, dt)
    scale = dt.type(problem.lr / n)
    rows = np.arange(n)
    zL = act[-1]
    dot, add, maximum, multiply, subtract = (np.dot, np.add, np.maximum, np.multiply,
                                             np.subtract)
    max_reduce, add_reduce = np.maximum.reduce, np.add.reduce
    greater, exp, log, divide = np.greater, np.exp, np.log, np.divide
    hidden = range(L - 1)
    backward = range(L - 1, -1, -1)

    def step():
        # forward
        a = X
        for i in hidden:
            W, b = params[i]
            z = act[i]
            dot(a, W, out=z)
            add(z, b, out=z)
            maximum(z, 0, out=z)
            a = z
        W, b = params[-1]
        dot(a, W, out=zL)
        add(zL, b, out=zL)
        # loss = mean(log(sum(exp(z - max))) - (z - max)[label])
        max_reduce(zL, axis=1, keepdims=True, out=rowmax)
        subtract(zL, rowmax, out=zL)
        picked = add_reduce(zL[rows, y])
        exp(zL, out=zL)
        add_reduce(zL, axis=1, keepdims=True, out=rowsum)
        log(rowsum.reshape(-1), out=logsum)
        loss = (add_reduce(logsum) - picked) / n
        # output delta, lr/batch folded in: (softmax - onehot) * lr / n
        divide(scale, rowsum, out=rowscale)
        multiply(zL, rowscale, out=zL)
        zL[rows, y] -= scale
        # backward + update
        d = zL
        for i in backward:
            W, b = params[i]
            a_in = X if i == 0 else act[i - 1]
            if i > 0:
                dprev = delta[i - 1]
                dot(d, W.T, out=dprev)                   # with the old W
                m = mask[i - 1]
                greater(a_in, 0, out=m)
                multiply(dprev, m, out=dprev, dtype=dt)
            g = gW[i]
            dot(a_in.T, d, out=g)
            subtract(W, g, out=W)
            g = gb[i]
            dot(ones, d, out=g)
            subtract(b, g, out=b)
            if i > 0:
                d = dprev
        return float(loss)

    return Step(step, lambda: params)


# --------------------------------------------------------------------------------------
# PyTorch (eager and torch.compile)
# --------------------------------------------------------------------------------------
def _torch():
    import torch
    torch.set_num_threads(NUM_THREADS)
    return torch


def _torch_setup(problem):
    torch = _torch()
    params = [(torch.from_numpy(W.copy()).requires_grad_(),
               torch.from_numpy(b.copy()).requires_grad_()) for W, b in problem.copy_params()]
    flat = [t for pair in params for t in pair]
    X = torch.from_numpy(np.array(problem.X))
    y = torch.from_numpy(np.array(problem.y))

    def get_params():
        return [(W.detach().numpy().copy(), b.detach().numpy().copy()) for W, b in params]

    return torch, params, flat, X, y, get_params


def _torch_loss(torch, X, y, *flat):
    F = torch.nn.functional
    h = X
    L = len(flat) // 2
    for i in range(L - 1):
        h = torch.relu(torch.addmm(flat[2 * i + 1], h, flat[2 * i]))
    logits = torch.addmm(flat[-1], h, flat[-2])
    return F.cross_entropy(logits, y)


def _torch_step(torch, loss_fn, flat, X, y, lr):
    def step():
        loss = loss_fn(X, y, *flat)
        loss.backward()
        with torch.no_grad():
            grads = [p.grad for p in flat]
            torch._foreach_add_(flat, grads, alpha=-lr)
        for p in flat:
            p.grad = None
        return loss.item()
    return step


def torch_eager(problem):
    """Eager PyTorch: addmm/relu/F.cross_entropy, loss.backward(), foreach SGD update."""
    torch, params, flat, X, y, get_params = _torch_setup(problem)

    def loss_fn(X, y, *flat):
        return _torch_loss(torch, X, y, *flat)

    return Step(_torch_step(torch, loss_fn, flat, X, y, problem.lr), get_params,
                {"threads": torch.get_num_threads()})


def torch_compile(problem):
    """torch.compile (Inductor, CPU) of forward+loss; AOTAutograd compiles the backward.

    The SGD update is the same foreach update as eager (dynamo cannot trace through
    ``loss.backward()`` without compiled autograd)."""
    torch, params, flat, X, y, get_params = _torch_setup(problem)
    try:
        import torch._inductor.config as inductor_config
        inductor_config.compile_threads = 1
    except Exception:  # pragma: no cover - depends on the torch version
        pass
    torch._dynamo.reset()

    def loss_fn(X, y, *flat):
        return _torch_loss(torch, X, y, *flat)

    compiled = torch.compile(loss_fn, dynamic=False, fullgraph=True)
    return Step(_torch_step(torch, compiled, flat, X, y, problem.lr), get_params,
                {"threads": torch.get_num_threads()})


# --------------------------------------------------------------------------------------
# JAX
# --------------------------------------------------------------------------------------
def jax_update(jax, jnp, lr):
    """The jitted SGD step ``(params, X, y) -> (new params, loss)``, parameters donated."""
    def loss_fn(params, X, y):
        h = X
        for W, b in params[:-1]:
            h = jax.nn.relu(h @ W + b)
        W, b = params[-1]
        logp = jax.nn.log_softmax(h @ W + b, axis=-1)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

    def update(params, X, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, X, y)
        new = [(W - lr * gW, b - lr * gb) for (W, b), (gW, gb) in zip(params, grads)]
        return new, loss

    return jax.jit(update, donate_argnums=0)


def jax_jit(problem):
    """jax.jit of value_and_grad + SGD update, parameters donated (updated in place)."""
    import jax
    jax.config.update("jax_enable_x64", True)   # needed for float64 and int64 labels
    import jax.numpy as jnp

    update = jax_update(jax, jnp, problem.lr)
    state = {"params": [(jnp.asarray(W), jnp.asarray(b)) for W, b in problem.copy_params()]}
    X = jax.device_put(np.array(problem.X))
    y = jax.device_put(np.array(problem.y))

    def step():
        state["params"], loss = update(state["params"], X, y)
        return float(loss)

    def get_params():
        return [(np.array(W), np.array(b)) for W, b in state["params"]]

    return Step(step, get_params)


# --------------------------------------------------------------------------------------
# PyTensor (C backend, numba backend)
# --------------------------------------------------------------------------------------
def _pytensor():
    if "pytensor" not in __import__("sys").modules and "blas__ldflags" not in \
            os.environ.get("PYTENSOR_FLAGS", ""):
        # pip-installed PyTensor does not find a BLAS by itself; the system OpenBLAS
        # (Debian: libopenblas-dev) works.  Without it, Gemm falls back to slow code.
        import ctypes.util
        if ctypes.util.find_library("openblas"):
            flags = os.environ.get("PYTENSOR_FLAGS", "")
            os.environ["PYTENSOR_FLAGS"] = ",".join(
                f for f in (flags, "blas__ldflags=-lopenblas") if f)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pytensor
        import pytensor.tensor as pt
    return pytensor, pt


def _pytensor_step(problem, mode):
    pytensor, pt = _pytensor()
    dt = np.dtype(problem.dtype)
    x = pt.matrix("x", dtype=dt.name)
    y = pt.vector("y", dtype="int64")
    params = [(pytensor.shared(W, name=f"W{i + 1}", borrow=True),
               pytensor.shared(b, name=f"b{i + 1}", borrow=True))
              for i, (W, b) in enumerate(problem.copy_params())]
    h = x
    for W, b in params[:-1]:
        h = pt.maximum(h @ W + b, 0)
    W, b = params[-1]
    logits = h @ W + b
    logp = logits - pt.logsumexp(logits, axis=1, keepdims=True)
    loss = -pt.mean(logp[pt.arange(y.shape[0]), y])
    flat = [t for pair in params for t in pair]
    grads = pytensor.grad(loss, flat)
    lr = pt.constant(np.asarray(problem.lr, dt))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f = pytensor.function([x, y], loss, mode=mode,
                              updates=[(p, p - lr * g) for p, g in zip(flat, grads)])
    X, yv = np.array(problem.X), np.array(problem.y)

    def step():
        return float(f(X, yv))

    def get_params():
        return [(W.get_value(), b.get_value()) for W, b in params]

    blas = pytensor.config.blas__ldflags
    return Step(step, get_params, {"blas": blas or "none (slow fallback)"})


def pytensor_c(problem):
    """PyTensor, C backend (CVM linker, FAST_RUN rewrites)."""
    pytensor, _ = _pytensor()
    from pytensor.compile.mode import Mode
    return _pytensor_step(problem, Mode(linker="cvm", optimizer="fast_run"))


def pytensor_numba(problem):
    """PyTensor, numba backend."""
    return _pytensor_step(problem, "NUMBA")


# --------------------------------------------------------------------------------------
# symgrad, through its public API exactly as SPEC.md shows it
# --------------------------------------------------------------------------------------
def symgrad_step(problem, target="numpy"):
    import symgrad as sg

    t0 = time.perf_counter()
    dt = np.dtype(problem.dtype).name
    x = sg.tensor("x", shape=("batch", problem.widths[0]), dtype=dt)
    y = sg.tensor("y", shape=("batch",), dtype="int64")
    params = [(sg.shared(W, name=f"W{i + 1}"), sg.shared(b, name=f"b{i + 1}"))
              for i, (W, b) in enumerate(problem.copy_params())]
    h = x
    for W, b in params[:-1]:
        h = sg.relu(h @ W + b)
    W, b = params[-1]
    logits = h @ W + b
    loss = sg.nn.cross_entropy(logits, y)
    flat = [t for pair in params for t in pair]
    grads = sg.grad(loss, flat)
    t1 = time.perf_counter()
    lr = problem.lr
    fn = sg.function([x, y], loss,
                     updates={p: p - lr * g for p, g in zip(flat, grads)},
                     name="mlp_step", target=target)
    t2 = time.perf_counter()
    X, yv = problem.X, problem.y
    info = {"build_grad_s": t1 - t0, "compile_s": t2 - t1, "function": fn}

    def step():
        return float(fn(X, yv))

    def get_params():
        return [(np.array(W.value), np.array(b.value)) for W, b in params]

    return Step(step, get_params, info)


def symgrad_plain(problem):
    """symgrad's plain target: the same program as plain NumPy (no lowerings)."""
    return symgrad_step(problem, target="plain")


# --------------------------------------------------------------------------------------
# registry
# --------------------------------------------------------------------------------------
IMPLEMENTATIONS = {
    "numpy_tuned": numpy_tuned,
    "numpy_naive": numpy_naive,
    "symgrad": symgrad_step,
    "symgrad_plain": symgrad_plain,
    "torch_eager": torch_eager,
    "torch_compile": torch_compile,
    "jax_jit": jax_jit,
    "pytensor_c": pytensor_c,
    "pytensor_numba": pytensor_numba,
}
REFERENCE = "numpy_tuned"        # the 1.00 of the speed ratios
CHECK_REFERENCE = "numpy_naive"  # what every implementation's parameters are checked against
# implementations whose memory goes through NumPy's allocator (seen by tracemalloc)
TRACEMALLOC_VISIBLE = {"numpy_tuned", "numpy_naive", "symgrad", "symgrad_plain", "pytensor_c"}
_REQUIRES = {
    "symgrad": ("symgrad",),
    "symgrad_plain": ("symgrad",),
    "torch_eager": ("torch",),
    "torch_compile": ("torch",),
    "jax_jit": ("jax", "jaxlib"),
    "pytensor_c": ("pytensor",),
    "pytensor_numba": ("pytensor", "numba"),
}


def _version(mod):
    return getattr(mod, "__version__", "?")


_SYMGRAD_API = ("tensor", "shared", "relu", "nn", "grad", "function")


def _symgrad_incomplete():
    """A reason while symgrad is still being written (no __init__, API missing)."""
    import symgrad
    if getattr(symgrad, "__file__", None) is None:
        return "symgrad is a namespace package with no __init__.py yet"
    missing = [a for a in _SYMGRAD_API if not hasattr(symgrad, a)]
    if missing:
        return f"symgrad has no {', '.join(missing)} yet"
    return None


def available(names=None):
    """-> (ok: {name: factory}, missing: {name: reason}, versions: {module: version})."""
    names = list(IMPLEMENTATIONS) if names is None else list(names)
    ok, missing, versions = {}, {}, {"numpy": np.__version__}
    for name in names:
        if name not in IMPLEMENTATIONS:
            raise KeyError(f"unknown implementation {name!r}; known: {list(IMPLEMENTATIONS)}")
        reason = None
        for modname in _REQUIRES.get(name, ()):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    if modname == "pytensor":
                        _pytensor()
                    mod = importlib.import_module(modname)
                versions[modname] = _version(mod)
            except Exception as exc:  # ImportError, or a broken install
                reason = f"{modname} not importable ({type(exc).__name__}: {exc})"
                break
        if name.startswith("symgrad") and reason is None:
            reason = _symgrad_incomplete()
        if name == "torch_compile" and reason is None:
            import shutil
            if not (shutil.which("g++") or shutil.which("c++")):
                reason = "no C++ compiler for Inductor"
        if name == "pytensor_c" and reason is None:
            import shutil
            if not (shutil.which("g++") or shutil.which("c++")):
                reason = "no C++ compiler for the C backend"
        if reason is None:
            ok[name] = IMPLEMENTATIONS[name]
        else:
            missing[name] = reason
    return ok, missing, versions
