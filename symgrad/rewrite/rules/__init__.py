"""The rule sets: ``ALGEBRA`` (always safe simplifications), ``STABILITY`` (numerically
stable forms of unstable expressions, in forward and gradient graphs) and ``UNSAFE``
(opt-in: rules that change results on inf/NaN or outside a domain)."""

from .algebra import ALGEBRA
from .stability import STABILITY
from .unsafe import UNSAFE

__all__ = ["ALGEBRA", "STABILITY", "UNSAFE"]
