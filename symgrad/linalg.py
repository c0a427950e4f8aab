"""``sg.linalg``: NumPy's linear algebra with exact derivatives.

``solve inv det slogdet cholesky eigh qr triu tril diagonal trace norm``, with NumPy's names and
conventions, batched over leading axes where NumPy is (``solve``, ``inv``, ``det``,
``slogdet``, ``cholesky``). Every VJP is written with symgrad ops (``solve`` itself,
``matmul``, ``tril``), so second and higher derivatives work; the gradients avoid an
explicit inverse where a solve does the job (``slogdet``'s is ``solve(a, I)^T``, one LU
factorisation, and ``det``'s is ``det(a)`` times that).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import ops
from .ir.types import ShapeError, TensorType, broadcast_shapes, format_shape
from .ops.leaves import as_var, as_vars
from .ops.registry import apply, defop
from .ops.shape import expand_dims, squeeze, sum_to, swapaxes


def _mT(x):
    return swapaxes(x, -1, -2)


# results with NumPy's field names (np.linalg.slogdet(a).logabsdet works on both)
class SlogdetResult(NamedTuple):
    sign: object
    logabsdet: object


class EighResult(NamedTuple):
    eigenvalues: object
    eigenvectors: object


class QRResult(NamedTuple):
    Q: object
    R: object


def _square(t: TensorType, what: str) -> None:
    if t.ndim < 2:
        raise ShapeError(f"{what} needs a matrix (or a stack of them), got "
                         f"{format_shape(t.shape)}")
    n, m = t.shape[-2:]
    if isinstance(n, int) and isinstance(m, int) and n != m:
        raise ShapeError(f"{what} needs square matrices, got {format_shape(t.shape)}")
    if not t.is_float:
        raise TypeError(f"{what} needs floating-point matrices, got {t.dtype}")


def _eye_like(a):
    """The identity of ``a``'s matrix size (broadcasts over its batch axes)."""
    n = a.type.shape[-1]
    if isinstance(n, int):
        return ops.constant(np.eye(n, dtype=a.dtype))
    idx = ops.arange(a.shape[-1])
    return ops.astype(ops.equal(expand_dims(idx, -1), idx), a.dtype)


# --- solve --------------------------------------------------------------------------------
def _solve_infer(types):
    a, b = types
    _square(a, "solve")
    n = a.shape[-1]
    vector = b.ndim == 1              # NumPy 2: only a 1-D b is a vector
    rows = b.shape[0] if vector else (b.shape[-2] if b.ndim >= 2 else None)
    if b.ndim == 0 or (isinstance(n, int) and isinstance(rows, int) and n != rows):
        raise ShapeError(f"solve: a is {format_shape(a.shape)}, b is {format_shape(b.shape)}: "
                         "b must have as many rows as a")
    batch, _ = broadcast_shapes(a.shape[:-2], () if vector else b.shape[:-2])
    shape = batch + ((n,) if vector else (n, b.shape[-1]))
    return TensorType(np.result_type(a.dtype, b.dtype), shape)


def _solve_vjp(g, x, a, b):
    if b.ndim == 1:
        gb = solve(_mT(a), g)                             # (..., n)
        ga = -(expand_dims(gb, -1) * expand_dims(x, -2))  # -outer(gb, x)
        return [sum_to(ga, a), sum_to(gb, b)]
    gb = solve(_mT(a), g)
    ga = -(gb @ _mT(x))
    return [sum_to(ga, a), sum_to(gb, b)]


def _solve_batch(ins, batched, size):
    """vmap rule where ``a`` is one matrix and ``b`` a batch (of vectors or matrices):
    their columns side by side, one solve for them all; for a 1-D ``b`` and a batch of
    ``a`` a stack of one-column matrices. The rest is the generic ``core`` rule."""
    a, b = ins
    fa, fb = batched
    if fb and not fa and a.ndim == 2 and b.ndim == 3:
        n, k = b.shape[1], b.shape[2]
        cols = ops.reshape(ops.transpose(b, (1, 0, 2)), (n, -1))       # (n, batch * k)
        return ops.transpose(ops.reshape(solve(a, cols), (n, size, k)), (1, 0, 2))
    if b.ndim - fb != 1:
        return None
    if not fb:
        return solve(a, b)       # NumPy 2: a 1-D b is one vector for every matrix
    stack = a.ndim - fa - 2
    if not fa and stack == 0:
        return _mT(solve(a, _mT(b)))
    col = expand_dims(b, tuple(range(1, 1 + stack)) + (stack + 2,))   # (B, 1.., n, 1)
    return squeeze(solve(a, col), -1)


