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

import base64
import re
from dataclasses import dataclass, field

import numpy as np

from ..aligned import ALIGNED_SOURCE
from ..ir.graph import Graph, clients
from ..ir.node import Var
from ..ir.types import broadcast_shapes, format_shape
from ..ops.registry import PREC_UNARY, Expr, Statement
from . import memory
from .naming import NameAllocator, identifier, safe_text

# dtypes NumPy gives Python bools, ints and floats when it makes arrays of them
# ufuncs whose Python operator form differs from NumPy on Python numbers (see node())
_PYTHON_DIFFERS = frozenset({"divide", "floor_divide", "remainder", "power"})


def _nonzero_constant(v: Var) -> bool:
    """A constant with no zero in it (a safe divisor for Python's operators)."""
    return v.op.leaf == "constant" and bool(np.all(v.value != 0)) and v.value.dtype.kind != "c"


_PYTHON_DEFAULT_DTYPES = (np.dtype(np.bool_), np.dtype(np.int64), np.dtype(np.float64))

# a bias vector at least this long is copied into a 2-D buffer before it is added
TILE_MIN = 64

MAX_INLINE_DEPTH = 3
MAX_INLINE_CHARS = 72
COMMENT_COLUMN = 48
LITERAL_ARRAY_SIZE = 16
DEL_MIN_SIZE = 1 << 16        # temporaries of at least this many elements are `del`eted

CHECK_HELPER = '''def _same_size(where, *sizes):
    """Sizes that must match (unknown or named dimensions) are compared at run time."""
    if len(set(sizes)) > 1:
        raise ValueError(f"{where}: sizes {sizes} do not match (only dimensions declared "
                         "as 1 broadcast)")'''


@dataclass
class Module:
    """The generated module and what the runtime needs to call it."""

    name: str
    source: str                      # in-memory source (large constants come from namespace)
    param_names: list[str]           # inputs, then shared values
    shared: list[Var]                # the shared variables read, in parameter order
    update_keys: list[str]           # key in new_shared of each update, in update order
    constants: dict[str, np.ndarray] = field(default_factory=dict)
    constants_source: str = ""       # the same constants as source, for a standalone module
    workspace: str | None = None     # name of the generated workspace function, if any
    workspace_dims: list = field(default_factory=list)  # its parameters: named dimensions
    inplace: bool = False            # updates are written into the shared arrays in place
    # source line number -> the nodes that line computes (the node, then those inlined
    # into it), so that an error raised on a generated line can name the user's code
    line_nodes: dict = field(default_factory=dict)

    def standalone_source(self) -> str:
        marker = "# constants supplied by the runtime\n"
        return self.source.replace(marker, self.constants_source)


def _literal(value: np.ndarray) -> Expr:
    v = value.item()
    if isinstance(v, bool):
        return Expr(repr(v))
    if isinstance(v, float):
        if np.isnan(v):
            return Expr("np.nan")
        if np.isinf(v):
            return Expr("np.inf" if v > 0 else "-np.inf", PREC_UNARY if v < 0 else 20)
    text = repr(v)
    if value.dtype == np.float32:   # the shortest text that reads back as this float32
        short = str(np.float32(v))
        if np.float32(float(short)) == np.float32(v):
            text = short
    return Expr(text, PREC_UNARY if text.startswith("-") else 20)


def _array_literal(name: str, value: np.ndarray) -> str:
    dtype = f"np.{value.dtype.name}"
    if value.size == 0:         # a nested list would lose the shape of an empty array
        return f"{name} = np.zeros({value.shape!r}, dtype={dtype})"
    if value.size <= LITERAL_ARRAY_SIZE:
        text = repr(value.tolist())
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            text = re.sub(r"\b(nan|inf)\b", r"np.\1", text)
        return f"{name} = np.array({text}, dtype={dtype})"
    data = base64.b64encode(np.ascontiguousarray(value).tobytes()).decode("ascii")
    return (f"{name} = np.frombuffer(base64.b64decode({data!r}), dtype=np.{value.dtype.name})"
            f".reshape({value.shape!r}).copy()")


