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
    cell = next(
        (
            c
            for c in book.cells
            if c.cell_type == "markdown" and re.search(rf"^#+ {re.escape(step.section)}$", c.source, flags=re.M)
        ),
        None,
    )
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


def test_one_rounding_for_every_percentage():
    """explorer/numbers.py rounds half up, as live.js's tenths() does (77.25 was 77.3 on a tile, 77.2 in a table)."""
    from explorer import numbers

    assert [numbers.pct(v) for v in (0.7725, 0.77249, 0.0005, 1.0, None, float("nan"))] == [
        "77.3%",
        "77.2%",
        "0.1%",
        "100.0%",
        "n/a",
        "n/a",
    ]
    js = (REPO / "explorer" / "components" / "live" / "live.js").read_text()
    assert "const tenths = (v) => Math.floor(v * 1000 + 0.5 + 1e-9) / 10;" in js  # the same arithmetic


def test_the_image_chart_draws_the_classes_its_list_names():
    import numpy as np

    from explorer import charts

    probs = np.array([[0.6, 0.3, 0.05, 0.05], [0.1, 0.1, 0.1, 0.7]])  # class 3 peaks highest, 2 never does
    fig = charts.path_probabilities(np.array([0.0, 1.0]), probs, ["a", "b", "c", "d"], 0.0, k=2, first=[0, 1, 2])
    assert [t.name for t in fig.data][:3] == ["a", "b", "c"]


def test_choosing_says_where_this_paths_best_alpha_sits():
    import numpy as np

    from explorer import explain

    alphas = np.linspace(0, 1, 11)
    curves = {"id": np.where(np.isclose(alphas, 0.6), 0.9, 0.8), "avg_ood": 0.5 + 0.1 * np.isclose(alphas, 0.5)}
    text = explain.choosing_md(alphas, curves, "id")
    assert "0.60, in the middle of the path" in text and "10.0 pp more" in text


def test_the_lab_paths_are_shares_and_nats():
    """The lab page's paths panels (explorer.paths) from the shipped sections: accuracies in [0, 1] (the alignment
    section stores error in %), barriers as stored."""
    from explorer import lab_page, paths

    sections = lab_page.lab_sections()
    if not {"spawn", "align"} <= set(sections):
        pytest.skip("the lab's spawn and align sections are not built")
    for panel in (paths.spawn_panel(sections["spawn"]), paths.align_panel(sections["align"])):
        accs = [v for cv in panel["curves"] for v in cv["acc"] if v is not None]
        assert accs and 0 <= min(accs) and max(accs) <= 1, panel["id"]
    assert [cv["barrier"] for cv in paths.spawn_panel(sections["spawn"])["curves"]] == [
        round(b, 6) for b in sections["spawn"]["loss_barrier"]
    ]


@pytest.mark.skipif(not state.list_runs(list(state.DEFAULT_ROOTS)), reason="the shipped runs are not built")
def test_the_guides_expected_answers_hold_on_the_shipped_runs():
    """docs/lesson.md's expected answers, in words, against the numbers the steps show."""
    import numpy as np

    from core.results import metrics

    runs = {k: state.load_run(lesson.find_run(name)) for k, name, _ in lesson.PATH_RUNS}
    world, scratch = runs["wiseft"], runs["scratch"]
    acc = world.accuracy_curves()
    assert acc[world.id_name][-1] - acc[world.id_name][0] >= 0.2  # "ID rises by tens of points"
    assert any(acc[n][-1] < acc[n][0] for n in world.ood_names)  # "some shifts fall"
    assert abs(acc[state.AVG_OOD][-1] - acc[state.AVG_OOD][0]) < 0.02  # "the average barely moves"
    ood = acc[state.AVG_OOD]
    assert ood.max() > max(ood[0], ood[-1])  # step 2: "above both"
    barrier = {k: metrics.loss_barrier(r.sets[r.id_name].loss, r.alphas) for k, r in runs.items()}
    assert 1.5 < barrier["scratch"] < 2.5 and all(b < lesson.RISE for k, b in barrier.items() if k != "scratch")
    half = state.view_index(scratch, 0.5)
    assert scratch.sets[scratch.id_name].accuracy[half] < 1.5 / len(scratch.classnames)  # "near chance"
    assert "No ridge" in lesson._plane_answer(world) and "between the ends" in lesson._plane_answer(world)
    best = float(world.alphas[int(np.argmax(acc[world.id_name]))])
    assert best >= 0.8 and ood[state.view_index(world, 0.5)] > ood[state.view_index(world, best)]  # step 6
    from explorer import lab_page

    sections = lab_page.lab_sections()
    if {"swa", "soups"} <= set(sections):  # step 4: the average beats the last snapshot, the soup its best ingredient
        avg, final = sections["swa"]["models"][-1], sections["swa"]["models"][-2]
        assert avg["id_loss"] < final["id_loss"] and avg["ood_acc"] > final["ood_acc"]
        points = sections["soups"]["points"]
        uniform = next(p for p in points if p["kind"] == "uniform")
        assert uniform["ood_acc"] > max(p["ood_acc"] for p in points if p["kind"] == "ingredient")
