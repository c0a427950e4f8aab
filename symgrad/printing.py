"""Inspection: debugprint (text tree), to_dot (Graphviz), to_networkx, render."""

from __future__ import annotations

import re
import shutil
import subprocess

import networkx as nx

from .ir.graph import toposort
from .ir.node import Var, format_location
from .ir.types import short_dtype


def _roots(obj) -> list[Var]:
    from .function import Function
    if isinstance(obj, Function):
        return obj.graph
    if isinstance(obj, Var):
        return [obj]
    if isinstance(obj, dict):
        return [v for v in obj.values() if isinstance(v, Var)]
    if isinstance(obj, (list, tuple)):
        out = []
        for v in obj:
            out.extend(_roots(v))
        return out
    raise TypeError(f"expected a variable, a list or dict of variables, or a compiled "
                    f"function; got {type(obj).__name__}")


def _label(n: Var) -> str:
    if n.op.leaf == "constant":
        v = n.value
        body = repr(v.item()) if v.ndim == 0 else f"array{list(v.shape)}"
        return f"constant {body}"
    if n.op.leaf:
        return f"{n.op.name} {n.name or '?'}"
    params = ", ".join(f"{k}={_short(v)}" for k, v in n.params.items()
                       if k not in ("dtype",) or v is not None)
    name = f" '{n.name}'" if n.name else ""
    return f"{n.op.name}{name}" + (f" [{params}]" if params else "")


def _short(v) -> str:
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def debugprint(obj, max_depth: int | None = None, show_location: bool = False) -> str:
    """An indented tree: one line per node with op, name, type and a reference number.

    A node reached a second time is printed as ``*N`` (its number) instead of again, so
    shared subexpressions are visible and the output stays linear in graph size.
    Nodes built by differentiation are marked ``(grad)``. With ``show_location``, each
    node's line ends with ``@ file:line`` of the user code that built it.
    """
    roots = _roots(obj)
    numbers: dict[int, int] = {}
    lines: list[str] = []
    stack = [(r, 0) for r in reversed(roots)]
    while stack:
        n, depth = stack.pop()
        pad = "  " * depth + ("└─ " if depth else "")
        if n.id in numbers:
            lines.append(f"{pad}*{numbers[n.id]} {n.name or n.op.name}")
            continue
        numbers[n.id] = len(numbers) + 1
        grad = "  (grad)" if n.is_grad else ""
        where = f"  @ {format_location(n.loc)}" if show_location else ""
        lines.append(f"{pad}#{numbers[n.id]} {_label(n)} : {n.type}{grad}{where}")
        if max_depth is not None and depth >= max_depth:
            continue
        for i in reversed(n.inputs):
            stack.append((i, depth + 1))
    return "\n".join(lines)


_COLORS = {"forward": "#dbe9f6", "grad": "#fde2c8", "input": "#c9f0c9",
           "shared": "#f7f3b5", "constant": "#e6e6e6"}
_SHAPES = {"input": "invhouse", "shared": "cylinder", "constant": "note"}


def _dot_escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


def _dot_str(s: str) -> str:
    return f'"{_dot_escape(s)}"'


_LAYER_NAME = re.compile(r"^[A-Za-z_]*?_?(\d+)$")
MAX_CLUSTER_NODES = 5000


def layers(order: list[Var]) -> dict[int, int]:
    """Node id -> layer number, where the user named parameters ``W1``, ``b1``, ``W2``...

    A shared variable whose name ends in a number k is in layer k. A forward node is in
    layer k when the deepest layer it depends on is k and either it reads a layer-k
    parameter itself or it feeds a node that reads a layer-(k+1) parameter (so the
    activation after ``x @ W1 + b1`` is in layer 1, the loss after the last layer in
    none). A gradient node is in its forward node's layer.
    """
    grad_fwd = [n.tag.node for n in order if n.is_grad]
    every = toposort(list(order) + grad_fwd) if grad_fwd else list(order)
    if len(every) > MAX_CLUSTER_NODES:
        return {}
    own: dict[int, int] = {}
    for n in every:
        if n.op.leaf == "shared" and n.name:
            m = _LAYER_NAME.match(n.name)
            if m:
                own[n.id] = int(m.group(1))
    if not own:
        return {}
    deepest: dict[int, int] = {}
    reads: dict[int, int] = {}
    for n in every:
        if n.id in own:
            deepest[n.id] = own[n.id]
        elif n.inputs and not n.is_grad:
            deepest[n.id] = max((deepest.get(i.id, 0) for i in n.inputs), default=0)
            reads[n.id] = max((own.get(i.id, 0) for i in n.inputs), default=0)
    feeds: dict[int, set] = {}          # layers of the parameter readers downstream
    for n in reversed(every):
        here = feeds.setdefault(n.id, set())
        if reads.get(n.id):
            here.add(reads[n.id])
        for i in n.inputs:
            feeds.setdefault(i.id, set()).update(here)
    out = dict(own)
    for n in every:
        k = deepest.get(n.id, 0)
        if n.id in own or not k or n.is_grad:
            continue
        if reads.get(n.id) == k or (k + 1) in feeds[n.id]:
            out[n.id] = k
    for n in every:
        if n.is_grad and n.tag.node.id in out:
            out[n.id] = out[n.tag.node.id]
    return out


