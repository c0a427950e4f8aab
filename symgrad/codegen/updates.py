"""Shared-value updates in the fast target: which update values are computed straight
into their shared array (in place, after everything else), and the tail of the function
that copies what leaves the call before that write phase and then writes."""

from __future__ import annotations

from ..ir.node import Var
from ..ops.registry import Expr
from . import memory
from .naming import identifier


def choose_inplace(em, out_roots, upd_roots, targets, param_of) -> None:
    """Pick the update values that can be computed straight into their shared array."""
    out_ids = {r.id for r in out_roots}
    count: dict[int, int] = {}
    for r in upd_roots:
        count[r.id] = count.get(r.id, 0) + 1
    target_ids = {t.id for t in targets if t.id in param_of}
    for t, r in zip(targets, upd_roots):
        if (t.id not in param_of or r.op.leaf or r.id in out_ids or count[r.id] > 1
                or em.uses.get(r.id, 0) or r.type.shape != t.type.shape or r.dtype != t.dtype
                or memory.kind(r) not in ("ufunc", "gemm_update")):
            continue
        dummy = [Expr(f"a{k}") for k in range(len(r.inputs))]
        if memory.out_call(r, dummy, r.op.emit(dummy, **r.params), "o") is None:
            continue
        if _reads_targets(em, r, t, target_ids):
            continue
        em.inplace_target[r.id] = param_of[t.id]


def _reads_targets(em, r: Var, own: Var, target_ids: set) -> bool:
    """Whether writing ``r`` into ``own`` could read a shared array that the write phase
    changes (another target, or ``own`` through anything but the plain array)."""
    stack = [(i, True) for i in r.inputs]
    seen = set()
    while stack:
        m, direct = stack.pop()
        if (m.id, direct) in seen:
            continue
        seen.add((m.id, direct))
        if m.id in target_ids:
            if m.id != own.id or not direct:
                return True
            continue
        if m.op.leaf:
            continue
        statement = (em.uses.get(m.id, 0) > 1 or not m.op.inline or em.label(m) is not None
                     or m.id in em.root_ids or em.poolable(m))
        if statement and memory.fresh_result(m):
            continue
        stack.extend((i, False) for i in m.inputs)
    return False


def inplace_tail(em, out_roots, upd_roots, targets, param_of, value_text, raw_text,
                  upd_texts, update_keys) -> list[str]:
    """Outputs first, then the in-place write phase. Returns the texts of the outputs.

    Every value that leaves the call after the write phase (an output, or the new value
    of a shared variable the graph does not read) and that may share memory with a
    shared array the write phase changes is copied *before* that phase, so that it holds
    what was computed from the old values; anything else that may alias an argument, a
    shared array or a buffer is copied where it is returned."""
    written = {param_of[t.id] for t in targets if t.id in param_of}

    def leaving(r: Var, label: str, copy: bool) -> str:
        st = em.storage.get(r.id, frozenset())
        if (r.op.leaf and param_of.get(r.id) in written) or any(
                ("param", nm) in st for nm in written):
            name = em.names.fresh(label)
            em.add_line(f"    {name} = {value_text(r, True)}")
            return name
        return value_text(r, copy)

    out_texts = [leaving(r, f"{em.name_of.get(r.id, 'out')}_copy", False) for r in out_roots]
    # the new values of shared variables the graph does not read become those variables'
    # arrays: always an array of their own
    unread = [(t, r) for t, r in zip(targets, upd_roots) if t.id not in param_of]
    unread_texts = [leaving(r, f"{identifier(t.name, 'shared')}_new", True) for t, r in unread]
    writes = []
    for t, r in zip(targets, upd_roots):
        if t.id not in param_of:
            continue
        if r.id in em.inplace_target:
            continue
        st = em.storage.get(r.id, frozenset())
        text = raw_text(r)          # copied into the shared array: no copy of its own
        if r.op.leaf or any(("param", nm) in st for nm in written):
            name = em.names.fresh(f"{param_of[t.id]}_new")
            em.add_line(f"    {name} = {value_text(r, True)}")
            text = name
        writes.append(f"    np.copyto({param_of[t.id]}, {text})")
    if em.deferred or writes:
        em.set_section("updates")
        em.add_line("    # written into the shared arrays, now that everything is computed")
        for n in em.deferred:
            em.node(n, em.by_id, out_text=em.inplace_target[n.id])
        em.current = ()
        for line in writes:
            em.add_line(line)
    for (t, r), text in zip(unread, unread_texts):
        upd_texts.append(text)
        update_keys.append(em.names.fresh(identifier(t.name, "shared")))
    return out_texts
