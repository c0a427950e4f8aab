"""Every row of the op table (tests/op_table.py) through the same checks, in float64:

* forward values against NumPy, compiled with and without the optimizer (dtype and shape
  included);
* the VJP against two-sided finite differences of a random projection
  ``d/dt <r, f(x + t v)>`` (Richardson-extrapolated central differences);
* the JVP (``sg.jvp``) against finite differences of ``f(x + t v)``;
* second order: the gradient of ``<u, vjp(r)>`` against finite differences;
* for elementwise ops with a SymPy form: the VJP rule against ``sympy.diff`` of that form;
* coverage: every registered op has a row (or a reason in ``EXCLUDED``).
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import sympy

import symgrad as sg
from symgrad.ir.graph import toposort
from symgrad.ops.registry import REGISTRY, Expr, apply

from op_table import EXCLUDED, ROWS

TOL = 1e-6
ids = [r.name for r in ROWS]


def _build(row):
    xs = row.variables()
    out = sg.ops.as_var(row.build(*xs))
    return xs, out


def _float_positions(row, xs):
    return [k for k, x in enumerate(xs) if x.type.is_float]


def _differentiable(row, xs, out):
    return row.grad and out.type.is_float and bool(_float_positions(row, xs))


def _rel(a, b) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    den = np.linalg.norm(a) + np.linalg.norm(b)
    return 0.0 if den < 1e-12 else float(np.linalg.norm(a - b) / den)


def _directional(F, vals, positions, dirs, h=1e-3):
    """d/dt F(vals + t * dirs) at t = 0: central differences, Richardson-extrapolated."""
    def at(t):
        moved = list(vals)
        for k, d in zip(positions, dirs):
            moved[k] = vals[k] + t * d
        return np.asarray(F(moved), dtype=float)
    d1 = (at(h) - at(-h)) / (2 * h)
    d2 = (at(h / 2) - at(-h / 2)) / h
    return (4 * d2 - d1) / 3


def _setup_grad(row):
    xs, out = _build(row)
    if not _differentiable(row, xs, out):
        pytest.skip("no float output or float input: nothing to differentiate")
    vals = row.arrays()
    rng = np.random.default_rng(7)
    f0 = sg.function(xs, out)
    y = f0(*vals)
    pos = _float_positions(row, xs)
    r = rng.normal(size=np.shape(y))
    dirs = [rng.normal(size=np.shape(vals[k])) for k in pos]
    return xs, out, vals, f0, pos, r, dirs, rng


# ---------------------------------------------------------------------------------------
# forward values
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("optimize", [True, False], ids=["opt", "noopt"])
@pytest.mark.parametrize("row", ROWS, ids=ids)
def test_forward(row, optimize):
    xs, out = _build(row)
    vals = row.arrays()
    got = sg.function(xs, out, optimize=optimize)(*vals)
    want = np.asarray(row.ref(*vals))
    got = np.asarray(got)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    assert out.dtype == want.dtype, f"declared {out.type}, NumPy gives {want.dtype}"
    if want.dtype.kind in "biu":
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=row.rtol, atol=1e-12)


# ---------------------------------------------------------------------------------------
# reverse mode, forward mode, second order
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("row", ROWS, ids=ids)
def test_vjp(row):
    xs, out, vals, f0, pos, r, dirs, _ = _setup_grad(row)
    grads = sg.vjp(out, [xs[k] for k in pos], r)
    got = sg.function(xs, grads)(*vals)
    for g, k in zip(got, pos):
        assert np.shape(g) == np.shape(vals[k])
    if out.op.nondiff:  # no gradient flows through: exact zeros
        for g in got:
            np.testing.assert_array_equal(g, 0)
        return
    analytic = sum(float(np.sum(g * d)) for g, d in zip(got, dirs))
    numeric = float(_directional(lambda v: np.sum(r * f0(*v)), vals, pos, dirs))
    assert _rel(analytic, numeric) < TOL, (analytic, numeric)


@pytest.mark.skipif(not hasattr(sg, "jvp"), reason="sg.jvp is not available yet")
@pytest.mark.parametrize("row", ROWS, ids=ids)
def test_jvp(row):
    xs, out, vals, f0, pos, r, dirs, _ = _setup_grad(row)
    tangent = sg.jvp(out, [xs[k] for k in pos], dirs)
    got = np.asarray(sg.function(xs, tangent)(*vals))
    assert got.shape == np.shape(f0(*vals))
    if out.op.nondiff:
        np.testing.assert_array_equal(got, 0)
        return
    numeric = _directional(lambda v: f0(*v), vals, pos, dirs)
    assert _rel(got, numeric) < TOL, (got, numeric)


@pytest.mark.parametrize("row", [r for r in ROWS if r.second_order], ids=[
    r.name for r in ROWS if r.second_order])
def test_second_order(row):
    xs, out, vals, f0, pos, r, dirs, rng = _setup_grad(row)
    if out.op.nondiff:
        pytest.skip("no gradient flows through this op")
    wrt = [xs[k] for k in pos]
    grads = sg.vjp(out, wrt, r)
    u = [rng.normal(size=np.shape(vals[k])) for k in pos]
    s = sg.add(0.0, sum(sg.sum(g * uk) for g, uk in zip(grads, u)))
    hess_v = sg.grad(s, wrt)
    f2 = sg.function(xs, [s] + list(hess_v))
    got = f2(*vals)
    analytic = sum(float(np.sum(h * d)) for h, d in zip(got[1:], dirs))
    numeric = float(_directional(lambda v: f2(*v)[0], vals, pos, dirs))
    assert _rel(analytic, numeric) < TOL, (analytic, numeric)


# ---------------------------------------------------------------------------------------
# elementwise rules against SymPy
# ---------------------------------------------------------------------------------------

def _sympy_case(row):
    """(op, args, params) when the row's output is an elementwise op with a SymPy form
    applied directly to the row's variables and scalar constants; else None."""
    xs, out = _build(row)
    op = out.op
    if not (op.elementwise and op.sympy is not None and not op.nondiff and row.grad):
        return None
    ids_ = {x.id: k for k, x in enumerate(xs)}
    args = []
    for inp in out.inputs:
        if inp.id in ids_:
            args.append(("var", ids_[inp.id]))
        elif inp.op.name == "constant" and inp.value.ndim == 0:
            args.append(("const", inp.value))
        else:
            return None
    if not any(a[0] == "var" and xs[a[1]].type.is_float for a in args):
        return None
    return op, args, out.params


