"""The Baselines view (issue 28): explorer.baselines_text's words follow the signs of the intervals it
prints, explorer.charts.baselines_scatter draws the points core computed, and the app's tab and lesson
step open with no exception, on the tiny test runs and on the shipped world."""

from __future__ import annotations

import re

import numpy as np
import pytest

from conftest import REPO, copy_run
from core.results import metrics
from core.results.claims import correctness
from core.results.ensembles import ensemble_rows, mix_outputs
from core.results.robustness import scatter_points
from core.results.uncertainty import Interval
from core.runs.artifacts import Run
from explorer import baselines_text, charts
from test_app import open_app, runs_root  # noqa: F401  (the fixture: tiny runs with baselines)

E2E, LC = REPO / "data" / "runs" / "world-e2e", REPO / "data" / "runs" / "world-lc"
shipped = pytest.mark.skipif(not (E2E / "finetunes.json").is_file(), reason="the shipped world is not built")


def test_spans_groups_neighbouring_grid_alphas():
    grid = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]
    assert baselines_text.spans([0.2, 0.3, 0.4, 0.7], grid) == "α 0.20–0.40 and 0.70"
    assert baselines_text.spans([0.1, 0.3, 0.5], grid) == "α 0.10, 0.30 and 0.50"
    assert baselines_text.spans([0.6], grid) == "α 0.60"


@shipped
def test_each_variant_is_named_where_its_interval_puts_it():
    points = scatter_points(Run(E2E))
    text = baselines_text.summary_md(points, ensemble_rows(Run(E2E)))
    rows = baselines_text.family_rows(points)
    assert len(rows) == 6
    for r in rows:  # the verdict is the interval's sign, recomputed from the paired difference
        f = next(f for f in points["finetunes"] if f["name"] == r["variant"] and f["alpha"] == 1.0)
        iv = Interval(**f["vs_wiseft"]["ood"])
        assert r["verdict"] == {1: "above WiSE-FT", -1: "below WiSE-FT", 0: "within noise of WiSE-FT"}[iv.sign]
    below = ", ".join(r["variant"] for r in rows if r["sign"] < 0)
    within = ", ".join(r["variant"] for r in rows if r["sign"] == 0)
    assert f"land below WiSE-FT's curve ({below})" in text
    assert f"are within noise of it ({within})" in text
    assert ("land above it" in text) == any(r["sign"] > 0 for r in rows)


@shipped
def test_the_ensemble_sentence_lists_the_alphas_its_intervals_support():
    """Recomputed here: the logit ensemble from the two stored ends, WiSE-FT from the sweep's predictions."""
    run = Run(E2E)
    rows = ensemble_rows(run)
    text = baselines_text.summary_md(scatter_points(run), rows)
    grid = [float(a) for a in run.alphas if 0 < a < 1]
    above, below = [], []
    for a in grid:
        i = run.grid_index(a)
        diffs = []
        for name in run.ood_datasets:
            z0, z1 = run.logits(name, [0.0, 1.0])
            ens = mix_outputs(z0, z1, a, "logits").argmax(-1) == run.labels(name)
            diffs.append(ens.astype(float) - correctness(run, name)[i])
        d = np.mean([x.mean() for x in diffs])
        row = next(r for r in rows if r["dataset"] == "avg_ood" and r["alpha"] == a)
        assert row["difference"].value == pytest.approx(d, abs=1e-12)
        (above if row["difference"].sign > 0 else below if row["difference"].sign < 0 else []).append(a)
    assert above and below  # the shipped world shows both
    assert f"above WiSE-FT's average OOD accuracy at {baselines_text.spans(above, grid)} " in text
    assert f"below it at {baselines_text.spans(below, grid)} " in text
    assert "2 forward passes per image (WiSE-FT: 1)" in text


@shipped
def test_a_linear_classifier_ensemble_is_said_to_be_wiseft_itself():
    run = Run(LC)
    rows = ensemble_rows(run)
    assert all(r["difference"].lo == r["difference"].hi == 0 for r in rows)
    assert "gives exactly WiSE-FT's predictions" in baselines_text.summary_md(scatter_points(run), rows)


