"""Issue 26, items 8-9: `info --json` without --run is JSON; the export of a random-init run is a
function of the run (the same bytes twice, and the text tower the run's zero-shot head was built with)."""

import json

import torch
from safetensors.torch import load_file

from conftest import REPO
from core.cli import main
from core.model.clip import ModelSpec, load_clip, zero_shot_classifier
from core.runs.artifacts import Run
from core.runs.weights import load_weights


def test_info_json_without_run_is_json(capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    assert main(["info", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {"path": "data/runs/world-e2e", "name": "world-e2e", "swept": True} in listed["runs"]
    assert main(["info", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == listed
    assert main(["info"]) == 0 and "data/runs/world-e2e" in capsys.readouterr().out.splitlines()


def test_two_exports_of_a_random_init_run_are_equal(e2e_run, tmp_path):
    for out in ("a", "b"):
        assert main(["export", "--run", str(e2e_run), "--alpha", "0.5", "--out", str(tmp_path / out)]) == 0
    for name in ("open_clip_model.safetensors", "classifier_head.safetensors"):
        a, b = load_file(tmp_path / "a" / name), load_file(tmp_path / "b" / name)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name


def test_the_exported_text_tower_is_the_one_the_head_was_built_with(e2e_run, tmp_path):
    """theta_0's zero-shot head, rebuilt from the exported text tower, equals the stored one."""
    out = tmp_path / "x"
    assert main(["export", "--run", str(e2e_run), "--alpha", "0", "--out", str(out)]) == 0
    run = Run(e2e_run)
    model, _, _, tokenizer = load_clip(ModelSpec(f"local-dir:{out}"))
    rebuilt = zero_shot_classifier(model, tokenizer, run.classnames, run.manifest["templates"], torch.device("cpu"))
    stored = load_weights(run.weights_path("zeroshot"))
    torch.testing.assert_close(rebuilt.state_dict()["head.weight"], stored["head.weight"])
