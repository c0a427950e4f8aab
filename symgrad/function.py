"""``sg.function``: orchestrates the stages and runs the result.

graph (outputs + update values) -> optimizer passes -> code generation -> callable, then
at every call: validate all arguments, run the generated function, check (optionally)
that everything is finite, and only then assign the new shared values.
"""

from __future__ import annotations

import hashlib
import keyword
import linecache
import threading
import numpy as np

from .autodiff.structure import flatten
from .codegen import generate, load
from .codegen.naming import RESERVED
from .ir.graph import Graph, toposort
from .ir.node import SharedVariable, Var
from .ir.types import format_shape
from .ops import astype
from .ops.checks import ensure_shape
from .ops.leaves import as_var
from .ops.registry import describe
from .rewrite import optimize as run_passes

_CACHE: dict[tuple, "_Compiled"] = {}
_CACHE_LOCK = threading.Lock()


class MissingInputError(ValueError):
    """The outputs depend on an input variable that is not among the function's inputs."""


class _Compiled:
    """What compiling produced; shared between functions of the same structure.

    ``pools`` maps an input-shape signature (the sizes of the named dimensions) to a list
    of free workspaces: a call pops one (or makes one), and puts it back when it returns,
    so concurrent calls never share scratch memory.
    """

    __slots__ = ("module", "fn", "reports", "graph_roots", "shared_positions", "make_ws",
                 "ws_dims", "pools", "standalone")

    def __init__(self, module, fn, reports, graph_roots, shared_positions, make_ws=None,
                 standalone=None):
        self.module = module
        self.fn = fn
        self.reports = reports
        self.graph_roots = graph_roots
        # position, in the shared order of the unoptimized graph, of each shared parameter
        self.shared_positions = shared_positions
        self.make_ws = make_ws
        self.ws_dims = tuple(module.workspace_dims) if make_ws is not None else None
        self.pools: dict[tuple, list] = {}
        self.standalone = standalone   # () -> source of the module save() writes


_MAX_SIGNATURES = 8      # workspaces are kept for this many input-shape signatures
_INPLACE_LOCK = threading.Lock()   # calls that write shared arrays in place run one at a time


class Stats(dict):
    """What the optimizer did: ``stats["passes"]`` is a list with one report per pass
    (nodes before and after, op counts, and the pass's counters); ``nodes_before`` and
    ``nodes_after`` are the totals; ``ops`` the op counts of the compiled graph."""

    def __str__(self) -> str:
        lines = [f"{self['nodes_before']} nodes -> {self['nodes_after']} nodes"]
        lines += [f"  {r!r}" for r in self["passes"]]
        return "\n".join(lines)

    def pass_report(self, name: str) -> dict:
        for r in self["passes"]:
            if r["name"] == name:
                return r
        raise KeyError(f"no pass named {name!r} ran")


def _structure_key(roots: list[Var], inputs: list[Var]) -> tuple[tuple, list[Var]]:
    """A hashable key for the structure of the graph; leaves by position and type."""
    order = toposort(roots)
    pos = {v.id: ("in", k) for k, v in enumerate(inputs)}
    ids: dict[int, int] = {}
    items = []
    shared_order = []
    for n in order:
        if n.op.leaf:
            if n.op.name == "constant":
                v = n.value
                key = ("c", v.dtype.str, v.shape, v.tobytes())
            elif n.id in pos:
                key = pos[n.id] + (n.type, n.name)
            else:
                key = ("leaf", n.op.name, len(shared_order), n.type, n.name)
                shared_order.append(n)
        else:
            key = (n.op.name, n.param_key, tuple(ids[i.id] for i in n.inputs), n.name,
                   n.is_grad and n.tag.rule, n.type)
        ids[n.id] = len(items)
        items.append(key)
    return (tuple(items), tuple(ids[r.id] for r in roots)), shared_order


