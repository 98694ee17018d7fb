"""Where and how compute runs: device choice, precision, seeding, and torchrun (DDP) state."""

from __future__ import annotations

import contextlib
import os
import random
import sys
from typing import NoReturn

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
        dev = (
            torch.device("cuda", local_rank() % torch.cuda.device_count())
            if torch.cuda.is_available()
            else torch.device("cpu")
        )
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
            raise DeviceError(
                f"--device {requested!r}: this machine has {torch.cuda.device_count()} CUDA device(s), numbered from 0"
            )
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


def shutdown_distributed() -> None:
    """Leave the process group, if joined (gloo or nccl)."""
    if dist.is_initialized():
        dist.destroy_process_group()


def exit_worker(code: int) -> NoReturn:
    """End a torchrun worker without finalizing the interpreter (flushing stdout and stderr first).

    gloo's worker threads release the tensors of finished collectives after the caller has moved on,
    and releasing a tensor takes the GIL; if the interpreter is finalizing by then, the thread is
    killed inside a noexcept frame and the process aborts ("terminate called without an active
    exception", exit -6: pytorch/pytorch#190489). Measured on the loaded 2-core machine with a
    torchrun of tests/rank_crops.py: 1 run in 10-15 aborted, destroy_process_group() or not (other
    live references keep the group's threads running). Everything a command writes is written and
    closed before it returns, so nothing is lost by skipping finalization.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed or broken pipe: nothing left to say
            pass
    os._exit(code)


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def is_main() -> bool:
    return rank() == 0


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()
