"""Losses. Each is written with symgrad ops, so it differentiates to any order."""

from __future__ import annotations

from ..ir.types import format_shape
from ..ops import arange, astype, log, log_softmax, mean, softplus, square, squeeze, sum
from ..ops.checks import check_index
from ..ops.nnfuncs import shifted
from ..ops.leaves import as_var
from ..ops.registry import describe


def cross_entropy(logits, labels):
    """Softmax cross-entropy, averaged over the batch; stable for logits of any size.

    ``labels`` are integer class indices of shape ``logits.shape[:-1]`` (2-D logits), or
    probability rows of the same shape as ``logits``.

    With integer labels the per-example loss is ``logsumexp(z) - z[label]``; its gradient
    with respect to the logits is ``softmax(z) - one_hot(label)`` (divided by the batch).
    It is computed on the shifted logits ``s = z - max(z)`` as ``log(sum(exp(s))) -
    s[label]``: the same value, with the max never added back.
    """
    z = as_var(logits)
    y = as_var(labels)
    if z.ndim < 1:
        raise ValueError(f"cross_entropy: logits {describe(z)} must have a class axis")
    if y.dtype.kind in "iu":
        if z.ndim != 2 or y.ndim != 1:
            raise ValueError(f"cross_entropy: integer labels need 2-D logits [batch, classes] "
                             f"and 1-D labels [batch]; got logits {describe(z)} and labels "
                             f"{describe(y)}")
        _, s, e, total = shifted(z, (1,))
        y = check_index(y, z, 1, f"cross_entropy: labels {describe(y)}")
        return mean(log(squeeze(total, 1)) - s[arange(z.shape[0]), y])
    if y.dtype.kind == "f":
        yc, zc = y.type.shape[-1] if y.ndim else None, z.type.shape[-1]
        if y.ndim != z.ndim or (yc == 1 and zc != 1) or (
                isinstance(yc, int) and isinstance(zc, int) and yc != zc):
            # a class axis of 1 would broadcast one probability over every class
            raise ValueError(f"cross_entropy: probability targets must have the logits' shape "
                             f"{format_shape(z.type.shape)}, got {format_shape(y.type.shape)}")
        _no_wider("cross_entropy", y, z, "logits", "probability targets")
        return -mean(sum(astype(y, z.dtype) * log_softmax(z, axis=-1), axis=-1))
    raise TypeError(f"cross_entropy: labels must be integers or probabilities, got {describe(y)}")


def binary_cross_entropy(logits, targets):
    """Sigmoid cross-entropy on logits, averaged over all elements; stable for any logits.

    ``mean(softplus(z) - t * z)``, which equals ``-t log sigmoid(z) - (1-t) log(1-sigmoid(z))``.
    """
    z = as_var(logits)
    t = astype(as_var(targets, z), z.dtype)
    _no_wider("binary_cross_entropy", t, z, "logits", "targets")
    return mean(softplus(z) - t * z)


def _no_wider(loss: str, v, ref, what: str, whats: str) -> None:
    """Refuse ``v`` where combining it with ``ref`` elementwise would broadcast ``ref``
    (``mse`` of predictions [n, 1] and targets [n] is the mean over an [n, n] table: a
    number, silently the wrong one). ``v`` may itself be broadcast (a scalar target)."""
    from ..ir.types import broadcast_shapes
    shape, _ = broadcast_shapes(ref.type.shape, v.type.shape)
    if len(shape) != ref.ndim or any(
            d != r and not (r is None or (d is None and r != 1))
            for d, r in zip(shape, ref.type.shape)):
        raise ValueError(f"{loss}: {whats} {describe(v)} would broadcast the {what} "
                         f"{describe(ref)} to {format_shape(shape)}; give them the same "
                         "shape")


def mse(pred, target):
    """Mean squared error, averaged over all elements. ``target`` has ``pred``'s shape or
    broadcasts to it (a scalar); one that would broadcast ``pred`` is refused."""
    p = as_var(pred)
    t = as_var(target, p)
    _no_wider("mse", t, p, "predictions", "targets")
    return mean(square(p - t))


def l2(*params):
    """Sum of squares of all the given parameters (no 1/2 factor).

    The parameters come as separate arguments, ``l2(W1, W2)``, or as one list or tuple,
    ``l2([W1, W2])``.
    """
    return _penalty(params, square, "l2")


def l1(*params):
    """Sum of absolute values of all the given parameters (separate arguments or one list
    or tuple of them)."""
    from ..ops import abs as _abs
    return _penalty(params, _abs, "l1")


def _penalty(params, elementwise, where):
    """``sum(elementwise(p))`` added up over ``params``."""
    if len(params) == 1 and isinstance(params[0], (list, tuple)):
        params = tuple(params[0])
    if not params:
        raise ValueError(f"{where}: give at least one parameter")
    total = None
    for p in params:
        term = sum(elementwise(as_var(p)))
        total = term if total is None else total + term
    return total
