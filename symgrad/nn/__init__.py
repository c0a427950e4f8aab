"""Neural-network building blocks: losses, regularisers, initialisers, layers, dropout
and mini-batches."""

from ..ops import (elu, gelu, hard_tanh, leaky_relu, log_sigmoid, log_softmax, logsumexp, relu,
                   selu, sigmoid, silu, softmax, softplus, softsign, tanh)
from . import init
from .data import minibatches
from .init import glorot_normal, glorot_uniform, he_normal, he_uniform, zeros
from .layers import MLP, Dense, dropout, mlp
from .losses import binary_cross_entropy, cross_entropy, l1, l2, mse

__all__ = ["binary_cross_entropy", "cross_entropy", "l1", "l2", "mse", "relu", "sigmoid",
           "tanh", "softmax", "log_softmax", "logsumexp", "softplus", "leaky_relu", "elu",
           "selu", "silu", "gelu", "log_sigmoid", "softsign", "hard_tanh",
           "init", "zeros", "glorot_uniform", "glorot_normal", "he_uniform", "he_normal",
           "Dense", "MLP", "mlp", "dropout", "minibatches"]
