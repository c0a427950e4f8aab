"""NumPy code generation: a scheduled graph -> the source of one Python function.

The emitted function takes the inputs, in order, then the shared values the graph reads,
and returns ``(outputs, new_shared)``: the outputs in the compiled function's structure and
a dict from shared name to new value. It imports NumPy alone.

Readability rules: one statement per line; names from the user's names (``d_W`` for the
gradient of ``W``); cheap single-use elementwise values are written inside their consumer
(up to a small depth); matmuls, reductions and named values get their own line; every line
carries its shape and, for backward lines, the VJP rule that built it.
"""

from __future__ import annotations

import re

import numpy as np

from ..aligned import ALIGNED_SOURCE
from ..ir.graph import Graph, clients
from ..ir.node import Var
from ..ir.types import format_shape, size_check_groups
from ..ops.registry import REGISTRY, Expr, Statement
from . import memory
from .literals import (PYTHON_DEFAULT_DTYPES, PYTHON_DIFFERS, LITERAL_ARRAY_SIZE,
                       array_literal, scalar_literal, nonzero_constant)
from .module import Module, dim_texts, output_text, workspace_source
from .naming import NameAllocator, identifier, safe_text
from .planner import COMMENT_COLUMN, BufferPlanner, StatementWorkspace
from .schedule import Schedule
from .updates import choose_inplace, inplace_tail


MAX_INLINE_DEPTH = 3
MAX_INLINE_CHARS = 72

CHECK_HELPER = '''def _same_size(where, *sizes):
    """Sizes that must match (unknown or named dimensions) are compared at run time."""
    if len(set(sizes)) > 1:
        raise ValueError(f"{where}: sizes {sizes} do not match (only dimensions declared "
                         "as 1 broadcast)")'''