SOLVE = defop("solve", infer=_solve_infer, emit="np.linalg.solve({0}, {1})", vjp=_solve_vjp,
              inline=False, core=(2, 2), batch=_solve_batch,
              doc="x with a @ x = b (NumPy 2 rules for 1-D b)",
              array_api="xp.linalg.solve({0}, {1})")


def solve(a, b):
    """``np.linalg.solve(a, b)``: ``x`` with ``a @ x = b``; ``b`` 1-D is one vector,
    otherwise a stack of matrices whose columns are solved for."""
    a, b = as_vars(a, b)
    return apply(SOLVE, [a, b])


# --- inv, det, slogdet ---------------------------------------------------------------------
def _same_infer(what):
    def infer(types):
        (a,) = types
        _square(a, what)
        return a
    return infer


def _batch_scalar_infer(what):
    def infer(types):
        (a,) = types
        _square(a, what)
        return TensorType(a.dtype, a.shape[:-2])
    return infer


def _inv_vjp(g, out, a):
    return [-(_mT(out) @ g @ _mT(out))]


INV = defop("inv", infer=_same_infer("inv"), emit="np.linalg.inv({0})", vjp=_inv_vjp,
            inline=False, core=2,
            array_api="xp.linalg.inv({0})")


def inv(a):
    """``np.linalg.inv(a)``."""
    return apply(INV, [as_var(a)])


def _inv_transpose(a):
    """``inv(a).T`` as one solve against the identity (one LU factorisation)."""
    return _mT(solve(a, _eye_like(a)))      # the identity broadcasts over a's batch


def _det_vjp(g, out, a):
    return [expand_dims(expand_dims(g * out, -1), -1) * _inv_transpose(a)]


DET = defop("det", infer=_batch_scalar_infer("det"), emit="np.linalg.det({0})",
            vjp=_det_vjp, inline=False, core=2,
            array_api="xp.linalg.det({0})")


def det(a):
    """``np.linalg.det(a)``."""
    return apply(DET, [as_var(a)])


def _logabsdet_vjp(g, out, a):
    return [expand_dims(expand_dims(g, -1), -1) * _inv_transpose(a)]


LOGABSDET = defop("logabsdet", infer=_batch_scalar_infer("slogdet"),
                  emit="np.linalg.slogdet({0}).logabsdet", vjp=_logabsdet_vjp,
                  inline=False, core=2, doc="log |det(a)| (the second result of slogdet)",
                  array_api="xp.linalg.slogdet({0}).logabsdet")
SIGNDET = defop("signdet", infer=_batch_scalar_infer("slogdet"),
                emit="np.linalg.slogdet({0}).sign", vjp=None, inline=False, core=2,
                doc="the sign of det(a) (the first result of slogdet); no gradient",
                array_api="xp.linalg.slogdet({0}).sign")


def slogdet(a):
    """``np.linalg.slogdet(a)``: ``(sign, logabsdet)``, the latter differentiable
    (its gradient is ``inv(a).T``, computed by a solve)."""
    a = as_var(a)
    return SlogdetResult(apply(SIGNDET, [a]), apply(LOGABSDET, [a]))


# --- cholesky ------------------------------------------------------------------------------
def _cholesky_vjp(g, L, a):
    # Murray (2016): with P = Phi(L^T @ gL) (lower triangle, diagonal halved),
    # ga = sym(L^-T @ P @ L^-1); the inverses are solves with L
    P = tril(_mT(L) @ g)
    P = P - 0.5 * P * _eye_like(L)
    X = solve(_mT(L), _mT(solve(_mT(L), _mT(P))))     # L^-T P L^-1
    return [0.5 * (X + _mT(X))]


CHOLESKY = defop("cholesky", infer=_same_infer("cholesky"), emit="np.linalg.cholesky({0})",
                 vjp=_cholesky_vjp, inline=False, core=2,
                 array_api="xp.linalg.cholesky({0})")


def cholesky(a):
    """``np.linalg.cholesky(a)``: lower-triangular ``L`` with ``L @ L.T = a`` (``a``
    symmetric positive definite; the gradient treats ``a`` as symmetric)."""
    return apply(CHOLESKY, [as_var(a)])


# --- eigh ----------------------------------------------------------------------------------
def _eigh_values_infer(types):
    (a,) = types
    _square(a, "eigh")
    return TensorType(a.dtype, a.shape[:-1])


