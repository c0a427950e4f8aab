"""Layers that create shared parameters: ``Dense``, ``MLP`` (and ``mlp(...)``), ``dropout``.

A layer is a plain object holding shared variables; calling it on a symbolic tensor builds
graph nodes. Names follow the lecture notes: layer ``k`` has weights ``Wk`` and bias
``bk``, pre-activation ``ak = h(k-1) @ Wk + bk`` and activation ``hk = g(ak)``, so the
generated source and the graph dumps read like the formulas.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..backend import as_library
from ..ir.node import SharedVariable, Var
from ..ir.types import as_dtype
from ..ops import elu, gelu, leaky_relu, relu, selu, sigmoid, silu, softplus, softsign, tanh
from ..ops.leaves import as_var, shared
from ..ops.registry import describe
from .init import as_generator, get_initializer

__all__ = ["Dense", "MLP", "mlp", "dropout", "ACTIVATIONS"]

ACTIVATIONS = {"relu": relu, "sigmoid": sigmoid, "tanh": tanh, "leaky_relu": leaky_relu,
               "softplus": softplus, "elu": elu, "selu": selu, "silu": silu, "gelu": gelu,
               "softsign": softsign, "linear": None, None: None}


def _activation(act):
    if callable(act):
        return act
    try:
        return ACTIVATIONS[act]
    except (KeyError, TypeError):
        names = sorted(k for k in ACTIVATIONS if k)
        raise ValueError(f"unknown activation {act!r}; choose one of {names}, None or a "
                         "function") from None


def _default_init(act) -> str:
    return "he_normal" if act in ("relu", "leaky_relu") or act is relu or act is leaky_relu \
        else "glorot_uniform"


def _positive_int(v, what):
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v <= 0:
        raise ValueError(f"{what} must be a positive int, got {v!r}")
    return int(v)


class Dense:
    """A fully connected layer ``g(x @ W + b)`` with ``W`` of shape ``(n_in, n_out)``.

    Parameters
    ----------
    n_in, n_out : int
        Input and output features.
    activation : str, callable or None
        ``"relu"``, ``"sigmoid"``, ``"tanh"``, ``"leaky_relu"``, ``"softplus"``, ``"elu"``,
        ``"selu"``, ``"silu"``, ``"gelu"``, ``"softsign"``, a function
        of one variable, or None (linear).
    init : str or callable
        Initialiser of ``W`` (see ``symgrad.nn.init``); by default ``he_normal`` for ReLU
        layers and ``glorot_uniform`` otherwise. Biases start at zero.
    rng : numpy Generator, int seed or None
    dtype : float dtype of the parameters.
    name : str
        Suffix of the parameter names: ``name="1"`` gives ``W1`` and ``b1``.
    bias : bool
        Whether the layer has a bias.
    like : array or None
        An array of the library and device the parameters live in (a torch tensor on
        ``cuda``, a CuPy array ...): the same initial values, made there
        (docs/array_api.md). None: NumPy.
    """

    def __init__(self, n_in: int, n_out: int, activation=None, *, init=None, rng=None,
                 dtype="float64", name: str = "", bias: bool = True, like=None):
        self.n_in = _positive_int(n_in, "Dense: n_in")
        self.n_out = _positive_int(n_out, "Dense: n_out")
        self.activation = _activation(activation)
        self.dtype = as_dtype(dtype)
        if self.dtype.kind != "f":
            raise TypeError(f"Dense: dtype must be a float type, got {self.dtype}")
        self.name = str(name)
        init_fn = get_initializer(init or _default_init(activation))
        gen = as_generator(rng)
        W, b = init_fn((self.n_in, self.n_out), gen, self.dtype), np.zeros(self.n_out, self.dtype)
        if like is not None:
            W, b = as_library(W, like), as_library(b, like)
        self.W = shared(W, name=f"W{name}")
        self.b = shared(b, name=f"b{name}") if bias else None

    @property
    def params(self) -> list[SharedVariable]:
        """The layer's shared parameters: ``[W, b]`` (``[W]`` without a bias)."""
        return [self.W] + ([self.b] if self.b is not None else [])

    def __call__(self, x) -> Var:
        x = as_var(x)
        last = x.type.shape[-1] if x.ndim else None
        if x.ndim < 1 or (isinstance(last, int) and last != self.n_in):
            raise ValueError(f"Dense {self.W.name}: expects inputs with {self.n_in} features "
                             f"in the last axis, got {describe(x)}")
        a = x @ self.W
        if self.b is not None:
            a = a + self.b
        if self.activation is None:
            return a
        a.name = a.name or f"a{self.name}"
        h = self.activation(a)
        return h

    def __repr__(self) -> str:
        return f"Dense({self.n_in}, {self.n_out}, name={self.name!r})"


