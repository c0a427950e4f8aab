"""Conversion between symgrad graphs and SymPy expressions (elementwise and scalar graphs).

``to_sympy`` describes one element of an elementwise graph: every input or shared variable
becomes a SymPy ``Symbol`` named after it (with no assumptions unless ``real=True``), each
op contributes its ``OpDef.sympy`` form, and broadcasting (explicit or implicit)
disappears, since one element of a broadcast is the element itself. Booleans used as
numbers (``(x > 0) * x``, the ReLU gradient) become ``Piecewise((1, cond), (0, True))``,
and numbers used as booleans become ``Ne(v, 0)``, so the result is always a valid SymPy
expression. ``from_sympy`` goes the other way, building graph nodes with symgrad's
NumPy-named functions; it matches symbols by name, so assumptions never make a symbol
silently unmapped. Both walks are iterative.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import sympy
from sympy.functions.elementary.piecewise import ExprCondPair
from sympy.logic.boolalg import Boolean

from . import ops
from .ir.graph import toposort
from .ir.node import Var
from .ops.leaves import as_var
from .ops.registry import REGISTRY, apply, describe

__all__ = ["to_sympy", "from_sympy"]


def _transparent(n: Var) -> bool:
    """Whether ``n`` changes no element, only shapes or the dtype (``OpDef.entries``,
    ``OpDef.identity``): one element of it is one element of its input 0. An op that
    moves elements (a reshape) is transparent only over a single element."""
    op = n.op
    return (op.identity or op.entries in ("broadcast", "same")
            or (op.entries == "moved" and _one_element(n.inputs[0])))


def _is_truth(e) -> bool:
    """Whether ``e`` is a SymPy truth value (a relation, And, true...) rather than a number.
    Symbols are both and count as numbers here."""
    return isinstance(e, Boolean) and not isinstance(e, sympy.Expr)


def _recast(e, is_truth: bool, want_truth: bool):
    """``e`` (a truth value when ``is_truth``) as a truth value or as a number: a truth
    value ``c`` used as a number is 1 where it holds and 0 elsewhere, a number used as a
    truth value holds where it is not zero (NumPy's rules)."""
    if is_truth == want_truth:
        return e
    if want_truth:
        return sympy.Ne(e, 0)
    if e is sympy.true or e is sympy.false:
        return sympy.Integer(1 if e is sympy.true else 0)
    return sympy.Piecewise((sympy.Integer(1), e), (sympy.Integer(0), True))


def _number(value):
    """A NumPy scalar as a SymPy number (integral floats become Integers)."""
    v = np.asarray(value).item()
    if isinstance(v, bool):
        return sympy.true if v else sympy.false
    if isinstance(v, numbers.Integral):
        return sympy.Integer(v)
    if isinstance(v, float) and math.isfinite(v) and v.is_integer() and abs(v) < 2 ** 53:
        return sympy.Integer(int(v))
    if isinstance(v, float) and math.isnan(v):
        return sympy.nan
    if isinstance(v, float) and math.isinf(v):
        return sympy.oo if v > 0 else -sympy.oo
    return sympy.Float(v)


def _uniform_value(v: Var):
    """The single value of a constant with equal elements (or a 0-d one), else None."""
    val = v.value
    if val.size == 0:
        return None
    flat = val.reshape(-1)
    if val.size == 1 or np.all(flat == flat[0]):
        return flat[0]
    return None


def to_sympy(expr, symbols=None, real=False):
    """The SymPy expression of one element of an elementwise or scalar graph.

    Parameters
    ----------
    expr : Var or list or tuple of Var
        The expression(s). Every op on the way must have a SymPy form (``OpDef.sympy``)
        or only move elements without changing them (broadcasts, ``expand_dims``,
        ``squeeze``, casts, ``stop_gradient``). Constants must be scalars or have all
        elements equal.
    symbols : dict, optional
        ``{variable: sympy.Symbol}`` to use instead of the default symbols. By default an
        input or shared variable becomes ``sympy.Symbol(name)``, with no assumptions, so
        that ``sympy.diff(e, sympy.Symbol(name))`` differentiates it (SymPy tells apart
        symbols with different assumptions: a derivative with respect to the wrong one is
        silently zero).
    real : bool, optional
        Make the default symbols ``sympy.Symbol(name, real=True)``, which gives simpler
        derivatives (``diff(Abs(x), x)`` is ``sign(x)``); differentiate with respect to
        those symbols then (``e.free_symbols``). ``from_sympy`` accepts either kind.

    Returns
    -------
    sympy.Expr or sympy.Boolean or list of them
        A number-valued graph gives a ``sympy.Expr`` (a boolean used as a number becomes
        ``Piecewise((1, cond), (0, True))``); a boolean graph gives a SymPy truth value
        (a relation, ``And``...).

    Raises
    ------
    ValueError
        For an op with no SymPy form (a reduction, matmul...), naming it, or for a
        non-uniform constant.

    Examples
    --------
    >>> import symgrad as sg
    >>> x = sg.scalar("x")
    >>> sg.to_sympy(sg.tanh(x) * 2 + 1)
    2*tanh(x) + 1
    """
    many = isinstance(expr, (list, tuple))
    roots = [as_var(e) for e in (expr if many else [expr])]
    symbols = dict(symbols or {})
    done: dict[int, sympy.Basic] = {}
    names: dict[str, Var] = {}
    for n in toposort(roots):
        if n.op.leaf:
            if n in symbols:
                done[n.id] = symbols[n]
            elif n.op.leaf == "constant":
                val = _uniform_value(n)
                if val is None:
                    raise ValueError(f"to_sympy: the constant {n!r} has different elements; "
                                     "only scalar (or uniform) constants have a SymPy form")
                done[n.id] = _number(val)
            else:
                name = n.name or f"v{n.id}"
                if name in names and names[name] is not n:
                    raise ValueError(f"to_sympy: two different variables are named {name!r}; "
                                     "rename one or pass symbols={variable: Symbol}")
                names[name] = n
                done[n.id] = sympy.Symbol(name, real=True) if real else sympy.Symbol(name)
            continue
        # invariant: the value of a bool node is a truth value, of any other node a number
        args = [done[i.id] for i in n.inputs]
        if _transparent(n):
            value, is_truth = args[0], n.inputs[0].dtype == np.bool_  # astype may change it
        elif n.op.sympy is not None:
            truth = n.op.truth_inputs
            args = [_recast(a, i.dtype == np.bool_, k in truth)
                    for k, (a, i) in enumerate(zip(args, n.inputs))]
            value = n.op.sympy(*args, **n.params)
            is_truth = _is_truth(value)
        else:
            raise ValueError(f"to_sympy: op {n.op.name!r} ({describe(n)}) has no elementwise "
                             "SymPy form; to_sympy handles elementwise and scalar graphs")
        done[n.id] = _recast(value, is_truth, n.dtype == np.bool_)
    out = [done[r.id] for r in roots]
    return type(expr)(out) if many else out[0]


def _one_element(v: Var) -> bool:
    return all(d == 1 for d in v.type.shape)


# --- from SymPy -------------------------------------------------------------------------

def _reverse_table() -> dict:
    """``{SymPy function: op function}``, derived from the registry: every op whose
    ``OpDef.sympy`` is a SymPy class (``sympy.exp``, ``sympy.Max``, ``sympy.StrictLessThan``,
    ``sympy.And``...), user-defined ones included. The op's public function in
    ``symgrad.ops`` is used where it has one (it converts Python numbers), else the op is
    applied to the arguments. The first op registered with a form wins."""
    table: dict = {}
    for op in REGISTRY.values():
        form = op.sympy
        if isinstance(form, type) and issubclass(form, sympy.Basic) and form not in table:
            table[form] = getattr(ops, op.name, None) or _applier(op)
    return table


def _applier(op):
    def fn(*args):
        return apply(op, [_as_node(a) for a in args])
    return fn


def _num(e):
    """A SymPy number as a Python number."""
    if e is sympy.true or e is sympy.false:
        return bool(e)
    if e.is_Integer:
        return int(e)
    return float(e)


def _fold(fn, items):
    acc = items[0]
    for it in items[1:]:
        acc = fn(acc, it)
    return acc


def _power(base, ex):
    """``base ** ex`` with the common exponents written as cheaper ops."""
    if isinstance(ex, numbers.Number) and not isinstance(ex, Var):
        if ex == 1:
            return base
        if ex == 2:
            return ops.square(base)
        if ex == 0.5:
            return ops.sqrt(base)
        if ex == -0.5:
            return 1.0 / ops.sqrt(base)
        if ex == -1:
            return 1.0 / base
        if ex == -2:
            return 1.0 / ops.square(base)
    return ops.power(base, ex)


def _mul(e, sub):
    """Mul: numerator factors times, denominator factors (negative powers) divided."""
    num, den = [], []
    coeff = 1
    for a in e.args:
        if a.is_Number:
            coeff *= a
        elif a.is_Pow and a.exp.is_Number and a.exp < 0:
            den.append(_power(sub[a.base], _num(-a.exp)))
        else:
            num.append(sub[a])
    if coeff == -1 and num:
        num[0] = -_as_node(num[0])
        coeff = 1
    if coeff != 1:
        num.insert(0, _num(coeff))
    top = _fold(lambda p, q: p * q, num) if num else 1.0
    if den:
        return _as_node(top) / _fold(lambda p, q: p * q, den) if isinstance(top, Var) \
            else top / _fold(lambda p, q: p * q, den)
    return top


def _as_node(v):
    return v if isinstance(v, Var) else ops.constant(np.float64(v))


def _piecewise(e, sub):
    pieces = list(e.args)
    if pieces[-1].cond is sympy.true:
        acc = sub[pieces[-1].expr]
        pieces = pieces[:-1]
    else:
        acc = float("nan")  # SymPy's value where no condition holds
    for p in reversed(pieces):
        acc = ops.where(sub[p.cond], sub[p.expr], acc)
    return acc


def from_sympy(expr, mapping):
    """Build a symgrad graph from a SymPy expression.

    Parameters
    ----------
    expr : sympy.Expr
        Built from numbers, symbols, ``Add``, ``Mul``, ``Pow`` (``sqrt``), ``exp``,
        ``log``, ``sin``, ``cos``, ``tan``, ``tanh``, ``sinh``, ``cosh``, ``Abs``,
        ``sign``, ``Max``, ``Min``, ``Piecewise``,
        ``Heaviside`` (from ``diff`` of ``Max``), relations (``<``, ``<=``, ``Eq``...)
        and ``And``/``Or``/``Not``/``Xor``.
    mapping : dict
        ``{sympy.Symbol or symbol name: variable}`` for every free symbol. Symbols are
        matched by name, whatever their assumptions: ``Symbol("x")`` and
        ``Symbol("x", real=True)`` both find the variable given for either. A free symbol
        of ``expr`` whose name is not in the mapping is an error (never a constant).

    Returns
    -------
    Var
        The expression as graph nodes (a constant when it has no free symbols).

    Raises
    ------
    ValueError
        For a SymPy function or node with no symgrad counterpart, or a free symbol the
        mapping does not cover, naming it.

    Examples
    --------
    >>> import numpy as np, sympy, symgrad as sg
    >>> s = sympy.Symbol("s")
    >>> x = sg.scalar("x")
    >>> f = sg.function([x], sg.from_sympy(sympy.exp(2 * s) + 1, {s: x}))
    >>> float(f(0.0))
    2.0
    """
    expr = sympy.sympify(expr)
    by_name = {}
    for k, v in dict(mapping).items():
        if not isinstance(v, Var):
            raise TypeError(f"from_sympy: the mapping must map symbols to symgrad "
                            f"variables; {k!r} maps to {type(v).__name__}")
        name = k.name if isinstance(k, sympy.Symbol) else str(k)
        if name in by_name and by_name[name] is not v:
            raise ValueError(f"from_sympy: symbol {name!r} appears twice in the mapping, with "
                             "two different variables (symbols are matched by name)")
        by_name[name] = v
    table = _reverse_table()
    sub: dict = {}
    stack = [(expr, False)]
    while stack:
        e, ready = stack.pop()
        if e in sub:
            continue
        if not ready:
            stack.append((e, True))
            for a in e.args:
                if a not in sub:
                    stack.append((a, False))
            continue
        sub[e] = _convert(e, sub, by_name, table)
    out = sub[expr]
    return _as_node(out) if not isinstance(out, Var) else out


def _convert(e, sub, by_name, table):
    if isinstance(e, ExprCondPair):  # read by its Piecewise
        return None
    if e.is_Symbol:
        if e.name not in by_name:
            raise ValueError(f"from_sympy: the mapping has no variable for symbol {e.name!r}")
        return by_name[e.name]
    if e.is_Number or e in (sympy.true, sympy.false) or isinstance(e, sympy.NumberSymbol):
        return _num(e)
    fn = table.get(e.func)
    if fn is not None:      # an op's own SymPy form; n-ary Max, And... fold pairwise
        args = [sub[a] for a in e.args]
        return fn(*args) if len(args) <= 2 else _fold(fn, args)
    if e.is_Add:
        return _fold(lambda p, q: p + q, [sub[a] for a in e.args])
    if e.is_Mul:
        return _mul(e, sub)
    if e.is_Pow:
        base, ex = sub[e.base], sub[e.exp]
        if e.base is sympy.E:
            return ops.exp(ex)
        if not isinstance(base, Var) and not isinstance(ex, Var):
            return float(e)
        if not isinstance(base, Var):
            base = ops.constant(np.float64(base))
        return _power(base, ex)
    if isinstance(e, sympy.Piecewise):
        return _piecewise(e, sub)
    if isinstance(e, sympy.Heaviside):
        # 1 above zero, 0 below, its second argument (1/2 by default) at zero
        x = _as_node(sub[e.args[0]])
        at_zero = sub[e.args[1]] if len(e.args) > 1 else 0.5
        return ops.where(x > 0, 1.0, ops.where(x < 0, 0.0, at_zero))
    kind = getattr(e.func, "__name__", type(e).__name__)
    raise ValueError(f"from_sympy: SymPy {kind} ({e}) has no symgrad counterpart")
