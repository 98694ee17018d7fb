"""Fine-tuning results that can be trusted: resume only from matching inputs, exact resume, seeded
zero-shot runs, one-line errors for bad input (issue 10, items 3, 4, 5, 9 and 10)."""

import json
import os

import pytest
import torch

from conftest import copy_run
from core.cli import main
from core.data.registry import get_dataset
from core.model.clip import ModelSpec, load_clip, save_arch
from core.runs import artifacts
from core.runs.create import create_zeroshot_run
from core.runs.weights import load_weights
from core.train.finetune import FinetuneConfig, checkpoints, finetune

STEPS = ("--epochs", "2", "--batch-size", "16", "--warmup-steps", "1", "--lr", "1e-3")


def snapshot(folder):
    return {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in folder.rglob("*")}


def fails(capsys, *args) -> str:
    """Run the CLI expecting exit 2 and a one-line message; returns stderr."""
    capsys.readouterr()  # drop what earlier calls printed
    assert main([str(a) for a in args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    return err


# ----------------------------------------------------------------------------- 10.3: resume identity


@pytest.mark.slow
def test_finished_run_refuses_other_settings_and_restart_retrains(e2e_run, folders, capsys, tmp_path):
    run = copy_run(e2e_run, tmp_path / "run")
    before = snapshot(run)
    train = f"folder:{folders['train']}"
    err = fails(capsys, "finetune", "--run", run, "--train", train, *STEPS[:-1], "5", "--seed", "7")
    assert "lr: 0.001 -> 5.0" in err and "seed: 0 -> 7" in err and "--restart" in err and "new run" in err
    assert snapshot(run) == before  # weights and manifest untouched
    err = fails(capsys, "finetune", "--run", run, "--train", train, *STEPS, "--limit", "12")
    assert "train_set.n: 48 -> 12" in err
    assert main(["finetune", "--run", str(run), "--train", train, *STEPS[:-1], "5e-4", "--restart"]) == 0
    assert artifacts.read_manifest(run)["finetune"]["lr"] == 5e-4
    old = load_weights(e2e_run / "weights/finetuned.safetensors")
    new = load_weights(run / "weights/finetuned.safetensors")
    assert any(not torch.equal(old[k], new[k]) for k in old)


@pytest.mark.slow
def test_interrupted_run_refuses_other_flags(zeroshot_run, folders, capsys, tmp_path):
    run = copy_run(zeroshot_run, tmp_path / "run")
    train = f"folder:{folders['train']}"
    assert main(["finetune", "--run", str(run), "--train", train, *STEPS, "--max-steps", "2"]) == 0
    before = snapshot(run)
    err = fails(capsys, "finetune", "--run", run, "--train", train, *STEPS, "--label-smoothing", "0.1")
    assert "step_0000002.safetensors" in err and "label_smoothing: 0.0 -> 0.1" in err
    assert snapshot(run) == before
    # run-control flags are not part of the identity: the run continues
    assert main(["finetune", "--run", str(run), "--train", train, *STEPS, "--keep-checkpoints", "2"]) == 0


@pytest.mark.slow
def test_init_from_forks_explicitly(zeroshot_run, folders, tmp_path):
    train = get_dataset(f"folder:{folders['train']}")
    cfg = FinetuneConfig(epochs=2, batch_size=16, warmup_steps=1, lr=1e-3, checkpoint_every=1, keep_checkpoints=0)
    parent = copy_run(zeroshot_run, tmp_path / "parent")
    finetune(parent, train, cfg)
    fork = copy_run(zeroshot_run, tmp_path / "fork")
    finetune(fork, train, cfg, init_from=checkpoints(parent)[2])  # the parent's state after step 3 of 6
    assert [p.name for p in checkpoints(fork)][0] == "step_0000004.safetensors"
    # same settings and data order from the same state: the fork ends where the parent did
    a, b = (load_weights(r / "weights/finetuned.safetensors") for r in (parent, fork))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert artifacts.read_manifest(fork)["finetune"]["identity"]["init_from"]


# ----------------------------------------------------------------------------- 10.4: exact resume


@pytest.mark.slow
@pytest.mark.parametrize("workers", [0, 2])
def test_mid_epoch_resume_is_bit_identical_with_augmentation(zeroshot_run, folders, tmp_path, workers):
    train = get_dataset(f"folder:{folders['train']}")
    cfg = FinetuneConfig(
        epochs=2, batch_size=16, warmup_steps=1, lr=1e-3, checkpoint_every=1, augment=True, num_workers=workers
    )
    straight = finetune(copy_run(zeroshot_run, tmp_path / "a"), train, cfg)
    resumed_run = copy_run(zeroshot_run, tmp_path / "b")
    finetune(resumed_run, train, FinetuneConfig(**{**cfg.__dict__, "max_steps": 4}))  # stops mid-epoch 2
    assert checkpoints(resumed_run)[-1].name == "step_0000004.safetensors"
    torch.manual_seed(1234)  # the global RNG must not matter
    resumed = finetune(resumed_run, train, cfg)
    a, b = load_weights(straight), load_weights(resumed)
    moved = load_weights(zeroshot_run / "weights/zeroshot.safetensors")
    assert any(not torch.equal(a[k], moved[k]) for k in a)
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.mark.slow
def test_worker_count_does_not_change_the_result(zeroshot_run, folders, tmp_path):
    train = get_dataset(f"folder:{folders['train']}")
    outs = []
    for workers in (0, 2):
        cfg = FinetuneConfig(epochs=1, batch_size=16, warmup_steps=1, lr=1e-3, num_workers=workers)
        outs.append(load_weights(finetune(copy_run(zeroshot_run, tmp_path / f"w{workers}"), train, cfg)))
    assert all(torch.equal(outs[0][k], outs[1][k]) for k in outs[0])


# ----------------------------------------------------------------------------- 10.5: seeded zero-shot


@pytest.mark.slow
def test_zeroshot_seed_seeds_random_init(tiny_config, tmp_path):
    def weights(name, seed):
        torch.manual_seed(len(name))  # a different global RNG state before each call
        run = create_zeroshot_run(tmp_path / name, ModelSpec(str(tiny_config)), ["a", "b"], ["{}"], seed=seed)
        return load_weights(run / "weights/zeroshot.safetensors")

    a, b, c = weights("a", 3), weights("bb", 3), weights("ccc", 4)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


# ----------------------------------------------------------------------------- 10.9: one-line errors


def test_zeroshot_out_is_a_file(tiny_config, folders, capsys, tmp_path):
    out = tmp_path / "notes.txt"
    out.write_text("mine")
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
        out,
    )
    assert "is a file" in err and out.read_text() == "mine"


@pytest.mark.parametrize("content", [b"not a checkpoint\n", b"text\n", b"", b"\x80\x02}q\x00.", b"PK\x03\x04junk"])
def test_pretrained_that_is_not_a_checkpoint(tiny_config, folders, capsys, tmp_path, content):
    text = tmp_path / "weights.pt"
    text.write_bytes(content)  # "text\n" made torch's unpickler raise IndexError
    err = fails(
        capsys,
        "zeroshot",
        "--model",
        tiny_config,
        "--pretrained",
        text,
        "--classes-from",
        f"folder:{folders['train']}",
        "--templates",
        "simple",
        "--out",
        tmp_path / "run",
    )
    assert "checkpoint of tensors only" in err and str(text) in err
    assert "weights_only" not in err and "Re-running" not in err  # issue 26: never torch's advice to allow code
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "flag,value,expected",
    [
        ("--label-smoothing", "1.5", "--label-smoothing must be in [0, 1)"),
        ("--lr", "-1", "--lr must be a positive number"),
        ("--warmup-steps", "-3", "--warmup-steps must be >= 0"),
        ("--workers", "-1", "--workers must be >= 0"),
        ("--max-steps", "0", "--max-steps: 0 must be at least 1"),
        ("--device", "nosuch", "--device: 'nosuch' is not a device"),  # checked by the parser (core.cli.device_name)
        ("--init-from", "/nonexistent/x.safetensors", "--init-from /nonexistent/x.safetensors does not exist"),
    ],
)
def test_bad_finetune_flags(e2e_run, folders, capsys, tmp_path, flag, value, expected):
    run = copy_run(e2e_run, tmp_path / "run")
    before = snapshot(run)
    err = fails(capsys, "finetune", "--run", run, "--train", f"folder:{folders['train']}", flag, value)
    assert expected in err
    assert snapshot(run) == before


