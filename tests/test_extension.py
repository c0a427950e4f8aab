"""docs/adding_an_op.md stays true: its code blocks run, and the op they define works."""

import re
from pathlib import Path

import numpy as np
import pytest

import symgrad as sg
from symgrad.ir.graph import toposort

DOC = Path(__file__).resolve().parents[1] / "docs" / "adding_an_op.md"


def run_doc():
    text = DOC.read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 6, "the tutorial lost its code blocks"
    ns = {"__name__": "adding_an_op_doc"}
    for k, block in enumerate(blocks):
        code = compile(block, f"{DOC.name}[block {k}]", "exec")
        exec(code, ns)  # noqa: S102 - the documentation's own examples
    return ns


@pytest.fixture(scope="module")
def doc_ns():
    before = set(sg.REGISTRY)
    yield run_doc()
    for name in set(sg.REGISTRY) - before:  # leave only the library's own ops registered
        del sg.REGISTRY[name]


def test_doc_runs_twice_in_one_process(doc_ns):
    again = run_doc()  # replace=True lets the tutorial be re-run
    assert again["SOFTSIGN"] is sg.REGISTRY["my_softsign"]


def test_new_op_appears_in_generated_source(doc_ns):
    src = doc_ns["step"].source
    assert "np.divide(" in src and "np.abs(" in src
    assert "my_softsign" in src  # the backward statements name the rule they come from
    loss_value, grad_value = doc_ns["loss_value"], doc_ns["grad_value"]
    z = 2.0 * doc_ns["xv"]
    s = z / (1 + np.abs(z))
    assert np.allclose(loss_value, np.sum(s ** 2), rtol=1e-14)
    assert np.allclose(grad_value, 2 * s * 2 / (1 + np.abs(z)) ** 2, rtol=1e-13)


def test_new_op_gradient_matches_finite_differences(doc_ns):
    softsign = doc_ns["softsign"]
    x = sg.matrix("x", (2, 3))
    b = sg.vector("b", 3)
    cost = sg.sum(softsign(x * b) * sg.sin(x))  # broadcasting through the op
    rng = np.random.default_rng(3)
    errs = sg.check_grad(cost, {x: rng.normal(size=(2, 3)), b: rng.normal(size=3)})
    assert errs[x] < 1e-8 and errs[b] < 1e-8
    # second derivatives through the op's VJP, against the closed form
    v = sg.vector("v", 3)
    H = sg.function([v], sg.hessian(sg.sum(softsign(v)), v))(np.array([0.5, -1.0, 2.0]))
    vv = np.array([0.5, -1.0, 2.0])
    assert np.allclose(H, np.diag(-2 * np.sign(vv) / (1 + np.abs(vv)) ** 3), rtol=1e-13)


def test_new_op_forward_rule_and_sympy_form(doc_ns):
    softsign = doc_ns["softsign"]
    x = sg.vector("x", 3)
    t = sg.jvp(softsign(x), x, np.array([1.0, 2.0, 3.0]))
    # the op's own jvp rule was used: no placeholder of the VJP transpose remains
    assert not any(n.op.name == "input" and (n.name or "").startswith("u_")
                   for n in toposort([t]))
    xv = np.array([0.5, -1.5, 3.0])
    assert np.allclose(sg.function([x], t)(xv), np.array([1.0, 2.0, 3.0]) /
                       (1 + np.abs(xv)) ** 2, rtol=1e-14)
    assert np.allclose(doc_ns["tangent"], 1 / (1 + np.abs(xv)) ** 2, rtol=1e-14)
    assert str(sg.to_sympy(softsign(x))) == "x/(Abs(x) + 1)"


def test_parametrised_op(doc_ns):
    huber = doc_ns["huber"]
    r = sg.vector("r", 4)
    f = sg.function([r], [huber(r, delta=0.5), sg.grad(sg.sum(huber(r, 0.5)), r)])
    rv = np.array([-2.0, -0.1, 0.3, 1.7])
    val, g = f(rv)
    expected = np.where(np.abs(rv) <= 0.5, 0.5 * rv ** 2, 0.5 * (np.abs(rv) - 0.25))
    assert np.allclose(val, expected, rtol=1e-14)
    assert np.allclose(g, np.clip(rv, -0.5, 0.5), rtol=1e-14)
    with pytest.raises(ValueError, match="my_huber.*delta > 0"):
        huber(r, delta=-1.0)
    with pytest.raises(TypeError, match="my_softsign.*float input"):
        doc_ns["softsign"](sg.vector("k", 2, dtype="int64"))
