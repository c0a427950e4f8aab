"""The op test table: one row per op (several for ops with distinct cases).

Each ``Row`` says how to build the op from symgrad inputs, what NumPy computes for the
same inputs, the inputs' shapes, dtypes and domains, and which checks apply. The tests in
``test_ops_table.py`` run every row through the same checks (forward values with and
without the optimizer, VJP, JVP and second order against finite differences, and the
VJP of elementwise ops against SymPy's derivative of the op's SymPy form).

Adding an op: add a row here. ``test_every_registered_op_has_a_row`` fails until the op
is covered by a row (``ops=`` names the registered ops a row exercises, by default the
row's name) or listed in ``EXCLUDED`` with a reason.

Input domains (one per input, or one for all):

* ``"real"``: floats with magnitude in [0.3, 1.5] and a random sign, away from the kinks
  of ``relu``, ``abs``, ``sign`` ... at 0;
* ``"normal"``: standard normal floats;
* ``"positive"``: floats in [0.5, 2];
* ``"unit"``: floats with magnitude in [0.1, 0.8] (inside the domain of ``tan``-like
  functions);
* ``("uniform", lo, hi)``: floats in [lo, hi];
* ``("int", lo, hi)``: integers in [lo, hi) (never differentiated);
* ``"bool"``: random booleans;
* an array: that exact value.
"""

from __future__ import annotations

import dataclasses
import math
import zlib
from typing import Callable

import numpy as np

import symgrad as sg
from symgrad.ops.checks import ensure_shape
from symgrad.ops.fused import index_add, matmul_sub, relu_mask
from symgrad.ops.indexing import index_grad
from symgrad.ops.reduce import linear_scan
from symgrad.ops.registry import REGISTRY, apply
from symgrad.ops.checks import same_size
from symgrad.ops.shape import CONCAT_PART, broadcast_like, reshape_like, size_of, sum_to

# Registered ops without a row, each with the reason. Extend this when an op is tested
# elsewhere on purpose (and say where).
EXCLUDED = {
    "input": "a leaf: the arguments of compiled functions",
    "constant": "a leaf: a value baked into the graph",
    "shared": "a leaf: a variable that owns an array",
    "random_uniform": "random; tested in tests/test_random.py",
    "random_normal": "random; tested in tests/test_random.py",
    "random_bernoulli": "random; tested in tests/test_random.py",
}


@dataclasses.dataclass
class Row:
    name: str
    build: Callable          # (*symgrad variables) -> Var
    ref: Callable            # (*numpy arrays) -> numpy array
    shapes: tuple = ()       # one data shape per input
    domain: object = "real"  # one domain for all inputs, or a tuple with one per input
    dtypes: tuple | None = None  # one dtype per input (float64 for all when None)
    decl: tuple | None = None    # declared shapes for sg.tensor, when not the data shapes
    ops: tuple | None = None  # registered ops this row exercises (default: (name,))
    second_order: bool = True    # check the derivative of the VJP too
    grad: bool = True        # run the gradient checks (False: forward values only)
    rtol: float = 1e-12      # forward tolerance

    def __post_init__(self):
        if self.ops is None:
            self.ops = (self.name.split("[")[0],)

    @property
    def id(self) -> str:
        return self.name

    def input_dtypes(self) -> list:
        return [np.dtype(d) for d in (self.dtypes or ("float64",) * len(self.shapes))]

    def input_domains(self) -> list:
        d = self.domain
        if isinstance(d, tuple) and not (d and isinstance(d[0], str)
                                         and d[0] in ("int", "uniform")):
            assert len(d) == len(self.shapes), f"{self.name}: one domain per input"
            return list(d)
        return [d] * len(self.shapes)

    def variables(self) -> list:
        decl = self.decl or self.shapes
        return [sg.tensor(f"x{k}", shape=s, dtype=d)
                for k, (s, d) in enumerate(zip(decl, self.input_dtypes()))]

    def arrays(self, seed: int = 0) -> list:
        rng = np.random.default_rng(zlib.crc32(self.name.encode()) + seed)
        return [sample(rng, dom, s, d)
                for dom, s, d in zip(self.input_domains(), self.shapes, self.input_dtypes())]


def sample(rng, domain, shape, dtype):
    if isinstance(domain, np.ndarray):
        return domain.astype(dtype)
    if domain == "bool":
        return rng.random(shape) < 0.5
    if isinstance(domain, tuple) and domain[0] == "int":
        return rng.integers(domain[1], domain[2], size=shape).astype(dtype)
    if isinstance(domain, tuple) and domain[0] == "uniform":
        return rng.uniform(domain[1], domain[2], size=shape).astype(dtype)
    if domain == "normal":
        return rng.normal(size=shape).astype(dtype)
    if domain == "positive":
        return rng.uniform(0.5, 2.0, size=shape).astype(dtype)
    lo, hi = {"real": (0.3, 1.5), "unit": (0.1, 0.8)}[domain]
    sign = np.where(rng.random(shape) < 0.5, -1.0, 1.0)
    return (sign * rng.uniform(lo, hi, size=shape)).astype(dtype)


