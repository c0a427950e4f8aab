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
import weakref
import numpy as np

from . import backend
from .autodiff.structure import flatten
from .backend import make_runner
from .codegen import generate, load
from .codegen.array_api import check_graph
from .codegen.lower import ARRAY_API_LOWERINGS, lower
from .codegen.naming import RESERVED
from .diagnostics import locate_error
from .ir.graph import Graph, toposort
from .ir.node import SharedVariable, Var
from .ir.types import check_int_fits, format_shape
from .ops import astype
from .ops.checks import ensure_shape
from .ops.leaves import as_var
from .ops.registry import describe
from .random import StreamCounter
from .rewrite import optimize as run_passes

_CACHE: dict[tuple, "_Compiled"] = {}
# "numpy": the program lowered for speed (the default); "plain": the program as written by a
# careful person; "array_api": the plain program against the array API standard (any array
# library, any device: codegen/array_api.py, backend.py; the default when a shared value
# is not a NumPy array)
TARGETS = ("numpy", "plain", "array_api")
_CACHE_LOCK = threading.Lock()


class MissingInputError(ValueError):
    """The outputs depend on an input variable that is not among the function's inputs."""


class _Compiled:
    """What compiling produced; shared between functions of the same structure.

    ``pool`` (planned code only) keeps the free workspaces of the module by input-shape
    signature (``WorkspacePool``).
    """

    __slots__ = ("module", "fn", "reports", "graph_roots", "shared_positions", "make_ws",
                 "ws_dims", "pool", "standalone", "lowerings", "plain", "plain_text")

    def __init__(self, module, fn, reports, graph_roots, shared_positions, make_ws=None,
                 standalone=None, lowerings=None, plain=None):
        self.module = module
        self.fn = fn
        self.reports = reports
        self.graph_roots = graph_roots
        # position, in the shared order of the unoptimized graph, of each shared parameter
        self.shared_positions = shared_positions
        self.make_ws = make_ws
        self.ws_dims = tuple(module.workspace_dims) if make_ws is not None else None
        self.pool = WorkspacePool(make_ws) if make_ws is not None else None
        self.standalone = standalone   # () -> source of the module save() writes
        self.lowerings = lowerings or {}   # graph lowerings that fired (fast target)
        self.plain = plain             # () -> the plain rendering of the same program
        self.plain_text = None         # that rendering, made on first use


_MAX_SIGNATURES = 8      # workspaces are kept for this many input-shape signatures
# Calls that read or write shared values run one at a time, from reading the shared
# arrays to assigning the new values: an update is never lost to a concurrent call, and
# no call sees a shared array half written by another.
_SHARED_LOCK = threading.Lock()


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
            if n.op.leaf == "constant":
                v = n.value
                key = ("c", v.dtype.str, v.shape, v.tobytes())
            elif n.id in pos:
                key = pos[n.id] + (n.type, n.name)
            else:
                key = ("leaf", n.op.name, len(shared_order), n.type, n.name)
                shared_order.append(n)
        else:
            # the op itself, not its name: an op redefined with defop(replace=True) is
            # another op, and must not hit code compiled for the old one
            key = (n.op, n.param_key, tuple(ids[i.id] for i in n.inputs), n.name,
                   n.is_grad and n.tag.rule, n.type)
        ids[n.id] = len(items)
        items.append(key)
    return (tuple(items), tuple(ids[r.id] for r in roots)), shared_order


