"""Generate ``docs/ops.md``, the op reference, from the op registry.

Run ``python -m symgrad.docgen`` after adding an op; a test fails while the committed file
is out of date.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

from . import ops as _ops
from .ops.registry import REGISTRY

_FAMILIES = {
    "elementwise": "Elementwise", "shape": "Shape", "reduce": "Reductions",
    "linalg": "Linear algebra", "indexing": "Indexing", "random": "Random",
    "leaves": "Leaves", "fused": "Fused (created by the optimizer)",
    "manip": "Array manipulation",
}


def _family(op) -> str:
    module = getattr(op.infer, "__module__", "") or ""
    return module.rsplit(".", 1)[-1]


def _summary(name: str, op) -> str:
    fn = getattr(_ops, name, None)
    doc = inspect.getdoc(fn) if callable(fn) and getattr(fn, "__module__", "").startswith(
        "symgrad") else None
    doc = doc or op.doc or _sympy_summary(op)
    first = doc.strip().split("\n\n")[0].replace("\n", " ")
    return first.replace("|", "\\|")


def _sympy_summary(op) -> str:
    """For an elementwise op without a docstring: its SymPy form, e.g. ``exp(x)``."""
    if op.sympy is None:
        return ""
    import sympy
    n = _arity(op)
    if n is None:
        return ""
    symbols = sympy.symbols("x y z w")[:n]
    try:
        form = sympy.sympify(op.sympy(*symbols))
    except (TypeError, ValueError, sympy.SympifyError):
        return ""
    if form.free_symbols != set(symbols):
        # not a faithful summary (a form that folded away one of its inputs)
        return ""
    return f"elementwise ``{sympy.sstr(form)}``"


def _arity(op) -> int | None:
    """How many inputs ``op`` takes: read from its public function (``sg.maximum(a, b)``),
    else from its SymPy form's signature. A SymPy class such as ``Max``, ``And`` or ``Or``
    takes ``*args``: called with no arguments it folds to its identity (``-oo``, ``True``,
    ``False``), which is how those once became the summaries of maximum and logical_and."""
    for fn in (getattr(_ops, op.name, None), op.sympy):
        if fn is None or not callable(fn):
            continue
        try:
            sig = inspect.signature(fn)
        except (TypeError, ValueError):
            continue
        kinds = [p.kind for p in sig.parameters.values()]
        if inspect.Parameter.VAR_POSITIONAL in kinds:
            continue
        return sum(1 for p in sig.parameters.values()
                   if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                   and p.default is p.empty)
    return None


def render() -> str:
    groups: dict[str, list[str]] = {}
    for name in sorted(REGISTRY):
        op = REGISTRY[name]
        if op.leaf or not (getattr(op.infer, "__module__", "") or "").startswith("symgrad."):
            continue  # leaves, and ops users (or tests) registered
        flags = []
        flags.append("no gradient" if op.nondiff else "differentiable")
        if op.elementwise:
            flags.append("elementwise")
        if op.sympy is not None:
            flags.append("SymPy form")
        if op.random:
            flags.append("random")
        if op.view:
            flags.append("view")
        fam = _FAMILIES.get(_family(op), _family(op).capitalize() or "Other")
        public = f"`sg.{name}`" if hasattr(_ops, name) else f"`{name}` (internal)"
        groups.setdefault(fam, []).append(f"| {public} | {', '.join(flags)} | "
                                          f"{_summary(name, op)} |")
    out = ["# Op reference", "",
           "Generated from the op registry by `python -m symgrad.docgen`; do not edit by hand.",
           "Every op is defined in one place (type rule, NumPy emission, VJP); see",
           "`architecture.md` and `adding_an_op.md`. Functions that are compositions of these",
           "ops (`softmax`, `log_softmax`, `logsumexp`, `clip`, the losses in `sg.nn`) are",
           "documented in their docstrings.", ""]
    for fam in sorted(groups):
        out += [f"## {fam}", "", "| op | properties | summary |", "|---|---|---|"]
        out += groups[fam]
        out.append("")
    return "\n".join(out)


def main(argv=None) -> int:
    target = Path(argv[0]) if argv else Path(__file__).resolve().parent.parent / "docs" / "ops.md"
    target.write_text(render(), encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
