"""Decoding images and running models over them without gradients (shared by sweep and finetune)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import nn

from core import runtime
from core.data.registry import ImageSet, TorchImages


def image_batches(
    images: ImageSet,
    transform: Callable,
    indices: np.ndarray | None = None,
    batch_size: int = 256,
    num_workers: int = 0,
    shuffle_seed: int | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Yield (images (B, 3, H, W), labels (B,), example indices (B,)) over `indices` in order."""
    indices = np.arange(len(images)) if indices is None else np.asarray(indices)
    loader = torch.utils.data.DataLoader(
        TorchImages(images, transform),
        batch_size=batch_size,
        sampler=indices.tolist(),
        num_workers=num_workers,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=False,
    )
    yield from loader


def decode(
    images: ImageSet, transform: Callable, indices: np.ndarray, batch_size: int = 256, num_workers: int = 0
) -> torch.Tensor:
    """Decode and preprocess examples once into one tensor (n, 3, H, W), reused for every alpha."""
    return torch.cat([x for x, _, _ in image_batches(images, transform, indices, batch_size, num_workers)])


def split_normalize(transform: Callable) -> tuple[Callable, Callable[[torch.Tensor], torch.Tensor]] | None:
    """Split open_clip's eval transform (... ToTensor, Normalize) into a host part that yields uint8
    images (3, H, W) and a device part that makes the same float tensor from a uint8 batch, so a sweep
    keeps its decoded chunk as uint8 (4x smaller) and normalises on the accelerator. The device part
    repeats ToTensor and Normalize's arithmetic (x / 255, then (x - mean) / std): bit-identical on the
    CPU. None when the transform has another shape (then decode floats as before)."""
    from torchvision import transforms as T

    steps = getattr(transform, "transforms", None)
    if not steps or len(steps) < 2 or not isinstance(steps[-2], T.ToTensor) or not isinstance(steps[-1], T.Normalize):
        return None
    mean, std = (torch.as_tensor(v, dtype=torch.float32).view(1, -1, 1, 1) for v in (steps[-1].mean, steps[-1].std))

    def normalize(x: torch.Tensor) -> torch.Tensor:  # (B, 3, H, W) uint8 -> float32, on x's device
        return (x.float().div(255) - mean.to(x.device)) / std.to(x.device)

    return T.Compose([*steps[:-2], T.PILToTensor()]), normalize


@torch.no_grad()
def predict(
    module: nn.Module,
    inputs: torch.Tensor,
    batch_size: int,
    device: torch.device,
    prepare: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """module(prepare(inputs)) in batches on `device`, float32 on CPU: (n, ...) -> (n, out).

    `prepare` (e.g. split_normalize's device part) runs on each batch after it is on the device."""
    outs = []
    for start in range(0, len(inputs), batch_size):
        x = inputs[start : start + batch_size].to(device, non_blocking=True)
        x = prepare(x) if prepare is not None else x
        with runtime.autocast(device):
            outs.append(module(x).float().cpu())
    return torch.cat(outs)