class Function:
    """A compiled function. Call it with the inputs, in order."""

    def __init__(self, inputs, outputs=None, *, updates=None, name="f", optimize=True,
                 check_finite=False, target=None, passes=None, dump_passes=False):
        if target is not None and target not in TARGETS:
            raise ValueError(f"function: target must be one of {', '.join(map(repr, TARGETS))}"
                             f", got {target!r}")
        self.target = target
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
            if v.op.leaf != "input":
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
        self.target = _resolve_target(self.target, shared_order, self.name)
        position = {v.id: k for k, v in enumerate(shared_order)}
        targets = tuple(position.get(t.id, ("unread", t.name, str(t.type)))
                        for t, _ in self.updates)
        self._pass_dumps: list[tuple[str, Graph]] = []
        key = (key_body, targets, str(self._tree), name, self.optimize, self.check_finite,
               self.target, repr(passes), tuple((str(v.type), v.name) for v in self.inputs))
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
        self._make_entries()

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
        program = graph                   # what is computed: the plain rendering shows it
        fast = self.optimize and self.target == "numpy"
        xp = self.target == "array_api"
        if xp:
            check_graph(graph.nodes)      # an op without an array-API form: a clear error
        lowerings: dict = {}
        if fast or (xp and self.optimize):   # how fast: the target's graph lowerings
            graph, lowerings = lower(graph, None if fast else ARRAY_API_LOWERINGS)
            if dump is not None:
                dump("lower", graph)
        order = graph.nodes
        input_ids = {v.id for v in self.inputs}
        for n in order:
            if n.op.leaf == "input" and n.id not in input_ids:
                raise MissingInputError(
                    f"function {self.name!r}: the outputs depend on input {describe(n)}, "
                    "which is not in the inputs list")
        shared = [n for n in order if isinstance(n, SharedVariable)]
        notes = []
        if reports:
            done = [t for t in map(_summary, reports) if t]
            notes.append("passes: " + (", ".join(done) if done else "nothing to change"))
        plain_notes = list(notes)
        if lowerings:
            notes.append("lowerings: " + ", ".join(f"{k} ({v})" for k, v in lowerings.items()))
        targets = [t for t, _ in self.updates]
        module = generate(graph, self.inputs, shared, self._tree, len(self.outputs),
                          targets, self.name, notes, plan=fast,
                          inplace=fast and not self.check_finite, array_api=xp)
        fn = load(module)
        if xp:      # the namespace and device of every call, checked (symgrad/backend.py)
            fn = make_runner(fn, module, {k for k, s in enumerate(shared)
                                          if isinstance(s, StreamCounter)})
        make_ws = fn.__globals__[module.workspace] if module.workspace else None

        def standalone(inputs=self.inputs, tree=self._tree, n_out=len(self.outputs),
                       name=self.name):
            # the saved module makes its workspace per call and returns every new shared
            # value (the same arithmetic as the compiled function, no state between calls)
            plain = generate(graph, inputs, shared, tree, n_out, targets, name, notes,
                             plan=fast, standalone=True, array_api=xp)
            return plain.standalone_source()

        def plain_source(inputs=self.inputs, tree=self._tree, n_out=len(self.outputs),
                         name=self.name):
            if not fast and not xp:
                return module.source
            # the same optimized program, before the fast target's lowerings
            shared_plain = [n for n in program.nodes if isinstance(n, SharedVariable)]
            return generate(program, inputs, shared_plain, tree, n_out, targets, name,
                            plain_notes).source

        return _Compiled(module, fn, reports, graph.roots, [position[v.id] for v in shared],
                         make_ws, standalone, lowerings, plain_source)

    # --- validation -------------------------------------------------------------------
    def _init_validation(self):
        self._checks = []
        for k, v in enumerate(self.inputs):
            self._checks.append((k, v.name or f"#{k}", v.dtype, v.type.shape))

    def _convert(self, k, label, dtype, shape, value, sizes):
        if self.target == "array_api":      # arrays of any library (symgrad/backend.py)
            return backend.convert(self, label, dtype, shape, value, sizes)
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
                check_int_fits(arr, dtype, f"{self.name}(): input {label!r}")
                arr = arr.astype(dtype)
        if arr.shape == shape:      # all static and right: the common case, checked at once
            return arr
        self._check_shape(label, shape, arr.shape, sizes)
        return arr

    def _check_shape(self, label, shape, got, sizes):
        if got == shape:
            return
        if len(got) != len(shape):
            raise ValueError(f"{self.name}(): input {label!r} expects {len(shape)} dimensions "
                             f"{format_shape(shape)}, got shape {got}")
        for axis, (d, n) in enumerate(zip(shape, got)):
            if d is None:
                continue
            if isinstance(d, int):
                if d != n:
                    raise ValueError(f"{self.name}(): input {label!r} expects shape "
                                     f"{format_shape(shape)}, got {got} (axis {axis})")
            else:
                prev = sizes.setdefault(d, (n, label))
                if prev[0] != n:
                    raise ValueError(f"{self.name}(): dimension {d!r} is {prev[0]} in input "
                                     f"{prev[1]!r} but {n} in input {label!r}")

    # --- call -------------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        # the entry made for this function (see _make_entry) runs the common case, arrays
        # of the exact dtypes and valid shapes passed by position, and hands anything else
        # to _call_general
        try:
            return self._entry(self, args, kwargs)
        except Exception as exc:     # name the user's line that built the failing node
            locate_error(self._compiled, exc)
            raise

    def __reduce__(self):
        # pickles (and copies) what the function was made from and compiles again on load:
        # see symgrad/pickling.py
        from .pickling import reduce_function
        return reduce_function(self)

    def _make_entries(self):
        self._slow_entry = _make_entry(self, shortcut=False)
        self._entry = (self._slow_entry if self.check_finite or self.target == "array_api"
                       else _make_entry(self, shortcut=True))

    def _call_general(self, args, kwargs):
        """The same call with every argument converted (no exact-type shortcut): what the
        fast checks of the entry fall back to, and a reference for tests."""
        return self._slow_entry(self, args, kwargs)

    def _convert_all(self, args, kwargs):
        """Validate and convert every argument: count, dtype (``same_kind`` casts),
        static and named sizes and, with ``check_finite``, finiteness. The one place where
        arguments are checked; errors name the input. Returns the arrays."""
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
                if (not backend.all_finite(a) if self.target == "array_api"
                        else a.dtype.kind == "f" and not np.isfinite(a).all()):
                    raise FloatingPointError(f"{self.name}(): input {label!r} has NaN or inf "
                                             "values (check_finite=True)")
        return arrays

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
        finite = (backend.all_finite if self.target == "array_api"
                  else lambda v: np.asarray(v).dtype.kind != "f" or np.isfinite(v).all())
        for label, v in zip(labels, flat):
            if not finite(v):
                raise FloatingPointError(f"{self.name}(): {label} is not finite; no update "
                                         "was applied (check_finite=True)")
        for key, v in new_shared.items():
            if not finite(v):
                raise FloatingPointError(f"{self.name}(): the new value of shared {key!r} is "
                                         "not finite; no update was applied")

    # --- inspection -------------------------------------------------------------------
    @property
    def source(self) -> str:
        """The generated module: the code that runs."""
        return self._compiled.module.source

    @property
    def plain_source(self) -> str:
        """The plain rendering of the same program: NumPy as a careful person writes it,
        with no workspace and no speed lowerings (``target="plain"`` runs exactly this).
        For the fast target it shows the program before its lowerings."""
        c = self._compiled
        if c.plain_text is None:
            c.plain_text = c.plain()
        return c.plain_text

    @property
    def stats(self) -> Stats:
        reports = self._compiled.reports
        roots = self.outputs + [v for _, v in self.updates]
        before = len(toposort(roots))
        after = len(toposort(self._compiled.graph_roots))
        return Stats(passes=list(reports), nodes_before=before, nodes_after=after,
                     ops=_op_counts(self._compiled.graph_roots),
                     lowerings={**self._compiled.lowerings,
                                **getattr(self._compiled.module, "lowered", {})})

    @property
    def graph(self) -> list[Var]:
        """The roots of the compiled graph: the outputs, then the update values."""
        return list(self._compiled.graph_roots)

    @property
    def pass_dumps(self) -> list[tuple[str, list[Var]]]:
        """With ``dump_passes=True``: ``(pass name, roots)`` after each pass."""
        return [(n, g.roots) for n, g in self._pass_dumps]

    def profile(self, *args, repeat: int = 20, **kwargs):
        """Time every statement of the generated code on these arguments; returns a
        table (``print`` it, or display it in a notebook). Runs on copies of the shared
        values: no update is applied. See ``symgrad/profile.py``."""
        from .profile import profile
        return profile(self, args, kwargs, repeat=repeat)

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

    def _repr_html_(self) -> str:
        """In a notebook: signature, outputs, updates, passes, lowerings, highlighted
        source and graph (symgrad/display.py)."""
        from .display import function_html
        return function_html(self)


