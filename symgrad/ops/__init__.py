"""All ops, by NumPy name. Each op family lives in its own module."""

from .elementwise import (bitwise_and, bitwise_or, bitwise_xor, invert)
from .elementwise import (abs, add, ceil, clip, cos, cosh, divide, equal, exp, expm1, floor,
                          floor_divide, greater, greater_equal, leaky_relu, less, less_equal, log,
                          log1p, logical_and, logical_not, logical_or, logical_xor, maximum,
                          minimum, mod, multiply, negative, not_equal, power, relu, remainder,
                          sigmoid, sign, sin, sinh, softplus, sqrt, square, stop_gradient,
                          subtract, tan, tanh, where)
from .indexing import getitem
from .leaves import as_var, constant, matrix, scalar, shared, tensor, vector
from .linalg import dot, einsum, matmul, outer, tensordot
from .manip import (all, any, argsort, diff, flip, pad, repeat, roll, sort, take,
                    take_along_axis, tile)
from .nnfuncs import elu, gelu, hard_tanh, log_sigmoid, log_softmax, logsumexp, selu, softmax
from .reduce import argmax, argmin, cumprod, cumsum, max, mean, min, prod, std, sum, var
from .registry import REGISTRY, Expr, OpDef, apply, defop
from .special import (arccos, arccosh, arcsin, arcsinh, arctan, arctan2, arctanh, cbrt, erf,
                      erfc, exp2, fmod, hypot, log2, log10, logaddexp, logaddexp2, ndtr,
                      reciprocal, silu, softsign)
from .shape import (arange, astype, broadcast_like, broadcast_to, concatenate, expand_dims,
                    flatten, full, full_like, one_hot, ones, ones_like, ravel, reshape,
                    reshape_like, shape_of, size_of, squeeze, stack, sum_to, swapaxes,
                    transpose, zeros, zeros_like)

amax, amin = max, min
# NumPy 2's array-API names of the inverse functions
asin, acos, atan, atan2, asinh, acosh, atanh = (arcsin, arccos, arctan, arctan2, arcsinh,
                                                arccosh, arctanh)

# What ``from symgrad.ops import *`` (and so ``symgrad``) exports: the ops by their NumPy
# names, never this package's submodules.
__all__ = [
    "ceil", "floor", "mod", "remainder",
    "bitwise_and", "bitwise_or", "bitwise_xor", "invert",
    "abs", "add", "amax", "amin", "arange", "argmax", "argmin", "astype", "broadcast_like",
    "broadcast_to", "reshape_like",
    "clip", "concatenate", "constant", "cos", "cosh", "cumprod", "cumsum", "divide", "dot",
    "einsum", "equal",
    "exp", "expand_dims", "expm1", "flatten", "floor_divide", "full", "full_like", "greater",
    "greater_equal", "leaky_relu", "less", "less_equal", "log", "log1p", "log_softmax",
    "logical_and", "logical_not", "logical_or", "logical_xor", "logsumexp", "matmul", "matrix",
    "max", "maximum", "mean", "min", "minimum", "multiply", "negative", "not_equal", "one_hot",
    "ones", "ones_like", "outer", "power", "prod", "ravel", "relu", "reshape", "scalar",
    "shared", "sigmoid", "sign", "sin", "sinh", "softmax", "softplus", "sqrt", "square",
    "squeeze",
    "stack", "std", "stop_gradient", "subtract", "sum", "swapaxes", "tan", "tanh", "tensor",
    "tensordot", "transpose", "var", "vector", "where", "zeros", "zeros_like",
]

# array manipulation (symgrad/ops/manip.py)
__all__ += ["all", "any", "argsort", "diff", "flip", "pad", "repeat", "roll", "sort", "take",
            "take_along_axis", "tile"]
# special functions and activations (issue 15)
__all__ += [
    "arcsin", "arccos", "arctan", "arctan2", "arcsinh", "arccosh", "arctanh", "asin", "acos",
    "atan", "atan2", "asinh", "acosh", "atanh", "log2", "log10", "exp2", "hypot", "logaddexp",
    "logaddexp2", "cbrt", "reciprocal", "fmod", "erf", "erfc", "ndtr", "softsign", "elu",
    "selu", "silu", "gelu", "log_sigmoid", "hard_tanh",
]
