"""Issue 16: metrics beyond top-1 (checked against direct per-class / per-group counts), and
`compare --reference table2 / table6` on generated runs, WILDS metrics included."""

import json

import numpy as np
import pytest

from conftest import copy_run, run_cli
from core.results import extra_metrics as em
from core.results.compare import compare, load_reference
from core.runs.artifacts import Run
from test_datasets_transfer_wilds_video import fake_fmow


def onehot_logits(pred, classes):
    return np.eye(classes)[np.asarray(pred)]  # (N, C)


def test_macro_f1_matches_per_class_counts():
    labels = np.array([0, 0, 1, 1, 2, 2, 2])
    pred = np.array([0, 1, 1, 1, 2, 0, 3])  # class 3 is predicted but absent from labels: not averaged
    # class 0: tp 1, fp 1, fn 1 -> 0.5; class 1: tp 2, fp 1, fn 0 -> 0.8; class 2: tp 1, fp 0, fn 2 -> 0.5
    assert em.macro_f1(onehot_logits(pred, 4), labels) == pytest.approx((0.5 + 0.8 + 0.5) / 3)
    grid = np.stack([onehot_logits(labels, 4), onehot_logits(pred, 4)])  # (A=2, N, C)
    np.testing.assert_allclose(em.macro_f1(grid, labels), [1.0, (0.5 + 0.8 + 0.5) / 3])
    assert em.macro_f1(onehot_logits([1, 1], 2), np.array([0, 0])) == 0.0  # never predicted: F1 0


def test_worst_group_accuracy_skips_ignored_groups():
    labels = np.array([0, 0, 1, 1, 1, 0])
    pred = np.array([0, 1, 1, 1, 0, 1])
    groups = np.array([0, 0, 1, 1, 1, 2])  # accuracies 0.5, 2/3, 0 (group 2 is 'Other')
    assert em.worst_group_accuracy(onehot_logits(pred, 2), labels, groups) == 0.0
    assert em.worst_group_accuracy(onehot_logits(pred, 2), labels, groups, ignore=(2,)) == 0.5


def test_pm_k_needs_every_frame_of_a_neighbourhood():
    anchors = np.array([0, 0, 0, 3, 3, 5])  # three anchors: frames {0,1,2}, {3,4}, {5}
    labels = np.array([1, 1, 1, 0, 0, 2])
    pred = np.array([1, 0, 1, 0, 0, 1])  # anchor 0 right but a neighbour wrong; anchor 5 wrong
    pm0, pmk = em.pm_k(onehot_logits(pred, 3), labels, anchors)
    assert pm0 == pytest.approx(2 / 3) and pmk == pytest.approx(1 / 3)


@pytest.mark.slow
def test_compare_table2_on_a_generated_run(e2e_run, folders, tmp_path):
    run = copy_run(e2e_run, tmp_path / "run")
    ood = [a for s in ("CIFAR100", "DTD", "Food101") for a in ("--ood", f"{s}=folder:{folders['shift']}")]
    run_cli("sweep", "--run", run, "--id", f"CIFAR10=folder:{folders['val']}", *ood, "--alphas", "0,0.5,1")
    result = compare(Run(run), load_reference("table2"), allow_mismatch=True)
    cells = {(r["label"], r["dataset"]): r for r in result["rows"]}
    acc = 100 * (Run(run).grid_logits("CIFAR10").argmax(-1) == Run(run).labels("CIFAR10")).mean(-1)  # (3,)
    assert cells["alpha 0.50", "CIFAR10"]["paper"] == 99.3
    assert cells["alpha 0.50", "CIFAR10"]["run"] == pytest.approx(acc[1])
    assert cells["standard fine-tuning (1)", "DTD"]["paper"] == 81.9
    assert cells["optimal alpha", "Food101"]["paper"] == 96.2
    assert set(result["missing"]) == {"ImageNet", "Cars", "SUN397"}


