"""Issue 26, items 2-7: every bad input is one line `error: ...` naming the file and the fix, exit
code 2, nothing changed on disk (no empty sweep generation either); what was accepted silently is
refused or said; a frame of ImageNet-Vid-Robust with no labels is scored wrong, as the benchmark does."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, copy_run, make_image_folder
from core.cli import main
from core.data.registry import get_dataset
from core.results.extra_metrics import dataset_metric
from explorer import state
from test_datasets_transfer_wilds_video import FMOW_ROWS, fake_fmow, fake_stanford_cars, fake_vid_robust, write_csv

UNWRITABLE = Path("/sys/wiseft-unwritable")  # even root cannot create files in sysfs


def snapshot(folder: Path) -> dict:
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*")}


def one_line(capsys, *args) -> str:
    """Runs the CLI: exit code 2 and exactly one line `error: ...` on stderr, no traceback."""
    assert main([str(a) for a in args]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.strip().splitlines() if line.strip() and "%|" not in line]  # tqdm bars aside
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


def classes_from(capsys, tiny_config, tmp_path, spec) -> str:
    """`zeroshot --classes-from SPEC` on a broken copy: refused before the run folder exists."""
    err = one_line(
        capsys,
        "zeroshot",
        "--model",
        tiny_config,
        "--classes-from",
        spec,
        "--data-root",
        tmp_path,
        "--allow-partial",
        "--templates",
        "simple",
        "--out",
        tmp_path / "run",
    )
    assert not (tmp_path / "run").exists()
    return err


# ----------------------------------------------------------------------------- datasets


@pytest.mark.parametrize("content", [b"", b"\0" * 200, b"MATLAB 5.0 MAT-file, truncated" + b"\0" * 20])
def test_a_corrupt_cars_meta_mat(tiny_config, tmp_path, capsys, content):
    fake_stanford_cars(tmp_path)
    (tmp_path / "stanford_cars/devkit/cars_meta.mat").write_bytes(content)  # scipy: MatReadError, IndexError
    err = classes_from(capsys, tiny_config, tmp_path, "stanford-cars")
    assert "cars_meta.mat is not a readable MATLAB file" in err and "replace it" in err


@pytest.mark.parametrize(
    "column,value,said",
    [
        ("category", "volcano", "category 'volcano' is not one of WILDS' 62 FMoW categories"),
        ("timestamp", "12/05/2011", "timestamp '12/05/2011' is not ISO 8601"),
    ],
)
def test_a_bad_fmow_row_names_its_line(tiny_config, tmp_path, capsys, column, value, said):
    fake_fmow(tmp_path)
    rows = [dict(zip(("split", "category", "country_code", "timestamp"), r)) for r in FMOW_ROWS]
    rows[1][column] = value  # row 1 is in id_test (the header is line 1, so this is line 3)
    write_csv(
        tmp_path / "fmow_v1.1/rgb_metadata.csv",
        ["split", "img_filename", "img_path", "category", "country_code", "timestamp"],
        [
            (r["split"], f"x_{i}.jpg", f"p/{i}", r["category"], r["country_code"], r["timestamp"])
            for i, r in enumerate(rows)
        ],
    )
    err = classes_from(capsys, tiny_config, tmp_path, "fmow:id_test")
    assert "rgb_metadata.csv line 3" in err and said in err and "fix the line" in err


def edit_json(path: Path, change) -> None:
    obj = json.loads(path.read_text())
    change(obj)
    path.write_text(json.dumps(obj))


def test_a_vid_frame_missing_from_labels_json(tiny_config, tmp_path, capsys):
    fake_vid_robust(tmp_path)
    edit_json(tmp_path / "imagenet-vid-robust/metadata/labels.json", lambda o: o.pop("val/v1/000012.JPEG"))
    err = classes_from(capsys, tiny_config, tmp_path, "imagenet-vid-robust")
    assert "labels.json has no labels for frame 'val/v1/000012.JPEG'" in err and "pmsets.json" in err


def test_a_malformed_pmsets_json(tiny_config, tmp_path, capsys):
    fake_vid_robust(tmp_path)
    (tmp_path / "imagenet-vid-robust/metadata/pmsets.json").write_text('{"val/v1/000010.JPEG": [')
    err = classes_from(capsys, tiny_config, tmp_path, "imagenet-vid-robust")
    assert "pmsets.json is not valid JSON" in err and "re-download the release" in err


def test_a_vid_frame_with_no_labels_is_scored_wrong(tmp_path):
    """The benchmark's script counts a frame whose label list is empty as wrong (no prediction is in
    it): pm-0 when it is an anchor, pm-k for its whole set."""
    fake_vid_robust(tmp_path)
    edit_json(tmp_path / "imagenet-vid-robust/metadata/labels.json", lambda o: o.update({"val/v2/000020.JPEG": []}))
    vid = get_dataset("imagenet-vid-robust", str(tmp_path))
    assert vid.extra["unlabelled"] == [3] and vid.labels.tolist() == [4, 4, 4, 4]  # a placeholder label
    pred = np.array([4, 4, 4, 4])  # right on the first set; frame 3 matches its placeholder, still wrong
    assert dataset_metric(pred, vid.labels, vid.extra) == ("pm-0", 0.5)
    assert dataset_metric(pred, vid.labels, {**vid.extra, "metric": "pm-k"}) == ("pm-k", 0.5)


def test_a_folder_with_an_empty_class_folder(e2e_run, folders, tmp_path, capsys):
    images = make_image_folder(tmp_path / "val", 2, seed=5)
    for f in (images / "dog").iterdir():
        f.unlink()
    run = copy_run(e2e_run, tmp_path / "run")
    before = snapshot(run)
    err = one_line(capsys, "sweep", "--run", run, "--id", f"folder:{images}", "--alphas", "0,1")
    assert f"{images / 'dog'} holds no images" in err and "remove its folder" in err
    assert snapshot(run) == before


# ----------------------------------------------------------------------------- sweeps, runs, outputs


@pytest.mark.parametrize("damage", ["truncated", "text"])
def test_a_failed_sweep_leaves_no_generation(e2e_run, folders, tmp_path, capsys, damage):
    images = make_image_folder(tmp_path / "val", 3, seed=6)
    bad = images / "cat" / "cat_000.jpg" if damage == "truncated" else images / "dog" / "x.jpg"
    bad.write_bytes(bad.read_bytes()[:300] if damage == "truncated" else b"not an image\n")
    run = copy_run(e2e_run, tmp_path / "run")
    before = snapshot(run)
    err = one_line(capsys, "sweep", "--run", run, "--id", f"folder:{images}", "--alphas", "0,1")
    assert f"cannot read image {bad}" in err
    assert snapshot(run) == before and sorted(p.name for p in (run / "sweep").iterdir()) == ["gen-0001"]


def test_a_failed_first_sweep_leaves_no_sweep_folder(zeroshot_run, folders, tmp_path, capsys):
    images = make_image_folder(tmp_path / "val", 2, seed=7)
    (images / "cat" / "x.jpg").write_text("text")
    run = copy_run(zeroshot_run, tmp_path / "run")
    (run / "weights" / "finetuned.safetensors").hardlink_to(run / "weights" / "zeroshot.safetensors")
    before = snapshot(run)
    one_line(capsys, "sweep", "--run", run, "--id", f"folder:{images}", "--alphas", "0,1")
    assert snapshot(run) == before and not (run / "sweep").exists()


def test_info_refuses_a_sweep_file_cut_in_half(e2e_run, tmp_path, capsys):
    run = copy_run(e2e_run, tmp_path / "run")
    (cut,) = [p for p in (run / "sweep").rglob("val.safetensors")]
    os.truncate(cut, cut.stat().st_size // 2)
    before = snapshot(run)
    for fmt in ("table", "json", "csv"):
        err = one_line(capsys, "info", "--run", run, "--format", fmt)
        assert str(cut) in err and "re-run the sweep" in err
    assert snapshot(run) == before


@pytest.mark.skipif(not Path("/sys").is_dir(), reason="needs sysfs for a folder nobody can write")
def test_an_unwritable_out_names_the_target(e2e_run, tiny_config, folders, capsys):
    err = one_line(capsys, "export", "--run", e2e_run, "--alpha", "0.5", "--out", UNWRITABLE)
    assert f"cannot write {UNWRITABLE}" in err and ".tmp" not in err and "folder you can write" in err
    err = one_line(
        capsys,
        "zeroshot",
        "--model",
        tiny_config,
        "--classes-from",
        f"folder:{folders['train']}",
        "--templates",
        "simple",
        "--out",
        UNWRITABLE,
    )
    assert f"cannot write {UNWRITABLE}" in err and ".tmp" not in err


def test_align_out_that_is_a_file_is_refused_before_computing(tmp_path, capsys, monkeypatch):
    from core.lmc import align

    monkeypatch.setattr(align, "write_alignment", lambda *a, **k: pytest.fail("computed before refusing --out"))
    out = tmp_path / "notes.txt"
    out.write_text("mine")
    err = one_line(capsys, "align", "--run", REPO / "data/runs/lmc-scratch", "--out", out, "--quick")
    assert f"cannot write {out}/align.json: {out} is a file" in err and "--out" in err
    assert out.read_text() == "mine" and sorted(tmp_path.iterdir()) == [out]
    if Path("/sys").is_dir():
        err = one_line(capsys, "align", "--run", REPO / "data/runs/lmc-scratch", "--out", UNWRITABLE, "--quick")
        assert f"cannot write {UNWRITABLE}/align.json" in err


# ----------------------------------------------------------------------------- said, not silent


def test_a_baselines_csv_with_a_non_number_is_said(e2e_run, tmp_path):
    run = copy_run(e2e_run, tmp_path / "run")
    (run / "baselines.csv").write_text("model,dataset,accuracy\nb0,val,0.5\nb0,shift,n/a\nb1,val,0.6\nb1,shift,0.4\n")
    ra = state.load_run(run)
    assert ra.baselines == {"b0": {"val": 0.5}, "b1": {"val": 0.6, "shift": 0.4}}
    (note,) = ra.notes
    assert (
        note.startswith("baselines.csv line 3:")
        and "'n/a'" in note
        and "left out of the effective-robustness fit" in note
    )
    assert str(run / "baselines.csv") in note


def test_the_app_shows_the_baselines_note(e2e_run, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    run = copy_run(e2e_run, tmp_path / "runs" / "bad-baselines")
    (run / "baselines.csv").write_text("model,dataset,accuracy\nb0,val,high\n")
    monkeypatch.setenv(state.RUNS_ENV, str(tmp_path / "runs"))
    at = AppTest.from_file(str(REPO / "explorer" / "app.py"), default_timeout=90).run()
    assert not at.exception, at.exception
    assert any("baselines.csv line 2" in w.value for w in at.warning)