SYMPY_ROWS = [r for r in ROWS if _sympy_case(r) is not None]
# SymPy functions NumPy lacks, for lambdify (the error function in gelu's derivative)
_SPECIAL = {"erf": np.vectorize(math.erf), "erfc": np.vectorize(math.erfc)}


@pytest.mark.parametrize("row", SYMPY_ROWS, ids=[r.name for r in SYMPY_ROWS])
def test_vjp_matches_sympy(row):
    op, args, params = _sympy_case(row)
    xs, out = _build(row)
    vals = row.arrays()
    shape = np.broadcast_shapes(*[np.shape(vals[a[1]]) for a in args if a[0] == "var"])
    # fresh inputs of the full output shape, so that the VJP with a cotangent of ones is
    # the elementwise derivative (no summing over broadcast axes)
    fresh, full_vals, syms, sym_args = [], [], [], []
    for kind, v in args:
        if kind == "var":
            x = sg.tensor(f"x{v}", shape, xs[v].dtype)
            fresh.append(x)
            full_vals.append(np.broadcast_to(vals[v], shape).copy())
            s = sympy.Symbol(f"x{v}") if x.dtype == np.bool_ else sympy.Symbol(
                f"x{v}", real=True)
            syms.append(s)
            sym_args.append(s)
        else:
            sym_args.append(sympy.sympify(v.item()))
    inputs, it = [], iter(fresh)
    for kind, v in args:
        inputs.append(next(it) if kind == "var" else sg.constant(v))
    node = apply(op, inputs, **params)
    expr = op.sympy(*sym_args, **params)
    float_vars = [x for x in fresh if x.type.is_float]
    grads = sg.vjp(node, float_vars, np.ones(shape))
    got = sg.function(fresh, grads)(*full_vals)
    for x, g in zip(float_vars, got):
        s = syms[fresh.index(x)]
        dexpr = sympy.diff(expr, s)
        if dexpr.has(sympy.Derivative):
            continue  # SymPy leaves it unevaluated (the slope of a jump function: Mod in b)
        d = sympy.lambdify(syms, dexpr, [_SPECIAL, "numpy"])
        want = np.broadcast_to(np.asarray(d(*full_vals), dtype=float), shape)
        np.testing.assert_allclose(g, want, rtol=1e-10, atol=1e-12,
                                   err_msg=f"d{op.name}/d{x.name} vs SymPy")