def needs_broadcast_check(node: Var) -> list[list[tuple[int, int]]]:
    """For an elementwise node, the groups of (input, axis) whose sizes must be compared
    at run time: aligned dimensions that are not provably equal and not statically 1."""
    if not node.op.elementwise or len(node.inputs) < 2:
        return []
    shapes = [i.type.shape for i in node.inputs]
    _, check = broadcast_shapes(*shapes)
    if not check:
        return []
    ndim = max(len(s) for s in shapes)
    groups = []
    for axis in range(ndim):
        members = []
        for k, s in enumerate(shapes):
            j = axis - (ndim - len(s))
            if j >= 0 and s[j] != 1:
                members.append((k, j))
        dims = {shapes[k][j] for k, j in members}
        if len(members) > 1 and (len(dims) > 1 or None in dims):
            groups.append(members)
    return groups


class _Emitter:
    # the dialect: NumPy here; the array-API renderer (codegen/array_api.py) subclasses
    # these few methods to write the standard's spellings through a namespace ``xp``
    prefix = "np."
    extra_params: list[str] = []

    def emit_op(self, n: Var, args: list[Expr]) -> Expr:
        return n.op.emit(args, **n.params)

    def helpers_of(self, n: Var):
        return n.op.helpers

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
                                             "base64", "_aligned"})
        self.name_of: dict[int, str] = {}
        self.chosen: dict[int, str] = {}     # node id -> a name this emitter chose for it
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
        """The name a node is shown by: its own, one a pass chose (``Graph.names``) or one
        this emitter chose (an output's dict key, ``W_new``). Nothing is written back into
        the nodes."""
        return n.name or self.graph.names.get(n.id) or self.chosen.get(n.id)

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
                and inp.dtype not in _PYTHON_DEFAULT_DTYPES):
            expr = self.scalar(expr.text, inp.dtype)
        return expr, depth

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
            lit = _literal(value)
            if not consumer.op.elementwise:  # it will be indexed or reshaped: a NumPy scalar
                return self.scalar(lit.text, value.dtype)
            # a Python literal takes its dtype from the arrays it meets; where no other
            # operand is an array of the result's dtype (np.where(m, 1.0, 0.1) in a float32
            # graph, or an int times a float literal) it must carry that dtype itself
            arrays = [i.dtype for i in consumer.inputs if i is not c and i.id not in self.weak
                      and not (i.op.leaf == "constant" and i.ndim == 0)
                      and i.dtype != np.bool_]
            if (value.dtype != np.bool_ and value.dtype == consumer.dtype
                    and len(consumer.inputs) > 1
                    and np.result_type(*arrays, value.item()) != consumer.dtype):
                return self.scalar(lit.text, value.dtype)
            return lit
        if c.id not in self.const_name:
            name = self.names.fresh(f"_{identifier(c.name, 'c')}", numbered=True)
            self.const_name[c.id] = name
            self.constants[name] = value
            self.const_lines.append(_array_literal(name, value))
        return Expr(self.const_name[c.id])

    # --- lines ------------------------------------------------------------------------
    def comment(self, n: Var, text: str | None = None, plain: str | None = None) -> str:
        """Shape, then for a lowered statement (``text`` differs from its ``plain`` form)
        that plain form, then the rule a backward line comes from."""
        parts = [format_shape(n.type.shape)]
        if plain is not None and text is not None and str(text) != plain:
            parts.append(f"= {plain}")
        if n.is_grad:
            fwd = n.tag.node
            label = self.label(fwd)
            rule = n.tag.rule
            rule = ("fan-out sum" + rule[len("sum of fan-out"):]
                    if rule.startswith("sum of fan-out") else f"vjp of {rule}")
            parts.append(rule + (f" ({label})" if label else ""))
        elif n.op.label and not self.label(n):
            parts.append(n.op.label)
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
    def sections(self) -> dict[int, str]:
        """forward, backward (nodes built by differentiation) or updates (the rest: what
        only the update values need)."""
        main = set()
        stack = [r for r in self.graph.roots[: self.n_outputs]] + [
            n for n in self.order if n.is_grad]
        while stack:
            n = stack.pop()
            if n.id in main:
                continue
            main.add(n.id)
            stack.extend(n.inputs)
        return {n.id: ("backward" if n.is_grad else "forward" if n.id in main else "updates")
                for n in self.order}

    def run(self, param_of: dict[int, str]):
        by_id = {n.id: n for n in self.order}
        section = self.sections()
        order = ([n for n in self.order if section[n.id] != "updates"]
                 + [n for n in self.order if section[n.id] == "updates"])
        for n in order:
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
        groups = needs_broadcast_check(n)
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
        if not n.op.elementwise:
            # a Python number that the emission indexes or calls a method on (``d[None]``,
            # ``d.reshape(...)``) must be a NumPy scalar, which has both
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
            if n.op.ufunc in _PYTHON_DIFFERS and (n.op.ufunc == "power"
                                                  or not _nonzero_constant(n.inputs[-1])):
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
            scratch = _StatementWorkspace(self, exclude=None)
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
        scratch = _StatementWorkspace(self, exclude=buf)
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

    def cached_arange(self, n: Var, reads) -> bool:
        """``np.arange(batch)`` depends on the input shape only: it is made once, with the
        workspace (like ``_ones``), and read from there at every call."""
        p = n.params
        length = p.get("length")
        # (arange's own lowering: the workspace holds np.arange(length) arrays, a fill kind
        # of its own; no other op is spelled that way)
        if (n.op.name != "arange" or n.id in self.root_ids or len(n.inputs) != 1
                or p.get("start", 0) != 0 or p.get("step", 1) != 1
                or not isinstance(length, str) or length not in self.bound_dims):
            return False
        key = ((length,), n.dtype, "arange")
        if key not in self.aranges:
            name = self.names.fresh("_rows", numbered=True)
            self.aranges[key] = len(self.buffers)
            self.buffers.append(memory.Buffer(name, (length,), n.dtype, "arange"))
        buf = self.aranges[key]
        self.name_of[n.id] = self.buffers[buf].name
        self.name_count[self.buffers[buf].name] = (
            self.name_count.get(self.buffers[buf].name, 0) + 1)
        self.hold(n, frozenset([buf]))
        self.release(reads, n)
        return True

    def tile_broadcast(self, n: Var, args: list[Expr], key, exclude):
        """For ``z + b`` with ``b`` a vector repeated over the rows of a 2-D result: copy
        ``b`` into a workspace buffer of the result's shape first (``np.copyto``), so the
        ufunc sees two arrays of one shape. NumPy allocates a scratch buffer for every
        2-D + 1-D broadcast; the copy allocates nothing and the two calls together are
        faster. Returns the arguments to use and the buffer borrowed (or None)."""
        if memory.kind(n) != "ufunc" or len(n.inputs) != 2 or n.ndim != 2:
            return args, None
        small = [k for k, i in enumerate(n.inputs) if i.type.shape != n.type.shape]
        if len(small) != 1:
            return args, None
        (k,) = small
        v = n.inputs[k]
        rows = v.type.shape[-1] if v.ndim else None
        if (v.ndim not in (1, 2) or (v.ndim == 2 and v.type.shape[0] != 1)
                or not isinstance(rows, int) or rows < TILE_MIN or rows != n.type.shape[1]
                or v.dtype != n.dtype):
            return args, None
        tile = self.take_buffer(key, exclude)
        name = self.buffers[tile].name
        self.add_line(f"    np.copyto({name}, {args[k].text})"
                      f"{' ' * max(COMMENT_COLUMN - 17 - len(name) - len(args[k].text), 2)}"
                      f"# {safe_text(format_shape(n.type.shape))}  {safe_text(str(v), 30)} "
                      "repeated over the rows")
        args = list(args)
        args[k] = Expr(name)
        return args, tile

    def line(self, n: Var, expr: Expr, plain: str | None = None) -> None:
        code = f"    {expr.text}"
        pad = max(COMMENT_COLUMN - len(code), 2)
        note = getattr(expr.text, "note", "")
        comment = (self.comment(n) + f"  {safe_text(note, 70)}" if note
                   else self.comment(n, expr.text, plain))
        self.add_line(f"{code}{' ' * pad}# {comment}")

    # --- memory planning --------------------------------------------------------------
    def poolable(self, n: Var) -> bool:
        if (n.id in self.root_ids and n.id not in self.copied_roots) or n.ndim == 0 \
                or not memory.can_write(n):
            return False
        return self.bound(n.type.shape)

    def take_buffer(self, key, exclude=None) -> int:
        """A free scratch buffer of ``key`` = (shape, dtype), other than ``exclude``, or
        a new one."""
        free = [b for b in self.free.get(key, []) if b != exclude]
        if free:
            self.free[key].remove(free[-1])
            return free[-1]
        self.buffers.append(memory.Buffer(self.names.fresh("_buf", numbered=True), *key))
        return len(self.buffers) - 1

    def bound(self, shape) -> bool:
        """Whether a workspace array of this shape can be made (every size known)."""
        return all(isinstance(d, int) or (isinstance(d, str) and d in self.bound_dims)
                   for d in shape)

    def filled(self, shape, dtype, value) -> str | None:
        """The name of a read-only workspace array of ``shape`` full of ``value``."""
        shape = tuple(shape)
        if not self.bound(shape):
            return None
        dtype = np.dtype(dtype)
        key = (shape, dtype, value)
        if key not in self.fills:
            stem = {0: "_zeros", 1: "_ones"}.get(value, "_full")
            name = self.names.fresh(stem, numbered=True)
            self.fills[key] = name
            self.buffers.append(memory.Buffer(name, shape, dtype, value))
        return self.fills[key]

    def union(self, reads) -> frozenset:
        st: set = set()
        for r in reads:
            st |= self.storage.get(r, frozenset())
        return frozenset(st)

    def hold(self, n: Var, st: frozenset) -> None:
        self.storage[n.id] = st
        if self.remaining.get(n.id, 0) <= 0:
            return
        for b in st:
            self.live.setdefault(b, set()).add(n.id)

    def release(self, reads, n: Var | None = None, keep=None) -> None:
        """The statement for ``n`` has read ``reads``: free what died (except ``keep``,
        which the statement itself took over) and delete dead large temporaries."""
        dead_names = []
        for r in reads:
            self.remaining[r] = self.remaining.get(r, 0) - 1
            if self.remaining[r] != 0:
                continue
            st = self.storage.get(r, frozenset())
            for b in st:
                live = self.live.get(b)
                if live is None:
                    continue
                live.discard(r)
                if not live and isinstance(b, int) and b != keep \
                        and self.buffers[b].fill is None:
                    self.free.setdefault((self.buffers[b].shape, self.buffers[b].dtype),
                                         []).append(b)
            if self.plan and not st and r in self.name_of and not self.alias_leaf.get(r):
                name = self.name_of[r]
                self.name_count[name] -= 1
                node = self.by_id.get(r)
                if self.name_count[name] == 0 and node is not None and self.large(node):
                    dead_names.append(name)
        if dead_names:
            self.add_line(f"    del {', '.join(dead_names)}")

    @staticmethod
    def large(n: Var) -> bool:
        size = 1
        for d in n.type.shape:
            if not isinstance(d, int):
                return True
            size *= d
        return size >= DEL_MIN_SIZE


