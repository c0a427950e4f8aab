"""``sg.check_grad``: symbolic gradients against finite differences, in float64.

The cost graph is rebuilt in float64 (float32 inputs, shared variables and constants
become float64 copies, so the check measures the derivative rules and not float32
rounding). Every input and shared variable becomes an argument of two compiled
functions, the cost and its gradients, so that finite differences can move any of them.
Derivatives along each direction are estimated by Ridders' method: central differences at
a sequence of shrinking steps, extrapolated to step zero (Richardson), keeping the
estimate whose error estimate is smallest. That removes the usual dilemma of a step large
enough to beat rounding but small enough to beat truncation.
"""

from __future__ import annotations

import math

import numpy as np

from .ir.graph import toposort
from .ir.node import SharedVariable, Var
from .ir.types import format_shape
from .ops import astype
from .ops.leaves import INPUT, ConstantVar
from .ops.registry import apply, describe

__all__ = ["check_grad", "numeric_derivative"]


def numeric_derivative(fn, h0: float, *, shrink: float = 1.4, steps: int = 10):
    """Derivative at 0 of the scalar function ``fn(h)`` by Ridders' extrapolation.

    Parameters
    ----------
    fn : callable
        Maps a float step ``h`` to a float.
    h0 : float
        The first (largest) step. It is divided by 4 until ``fn(+-h0)`` are finite.
    shrink : float
        Factor between successive steps.
    steps : int
        At most this many central differences.

    Returns
    -------
    (float, float)
        The estimate and its error estimate.
    """
    h = float(h0)
    for _ in range(30):
        fp, fm = fn(h), fn(-h)
        if np.isfinite(fp) and np.isfinite(fm):
            break
        h /= 4.0
    else:
        return float("nan"), float("inf")
    c2 = shrink * shrink
    table = [[(fp - fm) / (2.0 * h)]]
    best, err = table[0][0], math.inf
    for i in range(1, steps):
        h /= shrink
        row = [(fn(h) - fn(-h)) / (2.0 * h)]
        fac = c2
        for j in range(1, i + 1):
            row.append((row[j - 1] * fac - table[i - 1][j - 1]) / (fac - 1.0))
            fac *= c2
            errt = max(abs(row[j] - row[j - 1]), abs(row[j] - table[i - 1][j - 1]))
            if errt <= err:
                err, best = errt, row[j]
        table.append(row)
        if abs(row[i] - table[i - 1][i - 1]) >= 2.0 * err:
            break
    return float(best), float(err)


def _promote(order: list[Var], leaves: dict[int, Var]) -> dict[int, Var]:
    """Rebuild ``order`` on the float64 leaves ``leaves`` (id -> new leaf)."""
    new: dict[int, Var] = dict(leaves)
    for n in order:
        if n.id in new:
            continue
        if n.op.leaf:
            if isinstance(n, ConstantVar) and n.dtype == np.float32:
                new[n.id] = ConstantVar(n.value.astype(np.float64), n.name)
            else:
                new[n.id] = n
            continue
        ins = [new[i.id] for i in n.inputs]
        params = {k: (np.dtype(np.float64).name if k == "dtype" and _is_f32(v) else v)
                  for k, v in n.params.items()}
        try:
            v = apply(n.op, ins, **params)
        except (TypeError, ValueError):
            # the op refuses float64 here: run it in its own dtypes
            ins = [astype(a, b.dtype) for a, b in zip(ins, n.inputs)]
            v = apply(n.op, ins, **n.params)
        v.name = n.name
        new[n.id] = v
    return new


def _is_f32(v) -> bool:
    try:
        return np.dtype(v) == np.float32
    except TypeError:
        return False


