"""Every Python code block of the README runs, in order, in one namespace."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S)


def test_readme_code_blocks_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # step.save writes a file
    blocks = python_blocks(ROOT / "README.md")
    assert len(blocks) >= 4
    namespace: dict = {"__name__": "readme"}
    for k, block in enumerate(blocks):
        exec(compile(block, f"README.md block {k + 1}", "exec"), namespace)
    assert (tmp_path / "train_step.py").exists()
    assert "def train_step(" in capsys.readouterr().out


def test_readme_opens_with_the_two_commands():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    bash = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    assert "examples/train_mlp.py" in bash[0]
    assert "python -m pytest" in bash[1]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    install = re.search(r'pip install -e "(\.\[[^\]]*\])"', bash[1]).group(1)
    # the notebooks run in the tests; Dask too; the array extra runs the array-API tests
    assert install == ".[dev,examples,notebooks,distributed,array]"
    assert "pip install -q torch==2.13.0" in ci       # and PyTorch CPU, for their torch cases
    assert f'pip install -q -e "{install}"' in ci and "python -m pytest" in ci
