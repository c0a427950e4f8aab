"""Pickling: graphs, ops and compiled functions travel to other processes and to disk.

Standard ``pickle`` (and cloudpickle, which uses the same hooks) handles every symgrad
object; three kinds need help, and get it here:

* **Ops** pickle by reference: the op's name and the module that defined it (the module
  of its ``infer`` rule). Unpickling looks the name up in the registry, importing that
  module first when the op is not registered yet, so a user op made with ``sg.defop`` in an
  importable module works in any process where that module imports. Otherwise the error
  (``OpNotFoundError``) names the op and the module.
* **Variables** pickle their op, inputs, parameters, type, name and tag (and a shared
  variable its value, a constant its array). Pickle itself walks objects recursively, so a
  deep graph would exhaust the recursion limit. A variable pickled on its own therefore
  first lists its ancestors in topological order (its *prelude*, found by an iterative
  walk); each of them is then pickled after all of its own inputs, which pickle's memo
  turns into references, so the depth of the recursion no longer grows with the graph.
  Variables in a prelude are marked while it is written (and unmarked by a sentinel at its
  end) so that they do not list their own ancestors again. The marks only ever shorten a
  prelude; what is written is always the whole graph (pickle's memo keeps shared nodes
  shared). An unpickled variable gets a fresh id; a shared variable owns a copy of its
  value.
* **Compiled functions** pickle what they were made from (inputs, outputs, updates,
  name, options) and compile again when loaded: the same graph compiles to the same
  code, so the loaded function computes exactly what the original computes. Its shared
  variables are the unpickled copies, with the values they had when pickled. Pickle a
  training step together with the objects that share its variables (the network, the
  optimizer state) in one ``pickle.dump`` call to keep them shared after loading.
"""

from __future__ import annotations

import importlib
import itertools
import threading
import weakref

import numpy as np

__all__ = ["OpNotFoundError"]


class OpNotFoundError(ImportError):
    """An unpickled graph uses an op that is not registered in this process."""


# ---------------------------------------------------------------------------------------
# ops
# ---------------------------------------------------------------------------------------

def reduce_op(op):
    """``OpDef.__reduce__``: the op by name and defining module."""
    module = getattr(op.infer, "__module__", None) or getattr(op.emit, "__module__", None)
    return (load_op, (op.name, module))


def load_op(name: str, module: str | None):
    """The registered op ``name``, importing ``module`` (which defines it) if need be."""
    from .ops.registry import REGISTRY
    op = REGISTRY.get(name)
    if op is not None:
        return op
    why = ""
    if module and module != "__main__":
        try:
            importlib.import_module(module)
        except ImportError as exc:
            why = f" ({type(exc).__name__}: {exc})"
        op = REGISTRY.get(name)
        if op is not None:
            return op
    if module == "__main__":
        where = ("in the main script of the process that pickled it; a script's ops are not "
                 "defined in other processes. Define the op with sg.defop in a module that "
                 "both processes import")
    elif why:
        where = (f"in module {module!r}, which does not import here{why}. Make that module "
                 "importable where the graph is unpickled")
    else:
        where = (f"in module {module!r}, which imports here but does not define it. Call "
                 "sg.defop at the top level of that module")
    raise OpNotFoundError(f"cannot unpickle a graph that uses op {name!r}: it is not "
                          f"registered in this process. It was defined with sg.defop {where}.")


# ---------------------------------------------------------------------------------------
# variables
# ---------------------------------------------------------------------------------------

_BASE_SLOTS = ("op", "inputs", "params", "type", "_name", "tag", "id", "__weakref__")
_local = threading.local()        # .marked: id(var) -> (weakref to var, prelude token)
_tokens = itertools.count()
_extra_slots_cache: dict[type, tuple[str, ...]] = {}


def _marked() -> dict:
    m = getattr(_local, "marked", None)
    if m is None:
        m = _local.marked = {}
    return m


def _extra_slots(cls) -> tuple[str, ...]:
    """The slots a subclass of Var adds (a shared variable's value, say)."""
    hit = _extra_slots_cache.get(cls)
    if hit is None:
        names = []
        for klass in reversed(cls.__mro__):
            for s in klass.__dict__.get("__slots__", ()):
                if s not in _BASE_SLOTS and s not in names:
                    names.append(s)
        hit = _extra_slots_cache[cls] = tuple(names)
    return hit


def _ancestors(v) -> list:
    """Every node ``v`` depends on (through inputs and gradient tags), each after its own
    dependencies; ``v`` excluded. Iterative."""
    def deps(n):
        tag_node = getattr(n.tag, "node", None)
        return n.inputs + ((tag_node,) if tag_node is not None else ())

    order, seen = [], {id(v)}
    stack = [(v, iter(deps(v)))]
    while stack:
        node, it = stack[-1]
        for child in it:
            if id(child) not in seen:
                seen.add(id(child))
                stack.append((child, iter(deps(child))))
                break
        else:
            stack.pop()
            order.append(node)
    order.pop()          # v itself, last in post-order
    return order


class _EndOfPrelude:
    """Written after a prelude: unmarks its variables when pickle reaches it."""

    __slots__ = ("token",)

    def __init__(self, token: int):
        self.token = token

    def __reduce__(self):
        marked = _marked()
        for key in [k for k, (_, t) in marked.items() if t == self.token]:
            del marked[key]
        return (_nothing, ())


def _nothing():
    return None


def reduce_var(v):
    """``Var.__reduce__``: rebuilt by ``_new_var``, then ``restore_var`` with the state."""
    marked = _marked()
    mark = marked.pop(id(v), None)
    if mark is not None and mark[0]() is v:
        prelude = ()                      # its inputs are already written
    else:
        ancestors = _ancestors(v)
        token = next(_tokens)
        for a in ancestors:
            marked[id(a)] = (weakref.ref(a), token)
        prelude = (*ancestors, _EndOfPrelude(token)) if ancestors else ()
    extra = {s: getattr(v, s) for s in _extra_slots(type(v)) if hasattr(v, s)}
    state = (prelude, v.op, v.inputs, v.params, v.type, v._name, v.tag, extra,
             getattr(v, "loc", None))
    return (_new_var, (type(v),), state)


def _new_var(cls):
    return cls.__new__(cls)


def restore_var(v, state) -> None:
    """``Var.__setstate__``."""
    from .aligned import aligned_copy
    from .ir.node import SharedVariable, _ids
    _, op, inputs, params, type_, name, tag, extra, loc = state
    v.op, v.inputs, v.params, v.type, v._name, v.tag = op, inputs, params, type_, name, tag
    v.id = next(_ids)
    v.loc = loc
    for slot, value in extra.items():
        if slot == "_value" and isinstance(value, np.ndarray):
            if isinstance(v, SharedVariable):
                value = aligned_copy(value)        # the loaded copy is this variable's own
            else:
                value.setflags(write=False)        # a constant stays read-only
        setattr(v, slot, value)


# ---------------------------------------------------------------------------------------
# compiled functions
# ---------------------------------------------------------------------------------------

def reduce_function(f):
    """``Function.__reduce__``: what the function was made from; compiled again on load."""
    from .autodiff.structure import unflatten
    outputs = unflatten(f._tree, f.outputs)
    spec = dict(inputs=list(f.inputs), outputs=outputs, updates=dict(f.updates),
                name=f.name, optimize=f.optimize, check_finite=f.check_finite,
                target=f.target, passes=getattr(f, "_passes", None))
    return (load_function, (spec,))


def load_function(spec):
    from .function import Function
    spec = dict(spec)
    return Function(spec.pop("inputs"), spec.pop("outputs"), **spec)
