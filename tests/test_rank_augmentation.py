"""Augmentation under torchrun (2 CPU processes, gloo): each rank draws its own crops (issue 11.4)."""

import os
import subprocess
import sys

import pytest
import torch

from conftest import REPO

pytestmark = pytest.mark.slow  # starts 2 torchrun workers


def test_each_rank_draws_its_own_augmentation(tmp_path):
    """Issue 11.4: with 2 processes every rank cropped the same way (16/16 crop parameters equal).
    Now each example's crop comes from its position in the epoch: the ranks differ, and each rank's
    crops are the single-process run's crops at its positions (so DDP equals one process)."""
    from safetensors.torch import load_file

    from core.train.finetune import FinetuneConfig
    from rank_crops import first_batch

    out = tmp_path / "crops.safetensors"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(REPO / "tests" / "rank_crops.py"),
        str(out),
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    crops = load_file(str(out))
    a, b = crops["rank0"], crops["rank1"]  # (8, 3, 32, 32) each, all crops of one image
    same = sum(torch.equal(a[i], b[i]) for i in range(len(a)))
    assert same <= 1, f"{same}/{len(a)} crops equal across ranks"
    single = first_batch(FinetuneConfig(batch_size=16))  # (16, 3, 32, 32): positions 0..15
    assert torch.equal(a, single[0::2]) and torch.equal(b, single[1::2])