class WorkspacePool:
    """The free workspaces of one compiled module, by input-shape signature (the sizes of
    the named dimensions): a call takes one (or has one made) and gives it back when it
    returns, so concurrent calls never share scratch memory. Workspaces are kept for at
    most ``limit`` signatures."""

    __slots__ = ("make", "free", "limit")

    def __init__(self, make, limit: int = _MAX_SIGNATURES):
        self.make, self.free, self.limit = make, {}, limit

    def take(self, key):
        free = self.free.get(key)
        if free:
            return free.pop()
        return self.make(*key)

    def give(self, key, ws):
        free = self.free.get(key)
        if free is None:
            if len(self.free) >= self.limit:
                self.free.clear()
            free = self.free.setdefault(key, [])
        free.append(ws)


def _make_entry(f: Function, shortcut: bool = True):
    """The one call path of ``f``: ``entry(self, args, kwargs)``, generated per function
    (the compiled module is shared between functions of one structure, the shared
    variables are not).

    1. Arguments. With ``shortcut``, arguments that ``Function._convert_all`` would take
       exactly as they are (no keywords, the right count, each exactly an ``np.ndarray``
       whose dtype object *is* the input's, every static size equal and every named size
       equal to its first occurrence) are used at once; anything else, and every call
       without ``shortcut``, goes through ``_convert_all``, which converts or raises the
       error naming the input.
    2. A workspace from the module's ``WorkspacePool`` (planned code only).
    3. Under the shared-value lock (when the function reads or writes shared values):
       read the shared arrays, run, check the results (``check_finite``), assign the new
       shared values.
    4. The workspace goes back; the outputs are returned.
    """
    c = f._compiled
    n = len(f.inputs)
    names = [f"a{k}" for k in range(n)]
    ns = {"_convert_all": Function._convert_all, "_ndarray": np.ndarray, "_fn": c.fn}
    lines = [f"# The call path of symgrad function {f.name!r}.",
             "def __call__(self, args, kwargs):"]
    first: dict = {}          # named dimension -> the local holding its first occurrence
    unpack, checks, kinds = [], [], []
    for k, v in enumerate(f.inputs):
        shape = v.type.shape
        ns[f"_dt{k}"] = v.dtype
        kinds.append(f"type(a{k}) is _ndarray and a{k}.dtype is _dt{k}")
        if all(type(d) is int for d in shape):   # 0-d included: one comparison
            checks.append(f"a{k}.shape == {tuple(shape)!r}")
            continue
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
        unpack.append(f"{', '.join(targets)}, = a{k}.shape")
    unpacked = ", ".join(names) + ("," if n else "")
    if not n:
        lines.append("    if kwargs or args:")
        lines.append("        _convert_all(self, args, kwargs)    # raises the error")
    elif shortcut:
        lines += [f"    exact = not kwargs and len(args) == {n}",
                  "    if exact:",
                  f"        {unpacked} = args",
                  "        exact = (" + "\n                 and ".join(kinds) + ")"]
        if unpack or checks:
            lines += ["    if exact:"]
            if unpack:
                lines += ["        try:"] + [f"            {u}" for u in unpack] + [
                          "        except ValueError:      # a wrong number of dimensions",
                          "            exact = False"]
            if checks:
                lines += ["        exact = exact and ("
                          + "\n                           and ".join(checks) + ")"]
        lines += ["    if not exact:",
                  f"        {unpacked} = _convert_all(self, args, kwargs)"]
        lines += [f"        {u}" for u in unpack]
    else:
        lines.append(f"    {unpacked} = _convert_all(self, args, kwargs)")
        lines += [f"    {u}" for u in unpack]
    # the part that touches shared values (read, run, check, assign)
    shared_part, values = [], []
    for k, s in enumerate(f._shared_params):
        ns[f"_sh{k}"] = s
        shared_part.append(f"v{k} = _sh{k}._value")
        values.append(f"v{k}")
    call = f"_fn({', '.join(names + values + ([] if c.ws_dims is None else ['ws']))})"
    shared_part.append(f"outputs, new_shared = {call}")
    if f.check_finite:
        shared_part.append("self._check_results(outputs, new_shared)")
    if f._assign:
        shared_part.append("if new_shared:")
        for k, (target, key) in enumerate(f._assign):
            ns[f"_t{k}"], ns[f"_k{k}"] = target, key
            shared_part += [f"    if _k{k} in new_shared:",
                            f"        _t{k}._value = new_shared[_k{k}]"]
    if f._shared_params or f._update_targets:
        ns.update(_acquire=_SHARED_LOCK.acquire, _release=_SHARED_LOCK.release)
        shared_part = (["_acquire()", "try:"] + ["    " + ln for ln in shared_part]
                       + ["finally:", "    _release()"])
    if c.ws_dims is None:
        lines += ["    " + ln for ln in shared_part]
    else:
        missing = [d for d in c.ws_dims if d not in first]
        if missing:     # not expected: every workspace size comes from an input
            raise AssertionError(f"workspace dimensions {missing} are not input sizes")
        ns.update(_take=c.pool.take, _give=c.pool.give)
        key = ", ".join(first[d] for d in c.ws_dims)
        lines += [f"    key = ({key}{',' if len(c.ws_dims) == 1 else ''})",
                  "    ws = _take(key)"]
        lines += ["    " + ln for ln in shared_part]
        lines.append("    _give(key, ws)")
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


