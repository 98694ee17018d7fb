"""Where and how compute runs: device choice, precision, seeding, and torchrun (DDP) state."""

from __future__ import annotations

import contextlib
import os
import random

import numpy as np
import torch
import torch.distributed as dist


class DeviceError(ValueError):
    """A --device that does not exist on this machine."""


def pick_device(requested: str | None = None) -> torch.device:
    """The requested device, else this rank's CUDA device when there is one, else the CPU.

    Under CUDA, TF32 matmuls and convolutions are allowed (the fp32 parts of a bf16-autocast step).
    """
    if not requested:
        dev = torch.device("cuda", local_rank() % torch.cuda.device_count()) if torch.cuda.is_available() \
            else torch.device("cpu")
    else:
        try:
            dev = torch.device(requested)
        except RuntimeError:
            raise DeviceError(f"--device {requested!r} is not a device name; use cpu, cuda or cuda:N") from None
        if dev.type not in ("cpu", "cuda"):
            raise DeviceError(f"--device {requested!r}: only cpu and cuda[:N] are supported")
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise DeviceError(f"--device {requested!r}: CUDA is not available here; use --device cpu")
        if dev.type == "cuda" and (dev.index or 0) >= torch.cuda.device_count():
            raise DeviceError(f"--device {requested!r}: this machine has {torch.cuda.device_count()} CUDA "
                              "device(s), numbered from 0")
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    return dev


def autocast(device: torch.device):
    """bf16 autocast on CUDA; full precision elsewhere (CPU bf16 is slower on most CPUs)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# ----------------------------------------------------------------------------- torchrun / DDP


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", 0))


def init_distributed() -> bool:
    """Join the process group when launched by torchrun (nccl on GPU, gloo on CPU)."""
    if int(os.environ.get("WORLD_SIZE", 1)) <= 1 or dist.is_initialized():
        return dist.is_initialized()
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(local_rank())
    dist.init_process_group(backend)
    return True


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def is_main() -> bool:
    return rank() == 0


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()
