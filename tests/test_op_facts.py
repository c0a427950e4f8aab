"""Op facts live on the op (``OpDef`` fields, set in its ``defop``), not in tests of op
names scattered over the passes, the code generator and the printers; patterns name ops
that exist; ``from_sympy`` reads the ops' SymPy forms backwards.

The completeness checks of the facts against the op table are in tests/test_ops_table.py.
"""

from __future__ import annotations

import pathlib
import re

import numpy as np
import pytest
import sympy

import symgrad as sg
from symgrad.ops.registry import REGISTRY, defop
from symgrad.rewrite import P, PVar, Rule, pvars
from symgrad.rewrite.pattern import PNode, first_match

ROOT = pathlib.Path(sg.__file__).parent

# the grep: ``grep -rnE 'op\.name (==|!=|in|not in) ' symgrad | grep -v symgrad/ops/``
NAME_TEST = re.compile(r"op\.name (==|!=|in|not in) ")
# the same test spelled differently
OTHER_SPELLINGS = re.compile(r"\.op is (not )?[A-Z_]+\b|getattr\([^)]*op[^)]*[\"']name[\"']\)"
                             r"|\.op\.name\.startswith|\.op\.name\]")
MAX_NAME_TESTS = 5


def _source_lines():
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT.parent).as_posix()
        if rel.startswith("symgrad/ops/"):
            continue
        lines = path.read_text().splitlines()
        for k, line in enumerate(lines):
            yield rel, k, line, lines


def test_op_name_tests_outside_the_ops_are_few_and_explained():
    hits = []
    for rel, k, line, lines in _source_lines():
        if NAME_TEST.search(line):
            # the reason: a comment on the line or just above it
            explained = "#" in line or (k > 0 and lines[k - 1].strip().startswith("#"))
            hits.append((f"{rel}:{k + 1}", explained))
    assert len(hits) <= MAX_NAME_TESTS, (
        f"{len(hits)} tests of op names outside symgrad/ops (at most {MAX_NAME_TESTS}): "
        f"{[h for h, _ in hits]}; make what they test a field of OpDef")
    unexplained = [h for h, ok in hits if not ok]
    assert not unexplained, f"op-name tests without a comment saying why: {unexplained}"


def test_no_op_name_tests_in_other_spellings():
    hits = [f"{rel}:{k + 1}: {line.strip()}" for rel, k, line, _ in _source_lines()
            if OTHER_SPELLINGS.search(line)]
    assert not hits, hits


# --- patterns name registered ops --------------------------------------------------------

def test_pattern_naming_an_unknown_op_is_an_error_when_built():
    x, y = pvars("x y")
    with pytest.raises(ValueError, match=r"'mutliply'.*not registered.*'multiply'"):
        P.mutliply(x, y)


def test_rule_naming_an_unknown_op_is_an_error_naming_the_rule():
    x, = pvars("x")
    with pytest.raises(ValueError, match=r"rule 'my_rule'.*'no_such_op'"):
        Rule("my_rule", P.exp(PNode("no_such_op", (x,))), x)
    with pytest.raises(ValueError, match=r"rule 'my_rhs'.*'no_such_op'"):
        Rule("my_rhs", P.exp(x), PNode("no_such_op", (x,)))
    with pytest.raises(ValueError, match=r"rule 'my_proc'.*'no_such_op'"):
        Rule("my_proc", roots=("no_such_op",), fn=lambda node: None)
    Rule("every_op", roots=("*",), fn=lambda node: None)      # "*": any op


def test_rest_pattern_matches_further_inputs():
    g, ref = pvars("g ref")
    x = sg.vector("x", 5)
    idx = sg.vector("i", 3, dtype="int64")
    node = sg.grad(sg.sum(x[idx] ** 2), x)                  # an index_grad(g, x, i)
    scat = next(n for n in sg.ir.graph.toposort([node]) if n.op.name == "index_grad")
    assert len(scat.inputs) == 3
    assert first_match(P.index_grad(g, ref, ...), scat)["ref"] is x
    assert first_match(P.index_grad(g, ref), scat) is None
    with pytest.raises(ValueError, match="last argument"):
        P.index_grad(g, ..., ref)


