"""Differentiation: reverse mode (grad, vjp) and the APIs derived from it."""

from .reverse import backprop, grad, vjp

__all__ = ["backprop", "grad", "vjp"]
