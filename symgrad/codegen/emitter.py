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
from dataclasses import dataclass, field

import numpy as np

from ..ir.graph import Graph, clients
from ..ir.node import Var
from ..ir.types import broadcast_shapes, format_shape
from ..ops.registry import PREC_UNARY, Expr
from .naming import NameAllocator, identifier, safe_text

MAX_INLINE_DEPTH = 3
MAX_INLINE_CHARS = 72
COMMENT_COLUMN = 48
LITERAL_ARRAY_SIZE = 16

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
    return Expr(text, PREC_UNARY if text.startswith("-") else 20)


def _array_literal(name: str, value: np.ndarray) -> str:
    if value.size <= LITERAL_ARRAY_SIZE:
        return f"{name} = np.array({value.tolist()!r}, dtype=np.{value.dtype.name})"
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
    def __init__(self, graph: Graph, inputs, fname, n_outputs):
        self.graph = graph
        self.order = graph.nodes
        self.inputs = inputs
        self.fname = fname
        self.n_outputs = n_outputs
        self.names = NameAllocator(reserved={fname, "_scatter", "_scatter_add", "_same_size",
                                             "base64"})
        self.name_of: dict[int, str] = {}
        self.pending: dict[int, tuple[Expr, int]] = {}
        self.depth: dict[int, int] = {}
        self.alias_leaf: dict[int, bool] = {}
        # 0-d values the generated code holds as Python numbers (literals, sizes read from
        # .shape, arithmetic on them): NumPy treats them as weak scalars, which is right
        # inside elementwise arithmetic but loses the dtype anywhere else
        self.weak: set[int] = set()
        self.lines: list[str] = []
        self.section = None
        self.helpers: list[str] = []
        self.constants: dict[str, np.ndarray] = {}
        self.const_lines: list[str] = []
        self.const_name: dict[int, str] = {}
        users = clients(self.order)
        self.uses = {k: len(v) for k, v in users.items()}
        self.root_ids = {r.id for r in graph.roots}

    # --- names ------------------------------------------------------------------------
    def node_name(self, n: Var) -> str:
        if n.name:
            return self.names.fresh(n.name)
        if any(r is n for r in self.graph.roots[: self.n_outputs]):
            return self.names.fresh("out", numbered=True)
        return self.names.fresh(n.op.short, numbered=True)

    # --- expressions ------------------------------------------------------------------
    def arg(self, inp: Var, consumer: Var) -> tuple[Expr, int]:
        expr, depth = self._arg(inp, consumer)
        if inp.id in self.weak and not consumer.op.elementwise and inp.op.name != "constant":
            expr = Expr(f"np.{inp.dtype.name}({expr.text})")
        return expr, depth

    def _arg(self, inp: Var, consumer: Var) -> tuple[Expr, int]:
        if inp.id in self.name_of:
            return Expr(self.name_of[inp.id]), 0
        if inp.id in self.pending:
            return self.pending.pop(inp.id)
        if inp.op.name == "constant":
            return self.constant_expr(inp, consumer), 0
        raise AssertionError(f"{inp!r} used before it was computed")

    def constant_expr(self, c: Var, consumer: Var) -> Expr:
        value = c.value
        if value.ndim == 0:
            lit = _literal(value)
            if not consumer.op.elementwise:  # it will be indexed or reshaped: a NumPy scalar
                return Expr(f"np.{value.dtype.name}({lit.text})")
            others = [i.dtype for i in consumer.inputs if i is not c]
            if (consumer.op.elementwise and others and value.dtype != np.bool_
                    and np.result_type(*others) != consumer.dtype
                    and value.dtype == consumer.dtype):
                return Expr(f"np.{value.dtype.name}({lit.text})")
            return lit
        if c.id not in self.const_name:
            name = self.names.fresh(f"_{identifier(c.name, 'c')}", numbered=True)
            self.const_name[c.id] = name
            self.constants[name] = value
            self.const_lines.append(_array_literal(name, value))
        return Expr(self.const_name[c.id])

    # --- lines ------------------------------------------------------------------------
    def comment(self, n: Var) -> str:
        parts = [format_shape(n.type.shape)]
        if n.is_grad:
            fwd = n.tag.node
            label = fwd.name or fwd.op.name
            rule = "fan-out sum" if n.tag.rule == "sum of fan-out" else f"vjp of {n.tag.rule}"
            parts.append(rule + (f" ({label})" if fwd.name else ""))
        elif n.op.name in ("relu", "sigmoid", "tanh", "softplus", "leaky_relu") or n.name:
            if not n.name:
                parts.append(n.op.name)
        return safe_text("  ".join(parts), 70)

    def set_section(self, title: str) -> None:
        if self.section != title:
            if self.lines:
                self.lines.append("")
            self.lines.append(f"    # ---- {title}")
            self.section = title

    def write(self, n: Var, expr: Expr) -> str:
        name = self.node_name(n)
        self.name_of[n.id] = name
        code = f"    {name} = {expr.text}"
        pad = max(COMMENT_COLUMN - len(code), 2)
        self.lines.append(f"{code}{' ' * pad}# {self.comment(n)}")
        return name

    def materialize(self, node_id: int, n: Var) -> None:
        expr, _ = self.pending.pop(node_id)
        self.write(n, expr)

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
                continue
            self.set_section(section[n.id])
            groups = needs_broadcast_check(n)
            if groups:
                for i in n.inputs:
                    if i.id in self.pending:
                        self.materialize(i.id, by_id[i.id])
            args, depth = [], 0
            for i in n.inputs:
                e, d = self.arg(i, n)
                args.append(e)
                depth = max(depth, d)
            if groups:
                what = repr(safe_text(f"{n.op.name} of {', '.join(map(str, n.inputs))}", 80))
                for members in groups:
                    sizes = ", ".join(f"{args[k].atom}.shape[{j}]" for k, j in members)
                    self.lines.append(f"    _same_size({what}, {sizes})")
                if CHECK_HELPER not in self.helpers:
                    self.helpers.append(CHECK_HELPER)
            for h in n.op.helpers:
                if h not in self.helpers:
                    self.helpers.append(h)
            expr = n.op.emit(args, **n.params)
            if n.op.name in ("size_of", "shape_of") or (
                    n.op.elementwise and n.ndim == 0 and all(
                        i.id in self.weak or (i.op.name == "constant" and i.ndim == 0)
                        for i in n.inputs)):
                self.weak.add(n.id)
            self.alias_leaf[n.id] = n.op.view and self.alias_leaf.get(n.inputs[0].id, False) \
                if n.inputs else False
            # an identity (stop_gradient) is an alias, not a line
            if n.inputs and expr.text == args[0].text and n.inputs[0].id in self.name_of \
                    and n.id not in self.root_ids:
                self.name_of[n.id] = self.name_of[n.inputs[0].id]
                self.alias_leaf[n.id] = self.alias_leaf.get(n.inputs[0].id, False)
                continue
            inline = (n.op.inline and self.uses.get(n.id, 0) == 1 and n.id not in self.root_ids
                      and n.name is None and depth < MAX_INLINE_DEPTH
                      and len(expr.text) <= MAX_INLINE_CHARS)
            if inline:
                self.pending[n.id] = (expr, depth + 1)
            else:
                self.write(n, expr)


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
             notes: list[str] | None = None) -> Module:
    """Emit the module for ``graph`` (roots: the outputs, then the update values)."""
    from .. import __version__
    fname = identifier(fname, "f")
    em = _Emitter(graph, inputs, fname, n_outputs)
    param_of: dict[int, str] = {}
    params: list[str] = []
    for v in list(inputs) + list(shared):
        name = em.names.fresh(v.name or ("x" if v.op.name == "input" else "shared"))
        param_of[v.id] = name
        params.append(name)
    # name outputs and update values after what they are, when the user did not
    roots = graph.roots
    out_roots, upd_roots = roots[:n_outputs], roots[n_outputs:]
    if isinstance(outputs_tree, tuple) and outputs_tree[0] == "dict":
        for key, r in zip(outputs_tree[1], out_roots):
            if r.name is None and not r.op.leaf and isinstance(key, str):
                r.name = key
    for target, r in zip(update_targets, upd_roots):
        if r.name is None and not r.op.leaf and r.id not in {o.id for o in out_roots}:
            r.name = f"{param_of.get(target.id, identifier(target.name, 'shared'))}_new"
    em.run(param_of)

    def value_text(r: Var, copy: bool) -> str:
        if r.id in em.name_of:
            text = em.name_of[r.id]
        elif r.id in em.pending:
            text = em.pending[r.id][0].text
        else:
            text = em.constant_expr(r, r).text
        if r.op.name == "constant" or em.alias_leaf.get(r.id, False) or copy:
            return f"np.array({text})"
        if r.id in em.weak:
            return f"np.asarray({text}, dtype=np.{r.dtype.name})"
        if r.ndim == 0:
            return f"np.asarray({text})"
        return text

    upd_ids = {r.id for r in upd_roots}
    out_texts = [value_text(r, r.id in upd_ids) for r in out_roots]
    seen: set[int] = set()
    upd_texts, update_keys = [], []
    for target, r in zip(update_targets, upd_roots):
        upd_texts.append(value_text(r, r.id in seen))
        seen.add(r.id)
        key = param_of.get(target.id) or em.names.fresh(identifier(target.name, "shared"))
        update_keys.append(key)

    doc_in = "  ".join(safe_text(f"{p}: {v.type}", 40) for p, v in zip(params,
                                                                     list(inputs) + list(shared)))
    body = [f"def {fname}({', '.join(params)}):",
            f'    """{safe_text(fname)}({doc_in}).',
            "",
            "    Returns (outputs, new_shared)." + '"""']
    body += em.lines
    body.append("")
    new_shared = "{" + ", ".join(f"{k!r}: {t}" for k, t in zip(update_keys, upd_texts)) + "}"
    body.append(f"    return {_output_text(outputs_tree, out_texts)}, {new_shared}")

    header = [f"# Generated by symgrad {__version__} from function {safe_text(fname)!r}. "
              "Regenerate rather than edit."]
    for note in notes or []:
        header.append(f"# {safe_text(note, 96)}")
    big = {k: v for k, v in em.constants.items() if v.size > LITERAL_ARRAY_SIZE}
    if big:
        header.append("import base64  # noqa: F401 (decodes the large constants)")
    header.append("import numpy as np")
    small = [ln for ln, v in zip(em.const_lines, em.constants.values())
             if v.size <= LITERAL_ARRAY_SIZE]
    blocks = "\n".join(header) + "\n\n"
    for h in em.helpers:
        blocks += "\n" + h + "\n\n"
    if small:
        blocks += "\n" + "\n".join(small) + "\n"
    if big:
        blocks += "# constants supplied by the runtime\n"
    source = blocks.rstrip("\n") + "\n\n\n" + "\n".join(body) + "\n"
    const_src = "".join(_array_literal(k, v) + "\n" for k, v in big.items())
    return Module(fname, source, params, list(shared), update_keys, big, const_src)