def _sym(x):
    return 0.5 * (x + _mT(x))


def _eigh_values_vjp(g, w, a):
    # dw_i = v_i^T da v_i: the cotangent is V diag(g) V^T
    V = apply(EIGH_VECTORS, [a])
    return [(V * expand_dims(g, -2)) @ _mT(V)]


def _eigh_vectors_vjp(g, V, a):
    # dV = V (F o (V^T dA V)), F_ij = 1 / (w_j - w_i) off the diagonal, 0 on it; the
    # cotangent is V (F o (V^T gV)) V^T, symmetrised (eigh reads a as symmetric).
    # Repeated eigenvalues make F infinite: the eigenvectors are then not differentiable.
    w = apply(EIGH_VALUES, [a])
    eye = _eye_like(a)
    diff = expand_dims(w, -2) - expand_dims(w, -1)
    F = (1.0 - eye) / (diff + eye)
    return [_sym(V @ (F * (_mT(V) @ g)) @ _mT(V))]


EIGH_VALUES = defop("eigh_values", infer=_eigh_values_infer,
                    emit="np.linalg.eigh({0}).eigenvalues", vjp=_eigh_values_vjp,
                    inline=False, core=2, doc="the eigenvalues of eigh, ascending",
                    array_api="xp.linalg.eigh({0}).eigenvalues")
EIGH_VECTORS = defop("eigh_vectors", infer=_same_infer("eigh"),
                     emit="np.linalg.eigh({0}).eigenvectors", vjp=_eigh_vectors_vjp,
                     inline=False, core=2, doc="the eigenvectors of eigh, in columns",
                     array_api="xp.linalg.eigh({0}).eigenvectors")


def eigh(a):
    """``np.linalg.eigh(a)``: ``(eigenvalues, eigenvectors)`` of symmetric ``a`` (the lower
    triangle is read, as NumPy does). Both are differentiable, with ``a`` treated as
    symmetric; eigenvectors need distinct eigenvalues (their derivative is infinite at a
    repeated eigenvalue) and are unique only up to sign, so differentiate functions that
    do not depend on the sign (``V ** 2``, ``V @ diag(f(w)) @ V.T``)."""
    a = as_var(a)
    return EighResult(apply(EIGH_VALUES, [a]), apply(EIGH_VECTORS, [a]))


# --- qr --------------------------------------------------------------------------------
def _qr_infer(part):
    def infer(types):
        (a,) = types
        if a.ndim < 2 or not a.is_float:
            raise ShapeError(f"qr needs a float matrix (or a stack of them), got {a}")
        m, n = a.shape[-2:]
        if isinstance(m, int) and isinstance(n, int) and m < n:
            raise ShapeError(f"qr: only m >= n is differentiable here, got "
                             f"{format_shape(a.shape)}")
        k = n
        shape = a.shape[:-2] + ((m, k) if part == "q" else (k, n))
        return TensorType(a.dtype, shape)
    return infer


def _qr_grad(a, gq, gr):
    """The cotangent of ``a = Q R`` (reduced, m >= n): with M = R gR^T - gQ^T Q,
    ga = (gQ + Q copyltu(M)) R^-T, copyltu(M) = tril(M) + tril(M, -1)^T."""
    Q, R = apply(QR_Q, [a]), apply(QR_R, [a])
    M = (R @ _mT(gr) if gr is not None else 0.0) - (_mT(gq) @ Q if gq is not None else 0.0)
    M = as_var(M) if not isinstance(M, float) else None
    inner = (gq if gq is not None else 0.0) + (Q @ (tril(M) + _mT(tril(M, -1)))
                                                if M is not None else 0.0)
    return _mT(solve(R, _mT(inner)))             # inner @ R^-T


QR_Q = defop("qr_q", infer=_qr_infer("q"), emit="np.linalg.qr({0}).Q",
             vjp=lambda g, out, a: [_qr_grad(a, g, None)], inline=False, core=2,
             doc="Q of the reduced QR decomposition",
             array_api="xp.linalg.qr({0}).Q")
QR_R = defop("qr_r", infer=_qr_infer("r"), emit="np.linalg.qr({0}).R",
             vjp=lambda g, out, a: [_qr_grad(a, None, g)], inline=False, core=2,
             doc="R of the reduced QR decomposition",
             array_api="xp.linalg.qr({0}).R")