def test_every_elementwise_rule_is_checked_against_sympy():
    checked = {_sympy_case(r)[0].name for r in SYMPY_ROWS}
    want = {name for name, op in REGISTRY.items()
            if op.elementwise and op.sympy is not None and not op.nondiff
            and _in_symgrad(op)}
    assert not want - checked, f"no SymPy check (add a direct row): {sorted(want - checked)}"


# ---------------------------------------------------------------------------------------
# coverage of the registry
# ---------------------------------------------------------------------------------------

def _in_symgrad(op) -> bool:
    """Ops registered by symgrad itself (tests and users register their own)."""
    return getattr(op.infer, "__module__", "").startswith("symgrad")


def test_every_registered_op_has_a_row():
    covered = set()
    for r in ROWS:
        covered.update(r.ops)
    missing = sorted(name for name, op in REGISTRY.items()
                     if _in_symgrad(op) and name not in covered and name not in EXCLUDED)
    assert not missing, (f"registered ops without a row in tests/op_table.py: {missing}; "
                         "add a row (or an entry with a reason to EXCLUDED)")


def test_excluded_ops_are_registered():
    # a stale exclusion would hide a missing row once the name is reused
    assert not set(EXCLUDED) - set(REGISTRY), sorted(set(EXCLUDED) - set(REGISTRY))


@pytest.mark.parametrize("row", ROWS, ids=ids)
def test_row_exercises_its_ops(row):
    xs, out = _build(row)
    roots = [out]
    if _differentiable(row, xs, out) and not out.op.nondiff:
        roots += sg.vjp(out, [xs[k] for k in _float_positions(row, xs)],
                        np.ones(tuple(d if isinstance(d, int) else 2
                                      for d in out.type.shape)))
    seen = {n.op.name for n in toposort(roots)}
    assert set(row.ops) <= seen, f"{row.name} claims {sorted(set(row.ops) - seen)}"


# ---------------------------------------------------------------------------------------
# op facts (OpDef fields read by the passes, the code generator and the printers)
# ---------------------------------------------------------------------------------------

# view ops that are not a rearrangement of all of input 0's entries
_VIEWS_WITHOUT_ENTRIES = {"concat_part": "a slice of a concatenation: some entries only"}


def _row_nodes():
    """(row, node) for every non-leaf node the op table's rows build."""
    for row in ROWS:
        xs, out = _build(row)
        for n in toposort([out]):
            if not n.op.leaf:
                yield row, n


def _single_ufunc_call(text: str, n_args: int):
    """The ufunc name when ``text`` is exactly ``np.f(a0, ..., a{n-1})``, f a ufunc."""
    args = ", ".join(f"a{k}" for k in range(n_args))
    m = re.fullmatch(rf"np\.(\w+)\({re.escape(args)}\)", text)
    f = getattr(np, m.group(1), None) if m else None
    return m.group(1) if isinstance(f, np.ufunc) and f.nin == n_args else None


def test_every_op_states_its_facts():
    """A registered op lacking a fact that its definition implies fails here."""
    from symgrad.codegen.lower.statements import OUT_FORMS
    lowered = {pattern.op for pattern, _, _ in OUT_FORMS}
    missing = set()
    for row, n in _row_nodes():
        op = n.op
        if op.elementwise:
            text = op.emit([Expr(f"a{k}") for k in range(len(n.inputs))], **n.params).text
            f = _single_ufunc_call(text, len(n.inputs))
            if f is not None and op.ufunc != f:
                missing.add(f"{op.name}: emitted as np.{f}(...) but ufunc={op.ufunc!r}")
        if {"axis", "keepdims"} <= set(n.params) and op.reduction is None:
            missing.add(f"{op.name}: reduces over axis (keepdims) but reduction=None")
        if op.python_int and set(op.shape_only) != set(range(len(n.inputs))):
            missing.add(f"{op.name}: python_int but reads data of an input")
    for name, op in REGISTRY.items():
        if not _in_symgrad(op):
            continue
        if op.reduction in ("fold", "mean") and not isinstance(getattr(np, op.ufunc or "", None),
                                                               np.ufunc):
            missing.add(f"{name}: a {op.reduction} reduction needs the ufunc it reduces with")
        if op.view and op.entries is None and name not in _VIEWS_WITHOUT_ENTRIES:
            missing.add(f"{name}: a view says how it moves input 0's entries (entries=)")
        if (op.entries or op.identity) and op.linear != "first":
            missing.add(f"{name}: moving or keeping entries is linear in input 0")
        if op.identity and not op.elementwise:
            missing.add(f"{name}: an identity is elementwise")
        if op.writes and name not in lowered:
            missing.add(f"{name}: writes={op.writes!r} needs a statement lowering "
                        "(codegen/lower/statements.py) that writes in place")
    from symgrad.nn.layers import ACTIVATIONS
    for act in ACTIVATIONS.values():
        op = act is not None and (getattr(act, "op", None) or REGISTRY.get(act.__name__))
        if op and op.label is None:
            missing.add(f"{op.name}: an activation of sg.nn needs its comment label")
    assert all(REGISTRY[a].label == a for a in ("relu", "sigmoid", "tanh"))
    assert not missing, sorted(missing)


