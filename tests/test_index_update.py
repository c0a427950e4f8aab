"""Functional index updates, JAX's spelling: ``x.at[idx].set(v)``, ``.add(v)``,
``.multiply(v)`` (symgrad/ops/manip.py).

Values against NumPy on copies (``out[idx] = v``, ``np.add.at``, ``np.multiply.at``),
gradients against finite differences, the conventions at repeated indices, and the
errors."""

from __future__ import annotations

import numpy as np
import pytest
from op_table import _mul_at as _mul
from op_table import _set_at as _set

import symgrad as sg


def _add(x, idx, v):
    out = x.copy()
    np.add.at(out, idx, v)
    return out


REFS = {"set": _set, "add": _add, "multiply": _mul}
RNG = np.random.default_rng(15)

# (x shape, index, v shape): basic, integer arrays (distinct and repeated, negative),
# mixed, a constant boolean mask, broadcast values
CASES = [
    ((5,), 2, ()),
    ((5,), slice(1, 4), (3,)),
    ((5,), np.array([4, 0, 2]), (3,)),
    ((5,), np.array([0, 2, 0, -1, 2]), (5,)),
    ((3, 4), (slice(None), np.array([1, 1, 3])), (3, 3)),
    ((3, 4), (np.array([0, 2, 0]), np.array([1, 3, 1])), (3,)),
    ((3, 4), (np.array([[0], [2]]), slice(1, 3)), (2, 1, 2)),
    ((3, 4), np.array([[True, False, True, False], [False] * 4, [True, True, False, True]]),
     (5,)),
    ((3, 4), (Ellipsis, np.array([True, False, False, True])), (1, 2)),
    ((2, 3, 4), (1, np.array([0, 2, 2]), slice(None, None, 2)), (3, 2)),
    ((2, 3, 4), (np.array([1, 0, 1]), slice(None), np.array([3, 3, 3])), (3,)),
]


def _ids(case):
    return f"{case[0]}-{type(case[1]).__name__}-{case[2]}"


@pytest.mark.parametrize("how", ["set", "add", "multiply"])
@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_values_and_gradients(case, how):
    xshape, idx, vshape = case
    x, v = sg.tensor("x", xshape), sg.tensor("v", vshape)
    xv = RNG.uniform(0.5, 2.0, xshape) * RNG.choice([-1, 1], xshape)
    vv = RNG.uniform(0.5, 2.0, vshape) * RNG.choice([-1, 1], vshape)
    y = getattr(x.at[idx], how)(v)
    assert y.type.shape == xshape
    got = sg.function([x, v], y)(xv, vv)
    np.testing.assert_allclose(got, REFS[how](xv, idx, vv), rtol=1e-14)
    np.testing.assert_array_equal(xv, xv.copy())           # x itself is never written
    w = RNG.normal(size=xshape)
    cost = sg.sum(sg.sin(y) * w)
    errors = sg.check_grad(cost, {x: xv, v: vv})
    assert max(errors.values()) < 1e-6, errors
    # second order: the Hessian-vector product against differences of the gradient
    gx, gv = sg.grad(cost, [x, v])
    d = [RNG.normal(size=xshape), RNG.normal(size=vshape)]
    s = sg.sum(gx * d[0]) + sg.sum(gv * d[1])
    errors = sg.check_grad(s, {x: xv, v: vv})
    assert max(errors.values()) < 1e-6, errors


def test_set_gradient_convention():
    # x's cotangent is zero where written; v's is the cotangent of its position
    x, v = sg.vector("x", 4), sg.vector("v", 2)
    y = x.at[np.array([3, 1])].set(v)
    gx, gv = sg.function([x, v], sg.grad(sg.sum(y * np.array([1.0, 2, 3, 4])), [x, v]))(
        np.zeros(4), np.zeros(2))
    np.testing.assert_array_equal(gx, [1, 0, 3, 0])
    np.testing.assert_array_equal(gv, [4, 2])


def test_set_repeated_positions_the_write_that_stays_gets_the_gradient():
    # NumPy keeps one of the writes at a repeated position (the last, in practice); only
    # that entry of v reaches the output, so only it has a derivative
    x, v = sg.vector("x", 3), sg.vector("v", 4)
    idx = np.array([1, 0, 1, 1])
    y = x.at[idx].set(v)
    xv, vv = np.array([1.0, 2.0, 3.0]), np.array([5.0, 6.0, 7.0, 8.0])
    np.testing.assert_array_equal(sg.function([x, v], y)(xv, vv), _set(xv, idx, vv))
    gv = sg.function([x, v], sg.grad(sg.sum(y * np.array([1.0, 10.0, 100.0])), v))(xv, vv)
    stays = _set(np.zeros(3, dtype=int) - 1, idx, np.arange(4))
    want = np.zeros(4)
    want[stays[stays >= 0]] = np.array([1.0, 10.0, 100.0])[stays >= 0]
    np.testing.assert_array_equal(gv, want)
    assert gv.sum() == 11.0 and (gv != 0).sum() == 2


