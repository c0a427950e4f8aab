"""Neural-network functions built from primitive ops: logsumexp, softmax, log_softmax.

They are compositions, not primitives, so every derivative order comes for free and the
optimizer sees (and shares) their pieces. All three shift by the maximum first, which
keeps them finite for logits of any size; the shift is a ``stop_gradient`` because the
result does not depend on it.
"""

from __future__ import annotations

from .elementwise import exp, log, stop_gradient
from .leaves import as_var
from .reduce import max as _max
from .reduce import sum as _sum
from .shape import normalize_axes, squeeze


def shifted(x, axis):
    """The pieces of a stable softmax over ``axis``: the stopped row max ``m``, ``z = x - m``,
    ``e = exp(z)`` and ``s = sum(e, axis, keepdims=True)``."""
    m = stop_gradient(_max(x, axis, keepdims=True))
    z = x - m
    e = exp(z)
    s = _sum(e, axis, keepdims=True)
    return m, z, e, s


def logsumexp(x, axis=None, keepdims=False):
    """``log(sum(exp(x), axis))``, computed without overflow."""
    x = as_var(x)
    axes = normalize_axes(axis, x.ndim, "logsumexp")
    m, _, _, s = shifted(x, axes)
    out = log(s) + m
    return out if keepdims else squeeze(out, axes)


def softmax(x, axis=-1):
    """``exp(x) / sum(exp(x), axis)``, computed without overflow."""
    x = as_var(x)
    axes = normalize_axes(axis, x.ndim, "softmax")
    _, _, e, s = shifted(x, axes)
    return e / s


def log_softmax(x, axis=-1):
    """``x - logsumexp(x, axis)``, computed without overflow."""
    x = as_var(x)
    axes = normalize_axes(axis, x.ndim, "log_softmax")
    _, z, _, s = shifted(x, axes)
    return z - log(s)
