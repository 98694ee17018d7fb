"""Every notebook in notebooks/ runs top to bottom in quick mode (WISEFT_QUICK=1) without an error, and ends
with 2-3 exercises, each with a hidden worked solution (tag `solution`) whose asserts run with the notebook.

The notebooks read the shipped runs under data/ (or WISEFT_DATA when set, e.g. a quick world build:
`python -m core world --quick --out /tmp/w/data --work /tmp/w/work`). Skipped with a reason when
there are no runs to read, or when nbclient is missing. WISEFT_NOTEBOOK_OUT=DIR keeps the executed copies.
"""

from __future__ import annotations

import ast
import os
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
DATA = Path(os.environ.get("WISEFT_DATA") or REPO / "data")
CELL_TIMEOUT = 300  # seconds per cell
EXERCISES = (2, 3)  # how many exercises each notebook ends with (issue 15)


def exercises(book) -> list[list]:
    """The cells of each exercise: a '### Exercise' markdown cell and the cells up to the next one, taken from
    the '## Exercises' heading to the end of the notebook; [] when there is no such heading."""
    heads = [i for i, c in enumerate(book.cells) if c.cell_type == "markdown" and c.source.startswith("## Exercises")]
    if not heads:
        return []
    groups: list[list] = []
    for cell in book.cells[heads[-1] + 1 :]:
        if cell.cell_type == "markdown" and cell.source.startswith("### Exercise"):
            groups.append([])
        if groups:
            groups[-1].append(cell)
        else:
            groups.append([cell])  # anything between the heading and the first exercise: reported below
    return groups


def is_solution(cell) -> bool:
    return cell.cell_type == "code" and "solution" in cell.metadata.get("tags", [])


def test_notebooks_are_committed_without_outputs():
    nbformat = pytest.importorskip("nbformat")
    assert len(NOTEBOOKS) == 7, [p.name for p in NOTEBOOKS]
    for path in NOTEBOOKS:
        book = nbformat.read(path, as_version=4)
        assert book.metadata["kernelspec"]["name"] == "python3"
        dirty = [i for i, c in enumerate(book.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
        assert not dirty, f"{path.name}: cells {dirty} have outputs; strip them before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_ends_with_exercises(path: Path):
    """2-3 exercises at the end: task (markdown), a student code cell, then a hidden solution with an assert."""
    nbformat = pytest.importorskip("nbformat")
    book = nbformat.read(path, as_version=4)
    groups = exercises(book)
    assert EXERCISES[0] <= len(groups) <= EXERCISES[1], f"{path.name}: {len(groups)} exercises after '## Exercises'"
    for k, cells in enumerate(groups, start=1):
        where = f"{path.name}, exercise {k}"
        assert [c.cell_type for c in cells] == ["markdown", "code", "code"], f"{where}: task, your code, solution"
        task, student, solution = cells
        assert task.source.startswith(f"### Exercise {k}:"), f"{where}: the task starts '### Exercise {k}: ...'"
        assert not is_solution(student) and student.source.strip(), f"{where}: the student cell comes first"
        assert is_solution(solution), f"{where}: the last cell is tagged 'solution'"
        assert solution.metadata.get("jupyter", {}).get("source_hidden") is True, f"{where}: hide the solution"
        tree = ast.parse(solution.source)
        assert any(isinstance(node, ast.Assert) for node in ast.walk(tree)), f"{where}: the solution checks nothing"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path: Path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    if not (DATA / "runs" / "world-e2e" / "manifest.json").exists():
        pytest.skip(f"no shipped runs under {DATA}: run `make world` or set WISEFT_DATA to a (quick) build")
    monkeypatch.setenv("WISEFT_QUICK", "1")
    monkeypatch.setenv("WISEFT_DATA", str(DATA))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    book = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        book, timeout=CELL_TIMEOUT, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    start = time.perf_counter()
    try:
        client.execute()  # raises CellExecutionError naming the cell on any error
    finally:
        if os.environ.get("WISEFT_NOTEBOOK_OUT"):  # keep the executed copies (CI artifacts, debugging)
            out = Path(os.environ["WISEFT_NOTEBOOK_OUT"])
            out.mkdir(parents=True, exist_ok=True)
            nbformat.write(book, out / path.name)
    print(f"{path.name}: {time.perf_counter() - start:.0f} s")
    solutions = [c for c in book.cells if is_solution(c)]
    assert solutions and all(c.execution_count for c in solutions), f"{path.name}: a solution cell did not run"
