"""``f.profile(*args, repeat=...)``: the time of every statement of the generated code.

The generated function's own source is parsed (``ast``) and every top-level statement of
its body is put between two clock readings that add the elapsed time to that statement's
slot; the result is compiled under the generated module's file name, so tracebacks show
the generated lines. No second emitter: the statements timed are the ones ``f.source``
shows and a call runs.

What it runs on: the arguments are checked and converted exactly as a call does, and the
function runs on *copies* of the shared values, so ``profile`` never changes a shared
variable (no update is applied, a random stream does not advance). The copies start from
the current values and evolve from run to run as training would. The uninstrumented
function is timed on the same copies, interleaved with the instrumented runs, so the
per-line times can be compared with the whole step.
"""

from __future__ import annotations

import ast
import html
import time

import numpy as np

from . import backend
from .aligned import aligned_copy
from .codegen.compile import load

_INSTRUMENTED: dict[str, tuple] = {}     # module source -> (function, statement list)
_ACC = "_symgrad_acc"
_CLOCK = "_symgrad_clock"


class ProfileRow:
    """One statement: its first line in ``f.source``, its text, its median time per run
    (seconds) and its share of the sum over all statements."""

    __slots__ = ("line", "source", "seconds", "share")

    def __init__(self, line: int, source: str, seconds: float, share: float):
        self.line, self.source, self.seconds, self.share = line, source, seconds, share

    def __repr__(self) -> str:
        return f"ProfileRow(line={self.line}, seconds={self.seconds:.3g}, {self.source!r})"


class Profile:
    """The table ``f.profile`` returns; prints as text, displays as HTML in a notebook.

    ``rows``: one ``ProfileRow`` per statement, in source order, with its median time over
    the runs. ``total``: the sum of the rows (seconds per run). ``step_seconds``: the
    median time of one uninstrumented run of the same generated function on the same
    data. ``repeat``: the number of timed runs.
    """

    def __init__(self, name: str, rows: list[ProfileRow], step_seconds: float, repeat: int):
        self.name, self.rows, self.step_seconds, self.repeat = name, rows, step_seconds, repeat
        self.total = sum(r.seconds for r in rows)

    def top(self, n: int = 5) -> list[ProfileRow]:
        """The ``n`` costliest statements, costliest first."""
        return sorted(self.rows, key=lambda r: -r.seconds)[:n]

    def _summary(self) -> str:
        ratio = self.total / self.step_seconds if self.step_seconds else float("nan")
        return (f"profile of {self.name}: {self.repeat} runs; statements sum to "
                f"{_fmt(self.total)} per run, the uninstrumented step takes "
                f"{_fmt(self.step_seconds)} ({ratio:.0%})")

    def __str__(self) -> str:
        out = [self._summary(), f"{'line':>5} {'time/run':>10} {'share':>6}  source"]
        for r in self.rows:
            out.append(f"{r.line:>5} {_fmt(r.seconds):>10} {r.share:>6.1%}  "
                       f"{_clip(r.source, 90)}")
        return "\n".join(out)

    def __repr__(self) -> str:
        return f"<symgrad.Profile {self.name}: {len(self.rows)} statements, " \
               f"{_fmt(self.total)} per run>"

    def _repr_html_(self) -> str:
        top = max((r.seconds for r in self.rows), default=0.0) or 1.0
        cells = []
        for r in self.rows:
            width = 100.0 * r.seconds / top
            bar = (f'<div style="background:#f4a259;height:0.8em;width:{width:.1f}%">'
                   "</div>")
            cells.append(
                f"<tr><td style='text-align:right'>{r.line}</td>"
                f"<td style='text-align:right'>{_fmt(r.seconds)}</td>"
                f"<td style='text-align:right'>{r.share:.1%}</td>"
                f"<td style='width:8em'>{bar}</td>"
                f"<td style='text-align:left'><code>{html.escape(_clip(r.source, 110))}"
                "</code></td></tr>")
        head = ("<tr><th>line</th><th>time/run</th><th>share</th><th></th>"
                "<th style='text-align:left'>source</th></tr>")
        return (f"<div class='symgrad-profile'><p>{html.escape(self._summary())}</p>"
                f"<table>{head}{''.join(cells)}</table></div>")


def _fmt(seconds: float) -> str:
    if seconds != seconds:
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.3f} ms"
    return f"{seconds:.3f} s"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _statement_text(source: str, node: ast.stmt) -> str:
    """The statement's code as one line (continuation lines joined)."""
    seg = ast.get_source_segment(source, node) or ""
    return " ".join(part.strip().rstrip("\\").strip() for part in seg.splitlines())


