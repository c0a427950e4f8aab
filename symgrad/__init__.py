"""symgrad: a symbolic-to-symbolic differentiation compiler that emits plain NumPy.

Build a graph with NumPy-named functions, differentiate it with ``sg.grad`` (new graph
nodes, not a tape), compile it with ``sg.function`` (optimizer passes, then readable NumPy
source) and call the result.
"""

__version__ = "0.1.0"

from . import nn
from .autodiff import grad, hessian, hvp, jacobian, jvp, vjp, vmap
from .function import Function, MissingInputError, function
from .ir.node import SharedVariable, Var
from .ir.types import ShapeError, TensorType
from .ops import *  # noqa: F401,F403 - every op by its NumPy name
from .ops import (abs, add, amax, amin, arange, astype, broadcast_to, clip, constant, cos,
                  divide, equal, exp, expand_dims, expm1, greater, greater_equal, leaky_relu,
                  less, less_equal, log, log1p, log_softmax, logical_and, logical_not,
                  logical_or, logical_xor, logsumexp, matmul, matrix, max, maximum, mean, min,
                  minimum, multiply, negative, not_equal, ones_like, power, relu, reshape,
                  scalar, shared, sigmoid, sign, sin, softmax, softplus, sqrt, square,
                  squeeze, stop_gradient, subtract, sum, tan, tanh, tensor, transpose, vector,
                  where, zeros_like)
from .ops.registry import REGISTRY, Expr, OpDef, defop
from . import linalg, optim, random  # noqa: E402 - after the ops: `random` is not ops.random
from . import distributed  # noqa: E402 - Dask is imported only when a step runs on it
from .printing import debugprint, render, to_dot, to_networkx
from .rewrite import optimize
from .sympy_bridge import from_sympy, to_sympy
from .testing import check_grad

__all__ = [
    "__version__", "nn", "distributed", "linalg", "grad", "vjp", "jvp", "jacobian", "hessian",
    "hvp", "vmap",
    "check_grad", "to_sympy", "from_sympy", "function", "Function", "MissingInputError",
    "Var", "SharedVariable", "TensorType", "ShapeError", "defop", "OpDef", "Expr", "REGISTRY",
    "debugprint", "to_dot", "to_networkx", "render", "optimize",
    "tensor", "scalar", "vector", "matrix", "constant", "shared",
    "abs", "add", "amax", "amin", "arange", "astype", "broadcast_to", "clip", "cos", "divide",
    "equal", "exp", "expand_dims", "expm1", "greater", "greater_equal", "leaky_relu", "less",
    "less_equal", "log", "log1p", "log_softmax", "logical_and", "logical_not", "logical_or",
    "logical_xor", "logsumexp", "matmul", "max", "maximum", "mean", "min", "minimum",
    "multiply", "negative", "not_equal", "ones_like", "power", "relu", "reshape", "sigmoid",
    "sign", "sin", "softmax", "softplus", "sqrt", "square", "squeeze", "stop_gradient",
    "subtract", "sum", "tan", "tanh", "transpose", "where", "zeros_like",
    "argmax", "argmin", "concatenate", "cumsum", "dot", "einsum", "flatten", "floor_divide",
    "full", "one_hot", "ones", "outer", "prod", "ravel", "stack", "std", "tensordot", "var",
    "zeros", "bitwise_and", "bitwise_or", "bitwise_xor", "invert", "remainder", "mod",
    "floor", "ceil",
]
