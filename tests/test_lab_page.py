"""The LMC lab page (?mode=lab) and its charts: every section present draws its figures (valid plotly) and
prints the sentences explorer.lab_text computes from the stored numbers; a missing section says how to
compute it. Runs on the shipped data/world/lab (or $WISEFT_DATA's)."""

from __future__ import annotations

import json
from pathlib import Path

import plotly.graph_objects as go
import pytest

from core.lmc import lab
from core.runs.artifacts import MANIFEST, Run
from explorer import lab_charts, lab_page, lab_text
from test_app import open_app

ROOT = lab_page.lab_root()
SHIPPED = {n: json.loads((ROOT / f"{n}.json").read_text()) for n in lab_page.SECTIONS if (ROOT / f"{n}.json").exists()}
FIGURES = {
    "spawn": (lab_charts.spawn_barriers, lab_charts.spawn_paths),
    "swa": (lab_charts.swa_chart,),
    "align": (lab_charts.align_paths, lab_charts.align_ratios),
    "soups": (lab_charts.barrier_heatmap, lab_charts.soups_scatter),
}
E2E = ROOT.parents[1] / "runs" / "world-e2e"
BASELINES = lab.baseline_points(Run(E2E)) if (E2E / MANIFEST).exists() else []
TEXT = {
    "spawn": lab_text.spawn_md,
    "swa": lab_text.swa_md,
    "align": lab_text.align_md,
    "soups": lambda s: lab_text.soups_md(s, BASELINES),
}


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_every_lab_figure_is_valid_plotly(name):
    if name not in SHIPPED:
        pytest.skip(f"no {name}.json in {ROOT}")
    for draw in FIGURES[name]:
        fig = draw(SHIPPED[name], BASELINES) if draw is lab_charts.soups_scatter else draw(SHIPPED[name])
        go.Figure(fig.to_dict())  # validates every property
        assert fig.data and fig.layout.title.text


def lab_app(monkeypatch, data_root):
    monkeypatch.setenv("WISEFT_DATA", str(data_root))
    at = open_app(monkeypatch, None)
    at.radio(key="mode").set_value("LMC lab").run()
    assert not at.exception, at.exception
    return at


@pytest.mark.slow
def test_the_lab_page_prints_what_the_numbers_say(monkeypatch):
    if not SHIPPED:
        pytest.skip(f"no lab sections in {ROOT}")
    at = lab_app(monkeypatch, ROOT.parents[1])
    shown = [m.value for m in at.markdown]
    for name, section in SHIPPED.items():
        if name in TEXT:
            assert TEXT[name](section) in shown, name
    assert at.query_params.get("mode") == "lab"  # the link opens the lab


def test_a_missing_section_says_how_to_compute_it(monkeypatch, tmp_path):
    at = lab_app(monkeypatch, tmp_path)
    assert any("make world" in i.value for i in at.info)