def test_pattern_predicate_on_a_fact():
    w = sg.shared(np.ones((2, 2)), name="W")
    a, b = sg.matrix("a", (2, 3)), sg.matrix("b", (3, 2))
    pat = P.subtract(PVar("c", lambda v: v.op.leaf == "shared"), P.matmul(*pvars("p q")))
    assert first_match(pat, w - a @ b) is not None
    assert first_match(pat, sg.matrix("m", (2, 2)) - a @ b) is None


# --- fact values are checked ------------------------------------------------------------

@pytest.mark.parametrize("field, value", [("linear", "sometimes"), ("leaf", "parameter"),
                                          ("entries", "shuffled"), ("reduction", "sum"),
                                          ("writes", "in_place")])
def test_defop_rejects_unknown_fact_values(field, value):
    with pytest.raises(ValueError, match=field):
        defop("facts_probe", infer=lambda t: t[0], emit="{0}", replace=True, **{field: value})


def test_leaf_kinds():
    assert sg.vector("v", 2).op.leaf == "input"
    assert sg.constant(1.0).op.leaf == "constant"
    assert sg.shared(np.zeros(2)).op.leaf == "shared"
    assert sg.exp(sg.vector("v", 2)).op.leaf is None


# --- from_sympy reads OpDef.sympy backwards ------------------------------------------------

def _sympy_class_ops():
    return [op for op in REGISTRY.values()
            if isinstance(op.sympy, type) and issubclass(op.sympy, sympy.Basic)]


@pytest.mark.parametrize("op", _sympy_class_ops(), ids=lambda op: op.name)
def test_from_sympy_gives_back_each_op_with_a_sympy_class(op):
    arity = 1 if op.sympy in (sympy.Not,) or issubclass(op.sympy, sympy.Function) else 2
    if issubclass(op.sympy, sympy.Function) and isinstance(getattr(op.sympy, "nargs", None),
                                                           sympy.FiniteSet):
        arity = int(min(op.sympy.nargs))       # atan2 takes two
    if op.sympy in (sympy.Max, sympy.Min):
        arity = 2
    truth = bool(op.truth_inputs)
    names = sympy.symbols(" ".join(f"s{k}" for k in range(arity)), seq=True)
    xs = [sg.scalar(n.name, "bool" if truth else "float64") for n in names]
    e = op.sympy(*names)
    if isinstance(e, sympy.Symbol):
        pytest.skip("the form simplifies away on symbols")
    v = sg.from_sympy(e, dict(zip(names, xs)))
    seen = {n.op.name for n in sg.ir.graph.toposort([v])}
    assert op.name in seen, (op.name, e, seen)


def test_from_sympy_knows_user_ops_by_their_sympy_class():
    # (a SymPy class no built-in op claims: the first op registered with a form wins)
    acot = defop("my_acot_facts", infer=lambda t: t[0], emit="np.arctan(1.0 / {0})",
                 vjp=lambda g, out, x: [-g / (x * x + 1)], elementwise=True,
                 sympy=sympy.acot, replace=True)
    try:
        s = sympy.Symbol("s")
        x = sg.scalar("x")
        v = sg.from_sympy(2 * sympy.acot(s), {s: x})
        assert acot in {n.op for n in sg.ir.graph.toposort([v])}
        assert float(sg.function([x], v)(0.5)) == pytest.approx(2 * np.arctan(2.0))
    finally:
        REGISTRY.pop("my_acot_facts", None)


def test_from_sympy_folds_n_ary_forms():
    a, b, c = sympy.symbols("a b c")
    x, y, z = (sg.scalar(n) for n in "xyz")
    f = sg.function([x, y, z], sg.from_sympy(sympy.Max(a, b, c) + sympy.Min(a, b, c),
                                             {a: x, b: y, c: z}))
    assert float(f(1.0, 5.0, 3.0)) == 6.0

