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
from ..ops import constant, reshape
from ..ops.leaves import tensor
from ..ops import sum as _sum
from ..ops.leaves import as_var
from ..ops.registry import describe
from .forward import _check_tangent, forward_tangents
from .reverse import _check_wrt, _zeros, backprop, grad
from .structure import flatten, unflatten
from .vmap import batch_graph


def _static_size(v: Var):
    """The number of elements when every dimension is static, else None."""
    if all(isinstance(d, int) for d in v.type.shape):
        return math.prod(v.type.shape)
    return None


def _move_leading_to_back(v: Var) -> Var:
    """Transpose the first axis of ``v`` to the end."""
    axes = tuple(range(1, v.ndim)) + (0,)
    return v.transpose(axes) if v.ndim > 1 else v


def _static_hint(v: Var) -> str:
    """How to declare ``v`` (or, for a computed value, its inputs) with a static shape."""
    if not (v.op.leaf and v.name):
        return ("declare the inputs it is computed from with static sizes (ints), e.g. "
                'sg.vector("x", 3) instead of sg.vector("x")')
    shape = tuple(d if isinstance(d, int) else 3 for d in v.type.shape)
    if v.ndim == 1:
        decl = f"sg.vector({v.name!r}, {shape[0]})"
    elif v.ndim == 2:
        decl = f"sg.matrix({v.name!r}, {shape})"
    else:
        decl = f"sg.tensor({v.name!r}, {shape})"
    return f"declare it with a static shape (ints), e.g. {decl}".replace("'", '"')


def _flatten_arg(obj, what: str, allow_arrays: bool = False, where: str = "jacobian"):
    """``flatten`` with the argument named in its errors."""
    try:
        return flatten(obj, allow_arrays=allow_arrays)
    except TypeError as err:
        raise TypeError(f"{where}: {what} must be a variable or a list, a tuple or a dict "
                        f"of variables ({err})") from None


def jacobian(y, x):
    """The Jacobian of ``y`` with respect to ``x``, of shape ``y.shape + x.shape``.

    Built in reverse mode (a VJP, for every ``x`` at once) vectorised over the rows of the
    identity with ``sg.vmap``, or in forward mode (a JVP, for every ``y`` at once)
    vectorised over its columns, whichever has fewer rows; the generated source is the
    size of one VJP or JVP, whatever the size of the Jacobian. The number of rows is fixed
    while the graph is built, so each pair needs a static shape (ints) on ``y`` or on
    ``x``; a scalar ``y`` needs neither (its Jacobian is its gradient).

    Parameters
    ----------
    y : Var or list, tuple or dict of Var
        Float expressions of any shape.
    x : Var or list, tuple or dict of Var
        Float variables.

    Returns
    -------
    Var or nested structure of Var
        ``J`` with ``J[i..., j...] = d y[i...] / d x[j...]``. Like JAX's ``jacobian``, the
        structure of ``y`` holds, for each output, the structure of ``x`` of Jacobians:
        ``jacobian([y1, y2], (a, b))`` is ``[(dy1/da, dy1/db), (dy2/da, dy2/db)]``.

    Raises
    ------
    TypeError
        For a ``y`` or ``x`` that is not a variable or a list, tuple or dict of them, or
        for non-float ones.
    ValueError
        When neither ``y`` nor ``x`` of a pair has a static shape; the message says which
        variable to declare with static sizes.

    Examples
    --------
    >>> import numpy as np, symgrad as sg
    >>> x = sg.vector("x", 2)
    >>> J = sg.jacobian(x * x[::-1], x)
    >>> sg.function([x], J)(np.array([2.0, 3.0])).tolist()
    [[3.0, 2.0], [3.0, 2.0]]
    >>> da, db = sg.jacobian(x[0] * x[1], [x, x[0]])
    >>> sg.function([x], [da, db])(np.array([2.0, 3.0]))[0].tolist()
    [3.0, 2.0]
    """
    ys, y_tree = _flatten_arg(y, "y", allow_arrays=True)
    ys = [as_var(v) for v in ys]
    xs, x_tree = _flatten_arg(x, "x")
    for w in xs:
        _check_wrt(w, "jacobian")
    for v in ys:
        if not v.type.is_float:
            raise TypeError(f"jacobian: y {describe(v)} is not a float variable")
    n_all = [_static_size(w) for w in xs]
    n_total = None if None in n_all else sum(n_all)
    rows: list[list] = [[None] * len(xs) for _ in ys]
    forward = []  # indices of the outputs built column by column
    for i, v in enumerate(ys):
        m = _static_size(v)
        if m is not None and (n_total is None or m <= n_total):
            rows[i] = _reverse_rows(v, xs, m)
        else:
            forward.append(i)
    for j, (w, n) in enumerate(zip(xs, n_all)):
        if not forward:
            break
        if n is None:
            v = ys[forward[0]]
            raise ValueError(
                f"jacobian: neither y {describe(v)} nor x {describe(w)} has a static shape, "
                "and the Jacobian needs one of them to fix its number of passes "
                f"while the graph is built: for x, {_static_hint(w)}; for y, "
                f"{_static_hint(v)} (a scalar y needs no static size)")
        for i, J in zip(forward, _forward_columns([ys[k] for k in forward], w, n)):
            rows[i][j] = J
    return unflatten(y_tree, [unflatten(x_tree, r) for r in rows])


