"""core.lmc.barriers: every barrier the product shows, each row recomputed here from the stored curves
(the sweeps' metrics tables, data/world/lab/*.json, the width-12 pair's `python -m core align` output),
and the four figures a student meets (1.94, 1.57, 1.43, 1.98 nats) with what tells them apart."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from core.lmc import align
from core.lmc.barriers import COLUMNS, DEFINITIONS, PATH_RUNS, barrier_table, format_barrier_table
from core.results import metrics
from core.runs.artifacts import Run

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"
LAB = DATA / "world" / "lab"
pytestmark = pytest.mark.skipif(not (LAB / "align.json").exists(), reason="no shipped world (make world)")


@pytest.fixture(scope="module")
def width12_align(tmp_path_factory) -> Path:
    """`python -m core align`'s unaligned measurement of the world's width-12 pair (the shipped config, no
    alignment method: ~45 s on one thread), where the CLI writes it: runs/align/lmc-scratch/align.json."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out = tmp_path_factory.mktemp("runs") / "align" / "lmc-scratch"
        return align.write_alignment(out, DATA / "runs" / "lmc-scratch", replace(align.AlignConfig(), methods=()))
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def rows(width12_align) -> list[dict]:
    return barrier_table(DATA, align_files=[LAB / "align.json", width12_align])


def _one(rows, **match) -> dict:
    found = [r for r in rows if all(r[k] == v for k, v in match.items())]
    assert len(found) == 1, (match, len(found))
    return found[0]


@pytest.mark.slow
def test_path_runs_rows_are_the_sweeps_curves_with_intervals(rows):
    for name in PATH_RUNS:
        run = Run(DATA / "runs" / name)
        loss, acc = run.metric_grid("loss"), run.metric_grid("accuracy")
        for s in run.dataset_names:
            for d in DEFINITIONS:
                r = _one(rows, source=f"data/runs/{name}", eval_set=run.dataset_info(s)["spec"], definition=d)
                assert r["loss"] == pytest.approx(metrics.loss_barrier(loss[s], run.alphas, d), abs=1e-9)
                assert r["error"] == pytest.approx(100 * metrics.accuracy_barrier(acc[s], run.alphas, d), abs=1e-9)
                assert r["loss_lo"] <= r["loss"] + 1e-12 and r["loss"] <= r["loss_hi"] + 1e-12
                assert r["error_lo"] <= r["error"] + 1e-9 and r["error"] <= r["error_hi"] + 1e-9
                assert (r["batchnorm"], r["width"], r["n"], r["alphas"]) == ("interpolated", 12, 2000, len(run.alphas))
    assert all(set(r) == set(COLUMNS) for r in rows)


def test_spawn_rows_are_the_stored_curves_under_both_definitions(rows):
    spawn = json.loads((LAB / "spawn.json").read_text())
    for i, k in enumerate(spawn["k_steps"]):
        frankle = _one(
            rows,
            source="data/world/lab/spawn.json",
            pair=f"spawn parent -> child forked at step {k}",
            definition="frankle",
        )
        chord = _one(
            rows,
            source="data/world/lab/spawn.json",
            pair=f"spawn parent -> child forked at step {k}",
            definition="chord",
        )
        assert frankle["loss"] == pytest.approx(spawn["loss_barrier"][i], abs=1e-12)  # what the lab page shows
        assert frankle["error"] == pytest.approx(100 * spawn["error_barrier"][i], abs=1e-9)
        assert chord["loss"] == pytest.approx(spawn["loss_barrier_chord"][i], abs=1e-12)
        assert chord["error"] == pytest.approx(100 * spawn["error_barrier_chord"][i], abs=1e-9)
        assert frankle["loss_lo"] is None and frankle["batchnorm"] == "recomputed on world:id_train:2000"


def test_alignment_rows_are_the_stored_curves_and_barriers(rows, width12_align):
    for path, source in (
        (LAB / "align.json", "data/world/lab/align.json"),
        (width12_align, "runs/align/lmc-scratch/align.json"),
    ):
        stored = json.loads(path.read_text())
        alphas = np.asarray(stored["alphas"])
        for method, entry in stored["methods"].items():
            for stats, curve in entry["curves"].items():
                bn = "interpolated" if stats == "interpolated" else "recomputed on world:id_train:2000"
                for d in DEFINITIONS:
                    r = _one(rows, source=source, alignment=method.replace("_", " "), batchnorm=bn, definition=d)
                    assert r["loss"] == pytest.approx(metrics.barrier(curve["loss"], alphas, d), abs=1e-12)
                    assert r["error"] == pytest.approx(metrics.barrier(curve["error"], alphas, d), abs=1e-9)
                    if d == "chord":  # align.json stores the chord barriers the app prints
                        assert r["loss"] == pytest.approx(entry["barriers"][stats]["loss"], abs=1e-12)
                        assert r["error"] == pytest.approx(entry["barriers"][stats]["error"], abs=1e-9)


