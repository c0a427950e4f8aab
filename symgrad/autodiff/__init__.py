"""Differentiation: reverse mode (grad, vjp) and the APIs derived from it."""

from .derived import hessian, hvp, jacobian
from .forward import jvp
from .reverse import backprop, grad, vjp
from .vmap import vmap

__all__ = ["backprop", "grad", "vjp", "jvp", "jacobian", "hessian", "hvp", "vmap"]
