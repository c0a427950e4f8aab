"""Weight initialisers: functions ``(shape, rng=None, dtype="float64") -> np.ndarray``.

``rng`` is a NumPy ``Generator``, an int seed, or None (a fresh, unseeded generator). The
fans of a shape are ``fan_in = shape[0]`` and ``fan_out = shape[1]`` for a matrix of shape
``(inputs, outputs)`` (as ``x @ W`` uses it), ``shape[0]`` for both of a vector, and for
more dimensions the first two times the product of the rest (a convolution kernel).

* ``glorot_uniform``: U(-a, a) with a = sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio);
* ``glorot_normal``: N(0, s^2) with s = sqrt(2 / (fan_in + fan_out));
* ``he_uniform``: U(-a, a) with a = sqrt(6 / fan_in) (He et al., for ReLU layers);
* ``he_normal``: N(0, s^2) with s = sqrt(2 / fan_in);
* ``zeros``.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..ir.types import as_dtype

__all__ = ["as_generator", "fans", "zeros", "glorot_uniform", "glorot_normal", "he_uniform",
           "he_normal", "get_initializer", "INITIALIZERS"]


def as_generator(rng) -> np.random.Generator:
    """A NumPy Generator from a Generator, an int seed or None."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, numbers.Integral) and not isinstance(rng, bool)):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be a numpy.random.Generator, an int seed or None, got "
                    f"{type(rng).__name__}")


def _shape(shape, where: str) -> tuple:
    if isinstance(shape, (numbers.Integral,)):
        shape = (shape,)
    try:
        shape = tuple(int(d) for d in shape)
    except TypeError:
        raise TypeError(f"{where}: shape must be a tuple of ints, got {shape!r}") from None
    if any(d < 0 for d in shape):
        raise ValueError(f"{where}: negative dimension in {shape}")
    return shape


def fans(shape) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight of the given shape (see the module docstring)."""
    shape = _shape(shape, "fans")
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    field = math.prod(shape[2:])
    return shape[0] * field, shape[1] * field


def _float(dtype, where):
    dt = as_dtype(dtype)
    if dt.kind != "f":
        raise TypeError(f"{where}: dtype must be a float type, got {dt}")
    return dt


def zeros(shape, rng=None, dtype="float64") -> np.ndarray:
    """All zeros (biases). ``rng`` is accepted for a uniform signature and ignored."""
    return np.zeros(_shape(shape, "zeros"), _float(dtype, "zeros"))


def _uniform(shape, limit, rng, dtype):
    return as_generator(rng).uniform(-limit, limit, shape).astype(dtype)


def _normal(shape, std, rng, dtype):
    return as_generator(rng).normal(0.0, std, shape).astype(dtype)


def glorot_uniform(shape, rng=None, dtype="float64") -> np.ndarray:
    """U(-a, a) with a = sqrt(6 / (fan_in + fan_out)): variance 2 / (fan_in + fan_out)."""
    shape, dt = _shape(shape, "glorot_uniform"), _float(dtype, "glorot_uniform")
    fi, fo = fans(shape)
    return _uniform(shape, math.sqrt(6.0 / max(fi + fo, 1)), rng, dt)


def glorot_normal(shape, rng=None, dtype="float64") -> np.ndarray:
    """N(0, s^2) with s = sqrt(2 / (fan_in + fan_out))."""
    shape, dt = _shape(shape, "glorot_normal"), _float(dtype, "glorot_normal")
    fi, fo = fans(shape)
    return _normal(shape, math.sqrt(2.0 / max(fi + fo, 1)), rng, dt)


def he_uniform(shape, rng=None, dtype="float64") -> np.ndarray:
    """U(-a, a) with a = sqrt(6 / fan_in): variance 2 / fan_in, for ReLU layers."""
    shape, dt = _shape(shape, "he_uniform"), _float(dtype, "he_uniform")
    fi, _ = fans(shape)
    return _uniform(shape, math.sqrt(6.0 / max(fi, 1)), rng, dt)


def he_normal(shape, rng=None, dtype="float64") -> np.ndarray:
    """N(0, s^2) with s = sqrt(2 / fan_in), for ReLU layers."""
    shape, dt = _shape(shape, "he_normal"), _float(dtype, "he_normal")
    fi, _ = fans(shape)
    return _normal(shape, math.sqrt(2.0 / max(fi, 1)), rng, dt)


INITIALIZERS = {f.__name__: f for f in (zeros, glorot_uniform, glorot_normal, he_uniform,
                                        he_normal)}


def get_initializer(init):
    """An initialiser from its name or a callable ``(shape, rng, dtype) -> array``."""
    if callable(init):
        return init
    try:
        return INITIALIZERS[init]
    except (KeyError, TypeError):
        raise ValueError(f"unknown initialiser {init!r}; choose one of "
                         f"{sorted(INITIALIZERS)} or pass a function") from None