class MLP:
    """A stack of ``Dense`` layers; hidden layers share one activation.

    ``MLP(x)`` applies the layers in turn, with optional inverted dropout on every hidden
    activation (``mlp(x, dropout=0.2, rng=stream)``; ``training=False`` is the identity).
    Hidden activations are named ``h1``, ``h2``...; the output is named ``out``.
    """

    def __init__(self, layers: list[Dense]):
        if not layers:
            raise ValueError("MLP: give at least one layer")
        self.layers = list(layers)

    @property
    def params(self) -> list[SharedVariable]:
        """All parameters, layer by layer: ``[W1, b1, W2, b2, ...]``."""
        return [p for layer in self.layers for p in layer.params]

    def __call__(self, x, *, dropout: float = 0.0, rng=None, training: bool = True) -> Var:
        h = as_var(x)
        last = len(self.layers) - 1
        for k, layer in enumerate(self.layers):
            h = layer(h)
            if k < last:
                if h.name is None:
                    h.name = f"h{layer.name}"
                if dropout:
                    h = _dropout(h, dropout, rng, training=training)
        if h.name is None:
            h.name = "out"
        return h

    def __repr__(self) -> str:
        sizes = [self.layers[0].n_in] + [layer.n_out for layer in self.layers]
        return f"MLP({sizes})"


def mlp(sizes, activation="relu", output_activation=None, *, init=None, rng=None,
        dtype="float64", like=None) -> MLP:
    """A multilayer perceptron with parameters ``W1, b1, W2, b2, ...``.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths, input first: ``(64, 128, 10)`` is one hidden layer of 128 units.
    activation : hidden activation (see ``Dense``).
    output_activation : activation of the last layer (None: linear, e.g. logits).
    init : initialiser of the weights (default: by activation, see ``Dense``).
    rng : numpy Generator, int seed or None.
    dtype : float dtype of the parameters.
    like : an array of the library and device the parameters live in (see ``Dense``).

    Examples
    --------
    >>> import symgrad as sg
    >>> net = sg.nn.mlp([4, 8, 3], rng=0)
    >>> [p.name for p in net.params]
    ['W1', 'b1', 'W2', 'b2']
    >>> net(sg.matrix("x")).type.shape
    (None, 3)
    """
    sizes = list(sizes)
    if len(sizes) < 2:
        raise ValueError(f"mlp: sizes needs an input and at least one layer, got {sizes!r}")
    gen = as_generator(rng)
    layers = []
    for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        last = k == len(sizes) - 1
        act = output_activation if last else activation
        layers.append(Dense(n_in, n_out, act, init=init, rng=gen, dtype=dtype, name=str(k),
                            like=like))
    return MLP(layers)


def dropout(x, rate, rng, training: bool = True) -> Var:
    """Inverted dropout: each unit kept with probability ``1 - rate`` and scaled by
    ``1 / (1 - rate)``, so the expected activation is unchanged; the identity when
    ``training`` is False or ``rate`` is 0.

    ``rng`` is a ``symgrad.random.RandomStream``: a compiled function draws a new mask at
    every call, the same masks for the same seed. The mask is a constant for
    differentiation, so the gradient flows through the kept units only, scaled the same.
    """
    from ..random import RandomStream
    if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0 <= rate < 1:
        raise ValueError(f"dropout: rate must be a number in [0, 1), got {rate!r}")
    x = as_var(x)
    if not training or rate == 0:
        return x
    if not isinstance(rng, RandomStream):
        raise TypeError(f"dropout: rng must be a symgrad.random.RandomStream, got "
                        f"{type(rng).__name__}")
    if not x.type.is_float:
        raise TypeError(f"dropout: expects a float tensor, got {describe(x)}")
    keep = 1.0 - float(rate)
    mask = rng.bernoulli(keep, size=x.shape, dtype=x.dtype) * (1.0 / keep)
    mask.name = f"{x.name}_mask" if x.name else "mask"
    out = x * mask
    if x.name:
        out.name = f"{x.name}_drop"
    return out


_dropout = dropout  # MLP.__call__ has an argument of that name
