"""Buffer planning of the fast target (a lowering): which statements write into workspace
buffers through ``out=``, which buffers are free again after a statement, read-only
filled arrays, ``np.arange(batch)`` made once, bias tiling and ``del`` of dead
temporaries. ``BufferPlanner`` is mixed into the emitter; the plain renderer never calls
it (``plan=False``)."""

from __future__ import annotations

import numpy as np

from ..ir.node import Var
from ..ir.types import format_shape
from ..ops.registry import Expr
from . import memory
from .naming import safe_text

COMMENT_COLUMN = 48           # the column where a generated line's comment starts


# a bias vector at least this long is copied into a 2-D buffer before it is added
TILE_MIN = 64


DEL_MIN_SIZE = 1 << 16        # temporaries of at least this many elements are `del`eted


class BufferPlanner:
    """The emitter's buffer bookkeeping (state set up in ``_Emitter.__init__``)."""

    def cached_arange(self, n: Var, reads) -> bool:
        """``np.arange(batch)`` depends on the input shape only: it is made once, with the
        workspace (like ``_ones``), and read from there at every call."""
        p = n.params
        length = p.get("length")
        # (arange's own lowering: the workspace holds np.arange(length) arrays, a fill kind
        # of its own; no other op is spelled that way)
        if (n.op.name != "arange" or n.id in self.root_ids or len(n.inputs) != 1
                or p.get("start", 0) != 0 or p.get("step", 1) != 1
                or not isinstance(length, str) or length not in self.bound_dims):
            return False
        key = ((length,), n.dtype, "arange")
        if key not in self.aranges:
            name = self.names.fresh("_rows", numbered=True)
            self.aranges[key] = len(self.buffers)
            self.buffers.append(memory.Buffer(name, (length,), n.dtype, "arange"))
        buf = self.aranges[key]
        self.name_of[n.id] = self.buffers[buf].name
        self.name_count[self.buffers[buf].name] = (
            self.name_count.get(self.buffers[buf].name, 0) + 1)
        self.hold(n, frozenset([buf]))
        self.release(reads, n)
        return True

    def tile_broadcast(self, n: Var, args: list[Expr], key, exclude):
        """For ``z + b`` with ``b`` a vector repeated over the rows of a 2-D result: copy
        ``b`` into a workspace buffer of the result's shape first (``np.copyto``), so the
        ufunc sees two arrays of one shape. NumPy allocates a scratch buffer for every
        2-D + 1-D broadcast; the copy allocates nothing and the two calls together are
        faster. Returns the arguments to use and the buffer borrowed (or None)."""
        if memory.kind(n) != "ufunc" or len(n.inputs) != 2 or n.ndim != 2:
            return args, None
        small = [k for k, i in enumerate(n.inputs) if i.type.shape != n.type.shape]
        if len(small) != 1:
            return args, None
        (k,) = small
        v = n.inputs[k]
        rows = v.type.shape[-1] if v.ndim else None
        if (v.ndim not in (1, 2) or (v.ndim == 2 and v.type.shape[0] != 1)
                or not isinstance(rows, int) or rows < TILE_MIN or rows != n.type.shape[1]
                or v.dtype != n.dtype):
            return args, None
        tile = self.take_buffer(key, exclude)
        name = self.buffers[tile].name
        self.add_line(f"    np.copyto({name}, {args[k].text})"
                      f"{' ' * max(COMMENT_COLUMN - 17 - len(name) - len(args[k].text), 2)}"
                      f"# {safe_text(format_shape(n.type.shape))}  {safe_text(str(v), 30)} "
                      "repeated over the rows")
        args = list(args)
        args[k] = Expr(name)
        return args, tile

    # --- memory planning --------------------------------------------------------------
    def poolable(self, n: Var) -> bool:
        if (n.id in self.root_ids and n.id not in self.copied_roots) or n.ndim == 0 \
                or not memory.can_write(n):
            return False
        return self.bound(n.type.shape)

    def take_buffer(self, key, exclude=None) -> int:
        """A free scratch buffer of ``key`` = (shape, dtype), other than ``exclude``, or
        a new one."""
        free = [b for b in self.free.get(key, []) if b != exclude]
        if free:
            self.free[key].remove(free[-1])
            return free[-1]
        self.buffers.append(memory.Buffer(self.names.fresh("_buf", numbered=True), *key))
        return len(self.buffers) - 1

    def bound(self, shape) -> bool:
        """Whether a workspace array of this shape can be made (every size known)."""
        return all(isinstance(d, int) or (isinstance(d, str) and d in self.bound_dims)
                   for d in shape)

    def filled(self, shape, dtype, value) -> str | None:
        """The name of a read-only workspace array of ``shape`` full of ``value``."""
        shape = tuple(shape)
        if not self.bound(shape):
            return None
        dtype = np.dtype(dtype)
        key = (shape, dtype, value)
        if key not in self.fills:
            stem = {0: "_zeros", 1: "_ones"}.get(value, "_full")
            name = self.names.fresh(stem, numbered=True)
            self.fills[key] = name
            self.buffers.append(memory.Buffer(name, shape, dtype, value))
        return self.fills[key]

    def union(self, reads) -> frozenset:
        st: set = set()
        for r in reads:
            st |= self.storage.get(r, frozenset())
        return frozenset(st)

    def hold(self, n: Var, st: frozenset) -> None:
        self.storage[n.id] = st
        if self.remaining.get(n.id, 0) <= 0:
            return
        for b in st:
            self.live.setdefault(b, set()).add(n.id)

    def release(self, reads, n: Var | None = None, keep=None) -> None:
        """The statement for ``n`` has read ``reads``: free what died (except ``keep``,
        which the statement itself took over) and delete dead large temporaries."""
        dead_names = []
        for r in reads:
            self.remaining[r] = self.remaining.get(r, 0) - 1
            if self.remaining[r] != 0:
                continue
            st = self.storage.get(r, frozenset())
            for b in st:
                live = self.live.get(b)
                if live is None:
                    continue
                live.discard(r)
                if not live and isinstance(b, int) and b != keep \
                        and self.buffers[b].fill is None:
                    self.free.setdefault((self.buffers[b].shape, self.buffers[b].dtype),
                                         []).append(b)
            if self.plan and not st and r in self.name_of and not self.alias_leaf.get(r):
                name = self.name_of[r]
                self.name_count[name] -= 1
                node = self.by_id.get(r)
                if self.name_count[name] == 0 and node is not None and self.large(node):
                    dead_names.append(name)
        if dead_names:
            self.add_line(f"    del {', '.join(dead_names)}")

    @staticmethod
    def large(n: Var) -> bool:
        size = 1
        for d in n.type.shape:
            if not isinstance(d, int):
                return True
            size *= d
        return size >= DEL_MIN_SIZE


