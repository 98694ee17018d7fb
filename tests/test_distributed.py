"""torchrun with 2 CPU processes (gloo): fine-tuning (with a resume) and the sweep equal the
single-process run.

Tolerances. The two runs see the same examples in every step (each rank takes every 2nd index of
the same permutation, half the batch), and DDP averages the two half-batch gradients, which is the
full-batch mean gradient up to float32 summation order. Measured: logits agree to 2e-6 and weights to
1.1e-6, except the attention key biases, whose true gradient is exactly zero (softmax ignores a
shift that is the same for every key): there Adam divides float noise by its own size and takes
lr-sized steps of random sign in both runs, which changes no output. So: logits within LOGIT_ATOL,
weights other than key biases within WEIGHT_ATOL (about 10x and 50x the measured differences), and
identical predictions.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import REPO, copy_run, run_cli
from core.runs.artifacts import Run
from core.runs.weights import load_weights

pytestmark = pytest.mark.slow  # every test reads the runs of a module fixture that starts torchrun workers

LOGIT_ATOL = 1e-4
WEIGHT_ATOL = 1e-5
TRAIN_ARGS = (
    "--no-augment",
    "--epochs",
    "2",
    "--batch-size",
    "16",
    "--warmup-steps",
    "1",
    "--lr",
    "1e-3",
    "--checkpoint-every",
    "2",
)  # 48 images: 3 steps of 16 per epoch, 8 per rank under torchrun
LC_ARGS = ("--mode", "linear-classifier", "--epochs", "2", "--batch-size", "16", "--warmup-steps", "1", "--lr", "1e-2")


def torchrun(*args: str) -> subprocess.CompletedProcess:
    """`torchrun --nproc_per_node=2 -m core -- ARGS` on the CPU. The `--` keeps torchrun's own parser
    off our flags (it would read `--run` as an abbreviation of its `--run-path`: pytorch#120601)."""
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "core",
        "--",
        *map(str, args),
    ]
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "OMP_NUM_THREADS": "1",
        "CUDA_VISIBLE_DEVICES": "",
        "HF_HUB_OFFLINE": "1",
    }
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done


@pytest.fixture(scope="module")
def runs(tmp_path_factory, zeroshot_run, folders) -> dict:
    """The same fine-tune + 3-alpha sweep, single-process and under torchrun (interrupted and resumed)."""
    root = tmp_path_factory.mktemp("ddp")
    train = f"folder:{folders['train']}"
    sets = ("--id", f"folder:{folders['val']}", "--ood", f"folder:{folders['shift']}")
    sweep = ("--alphas", "0,0.5,1", "--float32", "--chunk-size", "8")  # 3 chunks per set: ranks 0, 1, 0
    single, ddp = copy_run(zeroshot_run, root / "single"), copy_run(zeroshot_run, root / "ddp")
    run_cli("finetune", "--run", single, "--train", train, *TRAIN_ARGS)
    run_cli("sweep", "--run", single, *sets, *sweep)
    torchrun("finetune", "--run", ddp, "--train", train, *TRAIN_ARGS, "--max-steps", "4")  # stops mid-epoch 2
    stopped_at = sorted(p.name for p in (ddp / "checkpoints").iterdir())
    torchrun("finetune", "--run", ddp, "--train", train, *TRAIN_ARGS)  # resumes from step 4
    out = torchrun("sweep", "--run", ddp, *sets, *sweep)
    lc_single, lc_ddp = copy_run(zeroshot_run, root / "lc_single"), copy_run(zeroshot_run, root / "lc_ddp")
    run_cli("finetune", "--run", lc_single, "--train", train, *LC_ARGS)
    torchrun("finetune", "--run", lc_ddp, "--train", train, *LC_ARGS)
    return {
        "single": single,
        "ddp": ddp,
        "stopped_at": stopped_at,
        "sweep_stdout": out.stdout,
        "lc_single": lc_single,
        "lc_ddp": lc_ddp,
    }


def is_key_bias(key: str, value: torch.Tensor) -> np.ndarray:
    """Mask of the attention key-bias entries (the middle third of in_proj_bias)."""
    mask = np.zeros(value.shape, dtype=bool)
    if key.endswith("attn.in_proj_bias"):
        d = value.shape[0] // 3
        mask[d : 2 * d] = True
    return mask


def test_ddp_finetune_equals_single_process(runs):
    assert runs["stopped_at"] == ["step_0000004.safetensors"]
    single = load_weights(runs["single"] / "weights/finetuned.safetensors")
    ddp = load_weights(runs["ddp"] / "weights/finetuned.safetensors")
    zeroshot = load_weights(runs["single"] / "weights/zeroshot.safetensors")
    assert single.keys() == ddp.keys()
    for key in single:
        diff = (single[key] - ddp[key]).abs().numpy()
        keep = ~is_key_bias(key, single[key])
        assert diff[keep].max(initial=0) <= WEIGHT_ATOL, key
    moved = max((single[k] - zeroshot[k]).abs().max().item() for k in single)
    assert moved > 100 * WEIGHT_ATOL  # the runs trained: the comparison is not vacuous


def test_ddp_linear_classifier_equals_single_process(runs):
    single = load_weights(runs["lc_single"] / "weights/finetuned.safetensors")
    ddp = load_weights(runs["lc_ddp"] / "weights/finetuned.safetensors")
    for key in single:
        torch.testing.assert_close(ddp[key], single[key], rtol=0, atol=WEIGHT_ATOL)


def test_ddp_sweep_equals_single_process(runs):
    single, ddp = Run(runs["single"]), Run(runs["ddp"])
    assert ddp.dataset_names == single.dataset_names == ["val", "shift"]
    for name in single.dataset_names:
        a, b = single.grid_logits(name), ddp.grid_logits(name)  # (3, 24, 3)
        np.testing.assert_allclose(b, a, rtol=0, atol=LOGIT_ATOL)
        np.testing.assert_array_equal(b.argmax(-1), a.argmax(-1))
        np.testing.assert_array_equal(ddp.labels(name), single.labels(name))
        assert ddp.ids(name) == single.ids(name)
    for r, s in zip(ddp.metrics_rows(), single.metrics_rows()):
        assert (r["dataset"], r["alpha"], r["accuracy"]) == (s["dataset"], s["alpha"], s["accuracy"])


def test_rank_0_writes_one_run_folder(runs):
    ddp = runs["ddp"]
    assert sorted(p.name for p in (ddp / "checkpoints").iterdir()) == ["step_0000006.safetensors"]
    assert not (ddp / "sweep" / ".partial").exists()
    assert not [p for p in ddp.rglob("*") if p.name.endswith(".tmp")]
    assert runs["sweep_stdout"].count("best avg_ood") == 1  # the table is printed by rank 0 only
