"""Every notebook in notebooks/ runs top to bottom in quick mode (WISEFT_QUICK=1) without an error.

The notebooks read the shipped runs under data/ (or WISEFT_DATA when set, e.g. a quick world build:
`python -m core.worlds.build --quick --out /tmp/w/data --work /tmp/w/work`). Skipped with a reason when
there are no runs to read, or when nbclient is missing. WISEFT_NOTEBOOK_OUT=DIR keeps the executed copies.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
DATA = Path(os.environ.get("WISEFT_DATA") or REPO / "data")
CELL_TIMEOUT = 300  # seconds per cell


def test_notebooks_are_committed_without_outputs():
    nbformat = pytest.importorskip("nbformat")
    assert len(NOTEBOOKS) == 5, [p.name for p in NOTEBOOKS]
    for path in NOTEBOOKS:
        book = nbformat.read(path, as_version=4)
        assert book.metadata["kernelspec"]["name"] == "python3"
        dirty = [i for i, c in enumerate(book.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
        assert not dirty, f"{path.name}: cells {dirty} have outputs; strip them before committing"


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
    client = nbclient.NotebookClient(book, timeout=CELL_TIMEOUT, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    try:
        client.execute()  # raises CellExecutionError naming the cell on any error
    finally:
        if os.environ.get("WISEFT_NOTEBOOK_OUT"):  # keep the executed copies (CI artifacts, debugging)
            out = Path(os.environ["WISEFT_NOTEBOOK_OUT"])
            out.mkdir(parents=True, exist_ok=True)
            nbformat.write(book, out / path.name)
    print(f"{path.name}: {time.perf_counter() - start:.0f} s")
