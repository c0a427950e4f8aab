"""Optimizers: functions that return an ``updates`` dict for ``sg.function``.

Each takes the loss (a scalar variable, differentiated here with ``sg.grad``) or the
gradients (a list in the order of ``params``, or a dict from parameter to gradient), the
parameters (shared variables, or an object with a ``.params`` list such as ``sg.nn.mlp``)
and its hyperparameters, and returns ``{shared variable: new value}`` for the parameters
and for the optimizer's own state (velocities, moment estimates, a step counter), which it
creates as shared variables initialised to zero and named after the parameters
(``W1_velocity``...). The learning rate may be a number or a symbolic scalar (an input of
the compiled function, for schedules).

``weight_decay=λ`` adds ``λ W`` to every gradient before the rule is applied (L2
regularisation of ``λ/2 ||W||²``, as PyTorch's ``weight_decay``).

Examples
--------
>>> import numpy as np, symgrad as sg
>>> w = sg.shared(np.array([1.0, -2.0]), name="w")
>>> step = sg.function([], (w ** 2).sum(), updates=sg.optim.sgd((w ** 2).sum(), [w], lr=0.25))
>>> _ = step(); w.value
array([ 0.5, -1. ])
"""

from __future__ import annotations

import numbers

import numpy as np

from .autodiff import grad
from .backend import as_library, zeros_like
from .ir.node import SharedVariable, Var
from .ops import sqrt
from .ops.leaves import as_var, shared
from .ops.registry import describe

__all__ = ["sgd", "momentum", "nesterov", "rmsprop", "adam"]


def _params(params, where: str) -> list[SharedVariable]:
    if hasattr(params, "params") and not isinstance(params, Var):
        params = params.params
    if isinstance(params, SharedVariable):
        params = [params]
    if not isinstance(params, (list, tuple)) or not params:
        raise TypeError(f"{where}: params must be a non-empty list of shared variables, got "
                        f"{params!r}")
    seen = set()
    for p in params:
        if not isinstance(p, SharedVariable):
            raise TypeError(f"{where}: every parameter must be a shared variable (sg.shared), "
                            f"got {p!r}")
        if p.dtype.kind != "f":
            raise TypeError(f"{where}: parameter {describe(p)} is not a float variable")
        if p.id in seen:
            raise ValueError(f"{where}: parameter {describe(p)} is listed twice")
        seen.add(p.id)
    return list(params)


def _number(value, name: str, where: str, low=0.0, high=None, low_open=False):
    if isinstance(value, Var):
        if value.ndim != 0 or value.dtype.kind != "f":
            raise TypeError(f"{where}: {name} must be a number or a float scalar variable, "
                            f"got {describe(value)}")
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where}: {name} must be a number, got {value!r}")
    v = float(value)
    bad = not np.isfinite(v) or v < low or (low_open and v == low) or (
        high is not None and v >= high)
    if bad:
        rng = f"{'(' if low_open else '['}{low}, {high if high is not None else 'inf'})"
        raise ValueError(f"{where}: {name} must be in {rng}, got {value!r}")
    return v


def _gradients(loss_or_grads, params, weight_decay, where: str) -> list[Var]:
    """The gradients of the parameters, with the weight-decay term added."""
    if isinstance(loss_or_grads, Var):
        if loss_or_grads.ndim != 0:
            raise ValueError(f"{where}: the loss must be a scalar, got {describe(loss_or_grads)}"
                             "; pass a list of gradients instead")
        grads = grad(loss_or_grads, params)
    elif isinstance(loss_or_grads, dict):
        missing = [p.name for p in params if p not in loss_or_grads]
        if missing:
            raise ValueError(f"{where}: no gradient given for parameters {missing}")
        grads = [loss_or_grads[p] for p in params]
    elif isinstance(loss_or_grads, (list, tuple)):
        if len(loss_or_grads) != len(params):
            raise ValueError(f"{where}: {len(loss_or_grads)} gradients for {len(params)} "
                             "parameters")
        grads = list(loss_or_grads)
    else:
        raise TypeError(f"{where}: expected a scalar loss, a list of gradients or a dict "
                        f"from parameter to gradient, got {type(loss_or_grads).__name__}")
    out = []
    for p, g in zip(params, grads):
        g = as_var(g, p)
        if g.ndim != p.ndim:
            raise ValueError(f"{where}: the gradient of {describe(p)} is {describe(g)}")
        if weight_decay:
            g = g + weight_decay * p
        out.append(g)
    return out


def _state(p: SharedVariable, suffix: str) -> SharedVariable:
    return shared(zeros_like(p.get_value(borrow=True)), name=f"{p.name or 'param'}_{suffix}")


