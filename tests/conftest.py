"""Shared fixtures: a tiny random-init open_clip model and small generated image folders.

Everything is made here; nothing is downloaded.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
CLASSES = ("cat", "dog", "fish")
TINY_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8, "head_width": 32},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


def pytest_collection_modifyitems(config, items):
    """Tests marked `gpu` are skipped, with the reason shown, where torch sees no CUDA device."""
    gpu = [item for item in items if item.get_closest_marker("gpu")]
    if not gpu:
        return
    import torch

    if not torch.cuda.is_available():
        skip = pytest.mark.skip(reason="needs a CUDA device (torch.cuda.is_available() is False)")
        for item in gpu:
            item.add_marker(skip)


def make_image_folder(root: Path, per_class: int, seed: int, shift: float = 0.0) -> Path:
    """Class-per-subfolder JPEGs whose colour depends on the class (so fine-tuning can learn it)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for c, name in enumerate(CLASSES):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            base = np.zeros(3)
            base[c] = 200
            noise = rng.normal(0, 40 + 40 * shift, (40, 40, 3))
            arr = np.clip(base * (1 - shift) + noise + 30, 0, 255).astype(np.uint8)
            Image.fromarray(arr).save(folder / f"{name}_{i:03d}.jpg", quality=90)
    return root


@pytest.fixture(scope="session")
def tiny_config(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("model") / "tiny-clip.json"
    path.write_text(json.dumps(TINY_CONFIG))
    return path


@pytest.fixture(scope="session")
def folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("images")
    return {
        "train": make_image_folder(root / "train", 16, seed=0),
        "val": make_image_folder(root / "val", 8, seed=1),
        "shift": make_image_folder(root / "shift", 8, seed=2, shift=0.6),
    }


def run_cli(*args: str) -> None:
    from core.cli import main

    assert main([str(a) for a in args]) == 0


@pytest.fixture(scope="session")
def zeroshot_run(tmp_path_factory, tiny_config, folders) -> Path:
    out = tmp_path_factory.mktemp("runs") / "zeroshot"
    run_cli(
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
    return out


def copy_run(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def sweep_three_alphas(run: Path, folders: dict) -> Path:
    """The fixtures' sweep: alphas 0, 0.5, 1 in float32 on the val folder (ID) and the shift folder (OOD)."""
    run_cli(
        "sweep",
        "--run",
        run,
        "--id",
        f"folder:{folders['val']}",
        "--ood",
        f"folder:{folders['shift']}",
        "--alphas",
        "0,0.5,1",
        "--float32",
    )
    return run


@pytest.fixture(scope="session")
def e2e_run(tmp_path_factory, zeroshot_run, folders) -> Path:
    """Zero-shot -> a few end-to-end steps -> 3-alpha float32 sweep."""
    run = copy_run(zeroshot_run, tmp_path_factory.mktemp("e2e") / "run")
    run_cli(
        "finetune",
        "--run",
        run,
        "--train",
        f"folder:{folders['train']}",
        "--epochs",
        "2",
        "--batch-size",
        "16",
        "--warmup-steps",
        "1",
        "--lr",
        "1e-3",
    )
    return sweep_three_alphas(run, folders)


@pytest.fixture(scope="session")
def lc_run(tmp_path_factory, zeroshot_run, folders) -> Path:
    """Zero-shot -> linear-classifier fine-tune -> 3-alpha float32 sweep (closed form)."""
    run = copy_run(zeroshot_run, tmp_path_factory.mktemp("lc") / "run")
    run_cli(
        "finetune",
        "--run",
        run,
        "--train",
        f"folder:{folders['train']}",
        "--mode",
        "linear-classifier",
        "--epochs",
        "3",
        "--batch-size",
        "16",
        "--warmup-steps",
        "1",
        "--lr",
        "1e-2",
    )
    return sweep_three_alphas(run, folders)


@pytest.fixture(scope="session")
def quick_world(tmp_path_factory):
    """`make world` in quick mode, once per session (test_world, test_lmc_lab): (WorldBuild, seconds per step).
    Built on one torch thread: two threads on the 2 shared cores of the dev machine trained 13x slower."""
    import torch

    from core.worlds.build.config import WorldBuild
    from core.worlds.build.world import build

    root = tmp_path_factory.mktemp("world")
    b = WorldBuild.quick(root / "data", root / "work")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        times = build(b)
    finally:
        torch.set_num_threads(threads)
    return b, times