class StatementWorkspace:
    """What ``memory.out_call`` may ask the emitter for while it writes one statement:
    read-only filled arrays, scratch arrays that are free again after the statement, and
    setup lines written just before it."""

    def __init__(self, em, exclude):
        self.em, self.exclude, self.taken = em, exclude, []

    def filled(self, shape, dtype, value):
        return self.em.filled(shape, dtype, value)

    def count(self, lowering: str) -> None:
        """A statement lowering fired (reported in ``f.stats["lowerings"]``)."""
        self.em.lowered[lowering] = self.em.lowered.get(lowering, 0) + 1

    def scratch(self, shape, dtype):
        em = self.em
        shape = tuple(shape)
        if not em.bound(shape):
            return None
        key = (shape, np.dtype(dtype))
        buf = em.take_buffer(key, self.exclude)
        self.taken.append((key, buf))
        return em.buffers[buf].name

    def add_line(self, code: str, shape, note: str) -> None:
        text = f"    {code}"
        pad = max(COMMENT_COLUMN - len(text), 2)
        self.em.add_line(f"{text}{' ' * pad}# {safe_text(format_shape(shape))}  "
                         f"{safe_text(note, 60)}")

    def give_back(self) -> None:
        for key, buf in self.taken:
            self.em.free.setdefault(key, []).append(buf)
        self.taken = []
