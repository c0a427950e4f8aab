"""Rich display in a notebook: IPython's ``_repr_html_`` / ``_repr_svg_`` protocol.

Nothing here imports IPython: a notebook calls these methods when it shows an object.

* ``DotSource``: what ``sg.to_dot`` returns. It *is* a ``str`` of DOT (every use of the
  text keeps working) and draws itself as SVG when Graphviz is installed (the optional
  ``graphviz`` Python package, else Graphviz's ``dot`` program directly); otherwise a
  notebook shows the text.
* ``function_html(f)``: a compiled function's signature, outputs, updates, what each
  optimizer pass and each lowering did, and its source, highlighted by Pygments when it is
  installed (a plain ``<pre>`` otherwise), and its graph.
* ``var_html(v)``: a variable's type, where it was built, and its graph.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess

MAX_GRAPH_NODES = 250     # larger graphs are shown as text (dot gets slow, pictures unreadable)


class DotSource(str):
    """Graphviz DOT text (a ``str``) that a notebook draws as SVG."""

    def svg(self) -> str | None:
        """The drawing as an SVG document, or None when Graphviz is not installed."""
        cached = self.__dict__.get("_svg", False)
        if cached is False:
            cached = self.__dict__["_svg"] = dot_to_svg(str(self))
        return cached

    def _repr_svg_(self):
        return self.svg()

    def __reduce__(self):            # pickles as what it is, without the cached drawing
        return (DotSource, (str(self),))


def dot_to_svg(text: str) -> str | None:
    """SVG of DOT ``text``: through the ``graphviz`` package when it is installed, else
    the ``dot`` program; None when neither can draw it."""
    try:
        import graphviz
    except ImportError:
        graphviz = None
    if graphviz is not None:
        try:
            return graphviz.Source(text).pipe(format="svg", encoding="utf-8")
        except (graphviz.ExecutableNotFound, graphviz.CalledProcessError, OSError):
            return None
    exe = shutil.which("dot")
    if exe is None:
        return None
    proc = subprocess.run([exe, "-Tsvg"], input=text.encode(), capture_output=True,
                          timeout=60)
    return proc.stdout.decode() if proc.returncode == 0 else None


def inline_svg(svg: str) -> str:
    """An SVG document as an element to put inside HTML (no XML prolog or doctype)."""
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else svg


# --- source ---------------------------------------------------------------------------
def source_html(source: str) -> str:
    """Python source as HTML: highlighted by Pygments (inline styles, so no stylesheet is
    needed) when it is installed, else a plain ``<pre>``."""
    try:
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import PythonLexer
    except ImportError:
        return plain_source_html(source)
    return highlight(source, PythonLexer(), HtmlFormatter(noclasses=True, nowrap=False))


def plain_source_html(source: str) -> str:
    return f"<pre>{html.escape(source)}</pre>"


# --- functions --------------------------------------------------------------------------
def _esc(x) -> str:
    return html.escape(str(x))


def signature_text(f) -> str:
    args = ", ".join(f"{v.name or f'#{k}'}: {v.type}" for k, v in enumerate(f.inputs))
    return f"{f.name}({args})"


def outputs_text(f) -> list[str]:
    tree = f._tree
    if isinstance(tree, tuple) and tree[0] == "dict":
        labels = [repr(k) for k in tree[1]]
    else:
        labels = [f"[{k}]" for k in range(len(f.outputs))] if tree is not None else [""]
    return [f"{label}: {v.type}".strip(": ") if label else str(v.type)
            for label, v in zip(labels, f.outputs)]


def lowerings(f) -> list[str]:
    """What the speed lowerings did to the generated code, read off the module."""
    module = f._compiled.module
    body = module.source.split(f"\ndef {module.name}(", 1)[-1]
    out = []
    if module.workspace:
        n = len(re.findall(r"^        (?:_aligned|np\.arange)\(", module.source, re.M))
        out.append(f"buffer reuse: values computed into {n} workspace arrays (out=), "
                   "made once per input shape")
    if module.inplace and f.updates:
        written = len(re.findall(r"^    (?:np\.copyto|np\.\w+\([^=]*out=|_gemm_update)\(?",
                                 body.split("# written into the shared arrays", 1)[-1],
                                 re.M)) if "# written into the shared arrays" in body else 0
        out.append(f"in-place updates: {written} of {len(f.updates)} update(s) written into "
                   "the shared arrays after everything else is computed")
    gemm = body.count("_gemm_update(")
    if gemm:
        out.append(f"fused weight updates: {gemm} W - a @ b as one BLAS gemm")
    dels = len(re.findall(r"^    del ", body, re.M))
    if dels:
        out.append(f"memory: {dels} del statement(s) release large temporaries early")
    if not out:
        out.append("none (plain NumPy)" if not f.optimize else "none needed")
    return out


def pass_rows(f) -> list[tuple]:
    """(pass, nodes before, nodes after, what it did) for each optimizer pass."""
    from .function import _summary
    rows = []
    for r in f.stats["passes"]:
        did = _summary(r)
        did = did.split("(", 1)[1].rstrip(")") if did else "-"
        rows.append((r["name"], r["nodes_before"], r["nodes_after"], did))
    return rows


def function_html(f) -> str:
    """The HTML a notebook shows for a compiled function."""
    st = f.stats
    parts = [f"<div class='symgrad-function'><p><b>symgrad function</b> "
             f"<code>{_esc(signature_text(f))}</code></p><ul>"]
    outs = outputs_text(f)
    parts.append(f"<li>outputs: {', '.join(f'<code>{_esc(o)}</code>' for o in outs) or 'none'}"
                 "</li>")
    if f.updates:
        ups = ", ".join(f"<code>{_esc(t.name)}: {_esc(t.type)}</code>" for t, _ in f.updates)
        parts.append(f"<li>updates: {ups}</li>")
    shared = [s.name for s in f._shared_params]
    if shared:
        parts.append(f"<li>reads shared: {_esc(', '.join(shared))}</li>")
    parts.append(f"<li>graph: {st['nodes_before']} nodes as built, {st['nodes_after']} "
                 "compiled</li></ul>")
    if f.stats["passes"]:
        rows = "".join(f"<tr><td>{_esc(n)}</td><td>{b}</td><td>{a}</td><td>{_esc(d)}</td>"
                       "</tr>" for n, b, a, d in pass_rows(f))
        parts.append("<details><summary>optimizer passes</summary><table><tr><th>pass</th>"
                     f"<th>nodes before</th><th>after</th><th>did</th></tr>{rows}</table>"
                     "</details>")
    parts.append("<details><summary>lowerings</summary><ul>"
                 + "".join(f"<li>{_esc(x)}</li>" for x in lowerings(f)) + "</ul></details>")
    parts.append("<details open><summary>generated source (<code>f.source</code>)</summary>"
                 f"{source_html(f.source)}</details>")
    graph = graph_html(f.graph)
    if graph:
        parts.append(f"<details><summary>graph</summary>{graph}</details>")
    parts.append("</div>")
    return "".join(parts)


def graph_html(roots) -> str:
    """The graph of ``roots`` as inline SVG, or '' when it is too large or Graphviz is
    not installed."""
    from .ir.graph import toposort
    from .printing import to_dot
    if len(toposort(roots)) > MAX_GRAPH_NODES:
        return ""
    svg = to_dot(roots).svg()
    return inline_svg(svg) if svg else ""


# --- variables ---------------------------------------------------------------------------
def var_html(v) -> str:
    """The HTML a notebook shows for a variable: type, origin, graph (or its text)."""
    from .diagnostics import node_origin
    from .printing import debugprint
    kind = "shared variable" if v.op.leaf == "shared" else (
        "gradient node" if v.is_grad else "input" if v.op.leaf == "input" else "variable")
    name = f" <code>{_esc(v.name)}</code>" if v.name else ""
    head = (f"<p><b>symgrad {kind}</b>{name}: <code>{_esc(v.type)}</code>, op "
            f"<code>{_esc(v.op.name)}</code>; {_esc(node_origin(v))}</p>")
    graph = graph_html([v]) if not v.op.leaf else ""
    if not graph and not v.op.leaf:
        lines = debugprint(v).splitlines()
        more = f"\n... ({len(lines) - 60} more lines)" if len(lines) > 60 else ""
        graph = f"<pre>{_esc(chr(10).join(lines[:60]) + more)}</pre>"
    return f"<div class='symgrad-var'>{head}{graph}</div>"


__all__ = ["DotSource", "dot_to_svg", "function_html", "var_html", "source_html"]
