"""Fine-tuning theta_0 into theta_1: end-to-end, or a linear classifier on frozen features.

Defaults follow the paper's recipe (Appendix C): AdamW with weight decay 0.1, cosine learning-rate
schedule with linear warmup, gradient-norm clipping at 1.0, optional label smoothing, bf16 autocast
on CUDA. Train states (model, optimizer, RNG) are safetensors checkpoints; `finetune` resumes from
the newest one. Under torchrun each rank trains on its shard of every epoch (DDP), rank 0 writes.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from . import artifacts, runtime
from .data import ImageSet, TorchImages, align_classes
from .models import transforms_from_cfg
from .runs import load_classifier, load_weights, save_weights

MODES = ("end-to-end", "linear-classifier")


@dataclass(frozen=True)
class FinetuneConfig:
    """Fine-tuning settings; the defaults are the paper's ViT-B/16 ImageNet recipe."""

    mode: str = "end-to-end"  # or "linear-classifier": encoder frozen, head trained on its features
    lr: float = 3e-5  # peak learning rate after warmup
    weight_decay: float = 0.1  # AdamW decoupled weight decay
    batch_size: int = 512  # global batch (split across ranks under torchrun)
    epochs: int = 10
    warmup_steps: int = 500  # linear warmup from 0 to lr
    label_smoothing: float = 0.0
    grad_clip: float = 1.0  # max global grad norm; 0 disables
    augment: bool = True  # open_clip's training transform (random resized crop) vs eval transform
    seed: int = 0
    num_workers: int = 0  # data loader workers
    checkpoint_every: int = 0  # steps between train-state checkpoints; 0 = at each epoch end
    keep_checkpoints: int = 1  # newest checkpoints kept; 0 keeps all (the trajectory)
    max_steps: int | None = None  # stop after this many steps (smoke tests)
    compile: bool = False  # torch.compile the trained module (GPU runs; the first steps pay for compiling)

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.batch_size < 1 or self.epochs < 1 or self.lr <= 0:
            raise ValueError("batch_size and epochs must be >= 1 and lr > 0")


def cosine_lr(step: int, total_steps: int, cfg: FinetuneConfig) -> float:
    """Learning rate at `step`: linear warmup, then cosine decay to 0 (the paper's schedule)."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, total_steps - cfg.warmup_steps)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress))) * cfg.lr


def epoch_indices(n: int, epoch: int, cfg: FinetuneConfig) -> np.ndarray:
    """This rank's example order for an epoch: a seeded permutation, padded and sharded by rank."""
    rng = np.random.default_rng([cfg.seed, epoch])
    perm = rng.permutation(n)
    world = runtime.world_size()
    per_rank = math.ceil(n / world)
    perm = np.resize(perm, per_rank * world)  # pad by wrapping, like DistributedSampler
    return perm[runtime.rank()::world]


# ----------------------------------------------------------------------------- train states


def save_train_state(path: Path, model: nn.Module, opt: torch.optim.Optimizer, step: int,
                     cfg: FinetuneConfig) -> None:
    """Model, optimizer and RNG state as one safetensors file (no pickles)."""
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    opt_state = opt.state_dict()
    for idx, state in opt_state["state"].items():
        for key, value in state.items():
            tensors[f"optim.{idx}.{key}"] = torch.as_tensor(value)
    tensors["rng.torch"] = torch.get_rng_state()
    meta = {"step": step, "param_groups": json.dumps(opt_state["param_groups"]),
            "config": json.dumps(asdict(cfg))}
    save_weights(path, tensors, meta)


def load_train_state(path: Path, model: nn.Module, opt: torch.optim.Optimizer) -> int:
    """Restore a train state saved by save_train_state; returns its step."""
    from safetensors import safe_open

    tensors = load_weights(path)
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, idx, name = key.split(".", 2)
            state.setdefault(int(idx), {})[name] = value
    opt.load_state_dict({"state": state, "param_groups": json.loads(meta["param_groups"])})
    torch.set_rng_state(tensors["rng.torch"])
    return int(meta["step"])


def checkpoints(run_dir: Path) -> list[Path]:
    """Train-state checkpoints of a run, oldest first."""
    return sorted((Path(run_dir) / "checkpoints").glob("step_*.safetensors"))


def _prune(run_dir: Path, keep: int) -> None:
    if keep > 0:
        for old in checkpoints(run_dir)[:-keep]:
            old.unlink()


# ----------------------------------------------------------------------------- training


