"""The live view's data (explorer.live) against explorer.state and core.results.metrics, and the fixes of issue 13
that live in Python: effective robustness only from a zero-shot start, fixed/broken counts that honour
the class filter, blank paper cells as None (never NaN), one colour per shift in both modes, the paper's
Table 3, and uploads that are not images or are transparent."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from conftest import copy_run
from core.results import metrics
from core.runs.artifacts import update_manifest
from explorer import charts, live, paper, state
from explorer.gallery import read_upload
from test_app import runs_root, write_baselines  # noqa: F401  (the fixture: tiny runs with baselines)


def test_the_payload_holds_every_alpha_of_every_set(runs_root):  # noqa: F811
    ra = state.load_run(runs_root / "tiny-e2e")
    p = live.run_payload(ra, "val", 0.0)
    json.dumps(p, allow_nan=False)  # JSON without NaN: the browser parses it as is
    run = ra.run
    for g, alpha in enumerate(ra.alphas):
        acc = {n: metrics.accuracy(run.logits(n, float(alpha)), run.labels(n)) for n in run.dataset_names}
        acc[state.AVG_OOD] = np.mean([acc[n] for n in run.ood_datasets])
        assert {n: p["acc"][n][g] for n in p["acc"]} == pytest.approx(acc, abs=1e-6)
        want = state.per_class_accuracy(ra, "val", float(alpha))
        got = np.array([np.nan if v is None else v for v in p["per_class"][g]])
        np.testing.assert_allclose(got, want, atol=1e-6)
    assert p["ends"] == [0.0, 1.0] and p["endpoints"] == ["zero-shot", "fine-tuned"]


def test_fixed_and_broken_counts_honour_the_class_filter(runs_root):  # noqa: F811
    ra = state.load_run(runs_root / "tiny-e2e")
    for cls in (None, *range(len(ra.classnames))):
        table = live.flip_table(ra, 0.0, cls)
        for name, s in ra.sets.items():
            for g, alpha in enumerate(ra.alphas):
                flips = state.flips(ra, name, 0.0, float(alpha))
                keep = {k: v if cls is None else v[s.labels[v] == cls] for k, v in flips.items()}
                assert table[name][g] == [len(keep["fixed"]), len(keep["broken"])]


def test_effective_robustness_only_for_paths_from_a_zero_shot_model(runs_root, tmp_path):  # noqa: F811
    ra = state.load_run(runs_root / "tiny-e2e")
    p = live.run_payload(ra)
    fit = state.trend(ra, state.AVG_OOD)
    curves = ra.accuracy_curves()
    np.testing.assert_allclose(
        p["scatter"]["er"], metrics.effective_robustness(curves[ra.id_name], curves[state.AVG_OOD], fit), atol=1e-6
    )
    scratch = copy_run(runs_root / "tiny-e2e", tmp_path / "scratch")
    update_manifest(scratch, {"endpoints": {"theta_0": "from scratch, init A", "theta_1": "from scratch, init B"}})
    p = live.run_payload(state.load_run(scratch))
    assert p["scatter"]["er"] is None and "from scratch, init A" in p["scatter"]["er_note"]
    assert p["endpoints"] == ["from scratch, init A", "from scratch, init B"]


def test_blank_paper_cells_are_none_and_the_paper_has_a_trend_line():
    sweeps = paper.list_sweeps()
    align_lc = next(s for s in sweeps if s.table == "Table 9" and s.finetune == "linear-classifier")
    fit = paper.endpoint_trend(sweeps)
    p = live.paper_payload(align_lc, 1.0, fit)
    json.dumps(p, allow_nan=False)
    assert p["acc"]["ImageNet"][-1] is None and p["acc"]["ObjectNet"][-1] is not None
    assert fit is not None and p["scatter"]["fit"] == pytest.approx(list(fit))
    assert p["scatter"]["er"][0] is not None


def test_a_shift_keeps_its_colour_between_run_and_paper_mode():
    run = charts.dataset_colors(["id_test", "v2", "sketch", "rendition", "objectnet", "hard", "avg_ood"], "id_test")
    pap = charts.dataset_colors(["ImageNet", *paper.SHIFTS, "avg_ood"], "ImageNet")
    pairs = {
        "v2": "ImageNetV2",
        "sketch": "ImageNet-Sketch",
        "rendition": "ImageNet-R",
        "objectnet": "ObjectNet",
        "hard": "ImageNet-A",
        "id_test": "ImageNet",
        "avg_ood": "avg_ood",
    }
    assert {r: run[r] for r in pairs} == {r: pap[p] for r, p in pairs.items()}
    assert len(set(run.values())) == len(run)  # and no two sets share one


def test_choosing_alpha_marks_the_best_alphas():
    alphas = np.linspace(0, 1, 5)
    curves = {
        "id": np.array([0.5, 0.6, 0.7, 0.8, 0.79]),
        "ood": np.array([0.3, 0.4, 0.35, 0.3, 0.2]),
        "avg_ood": np.array([0.3, 0.4, 0.35, 0.3, 0.2]),
    }
    marks = live._marks(alphas, curves, "id", ["ood"])
    assert marks == {"half": 0.5, "best_id": 0.75, "best": {"ood": 0.25, "avg_ood": 0.25}}


def test_table3_is_the_best_alpha_minus_one_half_of_tables_4_and_5():
    published = {(r["model"], r["fine-tuning"]): r for r in paper.published_table3()}
    assert len(published) == 4
    for sweep in paper.list_sweeps():
        row = published.get((sweep.model, sweep.finetune))
        if row is None:
            continue
        got = paper.optimal_minus_half(sweep)
        for name in (paper.ID_NAME, *paper.SHIFTS, paper.AVG_OOD):
            assert got[name] == pytest.approx(row[name], abs=0.051), (sweep.label, name)


def test_a_text_file_named_png_gets_a_clean_message():
    with pytest.raises(ValueError) as err:
        read_upload("notes.png", b"just some notes\n")
    assert str(err.value) == "notes.png is a text file, not an image; upload a PNG, JPEG, WebP, GIF, BMP or TIFF file"


def test_a_transparent_png_is_put_on_white_with_a_note():
    buf = io.BytesIO()
    Image.new("RGBA", (8, 8), (0, 0, 0, 0)).save(buf, format="PNG")
    image, note = read_upload("clear.png", buf.getvalue())
    assert image.mode == "RGB" and image.getpixel((3, 3)) == (255, 255, 255)
    assert "white background" in note
    opaque = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(opaque, format="PNG")
    assert read_upload("red.png", opaque.getvalue())[1] == ""
