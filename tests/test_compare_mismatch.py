"""Issue 11, item 7: `compare` refuses a run that does not reproduce the table (other model, or the
paper's datasets stood in for by folders), unless --allow-mismatch, which prints the mismatch."""

import json

import pytest

from conftest import copy_run, run_cli
from core.cli import main
from core.results.compare import compare, list_tables, load_reference
from core.runs.artifacts import Run

SHIFTS = ("imagenetv2", "imagenet-r", "imagenet-sketch", "objectnet", "imagenet-a")


@pytest.fixture(scope="module")
def imagenet_named_run(e2e_run, folders, tmp_path_factory):
    """The tiny run swept on folders named like ImageNet and its shifts."""
    run = copy_run(e2e_run, tmp_path_factory.mktemp("cmp") / "run")
    ood = [a for s in SHIFTS for a in ("--ood", f"{s}=folder:{folders['shift']}")]
    run_cli("sweep", "--run", run, "--id", f"imagenet=folder:{folders['val']}", *ood, "--alphas", "0,0.5,1")
    return run


def fake_model(run, name, pretrained):
    """Pretend the run's manifest names another model (only compare reads it here)."""
    path = run / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["model"].update(name=name, pretrained=pretrained)
    path.write_text(json.dumps(manifest))


@pytest.mark.slow
def test_the_embedded_world_style_mismatch_is_refused(imagenet_named_run, capsys):
    assert main(["compare", "--run", str(imagenet_named_run), "--reference", "table5"]) == 2
    err = capsys.readouterr().err
    assert "does not reproduce this table" in err and "CLIP ViT-B/16" in err and "--allow-mismatch" in err
    assert "ImageNet, ImageNetV2" in err and "folder:" in err
    assert main(["compare", "--run", str(imagenet_named_run), "--reference", "table5", "--allow-mismatch"]) == 0
    out = capsys.readouterr().out
    assert "warning: the run's model is" in out and "delta" in out


@pytest.mark.slow
def test_the_right_model_on_folders_is_still_refused(imagenet_named_run, tmp_path):
    run = copy_run(imagenet_named_run, tmp_path / "run")
    fake_model(run, "ViT-B-16", "openai")
    with pytest.raises(ValueError, match="not evaluated on the named datasets") as err:
        compare(Run(run), load_reference("table5"))
    assert "model" not in str(err.value).split(":", 1)[1]  # the model matches; only the datasets do not
    fake_model(run, "ViT-B-16", "laion2b_s34b_b88k")
    with pytest.raises(ValueError, match="OpenAI's weights"):
        compare(Run(run), load_reference("table5"))


@pytest.mark.slow
def test_a_run_of_the_named_datasets_and_model_is_compared(imagenet_named_run, tmp_path):
    run = copy_run(imagenet_named_run, tmp_path / "run")
    fake_model(run, "ViT-B-16", "openai")
    manifest = json.loads((run / "manifest.json").read_text())
    for d in manifest["sweep"]["datasets"]:  # as if swept with --id imagenet --ood imagenetv2 ...
        d["spec"] = d["name"]
    (run / "manifest.json").write_text(json.dumps(manifest))
    result = compare(Run(run), load_reference("table5"))
    assert not result["warnings"] and len(result["rows"]) == 24


def test_reference_help_lists_the_tables(capsys):
    assert {"table2", "table4", "table5", "table6"} <= set(list_tables())
    assert main(["compare", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "available: " + ", ".join(list_tables()) in out
