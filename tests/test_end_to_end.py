"""The whole command line on a tiny model and generated folders, including kill-and-resume."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from conftest import REPO, copy_run, run_cli
from core.data.registry import get_dataset
from core.runs.artifacts import SCHEMA_VERSION, Run
from core.runs.weights import load_weights
from core.train.finetune import FinetuneConfig, checkpoints, finetune


def test_info_prints_the_table_and_json(e2e_run, capsys):
    run_cli("info", "--run", e2e_run)
    text = capsys.readouterr().out
    assert "alpha" in text and "avg_ood" in text and "best avg_ood" in text
    run_cli("info", "--run", e2e_run, "--json")
    data = json.loads(capsys.readouterr().out)
    assert data["alphas"] == [0.0, 0.5, 1.0]
    assert set(data["accuracy"]) == {"val", "shift", "avg_ood"}


def test_metrics_table_recomputes_from_stored_logits(e2e_run):
    run = Run(e2e_run)
    stored, recomputed = run.metrics_rows(), run.recompute_metrics()
    assert len(stored) == 2 * 3
    for a, b in zip(stored, recomputed):
        assert (a["dataset"], a["alpha"]) == (b["dataset"], b["alpha"])
        assert a["accuracy"] == pytest.approx(b["accuracy"]) and a["loss"] == pytest.approx(b["loss"], rel=1e-6)
    ids = run.ids("val")
    assert len(ids) == len(run.labels("val")) and all(os.path.isfile(i) for i in ids)


def test_manifest_is_self_describing(e2e_run):
    m = Run(e2e_run).manifest
    assert m["schema_version"] == SCHEMA_VERSION == 2 and m["classnames"] == ["cat", "dog", "fish"]
    assert m["templates"] == ["a photo of a {}."] and m["finetune"]["mode"] == "end-to-end"
    assert {"torch", "open_clip_torch"} <= set(m["versions"]) and "git_commit" in m
    assert (e2e_run / "model" / "open_clip_config.json").is_file()
    assert not list(e2e_run.rglob("*.pt")) and not list(e2e_run.rglob("*.pkl"))


@pytest.mark.slow
def test_finetune_resumes_from_its_checkpoint_to_the_same_weights(zeroshot_run, folders, tmp_path):
    train = get_dataset(f"folder:{folders['train']}")
    cfg = FinetuneConfig(epochs=2, batch_size=16, warmup_steps=1, lr=1e-3, checkpoint_every=1)
    straight = finetune(copy_run(zeroshot_run, tmp_path / "a"), train, cfg)
    resumed_run = copy_run(zeroshot_run, tmp_path / "b")
    finetune(resumed_run, train, FinetuneConfig(**{**cfg.__dict__, "max_steps": 3}))  # "interrupted"
    assert checkpoints(resumed_run)[-1].name == "step_0000003.safetensors"
    resumed = finetune(resumed_run, train, cfg)
    a, b = load_weights(straight), load_weights(resumed)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6)


@pytest.mark.slow
def test_killed_sweep_resumes_and_matches_an_uninterrupted_one(e2e_run, folders, tmp_path):
    run = copy_run(e2e_run, tmp_path / "run")
    shutil.rmtree(run / "sweep")
    args = [
        sys.executable,
        "-m",
        "core",
        "sweep",
        "--run",
        str(run),
        "--id",
        f"folder:{folders['val']}",
        "--ood",
        f"folder:{folders['shift']}",
        "--alphas",
        "0,0.5,1",
        "--float32",
        "--chunk-size",
        "2",
        "--batch-size",
        "2",
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    partial = run / "sweep" / ".partial" / "val"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(partial.glob("chunk_*.safetensors"))) < 3:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (run / "sweep" / "val.safetensors").exists(), "a killed sweep must not leave a final file"
    done = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "resuming" in done.stderr
    reference, resumed = Run(e2e_run), Run(run)
    for name in ("val", "shift"):
        # same weights and images; only the batch size differs (2 vs 256): float32 rounding only
        np.testing.assert_allclose(resumed.grid_logits(name), reference.grid_logits(name), atol=1e-5, rtol=0)
    assert not (run / "sweep" / ".partial" / "val").exists()