class Function:
    """A compiled function. Call it with the inputs, in order."""

    def __init__(self, inputs, outputs=None, *, updates=None, name="f", optimize=True,
                 check_finite=False, passes=None, dump_passes=False):
        if isinstance(inputs, Var):
            inputs = [inputs]
        if not isinstance(inputs, (list, tuple)):
            raise TypeError(f"function: inputs must be a list of variables, got "
                            f"{type(inputs).__name__}")
        self.inputs = list(inputs)
        seen = set()
        for k, v in enumerate(self.inputs):
            if not isinstance(v, Var):
                raise TypeError(f"function: input {k} is {type(v).__name__}, not a variable")
            if isinstance(v, SharedVariable):
                raise TypeError(f"function: {describe(v)} is a shared variable; shared "
                                "variables are read implicitly, not passed as inputs")
            if v.op.name != "input":
                raise TypeError(f"function: input {k} ({describe(v)}) is computed from other "
                                "variables; inputs must be made by sg.tensor/scalar/...")
            if v.id in seen:
                raise ValueError(f"function: input {describe(v)} is listed twice")
            seen.add(v.id)
        if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name) \
                or name in RESERVED or name.startswith("_"):
            raise ValueError(f"function: name must be a Python identifier that is not a "
                             f"keyword, a builtin, 'np' or private (no leading _), got {name!r}")
        self.name = name
        self._passes = passes          # kept for pickling (compiled again on load)
        self.check_finite = bool(check_finite)
        self.optimize = bool(optimize)

        if outputs is None:
            out_leaves, self._tree = [], list
        else:
            out_leaves, self._tree = flatten(outputs, allow_arrays=True)
            if isinstance(self._tree, tuple) and self._tree[0] == "dict":
                for key in self._tree[1]:
                    if not isinstance(key, str):
                        raise TypeError(f"function: output dict keys must be str, got {key!r}")
        out_leaves = [as_var(o) for o in out_leaves]
        self.outputs = out_leaves

        self.updates: list[tuple[SharedVariable, Var]] = []
        updates = dict(updates or {})
        # shared variables that carry their own update (a random stream's call counter)
        # advance at every call unless the caller updates them explicitly
        for n in toposort(self.outputs + [as_var(v) for v in updates.values()]):
            auto = getattr(n, "default_update", None)
            if auto is not None and n not in updates:
                updates[n] = auto
        for target, value in updates.items():
            if not isinstance(target, SharedVariable):
                raise TypeError(f"function: update targets must be shared variables, got "
                                f"{target!r}")
            value = as_var(value, target)
            if value.ndim != target.ndim or any(
                    isinstance(a, int) and a != b for a, b in zip(value.type.shape,
                                                                   target.type.shape)):
                raise ValueError(f"function: the update of {describe(target)} has shape "
                                 f"{format_shape(value.type.shape)}")
            if value.dtype != target.dtype:
                if not np.can_cast(value.dtype, target.dtype, "same_kind"):
                    raise TypeError(f"function: the update of {describe(target)} is "
                                    f"{value.dtype}, which cannot be cast to {target.dtype}")
                value = astype(value, target.dtype)
            # a value whose shape is not provably the target's is checked before any write
            value = ensure_shape(value, target.type.shape,
                                 f"the update of shared variable {target.name!r}")
            self.updates.append((target, value))

        roots = self.outputs + [v for _, v in self.updates]
        key_body, shared_order = _structure_key(roots, self.inputs)
        position = {v.id: k for k, v in enumerate(shared_order)}
        targets = tuple(position.get(t.id, ("unread", t.name, str(t.type)))
                        for t, _ in self.updates)
        self._pass_dumps: list[tuple[str, Graph]] = []
        key = (key_body, targets, str(self._tree), name, self.optimize, self.check_finite,
               repr(passes), tuple((str(v.type), v.name) for v in self.inputs))
        with _CACHE_LOCK:
            hit = None if dump_passes else _CACHE.get(key)
        self.cache_hit = hit is not None
        if hit is None:
            hit = self._compile(roots, passes, dump_passes, position)
            with _CACHE_LOCK:
                _CACHE[key] = hit
        self._compiled = hit
        # this function's own shared objects, in the compiled function's parameter order
        self._shared_params = [shared_order[k] for k in hit.shared_positions]
        self._update_targets = [t for t, _ in self.updates]
        keys = self._compiled.module.update_keys
        if self._compiled.module.inplace:   # only the shared values the graph does not read
            unread = [t for t in self._update_targets
                      if not any(t is s for s in self._shared_params)]
            self._assign = list(zip(unread, keys))
        else:
            self._assign = list(zip(self._update_targets, keys))
        self._init_validation()
        self._entry = _make_entry(self)

    # --- compile ----------------------------------------------------------------------
    def _compile(self, roots, passes, dump_passes, position) -> _Compiled:
        graph = Graph(roots)
        dump = (lambda n, g: self._pass_dumps.append((n, g))) if dump_passes else None
        if dump is not None:
            self._pass_dumps.append(("input", graph))
        if self.optimize:
            graph, reports = run_passes(graph, passes, dump)
        else:
            reports = []
        order = graph.nodes
        input_ids = {v.id for v in self.inputs}
        for n in order:
            if n.op.name == "input" and n.id not in input_ids:
                raise MissingInputError(
                    f"function {self.name!r}: the outputs depend on input {describe(n)}, "
                    "which is not in the inputs list")
        shared = [n for n in order if isinstance(n, SharedVariable)]
        notes = []
        if reports:
            done = [t for t in map(_summary, reports) if t]
            notes.append("passes: " + (", ".join(done) if done else "nothing to change"))
        targets = [t for t, _ in self.updates]
        module = generate(graph, self.inputs, shared, self._tree, len(self.outputs),
                          targets, self.name, notes, plan=self.optimize,
                          inplace=self.optimize and not self.check_finite)
        fn = load(module)
        make_ws = fn.__globals__[module.workspace] if module.workspace else None

        def standalone(inputs=self.inputs, tree=self._tree, n_out=len(self.outputs),
                       name=self.name):
            # the saved module makes its workspace per call and returns every new shared
            # value (the same arithmetic as the compiled function, no state between calls)
            plain = generate(graph, inputs, shared, tree, n_out, targets, name, notes,
                             plan=self.optimize, standalone=True)
            return plain.standalone_source()

        return _Compiled(module, fn, reports, graph.roots, [position[v.id] for v in shared],
                         make_ws, standalone)

    # --- validation -------------------------------------------------------------------
    def _init_validation(self):
        self._checks = []
        for k, v in enumerate(self.inputs):
            self._checks.append((k, v.name or f"#{k}", v.dtype, v.type.shape))

    def _convert(self, k, label, dtype, shape, value, sizes):
        if isinstance(value, Var):
            raise TypeError(f"{self.name}(): input {label!r} got a symbolic variable; "
                            "pass a NumPy array or a number")
        if type(value) is np.ndarray and value.dtype == dtype:
            arr = value
        else:
            try:
                arr = np.asarray(value)
            except Exception as exc:  # ragged lists and the like
                raise TypeError(f"{self.name}(): input {label!r} expects {dtype} data; could "
                                f"not convert {type(value).__name__}: {exc}") from None
            if arr.dtype.kind in "OUSVMmc":
                raise TypeError(f"{self.name}(): input {label!r} expects {dtype} data, got "
                                f"{arr.dtype} ({type(value).__name__})")
            if arr.dtype != dtype:
                if not np.can_cast(arr.dtype, dtype, "same_kind"):
                    raise TypeError(f"{self.name}(): input {label!r} expects {dtype}, got "
                                    f"{arr.dtype}: that cast is not same_kind safe")
                arr = arr.astype(dtype)
        if arr.shape == shape:      # all static and right: the common case, checked at once
            return arr
        if arr.ndim != len(shape):
            raise ValueError(f"{self.name}(): input {label!r} expects {len(shape)} dimensions "
                             f"{format_shape(shape)}, got shape {arr.shape}")
        for axis, (d, n) in enumerate(zip(shape, arr.shape)):
            if d is None:
                continue
            if isinstance(d, int):
                if d != n:
                    raise ValueError(f"{self.name}(): input {label!r} expects shape "
                                     f"{format_shape(shape)}, got {arr.shape} (axis {axis})")
            else:
                prev = sizes.setdefault(d, (n, label))
                if prev[0] != n:
                    raise ValueError(f"{self.name}(): dimension {d!r} is {prev[0]} in input "
                                     f"{prev[1]!r} but {n} in input {label!r}")
        return arr

    # --- call -------------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        # the entry made for this function (see _make_entry) runs the common case, arrays
        # of the exact dtypes and valid shapes passed by position, and hands anything else
        # to _call_general
        return self._entry(self, args, kwargs)

    def __reduce__(self):
        # pickles (and copies) what the function was made from and compiles again on load:
        # see symgrad/pickling.py
        from .pickling import reduce_function
        return reduce_function(self)

    def _call_general(self, args, kwargs):
        """Validate and convert every argument, then run; the reference for _make_entry."""
        if kwargs:
            args = self._merge_kwargs(args, kwargs)
        if len(args) != len(self.inputs):
            names = ", ".join(v.name or f"#{k}" for k, v in enumerate(self.inputs))
            raise TypeError(f"{self.name}() takes {len(self.inputs)} arguments ({names}), "
                            f"got {len(args)}")
        sizes: dict = {}
        arrays = [self._convert(k, label, dt, shape, a, sizes)
                  for (k, label, dt, shape), a in zip(self._checks, args)]
        if self.check_finite:
            for (k, label, _, _), a in zip(self._checks, arrays):
                if a.dtype.kind == "f" and not np.isfinite(a).all():
                    raise FloatingPointError(f"{self.name}(): input {label!r} has NaN or inf "
                                             "values (check_finite=True)")
        shared_values = [s._value for s in self._shared_params]
        c = self._compiled
        if c.ws_dims is None:
            if c.module.inplace and self._update_targets:
                with _INPLACE_LOCK:
                    outputs, new_shared = c.fn(*arrays, *shared_values)
            else:
                outputs, new_shared = c.fn(*arrays, *shared_values)
        else:
            key = tuple([sizes[d][0] for d in c.ws_dims])
            free = c.pools.get(key)
            if free is None:
                if len(c.pools) >= _MAX_SIGNATURES:
                    c.pools.clear()
                free = c.pools.setdefault(key, [])
            try:
                ws = free.pop()
            except IndexError:
                ws = c.make_ws(*key)
            if c.module.inplace and self._update_targets:
                with _INPLACE_LOCK:
                    outputs, new_shared = c.fn(*arrays, *shared_values, ws)
            else:
                outputs, new_shared = c.fn(*arrays, *shared_values, ws)
            free.append(ws)
        if self.check_finite:
            self._check_results(outputs, new_shared)
        if new_shared:
            for target, key in self._assign:
                if key in new_shared:
                    target._value = new_shared[key]
        return outputs

    def _merge_kwargs(self, args, kwargs):
        by_name = {v.name: k for k, v in enumerate(self.inputs)}
        full = list(args) + [None] * (len(self.inputs) - len(args))
        for key, val in kwargs.items():
            if key not in by_name:
                raise TypeError(f"{self.name}() got an unexpected keyword argument {key!r}")
            if by_name[key] < len(args):
                raise TypeError(f"{self.name}() got multiple values for input {key!r} "
                                f"(argument {by_name[key] + 1} by position and by keyword)")
            full[by_name[key]] = val
        missing = [self.inputs[k].name for k, v in enumerate(full) if v is None]
        if missing:
            raise TypeError(f"{self.name}() is missing inputs {missing}")
        return tuple(full)

    def _check_results(self, outputs, new_shared):
        flat = outputs if isinstance(outputs, (list, tuple)) else (
            list(outputs.values()) if isinstance(outputs, dict) else [outputs])
        labels = (list(self._tree[1]) if isinstance(self._tree, tuple)
                  else [f"output {k}" for k in range(len(flat))])
        for label, v in zip(labels, flat):
            if np.asarray(v).dtype.kind == "f" and not np.isfinite(v).all():
                raise FloatingPointError(f"{self.name}(): {label} is not finite; no update "
                                         "was applied (check_finite=True)")
        for key, v in new_shared.items():
            if np.asarray(v).dtype.kind == "f" and not np.isfinite(v).all():
                raise FloatingPointError(f"{self.name}(): the new value of shared {key!r} is "
                                         "not finite; no update was applied")

    # --- inspection -------------------------------------------------------------------
    @property
    def source(self) -> str:
        """The generated NumPy module."""
        return self._compiled.module.source

    @property
    def stats(self) -> Stats:
        reports = self._compiled.reports
        roots = self.outputs + [v for _, v in self.updates]
        before = len(toposort(roots))
        after = len(toposort(self._compiled.graph_roots))
        return Stats(passes=list(reports), nodes_before=before, nodes_after=after,
                     ops=_op_counts(self._compiled.graph_roots))

    @property
    def graph(self) -> list[Var]:
        """The roots of the compiled graph: the outputs, then the update values."""
        return list(self._compiled.graph_roots)

    @property
    def pass_dumps(self) -> list[tuple[str, list[Var]]]:
        """With ``dump_passes=True``: ``(pass name, roots)`` after each pass."""
        return [(n, g.roots) for n, g in self._pass_dumps]

    def save(self, path) -> str:
        """Write a standalone module (NumPy only) defining this function; returns the path.

        Its function takes the inputs, in order, then the shared values the graph reads, by
        name, and returns ``(outputs, new_shared)``.
        """
        src = self._compiled.standalone()
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(src)
        return str(path)

    def __repr__(self) -> str:
        ins = ", ".join(v.name or "?" for v in self.inputs)
        return f"<symgrad.Function {self.name}({ins})>"