@pytest.mark.parametrize("row", [r for r in ROWS if any(REGISTRY[o].linear for o in r.ops)],
                         ids=lambda r: r.name)
def test_declared_linearity_holds(row):
    """``OpDef.linear`` is true of the op on the row's values: scaling the inputs it names
    by c scales the value by c (the learning-rate folding relies on it)."""
    xs, out = _build(row)
    pos_of = {x.id: k for k, x in enumerate(xs)}
    if out.op.name not in row.ops or not out.type.is_float \
            or not all(i.id in pos_of for i in out.inputs if i.type.is_float):
        pytest.skip("the row's output is not the op applied to its float inputs")
    float_ids = {x.id for x in xs if x.type.is_float}
    if any(not i.type.is_float and {n.id for n in toposort([i])} & float_ids
           for i in out.inputs):
        pytest.skip("an index computed from the scaled inputs is not held fixed (sort)")
    vals = row.arrays()
    f = sg.function(xs, out, optimize=False)
    ins = [pos_of.get(i.id) for i in out.inputs]
    lin = out.op.linear
    groups = {"first": [[0]], "jointly": [list(range(len(ins)))],
              "each": [[k] for k in range(len(ins))],
              "branches": [list(range(1, len(ins)))]}[lin]
    c = -2.0      # a power of two: scaling is exact, in float32 too
    y0 = np.asarray(f(*vals), dtype=float)
    for group in groups:
        scaled = {ins[k] for k in group if ins[k] is not None and out.inputs[k].type.is_float}
        if not scaled or (lin == "first" and ins.count(ins[0]) > 1):
            continue
        moved = [v * c if k in scaled else v for k, v in enumerate(vals)]
        y1 = np.asarray(f(*moved), dtype=float)
        np.testing.assert_allclose(y1, c * y0, rtol=1e-10, atol=1e-12,
                                   err_msg=f"{out.op.name} is not linear={lin!r} in {group}")


# ---------------------------------------------------------------------------------------
# conventions the table cannot show (exact values at the non-smooth points)
# ---------------------------------------------------------------------------------------

def _grad_at(fn, value):
    x = sg.tensor("x", np.shape(value))
    return sg.function([x], sg.grad(sg.sum(fn(x)), x))(np.asarray(value, dtype=float))


def test_subgradient_conventions():
    z = np.array([-1.0, 0.0, 2.0])
    np.testing.assert_array_equal(_grad_at(sg.relu, z), [0, 0, 1])
    np.testing.assert_array_equal(_grad_at(sg.abs, z), [-1, 0, 1])
    np.testing.assert_array_equal(_grad_at(sg.sign, z), [0, 0, 0])
    np.testing.assert_array_equal(_grad_at(lambda x: sg.leaky_relu(x, 0.1), z), [0.1, 0.1, 1])
    np.testing.assert_array_equal(_grad_at(lambda x: sg.maximum(x, 0.0), z), [0, 0.5, 1])
    np.testing.assert_array_equal(_grad_at(lambda x: sg.minimum(x, 0.0), z), [1, 0.5, 0])
    # clip passes the gradient where lo <= x <= hi, bounds included
    np.testing.assert_array_equal(_grad_at(lambda x: sg.clip(x, -1.0, 0.0), [-2, -1, -.5, 0, 1]),
                                  [0, 1, 1, 1, 0])
    # tied extrema share the gradient evenly
    np.testing.assert_array_equal(_grad_at(lambda x: x.max(), [1.0, 3.0, 3.0, 3.0]),
                                  [0, 1 / 3, 1 / 3, 1 / 3])
    np.testing.assert_array_equal(_grad_at(lambda x: x.min(axis=1),
                                           [[1.0, 1.0], [0.0, 2.0]]), [[.5, .5], [1, 0]])