def finetune(run_dir: Path, train_set: ImageSet, cfg: FinetuneConfig, device: str | None = None) -> Path:
    """Fine-tune the run's zero-shot model on `train_set`; writes weights/finetuned.safetensors.

    Resumes from the run's newest train-state checkpoint when one exists. Returns the weights path.
    """
    run_dir = Path(run_dir)
    runtime.seed_everything(cfg.seed)
    dev = runtime.pick_device(device)
    manifest = artifacts.read_manifest(run_dir)
    train_set = align_classes(train_set, manifest["classnames"])
    if train_set.logit_indices is not None:
        raise ValueError(f"training set {train_set.name!r} must have exactly the run's classes")
    classifier, pp_cfg = load_classifier(run_dir, "zeroshot", dev)
    train_tf, val_tf = transforms_from_cfg(pp_cfg)
    labels = torch.as_tensor(train_set.labels)
    per_rank = max(1, cfg.batch_size // runtime.world_size())

    if cfg.mode == "linear-classifier":
        from .evaluate import decode, predict

        for p in classifier.image_encoder.parameters():
            p.requires_grad_(False)
        feats = predict(classifier.features, decode(train_set, val_tf, np.arange(len(train_set)),
                        num_workers=cfg.num_workers), 256, dev)  # (N, D), computed once
        trainable: nn.Module = classifier.head

        def batches(idx: np.ndarray) -> Iterator:
            for s in range(0, len(idx), per_rank):
                b = torch.as_tensor(idx[s:s + per_rank])
                yield feats[b], labels[b]
    else:
        trainable = classifier
        loader_data = TorchImages(train_set, train_tf if cfg.augment else val_tf)

        def batches(idx: np.ndarray) -> Iterator:
            loader = torch.utils.data.DataLoader(loader_data, batch_size=per_rank, sampler=idx.tolist(),
                                                 num_workers=cfg.num_workers, pin_memory=dev.type == "cuda")
            return ((x, y) for x, y, _ in loader)

    _train(classifier, trainable, batches, len(train_set), cfg, run_dir, dev)
    out = run_dir / "weights" / "finetuned.safetensors"
    if runtime.is_main():
        save_weights(out, classifier.state_dict())
        artifacts.update_manifest(run_dir, {"finetune": {**asdict(cfg), "train_set": train_set.spec,
                                                         "n_train": len(train_set)}})
    runtime.barrier()
    return out


def _train(classifier: nn.Module, trainable: nn.Module, batches: Callable, n: int,
           cfg: FinetuneConfig, run_dir: Path, dev: torch.device) -> None:
    """The optimisation loop shared by both modes; checkpoints the whole classifier."""
    world = runtime.world_size()
    per_rank = max(1, cfg.batch_size // world)
    steps_per_epoch = math.ceil(math.ceil(n / world) / per_rank)
    total = steps_per_epoch * cfg.epochs
    stop = min(total, cfg.max_steps or total)
    params = [p for p in trainable.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    step = load_train_state(checkpoints(run_dir)[-1], classifier, opt) if checkpoints(run_dir) else 0
    model = trainable
    if world > 1:
        model = nn.parallel.DistributedDataParallel(trainable, device_ids=[dev.index] if dev.type == "cuda" else None)
    if cfg.compile:
        model = torch.compile(model)  # shares the parameters: checkpoints still save `classifier`
    classifier.train() if trainable is classifier else classifier.eval()
    bar = tqdm(total=stop, initial=step, desc=f"finetune ({cfg.mode})", disable=not runtime.is_main())
    every = cfg.checkpoint_every or steps_per_epoch
    seen, t0 = 0, time.perf_counter()
    while step < stop:
        epoch, offset = divmod(step, steps_per_epoch)
        for x, y in batches(epoch_indices(n, epoch, cfg)[offset * per_rank:]):
            for group in opt.param_groups:
                group["lr"] = cosine_lr(step, total, cfg)
            with runtime.autocast(dev):
                logits = model(x.to(dev, non_blocking=True))  # (B, C)
            loss = F.cross_entropy(logits.float(), y.to(dev), label_smoothing=cfg.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip:
                nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            opt.step()
            step, seen = step + 1, seen + len(x) * world
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}", img_s=f"{seen / (time.perf_counter() - t0):.0f}")
            if (step % every == 0 or step == stop) and runtime.is_main():
                save_train_state(run_dir / "checkpoints" / f"step_{step:07d}.safetensors", classifier, opt, step, cfg)
                _prune(run_dir, cfg.keep_checkpoints)
            if step >= stop:
                break
    bar.close()
    if seen and runtime.is_main():
        seconds = time.perf_counter() - t0
        tqdm.write(f"finetune: {seen} images in {seconds:.1f} s, {seen / seconds:.1f} images/s "
                   f"({world} process(es))", file=sys.stderr)
    classifier.eval()