def _reverse_rows(y: Var, xs: list, m: int) -> list:
    """The Jacobians of ``y`` (``m`` elements) for every ``x``: one VJP with a placeholder
    cotangent, vectorised (``vmap``) over the ``m`` rows of the identity, so the graph is
    the size of one VJP whatever ``m``."""
    if y.ndim == 0:
        return backprop([y], [constant(np.ones((), y.dtype))], xs)
    seed = tensor("jacobian_row", y.type.shape, dtype=y.dtype)
    grads = backprop([y], [seed], xs)
    rows = constant(np.eye(m, dtype=y.dtype).reshape((m,) + tuple(y.type.shape)))
    batched = batch_graph(grads, {seed: rows})
    return [reshape(r, tuple(y.shape) + tuple(x.shape)) for r, x in zip(batched, xs)]


def _forward_columns(ys: list, x: Var, n: int) -> list:
    """The Jacobians of every ``y`` for ``x`` (``n`` elements): one JVP with a placeholder
    tangent, vectorised over the ``n`` columns of the identity."""
    tangent = tensor("jacobian_column", x.type.shape, dtype=x.dtype)
    ts = forward_tangents(ys, [x], [tangent])
    ts = [_zeros(y) if t is None else t for t, y in zip(ts, ys)]
    cols = constant(np.eye(n, dtype=x.dtype).reshape((n,) + tuple(x.type.shape)))
    out = []
    for c, y in zip(batch_graph(ts, {tangent: cols}), ys):
        if x.ndim == 0:
            out.append(reshape(c, tuple(y.shape)))
            continue
        stacked = _move_leading_to_back(c)                 # y.shape + (n,)
        out.append(reshape(stacked, tuple(y.shape) + tuple(x.shape)))
    return out


def hessian(cost, x):
    """The Hessian of the scalar ``cost`` with respect to ``x``: shape ``x.shape * 2``.

    ``x`` needs a fully static shape (one reverse pass per element of ``x`` over the
    gradient graph); for other shapes, ``sg.hvp`` gives Hessian-vector products.

    Parameters
    ----------
    cost : Var
        A float scalar.
    x : Var or list, tuple or dict of Var
        Float variables with static shapes.

    Returns
    -------
    Var or nested structure of Var
        ``H[i..., j...] = d^2 cost / d x[i...] d x[j...]``; for a list ``[a, b]`` the blocks
        ``[[H_aa, H_ab], [H_ba, H_bb]]`` (``H_ab`` of shape ``a.shape + b.shape``).

    Raises
    ------
    ValueError
        When ``x`` has named or unknown sizes; the message says how to declare it.

    Examples
    --------
    >>> import numpy as np, symgrad as sg
    >>> x = sg.vector("x", 2)
    >>> H = sg.hessian(x[0] ** 2 * x[1], x)
    >>> sg.function([x], H)(np.array([1.0, 2.0])).tolist()
    [[4.0, 2.0], [2.0, 0.0]]
    """
    leaves, _ = _flatten_arg(x, "x", where="hessian")
    for v in leaves:
        _check_wrt(v, "hessian")
        if _static_size(v) is None:
            raise ValueError(f"hessian: x {describe(v)} has shape "
                             f"{format_shape(v.type.shape)}; a Hessian needs a static shape "
                             "to fix its number of rows while the graph is built: "
                             f"{_static_hint(v)}. Use sg.hvp for Hessian-vector products at "
                             "any shape")
    # for a list, tuple or dict of variables: the nested blocks H[i][j] = d2 cost / dx_i dx_j,
    # as JAX returns them (the Jacobian of the gradient's structure)
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
