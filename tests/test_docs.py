"""Docs that are generated stay in sync with the code."""

from pathlib import Path

from symgrad import docgen

ROOT = Path(__file__).resolve().parent.parent


def test_ops_reference_is_up_to_date():
    committed = (ROOT / "docs" / "ops.md").read_text(encoding="utf-8")
    assert committed == docgen.render(), "run: python -m symgrad.docgen"