class _StatementWorkspace:
    """What ``memory.out_call`` may ask the emitter for while it writes one statement:
    read-only filled arrays, scratch arrays that are free again after the statement, and
    setup lines written just before it."""

    def __init__(self, em: _Emitter, exclude):
        self.em, self.exclude, self.taken = em, exclude, []

    def filled(self, shape, dtype, value):
        return self.em.filled(shape, dtype, value)

    def scratch(self, shape, dtype):
        em = self.em
        shape = tuple(shape)
        if not em.bound(shape):
            return None
        key = (shape, np.dtype(dtype))
        buf = em.take_buffer(key, self.exclude)
        self.taken.append((key, buf))
        return em.buffers[buf].name

    def add_line(self, code: str, shape, note: str) -> None:
        text = f"    {code}"
        pad = max(COMMENT_COLUMN - len(text), 2)
        self.em.add_line(f"{text}{' ' * pad}# {safe_text(format_shape(shape))}  "
                         f"{safe_text(note, 60)}")

    def give_back(self) -> None:
        for key, buf in self.taken:
            self.em.free.setdefault(key, []).append(buf)
        self.taken = []


def _output_text(tree, texts: list[str]) -> str:
    if tree is None:
        return texts[0]
    if tree is list:
        return "[" + ", ".join(texts) + "]"
    if tree is tuple:
        return "(" + ", ".join(texts) + ("," if len(texts) == 1 else "") + ")"
    return "{" + ", ".join(f"{k!r}: {t}" for k, t in zip(tree[1], texts)) + "}"


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
            if em.label(r) is None and not r.op.leaf and isinstance(key, str):
                em.chosen[r.id] = key
    for target, r in zip(update_targets, upd_roots):
        if em.label(r) is None and not r.op.leaf and r.id not in {o.id for o in out_roots}:
            em.chosen[r.id] = f"{param_of.get(target.id, identifier(target.name, 'shared'))}_new"
    inplace = inplace and plan
    if inplace:
        _choose_inplace(em, out_roots, upd_roots, update_targets, param_of)
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
        out_texts = _inplace_tail(em, out_roots, upd_roots, update_targets, param_of,
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
            source_of_ws = f"{ws_name}({', '.join(_dim_texts(em.buffers, inputs, params))})"
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
    body.append(f"    return {_output_text(outputs_tree, out_texts)}, {new_shared}")

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
        ws_src, ws_dims = _workspace_source(ws_name, em.buffers, fname)
        blocks = blocks.rstrip("\n") + "\n\n\n" + ALIGNED_SOURCE + "\n\n\n" + ws_src
    source = blocks.rstrip("\n") + "\n\n\n" + "\n".join(body) + "\n"
    const_src = "".join(_array_literal(k, v) + "\n" for k, v in big.items())
    module = Module(fname, source, params, list(shared), update_keys, big, const_src,
                    ws_name, ws_dims, inplace)
    offset = (blocks.rstrip("\n") + "\n\n\n").count("\n") + first_line + 1
    module.line_nodes = {offset + k: nodes for k, nodes in enumerate(em.line_nodes) if nodes}
    return module


def _dim_texts(buffers, inputs, params) -> list[str]:
    """For a standalone module: each named dimension read from the shape of an input."""
    dims: list = []
    for b in buffers:
        for d in b.shape:
            if isinstance(d, str) and d not in dims:
                dims.append(d)
    texts = []
    for d in dims:
        for v, p in zip(inputs, params):
            if d in v.type.shape:
                texts.append(f"{p}.shape[{v.type.shape.index(d)}]")
                break
    return texts


def _workspace_source(name: str, buffers, fname: str) -> tuple[str, list]:
    """The function that makes the workspace, from the sizes of the named dimensions;
    its arrays start on cache-line boundaries (``_aligned``, symgrad/aligned.py)."""
    alloc = NameAllocator(reserved={name, fname, "_aligned"})
    dims: dict[str, str] = {}
    for b in buffers:
        for d in b.shape:
            if isinstance(d, str) and d not in dims:
                dims[d] = alloc.fresh(identifier(d, "n"))
    lines = [f"def {name}({', '.join(dims.values())}):",
             f'    """Scratch arrays for {safe_text(fname)}, made once per input shape and '
             'reused."""',
             "    return ["]
    for b in buffers:
        dims_text = [str(d) if isinstance(d, int) else dims[d] for d in b.shape]
        shape = "(" + ", ".join(dims_text) + ("," if len(dims_text) == 1 else "") + ")"
        dt = "bool_" if b.dtype == np.bool_ else b.dtype.name
        if b.fill == "arange":
            lines.append(f"        np.arange({dims_text[0]}, dtype=np.{dt}),  # {b.name} "
                         "(read only)")
        elif b.fill is None:
            lines.append(f"        _aligned({shape}, np.{dt}),  # {b.name}")
        else:
            lines.append(f"        _aligned({shape}, np.{dt}, {b.fill!r}),  # {b.name} "
                         "(read only)")
    lines.append("    ]")
    return "\n".join(lines) + "\n", list(dims)


def _choose_inplace(em, out_roots, upd_roots, targets, param_of) -> None:
    """Pick the update values that can be computed straight into their shared array."""
    out_ids = {r.id for r in out_roots}
    count: dict[int, int] = {}
    for r in upd_roots:
        count[r.id] = count.get(r.id, 0) + 1
    target_ids = {t.id for t in targets if t.id in param_of}
    for t, r in zip(targets, upd_roots):
        if (t.id not in param_of or r.op.leaf or r.id in out_ids or count[r.id] > 1
                or em.uses.get(r.id, 0) or r.type.shape != t.type.shape or r.dtype != t.dtype
                or memory.kind(r) not in ("ufunc", "gemm_update")):
            continue
        dummy = [Expr(f"a{k}") for k in range(len(r.inputs))]
        if memory.out_call(r, dummy, r.op.emit(dummy, **r.params), "o") is None:
            continue
        if _reads_targets(em, r, t, target_ids):
            continue
        em.inplace_target[r.id] = param_of[t.id]


def _reads_targets(em, r: Var, own: Var, target_ids: set) -> bool:
    """Whether writing ``r`` into ``own`` could read a shared array that the write phase
    changes (another target, or ``own`` through anything but the plain array)."""
    stack = [(i, True) for i in r.inputs]
    seen = set()
    while stack:
        m, direct = stack.pop()
        if (m.id, direct) in seen:
            continue
        seen.add((m.id, direct))
        if m.id in target_ids:
            if m.id != own.id or not direct:
                return True
            continue
        if m.op.leaf:
            continue
        statement = (em.uses.get(m.id, 0) > 1 or not m.op.inline or em.label(m) is not None
                     or m.id in em.root_ids or em.poolable(m))
        if statement and memory.fresh_result(m):
            continue
        stack.extend((i, False) for i in m.inputs)
    return False


def _inplace_tail(em, out_roots, upd_roots, targets, param_of, value_text, raw_text,
                  upd_texts, update_keys) -> list[str]:
    """Outputs first, then the in-place write phase. Returns the texts of the outputs.

    Every value that leaves the call after the write phase (an output, or the new value
    of a shared variable the graph does not read) and that may share memory with a
    shared array the write phase changes is copied *before* that phase, so that it holds
    what was computed from the old values; anything else that may alias an argument, a
    shared array or a buffer is copied where it is returned."""
    written = {param_of[t.id] for t in targets if t.id in param_of}

    def leaving(r: Var, label: str, copy: bool) -> str:
        st = em.storage.get(r.id, frozenset())
        if (r.op.leaf and param_of.get(r.id) in written) or any(
                ("param", nm) in st for nm in written):
            name = em.names.fresh(label)
            em.add_line(f"    {name} = {value_text(r, True)}")
            return name
        return value_text(r, copy)

    out_texts = [leaving(r, f"{em.name_of.get(r.id, 'out')}_copy", False) for r in out_roots]
    # the new values of shared variables the graph does not read become those variables'
    # arrays: always an array of their own
    unread = [(t, r) for t, r in zip(targets, upd_roots) if t.id not in param_of]
    unread_texts = [leaving(r, f"{identifier(t.name, 'shared')}_new", True) for t, r in unread]
    writes = []
    for t, r in zip(targets, upd_roots):
        if t.id not in param_of:
            continue
        if r.id in em.inplace_target:
            continue
        st = em.storage.get(r.id, frozenset())
        text = raw_text(r)          # copied into the shared array: no copy of its own
        if r.op.leaf or any(("param", nm) in st for nm in written):
            name = em.names.fresh(f"{param_of[t.id]}_new")
            em.add_line(f"    {name} = {value_text(r, True)}")
            text = name
        writes.append(f"    np.copyto({param_of[t.id]}, {text})")
    if em.deferred or writes:
        em.set_section("updates")
        em.add_line("    # written into the shared arrays, now that everything is computed")
        for n in em.deferred:
            em.node(n, em.by_id, out_text=em.inplace_target[n.id])
        em.current = ()
        for line in writes:
            em.add_line(line)
    for (t, r), text in zip(unread, unread_texts):
        upd_texts.append(text)
        update_keys.append(em.names.fresh(identifier(t.name, "shared")))
    return out_texts
