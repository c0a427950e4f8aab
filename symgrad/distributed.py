"""Exact data-parallel training on Dask: ``sg.distributed.data_parallel(step, client)``.

The compiler splits a compiled step at the points where values that depend on the batch
(values whose type carries the named dimension ``dim``) become batch-free:

* every such point must be a **linear reduction over the batch**: a ``sum`` or ``mean``
  over the batch axis, or a ``matmul`` (``tensordot``, ``einsum`` with one batched
  operand) that contracts it (``x.T @ delta``). The sizes of the batch (``x.shape[0]``,
  the count a ``mean`` divides by) are batch-free too: where they are used as values they
  are the size of the *whole* batch, where they size a per-example array (``arange`` over
  the batch) they are the shard's;
* the **shard program** computes, for one shard of the batch, every value before those
  points and returns the partial reductions (a mean returns its partial *sum*; the driver
  divides the total by the whole batch's count);
* the **combine program** takes the sums of the partials (added on the driver in shard
  order, so the result does not depend on which worker computed what) and computes the
  batch-free rest: the losses and the updates, which it applies to the step's own shared
  variables, once.

Anything else that reduces over the batch (a ``max`` over it, a per-example value that
uses a batch reduction, an op that could mix examples along the batch axis) is refused
with an error naming the op. The same analysis runs without a cluster: ``split(step)``
returns the two programs, and ``SplitStep.run_local(args, shards)`` runs them in this
process.

On Dask (``DataParallel``): the shard program is sent to every worker once; each shard of
the batch inputs is sent to one worker and stays there while the same data is passed
again (checked by content); per step the driver sends the parameters the shard program
reads (once, to all workers together) and each worker returns its partial sums. Workers
keep no state between steps, so a worker that dies costs a retry of the step: shards it
held are sent again from the driver's copy, and the update is applied once, after every
partial sum of the step has arrived.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass, field

import numpy as np

from .function import Function
from .ir.graph import clone, toposort
from .ir.node import SharedVariable, Var
from .ops import astype
from .ops.leaves import tensor
from .ops.registry import REGISTRY, apply, describe
from .rewrite.pattern import P, first_match

__all__ = ["data_parallel", "split", "SplitStep", "DataParallel", "SplitError"]


class SplitError(ValueError):
    """The step cannot be split exactly over the batch; the message names the op."""


# kinds of nodes
FREE, SHARD, COUNT, PARTIAL, POST = "free", "shard", "count", "partial", "post"

# ops whose result is computed example by example when it keeps the batch axis
_ARANGE = P.arange(...)


def _row_local(n: Var) -> bool:
    """Ops that never mix positions along the axes they keep (from the op's facts):
    elementwise ops, reductions (over other axes), fills, draws, matmul, entry-moving
    ops that keep every entry in its row (not reshapes), and ``positionwise`` ops."""
    op = n.op
    return bool(op.elementwise or op.reduction or op.fills or op.random
                or op.ufunc == "matmul" or op.positionwise
                or op.entries in ("same", "broadcast")
                or (op.entries == "moved" and "axes" in n.params))


def _indexed_position(n: Var):
    """For an indexing op (reads positions given by its ``index`` parameter, writes
    nothing): the position of the indexed array among its inputs; else None."""
    op = n.op
    if "index" not in n.params or op.writes is not None:
        return None
    return op.shape_only[0] if op.shape_only else 0


def _where(v: Var) -> str:
    return f"{v.op.name} ({describe(v)})"


@dataclass
class SplitStep:
    """The two programs of a split step and how to feed them (see the module docstring)."""

    step: Function
    dim: str
    shard_fn: Function                 # shard program: partial sums (+ per-example outputs)
    combine_fn: Function               # combine program: outputs and updates, on the driver
    batch_args: list[tuple[int, int]]  # (position in step's inputs, batch axis)
    shard_sources: list                # what each shard_fn input is
    shared_reads: list[SharedVariable]  # step's shared values the shard program reads
    counters: list[SharedVariable]     # stream counters among them
    combine_sources: list              # what each combine_fn input is
    n_partials: int
    outputs: list                      # per step output: ("combine", k) or ("shard", k, axis)
    partial_names: list = field(default_factory=list)

    # --- driver side ------------------------------------------------------------------
    def convert(self, args, kwargs):
        """Validate and convert the step's arguments exactly as the step does; returns the
        arrays and the size of the batch."""
        step = self.step
        arrays = step._convert_all(args, kwargs)        # the step's own argument checks
        for v, a in zip(step.inputs, arrays):          # the batch size: dim's first input
            if self.dim in v.type.shape:
                return arrays, a.shape[v.type.shape.index(self.dim)]
        raise AssertionError(f"no input of {step.name!r} has the dimension {self.dim!r}")

    def bounds(self, n: int, shards: int) -> list[tuple[int, int]]:
        """Contiguous row ranges of ``shards`` shards (sizes differ by at most one)."""
        shards = max(1, min(shards, n))
        cuts = [n * s // shards for s in range(shards + 1)]
        return list(zip(cuts[:-1], cuts[1:]))

    def shard_data(self, arrays, lo, hi) -> tuple:
        """The batch inputs' rows ``lo:hi`` (contiguous copies)."""
        out = []
        for k, axis in self.batch_args:
            index = (slice(None),) * axis + (slice(lo, hi),)
            out.append(np.ascontiguousarray(arrays[k][index]))
        return tuple(out)

    def shared_values(self) -> tuple:
        return tuple(s._value for s in self.shared_reads)

    def shard_call_args(self, data, params, n_total, arrays, shard, shards):
        """The arguments of ``shard_fn`` for one shard."""
        out = []
        for src in self.shard_sources:
            kind = src[0]
            if kind == "batch":
                out.append(data[src[1]])
            elif kind == "arg":
                out.append(arrays[src[1]])
            elif kind == "count":
                out.append(np.asarray(n_total, np.int64))
            elif kind == "shared":
                out.append(params[src[1]])
            else:   # a stream counter: each shard draws its own numbers
                out.append(np.asarray(int(params[src[1]]) * shards + shard, np.int64))
        return out

    def combine(self, arrays, n_total, results):
        """Add the shards' partial sums (in shard order), run the combine program (which
        applies the updates) and return the step's outputs."""
        totals = []
        for j in range(self.n_partials):
            acc = np.array(results[0][j], copy=True)
            for r in results[1:]:
                acc += r[j]
            totals.append(acc)
        args = []
        for src in self.combine_sources:
            if src[0] == "arg":
                args.append(arrays[src[1]])
            elif src[0] == "count":
                args.append(np.asarray(n_total, np.int64))
            else:
                args.append(totals[src[1]])
        combined = self.combine_fn(*args)
        leaves = []
        for o in self.outputs:
            if o[0] == "combine":
                leaves.append(combined[o[1]])
            else:
                leaves.append(np.concatenate([r[o[1]] for r in results], axis=o[2]))
        from .autodiff.structure import unflatten
        if self.step._tree is list and not self.step.outputs:
            return []
        return unflatten(self.step._tree, leaves)

    def run_local(self, args, shards: int, kwargs=None):
        """Run the split step in this process on ``shards`` shards (for checks and
        benchmarks: the same arithmetic as on a cluster)."""
        arrays, n = self.convert(tuple(args), kwargs or {})
        params = self.shared_values()
        results = []
        bounds = self.bounds(n, shards)
        for s, (lo, hi) in enumerate(bounds):
            data = self.shard_data(arrays, lo, hi)
            call = self.shard_call_args(data, params, n, arrays, s, len(bounds))
            results.append(self.shard_fn(*call))
        return self.combine(arrays, n, results)


def split(step: Function, dim: str = "batch") -> SplitStep:
    """Split a compiled step over the named dimension ``dim`` (see the module docstring).

    Raises ``SplitError`` naming the op where the step reduces over ``dim`` other than
    linearly, or where an op may mix examples along ``dim``.
    """
    if not isinstance(step, Function):
        raise TypeError(f"data_parallel: expected a compiled function (sg.function), got "
                        f"{type(step).__name__}")
    if not isinstance(dim, str):
        raise TypeError(f"data_parallel: dim must be the name of a dimension, got {dim!r}")
    batch_args = []
    for k, v in enumerate(step.inputs):
        count = v.type.shape.count(dim)
        if count > 1:
            raise SplitError(f"data_parallel: input {describe(v)} has dimension {dim!r} "
                             "twice")
        if count:
            batch_args.append((k, v.type.shape.index(dim)))
    if not batch_args:
        names = ", ".join(describe(v) for v in step.inputs) or "none"
        raise SplitError(f"data_parallel: no input of {step.name!r} has the dimension "
                         f"{dim!r} (inputs: {names})")
    outputs = list(step.outputs)
    updates = list(step.updates)
    roots = outputs + [v for _, v in updates]
    order = toposort(roots)
    kind: dict[int, str] = {}
    axis: dict[int, int] = {}
    rowidx: set[int] = set()         # arange over the batch: valid only as a row index
    batch_ids = {step.inputs[k].id for k, _ in batch_args}

    def refuse(n: Var, why: str):
        raise SplitError(f"data_parallel: cannot split {step.name!r} over {dim!r} at op "
                         f"{_where(n)}: {why}")

    for n in order:
        dims = n.type.shape
        out_axes = [a for a, d in enumerate(dims) if d == dim]
        if len(out_axes) > 1:
            refuse(n, f"its result has the dimension {dim!r} twice")
        if n.op.leaf:
            if n.id in batch_ids:
                kind[n.id], axis[n.id] = SHARD, out_axes[0]
            else:
                kind[n.id] = FREE
            continue
        ks = [kind[i.id] for i in n.inputs]
        if PARTIAL in ks or POST in ks:
            if out_axes or SHARD in ks:
                red = next(i for i in n.inputs if kind[i.id] in (PARTIAL, POST))
                refuse(n, f"it combines per-example values with a value reduced over the "
                          f"batch ({_where(red)}); only one reduction over the batch per "
                          "step can be split (batch statistics are not supported)")
            kind[n.id] = POST
        elif SHARD in ks:
            if out_axes:
                _check_row_local(n, kind, axis, rowidx, refuse)
                kind[n.id], axis[n.id] = SHARD, out_axes[0]
            elif n.op.python_int:                       # shape_of, size_of
                x = n.inputs[0]
                axes = (n.params["axis"],) if "axis" in n.params else n.params["axes"]
                if axis[x.id] not in axes:
                    refuse(n, f"a symbolic size of an axis other than {dim!r}")
                kind[n.id] = COUNT
            else:
                _check_linear(n, kind, axis, dim, refuse)
                kind[n.id] = PARTIAL
        elif COUNT in ks:
            if out_axes:
                kind[n.id], axis[n.id] = SHARD, out_axes[0]
                if first_match(_ARANGE, n) is not None:
                    rowidx.add(n.id)
            else:
                kind[n.id] = FREE
        else:
            if out_axes:
                refuse(n, f"its size along {dim!r} does not come from a batch input")
            kind[n.id] = FREE
    # a row index (arange over the batch) may only index rows of per-example arrays
    for n in order:
        for pos, i in enumerate(n.inputs):
            at = _indexed_position(n)
            if i.id in rowidx and not (at is not None and pos > at):
                refuse(n, f"it uses an arange over {dim!r} as values; on a shard it would "
                          "number the shard's rows, not the batch's")
    for (target, value) in updates:
        if kind[value.id] == SHARD:
            refuse(value, f"the update of {describe(target)} is per example")

    # ---- the shard program -----------------------------------------------------------
    n_total = tensor(f"n_{dim}" if dim.isidentifier() else "n_batch", (), "int64")
    global_counts: dict[int, Var] = {}

    def global_count(c: Var) -> Var:
        """The value of a size over the batch, for the whole batch."""
        hit = global_counts.get(c.id)
        if hit is None:
            axes = (c.params["axis"],) if "axis" in c.params else c.params["axes"]
            k = _static_size(c, axes, axis, refuse)
            hit = n_total if k == 1 else n_total * k
            if hit.dtype != c.dtype:
                hit = astype(hit, c.dtype)
            global_counts[c.id] = hit
        return hit

    partials = [n for n in order if kind[n.id] == PARTIAL]
    shard_outputs = [(k, o) for k, o in enumerate(outputs) if kind[o.id] == SHARD]
    shard_roots_old = partials + [o for _, o in shard_outputs]
    need = toposort(shard_roots_old)
    new: dict[int, Var] = {}
    shared_reads: list[SharedVariable] = []
    shared_inputs: list[Var] = []
    for n in need:
        if isinstance(n, SharedVariable):
            if n.op.leaf == "shared" and n not in shared_reads:
                shared_reads.append(n)
                inp = tensor(n.name or f"shared{len(shared_reads)}", n.type.shape, n.dtype)
                shared_inputs.append(inp)
                new[n.id] = inp
            continue
        if n.op.leaf:
            new[n.id] = n
            continue
        if n.op.random and kind[n.id] == FREE:
            refuse(n, "a random draw without the batch dimension used by per-example "
                      "computation (each shard would draw its own)")
        consumer_is_shard = kind[n.id] == SHARD
        ins = tuple(global_count(i) if kind[i.id] == COUNT and not consumer_is_shard
                    else new[i.id] for i in n.inputs)
        if n.op.reduction == "mean" and kind[n.id] == PARTIAL:
            x = ins[0]
            if x.dtype != n.dtype:
                x = astype(x, n.dtype)
            new[n.id] = apply(REGISTRY["sum"], [x], **n.params)
            continue
        new[n.id] = n if all(a is b for a, b in zip(ins, n.inputs)) else clone(n, ins)
    shard_roots = [new[n.id] for n in shard_roots_old]
    counters = [s for s in shared_reads if getattr(s, "default_update", None) is not None]

    shard_in: list[Var] = []
    shard_sources: list = []
    for j, (k, _) in enumerate(batch_args):
        shard_in.append(step.inputs[k])
        shard_sources.append(("batch", j))
    reached = {v.id for v in toposort(shard_roots)}
    for k, v in enumerate(step.inputs):
        if v.id in reached and v.id not in batch_ids:
            shard_in.append(v)
            shard_sources.append(("arg", k))
    if n_total.id in reached:
        shard_in.append(n_total)
        shard_sources.append(("count",))
    for j, (s, inp) in enumerate(zip(shared_reads, shared_inputs)):
        if inp.id in reached:
            shard_in.append(inp)
            shard_sources.append(("counter", j) if s in counters else ("shared", j))
    shard_fn = Function(shard_in, shard_roots, name=f"{step.name}_shard")

    # ---- the combine program ---------------------------------------------------------
    partial_inputs = []
    partial_names = []
    combine_new: dict[int, Var] = {}
    for j, p in enumerate(partials):
        base = p.name or (p.tag.node.name if p.is_grad and p.tag.node.name else None)
        name = f"sum_{base}" if base else f"partial{j}"
        inp = tensor(name, p.type.shape, new[p.id].dtype)
        partial_inputs.append(inp)
        partial_names.append(name)
        value = inp
        if p.op.reduction == "mean":
            value = inp / astype(_mean_count(p, axis, refuse, n_total), p.dtype)
        combine_new[p.id] = value
    combine_roots_old = [o for o in outputs if kind[o.id] != SHARD] + \
        [v for _, v in updates]
    for n in toposort(combine_roots_old):
        if n.id in combine_new:
            continue
        if n.op.leaf:
            combine_new[n.id] = n
            continue
        if kind[n.id] in (SHARD, COUNT):     # only under the partial sums (or replaced)
            continue
        ins = tuple(global_count(i) if kind[i.id] == COUNT else combine_new[i.id]
                    for i in n.inputs)
        combine_new[n.id] = n if all(a is b for a, b in zip(ins, n.inputs)) else clone(n, ins)
    combine_outputs = [combine_new[o.id] for o in outputs if kind[o.id] != SHARD]
    combine_updates = {t: combine_new[v.id] for t, v in updates}
    reached = {v.id for v in toposort(combine_outputs + list(combine_updates.values()))}
    combine_in, combine_sources = [], []
    for k, v in enumerate(step.inputs):
        if v.id in reached:
            if v.id in batch_ids:  # pragma: no cover - kinds make this impossible
                refuse(v, "internal: a batch input reached the combine program")
            combine_in.append(v)
            combine_sources.append(("arg", k))
    if n_total.id in reached:
        combine_in.append(n_total)
        combine_sources.append(("count",))
    for j, inp in enumerate(partial_inputs):
        combine_in.append(inp)
        combine_sources.append(("partial", j))
    combine_fn = Function(combine_in, combine_outputs, updates=combine_updates,
                          name=f"{step.name}_combine", check_finite=step.check_finite)

    out_map, ci, si = [], 0, 0
    for o in outputs:
        if kind[o.id] == SHARD:
            out_map.append(("shard", len(partials) + si, axis[o.id]))
            si += 1
        else:
            out_map.append(("combine", ci))
            ci += 1
    return SplitStep(step=step, dim=dim, shard_fn=shard_fn, combine_fn=combine_fn,
                     batch_args=batch_args, shard_sources=shard_sources,
                     shared_reads=shared_reads, counters=counters,
                     combine_sources=combine_sources, n_partials=len(partials),
                     outputs=out_map, partial_names=partial_names)


def _mean_count(p: Var, axis, refuse, n_total) -> Var:
    """The number of elements a mean over the batch divides by, for the whole batch."""
    reduced = p.params["axis"]
    k = _static_size(p, range(p.inputs[0].ndim) if reduced is None else reduced, axis, refuse)
    return n_total if k == 1 else n_total * k


def _static_size(n: Var, axes, axis, refuse) -> int:
    """The number of elements over ``axes`` of ``n``'s input, the batch axis left out."""
    x, k = n.inputs[0], 1
    for a in axes:
        if a != axis[x.id]:
            d = x.type.shape[a]
            if not isinstance(d, int):
                refuse(n, "a size over the batch and an axis of non-static size")
            k *= d
    return k


def _check_row_local(n: Var, kind, axis, rowidx, refuse):
    """A node that keeps the batch axis: is each example's result its own?"""
    op = n.op
    if op.positionwise and n.params.get("axis") == axis[n.inputs[0].id] \
            and not op.reduction:
        refuse(n, "it combines entries along the batch axis (as a cumulative sum along "
                  "the batch, or a concatenation along it, does)")
    if _row_local(n):
        return
    if op.entries == "moved" and ("shape" in n.params or op.shape_only):   # a reshape
        x = n.inputs[0]
        if axis.get(x.id) == 0 and n.type.shape[0] == x.type.shape[0]:
            return
        refuse(n, "a reshape that moves the batch axis (only reshapes keeping it first "
                  "are per example)")
    if op.linear == "each" and not op.elementwise:     # tensordot, einsum
        if sum(kind[i.id] == SHARD for i in n.inputs) == 1:
            return
        refuse(n, "a contraction of two per-example operands that keeps the batch")
    pos = _indexed_position(n)
    if pos is not None:
        x, adv = n.inputs[pos], n.inputs[pos + 1:]
        if kind[x.id] != SHARD:
            # a gather from a batch-free table by per-example indices
            if any(a.id in rowidx for a in adv):
                refuse(n, "a batch-free array indexed by an arange over the batch")
            return
        b, consumed = axis[x.id], 0
        for e in n.params["index"]:
            if e[0] == "new":
                continue
            if consumed == b:
                if e[0] == "slice" and e[1:] in ((None, None, None), (None, None, 1)):
                    if any(kind[a.id] == SHARD for a in adv):
                        refuse(n, "per-example indices into another axis of a "
                                  "per-example array")
                    return
                if e[0] == "adv" and adv[e[1]].id in rowidx:
                    return
                refuse(n, "an index that selects or reorders examples")
            consumed += 1
        return
    refuse(n, "symgrad cannot tell whether this op mixes examples along the batch axis "
              "(supported: elementwise ops, reductions and matmuls over other axes, shape "
              "ops, row-aligned indexing)")


def _check_linear(n: Var, kind, axis, dim, refuse):
    """A node whose per-example inputs give a batch-free result: a linear reduction?"""
    op = n.op
    if op.reduction == "mean" or (op.reduction == "fold" and op.ufunc == "add"):   # sum, mean
        return
    if op.ufunc == "matmul":
        a, b = n.inputs
        if kind[a.id] == SHARD and kind[b.id] == SHARD and axis[a.id] == a.ndim - 1 \
                and axis[b.id] == max(b.ndim - 2, 0):
            return
        refuse(n, f"a matmul that removes {dim!r} without contracting it in both operands")
    if op.linear == "each" and not op.elementwise and \
            sum(kind[i.id] == SHARD for i in n.inputs) == 1:      # tensordot, einsum
        return
    refuse(n, f"it reduces over {dim!r} non-linearly; only sums, means and contractions "
              "(matmul) over the batch can be split into partial sums")


# ---------------------------------------------------------------------------------------
# the Dask runtime
# ---------------------------------------------------------------------------------------

def _run_shard(split_step: SplitStep, data, params, n_total, args, shard, shards):
    """The task each worker runs: one shard's partial sums (and per-example outputs)."""
    call = split_step.shard_call_args(data, params, n_total, args, shard, shards)
    out = split_step.shard_fn(*call)
    return list(out)


def _fingerprint(arrays) -> tuple:
    return tuple((a.shape, a.dtype.str, zlib.crc32(np.ascontiguousarray(a).data))
                 for a in arrays)


def _transient_errors():
    from concurrent.futures import CancelledError
    errors = [CancelledError, OSError, TimeoutError]
    try:
        from distributed.scheduler import KilledWorker
        errors.append(KilledWorker)
    except ImportError:  # pragma: no cover
        pass
    try:
        from distributed.comm.core import CommClosedError
        errors.append(CommClosedError)
    except ImportError:  # pragma: no cover
        pass
    return tuple(errors)


class DataParallel:
    """A compiled step run data-parallel on a Dask cluster; call it like the step.

    Made by ``data_parallel``. ``shards`` is the number of shards of each batch (by
    default the number of workers when it was made); ``retries`` how many times a step
    is tried again after a worker is lost; ``timeout`` the seconds one attempt may take.
    ``stats`` counts steps, attempts that failed and shards (re)sent.
    """

    def __init__(self, step: Function, client, dim: str = "batch", *, shards=None,
                 retries: int = 3, timeout: float = 300.0):
        self.split = split(step, dim)
        self.step = step
        self.client = client
        workers = self._workers()
        if not workers:
            raise RuntimeError("data_parallel: the Dask cluster has no workers")
        self.shards = int(shards) if shards is not None else len(workers)
        if self.shards < 1:
            raise ValueError(f"data_parallel: shards must be at least 1, got {shards!r}")
        self.retries = int(retries)
        self.timeout = float(timeout)
        self._program = None
        self._data_key = None
        self._data = None          # per shard: future of its batch inputs
        self._host = None          # per shard: the driver's copy, to send again
        self.stats = {"steps": 0, "failed_attempts": 0, "shards_sent": 0}

    @property
    def source(self) -> str:
        return self.split.shard_fn.source

    def _workers(self) -> list[str]:
        return sorted(self.client.scheduler_info()["workers"])

    def _ensure_program(self):
        if self._program is None or self._program.status != "finished":
            self._program = self.client.scatter([self.split], broadcast=True, hash=False,
                                                timeout=self.timeout)[0]

    def _ensure_data(self, arrays, n):
        key = (n, _fingerprint([arrays[k] for k, _ in self.split.batch_args]))
        if key != self._data_key:
            bounds = self.split.bounds(n, self.shards)
            self._host = [self.split.shard_data(arrays, lo, hi) for lo, hi in bounds]
            self._data = [None] * len(bounds)
            self._data_key = key
        workers = self._workers()
        for s, fut in enumerate(self._data):
            if fut is None or fut.status != "finished":
                w = workers[s % len(workers)]
                self._data[s] = self.client.scatter([self._host[s]], workers=[w], hash=False,
                                                    timeout=self.timeout)[0]
                self.stats["shards_sent"] += 1
        return workers

    def __call__(self, *args, **kwargs):
        sp = self.split
        arrays, n = sp.convert(args, kwargs)
        batch = {k for k, _ in sp.batch_args}
        free_args = [None if k in batch else a for k, a in enumerate(arrays)]
        transient = _transient_errors()
        last = None
        for attempt in range(self.retries + 1):
            try:
                results = self._attempt(arrays, free_args, n)
                break
            except transient as exc:
                last = exc
                self.stats["failed_attempts"] += 1
                time.sleep(min(0.2 * (attempt + 1), 1.0))
        else:
            raise RuntimeError(f"data_parallel: step {self.step.name!r} failed "
                               f"{self.retries + 1} times; the last error was "
                               f"{type(last).__name__}: {last}") from last
        self.stats["steps"] += 1
        return sp.combine(arrays, n, results)

    def _attempt(self, arrays, free_args, n):
        from distributed import wait
        sp = self.split
        self._ensure_program()
        workers = self._ensure_data(arrays, n)
        # the parameters travel inside the tasks: once per step to each worker (a
        # broadcast scatter can wait forever on a worker that has just died)
        params = sp.shared_values()
        shards = len(self._data)
        futures = [self.client.submit(_run_shard, self._program, self._data[s], params, n,
                                      free_args, s, shards, pure=False,
                                      workers=[workers[s % len(workers)]],
                                      allow_other_workers=True)
                   for s in range(shards)]
        done, not_done = wait(futures, timeout=self.timeout)
        if not_done:
            for f in futures:
                f.cancel()
            raise TimeoutError(f"data_parallel: {len(not_done)} shard(s) did not finish "
                               f"within {self.timeout} s")
        return self.client.gather(futures)

    def __repr__(self) -> str:
        return (f"<symgrad.DataParallel {self.step.name} over {self.split.dim!r}, "
                f"{self.shards} shards>")


def data_parallel(step: Function, client, dim: str = "batch", **options) -> DataParallel:
    """Run ``step`` data-parallel on the workers of a Dask ``client``.

    Returns a callable with the signature and results of ``step``: each call splits the
    inputs that carry the named dimension ``dim`` into shards (one per worker), computes
    every shard's partial sums on the workers, adds them on the driver and applies the
    step's updates there, once. See the module docstring and docs/distributed.md.

    Options: ``shards`` (default: the number of workers), ``retries`` (3), ``timeout``.
    """
    return DataParallel(step, client, dim, **options)
