"""Issue 28: the paper's fine-tuning alternatives as FinetuneConfig options (core.train.variants), on tiny real
open_clip towers (a ViT and a ModifiedResNet): L2-SP toward theta_0, training the last k blocks, and both in the
run's identity."""

from __future__ import annotations

import json

import pytest
import torch

from conftest import REPO, TINY_CONFIG, copy_run, run_cli
from core.cli import main
from core.data.registry import get_dataset
from core.runs import artifacts
from core.runs.weights import load_weights
from core.train import trainstate, variants
from core.train.finetune import FinetuneConfig, finetune

RESNET_CONFIG = {**TINY_CONFIG, "vision_cfg": {"image_size": 32, "layers": [1, 1, 1, 1], "width": 8}}
RECIPE = {"epochs": 3, "batch_size": 16, "warmup_steps": 1, "lr": 1e-3, "weight_decay": 0.0}


@pytest.fixture(scope="module")
def resnet_run(tmp_path_factory, folders):
    path = tmp_path_factory.mktemp("resnet") / "tiny-resnet.json"
    path.write_text(json.dumps(RESNET_CONFIG))
    out = path.parent / "zeroshot"
    run_cli(
        "zeroshot",
        "--model",
        path,
        "--classes-from",
        f"folder:{folders['train']}",
        "--templates",
        "simple",
        "--out",
        out,
    )
    return out


def trained(run, folders, tmp_path, name, **options):
    """theta_0 and theta_1 (state dicts) of a copy of `run` fine-tuned with RECIPE and `options`."""
    work = copy_run(run, tmp_path / name)
    finetune(work, get_dataset(f"folder:{folders['train']}"), FinetuneConfig(**RECIPE, **options))
    return load_weights(work / "weights/zeroshot.safetensors"), load_weights(work / "weights/finetuned.safetensors")


def distance(a: dict, b: dict) -> float:
    return float(sum(((a[k].float() - b[k].float()) ** 2).sum() for k in a if a[k].is_floating_point()))


@pytest.mark.slow
def test_l2_to_init_pulls_the_weights_toward_theta_0(zeroshot_run, folders, tmp_path):
    theta_0, free = trained(zeroshot_run, folders, tmp_path, "free")
    _, pulled = trained(zeroshot_run, folders, tmp_path, "pulled", l2_to_init=10.0)
    assert distance(pulled, theta_0) < 0.5 * distance(free, theta_0)  # measured: 0.024 of it
    # the penalty is the squared distance to theta_0 of the trained parameters
    params, anchors = [torch.ones(3, requires_grad=True)], [torch.zeros(3)]
    value = variants.squared_distance(params, anchors)
    value.backward()
    assert float(value.detach()) == 3.0 and torch.equal(params[0].grad, torch.full((3,), 2.0))


@pytest.mark.parametrize("tower", ["vit", "resnet"])
def test_train_last_k_leaves_the_frozen_layers_bit_identical(zeroshot_run, resnet_run, folders, tmp_path, tower):
    run = zeroshot_run if tower == "vit" else resnet_run
    theta_0, theta_1 = trained(run, folders, tmp_path, tower, train_last_k=1)
    last = {"vit": "image_encoder.transformer.resblocks.1.", "resnet": "image_encoder.attnpool."}[tower]
    trained_prefixes = (last, "head.", "image_encoder.ln_post.", "image_encoder.proj")
    moved = {k for k in theta_0 if not torch.equal(theta_0[k], theta_1[k])}
    assert moved and all(k.startswith(trained_prefixes) for k in moved), sorted(moved)
    assert any(k.startswith(last) for k in moved) and any(k.startswith("head.") for k in moved)
    if tower == "resnet":  # BatchNorm statistics of the frozen blocks (buffers) stay theta_0's
        assert "image_encoder.layer4.0.bn1.running_mean" in theta_0
        assert torch.equal(
            theta_0["image_encoder.layer4.0.bn1.running_mean"], theta_1["image_encoder.layer4.0.bn1.running_mean"]
        )


