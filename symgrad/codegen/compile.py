"""Turn generated source into a callable, with a linecache entry so that tracebacks and
``inspect.getsource`` show the generated lines."""

from __future__ import annotations

import hashlib
import linecache

from ..blas import gemm_table
from .emitter import Module


def filename_of(module: Module) -> str:
    """The file name the module's code is compiled under (and its linecache key)."""
    digest = hashlib.sha1(module.source.encode()).hexdigest()[:10]
    return f"<symgrad {module.name} {digest}>"


def load(module: Module, tree=None):
    """Compile and execute ``module.source``; return its function.

    ``tree``: an ``ast.Module`` to compile instead of the source (an instrumented copy
    of it, as ``f.profile`` makes), under the same file name so that tracebacks show the
    generated lines."""
    filename = filename_of(module)
    code = compile(module.source if tree is None else tree, filename, "exec")
    lines = module.source.splitlines(keepends=True)
    linecache.cache[filename] = (len(module.source), None, lines, filename)
    namespace = {"__name__": f"symgrad_generated.{module.name}", "__file__": filename}
    namespace.update(module.constants)
    exec(code, namespace)
    if "_BLAS_GEMM" in namespace:      # the in-place weight updates' BLAS routines
        namespace["_BLAS_GEMM"] = gemm_table()
    return namespace[module.name]
