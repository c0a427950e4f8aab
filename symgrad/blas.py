"""``c -= a @ b`` in one BLAS call, through the OpenBLAS that NumPy itself uses.

A gradient-descent update ``W - a.T @ d`` costs NumPy two passes: ``np.dot`` writes the
product into a buffer, then ``np.subtract`` reads ``W`` and the buffer and writes ``W``
(on the large benchmark MLP that subtract is 170 us per 1024x1024 layer, 2.5% of the
step). BLAS ``gemm`` computes ``C = alpha * A @ B + beta * C`` in one pass, but NumPy
always calls it with ``beta = 0``. NumPy's wheels ship OpenBLAS as a shared library
(``numpy.libs/libscipy_openblas64_*`` on Linux, ``numpy/.dylibs`` on macOS) that exports
``scipy_cblas_sgemm64_`` and ``scipy_cblas_dgemm64_`` (CBLAS with 64-bit integers);
``ctypes`` can call those with ``beta = 1``: the same library and thread pool NumPy's
``np.dot`` uses, so the product is computed the same way, without the extra pass.

``_find_blas_gemm`` looks the routines up once per process (on import) and checks them against
``np.dot`` on a small product; anything unexpected (another BLAS, no such file, a wrong
answer) leaves the table empty, and ``_gemm_update`` then does what plain NumPy does:
``np.dot`` into ``scratch`` and an in-place subtract. ``SYMGRAD_BLAS=0`` in the
environment turns the BLAS path off for functions compiled afterwards. It is taken only for C-contiguous ``c`` and for
``a`` and ``b`` that are row-major matrices or transposed views of them (every ``out=``
update the emitter writes qualifies), all of one float dtype, with no overlap.

The generated modules define ``_gemm_update`` and ``_blas_layout`` (their source is
copied from here) and an empty ``_BLAS_GEMM`` table, which ``codegen/compile.py`` fills
with ``gemm_table()`` when it loads the module: so the source runs with NumPy alone, and
the library is looked up once, not once per compiled function. A module written by
``Function.save`` never calls them: it computes its updates without writing into the
shared arrays.
"""

from __future__ import annotations

import ctypes
import glob
import inspect
import os

import numpy as np


def _find_blas_gemm():
    """NumPy's own OpenBLAS ``gemm`` routines, ``{dtype char: function}``; empty if not
    found or if they disagree with ``np.dot`` on a test product."""
    here = os.path.dirname(np.__file__)
    paths = sorted(glob.glob(os.path.join(os.path.dirname(here), "numpy.libs", "*scipy_openblas64_*"))
                   + glob.glob(os.path.join(here, ".dylibs", "*scipy_openblas64_*")))
    table = {}
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        i32, i64, ptr = ctypes.c_int, ctypes.c_int64, ctypes.c_void_p
        for char, symbol, real in (("f", "scipy_cblas_sgemm64_", ctypes.c_float),
                                   ("d", "scipy_cblas_dgemm64_", ctypes.c_double)):
            fn = getattr(lib, symbol, None)
            if fn is not None:
                fn.argtypes = [i32, i32, i32, i64, i64, i64, real, ptr, i64, ptr, i64, real,
                               ptr, i64]
                fn.restype = None
                table[char] = fn
        if table:
            break
    for char in list(table):   # a wrong answer on a small product: do not use it
        a, b, c = (np.sin(np.arange(n * m) + n).reshape(n, m).astype(char)
                   for n, m in ((5, 3), (5, 4), (3, 4)))
        want = c - a.T @ b
        scratch = np.empty_like(c)
        _gemm_update(c, a.T, b, scratch, {char: table[char]})
        if not np.allclose(c, want, rtol=1e-5, atol=1e-5):
            del table[char]
    return table


def _blas_layout(x):
    """``(trans, leading dimension)`` of a 2-D array for row-major BLAS: 111 for rows
    contiguous, 112 for a transposed view of such an array, 0 for neither."""
    item = x.itemsize
    s0, s1 = x.strides
    rows, cols = x.shape
    if s1 == item and s0 % item == 0 and s0 >= cols * item:
        return 111, s0 // item
    if s0 == item and s1 % item == 0 and s1 >= rows * item:
        return 112, s1 // item
    return 0, 0


def _gemm_update(c, a, b, scratch, gemms=None):
    """``c -= a @ b`` in place: one BLAS ``gemm`` with ``beta = 1`` when NumPy's OpenBLAS
    routines were found (``gemms``, by default ``_BLAS_GEMM``), else ``np.dot`` into
    ``scratch`` and a subtract."""
    gemm = (_BLAS_GEMM if gemms is None else gemms).get(c.dtype.char)
    if (gemm is not None and a.dtype == b.dtype == c.dtype and c.flags.c_contiguous
            and c.flags.writeable and a.flags.aligned and b.flags.aligned and c.size
            and a.shape[1] and not np.may_share_memory(c, a)
            and not np.may_share_memory(c, b)):
        ta, lda = _blas_layout(a)
        tb, ldb = _blas_layout(b)
        if ta and tb:
            gemm(101, ta, tb, c.shape[0], c.shape[1], a.shape[1], -1.0, a.ctypes.data, lda,
                 b.ctypes.data, ldb, 1.0, c.ctypes.data, c.shape[1])
            return c
    return np.subtract(c, np.dot(a, b, out=scratch), out=c)


# looked up once, when symgrad is imported (about 1 ms), not inside a compile
_FOUND = _find_blas_gemm()
_BLAS_GEMM = _FOUND        # the table _gemm_update uses when none is passed


def gemm_table() -> dict:
    """The routines for a module being loaded; empty while ``SYMGRAD_BLAS=0`` is set."""
    return {} if os.environ.get("SYMGRAD_BLAS", "1") == "0" else _FOUND


BLAS_SOURCE = "\n\n\n".join(inspect.getsource(f).rstrip("\n") for f in (
    _gemm_update, _blas_layout)) + (
    "\n\n\n# NumPy's OpenBLAS gemm routines by dtype; symgrad fills this in when it loads "
    "the\n# module (symgrad/blas.py). Left empty, _gemm_update uses np.dot and np.subtract."
    "\n_BLAS_GEMM = {}")

__all__ = ["BLAS_SOURCE", "gemm_table"]