def test_lab_notes_numbers_are_the_shipped_ones():
    """docs/lab-notes.md's spawn, SWA and soups bullets quote the shipped summaries."""
    if not {"spawn", "swa", "soups"} <= set(SHIPPED):
        pytest.skip(f"the lab sections are not all in {ROOT}")
    notes = (lab_page.REPO / "docs" / "lab-notes.md").read_text()
    start = notes.index("- Spawn at k (issue 15.1")
    text = " ".join(notes[start : notes.index("- Permutation alignment", start)].split())
    spawn, swa, soups = SHIPPED["spawn"], SHIPPED["swa"], SHIPPED["soups"]
    lb, eb, lbc, ebc = (
        spawn[k] for k in ("loss_barrier", "error_barrier", "loss_barrier_chord", "error_barrier_chord")
    )
    assert spawn["barrier_definition"] == "frankle" and "in Frankle et al.'s definition" in text
    assert ", ".join(f"{v:.3f}" for v in lb[:-1]) + f" and {lb[-1]:.3f} nats" in text
    assert ", ".join(f"{100 * v:.2f}" for v in eb[:-1]) + f" and {100 * eb[-1]:.3f} pp" in text
    assert (
        lb[:-1] == lbc[:-1]
        and eb[:-1] == ebc[:-1]
        and "The chord barriers (Entezari et al., 2022) are the same up to" in text
    )
    assert f"{lbc[-1]:.3f} nats and {100 * ebc[-1]:.4f} pp at {spawn['k_steps'][-1]} steps" in text
    assert f"{len(spawn['alphas'])} alphas" in text
    assert ("bar (> 1 nat at k = 0) is not met" in text) == (not spawn["holds"]["loss_barrier_above_1_nat_at_k0"])
    avg, final = swa["models"][-1], swa["models"][-2]
    word = "lower" if swa["holds"]["average_beats_final_on_id_loss"] else "higher"
    assert f"a {word} ID loss ({avg['id_loss']:.4f} vs {final['id_loss']:.4f} nats)" in text
    assert f"({100 * avg['ood_acc']:.1f}% vs {100 * final['ood_acc']:.1f}%)" in text
    assert f"{avg['flatness']:.3f} vs {final['flatness']:.3f}" in text and swa["holds"]["average_flatter_than_final"]
    start = swa["models"][0]
    assert (
        start["id_loss"] < avg["id_loss"] and start["flatness"] < avg["flatness"] and start["ood_acc"] < avg["ood_acc"]
    )
    assert (
        f"lower ID loss than the average ({start['id_loss']:.4f} vs {avg['id_loss']:.4f} nats) and is flatter "
        f"({start['flatness']:.3f}), at a lower average OOD accuracy ({100 * start['ood_acc']:.1f}%)"
    ) in text
    points = {p["kind"]: p for p in soups["points"] if p["kind"] != "ingredient"}
    best = max(p["ood_acc"] for p in soups["points"] if p["kind"] == "ingredient")
    wise = max(soups["wiseft"], key=lambda w: w["ood_acc"])
    for kind in ("uniform", "greedy"):
        assert f"{100 * points[kind]['id_acc']:.1f}%" in text and f"{100 * points[kind]['ood_acc']:.1f}%" in text
    assert (
        f"best ingredient {100 * best:.1f}%" in text
        and f"{100 * wise['ood_acc']:.1f}% (alpha {wise['alpha']:g}" in text
    )
    uniform, greedy = soups["soups"]["uniform"], soups["soups"]["greedy"]
    assert (
        not uniform["works"]
        and (
            f"uniform soup fails the held-out test, the greedy recipe's: "
            f"{100 * uniform['heldout_acc']:.2f}% held-out ID accuracy against its best "
            f"ingredient's {100 * uniform['best_member_heldout_acc']:.2f}%"
        )
        in text
    )
    assert (
        len(greedy["members"]) == 1
        and f"greedy soup is one ingredient ({soups['ingredients'][greedy['members'][0]]})" in text
    )


def test_soups_effective_robustness_is_measured_against_the_baselines_fit():
    if "soups" not in SHIPPED or len(BASELINES) < 2:
        pytest.skip("needs the shipped soups and world-e2e's baselines")
    fig = lab_charts.soups_scatter(SHIPPED["soups"], BASELINES)
    fit = [t for t in fig.data if t.name == "baselines' fit"]
    assert len(fit) == 1 and len([t for t in fig.data if t.name == "baseline models"][0].x) == len(BASELINES)
    slope, intercept = lab.metrics.fit_linear_trend([b[1] for b in BASELINES], [b[2] for b in BASELINES])
    assert abs(fit[0].y[0] - (slope * fit[0].x[0] + intercept)) < 1e-9
    text = lab_text.soups_md(SHIPPED["soups"], BASELINES)
    uniform = next(p for p in SHIPPED["soups"]["points"] if p["kind"] == "uniform")
    er = 100 * lab.metrics.effective_robustness(uniform["id_acc"], uniform["ood_acc"], (slope, intercept))
    assert f"uniform soup {er:+.1f} pp" in text


def test_alignment_text_names_the_pair_it_read():
    assert "lmc-scratch" in lab_text.align_pair_md({"methods": {}})  # a summary written without a pair description
    if "align" not in SHIPPED:
        pytest.skip(f"no align.json in {ROOT}")
    pair = SHIPPED["align"]["pair"]
    text = lab_text.align_pair_md(SHIPPED["align"])
    assert f"width **{pair['width']}**" in text and f"(width {pair['world_width']})" in text


def test_the_lab_page_lists_every_barrier_on_the_id_set(monkeypatch):
    """Issue 24's reconciliation table on the lab page: the scratch figures side by side with their BatchNorm handling."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "explorer" / "app.py"), default_timeout=120)
    at.query_params["mode"] = "lab"
    at.run()
    assert not at.exception
    frames = [df.value for df in at.dataframe if "BatchNorm statistics" in df.value.columns]
    assert frames, "no barrier table on the lab page"
    table = frames[0]
    scratch = table[table["pair"] == "from scratch, init A -> from scratch, init B"]
    assert scratch["loss barrier (nats)"].str.startswith("1.945").any()
    lab_pair = table[(table["pair"] == "the lab's scratch pair (seeds 0, 1)") & (table["alignment"] == "unaligned")]
    assert set(lab_pair["BatchNorm statistics"]) == {"interpolated", "recomputed on world:id_train:2000"}
    assert {"chord", "frankle"} <= set(table["definition"])
