"""Issue 12: readers work from the sweep's reductions; the results equal the full-logit computation
(to float16 rounding) on the shipped runs; a reductions-only run works in info and the explorer."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import REPO, copy_run
from core.cli import main
from core.data.registry import get_dataset
from core.results import metrics, report
from core.runs.artifacts import Run, RunFormatError
from core.wiseft.sweep import SweepConfig, sweep
from explorer import live, state

SHIPPED = sorted((REPO / "data" / "runs").glob("*/manifest.json"))


@pytest.mark.parametrize("manifest", SHIPPED, ids=lambda p: p.parent.name)
def test_reductions_equal_the_full_logit_computation_on_shipped_runs(manifest):
    run = Run(manifest.parent)
    grid = report.accuracy_grid(run)
    for name in run.dataset_names:
        logits, labels = run.grid_logits(name), run.labels(name)  # (A, N, C) float32: today's path
        red = run.reductions(name)
        acc, loss = metrics.summarize(red, labels)
        np.testing.assert_array_equal(acc, metrics.accuracy(logits, labels))
        np.testing.assert_allclose(loss, metrics.cross_entropy(logits, labels), rtol=1e-5)
        np.testing.assert_allclose(grid[name], acc, atol=1e-9)  # metrics.csv, what info prints
        if "topk" in red:  # stored only for heads wider than 3k classes (sweep._drop_small_topk), computed for schema 1
            probs = metrics.softmax(logits[-1, :20])  # (20, C)
            top = np.asarray(red["topk"][-1, :20])
            np.testing.assert_allclose(
                red["topk_prob"][-1, :20], np.take_along_axis(probs, top, 1), rtol=1e-3, atol=1e-4
            )
            assert (np.take_along_axis(probs, top[:, :1], 1)[:, 0] >= probs.max(1) - 1e-6).all()
        want_hits = [
            np.bincount(labels, weights=p == labels, minlength=logits.shape[-1]) for p in metrics.predictions(logits)
        ]
        np.testing.assert_array_equal(red["class_hits"], np.asarray(want_hits))


def as_schema_1(src: Run, dst):
    """A copy of run `src` in the schema-1 layout (sweep/<set>.safetensors with labels and logits only,
    metrics.csv at the top, no generation): what runs swept before run format 2 hold on disk."""
    import json
    import shutil

    from core.runs.files import save_arrays

    dst = copy_run(src.path, dst)
    shutil.rmtree(dst / "sweep")
    (dst / "sweep").mkdir()
    for name in src.dataset_names:
        shutil.copyfile(src.folder / f"{name}.ids.json", dst / "sweep" / f"{name}.ids.json")
        save_arrays(
            dst / "sweep" / f"{name}.safetensors",
            {"labels": src.labels(name), "logits": src.grid_logits(name)},
            {"alphas": json.dumps(src.alphas.tolist())},
        )
    shutil.copyfile(src.folder / "metrics.csv", dst / "metrics.csv")
    manifest = json.loads((dst / "manifest.json").read_text())
    sweep_keys = ("alphas", "logits_dtype", "datasets")
    manifest["sweep"] = {k: v for k, v in manifest["sweep"].items() if k in sweep_keys}
    manifest["sweep"]["datasets"] = [
        {k: v for k, v in d.items() if k in ("name", "role", "spec", "n", "classnames")}
        for d in manifest["sweep"]["datasets"]
    ]
    (dst / "manifest.json").write_text(json.dumps({**manifest, "schema_version": 1}, indent=2))
    return Run(dst)


def test_schema_1_runs_are_read_as_they_are(e2e_run, tmp_path):
    """Runs swept before run format 2 open unchanged: their reductions are computed from the logits and
    equal what a schema-2 sweep stores; reading writes nothing."""
    new = Run(e2e_run)
    old = as_schema_1(new, tmp_path / "old")
    before = sorted((p.relative_to(old.path), p.stat().st_mtime_ns) for p in old.path.rglob("*"))
    assert old.manifest["schema_version"] == 1 and old.folder == old.path / "sweep"
    for name in new.dataset_names:
        got, want = old.reductions(name), new.reductions(name)
        np.testing.assert_array_equal(got["pred"], want["pred"])
        np.testing.assert_array_equal(got["class_hits"], want["class_hits"])
        np.testing.assert_allclose(got["loss"], want["loss"], rtol=1e-5, atol=1e-6)
    for a, b in zip(old.metrics_rows(), new.metrics_rows()):
        assert a["accuracy"] == pytest.approx(b["accuracy"]) and a["loss"] == pytest.approx(b["loss"])
    assert sorted((p.relative_to(old.path), p.stat().st_mtime_ns) for p in old.path.rglob("*")) == before


@pytest.fixture(scope="module")
def reductions_only(e2e_run, folders, tmp_path_factory):
    run = copy_run(e2e_run, tmp_path_factory.mktemp("reduced") / "run")
    sets = [(get_dataset(f"folder:{folders['val']}"), "id"), (get_dataset(f"folder:{folders['shift']}"), "ood")]
    sweep(run, sets, SweepConfig(alphas=(0.0, 0.5, 1.0), logits_dtype="float32", keep_logits=False))
    return run


def test_reductions_only_run_keeps_no_logits(reductions_only, e2e_run):
    run, full = Run(reductions_only), Run(e2e_run)
    assert {d["storage"] for d in run.datasets} == {"reductions"}
    assert "logits" not in run._load("val") and "topk" in run._load("val") and not run.has_logits("val")
    with pytest.raises(RunFormatError, match="keeps only reductions"):
        run.logits("val", 0.5)
    for name in run.dataset_names:
        np.testing.assert_array_equal(run.reductions(name)["pred"], full.reductions(name)["pred"])
        np.testing.assert_allclose(run.reductions(name)["loss"], full.reductions(name)["loss"], rtol=1e-4, atol=1e-5)
    assert report.format_table(run).splitlines()[1:] == report.format_table(full).splitlines()[1:]


def test_info_and_explorer_on_a_reductions_only_run(reductions_only, e2e_run, capsys):
    assert main(["info", "--run", str(reductions_only)]) == 0
    assert "avg_ood" in capsys.readouterr().out
    ra, full = state.load_run(reductions_only), state.load_run(e2e_run)
    p, p_full = live.run_payload(ra), live.run_payload(full)  # what the live view draws
    for key in ("alphas", "acc", "per_class", "flips", "scatter", "marks"):
        assert p[key] == p_full[key], key
    for alpha in (0.0, 0.5, 1.0):
        top, probs = state.top_predictions(ra, "val", np.arange(5), alpha)
        top_full, probs_full = state.top_predictions(full, "val", np.arange(5), alpha)
        np.testing.assert_array_equal(top, top_full)
        np.testing.assert_allclose(probs, probs_full, rtol=1e-3)


def test_full_logit_top_predictions_match_the_stored_top_k(e2e_run):
    """The gallery's top-k (from the logits of the rows shown when the run stores no top-k) equals
    softmax of the stored logits."""
    ra, run = state.load_run(e2e_run), Run(e2e_run)
    assert "topk" not in run._load("val")  # 3 classes: a logit row is smaller than a top-5, not stored
    idx = np.array([0, 3, 7])
    top, probs = state.top_predictions(ra, "val", idx, 0.5)
    want = metrics.softmax(run.logits_rows("val", idx, 0.5))  # (3, C): only those rows read
    np.testing.assert_allclose(probs, np.take_along_axis(want, top, 1), rtol=1e-3)
    np.testing.assert_array_equal(top[:, 0], want.argmax(1))


def test_reductions_only_linear_run_keeps_its_two_endpoints(lc_run, folders, tmp_path):
    run = copy_run(lc_run, tmp_path / "run")
    sets = [(get_dataset(f"folder:{folders['val']}"), "id")]
    sweep(run, sets, SweepConfig(alphas=(0.0, 1.0), logits_dtype="float32", keep_logits=False))
    r = Run(run)
    assert r.storage("val") == "closed_form" and r.linear_in_alpha
    np.testing.assert_allclose(r.logits("val", 0.37), Run(lc_run).logits("val", 0.37), atol=1e-6)


def test_the_app_opens_a_reductions_only_run(reductions_only, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv(state.RUNS_ENV, str(reductions_only.parent))
    at = AppTest.from_file(str(REPO / "explorer" / "app.py"), default_timeout=60).run()
    assert not at.exception, at.exception
    assert at.selectbox(key="run").value == reductions_only
    from test_app import live_payload  # what the live view draws its tiles and charts from

    payload, run = live_payload(at), Run(reductions_only)
    for row in run.metrics_rows():  # the run's accuracies reach the tiles, read from its reductions
        i = int(np.argmin(np.abs(np.asarray(payload["alphas"]) - row["alpha"])))
        assert payload["acc"][row["dataset"]][i] == pytest.approx(
            row["accuracy"], abs=1e-6
        )  # the payload keeps 6 digits


def test_the_command_line_sweeps_reductions_only(e2e_run, folders, tmp_path, capsys):
    run = copy_run(e2e_run, tmp_path / "run")
    assert (
        main(["sweep", "--run", str(run), "--id", f"folder:{folders['val']}", "--alphas", "0,1", "--reductions-only"])
        == 0
    )
    swept = Run(run)
    assert swept.storage("val") == "reductions" and not swept.has_logits("val")
    assert main(["info", "--run", str(run)]) == 0 and "val" in capsys.readouterr().out
