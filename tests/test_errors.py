"""Bad input: a clear error that names the problem, and nothing written."""

import json
import shutil

from conftest import copy_run, make_image_folder
from core.cli import main
from core.wiseft.sweep import parse_alphas

TINY_OTHER = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


def snapshot(folder):
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*")}


def fails(capsys, *args) -> str:
    assert main([str(a) for a in args]) == 2
    return capsys.readouterr().err


def sweep_args(run, folders, alphas="0,1"):
    return ("sweep", "--run", run, "--id", f"folder:{folders['val']}", "--alphas", alphas)


def test_unparsable_alphas(e2e_run, folders, capsys, tmp_path):
    run = copy_run(e2e_run, tmp_path / "run")
    before = snapshot(run)
    err = fails(capsys, *sweep_args(run, folders, "0,half,1"))
    assert "cannot parse alphas '0,half,1'" in err and "0:1:21" in err
    assert snapshot(run) == before
    assert parse_alphas("0:1:5") == (0.0, 0.25, 0.5, 0.75, 1.0)
    assert parse_alphas("1.5,-0.5,0") == (-0.5, 0.0, 1.5)


def test_missing_folder(e2e_run, capsys, tmp_path):
    run = copy_run(e2e_run, tmp_path / "run")
    before = snapshot(run)
    err = fails(capsys, "sweep", "--run", run, "--id", f"folder:{tmp_path / 'nope'}")
    assert "does not exist" in err and "<class name>" in err
    assert snapshot(run) == before


def test_class_count_that_does_not_match_the_head(e2e_run, capsys, tmp_path):
    run = copy_run(e2e_run, tmp_path / "run")
    odd = make_image_folder(tmp_path / "odd", 2, seed=3)
    shutil.copytree(odd / "cat", odd / "zebra")
    before = snapshot(run)
    err = fails(capsys, "sweep", "--run", run, "--id", f"folder:{odd}")
    assert "4 classes but the model's head has 3" in err and "zebra" in err
    assert snapshot(run) == before


def test_incompatible_checkpoints(e2e_run, folders, capsys, tmp_path):
    other_cfg = tmp_path / "other.json"
    other_cfg.write_text(json.dumps(TINY_OTHER))
    assert (
        main(
            [
                "zeroshot",
                "--model",
                str(other_cfg),
                "--classes-from",
                f"folder:{folders['train']}",
                "--templates",
                "simple",
                "--out",
                str(tmp_path / "other"),
            ]
        )
        == 0
    )
    run = copy_run(e2e_run, tmp_path / "run")
    shutil.copyfile(tmp_path / "other/weights/zeroshot.safetensors", run / "weights/finetuned.safetensors")
    shutil.rmtree(run / "sweep")
    before = snapshot(run)
    err = fails(capsys, *sweep_args(run, folders))
    assert "different architectures" in err and "shape" in err
    assert snapshot(run) == before


def test_truncated_weight_file(e2e_run, folders, capsys, tmp_path):
    run = copy_run(e2e_run, tmp_path / "run")
    path = run / "weights/finetuned.safetensors"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    shutil.rmtree(run / "sweep")
    before = snapshot(run)
    err = fails(capsys, *sweep_args(run, folders))
    assert "finetuned.safetensors is not a readable safetensors file" in err and "truncated" in err
    assert snapshot(run) == before


def test_not_a_run_folder_and_unknown_schema(capsys, tmp_path, e2e_run):
    err = fails(capsys, "info", "--run", tmp_path)
    assert "is not a run folder" in err
    run = copy_run(e2e_run, tmp_path / "future")
    manifest = json.loads((run / "manifest.json").read_text())
    (run / "manifest.json").write_text(json.dumps({**manifest, "schema_version": 99}))
    err = fails(capsys, "info", "--run", run)
    assert "schema version 99" in err


def test_existing_run_is_never_overwritten(zeroshot_run, folders, tiny_config, capsys):
    before = snapshot(zeroshot_run)
    err = fails(
        capsys,
        "zeroshot",
        "--model",
        tiny_config,
        "--classes-from",
        f"folder:{folders['train']}",
        "--templates",
        "simple",
        "--out",
        zeroshot_run,
    )
    assert "already holds a run" in err
    assert snapshot(zeroshot_run) == before
