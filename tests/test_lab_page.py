"""The LMC lab page (?mode=lab) and its charts: every section present draws its figures (valid plotly) and
prints the sentences explorer.lab_text computes from the stored numbers; a missing section says how to
compute it. Runs on the shipped data/world/lab (or $WISEFT_DATA's)."""

from __future__ import annotations

import json

import plotly.graph_objects as go
import pytest

from explorer import lab_charts, lab_page, lab_text
from test_app import open_app

ROOT = lab_page.lab_root()
SHIPPED = {n: json.loads((ROOT / f"{n}.json").read_text()) for n in lab_page.SECTIONS if (ROOT / f"{n}.json").exists()}
FIGURES = {"spawn": (lab_charts.spawn_barriers, lab_charts.spawn_paths), "swa": (lab_charts.swa_chart,),
           "align": (lab_charts.align_paths, lab_charts.align_ratios),
           "soups": (lab_charts.barrier_heatmap, lab_charts.soups_scatter)}
TEXT = {"spawn": lab_text.spawn_md, "swa": lab_text.swa_md, "align": lab_text.align_md, "soups": lab_text.soups_md}


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_every_lab_figure_is_valid_plotly(name):
    if name not in SHIPPED:
        pytest.skip(f"no {name}.json in {ROOT}")
    for draw in FIGURES[name]:
        fig = draw(SHIPPED[name])
        go.Figure(fig.to_dict())  # validates every property
        assert fig.data and fig.layout.title.text


def lab_app(monkeypatch, data_root):
    monkeypatch.setenv("WISEFT_DATA", str(data_root))
    at = open_app(monkeypatch, None)
    at.radio(key="mode").set_value("LMC lab").run()
    assert not at.exception, at.exception
    return at


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
