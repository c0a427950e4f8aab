"""Mini-batches for training loops."""

from __future__ import annotations

from typing import Iterator

import numpy as np

from .init import as_generator

__all__ = ["minibatches"]


def minibatches(*arrays, batch_size: int = 32, shuffle: bool = True, rng=None,
                drop_last: bool = False) -> Iterator[tuple[np.ndarray, ...]]:
    """Yield aligned mini-batches of ``arrays`` (split along their first axis).

    Parameters
    ----------
    *arrays : NumPy arrays with the same length.
    batch_size : int
        Examples per batch; the last batch is smaller unless ``drop_last``.
    shuffle : bool
        Visit the examples in a random order (a new one at every pass when ``rng`` is a
        Generator that lives across epochs; the same order every time for an int seed).
    rng : numpy Generator, int seed or None.
    drop_last : bool
        Skip a final batch smaller than ``batch_size``.

    Yields
    ------
    tuple of arrays (a single array when one array is given).

    Examples
    --------
    >>> import numpy as np
    >>> from symgrad.nn import minibatches
    >>> X, y = np.arange(10).reshape(5, 2), np.arange(5)
    >>> [len(yb) for _, yb in minibatches(X, y, batch_size=2, shuffle=False)]
    [2, 2, 1]
    """
    if not arrays:
        raise ValueError("minibatches: give at least one array")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size <= 0:
        raise ValueError(f"minibatches: batch_size must be a positive int, got {batch_size!r}")
    arrays = tuple(np.asarray(a) for a in arrays)
    for k, a in enumerate(arrays):
        if a.ndim == 0:
            raise ValueError(f"minibatches: array {k} is a scalar; arrays need a first axis")
    n = len(arrays[0])
    for k, a in enumerate(arrays[1:], start=1):
        if len(a) != n:
            raise ValueError(f"minibatches: array {k} has {len(a)} rows but array 0 has {n}")
    order = as_generator(rng).permutation(n) if shuffle else np.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        idx = order[start:start + batch_size]
        batch = tuple(a[idx] for a in arrays)
        yield batch[0] if len(batch) == 1 else batch