def _resolve_target(target, shared, name) -> str:
    """The target asked for, or the default: ``"array_api"`` when a shared value is an
    array of another library, else ``"numpy"``. NumPy targets refuse such values."""
    foreign = backend.function_namespace(shared)
    if target is None:
        return "array_api" if foreign is not None else "numpy"
    if foreign is not None and target != "array_api":
        raise TypeError(f"function {name!r}: shared variable {foreign[2].name!r} is "
                        f"{backend.describe(foreign[2]._value)}; target={target!r} runs on NumPy "
                        "arrays: use target='array_api' (the default for such values)")
    return target


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


_EVAL_CACHE: "weakref.WeakKeyDictionary[Var, dict]" = weakref.WeakKeyDictionary()


def evaluate(var: Var, inputs=None):
    """``var.eval(inputs)``: compile ``var`` as a function of the inputs it depends on (once
    per variable and input set; the compile cache shares structure too) and call it."""
    inputs = dict(inputs or {})
    for v in inputs:
        if not isinstance(v, Var) or v.op.leaf != "input":
            raise TypeError(f"eval: the keys must be input variables (sg.tensor, ...), got "
                            f"{v!r}")
    needed = [n for n in toposort([var]) if n.op.leaf == "input"]
    missing = [describe(n) for n in needed if n not in inputs]
    if missing:
        raise MissingInputError(f"eval: no value for input {', '.join(missing)}; give one "
                                "for each input the graph reads: y.eval({x: value, ...})")
    order = tuple(needed)
    per_var = _EVAL_CACHE.setdefault(var, {})
    f = per_var.get(order)
    if f is None:
        f = per_var[order] = Function(list(order), var, name="evaluated")
    return f(*[inputs[n] for n in order])


def function(inputs, outputs=None, *, updates=None, name="f", optimize=True,
             check_finite=False, target=None, passes=None, dump_passes=False) -> Function:
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
    target : ``"numpy"`` (default: the optimized program lowered for speed: workspace
        buffers, in-place updates, fused BLAS updates, each lowered line commented with
        its plain form) or ``"plain"`` (the same program as plain NumPy, no speed tricks).
        or ``"array_api"`` (the same program against the array API standard through a
        namespace ``xp``: NumPy, CuPy, PyTorch or array_api_strict arrays, on their device;
        docs/array_api.md). All give the same results; ``f.plain_source`` is the plain
        rendering either way. By default ``"numpy"``, or ``"array_api"`` when a shared value
        is not a NumPy array.
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
                    check_finite=check_finite, target=target, passes=passes,
                    dump_passes=dump_passes)


__all__ = ["Function", "function", "MissingInputError", "Stats"]
