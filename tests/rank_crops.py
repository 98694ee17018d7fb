"""Helper of tests/test_rank_augmentation.py (run under torchrun, not collected by pytest): every rank
augments one and the same image in its first batch; rank 0 saves all ranks' crops to argv[1]."""

import sys

import numpy as np
import torch
import torch.distributed as dist
from PIL import Image
from safetensors.torch import save_file

from core import runtime
from core.data.registry import ImageSet
from core.model.clip import transforms_from_cfg
from core.train.finetune import FinetuneConfig, SeededImages, epoch_plan, image_loader

N = 32
IMAGE = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))


def first_batch(cfg: FinetuneConfig) -> torch.Tensor:
    images = ImageSet("same", ["a"], [str(i) for i in range(N)], np.zeros(N, dtype=np.int64), lambda i: IMAGE)
    train_tf, _ = transforms_from_cfg({"size": (32, 32)})
    idx, seeds = epoch_plan(N, 0, cfg)
    per_rank = cfg.batch_size // runtime.world_size()
    x, _ = next(image_loader(SeededImages(images, train_tf), idx, seeds, per_rank, cfg, 0, torch.device("cpu")))
    return x  # (B, 3, 32, 32)


if __name__ == "__main__":
    runtime.init_distributed()
    runtime.seed_everything(0)  # what finetune does on every rank: the same global seed everywhere
    x = first_batch(FinetuneConfig(batch_size=16))
    gathered = [torch.empty_like(x) for _ in range(runtime.world_size())]
    dist.all_gather(gathered, x)
    if runtime.is_main():
        save_file({f"rank{r}": t for r, t in enumerate(gathered)}, sys.argv[1])
    runtime.barrier()
    runtime.shutdown_distributed()
    runtime.exit_worker(0)  # see its docstring: finalizing here aborted 1 run in 10-15
