"""Issue 28 in the world: the fine-tuning family that `make world` builds (WorldBuild.ft_baselines), stored as
predictions in world-e2e, and the effective-robustness scatter (core.results.robustness) recomputed from them."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import REPO
from core.results import metrics
from core.results.ensembles import output_ensemble
from core.results.robustness import FAMILY_JSON, finetune_family, scatter_points
from core.results.tables import baseline_trend
from core.runs.artifacts import Run, load_json
from core.runs.weights import load_weights
from core.worlds.build.config import WorldBuild

SHIPPED = REPO / "data" / "runs" / "world-e2e"


def check_family(b: WorldBuild, e2e: Run) -> list:
    """The stored family is today's config's, and its stored accuracies are its stored predictions'."""
    stored = load_json(e2e.path / FAMILY_JSON)
    family = finetune_family(e2e)
    assert [m.name for m in family] == [v.name for v in b.ft_baselines]
    assert stored["alphas"] == list(b.ft_alphas) and stored["config"]["recipe"] == json.loads(
        json.dumps(b.finetune.as_record())
    )
    for variant, member, row in zip(b.ft_baselines, family, stored["members"]):
        cfg = variant.config(b.finetune)
        assert all(member.settings[k] == v for k, v in variant.overrides)  # the one thing changed is recorded
        assert member.settings["lr"] == cfg.lr and member.settings["epochs"] == cfg.epochs
        for name in e2e.dataset_names:
            assert member.correct[name].shape == (len(b.ft_alphas), len(e2e.labels(name)))
            np.testing.assert_array_equal(row["accuracy"][name], member.correct[name].mean(axis=1))
    return family


@pytest.mark.slow
def test_quick_world_builds_the_family_and_its_scatter(quick_world):
    b, times = quick_world
    assert "finetune family" in times
    e2e = Run(b.runs / "world-e2e")
    check_family(b, e2e)
    points = scatter_points(e2e)
    trend = baseline_trend(e2e)
    assert (points["trend"]["slope"], points["trend"]["intercept"]) == trend
    assert points["trend"]["n_models"] == 2 + len(b.baselines)
    assert len(points["finetunes"]) == len(b.ft_baselines) * len(b.ft_alphas)
    for key in ("wiseft", "ensemble"):
        assert [p["alpha"] for p in points[key]] == e2e.alphas.tolist()
    for end in (0, -1):  # at the ends the ensemble is one of the two networks, so the same point
        assert points["ensemble"][end] == points["wiseft"][end]
    ens = {d: output_ensemble(e2e, d).accuracy for d in e2e.dataset_names}
    mid = points["ensemble"][1]
    assert mid["id"]["value"] == ens[e2e.id_dataset][1]
    assert mid["ood"]["value"] == pytest.approx(np.mean([ens[d][1] for d in e2e.ood_datasets]))
    for p in [*points["baselines"], *points["wiseft"], *points["ensemble"], *points["finetunes"]]:
        for k in ("id", "ood", "er"):
            assert p[k]["lo"] <= p[k]["value"] <= p[k]["hi"]
        assert p["er"]["value"] == pytest.approx(
            metrics.effective_robustness(p["id"]["value"], p["ood"]["value"], trend)
        )
    json.dumps(points)  # plain data for the app


@pytest.mark.slow
def test_last_block_variant_trained_only_its_last_block(quick_world):
    b, _ = quick_world
    variant = next(v for v in b.ft_baselines if dict(v.overrides).get("train_last_k") == 1)
    work = next(p for p in b.work.glob("ft-last-block-*") if (p / "weights" / "finetuned.safetensors").exists())
    theta_0, theta_1 = (load_weights(work / "weights" / f"{w}.safetensors") for w in ("zeroshot", "finetuned"))
    moved = {
        k.split(".")[1] if k.startswith("image_encoder.") else k.split(".")[0]
        for k in theta_0
        if not np.array_equal(theta_0[k].numpy(), theta_1[k].numpy())
    }
    assert moved == {"attnpool", "head"}, (variant.name, moved)


@pytest.mark.slow
def test_the_family_step_is_skipped_while_current(quick_world):
    from core.worlds.build.recipes import build_finetune_family

    b, _ = quick_world
    e2e = b.runs / "world-e2e"
    before = (e2e / FAMILY_JSON).stat().st_mtime_ns
    build_finetune_family(b, e2e)
    assert (e2e / FAMILY_JSON).stat().st_mtime_ns == before


@pytest.mark.skipif(not (SHIPPED / FAMILY_JSON).exists(), reason="the shipped world has no fine-tuning family yet")
def test_shipped_family_is_todays_and_recomputes():
    check_family(WorldBuild(), Run(SHIPPED))
    assert len(scatter_points(Run(SHIPPED))["finetunes"]) == len(WorldBuild().ft_baselines) * len(
        WorldBuild().ft_alphas
    )


@pytest.mark.skipif(not (SHIPPED / "manifest.json").exists(), reason="no shipped world (make world)")
def test_scatter_points_are_the_runs_own_numbers():
    """WiSE-FT's points are the sweep's accuracies and tables.robustness_frame's effective robustness; the
    baselines are baselines.csv's; flat_rows lays every point out once."""
    from core.results.report import accuracy_grid
    from core.results.robustness import flat_rows
    from core.results.tables import robustness_frame

    run = Run(SHIPPED)
    points, grid = scatter_points(run, mix="probs"), accuracy_grid(run)
    frame = robustness_frame(run)
    avg = frame[frame.ood == "avg_ood"]
    assert [p["id"]["value"] for p in points["wiseft"]] == pytest.approx(grid[run.id_dataset].tolist())
    assert [p["ood"]["value"] for p in points["wiseft"]] == pytest.approx(grid["avg_ood"].tolist())
    assert [p["er"]["value"] for p in points["wiseft"]] == pytest.approx(avg.effective_robustness.tolist())
    assert {p["name"] for p in points["baselines"]} == {r["model"] for r in run.baselines()}
    assert points["mix"] == "probs" and not points["notes"]
    rows = flat_rows(points)
    assert len(rows) == len(points["baselines"]) + 2 * len(run.alphas) + len(points["finetunes"])
    assert {r["kind"] for r in rows} >= {"baseline", "WiSE-FT", "output-space ensemble"}


@pytest.mark.slow
def test_two_worker_processes_train_the_bytes_of_one(quick_world, tmp_path):
    """The quick world trained its family two at a time in spawned processes (WorldBuild.workers = 2); the same
    variants trained here, in order in this process, give the same weights to the bit."""
    from dataclasses import replace

    from core.runs.identity import json_digest
    from core.worlds.build.parallel import run_jobs
    from core.worlds.build.recipes import trained_variant, zeroshot

    b, _ = quick_world
    assert b.workers == 2
    here = replace(b, work=tmp_path, workers=1)
    jobs, names = [], []
    for variant in b.ft_baselines[:2]:
        cfg = variant.config(b.finetune)
        slug = "".join(c if c.isalnum() else "-" for c in variant.name)
        names.append(f"ft-{slug}-{json_digest(cfg.as_record(), length=8)}")
        jobs.append((trained_variant, (here, names[-1], zeroshot(b), cfg)))
    for name, (work, seconds) in zip(names, run_jobs(jobs, here.workers, here.threads)):
        assert work == tmp_path / name and seconds > 0
        mine, theirs = (load_weights(p / name / "weights" / "finetuned.safetensors") for p in (tmp_path, b.work))
        assert mine.keys() == theirs.keys()
        assert all(torch.equal(mine[k], theirs[k]) for k in mine), name
