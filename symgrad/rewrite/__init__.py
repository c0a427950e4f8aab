"""Optimizer passes over graphs."""

from .cse import cse
from .dce import dce
from .pipeline import DEFAULT_PASSES, PassReport, optimize

__all__ = ["cse", "dce", "optimize", "DEFAULT_PASSES", "PassReport"]