def instrument(module):
    """The generated function with a timer around every top-level statement, and the
    list of ``(first line, text)`` of those statements. Cached per module source."""
    hit = _INSTRUMENTED.get(module.source)
    if hit is not None:
        return hit
    tree = ast.parse(module.source)
    fdef = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == module.name)
    body = list(fdef.body)
    head = []
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        head.append(body.pop(0))                       # the docstring
    statements = []
    new_body = head + ast.parse(f"_acc = {_ACC}\n_clock = {_CLOCK}").body
    for k, stmt in enumerate(body):
        statements.append((stmt.lineno, _statement_text(module.source, stmt)))
        start = ast.parse("_t0 = _clock()").body
        stop = ast.parse(f"_acc[{k}] += _clock() - _t0").body
        if isinstance(stmt, ast.Return) and stmt.value is not None:
            keep = ast.Assign(targets=[ast.Name("_ret", ast.Store())], value=stmt.value)
            timed = start + [keep] + stop + [ast.Return(ast.Name("_ret", ast.Load()))]
        else:
            timed = start + [stmt] + stop
        for node in timed:                  # inserted lines report the statement's line
            if node is not stmt:
                ast.copy_location(node, stmt)
        new_body += timed
    fdef.body = new_body
    ast.fix_missing_locations(tree)
    fn = load(module, tree)
    hit = _INSTRUMENTED[module.source] = (fn, statements)
    return hit


def _copy(value):
    if isinstance(value, np.ndarray):
        return aligned_copy(value, value.dtype)
    return backend.copy(value)


def _clock(arrays):
    """``time.perf_counter``, preceded by a device synchronisation where the arrays are
    CuPy arrays or PyTorch tensors on a GPU (their work is queued, not done, when a
    statement returns)."""
    for a in arrays:
        if isinstance(a, np.ndarray) or not backend.is_foreign(a):
            continue
        lib = backend.library(a)
        if lib == "cupy":
            import cupy
            sync = cupy.cuda.Device().synchronize
        elif lib == "torch" and a.device.type == "cuda":
            import torch
            sync = torch.cuda.synchronize
        else:
            break

        def clock(sync=sync, now=time.perf_counter):
            sync()
            return now()
        return clock
    return time.perf_counter


def profile(f, args, kwargs, repeat: int = 20, warmup: int = 2) -> Profile:
    """Run ``f`` (a ``Function``) ``repeat`` times instrumented and ``repeat`` times
    plain, interleaved, on copies of its shared values; return the table."""
    if repeat < 1:
        raise ValueError(f"profile: repeat must be at least 1, got {repeat}")
    if kwargs:
        args = f._merge_kwargs(args, kwargs)
    if len(args) != len(f.inputs):
        raise TypeError(f"{f.name}.profile() takes {len(f.inputs)} arguments, got {len(args)}")
    sizes: dict = {}
    arrays = [f._convert(k, label, dt, shape, a, sizes)
              for (k, label, dt, shape), a in zip(f._checks, args)]
    c = f._compiled
    fn, statements = instrument(c.module)
    runner = getattr(c.fn, "runner_for", None)   # the array-API target's call machinery
    if runner is not None:
        fn = runner(fn)
    shared = [_copy(s._value) for s in f._shared_params]
    extra = []
    if c.ws_dims is not None:
        extra = [c.make_ws(*[sizes[d][0] for d in c.ws_dims])]
    acc = [0.0] * len(statements)
    clock = _clock(arrays + shared)
    g = getattr(fn, "__wrapped__", fn).__globals__
    g[_ACC], g[_CLOCK] = acc, clock
    call_args = arrays + shared + extra
    try:
        for _ in range(warmup):
            c.fn(*call_args)
            fn(*call_args)
        plain, runs = [], []
        zero = [0.0] * len(acc)
        for _ in range(repeat):
            t0 = clock()
            c.fn(*call_args)
            plain.append(clock() - t0)
            acc[:] = zero
            fn(*call_args)
            runs.append(list(acc))
    except Exception as exc:
        from .diagnostics import locate_error
        locate_error(c, exc, code=(getattr(fn, "__wrapped__", fn).__code__,
                                   getattr(c.fn, "__wrapped__", c.fn).__code__))
        raise
    # medians: a run the operating system interrupted does not count
    per_line = np.median(np.array(runs).reshape(repeat, len(statements)), axis=0)
    total = float(per_line.sum()) or 1.0
    rows = [ProfileRow(line, text, float(t), float(t) / total)
            for (line, text), t in zip(statements, per_line)]
    return Profile(f.name, rows, float(np.median(plain)), repeat)


__all__ = ["Profile", "ProfileRow", "profile", "instrument"]