def test_soups_row_is_the_largest_pairwise_midpoint_barrier(rows):
    soups = json.loads((LAB / "soups.json").read_text())
    matrix = np.asarray(soups["barrier_matrix"])
    r = _one(rows, source="data/world/lab/soups.json")
    assert r["loss"] == pytest.approx(matrix[np.triu_indices(len(matrix), 1)].max()) and r["loss"] < 0
    assert r["definition"] == "midpoint" and r["n"] == soups["heldout"]["n"] and r["error"] is None


def test_the_four_scratch_pair_figures_and_what_tells_them_apart(rows):
    """1.94 and 1.57: the world's width-12 pair, BatchNorm statistics interpolated vs recomputed; 1.98 and
    1.43: the lab's width-24 pair, the same two ways. Same images (the first 2,000 of id_test), 11 alphas."""
    pair12 = {"width": 12, "eval_set": "world:id_test:2000", "definition": "chord", "alphas": 11}
    interp12 = _one(rows, source="data/runs/lmc-scratch", **pair12)
    recomp12 = _one(
        rows,
        source="runs/align/lmc-scratch/align.json",
        alignment="unaligned",
        batchnorm="recomputed on world:id_train:2000",
        **pair12,
    )
    pair24 = {
        "source": "data/world/lab/align.json",
        "alignment": "unaligned",
        "width": 24,
        "eval_set": "world:id_test:2000",
        "definition": "chord",
        "alphas": 11,
    }
    interp24 = _one(rows, batchnorm="interpolated", **pair24)
    recomp24 = _one(rows, batchnorm="recomputed on world:id_train:2000", **pair24)
    assert [f"{r['loss']:.2f}" for r in (interp12, recomp12, recomp24, interp24)] == ["1.94", "1.57", "1.43", "1.98"]
    assert interp12["batchnorm"] == "interpolated"
    assert interp12["pair"] == "from scratch, init A -> from scratch, init B"
    assert recomp12["pair"] == interp12["pair"] and recomp24["pair"] == "the lab's scratch pair (seeds 0, 1)"
    assert interp12["loss_lo"] > recomp12["loss"]  # the BatchNorm handling is far outside the sampling noise
    # the align step's interpolated path of the width-12 pair is the sweep's: only the statistics differ
    interp12_align = _one(
        rows, source="runs/align/lmc-scratch/align.json", alignment="unaligned", batchnorm="interpolated", **pair12
    )
    assert interp12_align["loss"] == pytest.approx(interp12["loss"], abs=1e-3)
    assert interp12_align["error"] == pytest.approx(interp12["error"], abs=0.1)
    world, notes = (" ".join((REPO / "docs" / n).read_text().split()) for n in ("world.md", "lab-notes.md"))
    for row in (interp12, recomp12, interp24, recomp24):  # world.md's table of the from-scratch barriers
        bn = "interpolated" if row["batchnorm"] == "interpolated" else "recomputed"
        assert f"| {bn} | {row['loss']:.3f} |" in world
    lab_pair = f"Unaligned {recomp24['loss']:.2f} nats (recomputed statistics; {interp24['loss']:.2f} interpolated)"
    assert lab_pair in notes


def test_the_definitions_differ_where_the_ends_differ(rows):
    """Zero-shot -> fine-tuned on ID: no rise above the chord, but Frankle et al.'s definition counts half
    the gap between the ends (14 pp of error); the scratch pair's ends are alike, and both agree."""
    zs_ft = {
        d: _one(rows, source="data/runs/world-e2e", eval_set="world:id_test:2000", definition=d) for d in DEFINITIONS
    }
    assert zs_ft["chord"]["loss"] == 0.0 and zs_ft["frankle"]["error"] > 10
    acc = Run(DATA / "runs" / "world-e2e").metric_grid("accuracy")["id_test"]
    assert zs_ft["frankle"]["error"] == pytest.approx(100 * (acc[-1] - acc[0]) / 2)


def test_the_markdown_table_has_a_line_per_row_and_no_torch():
    shipped = barrier_table(DATA, align_files=[], n_boot=50)
    lines = format_barrier_table(shipped).splitlines()
    assert lines[0].startswith("| source | pair | alignment | width | BatchNorm statistics |")
    assert "| 1.945 [" in lines[2] and lines[-1].endswith("| -0.001 |  |")
    assert len(lines) == 2 + len(shipped)
    code = "import sys, core.lmc.barriers; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "False"
