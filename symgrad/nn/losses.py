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
        if y.ndim != z.ndim:
            raise ValueError(f"cross_entropy: probability targets must have the logits' shape "
                             f"{format_shape(z.type.shape)}, got {format_shape(y.type.shape)}")
        return -mean(sum(astype(y, z.dtype) * log_softmax(z, axis=-1), axis=-1))
    raise TypeError(f"cross_entropy: labels must be integers or probabilities, got {describe(y)}")


def binary_cross_entropy(logits, targets):
    """Sigmoid cross-entropy on logits, averaged over all elements; stable for any logits.

    ``mean(softplus(z) - t * z)``, which equals ``-t log sigmoid(z) - (1-t) log(1-sigmoid(z))``.
    """
    z = as_var(logits)
    t = astype(as_var(targets, z), z.dtype)
    return mean(softplus(z) - t * z)


def mse(pred, target):
    """Mean squared error, averaged over all elements."""
    p = as_var(pred)
    return mean(square(p - as_var(target, p)))


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
