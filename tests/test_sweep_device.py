"""The sweep's device path: uint8 chunks normalised on the device, chunks sized for every rank."""

import numpy as np
import pytest
import torch

from core import runtime
from core.data.registry import get_dataset
from core.model.clip import transforms_from_cfg
from core.model.evaluate import decode, split_normalize
from core.wiseft.sweep import SweepConfig, chunk_size

PREPROCESS = [  # open_clip's OpenAI CLIP eval transform, and the world's (other size and statistics)
    {
        "size": [224, 224],
        "mode": "RGB",
        "mean": [0.48145466, 0.4578275, 0.40821073],
        "std": [0.26862954, 0.26130258, 0.27577711],
        "interpolation": "bicubic",
        "resize_mode": "shortest",
        "fill_color": 0,
    },
    {
        "size": [32, 32],
        "mode": "RGB",
        "mean": [0.5, 0.5, 0.5],
        "std": [0.25, 0.25, 0.25],
        "interpolation": "bilinear",
        "resize_mode": "squash",
        "fill_color": 0,
    },
]


@pytest.mark.parametrize("pp_cfg", PREPROCESS)
def test_uint8_chunks_normalised_on_the_device_equal_the_float_transform(pp_cfg, folders):
    images = get_dataset(f"folder:{folders['val']}")
    _, val_tf = transforms_from_cfg(pp_cfg)
    host_tf, normalize = split_normalize(val_tf)
    idx = np.arange(len(images))
    want = decode(images, val_tf, idx)  # (n, 3, H, W) float32, as before
    raw = decode(images, host_tf, idx)  # (n, 3, H, W) uint8: 4x smaller
    assert raw.dtype == torch.uint8 and raw.shape == want.shape
    assert torch.equal(normalize(raw), want)  # bit for bit on the CPU


def test_split_normalize_leaves_other_transforms_alone():
    from torchvision import transforms as T

    assert split_normalize(T.Compose([T.ToTensor()])) is None
    assert split_normalize(lambda img: img) is None


def test_every_rank_gets_a_chunk(monkeypatch):
    cfg = SweepConfig()  # 4,096 images a chunk
    monkeypatch.setattr(runtime, "world_size", lambda: 8)
    size = chunk_size(7_500, cfg)  # ImageNet-A on 8 GPUs: was 2 chunks, 6 GPUs idle
    assert size == 938 and -(-7_500 // size) == 8
    assert chunk_size(50_000, cfg) == 4_096  # large sets keep the configured chunk
    monkeypatch.setattr(runtime, "world_size", lambda: 1)
    assert chunk_size(7_500, cfg) == 4_096 and chunk_size(3, cfg) == 3
