#!/usr/bin/env python
"""Look inside symgrad: the graph, its gradient, the passes and the generated code.

The function is the lecture notes' backprop example

    f(x, y, z) = (x y + z)^2 + exp(x - y z)

The script builds f and its gradient with respect to x, y and z, then shows

1. ``sg.debugprint`` of f and of the gradient (gradient nodes are marked ``(grad)``; a
   node printed once is referred to as ``*N`` afterwards);
2. the graph in Graphviz DOT before and after the optimizer passes (compiled with
   ``dump_passes=True``; ``f.pass_dumps`` holds the graph after each pass) and what each
   pass did (``f.stats``); the DOT files go to the output folder, as SVG too when Graphviz
   is installed;
3. the generated NumPy source, and a check of its values against the hand-derived
   gradient: df/dx = 2(xy+z) y + e, df/dy = 2(xy+z) x - e z, df/dz = 2(xy+z) - e y,
   with e = exp(x - yz).

    python examples/inspect_graph.py
    python examples/inspect_graph.py --out /tmp/graphs --no-dot
"""

from __future__ import annotations

import argparse
import os
import shutil

import numpy as np

import symgrad as sg

DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")


def build():
    """f and its gradient, as graph nodes."""
    x, y, z = sg.scalar("x"), sg.scalar("y"), sg.scalar("z")
    f = (x * y + z) ** 2 + sg.exp(x - y * z)
    f.name = "f"
    grads = sg.grad(f, [x, y, z])
    return (x, y, z), f, grads


def parse_args(argv):
    p = argparse.ArgumentParser(description="debugprint, DOT before/after passes, source.")
    p.add_argument("--out", default=DEFAULT_OUT, help="folder for the DOT (and SVG) files")
    p.add_argument("--no-dot", action="store_true", help="do not run Graphviz even if present")
    p.add_argument("--quiet", action="store_true")
    return p.parse_args(argv)


def main(argv=None) -> dict:
    """Print the three views; returns the compiled function, the paths written and the
    values at (x, y, z) = (1, 2, 0.5)."""
    args = parse_args(argv)
    say = (lambda *a: None) if args.quiet else print
    (x, y, z), f, grads = build()

    say("=" * 30, "1. debugprint: f and its gradient", "=" * 30)
    say(sg.debugprint([f] + grads))

    fn = sg.function([x, y, z], {"f": f, "d_x": grads[0], "d_y": grads[1], "d_z": grads[2]},
                     name="f_and_grad", dump_passes=True)
    say()
    say("=" * 30, "2. the passes", "=" * 30)
    say(fn.stats)
    os.makedirs(args.out, exist_ok=True)
    dumps = fn.pass_dumps
    written = {}
    for label, roots in (("before", dumps[0][1]), ("after", dumps[-1][1])):
        path = os.path.join(args.out, f"graph_{label}.dot")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(sg.to_dot(roots, name=f"f_and_grad_{label}"))
        written[label] = path
        if not args.no_dot and shutil.which("dot"):
            written[f"{label}_svg"] = sg.render(sg.to_dot(roots), path[:-4] + ".svg")
    before, after = (sg.to_dot(dumps[0][1]), sg.to_dot(dumps[-1][1]))
    say(f"DOT before the passes ({before.count(' -> ')} edges), {written['before']}:")
    say(before)
    say(f"DOT after the passes ({after.count(' -> ')} edges), {written['after']}:")
    say(after)

    say("=" * 30, "3. the generated source", "=" * 30)
    say(fn.source)
    values = fn(1.0, 2.0, 0.5)
    xv, yv, zv = 1.0, 2.0, 0.5
    e = np.exp(xv - yv * zv)
    s = xv * yv + zv
    by_hand = {"f": s ** 2 + e, "d_x": 2 * s * yv + e, "d_y": 2 * s * xv - e * zv,
               "d_z": 2 * s - e * yv}
    for key, v in values.items():
        say(f"{key} = {float(v): .6f}   (by hand {by_hand[key]: .6f})")
    return {"function": fn, "paths": written, "values": values, "by_hand": by_hand}


if __name__ == "__main__":
    main()
