"""Turn generated source into a callable, with a linecache entry so that tracebacks and
``inspect.getsource`` show the generated lines."""

from __future__ import annotations

import hashlib
import linecache

from ..blas import gemm_table
from .emitter import Module


def load(module: Module):
    """Compile and execute ``module.source``; return its function."""
    digest = hashlib.sha1(module.source.encode()).hexdigest()[:10]
    filename = f"<symgrad {module.name} {digest}>"
    code = compile(module.source, filename, "exec")
    lines = module.source.splitlines(keepends=True)
    linecache.cache[filename] = (len(module.source), None, lines, filename)
    namespace = {"__name__": f"symgrad_generated.{module.name}", "__file__": filename}
    namespace.update(module.constants)
    exec(code, namespace)
    if "_BLAS_GEMM" in namespace:      # the in-place weight updates' BLAS routines
        namespace["_BLAS_GEMM"] = gemm_table()
    return namespace[module.name]
