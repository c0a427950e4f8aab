"""Compiling never changes the user's graph, variables are immutable, and the compile
cache tells ops apart by identity (a redefined op is another op)."""

from __future__ import annotations

import numpy as np
import pytest

import symgrad as sg
from symgrad.ir.graph import toposort


def _snapshot(roots):
    return [(n.id, n.name, n.tag, n.op, n.inputs, n.type, dict(n.params))
            for n in toposort(roots)]


OPTIONS = [dict(), dict(optimize=False), dict(check_finite=True)]


@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_compiling_leaves_every_node_as_it_was(options):
    o, t = sg.vector("o", 3), sg.vector("t", 3)
    diff = o - t
    E = 0.5 * sg.sum(diff ** 2)
    gE = sg.grad(E, o)
    before = _snapshot([E, gE])
    f = sg.function([o, t], {"loss": E, "grad": gE, "extra": diff * 2.0}, **options)
    assert _snapshot([E, gE]) == before
    assert diff.name is None
    # the same graph compiled again is found in the cache
    g = sg.function([o, t], {"loss": E, "grad": gE, "extra": diff * 2.0}, **options)
    assert g.cache_hit
    out = g(np.array([1.0, 2.0, 3.0]), np.zeros(3))
    np.testing.assert_allclose(out["grad"], [1.0, 2.0, 3.0])


def test_unoptimized_source_after_optimized_compile_names_forward_values_plainly():
    o, t = sg.vector("o", 3), sg.vector("t", 3)
    E = 0.5 * sg.sum((o - t) ** 2)
    sg.function([o, t], [E, sg.grad(E, o)])
    plain = sg.function([o, t], [E, sg.grad(E, o)], optimize=False).source
    forward = plain.split("# ---- backward")[0]
    assert "d_o" not in forward


def test_training_step_compile_keeps_graph():
    rng = np.random.default_rng(0)
    x = sg.tensor("x", shape=("batch", 4))
    y = sg.tensor("y", shape=("batch",), dtype="int64")
    net = sg.nn.mlp([4, 5, 3])
    loss = sg.nn.cross_entropy(net(x), y)
    updates = sg.optim.momentum(loss, net.params, 0.1)
    roots = [loss] + list(updates.values())
    before = _snapshot(roots)
    sg.function([x, y], loss, updates=updates)
    sg.function([x, y], {"loss": loss}, updates=updates, optimize=False)
    assert _snapshot(roots) == before
    assert sg.function([x, y], loss, updates=updates).cache_hit
    del rng


@pytest.mark.parametrize("field", ["op", "inputs", "params", "type", "id"])
def test_variables_are_immutable(field):
    x = sg.vector("x", 2)
    y = sg.exp(x)
    with pytest.raises(AttributeError, match="cannot be changed"):
        setattr(y, field, getattr(x, field))
    # names stay metadata that may be set
    y.name = "y"
    assert y.name == "y"


def test_redefined_op_is_not_served_from_the_cache():
    x = sg.scalar("x")
    op = sg.defop("test_cache_trig", infer=lambda types: types[0], emit="np.sin({0})",
                  elementwise=True, replace=True)
    assert float(sg.function([x], sg.ops.apply(op, [x]))(0.0)) == 0.0
    op2 = sg.defop("test_cache_trig", infer=lambda types: types[0], emit="np.cos({0})",
                   elementwise=True, replace=True)
    g = sg.function([x], sg.ops.apply(op2, [x]))
    assert not g.cache_hit
    assert float(g(0.0)) == 1.0


def test_cse_does_not_merge_an_op_with_its_redefinition():
    x = sg.scalar("x")
    a = sg.defop("test_cse_trig", infer=lambda types: types[0], emit="np.sin({0})",
                 elementwise=True, replace=True)
    ya = sg.ops.apply(a, [x])
    b = sg.defop("test_cse_trig", infer=lambda types: types[0], emit="np.cos({0})",
                 elementwise=True, replace=True)
    yb = sg.ops.apply(b, [x])
    f = sg.function([x], [ya, yb])
    np.testing.assert_allclose([float(v) for v in f(0.0)], [0.0, 1.0])