class _Emitter(BufferPlanner):
    # the dialect: NumPy here; the array-API renderer (codegen/array_api.py) subclasses
    # these few methods to write the standard's spellings through a namespace ``xp``
    prefix = "np."
    extra_params: list[str] = []

    def emit_op(self, n: Var, args: list[Expr]) -> Expr:
        return n.op.emit(args, **n.params)

    def op_helpers(self, op):
        """The helper functions ``op``'s form on this target writes into the module."""
        return op.helpers

    def helpers_of(self, n: Var):
        return self.op_helpers(n.op)

    def helper_names(self) -> set[str]:
        """The functions that the helpers of the registered ops define: never a value's
        name (a variable called ``_erf`` would hide the helper)."""
        names = set()
        for op in list(REGISTRY.values()):
            for h in () if op.leaf else self.op_helpers(op):
                names.update(re.findall(r"^def (\w+)\(", h, re.M))
        return names

    def scalar(self, text: str, dtype) -> Expr:
        """A 0-d value of ``dtype`` from a Python number's text."""
        return Expr(f"np.{dtype.name}({text})")

    def weak_call(self, n: Var, args: list[Expr]) -> Expr:
        """``n`` (divide, power ...) of two Python numbers, with NumPy's semantics: the
        left operand as a NumPy scalar of the result's dtype (``np.float64(1.0) / n``),
        which gives inf or nan and a warning where Python would raise or turn complex."""
        a = args[0]
        if not a.text.startswith("np."):
            a = Expr(f"np.{n.dtype.name}({a.text})")
        return n.op.emit([a, *args[1:]], **n.params)

    def copy_text(self, text: str) -> str:
        return f"np.array({text})"

    def array_text(self, text: str, dtype=None) -> str:
        return f"np.asarray({text}" + (f", dtype=np.{dtype.name})" if dtype else ")")

    def imports(self) -> list[str]:
        return ["import numpy as np"]

    def __init__(self, graph: Graph, inputs, fname, n_outputs, plan=False):
        self.graph = graph
        self.order = graph.nodes
        self.inputs = inputs
        self.fname = fname
        self.n_outputs = n_outputs
        self.names = NameAllocator(reserved={fname, "_scatter", "_scatter_add", "_same_size",
                                             "base64", "_aligned", *self.helper_names()})
        self.name_of: dict[int, str] = {}
        self.schedule = Schedule(graph, n_outputs)   # order, sections, names, provenance
        self.lowered: dict[str, int] = {}            # statement lowerings that fired
        self.pending: dict[int, tuple[Expr, int]] = {}
        self.depth: dict[int, int] = {}
        self.alias_leaf: dict[int, bool] = {}
        # 0-d values the generated code holds as Python numbers (literals, sizes read from
        # .shape, arithmetic on them): NumPy treats them as weak scalars, which is right
        # inside elementwise arithmetic but loses the dtype anywhere else
        self.weak: set[int] = set()
        self.lines: list[str] = []
        self.line_nodes: list[tuple] = []     # per line of self.lines: the nodes it computes
        self.current: tuple = ()              # the nodes of the statement being written
        self.covers: dict[int, tuple] = {}    # pending node -> the nodes its text computes
        self.section = None
        self.helpers: list[str] = []
        self.constants: dict[str, np.ndarray] = {}
        self.const_lines: list[str] = []
        self.const_name: dict[int, str] = {}
        users = clients(self.order)
        self.uses = {k: len(v) for k, v in users.items()}
        self.root_ids = {r.id for r in graph.roots}
        # update values that the write phase copies into their shared array (np.copyto):
        # they never leave the call, so they may live in workspace buffers
        self.copied_roots: set[int] = set()
        # ---- memory planning (plan=True)
        self.plan = plan
        self.remaining = dict(self.uses)       # readers still to come, per node
        for r in graph.roots:
            self.remaining[r.id] = self.remaining.get(r.id, 0) + (1 << 30)  # never dies
        self.reads_of: dict[int, list[int]] = {}     # pending node -> named nodes it reads
        self.storage: dict[int, frozenset] = {}      # node -> buffers/params it may alias
        self.holder: dict[object, int] = {}          # buffer -> the node computed into it
        self.live: dict[object, set[int]] = {}       # buffer -> live nodes aliasing it
        self.free: dict[tuple, list[int]] = {}       # (shape, dtype) -> free buffer indices
        self.buffers: list[memory.Buffer] = []
        self.fills: dict[tuple, str] = {}            # (shape, dtype, value) -> name
        self.aranges: dict[tuple, int] = {}          # np.arange(batch) buffers, by length
        self.bound_dims: set = set()
        for v in inputs:
            self.bound_dims.update(d for d in v.type.shape if isinstance(d, str))
        self.deferred: list[Var] = []                # update values written in place
        self.inplace_target: dict[int, str] = {}     # update value id -> target's name
        self.name_count: dict[str, int] = {}
        self.by_id = {n.id: n for n in self.order}

    # --- names ------------------------------------------------------------------------
    def label(self, n: Var) -> str | None:
        """The name a node is shown by (``Schedule.label``)."""
        return self.schedule.label(n)

    def node_name(self, n: Var) -> str:
        label = self.label(n)
        if label:
            return self.names.fresh(label)
        if any(r is n for r in self.graph.roots[: self.n_outputs]):
            return self.names.fresh("out", numbered=True)
        return self.names.fresh(n.op.short, numbered=True)

    # --- expressions ------------------------------------------------------------------
    def arg(self, inp: Var, consumer: Var) -> tuple[Expr, int]:
        expr, depth = self._arg(inp, consumer)
        if (inp.id in self.weak and not consumer.op.elementwise and inp.op.leaf != "constant"
                and inp.dtype not in PYTHON_DEFAULT_DTYPES):
            expr = self.scalar(expr.text, inp.dtype)
        elif (inp.id in self.weak and consumer.op.elementwise and inp.op.leaf != "constant"
              and self._weak_differs(inp, consumer)):
            # a size (a Python int at run time) meeting a float32 array: the graph's type
            # is float64 (the size is an int64 scalar), so it must be one in the code too
            expr = self.scalar(expr.text, inp.dtype)
        return expr, depth

    def _weak_differs(self, inp: Var, consumer: Var) -> bool:
        """Whether a Python number in ``inp``'s place would give ``consumer`` another dtype
        than ``inp``'s own dtype does (NumPy treats Python numbers as weak)."""
        arrays = [i.dtype for i in consumer.inputs if i is not inp and i.id not in self.weak
                  and not (i.op.leaf == "constant" and i.ndim == 0)]
        if not arrays:
            return False
        py = {"b": True, "i": 1, "u": 1, "f": 1.0}.get(inp.dtype.kind)
        if py is None:
            return False
        return np.result_type(*arrays, py) != np.result_type(*arrays, inp.dtype)

    def _arg(self, inp: Var, consumer: Var) -> tuple[Expr, int]:
        if inp.id in self.name_of:
            return Expr(self.name_of[inp.id]), 0
        if inp.id in self.pending:
            return self.pending.pop(inp.id)
        if inp.op.leaf == "constant":
            return self.constant_expr(inp, consumer), 0
        raise AssertionError(f"{inp!r} used before it was computed")

    def constant_expr(self, c: Var, consumer: Var) -> Expr:
        value = c.value
        if value.ndim == 0:
            lit = scalar_literal(value)
            if not consumer.op.elementwise:  # it will be indexed or reshaped: a NumPy scalar
                return self.scalar(lit.text, value.dtype)
            # a Python literal takes its dtype from the arrays it meets; where no other
            # operand is an array of the result's dtype (np.where(m, 1.0, 0.1) in a float32
            # graph, or an int times a float literal) it must carry that dtype itself
            arrays = [i.dtype for i in consumer.inputs if i is not c and i.id not in self.weak
                      and not (i.op.leaf == "constant" and i.ndim == 0)
                      and i.dtype != np.bool_]
            # and a NumPy scalar of the user's (np.int64(1) + a float32 array: float64) is
            # strong: a Python literal in its place would compute in the array's dtype
            if value.dtype != np.bool_ and len(consumer.inputs) > 1 and (
                    (value.dtype == consumer.dtype
                     and np.result_type(*arrays, value.item()) != consumer.dtype)
                    or np.result_type(*arrays, value.item())
                    != np.result_type(*arrays, value.dtype)):
                return self.scalar(lit.text, value.dtype)
            return lit
        if c.id not in self.const_name:
            name = self.names.fresh(f"_{identifier(c.name, 'c')}", numbered=True)
            self.const_name[c.id] = name
            self.constants[name] = value
            self.const_lines.append(array_literal(name, value))
        return Expr(self.const_name[c.id])

    # --- lines ------------------------------------------------------------------------
    def comment(self, n: Var, text: str | None = None, plain: str | None = None) -> str:
        """Shape, then for a lowered statement (``text`` differs from its ``plain`` form)
        that plain form, then the rule a backward line comes from."""
        parts = [format_shape(n.type.shape)]
        if plain is not None and text is not None and str(text) != plain:
            parts.append(f"= {plain}")
        origin = self.schedule.provenance(n)
        if origin:
            parts.append(origin)
        return safe_text("  ".join(parts), 110)

    def set_section(self, title: str) -> None:
        """Start a section; its header is written with the section's first line, so an
        empty section (all of its values inlined elsewhere) prints nothing."""
        self.wanted_section = title

    def add_line(self, text: str) -> None:
        title = getattr(self, "wanted_section", None)
        if title is not None and title != self.section:
            if self.lines:
                self.lines.append("")
                self.line_nodes.append(())
            self.lines.append(f"    # ---- {title}")
            self.line_nodes.append(())
            self.section = title
        self.lines.append(text)
        self.line_nodes.append(self.current)

    def write(self, n: Var, expr: Expr, plain: str | None = None) -> str:
        """``name = expr  # comment``; where the planned renderer lowered the statement,
        ``plain`` (its plain form) goes into the comment."""
        name = self.node_name(n)
        self.name_of[n.id] = name
        self.name_count[name] = self.name_count.get(name, 0) + 1
        code = f"    {name} = {expr.text}"
        pad = max(COMMENT_COLUMN - len(code), 2)
        self.add_line(f"{code}{' ' * pad}# {self.comment(n, expr.text, plain)}")
        return name

    def materialize(self, node_id: int, n: Var) -> None:
        expr, _ = self.pending.pop(node_id)
        outer, self.current = self.current, self.covers.pop(node_id, (n,))
        self.write(n, expr)
        self.current = outer

    # --- the walk ---------------------------------------------------------------------
    def run(self, param_of: dict[int, str]):
        by_id = {n.id: n for n in self.order}
        section = self.schedule.section
        for n in self.schedule.order:
            if n.op.leaf:
                if n.id in param_of:
                    self.name_of[n.id] = param_of[n.id]
                    self.alias_leaf[n.id] = True
                    self.storage[n.id] = frozenset([("param", param_of[n.id])])
                continue
            if n.id in self.inplace_target:
                self.deferred.append(n)      # written into its shared array at the end
                continue
            self.set_section(section[n.id])
            self.node(n, by_id)

    def node(self, n: Var, by_id, out_text: str | None = None) -> None:
        """Emit ``n`` (or make it pending, to be written inside its consumer)."""
        groups = size_check_groups(n)
        if groups:
            for i in n.inputs:
                if i.id in self.pending:
                    self.materialize(i.id, by_id[i.id])
        covered = [n]
        for i in n.inputs:
            if i.id in self.pending:
                covered.extend(self.covers.pop(i.id, (i,)))
        self.current = tuple(covered)
        args, depth, reads = [], 0, []
        for i in n.inputs:
            if i.id in self.pending:
                reads.extend(self.reads_of.pop(i.id, ()))
            elif i.id in self.name_of:
                reads.append(i.id)
            e, d = self.arg(i, n)
            args.append(e)
            depth = max(depth, d)
        if groups:
            what = repr(safe_text(f"{n.op.name} of {', '.join(map(str, n.inputs))}", 80))
            for members in groups:
                sizes = ", ".join(f"{args[k].atom}.shape[{j}]" for k, j in members)
                self.add_line(f"    _same_size({what}, {sizes})")
            if CHECK_HELPER not in self.helpers:
                self.helpers.append(CHECK_HELPER)
        for h in self.helpers_of(n):
            if h not in self.helpers:
                self.helpers.append(h)
        expr = self.emit_op(n, args)
        # a Python number that the emission indexes or calls a method on (``d[None]``,
        # ``d.reshape(...)``, ``n.astype(...)``) must be a NumPy scalar, which has both
        wrapped = False
        for k, i in enumerate(n.inputs):
            if i.id in self.weak and not args[k].text.startswith(self.prefix) and re.search(
                    rf"(?<![\w.]){re.escape(args[k].atom)}[.\[]", expr.text):
                args[k] = self.scalar(args[k].text, i.dtype)
                wrapped = True
        if wrapped:
            expr = self.emit_op(n, args)
        if n.op.python_int or (
                n.op.elementwise and n.ndim == 0 and all(
                    i.id in self.weak or (i.op.leaf == "constant" and i.ndim == 0)
                    for i in n.inputs)):
            self.weak.add(n.id)
            if n.op.ufunc in PYTHON_DIFFERS and (n.op.ufunc == "power"
                                                  or not nonzero_constant(n.inputs[-1])):
                # Python numbers raise on x / 0 (NumPy gives inf or nan and a warning) and
                # turn (-8.0) ** (1 / 3) complex: NumPy's own function keeps its semantics
                expr = self.weak_call(n, args)
        plain = expr.text          # the plain form, kept as the comment of a lowered line
        if self.plan:
            expr = memory.faster_expr(n, args, expr)
        else:
            plain = None           # nothing is lowered: no second form to show
        self.alias_leaf[n.id] = n.op.view and self.alias_leaf.get(n.inputs[0].id, False) \
            if n.inputs else False
        # an identity (stop_gradient) is an alias, not a line
        if n.inputs and expr.text == args[0].text and n.inputs[0].id in self.name_of \
                and n.id not in self.root_ids and out_text is None:
            self.name_of[n.id] = self.name_of[n.inputs[0].id]
            self.alias_leaf[n.id] = self.alias_leaf.get(n.inputs[0].id, False)
            self.name_count[self.name_of[n.id]] = self.name_count.get(self.name_of[n.id], 0) + 1
            self.hold(n, self.storage.get(n.inputs[0].id, frozenset()))
            self.release(reads)
            return
        if self.plan and self.cached_arange(n, reads):
            return
        poolable = self.plan and self.poolable(n)
        inline = (n.op.inline and self.uses.get(n.id, 0) == 1 and n.id not in self.root_ids
                  and self.label(n) is None and depth < MAX_INLINE_DEPTH
                  and len(expr.text) <= MAX_INLINE_CHARS and not poolable and out_text is None)
        if inline:
            self.pending[n.id] = (expr, depth + 1)
            self.reads_of[n.id] = reads
            self.covers[n.id] = self.current
            return
        if out_text is not None:           # an update written into its shared array
            scratch = StatementWorkspace(self, exclude=None)
            text = memory.out_call(n, args, expr, out_text, scratch)
            scratch.give_back()
            self.line(n, Expr(text), plain)
            self.release(reads)
            return
        if not poolable:
            self.write(n, expr, plain)
            st = frozenset() if memory.fresh_result(n) else self.union(reads)
            self.hold(n, st)            # before the release: a view keeps its base alive
            self.release(reads, n)
            return
        # ---- a buffer: a dead one of the same shape and dtype, or a new one
        key = (n.type.shape, n.dtype)
        buf, in_place = None, False
        if memory.kind(n) in ("ufunc", "scatter_add"):
            direct = n.inputs[:1] if memory.kind(n) == "scatter_add" else n.inputs
            for i in direct:
                st = self.storage.get(i.id, frozenset())
                if (len(st) == 1 and self.remaining.get(i.id, 0) == reads.count(i.id)
                        and i.type.shape == n.type.shape and i.dtype == n.dtype):
                    (b,) = st
                    if isinstance(b, int) and self.holder.get(b) == i.id \
                            and self.live.get(b) == {i.id}:
                        buf, in_place = b, True
                        break
        if buf is None:
            buf = self.take_buffer(key)
        target = self.name_of[self.holder[buf]] if in_place else self.buffers[buf].name
        args, tile = self.tile_broadcast(n, args, key, exclude=buf)
        scratch = StatementWorkspace(self, exclude=buf)
        text = memory.out_call(n, args, expr, target, scratch)
        if tile is not None:
            self.free.setdefault(key, []).append(tile)
        scratch.give_back()
        if text is None:                   # the emission cannot take out=: give it back
            if not in_place:
                self.free.setdefault(key, []).append(buf)
            self.write(n, expr, plain)
            st = frozenset() if memory.fresh_result(n) else self.union(reads)
            self.hold(n, st)            # before the release: a view keeps its base alive
            self.release(reads, n)
            return
        if isinstance(text, Statement):   # in place, no value of its own
            self.line(n, Expr(text), plain)
            if self.label(n):                     # a user-derived name: say what it is
                name = self.node_name(n)
                self.add_line(f"    {name} = {target}")
            else:
                name = target
            self.name_of[n.id] = name
            self.name_count[name] = self.name_count.get(name, 0) + 1
        else:
            self.write(n, Expr(text), plain)
        self.release(reads, n, keep=buf)
        self.holder[buf] = n.id
        self.hold(n, frozenset([buf]))


    def line(self, n: Var, expr: Expr, plain: str | None = None) -> None:
        code = f"    {expr.text}"
        pad = max(COMMENT_COLUMN - len(code), 2)
        note = getattr(expr.text, "note", "")
        comment = (self.comment(n) + f"  {safe_text(note, 70)}" if note
                   else self.comment(n, expr.text, plain))
        self.add_line(f"{code}{' ' * pad}# {comment}")