@shipped
def test_the_scatter_draws_the_points_core_computed():
    points = scatter_points(Run(E2E))
    fig = charts.baselines_scatter(points, (1.0, 0.5))
    fig_dict = fig.to_dict()
    import plotly.graph_objects as go

    go.Figure(fig_dict)  # validates every trace and the layout
    by = {}
    for t in fig.data:
        by.setdefault((t.name, t.xaxis or "x"), t)
    wise = by["WiSE-FT (mixes weights; 1 forward pass)", "x"]
    np.testing.assert_allclose(wise.x, metrics.logit([p["id"]["value"] for p in points["wiseft"]]))
    np.testing.assert_allclose(wise.y, metrics.logit([p["ood"]["value"] for p in points["wiseft"]]))
    own = [f for f in points["finetunes"] if f["alpha"] == 1.0]
    zoom = by["other fine-tunes", "x2"]  # every variant in the zoomed corner, in %, with its OOD interval
    np.testing.assert_allclose(zoom.y, [100 * f["ood"]["value"] for f in own])
    np.testing.assert_allclose(np.asarray(zoom.y) + zoom.error_y.array, [100 * f["ood"]["hi"] for f in own])
    assert ("their own WiSE-FT, α = 0.5", "x") in by
    box = fig.layout.shapes[0]  # the dotted box on the left holds every zoomed point
    for t in fig.data:
        if t.xaxis == "x2" and t.x is not None:
            xs = metrics.logit(np.asarray(t.x, dtype=float) / 100)
            assert box.x0 - 1e-9 <= xs.min() and xs.max() <= box.x1 + 1e-9, t.name


def test_the_tab_on_a_run_without_a_family_or_baselines(monkeypatch, tmp_path, runs_root):  # noqa: F811
    with_fit = copy_run(runs_root / "tiny-e2e", tmp_path / "runs" / "with-fit")
    bare = copy_run(runs_root / "tiny-e2e", tmp_path / "runs" / "bare")
    (bare / "baselines.csv").unlink()
    for run, sees in ((with_fit, "ships no fine-tuning family"), (bare, "No effective-robustness scatter")):
        monkeypatch.setenv("WISEFT_RUNS", str(tmp_path / "runs"))
        from streamlit.testing.v1 import AppTest

        at = AppTest.from_file(str(REPO / "explorer" / "app.py"), default_timeout=60)
        at.query_params["run"], at.query_params["tab"] = str(run), "Baselines"
        at.session_state["tab"] = "Baselines"  # AppTest opens a tab through its state
        at.run(timeout=60)
        assert not at.exception, at.exception
        said = [e.value for e in (*at.markdown, *at.caption, *at.info)]
        assert any(sees in s for s in said), (run.name, [t.label for t in at.tabs], said[-6:])
        assert any("**Ensembling the outputs.**" in s for s in said), said


@shipped
@pytest.mark.slow
def test_the_tab_on_the_shipped_world_and_its_mix_switch(monkeypatch):
    at = open_app(monkeypatch, None)
    at.query_params["tab"] = at.session_state["tab"] = "Baselines"
    at.run(timeout=60)
    assert not at.exception, at.exception
    (table,) = [d for d in at.dataframe if "variant" in d.value.columns]
    assert list(table.value["variant"]) == [r["variant"] for r in baselines_text.family_rows(scatter_points(Run(E2E)))]
    said = " ".join(m.value for m in at.markdown)
    assert "Mixing the two models' logits" in said
    at.radio(key="baselines:mix").set_value("probs").run(timeout=60)
    said = " ".join(m.value for m in at.markdown)
    assert "Mixing the two models' probabilities" in said
    expect = baselines_text.summary_md(scatter_points(Run(E2E), "probs"), ensemble_rows(Run(E2E), "probs"))
    assert expect in said
    assert re.search(r"\d", expect)


@shipped
def test_the_panels_are_the_scatters_two_halves():
    """The offline page stacks the two panels on a phone: each is one half of the scatter, point for point."""
    points = scatter_points(Run(E2E))
    both = charts.baselines_scatter(points)
    whole, corner = charts.baselines_panels(points)
    for fig, ax in ((whole, "x"), (corner, "x2")):
        half = [t for t in both.data if (t.xaxis or "x") == ax]
        assert [t.name for t in fig.data] == [t.name for t in half]
        for mine, theirs in zip(fig.data, half):
            np.testing.assert_array_equal(np.asarray(mine.x, dtype=float), np.asarray(theirs.x, dtype=float))
            np.testing.assert_array_equal(np.asarray(mine.y, dtype=float), np.asarray(theirs.y, dtype=float))
    assert [bool(t.showlegend) for t in corner.data if t.name] == [True] * len([t for t in corner.data if t.name])
