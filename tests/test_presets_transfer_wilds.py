"""Issue 16: presets for the talk's datasets; their eval sets are named so that `compare` finds the
paper's rows, and a preset whose hyperparameters are not the paper's says so."""

import pytest

from core.data.registry import get_dataset
from core.results.compare import load_reference, norm_name
from core.train.presets import get_preset, list_presets
from test_datasets_transfer_wilds_video import TALK_FAKES

TALK = {
    "vit-l-14-336-cifar100": "cifar100",
    "vit-l-14-336-food101": "food101",
    "vit-l-14-336-dtd": "dtd",
    "vit-l-14-336-sun397": "sun397",
    "vit-l-14-336-iwildcam": "iwildcam",
    "vit-l-14-336-fmow": "fmow",
    "vit-l-14-336-cars": "stanford-cars",
}


@pytest.mark.parametrize("name", sorted(TALK))
def test_preset_eval_sets_match_the_paper_table(name, tmp_path):
    preset = get_preset(name)
    TALK_FAKES[TALK[name]](tmp_path)
    table = {norm_name(r["dataset"]) for r in load_reference(preset.reference)}
    for spec in (preset.id, *preset.ood):
        assert norm_name(get_dataset(spec, str(tmp_path), allow_partial=True).name) in table, spec
    assert "not transcribed" in preset.recipe_source


def test_only_the_imagenet_presets_claim_the_papers_recipe():
    claims = {n for n in list_presets() if get_preset(n).recipe_source == "paper"}
    assert claims == {"vit-b-16-imagenet", "vit-l-14-336-imagenet"}


def test_finetune_with_such_a_preset_prints_a_note(monkeypatch, folders, tmp_path, capsys):
    from conftest import run_cli
    from core.train import finetune as finetune_module

    monkeypatch.setattr(
        finetune_module, "finetune", lambda run, train, cfg, device, **kw: tmp_path
    )  # kw: restart, init_from
    run_cli("finetune", "--run", tmp_path, "--train", f"folder:{folders['train']}", "--preset", "vit-l-14-336-dtd")
    assert "note: preset vit-l-14-336-dtd: the paper's hyperparameters" in capsys.readouterr().err