def generate(graph: Graph, inputs: list[Var], shared: list[Var], outputs_tree,
             n_outputs: int, update_targets: list[Var], fname: str,
             notes: list[str] | None = None, plan: bool = False,
             inplace: bool = False, standalone: bool = False,
             array_api: bool = False) -> Module:
    """Emit the module for ``graph`` (roots: the outputs, then the update values).

    With ``plan``, values are computed into workspace buffers through ``out=`` (the
    function then takes the workspace as its last parameter, and the module defines
    ``_workspace``) and dead temporaries are deleted. With ``inplace`` as well, the
    updates are written into the shared arrays once everything else is computed, and
    ``new_shared`` holds only the updates of shared variables the graph does not read.
    With ``standalone``, a planned function makes its own workspace on every call (the
    same arithmetic as the runtime version, for a module that runs on its own). With
    ``array_api``, the program is written against the array API standard
    (``codegen/array_api.py``; no planning).
    """
    from .. import __version__
    fname = identifier(fname, "f")
    if array_api:
        from .array_api import ArrayAPIEmitter
        em = ArrayAPIEmitter(graph, inputs, fname, n_outputs)
    else:
        em = _Emitter(graph, inputs, fname, n_outputs, plan=plan)
    param_of: dict[int, str] = {}
    params: list[str] = []
    for v in list(inputs) + list(shared):
        name = em.names.fresh(v.name or ("x" if v.op.leaf == "input" else "shared"))
        param_of[v.id] = name
        params.append(name)
    # name outputs and update values after what they are, when the user did not
    roots = graph.roots
    out_roots, upd_roots = roots[:n_outputs], roots[n_outputs:]
    if isinstance(outputs_tree, tuple) and outputs_tree[0] == "dict":
        for key, r in zip(outputs_tree[1], out_roots):
            if isinstance(key, str):
                em.schedule.choose(r, key)
    out_ids = {o.id for o in out_roots}
    for target, r in zip(update_targets, upd_roots):
        if r.id not in out_ids:
            em.schedule.choose(
                r, f"{param_of.get(target.id, identifier(target.name, 'shared'))}_new")
    inplace = inplace and plan
    if inplace:
        choose_inplace(em, out_roots, upd_roots, update_targets, param_of)
        out_ids = {r.id for r in out_roots}
        em.copied_roots = {r.id for t, r in zip(update_targets, upd_roots)
                           if t.id in param_of and r.id not in out_ids and not r.op.leaf
                           and r.id not in em.inplace_target}
    em.run(param_of)
    em.current = ()

    def raw_text(r: Var) -> str:
        if r.id in em.name_of:
            return em.name_of[r.id]
        if r.id in em.pending:
            return em.pending[r.id][0].text
        return em.constant_expr(r, r).text

    def value_text(r: Var, copy: bool) -> str:
        """The text of a value that leaves the call: a copy where it could share memory
        with an argument, a shared array or a workspace buffer (its storage), or where
        ``copy`` asks for one."""
        text = raw_text(r)
        if (r.op.leaf == "constant" or em.alias_leaf.get(r.id, False) or copy
                or em.storage.get(r.id)):
            return em.copy_text(text)
        if r.id in em.weak:
            return em.array_text(text, r.dtype)
        if r.ndim == 0:
            return em.array_text(text)
        return text

    upd_ids = {r.id for r in upd_roots}
    upd_texts, update_keys = [], []
    if not inplace:
        out_texts = [value_text(r, r.id in upd_ids) for r in out_roots]
        seen: set[int] = set()
        for target, r in zip(update_targets, upd_roots):
            upd_texts.append(value_text(r, r.id in seen))
            seen.add(r.id)
            key = param_of.get(target.id) or em.names.fresh(identifier(target.name, "shared"))
            update_keys.append(key)
    else:
        out_texts = inplace_tail(em, out_roots, upd_roots, update_targets, param_of,
                                  value_text, raw_text, upd_texts, update_keys)

    doc_args = [safe_text(f"{p}: {v.type}", 40) for p, v in zip(params,
                                                                 list(inputs) + list(shared))]
    ws_param = [em.names.fresh("_ws")] if em.buffers and not standalone else []
    ws_name = em.names.fresh("_workspace") if em.buffers else None
    body = [f"def {fname}({', '.join(params + ws_param + em.extra_params)}):",
            f'    """{safe_text(fname)}: one call of the compiled function.', "",
            "    Arguments:"]
    line = "   "
    for arg in doc_args:  # wrapped at 96 columns
        if len(line) + len(arg) + 2 > 96:
            body.append(line.rstrip(","))
            line = "   "
        line += f" {arg},"
    body += [line.rstrip(","), ""]
    if ws_param:
        body.append(f"    ``{ws_param[0]}``: scratch arrays made by ``_workspace``, reused from "
                    "call to call.")
    if inplace and update_targets:
        body.append("    Updates are written into the shared arrays in place; returns (outputs, "
                    "new_shared)" + '."""')
    else:
        body.append("    Returns (outputs, new_shared)." + '"""')
    if em.buffers:
        names = [b.name for b in em.buffers]
        if ws_param:
            source_of_ws = ws_param[0]
        else:
            source_of_ws = f"{ws_name}({', '.join(dim_texts(em.buffers, inputs, params))})"
        text = f"{', '.join(names)}{',' if len(names) == 1 else ''} = {source_of_ws}"
        while len(text) > 92:
            cut = text.rindex(", ", 0, 92)
            body.append(f"    {text[:cut + 1]} \\")
            text = text[cut + 2:]
        body.append(f"    {text}")
    first_line = len(body)
    body += em.lines
    body.append("")
    new_shared = "{" + ", ".join(f"{k!r}: {t}" for k, t in zip(update_keys, upd_texts)) + "}"
    returned: set[int] = set()
    for k, r in enumerate(out_roots):   # one node returned twice: two arrays, not one
        if r.id in returned:
            out_texts[k] = em.copy_text(out_texts[k])
        returned.add(r.id)
    body.append(f"    return {output_text(outputs_tree, out_texts)}, {new_shared}")

    header = [f"# Generated by symgrad {__version__} from function {safe_text(fname)!r}. "
              "Regenerate rather than edit."]
    for note in notes or []:
        header.append(f"# {safe_text(note, 200)}")
    big = {k: v for k, v in em.constants.items() if v.size > LITERAL_ARRAY_SIZE}
    if big:
        header.append("import base64  # noqa: F401 (decodes the large constants)")
    header += em.imports()
    small = [ln for ln, v in zip(em.const_lines, em.constants.values())
             if v.size <= LITERAL_ARRAY_SIZE]
    blocks = "\n".join(header) + "\n\n"
    # the code the statements run (a comment may name a helper: the plain form of a line)
    body_text = "\n".join(line.split("  # ")[0] for line in body)
    wanted: list[str] = []      # the helpers the planned statements still call, and the
    grew = True                 # helpers those call (erf's calls _erfcx)
    while grew:
        grew = False
        for h in em.helpers:
            if h not in wanted and f"{h.split('def ', 1)[1].split('(', 1)[0]}(" in body_text:
                wanted.append(h)
                body_text += "\n" + h
                grew = True
    for h in em.helpers:
        if h in wanted:
            blocks += "\n" + h + "\n\n"
    if small:
        blocks += "\n" + "\n".join(small) + "\n"
    if big:
        blocks += "# constants supplied by the runtime\n"
    ws_dims = []
    if em.buffers:
        ws_src, ws_dims = workspace_source(ws_name, em.buffers, fname)
        blocks = blocks.rstrip("\n") + "\n\n\n" + ALIGNED_SOURCE + "\n\n\n" + ws_src
    source = blocks.rstrip("\n") + "\n\n\n" + "\n".join(body) + "\n"
    const_src = "".join(array_literal(k, v) + "\n" for k, v in big.items())
    module = Module(fname, source, params, list(shared), update_keys, big, const_src,
                    ws_name, ws_dims, inplace)
    offset = (blocks.rstrip("\n") + "\n\n\n").count("\n") + first_line + 1
    module.line_nodes = {offset + k: nodes for k, nodes in enumerate(em.line_nodes) if nodes}
    module.lowered = dict(em.lowered)
    if em.buffers:
        module.lowered["workspace_buffers"] = sum(b.fill is None for b in em.buffers)
    if inplace and em.deferred:
        module.lowered["inplace_updates"] = len(em.deferred)
    return module