def test_tower_blocks_name_each_block_input_to_output(zeroshot_run, resnet_run):
    from core.runs.weights import load_classifier

    vit, _ = load_classifier(zeroshot_run)
    assert [n for n, _ in variants.tower_blocks(vit.image_encoder)] == [
        "transformer.resblocks.0",
        "transformer.resblocks.1",
    ]
    resnet, _ = load_classifier(resnet_run)
    assert [n for n, _ in variants.tower_blocks(resnet.image_encoder)] == [
        "layer1.0",
        "layer2.0",
        "layer3.0",
        "layer4.0",
        "attnpool",
    ]
    assert variants.train_last_blocks(resnet, 2) == ["layer4.0", "attnpool"]
    with pytest.raises(ValueError, match="has 5 blocks"):
        variants.train_last_blocks(resnet, 6)
    with pytest.raises(ValueError, match="not Linear"):
        variants.tower_blocks(torch.nn.Linear(2, 2))


def test_new_options_enter_the_identity_only_when_set():
    """Runs and checkpoints made before the options existed recorded no such keys: at their defaults the
    identity is what it was, so they still resume; set, the identity differs."""
    from core.worlds.build.config import WorldBuild

    base = FinetuneConfig()
    assert not {"l2_to_init", "train_last_k"} & set(base.as_record())
    e2e = REPO / "data" / "runs" / "world-e2e"
    if (e2e / artifacts.MANIFEST).exists():  # the shipped run's recorded identity is still its recipe's
        shipped, recipe = artifacts.read_manifest(e2e), WorldBuild().finetune
        assert shipped["finetune"]["identity"]["config"] == {
            k: v for k, v in recipe.as_record().items() if k not in trainstate.RUN_CONTROL
        }
    for option in ({"l2_to_init": 0.1}, {"train_last_k": 2}):
        cfg = FinetuneConfig(**option)
        assert cfg.as_record().items() >= option.items()
        assert trainstate.differences(base.as_record(), cfg.as_record()) == [
            f"{k}: None -> {v}" for k, v in option.items()
        ]


def test_resume_refuses_other_baseline_options(zeroshot_run, folders, capsys, tmp_path):
    run = copy_run(zeroshot_run, tmp_path / "run")
    train = ["--train", f"folder:{folders['train']}", "--epochs", "2", "--batch-size", "16", "--warmup-steps", "1"]
    assert main(["finetune", "--run", str(run), *train, "--train-last-k", "1", "--max-steps", "2"]) == 0
    assert main(["finetune", "--run", str(run), *train, "--max-steps", "3"]) == 2
    assert "train_last_k: 1 -> None" in capsys.readouterr().err
    assert main(["finetune", "--run", str(run), *train, "--train-last-k", "1", "--l2-to-init", "0.5"]) == 2
    assert "l2_to_init: None -> 0.5" in capsys.readouterr().err
    assert main(["finetune", "--run", str(run), *train, "--train-last-k", "1"]) == 0  # the same options: resumes
    assert artifacts.read_manifest(run)["finetune"]["train_last_k"] == 1


@pytest.mark.parametrize(
    "flags,expected",
    [
        (["--l2-to-init", "-1"], "--l2-to-init must be >= 0"),
        (["--train-last-k", "-1"], "--train-last-k must be >= 0"),
        (["--train-last-k", "9"], "the image tower has 2 blocks"),
        (["--train-last-k", "1", "--mode", "linear-classifier"], "a linear classifier trains the head only"),
    ],
)
def test_bad_baseline_flags(zeroshot_run, folders, capsys, tmp_path, flags, expected):
    run = copy_run(zeroshot_run, tmp_path / "run")
    assert main(["finetune", "--run", str(run), "--train", f"folder:{folders['train']}", *flags]) == 2
    assert expected in capsys.readouterr().err
