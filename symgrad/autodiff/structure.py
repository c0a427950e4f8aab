"""Flatten and rebuild the structures users pass: a variable, a list, a tuple or a dict."""

from __future__ import annotations

import numbers

import numpy as np

from ..ir.node import Var


def flatten(obj, allow_arrays: bool = False):
    """Return ``(leaves, tree)``; ``unflatten(tree, leaves)`` rebuilds ``obj``."""
    def is_leaf(v):
        return isinstance(v, Var) or (allow_arrays and isinstance(
            v, (np.ndarray, np.generic, numbers.Number)))
    if is_leaf(obj):
        return [obj], None
    if isinstance(obj, (list, tuple)):
        for v in obj:
            if not is_leaf(v):
                raise TypeError(f"expected variables in the {type(obj).__name__}, got "
                                f"{type(v).__name__}")
        return list(obj), type(obj)
    if isinstance(obj, dict):
        for k, v in obj.items():
            if not is_leaf(v):
                raise TypeError(f"expected variables as the dict's values; {k!r} maps to "
                                f"{type(v).__name__}")
        return list(obj.values()), ("dict", list(obj.keys()))
    raise TypeError(f"expected a variable, a list, a tuple or a dict of variables, got "
                    f"{type(obj).__name__}")


def unflatten(tree, leaves):
    if tree is None:
        return leaves[0]
    if tree is list:
        return list(leaves)
    if tree is tuple:
        return tuple(leaves)
    return dict(zip(tree[1], leaves))