def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _logsumexp(x, axis=None, keepdims=False):
    m = x.max(axis=axis, keepdims=True)
    out = np.log(np.exp(x - m).sum(axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _linear_scan(a, b, axis, reverse=False):
    a, h = np.moveaxis(a, axis, 0), np.moveaxis(b, axis, 0).copy()
    order = range(h.shape[0] - 2, -1, -1) if reverse else range(1, h.shape[0])
    for k in order:
        h[k] += a[k] * h[k + 1 if reverse else k - 1]
    return np.moveaxis(h, 0, axis)


def _scatter_add(shape, index, values):
    out = np.zeros(shape)
    np.add.at(out, index, values)
    return out


def _set_at(x, index, v):
    out = x.copy()
    out[index] = v
    return out


def _unpermute(x, perm, axis):
    out = np.empty_like(x)
    np.put_along_axis(out, perm, x, axis)
    return out


def _mul_at(x, index, v):
    out = x.copy()
    np.multiply.at(out, index, v)
    return out


S = (2, 3)  # the default shape: small, but not square
MASK = np.array([[True, False, True], [False, False, True]])  # a constant boolean mask
REP = np.array([0, 2, 0, 1])  # an index with a repeat

_SPD = np.array([[2.0, 0.3, 0.1], [0.3, 1.5, 0.2], [0.1, 0.2, 1.8]])
_W3 = np.array([[0.3, -1.1, 0.8], [1.4, 0.2, -0.7], [-0.5, 0.9, 1.2]])
_WELL = _SPD + np.array([[0.0, 0.4, -0.2], [-0.4, 0.0, 0.3], [0.2, -0.3, 0.0]])

ROWS = [
    # ---- elementwise, unary
    Row("negative", lambda x: -x, np.negative, (S,)),
    Row("exp", sg.exp, np.exp, (S,)),
    Row("log", sg.log, np.log, (S,), "positive"),
    Row("log1p", sg.log1p, np.log1p, (S,), "positive"),
    Row("expm1", sg.expm1, np.expm1, (S,)),
    Row("sqrt", sg.sqrt, np.sqrt, (S,), "positive"),
    Row("square", sg.square, np.square, (S,)),
    Row("abs", sg.abs, np.abs, (S,)),
    Row("abs[builtin]", lambda x: abs(x), np.abs, (S,)),
    Row("sign", sg.sign, np.sign, (S,)),
    Row("sin", sg.sin, np.sin, (S,)),
    Row("cos", sg.cos, np.cos, (S,)),
    Row("tan", sg.tan, np.tan, (S,), "unit"),
    Row("tanh", sg.tanh, np.tanh, (S,)),
    Row("sinh", sg.sinh, np.sinh, (S,)),
    Row("cosh", sg.cosh, np.cosh, (S,)),
    Row("sigmoid", sg.sigmoid, _sigmoid, (S,)),
    Row("relu", sg.relu, lambda x: np.maximum(x, 0), (S,)),
    Row("softplus", sg.softplus, lambda x: np.logaddexp(0, x), (S,)),
    Row("leaky_relu", lambda x: sg.leaky_relu(x, 0.1),
        lambda x: np.where(x > 0, x, 0.1 * x), (S,)),
    Row("stop_gradient", sg.stop_gradient, lambda x: x, (S,)),
    Row("logical_not", sg.logical_not, np.logical_not, (S,), "bool", ("bool",)),
    Row("invert", lambda x: ~x, np.invert, (S,), ("int", -9, 9), ("int32",)),
    Row("invert[bool]", lambda x: ~x, np.invert, (S,), "bool", ("bool",)),
    Row("invert[uint]", sg.invert, np.invert, (S,), ("int", 0, 9), ("uint8",)),
    Row("astype", lambda x: x.astype("float64"), lambda x: x.astype("float64"), (S,),
        ("int", -5, 5), ("int32",)),
    Row("astype[f32]", lambda x: sg.astype(x, "float32"), lambda x: x.astype("float32"),
        (S,), grad=False),
    # ---- elementwise, binary (with broadcasting)
    Row("add", lambda a, b: a + b, np.add, (S, (3,))),
    Row("add[scalar]", lambda a: 2.5 + a, lambda a: 2.5 + a, (S,)),
    Row("subtract", lambda a, b: a - b, np.subtract, ((2, 1), (3,))),
    Row("subtract[rev]", lambda a: 1.0 - a, lambda a: 1.0 - a, (S,)),
    Row("multiply", lambda a, b: a * b, np.multiply, (S, S)),
    Row("multiply[bcast]", lambda a, b: a * b, np.multiply, ((2, 1, 3), (4, 1))),
    Row("divide", lambda a, b: a / b, np.divide, (S, (1, 3)), "real"),
    Row("divide[rev]", lambda a: 2.0 / a, lambda a: 2.0 / a, (S,)),
    Row("floor_divide", lambda a, b: a // b, np.floor_divide, (S, S), "normal"),
    # a / b stays inside (1.5, 1.95): away from the jumps of floor(a / b)
    Row("remainder", lambda a, b: a % b, np.remainder, (S, S),
        (("uniform", 2.5, 2.9), ("uniform", 1.48, 1.6))),
    Row("remainder[mod]", sg.mod, np.mod, (S, S), (("uniform", 2.5, 2.9), ("uniform", 1.48, 1.6)),
        ops=("remainder",)),
    Row("floor", sg.floor, np.floor, (S,), "normal"),
    # run-time shape check that sg.function puts on update values
    Row("ensure_shape", lambda x: ensure_shape(x, (2, 3), "x"), lambda x: x, (S,),
        decl=((None, 3),)),
    Row("ceil", sg.ceil, np.ceil, (S,), "normal"),
    Row("power", lambda a, b: a ** b, np.power, (S, S), ("positive", "normal")),
    Row("power[int]", lambda a: a ** 3, lambda a: a ** 3, (S,)),
    Row("power[rev]", lambda a: 2.0 ** a, lambda a: 2.0 ** a, (S,)),
    Row("maximum", sg.maximum, np.maximum, (S, (3,)), "normal"),
    Row("minimum", sg.minimum, np.minimum, (S, S), "normal"),
    Row("less", lambda a, b: a < b, np.less, (S, S), "normal"),
    Row("less_equal", lambda a, b: a <= b, np.less_equal, (S, S), ("int", 0, 3)),
    Row("greater", lambda a, b: a > b, np.greater, (S, (3,)), "normal"),
    Row("greater_equal", lambda a, b: a >= b, np.greater_equal, (S, S), ("int", 0, 3)),
    Row("equal", sg.equal, np.equal, (S, S), ("int", 0, 2), ("int64", "int64")),
    Row("not_equal", sg.not_equal, np.not_equal, (S, S), ("int", 0, 2), ("int32", "int64")),
    Row("logical_and", sg.logical_and, np.logical_and, (S, S), "bool", ("bool", "bool")),
    Row("logical_or", sg.logical_or, np.logical_or, (S, S), "bool", ("bool", "bool")),
    Row("logical_xor", sg.logical_xor, np.logical_xor, (S, S), "bool", ("bool", "bool")),
    Row("bitwise_and", lambda a, b: a & b, np.bitwise_and, (S, (3,)), ("int", -9, 9),
        ("int64", "int32")),
    Row("bitwise_and[scalar]", lambda a: a & 1, lambda a: a & 1, (S,), ("int", -9, 9),
        ("int16",)),
    Row("bitwise_and[bool]", lambda a, b: a & b, np.bitwise_and, (S, S), "bool",
        ("bool", "bool")),
    Row("bitwise_or", lambda a, b: a | b, np.bitwise_or, (S, S), ("int", 0, 20),
        ("uint8", "int64")),
    Row("bitwise_or[bool]", lambda a, b: a | b, np.bitwise_or, (S, S), "bool",
        ("bool", "bool")),
    Row("bitwise_xor", lambda a, b: a ^ b, np.bitwise_xor, (S, S), ("int", -9, 9),
        ("int64", "int64")),
    Row("bitwise_xor[rev]", lambda a: 6 ^ a, lambda a: 6 ^ a, (S,), ("int", -9, 9),
        ("int32",)),
    Row("bitwise_xor[bool]", lambda a, b: a ^ b, np.bitwise_xor, (S, S), "bool",
        ("bool", "bool")),
    Row("where", sg.where, np.where, (S, S, (3,)), ("bool", "normal", "normal"),
        ("bool", "float64", "float64")),
    Row("clip", sg.clip, np.clip, (S, (), ()),
        ("normal", ("uniform", -0.7, -0.5), ("uniform", 0.5, 0.7))),
    Row("clip[consts]", lambda x: sg.clip(x, -0.5, 0.6), lambda x: np.clip(x, -0.5, 0.6),
        ((4, 3),), "normal"),
    # ---- reductions
    Row("sum", lambda x: x.sum(), np.sum, ((2, 3, 2),)),
    Row("sum[axis]", lambda x: x.sum(axis=(0, 2), keepdims=True),
        lambda x: x.sum(axis=(0, 2), keepdims=True), ((2, 3, 2),)),
    Row("mean", lambda x: x.mean(axis=1), lambda x: x.mean(axis=1), ((2, 3, 2),)),
    Row("sum[dtype]", lambda x: sg.sum(x, axis=0, dtype="float32"),
        lambda x: np.sum(x, axis=0, dtype="float32"), ((3, 4),), ops=("sum", "astype"),
        grad=False, rtol=1e-6),
    Row("mean[int]", lambda x: sg.mean(x), np.mean, (S,), ("int", 0, 9), ("int32",)),
    Row("max", lambda x: x.max(axis=-1), lambda x: x.max(axis=-1), ((3, 4),), "normal"),
    Row("max[ties]", lambda x: x.max(axis=0), lambda x: x.max(axis=0), ((3, 2),),
        np.array([[1.0, 2.0], [1.0, 0.0], [0.5, 2.0]]), grad=False),
    Row("min", lambda x: x.min(keepdims=True), lambda x: x.min(keepdims=True), (S,),
        "normal"),
    Row("prod", lambda x: x.prod(axis=1), lambda x: x.prod(axis=1), ((3, 4),)),
    Row("prod[zero]", sg.prod, np.prod, ((3,),), np.array([0.7, 0.0, -1.3])),
    Row("prod[all]", lambda x: sg.prod(x, keepdims=True), lambda x: x.prod(keepdims=True),
        (S,)),
    Row("var", sg.var, np.var, ((3, 4),), "normal", ops=()),
    Row("var[axis]", lambda x: sg.var(x, axis=0, ddof=1), lambda x: x.var(axis=0, ddof=1),
        ((3, 4),), "normal", ops=()),
    Row("std", lambda x: x.std(axis=(0, 2), keepdims=True),
        lambda x: x.std(axis=(0, 2), keepdims=True), ((2, 3, 2),), "normal", ops=()),
    Row("argmax", lambda x: x.argmax(axis=1), lambda x: x.argmax(axis=1), ((3, 4),),
        "normal"),
    Row("argmax[flat]", sg.argmax, np.argmax, ((3, 4),), "normal"),
    Row("argmin", lambda x: sg.argmin(x, 0, keepdims=True),
        lambda x: np.argmin(x, 0, keepdims=True), ((3, 4),), "normal"),
    # two zeros in one slice: the second derivatives are products of the other entries
    Row("prod[zeros]", lambda x: x.prod(axis=1), lambda x: x.prod(axis=1), ((2, 4),),
        np.array([[2.0, 0.0, 0.0, 4.0], [0.0, 1.5, -0.5, 0.0]])),
    Row("prod[axes]", lambda x: x.prod(axis=(0, 2)), lambda x: x.prod(axis=(0, 2)),
        ((2, 3, 2),)),
    Row("cumprod", lambda x: sg.cumprod(x, axis=1), lambda x: np.cumprod(x, axis=1), ((3, 4),)),
    Row("cumprod[flat]", sg.cumprod, np.cumprod, (S,), ops=("cumprod", "reshape")),
    Row("cumprod[zeros]", lambda x: sg.cumprod(x, axis=0), lambda x: np.cumprod(x, axis=0),
        ((4, 2),), np.array([[1.5, 0.0], [0.0, 2.0], [-1.2, 0.0], [0.7, 0.5]])),
    Row("linear_scan", lambda a, b: linear_scan(a, b, 1), lambda a, b: _linear_scan(a, b, 1),
        ((2, 5), (2, 5)), "normal"),
    Row("linear_scan[rev]", lambda a, b: linear_scan(a, b, 0, reverse=True),
        lambda a, b: _linear_scan(a, b, 0, reverse=True), ((6, 2), (6, 2)), "normal"),
    Row("cumsum", lambda x: sg.cumsum(x, axis=1), lambda x: np.cumsum(x, axis=1), ((3, 4),)),
    Row("cumsum[flat]", lambda x: x.cumsum(), np.cumsum, (S,)),
    Row("logsumexp", lambda x: sg.logsumexp(x, axis=1), lambda x: _logsumexp(x, axis=1),
        ((3, 4),), "normal", ops=("max", "stop_gradient", "exp", "sum", "log", "squeeze")),
    Row("softmax", sg.softmax, _softmax, ((3, 4),), "normal", ops=()),
    Row("log_softmax", lambda x: sg.log_softmax(x, axis=0),
        lambda x: np.log(_softmax(x, axis=0)), ((3, 4),), "normal", ops=()),
    # ---- linear algebra
    Row("matmul", lambda a, b: a @ b, np.matmul, ((2, 3), (3, 4)), "normal"),
    Row("matmul[vec]", lambda a, b: a @ b, np.matmul, ((3,), (3,)), "normal"),
    Row("matmul[vm]", lambda a, b: a @ b, np.matmul, ((3,), (2, 3, 4)), "normal"),
    Row("matmul[mv]", lambda a, b: a @ b, np.matmul, ((2, 2, 3), (3,)), "normal"),
    Row("matmul[batch]", lambda a, b: a @ b, np.matmul, ((2, 1, 2, 3), (3, 3, 2)),
        "normal"),
    Row("dot", sg.dot, np.dot, ((2, 3), (3,)), "normal", ops=("matmul",)),
    Row("dot[nd]", sg.dot, np.dot, ((2, 3), (2, 3, 2)), "normal", ops=("tensordot",)),
    Row("dot[scalar]", sg.dot, np.dot, ((), (3,)), "normal", ops=("multiply",)),
    Row("tensordot", lambda a, b: sg.tensordot(a, b, axes=1), lambda a, b: np.tensordot(
        a, b, axes=1), ((2, 3), (3, 2)), "normal"),
    Row("tensordot[axes]", lambda a, b: sg.tensordot(a, b, ([2, 0], [0, 2])),
        lambda a, b: np.tensordot(a, b, ([2, 0], [0, 2])), ((2, 3, 4), (4, 3, 2)), "normal"),
    Row("tensordot[0]", lambda a, b: sg.tensordot(a, b, 0),
        lambda a, b: np.tensordot(a, b, 0), ((2,), (3,)), "normal"),
    Row("outer", sg.outer, np.outer, ((2, 2), (3,)), "normal", ops=("reshape", "multiply")),
    Row("einsum", lambda a, b: sg.einsum("ij,jk->ik", a, b),
        lambda a, b: np.einsum("ij,jk->ik", a, b), ((2, 3), (3, 4)), "normal"),
    Row("einsum[implicit]", lambda a, b: sg.einsum("ij,kj", a, b),
        lambda a, b: np.einsum("ij,kj", a, b), ((2, 3), (4, 3)), "normal"),
    Row("einsum[sumout]", lambda a, b: sg.einsum("ijk,jl->i", a, b),
        lambda a, b: np.einsum("ijk,jl->i", a, b), ((2, 3, 2), (3, 2)), "normal"),
    Row("einsum[diag]", lambda a: sg.einsum("ii->i", a), lambda a: np.einsum("ii->i", a),
        ((3, 3),), "normal", ops=("einsum", "arange", "equal", "expand_dims", "astype")),
    Row("einsum[trace3]", lambda a, b, c: sg.einsum("ii,i,j->j", a, b, c),
        lambda a, b, c: np.einsum("ii,i,j->j", a, b, c), ((3, 3), (3,), (2,)), "normal"),
    Row("einsum[ellipsis]", lambda a, b: sg.einsum("...ij,...jk->...ik", a, b),
        lambda a, b: np.einsum("...ij,...jk->...ik", a, b), ((2, 2, 3), (3, 2)), "normal"),
    Row("einsum[bcast1]", lambda a, b: sg.einsum("ij,jk->ik", a, b),
        lambda a, b: np.einsum("ij,jk->ik", a, b), ((2, 1), (3, 2)), "normal"),
    # ---- shape
    Row("reshape", lambda x: x.reshape(3, 2), lambda x: x.reshape(3, 2), (S,)),
    Row("reshape[sym]", lambda x: x.reshape((x.shape[0], -1)),
        lambda x: x.reshape((x.shape[0], -1)), ((2, 3, 2),), decl=(("n", 3, 2),),
        ops=("reshape", "shape_of")),
    Row("reshape_like", reshape_like, lambda x, r: x.reshape(r.shape), ((6,), S)),
    Row("ravel", sg.ravel, np.ravel, ((2, 3, 2),), ops=("reshape",)),
    Row("flatten", lambda x: x.flatten(), lambda x: x.flatten(), (S,), ops=("reshape",)),
    Row("transpose", lambda x: x.T, lambda x: x.T, ((2, 3, 4),)),
    Row("transpose[axes]", lambda x: x.transpose(1, 2, 0), lambda x: x.transpose(1, 2, 0),
        ((2, 3, 4),)),
    Row("swapaxes", lambda x: sg.swapaxes(x, 0, -1), lambda x: np.swapaxes(x, 0, -1),
        ((2, 3, 4),), ops=("transpose",)),
    Row("expand_dims", lambda x: sg.expand_dims(x, (0, 2)),
        lambda x: np.expand_dims(x, (0, 2)), (S,)),
    Row("squeeze", sg.squeeze, np.squeeze, ((1, 3, 1),)),
    Row("squeeze[axis]", lambda x: x.squeeze(0), lambda x: x.squeeze(0), ((1, 3, 1),)),
    Row("broadcast_to", lambda x: sg.broadcast_to(x, (2, 4, 3)),
        lambda x: np.broadcast_to(x, (2, 4, 3)), ((4, 1),)),
    Row("broadcast_to[sym]", lambda x, y: sg.broadcast_to(x, (y.shape[0], 3)),
        lambda x, y: np.broadcast_to(x, (y.shape[0], 3)), ((3,), (4,)),
        decl=((3,), ("n",)), ops=("broadcast_to", "shape_of")),
    Row("broadcast_like", broadcast_like, lambda x, r: np.broadcast_to(x, r.shape),
        ((1, 3), (2, 3))),
    Row("sum_to", lambda g: sum_to(g, sg.tensor("t", (3, 1))),
        lambda g: g.sum(axis=(0, 2), keepdims=True)[0], ((2, 3, 4),), ops=("sum",)),
    Row("zeros_like", sg.zeros_like, np.zeros_like, (S,), ops=("fill_like",)),
    Row("ones_like", lambda x: sg.ones_like(x, "int32"), lambda x: np.ones_like(x, "int32"),
        (S,), ops=("fill_like",)),
    Row("full_like", lambda x: sg.full_like(x, 2.5) * x, lambda x: np.full_like(x, 2.5) * x,
        (S,), ops=("fill_like",)),
    Row("full", lambda x: sg.full(x.shape, 1.5) + x, lambda x: np.full(x.shape, 1.5) + x,
        (S,), decl=(("n", 3),), ops=("full",)),
    Row("zeros", lambda: sg.zeros((2, 3)), lambda: np.zeros((2, 3)), ops=("full",)),
    Row("ones", lambda: sg.ones(4, "int64"), lambda: np.ones(4, "int64"), ops=("full",)),
    Row("arange", lambda x: sg.arange(x.shape[0]), lambda x: np.arange(x.shape[0]),
        ((4,),), decl=(("n",),), ops=("arange", "shape_of")),
    Row("arange[static]", lambda: sg.arange(5, dtype="float64"),
        lambda: np.arange(5, dtype="float64"), ops=("arange",)),
    Row("arange[step]", lambda: sg.arange(1, 10, 3), lambda: np.arange(1, 10, 3),
        ops=("arange",)),
    Row("arange[float]", lambda: sg.arange(-0.5, 1, 0.25), lambda: np.arange(-0.5, 1, 0.25),
        ops=("arange",)),
    Row("arange[sym_start]", lambda x: sg.arange(1, x.shape[0], 2),
        lambda x: np.arange(1, x.shape[0], 2), ((6,),), decl=(("n",),),
        ops=("arange", "shape_of")),
    Row("shape_of", lambda x: x.shape[1] * 1, lambda x: np.int64(x.shape[1]), ((2, 5),),
        decl=((2, None),), ops=("shape_of", "multiply")),
    Row("size_of", lambda x: size_of(x), lambda x: np.int64(x.size), ((2, 5),),
        decl=(("n", None),)),
    Row("same_size", lambda a, b: same_size(a, b, 0, 0, "rows") * 2, lambda a, b: a * 2,
        ((3, 2), (3,)), decl=((None, 2), ("n",)), ops=("same_size", "multiply")),
    Row("size_as", lambda k: k * (k.shape[1] - 1), lambda k: k * (k.shape[1] - 1), ((2, 5),),
        ("int", -9, 9), ("int32",), decl=((2, None),),
        ops=("size_as", "shape_of", "subtract", "multiply")),
    Row("size_as[float32]", lambda x: x / x.shape[0], lambda x: x / x.shape[0], ((3, 2),),
        "normal", ("float32",), decl=(("n", 2),), ops=("size_as", "shape_of", "divide"), grad=False,
        rtol=1e-6),
    Row("concatenate", lambda a, b: sg.concatenate([a, b, a], axis=1),
        lambda a, b: np.concatenate([a, b, a], axis=1), (S, (2, 1)),
        ops=("concatenate", "concat_part")),
    Row("concatenate[sym]", lambda a, b: sg.concatenate([a, b, a]),
        lambda a, b: np.concatenate([a, b, a]), ((2, 3), (1, 3)), decl=(("n", 3), (None, 3)),
        ops=("concatenate", "concat_part")),
    Row("concat_part", lambda g, a, b: apply(CONCAT_PART, [g, a.shape[0], b.shape[0]],
                                             axis=0, part=1, dims=("n", None, 1)),
        lambda g, a, b: g[a.shape[0]:a.shape[0] + b.shape[0]], ((6, 2), (2, 2), (3, 2)),
        decl=((None, 2), ("n", 2), (None, 2)), ops=("concat_part", "shape_of")),
    Row("stack", lambda a, b: sg.stack([a, b], axis=1), lambda a, b: np.stack([a, b], 1),
        (S, S)),
    Row("one_hot", lambda y: sg.one_hot(y, 4), lambda y: np.eye(4)[y], ((5,),),
        ("int", 0, 4), ("int64",), ops=("equal", "expand_dims", "arange", "astype")),
    Row("one_hot[sym]", lambda y, z: sg.one_hot(y, z.shape[1], dtype="float32"),
        lambda y, z: np.eye(z.shape[1], dtype="float32")[y], ((2, 3), (1, 5)),
        (("int", 0, 5), "normal"), ("int32", "float64"), decl=((2, 3), (1, None)),
        ops=("equal", "arange")),
    # ---- indexing
    Row("getitem", lambda x: x[1], lambda x: x[1], ((3, 4),)),
    Row("getitem[basic]", lambda x: x[-1, ::2, None, 1:],
        lambda x: x[-1, ::2, None, 1:], ((2, 5, 3),)),
    Row("getitem[neg_step]", lambda x: x[..., ::-2], lambda x: x[..., ::-2], ((2, 5),)),
    Row("getitem[ellipsis]", lambda x: x[..., 0, None], lambda x: x[..., 0, None],
        ((2, 3, 4),)),
    Row("getitem[repeat]", lambda x: x[REP], lambda x: x[REP], ((3, 2),)),
    Row("getitem[repeat2]", lambda x: x[:, REP[:, None]], lambda x: x[:, REP[:, None]],
        ((2, 3),)),
    Row("getitem[gather]", lambda x, y: x[sg.arange(x.shape[0]), y],
        lambda x, y: x[np.arange(x.shape[0]), y], ((4, 3), (4,)), ("normal", ("int", 0, 3)),
        ("float64", "int64"), decl=(("n", 3), ("n",)),
        ops=("getitem", "arange", "check_index")),
    Row("getitem[gather_rep]", lambda x, y: x[y, -1], lambda x, y: x[y, -1],
        ((3, 2), (5,)), ("normal", ("int", -3, 3)), ("float64", "int32"),
        ops=("getitem", "check_index")),
    Row("getitem[split_adv]", lambda x: x[REP[:2], :, REP[1:3]],
        lambda x: x[REP[:2], :, REP[1:3]], ((3, 2, 3),)),
    Row("index_grad", lambda g, x: index_grad(g, x, [sg.constant(REP)],
                                              (("adv", 0), ("slice", None, None, None))),
        lambda g, x: _scatter_add(x.shape, (REP, slice(None)), g), ((4, 2), (3, 2))),
    Row("index_add", lambda x, g: index_add(x, g, [sg.constant(REP)], (("adv", 0),), False),
        lambda x, g: x + _scatter_add(x.shape, REP, g), ((3, 2), (4, 2))),
    # a ReLU output: zeros (exactly), tiny and large positives
    Row("relu_mask", relu_mask, lambda r: (r > 0).astype(r.dtype), ((2, 4),),
        np.array([[0.0, 0.5, 2.0, 1e-300], [1e300, 0.0, 1.0, 7.0]])),
    Row("matmul_sub", matmul_sub, lambda c, a, b: c - a @ b, ((2, 4), (2, 3), (3, 4)), "normal"),
    Row("matmul_sub[transposed]", lambda c, a, b: matmul_sub(c, a.T, b),
        lambda c, a, b: c - a.T @ b, ((3, 4), (5, 3), (5, 4)), "normal"),
    # sg.linalg: well-conditioned matrices (SPD, or SPD plus a small skew part)
    Row("solve", sg.linalg.solve, np.linalg.solve, ((3, 3), (3,)), (_WELL, "normal")),
    Row("solve[matrix]", sg.linalg.solve, np.linalg.solve, ((3, 3), (3, 2)),
        (_WELL, "normal"), ops=("solve",)),
    Row("solve[batched]", sg.linalg.solve, np.linalg.solve, ((2, 3, 3), (3, 2)),
        (np.stack([_WELL, _SPD]), "normal"), ops=("solve",)),
    Row("inv", sg.linalg.inv, np.linalg.inv, ((3, 3),), _WELL),
    Row("det", sg.linalg.det, np.linalg.det, ((2, 3, 3),), np.stack([_WELL, _SPD])),
    Row("logabsdet", lambda a: sg.linalg.slogdet(a)[1],
        lambda a: np.linalg.slogdet(a).logabsdet, ((3, 3),), _WELL - 2 * np.eye(3)),
    Row("signdet", lambda a: sg.linalg.slogdet(a)[0], lambda a: np.linalg.slogdet(a).sign,
        ((3, 3),), _WELL - 2 * np.eye(3), grad=False),
    # cholesky reads the lower triangle: differentiated through a symmetric parametrisation
    Row("cholesky", lambda x: sg.linalg.cholesky(x @ x.T + 3.0 * sg.constant(np.eye(3))),
        lambda x: np.linalg.cholesky(x @ x.T + 3.0 * np.eye(3)), ((3, 3),), "normal",
        ops=("cholesky", "matmul", "transpose", "add", "multiply")),
    # eigh of a symmetric parametrisation; eigenvectors through a sign-free function
    Row("eigh_values", lambda x: sg.linalg.eigh(x + x.T)[0],
        lambda x: np.linalg.eigh(x + x.T)[0], ((3, 3),), "normal",
        ops=("eigh_values", "add", "transpose")),
    Row("eigh_vectors", lambda x: sg.linalg.eigh(x + x.T)[1] ** 2 * _W3,
        lambda x: np.linalg.eigh(x + x.T)[1] ** 2 * _W3, ((3, 3),), "normal",
        ops=("eigh_vectors", "add", "transpose", "power", "multiply")),
    Row("qr_q", lambda a: sg.linalg.qr(a).Q, lambda a: np.linalg.qr(a).Q, ((4, 3),), "normal"),
    Row("qr_r", lambda a: sg.linalg.qr(a).R, lambda a: np.linalg.qr(a).R, ((4, 3),), "normal"),
    Row("tril", lambda a: sg.linalg.tril(a, -1), lambda a: np.tril(a, -1), ((3, 4),)),
    Row("triu", sg.linalg.triu, np.triu, ((2, 3, 3),)),
    # ---- array manipulation (symgrad/ops/manip.py): primitives argsort, any, all,
    # index_set; the rest compositions of slices, gathers, concatenate, broadcast, reshape
    Row("argsort", lambda x: sg.argsort(x, axis=0), lambda x: np.argsort(x, axis=0),
        ((3, 4),), "normal"),
    Row("argsort[stable]", lambda x: sg.argsort(x, None, kind="stable"),
        lambda x: np.argsort(x, None, kind="stable"), ((2, 3),),
        np.array([[1.0, 0.0, 1.0], [0.0, 2.0, 1.0]]), ops=("argsort", "reshape")),
    Row("sort", sg.sort, np.sort, ((3, 4),), "normal", ops=("argsort", "permute_along")),
    Row("sort[axis0]", lambda x: sg.sort(x, axis=0), lambda x: np.sort(x, axis=0),
        ((4, 2, 3),), "normal", ops=("argsort", "permute_along")),
    Row("sort[flat]", lambda x: sg.sort(x, axis=None), lambda x: np.sort(x, axis=None),
        (S,), "normal", ops=("argsort", "permute_along", "reshape")),
    Row("permute_along[inverse]", lambda x: apply(
        REGISTRY["permute_along"], [x, sg.constant(np.array([[2, 0, 1], [0, 1, 2]]))],
        axis=1, inverse=True), lambda x: _unpermute(x, np.array([[2, 0, 1], [0, 1, 2]]), 1),
        (S,), ops=("permute_along",)),
    Row("flip", sg.flip, np.flip, ((2, 3, 4),), ops=("getitem",)),
    Row("flip[axis]", lambda x: sg.flip(x, 1), lambda x: np.flip(x, 1), (S,), ops=("getitem",)),
    Row("roll", lambda x: sg.roll(x, (1, -2), axis=(0, 1)),
        lambda x: np.roll(x, (1, -2), axis=(0, 1)), ((3, 4),),
        ops=("getitem", "concatenate", "concat_part")),
    Row("roll[flat]", lambda x: sg.roll(x, 4), lambda x: np.roll(x, 4), (S,),
        ops=("getitem", "concatenate", "reshape", "reshape_like")),
    Row("pad", lambda x: sg.pad(x, ((1, 2), (0, 1)), constant_values=1.5),
        lambda x: np.pad(x, ((1, 2), (0, 1)), constant_values=1.5), (S,),
        ops=("full", "concatenate", "concat_part")),
    Row("pad[value]", lambda x, c: sg.pad(x, 1, constant_values=c),
        lambda x, c: np.pad(x, 1, constant_values=c), ((3,), ()),
        ops=("broadcast_to", "concatenate", "concat_part")),
    Row("pad[edge]", lambda x: sg.pad(x, (2, 1), mode="edge"),
        lambda x: np.pad(x, (2, 1), mode="edge"), (S,),
        ops=("getitem", "broadcast_to", "concatenate")),
    Row("pad[wrap]", lambda x: sg.pad(x, ((1, 1), (2, 3)), mode="wrap"),
        lambda x: np.pad(x, ((1, 1), (2, 3)), mode="wrap"), (S,),
        ops=("getitem", "concatenate")),
    Row("pad[reflect]", lambda x: sg.pad(x, ((1, 1), (2, 2)), mode="reflect"),
        lambda x: np.pad(x, ((1, 1), (2, 2)), mode="reflect"), (S,),
        ops=("getitem", "concatenate")),
    Row("pad[symmetric]", lambda x: sg.pad(x, ((2, 1), (3, 3)), mode="symmetric"),
        lambda x: np.pad(x, ((2, 1), (3, 3)), mode="symmetric"), (S,),
        ops=("getitem", "concatenate")),
    Row("tile", lambda x: sg.tile(x, (2, 1, 3)), lambda x: np.tile(x, (2, 1, 3)), (S,),
        ops=("expand_dims", "broadcast_to", "reshape")),
    Row("tile[sym]", lambda x: sg.tile(x, 2), lambda x: np.tile(x, 2), ((2, 3),),
        decl=(("n", 3),), ops=("expand_dims", "broadcast_to", "reshape", "shape_of")),
    Row("repeat", lambda x: sg.repeat(x, 2, axis=1), lambda x: np.repeat(x, 2, axis=1), (S,),
        ops=("expand_dims", "broadcast_to", "reshape")),
    Row("repeat[counts]", lambda x: sg.repeat(x, [2, 0, 1], axis=1),
        lambda x: np.repeat(x, [2, 0, 1], axis=1), (S,), ops=("getitem", "index_grad")),
    Row("take", lambda x: sg.take(x, np.array([[0, -1], [2, 2]]), axis=1),
        lambda x: np.take(x, np.array([[0, -1], [2, 2]]), axis=1), (S,), ops=("getitem",)),
    Row("take[data]", lambda x, i: sg.take(x, i), lambda x, i: np.take(x, i), (S, (4,)),
        ("normal", ("int", -6, 6)), ("float64", "int64"), ops=("getitem", "check_index")),
    Row("take[wrap]", lambda x, i: sg.take(x, i, axis=0, mode="wrap"),
        lambda x, i: np.take(x, i, axis=0, mode="wrap"), (S, (3,)),
        ("normal", ("int", -5, 5)), ("float64", "int64"), ops=("getitem", "remainder")),
    Row("take_along_axis", lambda x, i: sg.take_along_axis(x, i, axis=1),
        lambda x, i: np.take_along_axis(x, i, axis=1), ((3, 4), (3, 2)),
        ("normal", ("int", -4, 4)), ("float64", "int64"),
        ops=("getitem", "arange", "check_index", "index_grad")),
    Row("take_along_axis[bcast]", lambda x: sg.take_along_axis(x, REP[None, :, None], 1),
        lambda x: np.take_along_axis(x, REP[None, :, None], 1), ((2, 3, 2),),
        ops=("getitem", "arange")),
    Row("diff", sg.diff, np.diff, ((3, 4),), ops=("getitem", "subtract")),
    Row("diff[n2]", lambda x, p: sg.diff(x, 2, axis=0, prepend=p, append=0.5),
        lambda x, p: np.diff(x, 2, axis=0, prepend=p, append=0.5), ((3, 2), (1, 2)),
        ops=("getitem", "subtract", "concatenate", "broadcast_to")),
    Row("diff[bool]", sg.diff, np.diff, ((2, 4),), "bool", ("bool",),
        ops=("getitem", "not_equal")),
    Row("any", lambda x: sg.any(x, axis=0), lambda x: np.any(x, axis=0), ((3, 4),), "bool",
        ("bool",)),
    Row("any[float]", lambda x: x.any(), lambda x: x.any(), (S,),
        np.array([[0.0, 0.0, 0.0], [0.0, -0.5, 0.0]]), ops=("any",)),
    Row("all", lambda x: sg.all(x, axis=1, keepdims=True),
        lambda x: np.all(x, axis=1, keepdims=True), ((3, 2),), "bool", ("bool",)),
    Row("all[int]", sg.all, np.all, (S,), ("int", 1, 4), ("int32",), ops=("all",)),
    Row("getitem[mask]", lambda x: x[MASK], lambda x: x[MASK], (S,),
        ops=("getitem", "index_grad")),
    Row("getitem[mask_axis]", lambda x: x[..., MASK[1]], lambda x: x[..., MASK[1]],
        ((2, 2, 3),), ops=("getitem",)),
    Row("index_set", lambda x, v: x.at[REP[:3]].set(v),
        lambda x, v: _set_at(x, REP[:3], v), ((4, 2), (3, 2))),
    Row("index_set[repeat]", lambda x, v: x.at[REP].set(v),
        lambda x, v: _set_at(x, REP, v), ((3, 2), (4, 2)), ops=("index_set", "equal")),
    Row("index_set[data]", lambda x, v, i: x.at[:, i].set(v),
        lambda x, v, i: _set_at(x, (slice(None), i), v), ((2, 4), (3,), (3,)),
        ("normal", "normal", ("int", -4, 4)), ("float64", "float64", "int64"),
        ops=("index_set", "check_index", "equal", "where")),
    Row("index_set[mask]", lambda x: x.at[MASK].set(0.0), lambda x: np.where(MASK, 0.0, x),
        (S,), ops=("index_set",)),
    Row("at_add", lambda x, v: x.at[REP].add(v), lambda x, v: x + _scatter_add(x.shape, REP, v),
        ((3, 2), (2,)), ops=("index_add", "broadcast_to")),
    Row("at_multiply", lambda x, v: x.at[1:, REP[:2]].multiply(v),
        lambda x, v: _mul_at(x, (slice(1, None), REP[:2]), v), ((3, 4), (2, 2)),
        ops=("index_set", "getitem", "multiply")),
    Row("at_multiply[repeat]", lambda x, v: x.at[REP].multiply(v),
        lambda x, v: _mul_at(x, REP, v), ((3, 2), (4, 1)), ops=("index_set", "multiply"),
        rtol=1e-14),
    # ---- special functions and activations (issue 15, item 3); references: NumPy, and
    # math.erf / math.erfc for the error functions
    Row("arcsin", sg.arcsin, np.arcsin, (S,), "unit"),
    Row("arccos", sg.arccos, np.arccos, (S,), "unit"),
    Row("arctan", sg.arctan, np.arctan, ((3, 4),), ("uniform", -3.0, 3.0)),
    Row("arctan2", sg.arctan2, np.arctan2, (S, (3,)), "normal"),
    Row("arcsinh", sg.arcsinh, np.arcsinh, ((3, 4),), ("uniform", -3.0, 3.0)),
    Row("arccosh", sg.arccosh, np.arccosh, (S,), ("uniform", 1.2, 4.0)),
    Row("arctanh", sg.arctanh, np.arctanh, (S,), "unit"),
    Row("log2", sg.log2, np.log2, (S,), "positive"),
    Row("log10", sg.log10, np.log10, (S,), "positive"),
    Row("exp2", sg.exp2, np.exp2, (S,), "normal"),
    Row("hypot", sg.hypot, np.hypot, (S, (3,)), "normal"),
    Row("logaddexp", sg.logaddexp, np.logaddexp, (S, S), "normal"),
    Row("logaddexp2", sg.logaddexp2, np.logaddexp2, (S, (3,)), "normal"),
    Row("cbrt", sg.cbrt, np.cbrt, (S,)),
    Row("reciprocal", sg.reciprocal, np.reciprocal, (S,)),
    # x1 / x2 stays inside (1.5, 1.95) or (-1.95, -1.5): away from the jumps
    Row("fmod", sg.fmod, np.fmod, (S, S), (np.array([[2.7, -2.6, 2.8], [-2.55, 2.9, -2.75]]),
                                           np.array([[1.5, 1.55, -1.6], [-1.52, -1.58, 1.49]]))),
    Row("erf", sg.erf, lambda x: np.vectorize(math.erf)(x), ((3, 4),), ("uniform", -3.0, 3.0)),
    Row("erfc", sg.erfc, lambda x: np.vectorize(math.erfc)(x), ((3, 4),),
        ("uniform", -3.0, 6.0)),
    Row("ndtr", sg.ndtr, lambda x: np.vectorize(lambda v: math.erfc(-v / math.sqrt(2)) / 2)(x),
        ((3, 4),), ("uniform", -6.0, 4.0)),
    Row("softsign", sg.softsign, lambda x: x / (1 + np.abs(x)), (S,), "normal"),
    Row("gelu", sg.gelu, lambda x: x * np.vectorize(lambda v: math.erfc(-v / math.sqrt(2)) / 2)(x),
        ((3, 4),), ("uniform", -4.0, 4.0)),
    Row("gelu[tanh]", lambda x: sg.gelu(x, approximate=True),
        lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3))),
        ((3, 4),), ("uniform", -4.0, 4.0), ops=("multiply", "sigmoid")),
    Row("elu", sg.elu, lambda x: np.where(x > 0, x, np.expm1(x)), (S,), "real",
        ops=("where", "expm1")),
    Row("elu[alpha]", lambda x: sg.elu(x, alpha=0.5),
        lambda x: np.where(x > 0, x, 0.5 * np.expm1(x)), (S,), "real", ops=("where", "expm1")),
    Row("selu", sg.selu, lambda x: 1.0507009873554805 * np.where(
        x > 0, x, 1.6732632423543772 * np.expm1(x)), (S,), "real", ops=("where", "expm1")),
    Row("silu", sg.silu, lambda x: x * _sigmoid(x), ((3, 4),), ("uniform", -8.0, 8.0)),
    Row("log_sigmoid", sg.log_sigmoid, lambda x: -np.logaddexp(0, -x), (S,), "normal",
        ops=("softplus",)),
    Row("hard_tanh", sg.hard_tanh, lambda x: np.clip(x, -1, 1), ((3, 4),),
        ("uniform", -2.0, 2.0), ops=("clip",)),
]

ROWS_BY_NAME = {r.name: r for r in ROWS}
assert len(ROWS_BY_NAME) == len(ROWS), "row names must be unique"