def _make_entry(f: Function):
    """The function ``Function.__call__`` hands every call to: ``entry(self, args, kwargs)``.

    Generated for each Function (the compiled module is shared between functions of one
    structure, the shared variables are not). It runs a call itself only where
    ``_call_general`` would take every argument as it is: no keywords, the right count,
    every argument exactly an ``np.ndarray`` whose dtype object *is* the input's dtype
    (``type(a) is np.ndarray and a.dtype is dt``), the right number of dimensions, every
    static size equal and every named size equal to its first occurrence. Then it reads
    the shared values, takes a workspace and runs the compiled function exactly as
    ``_call_general`` does. Anything else (keywords, lists, numbers, an ndarray subclass,
    a dtype that is equal but not the same object, a wrong size) goes to
    ``_call_general``, which converts or raises its usual errors.
    """
    general = Function._call_general
    c = f._compiled
    if f.check_finite:
        return general
    n = len(f.inputs)
    ns = {"_general": general, "_ndarray": np.ndarray, "_fn": c.fn}
    fallback = "        return _general(self, args, kwargs)"
    lines = [f"# Argument checks and call of symgrad function {f.name!r} (common case only).",
             "def __call__(self, args, kwargs):",
             f"    if kwargs or len(args) != {n}:",
             fallback]
    names = [f"a{k}" for k in range(n)]
    if n:
        lines.append(f"    {', '.join(names)}, = args")
        kinds = []
        for k, v in enumerate(f.inputs):
            ns[f"_dt{k}"] = v.dtype
            kinds.append(f"type(a{k}) is _ndarray and a{k}.dtype is _dt{k}")
        lines += ["    if not (" + "\n            and ".join(kinds) + "):", fallback]
        first: dict = {}      # named dimension -> the local holding its first occurrence
        checks, unpack = [], []
        for k, v in enumerate(f.inputs):
            shape = v.type.shape
            if all(type(d) is int for d in shape):   # 0-d included: one comparison
                checks.append(f"a{k}.shape == {tuple(shape)!r}")
                continue
            # unpacking the shape checks the number of dimensions (ValueError otherwise)
            targets = []
            for axis, d in enumerate(shape):
                here = f"n{k}_{axis}"
                targets.append("_" if d is None else here)
                if type(d) is int:
                    checks.append(f"{here} == {d!r}")
                elif d is None:
                    pass
                elif d in first:
                    checks.append(f"{here} == {first[d]}")
                else:
                    first[d] = here
            unpack.append(f"        {', '.join(targets)}, = a{k}.shape")
        if unpack:
            lines += ["    try:", *unpack, "    except ValueError:", fallback]
        if checks:
            lines += ["    if not (" + "\n            and ".join(checks) + "):", fallback]
    else:
        first = {}
    values = []
    for k, s in enumerate(f._shared_params):
        ns[f"_sh{k}"] = s
        lines.append(f"    v{k} = _sh{k}._value")
        values.append(f"v{k}")
    call = f"_fn({', '.join(names + values + ([] if c.ws_dims is None else ['ws']))})"
    ns.update(_acquire=_INPLACE_LOCK.acquire, _release=_INPLACE_LOCK.release)
    locked = ["    _acquire()", "    try:", f"        outputs, new_shared = {call}",
              "    finally:", "        _release()"]
    if c.ws_dims is None:
        if c.module.inplace and f._update_targets:
            lines += locked
        else:
            lines.append(f"    outputs, new_shared = {call}")
    else:
        if any(d not in first for d in c.ws_dims):   # not expected; the general path decides
            return general
        ns.update(_pools=c.pools, _make_ws=c.make_ws, _max=_MAX_SIGNATURES)
        key = ", ".join(first[d] for d in c.ws_dims)
        lines += [f"    key = ({key}{',' if len(c.ws_dims) == 1 else ''})",
                  "    free = _pools.get(key)",
                  "    if free is None:",
                  "        if len(_pools) >= _max:",
                  "            _pools.clear()",
                  "        free = _pools.setdefault(key, [])",
                  "    try:",
                  "        ws = free.pop()",
                  "    except IndexError:",
                  f"        ws = _make_ws({key})"]
        if c.module.inplace and f._update_targets:
            lines += locked
        else:
            lines.append(f"    outputs, new_shared = {call}")
        lines.append("    free.append(ws)")
    if f._assign:
        lines.append("    if new_shared:")
        for k, (target, key) in enumerate(f._assign):
            ns[f"_t{k}"], ns[f"_k{k}"] = target, key
            lines += [f"        if _k{k} in new_shared:",
                      f"            _t{k}._value = new_shared[_k{k}]"]
    lines.append("    return outputs")
    source = "\n".join(lines) + "\n"
    hit = _ENTRY_CODE.get(source)     # functions of one structure have the same entry source
    if hit is None:
        digest = hashlib.sha1(source.encode()).hexdigest()[:10]
        filename = f"<symgrad entry {f.name} {digest}>"
        hit = _ENTRY_CODE[source] = (filename, compile(source, filename, "exec"))
    filename, code = hit
    # tracebacks through the entry show its lines
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    exec(code, ns)
    return ns["__call__"]