@pytest.fixture(scope="module")
def fmow_run(tmp_path_factory, tiny_config):
    """A tiny 62-class run (FMoW's classes) swept on a fake FMoW copy's ID and OOD test splits."""
    import torch

    from core.data.wilds import FMOW_CATEGORIES
    from core.runs.weights import load_weights, save_weights

    root = tmp_path_factory.mktemp("fmow")
    fake_fmow(root / "data")
    names = root / "classes.txt"
    names.write_text("\n".join(c.replace("_", " ") for c in FMOW_CATEGORIES))
    run = root / "run"
    run_cli("zeroshot", "--model", tiny_config, "--classnames", names, "--templates", "simple", "--out", run)
    theta = load_weights(run / "weights/zeroshot.safetensors")
    gen = torch.Generator().manual_seed(0)
    theta = {k: v + 0.5 * torch.randn(v.shape, generator=gen) if k.startswith("head.") else v for k, v in theta.items()}
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
        root / "data",
        "--allow-partial",
        "--alphas",
        "0,0.5,1",
        "--float32",
    )
    return run


@pytest.mark.slow
def test_wilds_metric_reaches_the_run_and_compare_table6(fmow_run, capsys):
    run = Run(fmow_run)
    info = run.dataset_info("wilds-fmow-ood-test")
    assert info["metric"] == "worst-region accuracy" and info["ignore_groups"] == ["Other"]
    logits, labels = run.grid_logits("wilds-fmow-ood-test"), run.labels("wilds-fmow-ood-test")
    groups = np.asarray(info["groups"])
    other = info["group_names"].index("Other")
    want = np.min([(logits.argmax(-1) == labels)[:, groups == g].mean(-1) for g in set(groups.tolist()) - {other}], 0)
    result = compare(run, load_reference("table6"), allow_mismatch=True)
    cells = {(r["label"], r["dataset"]): r for r in result["rows"]}
    assert cells["alpha 0.50", "WILDS-FMoW (OOD test)"]["run"] == pytest.approx(100 * want[1])
    assert cells["alpha 0.50", "WILDS-FMoW (OOD test)"]["paper"] == 49.5
    assert cells["zero-shot (0)", "WILDS-FMoW (ID test)"]["paper"] == 28.0
    run_cli("compare", "--run", fmow_run, "--reference", "table6", "--allow-mismatch")
    out = capsys.readouterr().out
    assert "WILDS-FMoW (OOD test): worst-region accuracy" in out
    assert json.loads((fmow_run / "manifest.json").read_text())["sweep"]["datasets"][0]["metric"] == "accuracy"


@pytest.mark.slow
def test_info_shows_the_extra_metrics(fmow_run, capsys):
    run_cli("info", "--run", fmow_run)
    out = capsys.readouterr().out
    assert "metrics beyond top-1 (%):" in out and "wilds-fmow-ood-test [worst-region accuracy]" in out
    run_cli("info", "--run", fmow_run, "--json")
    data = json.loads(capsys.readouterr().out)
    values = data["extra_metrics"]["wilds-fmow-ood-test"]
    assert values["metric"] == "worst-region accuracy" and len(values["values"]) == 3
    assert "wilds-fmow-id-test" not in data["extra_metrics"]  # plain accuracy is in the main table


@pytest.mark.slow
def test_extra_metrics_need_no_logits(fmow_run, tmp_path):
    """A reductions-only sweep (ImageNet-size runs) reports the same metrics from its stored predictions."""

    from conftest import copy_run
    from core.runs.weights import load_weights, save_weights

    runs = {}
    for name, flags in (("full", []), ("reduced", ["--reductions-only"])):
        run = runs[name] = copy_run(fmow_run, tmp_path / name)
        theta = load_weights(run / "weights/finetuned.safetensors")  # move the encoder too: no closed form
        theta = {
            k: v * 1.05 if k.startswith("image_encoder.") and v.is_floating_point() else v for k, v in theta.items()
        }
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
            "0,0.5,1",
            *flags,
        )
    full, reduced = Run(runs["full"]), Run(runs["reduced"])
    assert reduced.storage("wilds-fmow-ood-test") == "reductions" and full.has_logits("wilds-fmow-ood-test")
    want, got = em.run_extra_metrics(full), em.run_extra_metrics(reduced)
    assert got.keys() == want.keys() and got
    for name, (metric, values) in want.items():
        assert got[name][0] == metric
        np.testing.assert_allclose(got[name][1], values)
