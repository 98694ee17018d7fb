"""Decoding images and running models over them without gradients (shared by sweep and finetune)."""

from __future__ import annotations

from typing import Callable, Iterator

import numpy as np
import torch
from torch import nn

from . import runtime
from .data import ImageSet, TorchImages


def image_batches(
    images: ImageSet, transform: Callable, indices: np.ndarray | None = None,
    batch_size: int = 256, num_workers: int = 0, shuffle_seed: int | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Yield (images (B, 3, H, W), labels (B,), example indices (B,)) over `indices` in order."""
    indices = np.arange(len(images)) if indices is None else np.asarray(indices)
    loader = torch.utils.data.DataLoader(
        TorchImages(images, transform), batch_size=batch_size, sampler=indices.tolist(),
        num_workers=num_workers, pin_memory=torch.cuda.is_available(),
        persistent_workers=False,
    )
    yield from loader


def decode(images: ImageSet, transform: Callable, indices: np.ndarray, batch_size: int = 256,
           num_workers: int = 0) -> torch.Tensor:
    """Decode and preprocess examples once into one tensor (n, 3, H, W), reused for every alpha."""
    return torch.cat([x for x, _, _ in image_batches(images, transform, indices, batch_size, num_workers)])


@torch.no_grad()
def predict(module: nn.Module, inputs: torch.Tensor, batch_size: int, device: torch.device) -> torch.Tensor:
    """module(inputs) in batches on `device`, float32 on CPU: (n, ...) -> (n, out)."""
    outs = []
    for start in range(0, len(inputs), batch_size):
        x = inputs[start:start + batch_size].to(device, non_blocking=True)
        with runtime.autocast(device):
            outs.append(module(x).float().cpu())
    return torch.cat(outs)