def qr(a):
    """``np.linalg.qr(a)`` (reduced, ``m >= n``): ``(Q, R)``, both differentiable (``R``
    must have a nonzero diagonal)."""
    a = as_var(a)
    return QRResult(apply(QR_Q, [a]), apply(QR_R, [a]))


# --- triangles, diagonal, trace -----------------------------------------------------------
def _tri_infer(types, k):
    (a,) = types
    if a.ndim < 2:
        raise ShapeError(f"needs at least 2 dimensions, got {format_shape(a.shape)}")
    return a


TRIL = defop("tril", infer=_tri_infer, emit="np.tril({0}, {k})",
             vjp=lambda g, out, a, k: [tril(g, k)], inline=False, core=2, linear="first",
             jvp=lambda ts, out, a, k: tril(ts[0], k),
             array_api="xp.where(xp.arange({0.atom}.shape[-2], device=device)[:, None] + {k} >= xp.arange({0.atom}.shape[-1], device=device)[None, :], {0}, xp.zeros_like({0}))")
TRIU = defop("triu", infer=_tri_infer, emit="np.triu({0}, {k})",
             vjp=lambda g, out, a, k: [triu(g, k)], inline=False, core=2, linear="first",
             jvp=lambda ts, out, a, k: triu(ts[0], k),
             array_api="xp.where(xp.arange({0.atom}.shape[-2], device=device)[:, None] + {k} <= xp.arange({0.atom}.shape[-1], device=device)[None, :], {0}, xp.zeros_like({0}))")


def tril(a, k=0):
    """``np.tril(a, k)``: the lower triangle (below the k-th diagonal), zeros elsewhere."""
    return apply(TRIL, [as_var(a)], k=int(k))


def triu(a, k=0):
    """``np.triu(a, k)``: the upper triangle, zeros elsewhere."""
    return apply(TRIU, [as_var(a)], k=int(k))


def diagonal(a, offset=0, axis1=0, axis2=1):
    """``np.diagonal`` of a matrix (2-D, static size): its ``offset``-th diagonal."""
    a = as_var(a)
    if a.ndim != 2 or (axis1, axis2) not in ((0, 1), (-2, -1)):
        raise ShapeError("diagonal: only the diagonals of a 2-D array are supported, got "
                         f"{format_shape(a.type.shape)} with axes {axis1}, {axis2}")
    n, m = a.type.shape
    if not (isinstance(n, int) and isinstance(m, int)):
        raise ShapeError("diagonal: the matrix size must be static")
    rows = np.arange(max(0, -offset), min(n, m - offset))
    return a[rows, rows + offset]


def trace(a, offset=0):
    """``np.trace`` of a matrix: the sum of its ``offset``-th diagonal."""
    return ops.sum(diagonal(a, offset))


# --- norm ----------------------------------------------------------------------------------
def norm(x, ord=None, axis=None, keepdims=False):
    """``np.linalg.norm``: vector norms (``ord`` None/2, 1, inf, -inf, other p) over
    ``axis`` (an int, or all of a 1-D array) and the Frobenius norm of matrices
    (``ord`` None or "fro"). Matrix 2-norms (spectral) and nuclear norms are refused."""
    x = as_var(x)
    vector = (axis is None and x.ndim <= 1) or isinstance(axis, (int, np.integer))
    if axis is None and x.ndim > 2 and ord is not None:
        raise ShapeError("norm: with ord, x must be 1-D or 2-D unless axis is given")
    if ord is None or (ord == "fro" and not vector):
        return ops.sqrt(ops.sum(ops.square(x), axis=axis, keepdims=keepdims))
    if not vector:
        raise TypeError(f"norm: matrix norm ord={ord!r} is not supported (only 'fro')")
    if ord == 2:
        return ops.sqrt(ops.sum(ops.square(x), axis=axis, keepdims=keepdims))
    if ord == 1:
        return ops.sum(ops.abs(x), axis=axis, keepdims=keepdims)
    if ord == np.inf:
        return ops.max(ops.abs(x), axis=axis, keepdims=keepdims)
    if ord == -np.inf:
        return ops.min(ops.abs(x), axis=axis, keepdims=keepdims)
    if isinstance(ord, (int, float)) and ord > 0:
        p = float(ord)
        return ops.power(ops.sum(ops.power(ops.abs(x), p), axis=axis, keepdims=keepdims),
                         1.0 / p)
    raise TypeError(f"norm: ord={ord!r} is not supported")


__all__ = ["solve", "inv", "det", "slogdet", "cholesky", "eigh", "qr", "tril", "triu",
           "diagonal", "trace", "norm"]
