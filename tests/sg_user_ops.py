"""A user op defined with sg.defop in an importable module (for tests/test_pickling.py)."""

import symgrad as sg


def _cube_infer(types):
    (t,) = types
    return t


def _cube_vjp(g, out, x):
    return [3.0 * g * sg.square(x)]


CUBE = sg.defop("test_user_cube", infer=_cube_infer, emit="np.power({0}, 3)", vjp=_cube_vjp,
                elementwise=True)


def cube(x):
    """x ** 3 through the user op."""
    from symgrad.ops.registry import apply
    from symgrad.ops.leaves import as_var
    return apply(CUBE, [as_var(x)])