def to_dot(obj, name: str = "symgrad") -> str:
    """The graph in Graphviz DOT. Forward nodes are blue, nodes built by differentiation
    orange; inputs, shared variables and constants have shapes of their own. Where
    parameters are named ``W1``, ``b1``, ``W2``..., each layer is drawn in a box (a
    ``cluster``). The result is a ``str`` that a notebook draws as SVG when Graphviz is
    installed (``symgrad.display.DotSource``)."""
    from .display import DotSource
    roots = _roots(obj)
    order = toposort(roots)
    out = [f"digraph {_dot_str(name)} {{", "  rankdir=BT;",
           '  node [style=filled, fontname="Helvetica", fontsize=10];']
    root_ids = {r.id for r in roots}
    for n in order:
        kind = n.op.leaf or ("grad" if n.is_grad else "forward")
        shape = _SHAPES.get(kind, "box")
        label = f'"{_dot_escape(_label(n))}\\n{_dot_escape(str(n.type))}"'
        attrs = [f"label={label}",
                 f'fillcolor="{_COLORS[kind]}"', f"shape={shape}"]
        if n.id in root_ids:
            attrs.append("penwidth=2")
        out.append(f"  n{n.id} [{', '.join(attrs)}];")
    groups: dict[int, list[Var]] = {}
    layer_of = layers(order)
    for n in order:
        if n.id in layer_of:
            groups.setdefault(layer_of[n.id], []).append(n)
    for k in sorted(groups):
        params = ", ".join(n.name for n in groups[k] if n.op.leaf == "shared")
        label = f"layer {k}" + (f" ({params})" if params else "")
        members = " ".join(f"n{n.id};" for n in groups[k])
        out.append(f"  subgraph cluster_layer{k} {{ label={_dot_str(label)}; "
                   f'style="rounded,dashed"; color="#8c8c8c"; fontname="Helvetica"; '
                   f"fontsize=10; {members} }}")
    for n in order:
        for k, i in enumerate(n.inputs):
            extra = f' [label="{k}"]' if len(n.inputs) > 1 and not n.op.commutative else ""
            out.append(f"  n{i.id} -> n{n.id}{extra};")
    out.append("}")
    return DotSource("\n".join(out) + "\n")


def to_networkx(obj) -> nx.DiGraph:
    """A ``networkx.DiGraph``: one node per graph node (keyed by its id) with attributes
    ``op``, ``name``, ``shape``, ``dtype``, ``grad``; edges go from input to consumer and
    carry the input position as ``index``."""
    roots = _roots(obj)
    g = nx.DiGraph()
    for n in toposort(roots):
        g.add_node(n.id, op=n.op.name, name=n.name, shape=n.type.shape,
                   dtype=short_dtype(n.dtype), grad=n.is_grad, params=dict(n.params))
        for k, i in enumerate(n.inputs):
            g.add_edge(i.id, n.id, index=k)
    return g


def render(dot_or_graph, path: str, format: str | None = None) -> str:
    """Render DOT text (or anything ``to_dot`` takes) to a file with Graphviz's ``dot``.

    The format comes from the file extension unless given. Raises ``RuntimeError`` with
    install instructions when Graphviz is not installed.
    """
    dot_text = dot_or_graph if isinstance(dot_or_graph, str) else to_dot(dot_or_graph)
    exe = shutil.which("dot")
    if exe is None:
        raise RuntimeError("sg.render needs Graphviz's 'dot' program, which was not found on "
                           "PATH. Install Graphviz: 'apt-get install graphviz' (Debian/Ubuntu)"
                           ", 'brew install graphviz' (macOS) or 'conda install graphviz'; or "
                           "paste sg.to_dot(...) into an online Graphviz viewer.")
    fmt = format or (str(path).rsplit(".", 1)[-1] if "." in str(path) else "svg")
    proc = subprocess.run([exe, f"-T{fmt}", "-o", str(path)], input=dot_text.encode(),
                          capture_output=True, timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"dot failed: {proc.stderr.decode(errors='replace').strip()}")
    return str(path)
