"""The code in docs/ runs, and the outputs the docs show are what the code prints.

Conventions in the Markdown files:

* every ```python block of a page runs, in order, in one namespace shared by the page,
  in a temporary working directory;
* a block preceded by ``<!-- not-run -->`` is not run (a listing, or a sketch);
* a ```text block preceded by ``<!-- output -->`` is what the python block before it
  prints; the test compares the two (trailing spaces ignored).

When the code generator changes on purpose, refresh the shown outputs with
``python tests/test_doc_snippets.py --update`` and re-read the prose around them.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

# pages whose python blocks are meant to run
RUN = ["tutorial.md", "reading_generated_code.md", "optimizers.md", "optimizer.md",
       "notebooks.md", "numpy_formulas.md",
       "distributed.md", "array_api.md"]
# pages whose python blocks are listings of generated code: they must at least parse
LISTINGS = ["performance.md"]

FENCE = re.compile(r"^```([A-Za-z0-9_-]*)[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
MARK = re.compile(r"<!--\s*([a-z-]+)\s*-->\s*$")


@dataclass
class Block:
    lang: str
    code: str
    start: int          # offsets of the block's body in the page
    end: int
    line: int           # line number of the opening fence
    mark: str | None    # "not-run", "output" or None


def blocks_of(text: str) -> list[Block]:
    out = []
    for m in FENCE.finditer(text):
        before = text[: m.start()].rstrip()
        mk = MARK.search(before[-80:])
        out.append(Block(m.group(1), m.group(2), m.start(2), m.end(2),
                         text.count("\n", 0, m.start()) + 1, mk.group(1) if mk else None))
    return out


def _normal(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines())


def run_page(name: str, workdir: Path) -> list[tuple[Block, Block, str]]:
    """Run the page's python blocks; return (python block, output block, printed text)
    for every ``<!-- output -->`` block."""
    text = (DOCS / name).read_text(encoding="utf-8")
    blocks = blocks_of(text)
    namespace: dict = {"__name__": f"docs_{Path(name).stem}"}
    printed: dict[int, str] = {}
    last_python = None
    pairs = []
    old = Path.cwd()
    os.chdir(workdir)
    try:
        for k, b in enumerate(blocks):
            if b.lang == "python" and b.mark != "not-run":
                buf = io.StringIO()
                code = compile(b.code, f"docs/{name}, block at line {b.line}", "exec")
                with contextlib.redirect_stdout(buf):
                    exec(code, namespace)
                printed[k] = buf.getvalue()
                last_python = k
            elif b.mark == "output":
                assert last_python is not None and last_python == k - 1, (
                    f"docs/{name}:{b.line}: an <!-- output --> block must follow the python "
                    "block whose output it shows")
                pairs.append((blocks[last_python], b, printed[last_python]))
    finally:
        os.chdir(old)
    return pairs


@pytest.mark.parametrize("name", RUN)
def test_doc_code_runs_and_outputs_match(name, tmp_path):
    if not (DOCS / name).exists():
        pytest.skip(f"docs/{name} does not exist")
    text = (DOCS / name).read_text(encoding="utf-8")
    assert any(b.lang == "python" for b in blocks_of(text)), f"docs/{name} has no code"
    for _, out, shown in run_page(name, tmp_path):
        assert _normal(shown) == _normal(out.code), (
            f"docs/{name}:{out.line}: the shown output differs from what the code prints "
            "now; run `python tests/test_doc_snippets.py --update` and re-read the prose.\n"
            f"--- printed now:\n{shown}")


@pytest.mark.parametrize("name", LISTINGS)
def test_listings_parse(name):
    if not (DOCS / name).exists():
        pytest.skip(f"docs/{name} does not exist")
    for b in blocks_of((DOCS / name).read_text(encoding="utf-8")):
        if b.lang == "python":
            compile(b.code, f"docs/{name}, block at line {b.line}", "exec")


def test_block_parser_sees_marks():
    page = ("intro\n\n```python\nprint(1)\n```\n\n<!-- output -->\n```text\n1\n```\n\n"
            "<!-- not-run -->\n```python\nraise SystemExit\n```\n")
    bs = blocks_of(page)
    assert [(b.lang, b.mark) for b in bs] == [("python", None), ("text", "output"),
                                              ("python", "not-run")]
    assert bs[1].code == "1\n"


def test_index_links_exist():
    index = DOCS / "index.md"
    text = index.read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text)
    assert links
    missing = [link for link in links if not (DOCS / link).resolve().exists()]
    assert not missing, f"docs/index.md links to missing files: {missing}"
    for page in RUN[:3]:
        assert page in links, f"docs/index.md does not list {page}"


def _update() -> None:
    """Rewrite every <!-- output --> block with what its code prints now."""
    for name in RUN:
        path = DOCS / name
        if not path.exists():
            continue
        with tempfile.TemporaryDirectory() as tmp:
            pairs = run_page(name, Path(tmp))
        text = path.read_text(encoding="utf-8")
        for _, out, shown in sorted(pairs, key=lambda p: -p[1].start):
            body = _normal(shown) + "\n"
            text = text[: out.start] + body + text[out.end:]
        path.write_text(text, encoding="utf-8")
        print(f"docs/{name}: {len(pairs)} output blocks refreshed")


if __name__ == "__main__":
    if sys.argv[1:] == ["--update"]:
        _update()
    else:
        print(__doc__)