@pytest.mark.slow
def test_truncated_checkpoint_names_the_file_to_delete(zeroshot_run, folders, capsys, tmp_path):
    run = copy_run(zeroshot_run, tmp_path / "run")
    train = f"folder:{folders['train']}"
    assert main(["finetune", "--run", str(run), "--train", train, *STEPS, "--max-steps", "2"]) == 0
    ckpt = checkpoints(run)[-1]
    ckpt.write_bytes(ckpt.read_bytes()[:1000])
    err = fails(capsys, "finetune", "--run", run, "--train", train, *STEPS)
    assert "delete that file" in err and str(ckpt) in err and "--restart" in err
    assert main(["finetune", "--run", str(run), "--train", train, *STEPS, "--restart"]) == 0


# ----------------------------------------------------------------------------- 10.10: atomic arch


def test_save_arch_is_atomic(tiny_config, tmp_path, monkeypatch):
    model = load_clip(ModelSpec(str(tiny_config)))[0]
    dest = tmp_path / "model"
    dest.mkdir()
    (dest / "open_clip_config.json").write_text('{"old": true}')

    def killed(*args):
        raise OSError("killed before the rename")

    from core.runs import files  # where atomic writes live

    monkeypatch.setattr(files.os, "replace", killed)
    with pytest.raises(OSError):
        save_arch(ModelSpec(str(tiny_config)), model, dest)
    assert json.loads((dest / "open_clip_config.json").read_text()) == {"old": True}
    monkeypatch.undo()
    save_arch(ModelSpec(str(tiny_config)), model, dest)
    assert "model_cfg" in json.loads((dest / "open_clip_config.json").read_text())
    assert not [p for p in os.listdir(dest) if p.endswith(".tmp")]


def test_training_set_with_other_classes_is_called_a_training_set(e2e_run, capsys, tmp_path):
    import shutil

    from conftest import make_image_folder

    run = copy_run(e2e_run, tmp_path / "run")
    odd = make_image_folder(tmp_path / "odd", 2, seed=3)
    shutil.copytree(odd / "cat", odd / "zebra")
    before = snapshot(run)
    err = fails(capsys, "finetune", "--run", run, "--train", f"folder:{odd}", *STEPS)
    assert "training set 'odd'" in err and "has 4 classes but the model's head has 3" in err and "zebra" in err
    assert "eval set" not in err
    assert snapshot(run) == before
