"""Random numbers inside compiled functions: ``sg.random.RandomStream``.

A stream owns a seed and a call counter, a shared int64 scalar named ``<name>_calls``.
Every random node drawn from the stream reads the counter, and every compiled function
that reads it also increments it after each successful call (the counter's
``default_update``, which ``sg.function`` adds to the updates by itself). Each node draws
from ``np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(k, counter)))``, where
``k`` is the index of the node in its stream, so

* successive calls of a compiled function draw different numbers (dropout masks differ
  from one training step to the next);
* two streams with the same seed, used the same way, give the same run;
* two random nodes of one stream are independent, and CSE never merges them.

A module written by ``f.save`` takes the counter as a parameter named after it (like any
shared value) and returns its next value in ``new_shared``; feed that back in on the next
call to get the same sequence as the compiled function.

Examples
--------
>>> import numpy as np, symgrad as sg
>>> rng = sg.random.RandomStream(seed=0)
>>> x = sg.matrix("x")
>>> noisy = x + rng.normal(0.0, 0.1, size=x.shape)
>>> f = sg.function([x], noisy)
>>> a, b = f(np.zeros((2, 3))), f(np.zeros((2, 3)))
>>> bool(np.all(a != b)), int(rng.calls)
(True, 2)
"""

from __future__ import annotations

import numbers

import numpy as np

from .ir.node import SharedVariable, Var
from .ops.leaves import SHARED
from .ops.random import random_draw

__all__ = ["RandomStream", "StreamCounter"]


class StreamCounter(SharedVariable):
    """The call counter of a ``RandomStream``: a shared int64 scalar that carries its own
    update (``default_update``, the counter plus one), which ``sg.function`` applies after
    every call of a function that reads it unless ``updates`` gives another value."""

    __slots__ = ("default_update",)

    def __init__(self, name: str):
        super().__init__(SHARED, np.zeros((), np.int64), name)
        self.default_update = self + 1
        self.default_update.name = f"{name}_next"


class RandomStream:
    """A reproducible source of random tensors for compiled functions.

    Parameters
    ----------
    seed : int or None
        A non-negative integer; None picks one from the operating system's entropy.
    name : str
        Base name of the stream's counter (``<name>_calls``) in generated code.

    Notes
    -----
    The methods take NumPy ``Generator`` argument names. ``size`` is a tuple of ints and
    symbolic sizes (``x.shape[0]``) or ``x.shape`` itself. The distribution parameters are
    numbers or variables that broadcast to ``size``; with ``size=None`` the draw has the
    broadcast shape of the parameters, as in NumPy (a scalar when all are numbers). Draws
    are constants for differentiation.
    """

    def __init__(self, seed: int | None = None, name: str = "rng"):
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % (2 ** 63))
        if isinstance(seed, bool) or not isinstance(seed, (numbers.Integral,)) or seed < 0:
            raise ValueError(f"RandomStream: seed must be a non-negative int or None, got "
                             f"{seed!r}")
        if not isinstance(name, str) or not name:
            raise TypeError(f"RandomStream: name must be a non-empty str, got {name!r}")
        self.seed = int(seed)
        self.name = name
        self.counter = StreamCounter(f"{name}_calls")
        self._draws = 0

    @property
    def calls(self) -> np.ndarray:
        """How many calls of compiled functions have drawn from this stream so far."""
        return self.counter.value

    def reset(self) -> None:
        """Start the stream again: the next call draws what the first call drew."""
        self.counter.value = np.zeros((), np.int64)

    def _draw(self, opname: str, args: dict, size, dtype) -> Var:
        node = random_draw(opname, self.counter, self.seed, self._draws, args, size, dtype)
        self._draws += 1
        return node

    def uniform(self, low=0.0, high=1.0, size=None, dtype="float64") -> Var:
        """Samples from the uniform distribution on [low, high), of shape ``size`` (by default
        the broadcast shape of ``low`` and ``high``)."""
        return self._draw("random_uniform", {"low": low, "high": high}, size, dtype)

    def normal(self, loc=0.0, scale=1.0, size=None, dtype="float64") -> Var:
        """Samples from the normal distribution with mean ``loc`` and standard deviation
        ``scale``, of shape ``size`` (by default the broadcast shape of ``loc`` and
        ``scale``)."""
        return self._draw("random_normal", {"loc": loc, "scale": scale}, size, dtype)

    def bernoulli(self, p=0.5, size=None, dtype="float64") -> Var:
        """1 with probability ``p`` and 0 otherwise, of shape ``size`` (by default the shape
        of ``p``), as ``dtype`` (float64 by default; ``dtype="bool"`` for a boolean mask)."""
        return self._draw("random_bernoulli", {"p": p}, size, dtype)

    def __repr__(self) -> str:
        return f"<RandomStream {self.name} seed={self.seed} calls={int(self.calls)}>"
