"""Issue 16: metrics beyond top-1 in the explorer. A set whose benchmark reports macro F1, worst-region
accuracy or pm-0/pm-k gets that metric on the live view's whole grid (a tile and a dashed curve), equal to
core.results.extra_metrics.run_extra_metrics (what `info` and `compare` print) at the sweep's alphas, and to the
metric of the closed-form predictions on a linear run's dense grid."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import copy_run, run_cli
from core.results import extra_metrics as em
from core.results import metrics
from core.runs.artifacts import Run
from explorer import live, state
from test_app import live_payload, open_app
from test_datasets_transfer_wilds_video import write_csv
from test_live_contract import assert_conforms

OOD = "wilds-fmow-ood-test"
OOD_COUNTRIES = ["USA"] * 4 + ["KEN"] * 4 + ["ATA"]  # Americas, Africa, Other (not ranked by WILDS)


def write_fmow(root, categories: list[str]) -> None:
    """A fake FMoW (WILDS layout) with 2 ID-test and 9 OOD-test images of seeded noise (so predictions differ)."""
    from PIL import Image

    rows = [
        ("train", "airport", "USA", "2010-03-01T10:00:00Z"),
        ("test", "zoo", "FRA", "2011-05-02T10:00:00Z"),
        ("test", "dam", "DEU", "2011-05-03T10:00:00Z"),
    ]
    rows += [("test", c, cc, "2017-01-02T10:00:00Z") for c, cc in zip(categories, OOD_COUNTRIES)]
    base = root / "fmow_v1.1"
    write_csv(
        base / "rgb_metadata.csv",
        ["split", "img_filename", "img_path", "category", "country_code", "timestamp"],
        [(s, f"x_{i}.jpg", f"p/{i}", c, cc, t) for i, (s, c, cc, t) in enumerate(rows)],
    )
    write_csv(
        base / "country_code_mapping.csv",
        ["alpha-3", "region"],
        [("USA", "Americas"), ("FRA", "Europe"), ("DEU", "Europe"), ("KEN", "Africa")],
    )
    rng = np.random.default_rng(0)
    (base / "images").mkdir(exist_ok=True)
    for i in range(len(rows)):
        Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(base / "images" / f"rgb_img_{i}.png")


@pytest.fixture(scope="module")
def fmow_run(tmp_path_factory, tiny_config):
    """A tiny 62-class run whose worst-region accuracy changes along the path: swept once, then its OOD
    labels set to what theta_0 predicts, and swept again (right everywhere at alpha 0, less so towards theta_1)."""
    import shutil

    import torch

    from core.data.wilds import FMOW_CATEGORIES
    from core.runs.weights import load_weights, save_weights

    root = tmp_path_factory.mktemp("fmow_varied")
    write_fmow(root / "data", ["dam"] * len(OOD_COUNTRIES))
    (root / "classes.txt").write_text("\n".join(c.replace("_", " ") for c in FMOW_CATEGORIES))
    run, first = root / "run", root / "first"
    run_cli(
        "zeroshot", "--model", tiny_config, "--classnames", root / "classes.txt", "--templates", "simple", "--out", run
    )
    theta = load_weights(run / "weights/zeroshot.safetensors")
    gen = torch.Generator().manual_seed(0)
    theta = {k: v + 2.0 * torch.randn(v.shape, generator=gen) if k.startswith("head.") else v for k, v in theta.items()}
    save_weights(run / "weights/finetuned.safetensors", theta)
    shutil.copytree(run, first)
    sweep = (
        "--id",
        "fmow:id_test",
        "--ood",
        "fmow:ood_test",
        "--data-root",
        root / "data",
        "--allow-partial",
        "--float32",
    )
    run_cli("sweep", "--run", first, *sweep, "--alphas", "0,1")
    pred = Run(first).reductions(OOD)["pred"]  # (2, 9): theta_0's and theta_1's predictions
    assert (pred[0] != pred[1]).sum() >= 4  # theta_1 moves enough predictions for the metric to change
    write_fmow(root / "data", [FMOW_CATEGORIES[c] for c in pred[0]])
    run_cli("sweep", "--run", run, *sweep, "--alphas", "0,0.25,0.5,0.75,1")
    return run


def on_sweep_grid(payload: dict, run: Run) -> np.ndarray:
    """Indices of the run's sweep alphas on the payload's view grid."""
    view = np.asarray(payload["alphas"])
    return np.array([int(np.argmin(np.abs(view - a))) for a in run.alphas])


@pytest.mark.slow
def test_a_linear_run_gets_its_metric_on_the_dense_view_grid(fmow_run):
    ra = state.load_run(fmow_run)
    assert ra.linear and len(ra.alphas) == 101  # head-only fine-tune: a 0.01 view grid
    p = live.run_payload(ra)
    json.dumps(p, allow_nan=False)
    assert_conforms(p)  # explorer/payload.py's ExtraMetric among the rest
    (extra,) = p["extra"]
    assert extra["name"] == OOD and extra["metric"] == "worst-region accuracy" and extra["short"] == "worst-region acc"
    want = em.run_extra_metrics(ra.run)[OOD][1]  # (5,) at the sweep's alphas
    assert want[0] == 1.0 and len(set(extra["values"])) >= 3, extra["values"]  # it changes along the path
    np.testing.assert_allclose(np.asarray(extra["values"])[on_sweep_grid(p, ra.run)], want, atol=1e-6)
    info, labels = ra.run.dataset_info(OOD), ra.run.labels(OOD)
    for g in range(len(ra.alphas)):  # off the sweep grid too: the metric of the closed-form predictions there
        pred = metrics.closed_form(*ra.ends[OOD], float(ra.alphas[g])).argmax(-1)  # (N,)
        assert extra["values"][g] == pytest.approx(em.dataset_metric(pred, labels, info)[1], abs=1e-6)
    assert extra["color"] == next(s["color"] for s in p["sets"] if s["name"] == OOD)


@pytest.mark.slow
def test_a_reductions_only_run_shows_the_same_numbers_as_info(fmow_run, tmp_path):
    import torch  # noqa: F401  (core.runs needs it)

    from core.runs.weights import load_weights, save_weights

    run = copy_run(fmow_run, tmp_path / "reduced")
    theta = load_weights(run / "weights/finetuned.safetensors")  # move the encoder too: no closed form
    theta = {k: v * 1.05 if k.startswith("image_encoder.") and v.is_floating_point() else v for k, v in theta.items()}
    save_weights(run / "weights/finetuned.safetensors", theta)
    run_cli(
        "sweep",
        "--run",
        run,
        "--id",
        "fmow:id_test",
        "--ood",
        "fmow:ood_test",
        "--data-root",
        fmow_run.parent / "data",
        "--allow-partial",
        "--alphas",
        "0,0.25,0.5,0.75,1",
        "--reductions-only",
    )
    ra = state.load_run(run)
    assert not ra.linear and not ra.run.has_logits(OOD)
    p = live.run_payload(ra)
    assert p["alphas"] == [0.0, 0.25, 0.5, 0.75, 1.0]
    (extra,) = p["extra"]
    np.testing.assert_allclose(extra["values"], em.run_extra_metrics(ra.run)[OOD][1], atol=1e-6)


@pytest.mark.slow
def test_the_app_sends_the_metric_to_the_tiles_and_the_chart(monkeypatch, fmow_run, tmp_path):
    root = tmp_path / "runs"
    copy_run(fmow_run, root / "fmow")
    at = open_app(monkeypatch, root)
    p = live_payload(at)
    run = Run(root / "fmow")
    (extra,) = p["extra"]
    want = em.run_extra_metrics(run)[OOD][1]
    got = np.asarray(extra["values"])[on_sweep_grid(p, run)]
    np.testing.assert_allclose(got, want, atol=1e-6)
    # the tile, as live.js writes it: "<set>: <metric> <value>%"
    i = on_sweep_grid(p, run)[1]
    assert (
        f"{extra['label']}: {extra['short']} {100 * extra['values'][i]:.1f}%"
        == f"{OOD}: worst-region acc {100 * want[1]:.1f}%"
    )


def test_runs_without_such_a_metric_send_none(monkeypatch):
    from explorer import paper

    sweep = paper.list_sweeps()[0]
    assert live.paper_payload(sweep)["extra"] == []
