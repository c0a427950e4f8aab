"""Derivatives built from ``grad``, ``vjp`` and ``jvp``: Jacobians, Hessians, HVPs.

Everything here returns graph nodes built from differentiable ops, so each result can be
differentiated again (a third derivative is ``jacobian(hessian(f, x), x)``, or ``grad`` of
``grad`` of ``grad`` for a scalar).
"""

from __future__ import annotations

import math

import numpy as np

from ..ir.node import Var
from ..ir.types import format_shape
from ..ops import constant, reshape, stack
from ..ops import sum as _sum
from ..ops.leaves import as_var
from ..ops.registry import describe
from .forward import _check_tangent, forward_tangents
from .reverse import _check_wrt, _zeros, backprop, grad
from .structure import flatten, unflatten


def _static_size(v: Var):
    """The number of elements when every dimension is static, else None."""
    if all(isinstance(d, int) for d in v.type.shape):
        return math.prod(v.type.shape)
    return None


def _one_hot(v: Var, k: int) -> Var:
    e = np.zeros(v.type.shape, v.dtype)
    e.reshape(-1)[k] = 1
    return constant(e)


def _move_leading_to_back(v: Var) -> Var:
    """Transpose the first axis of ``v`` to the end."""
    axes = tuple(range(1, v.ndim)) + (0,)
    return v.transpose(axes) if v.ndim > 1 else v


def jacobian(y, x):
    """The Jacobian of ``y`` with respect to ``x``, of shape ``y.shape + x.shape``.

    Built row by row in reverse mode (one VJP per element of ``y``) or column by column in
    forward mode (one JVP per element of ``x``), whichever needs fewer passes. At least
    one of ``y`` and ``x`` needs a fully static shape (ints): the number of passes is fixed
    while the graph is built.

    Parameters
    ----------
    y : Var
        A float expression of any shape.
    x : Var
        A float variable.

    Returns
    -------
    Var
        ``J`` with ``J[i..., j...] = d y[i...] / d x[j...]``.

    Examples
    --------
    >>> import numpy as np, symgrad as sg
    >>> x = sg.vector("x", 2)
    >>> J = sg.jacobian(x * x[::-1], x)
    >>> sg.function([x], J)(np.array([2.0, 3.0])).tolist()
    [[3.0, 2.0], [3.0, 2.0]]
    """
    y = as_var(y)
    if not isinstance(x, Var):
        raise TypeError(f"jacobian: x must be a single symgrad variable, got {type(x).__name__}")
    _check_wrt(x, "jacobian")
    if not y.type.is_float:
        raise TypeError(f"jacobian: y {describe(y)} is not a float variable")
    m, n = _static_size(y), _static_size(x)
    if m is None and n is None:
        raise ValueError(f"jacobian: y {describe(y)} and x {describe(x)} both have named or "
                         "unknown sizes; the Jacobian needs at least one of them static "
                         f"(y has shape {format_shape(y.type.shape)}, x has shape "
                         f"{format_shape(x.type.shape)})")
    if y.ndim == 0:
        return grad(y, x)
    if m is not None and (n is None or m <= n):
        rows = [backprop([y], [_one_hot(y, i)], [x])[0] for i in range(m)]
        if m == 1:
            return reshape(rows[0], tuple(y.shape) + tuple(x.shape))
        return reshape(stack(rows, axis=0), tuple(y.shape) + tuple(x.shape))
    cols = []
    for j in range(n):
        (t,) = forward_tangents([y], [x], [_one_hot(x, j)])
        cols.append(_zeros(y) if t is None else t)
    if x.ndim == 0:
        return cols[0]
    stacked = _move_leading_to_back(stack(cols, axis=0))  # y.shape + (n,)
    return reshape(stacked, tuple(y.shape) + tuple(x.shape))


def hessian(cost, x):
    """The Hessian of the scalar ``cost`` with respect to ``x``: shape ``x.shape * 2``.

    ``x`` needs a fully static shape (one reverse pass per element of ``x`` over the
    gradient graph).

    Parameters
    ----------
    cost : Var
        A float scalar.
    x : Var
        A float variable with static shape.

    Returns
    -------
    Var
        ``H[i..., j...] = d^2 cost / d x[i...] d x[j...]``.

    Examples
    --------
    >>> import numpy as np, symgrad as sg
    >>> x = sg.vector("x", 2)
    >>> H = sg.hessian(x[0] ** 2 * x[1], x)
    >>> sg.function([x], H)(np.array([1.0, 2.0])).tolist()
    [[4.0, 2.0], [2.0, 0.0]]
    """
    if not isinstance(x, Var):
        raise TypeError(f"hessian: x must be a single symgrad variable, got {type(x).__name__}")
    _check_wrt(x, "hessian")
    if _static_size(x) is None:
        raise ValueError(f"hessian: x {describe(x)} has shape {format_shape(x.type.shape)}; "
                         "a Hessian needs a static shape (ints only). Use sg.hvp for "
                         "Hessian-vector products at any shape")
    return jacobian(grad(cost, x), x)


def hvp(cost, wrt, vectors):
    """Hessian-vector product ``H v`` of the scalar ``cost`` (reverse over reverse).

    Computed as the gradient of ``<grad(cost, wrt), vectors>``, so the Hessian is never
    formed; ``wrt`` may be a variable or a list, tuple or dict of them, with ``vectors``
    (variables or arrays) in the same structure.

    Parameters
    ----------
    cost : Var
        A float scalar.
    wrt : Var or list, tuple or dict of Var
        The variables of the Hessian.
    vectors : same structure as ``wrt``
        The vectors to multiply by.

    Returns
    -------
    Var or list, tuple or dict of Var
        ``H v`` in the structure of ``wrt``.

    Examples
    --------
    >>> import numpy as np, symgrad as sg
    >>> x = sg.vector("x", 2)
    >>> hv = sg.hvp((x ** 3).sum(), x, np.array([1.0, 1.0]))
    >>> sg.function([x], hv)(np.array([1.0, 2.0])).tolist()
    [6.0, 12.0]
    """
    leaves, tree = flatten(wrt)
    if isinstance(wrt, dict) and isinstance(vectors, dict):
        if set(wrt) != set(vectors):
            raise ValueError("hvp: wrt and vectors are dicts with different keys")
        vectors = [vectors[k] for k in wrt]
    vecs, _ = flatten(vectors, allow_arrays=True)
    if len(vecs) != len(leaves):
        raise ValueError(f"hvp: {len(leaves)} variables in wrt but {len(vecs)} vectors")
    for w in leaves:
        _check_wrt(w, "hvp")
    vecs = [_check_tangent(v, w) for v, w in zip(vecs, leaves)]
    grads = grad(cost, list(leaves))
    inner = None
    for g, v in zip(grads, vecs):
        term = _sum(g * v)
        inner = term if inner is None else inner + term
    return unflatten(tree, grad(inner, list(leaves)))


__all__ = ["jacobian", "hessian", "hvp"]