_ENTRY_CODE: dict[str, tuple] = {}   # entry source -> (filename, code object)


def _op_counts(roots):
    from .ir.graph import op_counts
    return op_counts(toposort(roots))


def _summary(report) -> str | None:
    """'cse (merged 3)' for a pass that changed something, else None."""
    parts = []
    for key in ("merged", "folded", "rewrites", "removed"):
        val = report.get(key)
        if isinstance(val, dict):
            val = sum(val.values())
        if val:
            parts.append(f"{key} {val}")
    return f"{report['name']} ({', '.join(parts)})" if parts else None


def function(inputs, outputs=None, *, updates=None, name="f", optimize=True,
             check_finite=False, passes=None, dump_passes=False) -> Function:
    """Compile ``outputs`` (and ``updates``) of ``inputs`` into a NumPy function.

    Parameters
    ----------
    inputs : list of variables made by ``sg.tensor`` (and friends), in call order.
    outputs : a variable, a list or tuple of them, or a dict; the call returns the same.
    updates : dict mapping shared variables to their new values; all outputs and updates
        are computed from the old values, then assigned together.
    name : the generated function's name.
    optimize : run the optimizer passes (False compiles the graph as written).
    check_finite : refuse non-finite inputs, and refuse to apply updates when an output or
        a new shared value is not finite.
    passes : a list of ``(name, pass)`` replacing the default pipeline.
    dump_passes : keep the graph after each pass (``f.pass_dumps``).

    Examples
    --------
    >>> import numpy as np, symgrad as sg
    >>> x = sg.vector("x")
    >>> f = sg.function([x], (x ** 2).sum())
    >>> float(f(np.array([1.0, 2.0])))
    5.0
    """
    return Function(inputs, outputs, updates=updates, name=name, optimize=optimize,
                    check_finite=check_finite, passes=passes, dump_passes=dump_passes)


__all__ = ["Function", "function", "MissingInputError", "Stats"]