def sgd(loss_or_grads, params, lr=0.01, weight_decay=0.0) -> dict:
    """W <- W - lr g  (plain gradient descent).

    Parameters
    ----------
    loss_or_grads : scalar loss, list of gradients (in ``params`` order) or dict.
    params : shared variables (or an object with ``.params``).
    lr : learning rate (number or float scalar variable).
    weight_decay : adds ``weight_decay * W`` to each gradient.

    Returns
    -------
    dict mapping each parameter to its new value.
    """
    where = "sgd"
    params = _params(params, where)
    lr = _number(lr, "lr", where)
    wd = _number(weight_decay, "weight_decay", where)
    grads = _gradients(loss_or_grads, params, wd, where)
    return {p: p - lr * g for p, g in zip(params, grads)}


def momentum(loss_or_grads, params, lr=0.01, beta=0.9, weight_decay=0.0) -> dict:
    """V <- beta V + g;  W <- W - lr V  (heavy ball, as in the lecture notes).

    ``V`` (one per parameter, named ``<W>_velocity``) starts at zero. Other parameters as
    ``sgd``; ``beta`` in [0, 1).
    """
    return _velocity_step("momentum", loss_or_grads, params, lr, beta, weight_decay,
                          lookahead=False)


def nesterov(loss_or_grads, params, lr=0.01, beta=0.9, weight_decay=0.0) -> dict:
    """V <- beta V + g;  W <- W - lr (g + beta V)  (Nesterov momentum, in the form of
    Sutskever et al. that PyTorch uses: the step looks ahead along the new velocity).

    ``V`` (named ``<W>_velocity``) starts at zero. Other parameters as ``momentum``.
    """
    return _velocity_step("nesterov", loss_or_grads, params, lr, beta, weight_decay,
                          lookahead=True)


def _velocity_step(where, loss_or_grads, params, lr, beta, weight_decay, lookahead) -> dict:
    """The updates of momentum (``lookahead=False``) and Nesterov momentum."""
    params = _params(params, where)
    lr = _number(lr, "lr", where)
    beta = _number(beta, "beta", where, 0.0, 1.0)
    wd = _number(weight_decay, "weight_decay", where)
    grads = _gradients(loss_or_grads, params, wd, where)
    updates = {}
    for p, g in zip(params, grads):
        v = _state(p, "velocity")
        v_new = beta * v + g
        updates[v] = v_new
        updates[p] = p - lr * ((g + beta * v_new) if lookahead else v_new)
    return updates


def rmsprop(loss_or_grads, params, lr=0.001, rho=0.9, eps=1e-8, weight_decay=0.0) -> dict:
    """S <- rho S + (1 - rho) g²;  W <- W - lr g / (sqrt(S) + eps)  (RMSProp).

    ``S`` (named ``<W>_sq_avg``) starts at zero. ``rho`` in [0, 1), ``eps`` > 0; other
    parameters as ``sgd``.
    """
    where = "rmsprop"
    params = _params(params, where)
    lr = _number(lr, "lr", where)
    rho = _number(rho, "rho", where, 0.0, 1.0)
    eps = _number(eps, "eps", where, 0.0, low_open=True)
    wd = _number(weight_decay, "weight_decay", where)
    grads = _gradients(loss_or_grads, params, wd, where)
    updates = {}
    for p, g in zip(params, grads):
        s = _state(p, "sq_avg")
        s_new = rho * s + (1.0 - rho) * (g * g)
        updates[s] = s_new
        updates[p] = p - lr * g / (sqrt(s_new) + eps)
    return updates


def adam(loss_or_grads, params, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8,
         weight_decay=0.0) -> dict:
    """t <- t + 1;  M <- beta1 M + (1 - beta1) g;  V <- beta2 V + (1 - beta2) g²;
    W <- W - lr (M / (1 - beta1^t)) / (sqrt(V / (1 - beta2^t)) + eps)  (Adam).

    ``M`` and ``V`` (named ``<W>_m`` and ``<W>_v``) and the step count ``t`` (a shared
    scalar ``adam_t``, in the parameters' float type) start at zero. ``beta1`` and
    ``beta2`` in [0, 1), ``eps`` > 0; other parameters as ``sgd``.
    """
    where = "adam"
    params = _params(params, where)
    lr = _number(lr, "lr", where)
    b1 = _number(beta1, "beta1", where, 0.0, 1.0)
    b2 = _number(beta2, "beta2", where, 0.0, 1.0)
    eps = _number(eps, "eps", where, 0.0, low_open=True)
    wd = _number(weight_decay, "weight_decay", where)
    grads = _gradients(loss_or_grads, params, wd, where)
    dtype = np.result_type(*[p.dtype for p in params])
    t = shared(as_library(np.zeros((), dtype), params[0].get_value(borrow=True)), name="adam_t")
    t_new = t + 1.0
    updates = {t: t_new}
    # bias corrections, shared by all parameters
    c1 = 1.0 - b1 ** t_new
    c2 = 1.0 - b2 ** t_new
    for p, g in zip(params, grads):
        m = _state(p, "m")
        v = _state(p, "v")
        m_new = b1 * m + (1.0 - b1) * g
        v_new = b2 * v + (1.0 - b2) * (g * g)
        updates[m] = m_new
        updates[v] = v_new
        updates[p] = p - lr * (m_new / c1) / (sqrt(v_new / c2) + eps)
    return updates
