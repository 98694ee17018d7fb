"""`make handouts` on the fastest notebook with figures (01, quick mode, about 25 s): the HTML has no solution
cell, plotly.js inlined once, and every figure the notebook shows is drawn in headless Chromium with the
network refused (skipped, with the reason, without Chromium or playwright)."""

from __future__ import annotations

import functools
import html.parser
import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "01_zero_shot_and_distribution_shift.ipynb"
DATA = Path(os.environ.get("WISEFT_DATA") or REPO / "data")

pytestmark = pytest.mark.slow  # both tests read one handout, made by executing notebook 01


@functools.cache
def handouts_module():
    """notebooks/handouts.py, loaded by path (notebooks/ is not a package)."""
    spec = importlib.util.spec_from_file_location("handouts", REPO / "notebooks" / "handouts.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class _Text(html.parser.HTMLParser):
    """The page's text, as a reader sees it (highlighted code is split into spans in the markup)."""

    def __init__(self):
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


@pytest.fixture(scope="module")
def handout(tmp_path_factory):
    pytest.importorskip("nbclient")
    pytest.importorskip("nbconvert")
    if not (DATA / "runs" / "world-e2e" / "manifest.json").exists():
        pytest.skip(f"no shipped runs under {DATA}: run `make world` or set WISEFT_DATA to a (quick) build")
    handouts = handouts_module()
    out = tmp_path_factory.mktemp("handouts")
    assert handouts.main(["--quick", "--out", str(out), str(NOTEBOOK)]) == 0
    row = json.loads((out / "handouts.json").read_text())["notebooks"][NOTEBOOK.stem]
    return out / row["html"], row


def test_handout_has_no_solutions_and_inlines_plotly_once(handout):
    import nbformat

    page, row = handout
    markup = page.read_text()
    parser = _Text()
    parser.feed(markup)
    text = "".join(parser.parts)
    book = nbformat.read(NOTEBOOK, as_version=4)
    solutions = [c.source for c in book.cells if "solution" in c.metadata.get("tags", [])]
    students = [c.source for c in book.cells if "exercise" in c.metadata.get("tags", [])]
    assert solutions and students
    assert all(s in text for s in students), "the student cells should be in the handout (the check below reads text)"
    others = "\n".join(c.source for c in book.cells if "solution" not in c.metadata.get("tags", []))
    lines = [
        line.strip()
        for s in solutions
        for line in s.splitlines()
        if len(line.strip()) > 20 and line.strip() not in others
    ]  # lines only the solutions have
    assert len(lines) > 10
    leaked = [line for line in lines if line in text]
    assert not leaked, f"solution lines in the handout: {leaked[:3]}"
    assert row["figures"] >= 3  # 01 shows the world, the ID/OOD bars and the effective-robustness scatter
    assert markup.count("* plotly.js v") == 1, "plotly.js should be inlined exactly once"
    assert markup.count("Plotly.newPlot(") == row["figures"]
    assert "require.min.js" not in markup and "application/vnd.plotly.v1+json" not in markup


def test_handout_figures_drawn_offline(handout):
    pytest.importorskip("playwright", reason="the playwright package is not installed")
    handouts = handouts_module()
    if not Path(handouts.CHROMIUM).exists():
        pytest.skip(f"no Chromium at {handouts.CHROMIUM} (apt-get install chromium) to draw the handout in")
    page, row = handout
    seen = handouts.drawn_plots(page)
    assert seen["errors"] == [], seen["errors"]
    assert seen["plots"] == seen["drawn"] == row["figures"], seen
    assert seen["blocked"] == [], f"the handout asked the network for {seen['blocked']}"
    assert seen["missing"] == [], f"the handout asked for files that are not there: {seen['missing']}"
    assert seen["equations"] > 0, "MathJax (OUT/mathjax/) typeset no equation"


def test_progress_bars_are_not_part_of_a_handout():
    handouts = handouts_module()
    bar = {"output_type": "stream", "name": "stderr", "text": "100%|##########| 21/21 [00:01<00:00, 12.3it/s]\r"}
    warning = {"output_type": "stream", "name": "stderr", "text": "UserWarning: something worth reading\n"}
    assert handouts.is_progress(bar) and not handouts.is_progress(warning)