def _check_value(v: Var, value, sizes: dict) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"check_grad: the value for {describe(v)} has dtype {arr.dtype}")
    if arr.ndim != v.ndim:
        raise ValueError(f"check_grad: {describe(v)} has {v.ndim} dimensions; its value has "
                         f"shape {arr.shape}")
    for d, s in zip(v.type.shape, arr.shape):
        if isinstance(d, int) and d != s:
            raise ValueError(f"check_grad: {describe(v)} has shape "
                             f"{format_shape(v.type.shape)}; its value has shape {arr.shape}")
        if isinstance(d, str):
            if sizes.setdefault(d, s) != s:
                raise ValueError(f"check_grad: size {d!r} is {sizes[d]} elsewhere but {s} in "
                                 f"the value for {describe(v)}")
    if v.type.is_float:
        return np.array(arr, dtype=np.float64)
    return np.array(arr, dtype=v.dtype)


def check_grad(cost, values=None, tol=1e-6, *, wrt=None, atol=1e-10, max_elements=64,
               directions=8, seed=0):
    """Compare ``sg.grad`` with two-sided finite differences, in float64.

    Parameters
    ----------
    cost : Var or Function
        A scalar float expression, or a compiled ``Function`` with exactly one output,
        a scalar (its output expression is checked; its updates are ignored).
    values : dict, optional
        ``{variable: value}`` for every input the cost reads; shared variables take their
        current ``.value`` unless given here. Variables the cost does not read may be
        given too (their gradient is zero, and so is their error). Values of float32 variables are used as
        float64 copies; nothing the caller owns is modified.
    tol : float
        The largest relative error accepted.
    wrt : variable or iterable of variables, optional
        The variables to check; by default every float input and shared variable the
        cost reads.
    atol : float
        Floor of the denominator of the relative error, so that a zero gradient measured
        as a rounding-level number does not count as a failure.
    max_elements : int
        Variables with at most this many elements are checked element by element; larger
        ones along ``directions`` random directions.
    directions : int
        Number of random directions for large variables.
    seed : int
        Seed of those directions.

    Returns
    -------
    dict
        ``{variable: relative error}`` with the error ``|a - b| / (|a| + |b|)`` of the
        analytic and numeric derivatives (vector norms over the elements or directions).

    Raises
    ------
    AssertionError
        Naming every variable whose error exceeds ``tol``, with the errors.

    Examples
    --------
    >>> import numpy as np, symgrad as sg
    >>> x = sg.vector("x", 3)
    >>> errs = sg.check_grad(sg.sum(sg.tanh(x) ** 2), {x: np.array([0.1, -0.5, 2.0])})
    >>> errs[x] < 1e-8
    True
    """
    from .function import Function, function
    from .autodiff import grad

    if isinstance(cost, Function):
        if len(cost.outputs) != 1:
            raise ValueError(f"check_grad: the function {cost.name!r} has "
                             f"{len(cost.outputs)} outputs; it needs exactly one scalar output")
        cost = cost.outputs[0]
    if not isinstance(cost, Var):
        raise TypeError(f"check_grad: expected a scalar variable or a compiled Function, got "
                        f"{type(cost).__name__}")
    if cost.ndim != 0 or not cost.type.is_float:
        raise ValueError(f"check_grad: the cost must be a float scalar, got {describe(cost)}")
    values = dict(values or {})
    order = toposort([cost])
    leaves = [n for n in order if n.op.leaf == "input" or isinstance(n, SharedVariable)]
    leaf_ids = {v.id for v in leaves}
    for k in values:
        if not isinstance(k, Var):
            raise TypeError(f"check_grad: the keys of values must be variables, got {k!r}")
        if k.op.leaf != "input" and not isinstance(k, SharedVariable):
            raise ValueError(f"check_grad: {describe(k)} is computed from other variables; "
                             "values may only name inputs and shared variables")
        if k.id not in leaf_ids:  # not read by the cost: its gradient is exactly zero
            leaves.append(k)
            leaf_ids.add(k.id)
    sizes: dict = {}
    arrays: list[np.ndarray] = []
    for v in leaves:
        if v in values:
            arrays.append(_check_value(v, values[v], sizes))
        elif isinstance(v, SharedVariable):
            arrays.append(_check_value(v, v.value, sizes))
        else:
            raise ValueError(f"check_grad: no value given for input {describe(v)}")

    if wrt is None:
        targets = [v for v in leaves if v.type.is_float]
    else:
        targets = [wrt] if isinstance(wrt, Var) else list(wrt)
        for t in targets:
            if not isinstance(t, Var) or t.id not in leaf_ids:
                raise ValueError(f"check_grad: wrt must list inputs or shared variables the "
                                 f"cost reads; got {t!r}")
            if not t.type.is_float:
                raise TypeError(f"check_grad: {describe(t)} is not a float variable")
    # float64 copies of the leaves, as plain inputs with the values' concrete shapes
    new_leaves, taken = {}, set()
    for k, (v, a) in enumerate(zip(leaves, arrays)):
        name = v.name if (v.name and v.name.isidentifier() and v.name not in taken) else None
        name = name or f"arg{k}"
        taken.add(name)
        new_leaves[v.id] = Var(INPUT, (), {}, _type_of(a), name=name)
    new = _promote(order, new_leaves)
    cost64 = new[cost.id]
    if cost64.dtype != np.float64:
        cost64 = astype(cost64, np.float64)
    ins = [new_leaves[v.id] for v in leaves]
    targets64 = [new_leaves[t.id] for t in targets]
    f_cost = function(ins, cost64, name="check_cost")
    f_grad = function(ins, list(grad(cost64, targets64)), name="check_grad")
    analytic = f_grad(*arrays)

    rng = np.random.default_rng(seed)
    errors: dict[Var, float] = {}
    details = {}
    for t, g in zip(targets, analytic):
        pos = [k for k, v in enumerate(leaves) if v is t][0]
        x0 = arrays[pos]
        g = np.asarray(g, dtype=np.float64)
        if x0.size <= max_elements:
            dirs = [np.eye(1, x0.size, k).reshape(x0.shape) for k in range(x0.size)]
        else:
            dirs = [rng.standard_normal(x0.shape) for _ in range(directions)]
            dirs = [d / np.linalg.norm(d) for d in dirs]
        a, b = [], []
        for d in dirs:
            scale = max(1.0, float(np.sqrt(np.mean(np.square(x0[d != 0])))))

            def along(h, d=d):
                args = list(arrays)
                args[pos] = x0 + h * d
                with np.errstate(all="ignore"):
                    return float(f_cost(*args))

            est, _ = numeric_derivative(along, 1e-2 * scale)
            a.append(float(np.sum(g * d)))
            b.append(est)
        a, b = np.array(a), np.array(b)
        if not len(a):
            errors[t] = 0.0
            continue
        diff = float(np.linalg.norm(a - b))
        denom = max(float(np.linalg.norm(a) + np.linalg.norm(b)), atol)
        errors[t] = diff / denom if np.isfinite(diff) else float("inf")
        worst = int(np.argmax(np.abs(a - b))) if np.isfinite(diff) else 0
        details[t] = (worst, a[worst], b[worst], x0.shape if x0.size <= max_elements else None)
    bad = [t for t in targets if not errors[t] <= tol]
    if bad:
        lines = []
        for t in bad:
            worst, av, bv, shape = details.get(t, (0, np.nan, np.nan, None))
            where = (f"element {tuple(int(i) for i in np.unravel_index(worst, shape))}"
                     if shape is not None else f"random direction {worst}")
            lines.append(f"  {describe(t)}: relative error {errors[t]:.3g} (worst at {where}: "
                         f"symbolic {av:.10g}, numeric {bv:.10g})")
        raise AssertionError(f"check_grad: gradient mismatch above tol={tol:g} for "
                             f"{', '.join(str(t) for t in bad)}\n" + "\n".join(lines))
    return errors


def _type_of(a: np.ndarray):
    from .ir.types import TensorType
    return TensorType(a.dtype, tuple(int(s) for s in a.shape))