def test_clip_bound_gradients():
    x, lo, hi = sg.vector("x"), sg.scalar("lo"), sg.scalar("hi")
    cost = sg.sum(sg.clip(x, lo, hi) * np.array([1.0, 2.0, 4.0, 8.0]))
    f = sg.function([x, lo, hi], sg.grad(cost, [x, lo, hi]))
    gx, glo, ghi = f(np.array([-3.0, -1.0, 0.5, 2.0]), -1.0, 1.0)
    np.testing.assert_array_equal(gx, [0, 2, 4, 0])
    assert (glo, ghi) == (1.0, 8.0)


def test_prod_gradient_with_zeros():
    # one zero: only that entry has a gradient (the product of the others); two zeros:
    # every gradient is zero
    np.testing.assert_array_equal(_grad_at(sg.prod, [2.0, 0.0, 3.0]), [0, 6, 0])
    np.testing.assert_array_equal(_grad_at(sg.prod, [0.0, 0.0, 3.0]), [0, 0, 0])
    np.testing.assert_array_equal(_grad_at(lambda x: x.prod(axis=1), [[0.0, 5.0], [2.0, 3.0]]),
                                  [[5, 0], [3, 2]])
    # the Hessian of x0*x1*x2 at a point with one zero
    x = sg.vector("x", 3)
    h = sg.function([x], sg.grad(sg.grad(sg.prod(x), x)[0], x))(np.array([2.0, 0.0, 3.0]))
    np.testing.assert_array_equal(h, [0, 3, 0])


def test_astype_gradient_is_cast_back():
    x = sg.vector("x", 3)
    w = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    g = sg.grad(sg.sum(sg.astype(x, "float32") * w), x)
    assert g.dtype == np.float64
    np.testing.assert_array_equal(sg.function([x], g)(np.zeros(3)), [1.0, 2.0, 3.0])


def test_argmax_is_not_differentiable_but_usable():
    x = sg.matrix("x", (3, 4))
    i = sg.argmax(x, axis=1)
    assert i.dtype == np.int64 and i.type.shape == (3,)
    picked = x[sg.arange(3), i]
    g = sg.function([x], sg.grad(sg.sum(picked), x))(np.eye(3, 4))
    np.testing.assert_array_equal(g, np.eye(3, 4))


def test_var_std_ddof():
    x = sg.matrix("x", (3, 4))
    v = np.random.default_rng(1).normal(size=(3, 4))
    f = sg.function([x], [sg.var(x, ddof=1), x.std(axis=1, ddof=2), x.var(axis=0)])
    got = f(v)
    np.testing.assert_allclose(got[0], v.var(ddof=1), rtol=1e-13)
    np.testing.assert_allclose(got[1], v.std(axis=1, ddof=2), rtol=1e-13)
    np.testing.assert_allclose(got[2], v.var(axis=0), rtol=1e-13)


def test_shape_errors_at_build_time():
    a, b = sg.matrix("a", (2, 3)), sg.matrix("b", (4, 5))
    with pytest.raises(sg.ShapeError, match="'a'.*'b'"):
        sg.tensordot(a, b, 1)
    with pytest.raises(sg.ShapeError, match="subscript 'j'"):
        sg.einsum("ij,jk->ik", a, b)
    with pytest.raises(ValueError, match="not in any operand"):
        sg.einsum("ij->k", a)
    with pytest.raises(ValueError, match="names 2 operands"):
        sg.einsum("ij,jk->ik", a)
    with pytest.raises(sg.ShapeError, match="'a'.*'b'"):
        sg.concatenate([a, b])
    with pytest.raises(sg.ShapeError, match="'a'.*'b'"):
        sg.stack([a, b])
    with pytest.raises(TypeError, match="labels must be integers"):
        sg.one_hot(a, 3)
    with pytest.raises(TypeError, match="fill_value"):
        sg.full((2,), a)