def test_set_repeated_positions_from_data():
    x, v, i = sg.vector("x", 3), sg.vector("v", 3), sg.vector("i", 3, dtype="int64")
    y = x.at[i].set(v)
    f = sg.function([x, v, i], [y, *sg.grad(sg.sum(y * np.array([1.0, 10.0, 100.0])),
                                              [x, v])])
    out, gx, gv = f(np.ones(3), np.array([4.0, 5.0, 6.0]), np.array([2, -1, 0]))
    np.testing.assert_array_equal(out, [6.0, 1.0, 5.0])
    np.testing.assert_array_equal(gx, [0, 10, 0])
    assert gv.tolist() in ([0.0, 100.0, 1.0], [100.0, 0.0, 1.0])  # one write to 2 stays


def test_add_accumulates_repeated_positions():
    x, v = sg.vector("x", 3), sg.vector("v", 4)
    idx = np.array([2, 2, 0, 2])
    y = x.at[idx].add(v)
    f = sg.function([x, v], [y, *sg.grad(sg.sum(y * np.array([1.0, 10.0, 100.0])), [x, v])])
    out, gx, gv = f(np.zeros(3), np.array([1.0, 2.0, 3.0, 4.0]))
    np.testing.assert_array_equal(out, [3.0, 0.0, 7.0])
    np.testing.assert_array_equal(gx, [1, 10, 100])
    np.testing.assert_array_equal(gv, [100, 100, 1, 100])


def test_multiply_product_rule_at_repeated_positions_and_zeros():
    # out[0] = x0 * v0 * v2: d/dv0 = x0 * v2, exact where v2 == 0 (no division)
    x, v = sg.vector("x", 2), sg.vector("v", 3)
    y = x.at[np.array([0, 1, 0])].multiply(v)
    xv, vv = np.array([3.0, 5.0]), np.array([2.0, 7.0, 0.0])
    f = sg.function([x, v], [y, *sg.grad(sg.sum(y), [x, v])])
    out, gx, gv = f(xv, vv)
    np.testing.assert_array_equal(out, _mul(xv, np.array([0, 1, 0]), vv))
    np.testing.assert_array_equal(gx, [0.0, 7.0])
    np.testing.assert_array_equal(gv, [0.0, 5.0, 6.0])
    h = sg.function([x, v], sg.hessian(sg.sum(y), v))(xv, vv)
    np.testing.assert_array_equal(h, [[0, 0, 3], [0, 0, 0], [3, 0, 0]])


def test_multiply_with_data_indices_needs_distinct_positions():
    x, v = sg.vector("x", 4), sg.vector("v", 2)
    i = sg.vector("i", 2, dtype="int64")
    with pytest.raises(ValueError, match="multiply.*may name a position twice"):
        x.at[i].multiply(v)
    j = sg.scalar("j", dtype="int64")          # a single position is always distinct
    y = x.at[j].multiply(3.0)
    np.testing.assert_array_equal(sg.function([x, j], y)(np.ones(4), 2), [1, 1, 3, 1])


def test_values_broadcast_and_cast():
    x = sg.matrix("x", (2, 3))
    y = x.at[:, 1].set(7)                      # a Python int, cast to x's dtype
    np.testing.assert_array_equal(sg.function([x], y)(np.zeros((2, 3))), [[0, 7, 0]] * 2)
    n = sg.vector("n", 3, dtype="int32")
    z = n.at[0].add(2)
    assert z.dtype == np.int32
    np.testing.assert_array_equal(sg.function([n], z)(np.arange(3, dtype=np.int32)),
                                  [2, 1, 2])


def test_index_data_out_of_range_is_an_error_naming_it():
    x, v = sg.vector("x", 3), sg.vector("v", 2)
    i = sg.vector("i", 2, dtype="int64")
    f = sg.function([x, v, i], x.at[i].set(v))
    with pytest.raises(IndexError, match="'i'.*value 3 is out of range"):
        f(np.zeros(3), np.zeros(2), np.array([0, 3]))
    with pytest.raises(IndexError, match="out of bounds"):
        x.at[np.array([0, 5])].add(1.0)


def test_bad_values_are_refused_while_building():
    x = sg.matrix("x", (3, 4))
    with pytest.raises(sg.ShapeError, match="do not broadcast"):
        x.at[0].set(sg.vector("v", 3))
    with pytest.raises(IndexError, match="boolean index"):
        x.at[np.array([True, False])].set(0.0)


def test_get_is_indexing():
    x = sg.vector("x", 4)
    np.testing.assert_array_equal(sg.function([x], x.at[1:3].get())(np.arange(4.0)), [1, 2])


def test_generated_source_reads_as_numpy():
    x, v = sg.vector("x", 5), sg.vector("v", 2)
    f = sg.function([x, v], x.at[np.array([1, 3])].set(v), name="write")
    assert "_index_set(x, np.s_[" in f.source
