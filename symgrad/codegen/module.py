"""The generated module: what ``generate`` returns (``Module``), the text of the outputs,
and the workspace function of planned code."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..ir.node import Var
from .naming import NameAllocator, identifier, safe_text


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
    lowered: dict = field(default_factory=dict)      # statement lowerings that fired

    def standalone_source(self) -> str:
        marker = "# constants supplied by the runtime\n"
        return self.source.replace(marker, self.constants_source)


def output_text(tree, texts: list[str]) -> str:
    if tree is None:
        return texts[0]
    if tree is list:
        return "[" + ", ".join(texts) + "]"
    if tree is tuple:
        return "(" + ", ".join(texts) + ("," if len(texts) == 1 else "") + ")"
    return "{" + ", ".join(f"{k!r}: {t}" for k, t in zip(tree[1], texts)) + "}"


def dim_texts(buffers, inputs, params) -> list[str]:
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


def workspace_source(name: str, buffers, fname: str) -> tuple[str, list]:
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
