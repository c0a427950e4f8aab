"""Code generation: graphs -> NumPy source -> callables."""

from .compile import load
from .emitter import Module, generate

__all__ = ["Module", "generate", "load"]
