"""Neural-network building blocks: losses (and, in time, layers and initialisers)."""

from ..ops import leaky_relu, log_softmax, logsumexp, relu, sigmoid, softmax, softplus, tanh
from .losses import binary_cross_entropy, cross_entropy, l1, l2, mse

__all__ = ["binary_cross_entropy", "cross_entropy", "l1", "l2", "mse", "relu", "sigmoid",
           "tanh", "softmax", "log_softmax", "logsumexp", "softplus", "leaky_relu"]
