"""The lesson's registry (explorer/lesson.py) against what it names: every step opens in the app with no
exception, its notebook section exists and links back to the step, and docs/lesson.md names every step with
its link and timing."""

from __future__ import annotations

import re

import nbformat
import pytest

from conftest import REPO
from explorer import lesson, state

STEPS = list(enumerate(lesson.list_steps(), start=1))
GUIDE = (REPO / "docs" / "lesson.md").read_text()


@pytest.mark.parametrize(("n", "step"), STEPS, ids=[s.id for _, s in STEPS])
def test_the_notebook_section_exists_and_links_back(n, step):
    book = nbformat.read(REPO / "notebooks" / step.notebook, as_version=4)
    cell = next((c for c in book.cells if c.cell_type == "markdown"
                 and re.search(rf"^#+ {re.escape(step.section)}$", c.source, flags=re.M)), None)
    assert cell is not None, f"{step.notebook} has no heading '{step.section}'"
    assert lesson.step_url(n, lesson.APP_URL) in cell.source, "the section should link back to its step"


@pytest.mark.parametrize(("n", "step"), STEPS, ids=[s.id for _, s in STEPS])
def test_the_guide_names_each_step_with_its_link(n, step):
    row = next(line for line in GUIDE.splitlines() if line.startswith(f"| {n}. "))
    assert step.title in row and f"({lesson.step_url(n, lesson.APP_URL)})" in row and f"| {step.minutes} |" in row
    assert step.section in row and step.notebook[:2] in row


def test_the_lesson_fits_its_fifty_minutes():
    assert sum(s.minutes for s in lesson.STEPS) <= 50


@pytest.mark.skipif(not state.list_runs(list(state.DEFAULT_ROOTS)), reason="the shipped runs are not built")
@pytest.mark.parametrize(("n", "step"), STEPS, ids=[s.id for _, s in STEPS])
def test_every_step_opens_from_its_link(monkeypatch, n, step):
    from streamlit.testing.v1 import AppTest

    monkeypatch.delenv(state.RUNS_ENV, raising=False)
    at = AppTest.from_file(str(REPO / "explorer" / "app.py"), default_timeout=60)
    at.query_params["lesson"], at.query_params["step"] = lesson.LESSON, str(n)
    at.run(timeout=60)
    assert not at.exception, at.exception
    assert not at.error and not at.warning, ([e.value for e in at.error], [w.value for w in at.warning])
    assert any(m.value == f"#### Step {n} of {len(lesson.STEPS)} · {step.title}" for m in at.markdown)
    answer = at.expander[0].markdown[0].value
    assert re.search(r"\d", answer), answer  # computed from the shipped numbers
