"""Neural-network functions built from primitive ops: logsumexp, softmax, log_softmax, and
the activations elu, selu, log_sigmoid, hard_tanh and gelu (its tanh form; the exact gelu,
silu and softsign are ops in ``special``).

They are compositions, not primitives, so every derivative order comes for free and the
optimizer sees (and shares) their pieces. The softmax family shifts by the maximum first,
which keeps it finite for logits of any size; the shift is a ``stop_gradient`` because the
result does not depend on it.
"""

from __future__ import annotations

from .elementwise import (abs, clip, exp, expm1, less, log, maximum, sigmoid, softplus,
                          square, stop_gradient, where)
from .leaves import as_var
from .reduce import max as _max
from .reduce import sum as _sum
from .shape import normalize_axes, squeeze
from .special import gelu as _gelu_exact


def shifted(x, axis):
    """The pieces of a stable softmax over ``axis``: the stopped row max ``m``, ``z = x - m``,
    ``e = exp(z)`` and ``s = sum(e, axis, keepdims=True)``."""
    m = stop_gradient(_max(x, axis, keepdims=True))
    z = x - m
    e = exp(z)
    s = _sum(e, axis, keepdims=True)
    return m, z, e, s


def logsumexp(x, axis=None, keepdims=False):
    """``log(sum(exp(x), axis))``, computed without overflow. A row of -inf gives -inf
    (and one with +inf gives inf), as the formula does."""
    x = as_var(x)
    axes = normalize_axes(axis, x.ndim, "logsumexp")
    m = _max(x, axes, keepdims=True)
    # the shift by an infinite maximum would be inf - inf = nan: shift by 0 there
    m = stop_gradient(where(less(abs(m), float("inf")), m, 0))
    out = log(_sum(exp(x - m), axes, keepdims=True)) + m
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


# ---------------------------------------------------------------------------------------
# activations (compositions of ops whose derivatives are exact and stable; softsign, silu
# and the exact gelu are ops of their own, in ``special``)
# ---------------------------------------------------------------------------------------

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def elu(x, alpha=1.0):
    """``x`` where ``x > 0``, else ``alpha * expm1(x)`` (the exponential linear unit).
    The slope at 0 is ``alpha`` (the left one, as JAX)."""
    x = as_var(x)
    pos = x > 0
    return where(pos, x, float(alpha) * expm1(where(pos, 0.0, x)))


def selu(x):
    """``scale * elu(x, alpha)`` with the self-normalising constants of Klambauer et al.
    (``alpha = 1.6732632...``, ``scale = 1.0507009...``)."""
    x = as_var(x)
    pos = x > 0
    return where(pos, SELU_SCALE * x,
                 (SELU_SCALE * SELU_ALPHA) * expm1(where(pos, 0.0, x)))


def log_sigmoid(x):
    """``log(sigmoid(x))``, computed as ``-softplus(-x)``: finite for every x, and its
    derivative ``sigmoid(-x)`` never cancels."""
    x = as_var(x)
    return -softplus(-x)


def hard_tanh(x):
    """``clip(x, -1, 1)``; the gradient passes where -1 <= x <= 1 (bounds included, as
    ``sg.clip``)."""
    return clip(as_var(x), -1.0, 1.0)


def gelu(x, approximate=False):
    """The Gaussian error linear unit ``x * ndtr(x)`` (``ndtr`` the standard normal CDF),
    exact to a few ulps (an op of its own); ``approximate=True`` gives the tanh form
    ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x**3)))`` (as JAX and PyTorch), computed as
    ``x * sigmoid(2 sqrt(2/pi) (x + 0.044715 x**3))``, which does not cancel for x < 0."""
    x = as_var(x)
    if approximate:
        # beyond |x| = 30 the sigmoid is 0 or 1 exactly: clipping its argument keeps x**3
        # finite (and so the derivative), and max(x, -30) keeps -inf * 0 out
        xc = clip(x, -30.0, 30.0)
        return maximum(x, -30.0) * sigmoid(1.5957691216057308 * (xc + 0.044715 * (xc * square(xc))))
    return _gelu_exact(x)
