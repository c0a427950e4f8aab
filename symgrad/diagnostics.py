"""Errors that point at the user's line.

Every node remembers where in user code it was built (``Var.loc``: file, line, function;
see ``symgrad/ir/node.py``), and the code generator records which nodes each generated
line computes (``Module.line_nodes``). When a call of a compiled function fails inside
the generated code, ``locate_error`` adds a note to the exception (it keeps its type and
traceback) naming the generated line, the node it computes and the user's file and line
that built that node.
"""

from __future__ import annotations

import linecache

from .ir.node import Var, format_location

_MARK = "_symgrad_located"


def describe_node(n: Var) -> str:
    """``take 'h' f64[batch, 3]``: op, name (if any) and type."""
    name = f" {n.name!r}" if n.name else ""
    return f"{n.op.name}{name} {n.type}"


def node_origin(n: Var) -> str:
    """Where ``n`` comes from, in the user's terms: the line that built it and, for a node
    built by differentiation, the forward node whose derivative it is."""
    if n.is_grad:
        fwd = n.tag.node
        rule = n.tag.rule
        what = ("the sum of the gradient contributions" if rule == "sum of fan-out"
                else "the seed of the gradient" if rule == "seed" else f"vjp of {rule}")
        return (f"{what} for {describe_node(fwd)} (built at {format_location(fwd.loc)}); "
                f"differentiated at {format_location(n.loc)}")
    return f"built at {format_location(n.loc)}"


def user_line(loc) -> str:
    """The text of the user's line at ``loc`` ('' when it cannot be read)."""
    if not loc:
        return ""
    return linecache.getline(loc[0], loc[1]).strip()


def generated_frame(exc: BaseException, codes):
    """The innermost traceback entry running one of ``codes`` (the generated function),
    or None."""
    tb = exc.__traceback__
    found = None
    while tb is not None:
        if tb.tb_frame.f_code in codes:
            found = tb
        tb = tb.tb_next
    return found


def explain_line(module, filename: str, lineno: int) -> list[str]:
    """The lines of the note for generated line ``lineno``."""
    text = linecache.getline(filename, lineno).rstrip()
    lines = [f"symgrad: raised in the generated function {module.name!r}, line {lineno}:",
             f"    {text.strip()}"]
    nodes = module.line_nodes.get(lineno, ())
    if not nodes:
        return lines
    head, rest = nodes[0], nodes[1:]
    lines.append(f"  computing {describe_node(head)}, {node_origin(head)}")
    code = user_line(head.tag.node.loc if head.is_grad else head.loc)
    if code:
        lines.append(f"    {code}")
    seen = {head.loc}
    for n in rest:
        if n.loc in seen and not n.is_grad:
            continue
        seen.add(n.loc)
        lines.append(f"  with {describe_node(n)} written inside it, {node_origin(n)}")
    return lines


def locate_error(compiled, exc: BaseException, code=None) -> None:
    """Add the note (once) when ``exc`` was raised inside ``compiled``'s generated code
    (``code``: the code objects that count as it; default, the compiled function's)."""
    if getattr(exc, _MARK, False):
        return
    fn = getattr(compiled.fn, "__wrapped__", compiled.fn)   # an array-API call's runner
    codes = code or (getattr(fn, "__code__", None),)
    tb = generated_frame(exc, codes)
    if tb is None:
        return
    filename = tb.tb_frame.f_code.co_filename
    note = "\n".join(explain_line(compiled.module, filename, tb.tb_lineno))
    try:
        setattr(exc, _MARK, True)
    except AttributeError:
        return
    if hasattr(exc, "add_note"):
        exc.add_note(note)
    elif len(exc.args) == 1 and isinstance(exc.args[0], str):
        exc.args = (f"{exc.args[0]}\n{note}",)


__all__ = ["locate_error", "describe_node", "node_origin"]
