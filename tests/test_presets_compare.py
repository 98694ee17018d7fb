"""Presets parse and reach FinetuneConfig through the CLI; `compare` prints a run beside a paper table."""

import csv

import numpy as np
import open_clip
import pytest

from conftest import copy_run, run_cli
from core.cli import main
from core.data.registry import list_datasets, parse_spec
from core.results.compare import compare, load_reference
from core.results.report import accuracy_grid
from core.runs.artifacts import Run
from core.train import finetune as finetune_module
from core.train.finetune import FinetuneConfig
from core.train.presets import get_preset, list_presets

SHIFTS = ("imagenetv2", "imagenet-r", "imagenet-sketch", "objectnet", "imagenet-a")


@pytest.mark.parametrize("name", sorted(list_presets()))
def test_every_preset_parses(name):
    preset = get_preset(name)
    cfg = FinetuneConfig(**preset.finetune)
    assert cfg.mode == "end-to-end" and cfg.grad_clip == 1.0
    assert open_clip.get_model_config(preset.model) is not None, preset.model
    for spec in (preset.train, preset.id, *preset.ood):
        assert parse_spec(spec)[1] in list_datasets(), spec
    assert load_reference(preset.reference)


def test_vit_b_16_imagenet_is_the_paper_recipe():
    cfg = FinetuneConfig(**get_preset("vit-b-16-imagenet").finetune)
    assert (cfg.lr, cfg.weight_decay, cfg.batch_size, cfg.epochs, cfg.warmup_steps) == (3e-5, 0.1, 512, 10, 500)
    assert get_preset("vit-b-16-imagenet").reference == "table5"


def test_preset_reaches_finetune_and_flags_override_it(monkeypatch, folders, tmp_path, capsys):
    seen = {}
    monkeypatch.setattr(finetune_module, "finetune", lambda run, train, cfg, device, **kw: seen.setdefault("cfg", cfg))
    run_cli(
        "finetune",
        "--run",
        tmp_path,
        "--train",
        f"folder:{folders['train']}",
        "--preset",
        "vit-b-16-imagenet",
        "--epochs",
        "1",
        "--compile",
    )
    cfg = seen["cfg"]
    assert (cfg.lr, cfg.batch_size, cfg.warmup_steps, cfg.epochs, cfg.compile) == (3e-5, 512, 500, 1, True)
    assert main(["finetune", "--run", str(tmp_path), "--train", f"folder:{folders['train']}", "--preset", "nope"]) == 2
    assert "vit-b-16-imagenet" in capsys.readouterr().err


def write_reference(path, rows):
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["table", "model", "finetune", "method", "alpha", "dataset", "metric", "value"])
        w.writerows(rows)
    return path


def test_compare_prints_deltas_against_a_reference_csv(e2e_run, tmp_path, capsys):
    acc = {k: 100 * v for k, v in accuracy_grid(Run(e2e_run)).items()}  # alphas 0, 0.5, 1
    ref = write_reference(
        tmp_path / "ref.csv",
        [
            ["Table X", "tiny", "end-to-end", "WiSE-FT", "0.50", "val", "accuracy", "50.0"],
            ["Table X", "tiny", "end-to-end", "WiSE-FT", "0.50", "shift", "accuracy", "40.0"],
            ["Table X", "tiny", "none", "zero-shot", "", "val", "accuracy", "30.0"],
            ["Table X", "tiny", "end-to-end", "WiSE-FT, optimal alpha (per column)", "", "shift", "accuracy", "45.0"],
            ["Table X", "tiny", "linear-classifier", "WiSE-FT", "0.50", "val", "accuracy", "99.0"],  # other mode
            ["Table X", "tiny", "end-to-end", "WiSE-FT", "0.25", "val", "accuracy", "99.0"],  # not on the grid
            ["Table X", "tiny", "end-to-end", "WiSE-FT", "0.50", "ObjectNet", "accuracy", "99.0"],  # not in the run
        ],
    )
    result = compare(Run(e2e_run), load_reference(str(ref)))
    cells = {(r["label"], r["dataset"]): r for r in result["rows"]}
    assert set(cells) == {
        ("alpha 0.50", "val"),
        ("alpha 0.50", "shift"),
        ("zero-shot (0)", "val"),
        ("optimal alpha", "shift"),
    }
    assert cells["alpha 0.50", "val"]["delta"] == pytest.approx(acc["val"][1] - 50.0)
    assert cells["zero-shot (0)", "val"]["run"] == pytest.approx(acc["val"][0])
    assert cells["optimal alpha", "shift"]["run"] == pytest.approx(acc["shift"].max())
    assert result["missing"] == ["ObjectNet"]
    run_cli("compare", "--run", e2e_run, "--reference", ref)
    out = capsys.readouterr().out
    assert "Table X: tiny, end-to-end" in out and f"{acc['val'][1] - 50.0:+.2f}" in out and "ObjectNet" in out


@pytest.mark.slow
def test_compare_by_table_name_recomputes_the_paper_averages(e2e_run, folders, tmp_path, capsys):
    run = copy_run(e2e_run, tmp_path / "run")
    ood = [a for s in SHIFTS for a in ("--ood", f"{s}=folder:{folders['shift']}")]
    run_cli("sweep", "--run", run, "--id", f"imagenet=folder:{folders['val']}", *ood, "--alphas", "0,0.5,1")
    result = compare(Run(run), load_reference("table5"), allow_mismatch=True)  # a tiny model on folders
    assert result["title"] == "Table 5: CLIP ViT-B/16, end-to-end" and not result["missing"]
    cells = {(r["label"], r["dataset"]): r for r in result["rows"]}
    assert len(result["rows"]) == 3 * 8  # alphas 0, 0.5, 1 of the 21; 6 datasets and the 2 averages
    acc = {k: 100 * v for k, v in accuracy_grid(Run(run)).items()}
    assert cells["alpha 0.00", "ImageNet"]["paper"] == 68.3
    assert cells["alpha 0.50", "avg_shifts"]["run"] == pytest.approx(np.mean([acc[s][1] for s in SHIFTS]))
    assert cells["alpha 1.00", "avg_ref_shifts"]["run"] == pytest.approx((acc["imagenet"][2] + acc["avg_ood"][2]) / 2)
    run_cli("compare", "--run", run, "--reference", "5", "--finetune", "linear-classifier", "--allow-mismatch")
    assert "Table 5: CLIP ViT-B/16, linear-classifier" in capsys.readouterr().out


def test_compare_asks_which_model_when_a_table_has_several(e2e_run, tmp_path, capsys):
    ref = write_reference(
        tmp_path / "two.csv",
        [
            ["T", "CLIP ViT-B/16", "end-to-end", "WiSE-FT", "0.50", "val", "accuracy", "50.0"],
            ["T", "ALIGN", "end-to-end", "WiSE-FT", "0.50", "val", "accuracy", "60.0"],
        ],
    )
    assert main(["compare", "--run", str(e2e_run), "--reference", str(ref)]) == 2
    assert "--model" in capsys.readouterr().err
    result = compare(Run(e2e_run), load_reference(str(ref)), model="ALIGN", allow_mismatch=True)
    assert [r["paper"] for r in result["rows"]] == [60.0]
    with pytest.raises(ValueError, match="no reference table"):
        load_reference("table99")
    assert {r["table"] for r in load_reference("table2,table6")} == {"Table 2", "Table 6"}
