"""The example notebooks run, cell by cell, in a real kernel (nbclient); a failing cell
fails the test. They are stored without outputs."""

import glob
import os
import shutil
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS = sorted(glob.glob(os.path.join(ROOT, "examples", "notebooks", "*.ipynb")))
NAMES = [os.path.basename(p) for p in NOTEBOOKS]


def test_the_three_notebooks_are_there():
    assert {"backprop_by_hand.ipynb", "train_mlp_digits.ipynb",
            "vanishing_gradients.ipynb"} <= set(NAMES)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_notebook_is_stored_without_outputs(path):
    nbformat = pytest.importorskip("nbformat")
    book = nbformat.read(path, as_version=4)
    nbformat.validate(book)
    for cell in book.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]


def _outputs(book, mime):
    return [out["data"][mime] for cell in book.cells if cell.cell_type == "code"
            for out in cell.outputs if mime in out.get("data", {})]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_notebook_executes(path, tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    if "digits" in path:
        pytest.importorskip("sklearn")
    book = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(book, timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    start = time.perf_counter()
    client.execute()            # raises CellExecutionError, naming the cell, when one fails
    seconds = time.perf_counter() - start
    assert seconds < 60, f"{os.path.basename(path)} took {seconds:.0f} s"
    errors = [out for cell in book.cells if cell.cell_type == "code"
              for out in cell.outputs if out.output_type == "error"]
    assert not errors
    html = "".join(_outputs(book, "text/html"))
    name = os.path.basename(path)
    if name != "vanishing_gradients.ipynb":
        assert "symgrad function" in html and "<span style=" in html   # highlighted source
        assert "time/run" in html                                       # the profile table
    if name != "backprop_by_hand.ipynb":
        assert _outputs(book, "image/png")                              # matplotlib figures
    if shutil.which("dot"):
        svgs = _outputs(book, "image/svg+xml") + [h for h in [html] if "<svg" in h]
        if name != "vanishing_gradients.ipynb":
            assert svgs and any("#fde2c8" in s for s in svgs)           # gradient nodes
    if name == "backprop_by_hand.ipynb":
        text = "".join("".join(out.get("text", "")) for cell in book.cells
                       if cell.cell_type == "code" for out in cell.outputs)
        assert "raised in the generated function 'f'" in text
        assert "built at notebook cell, line 3" in text
        assert "picked = table[rows] * 2.0" in text        # the user's own line, quoted
