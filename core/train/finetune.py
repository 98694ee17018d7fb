"""Fine-tuning theta_0 into theta_1: end-to-end, or a linear classifier on frozen features.

Defaults follow the paper's recipe (Appendix C): AdamW with weight decay 0.1, cosine learning-rate
schedule with linear warmup, gradient-norm clipping at 1.0, optional label smoothing, bf16 autocast
on CUDA with the head, softmax and loss in float32. Train states are safetensors checkpoints that
record what they were computed from (core.train.trainstate); `finetune` resumes from the newest one only
when that identity matches, and resume is exact (bit-identical on CPU): each example's augmentation
is drawn from its own seed (seed, epoch, position in the epoch), never from the global RNG, so the
data order and every crop are restored with the step, with any number of loader workers. Under
torchrun each rank trains on its shard of every epoch (DDP) and gets other crops than the other
ranks (its positions differ); rank 0 writes. Before (augmentation from the global torch RNG, which
each new DataLoader iterator also draws from, and only the CPU torch RNG saved), a mid-epoch resume
differed from an uninterrupted run by max |dw| 0.0013-0.0029 (0.23 with one worker), and every DDP
rank cropped alike; a worker_init_fn seeding scheme was not enough, since crops would still depend
on which worker loads an example, i.e. on --workers.

GPU efficiency: fused AdamW on CUDA, TF32 allowed (runtime.pick_device), and no per-step host sync:
the loss is read back every LOG_EVERY steps for the progress bar, not every step.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from core import runtime
from core.data.registry import ImageSet
from core.model.clip import transforms_from_cfg
from core.runs import artifacts
from core.runs.identity import file_digest
from core.runs.weights import load_classifier, load_weights, save_weights
from core.train import trainstate, variants
from core.train.trainstate import checkpoints  # also re-exported: callers list a run's checkpoints here

LOG_EVERY = 20  # steps between progress-bar loss read-backs (each one is a host-device sync)

MODES = ("end-to-end", "linear-classifier")


@dataclass(frozen=True)
class FinetuneConfig:
    """Fine-tuning settings; the defaults are the paper's ViT-B/16 ImageNet recipe."""

    mode: str = "end-to-end"  # or "linear-classifier": encoder frozen, head trained on its features
    lr: float = 3e-5  # peak learning rate after warmup; > 0
    weight_decay: float = 0.1  # AdamW decoupled weight decay; >= 0
    batch_size: int = 512  # global batch (split across ranks under torchrun); >= 1
    epochs: int = 10  # >= 1
    warmup_steps: int = 500  # linear warmup from 0 to lr; >= 0
    label_smoothing: float = 0.0  # in [0, 1)
    grad_clip: float = 1.0  # max global grad norm; 0 disables
    augment: bool = True  # open_clip's training transform (random resized crop) vs eval transform
    seed: int = 0  # data order and augmentation seed; >= 0
    num_workers: int = 0  # data loader workers (results do not depend on it); >= 0
    checkpoint_every: int = 0  # steps between train-state checkpoints; 0 = at each epoch end
    keep_checkpoints: int = 1  # newest checkpoints kept; 0 keeps all (the trajectory)
    max_steps: int | None = None  # stop after this many steps (smoke tests); >= 1
    compile: bool = False  # torch.compile the trained module (GPU runs; the first steps pay for compiling)
    # the paper's alternatives to its recipe (core.train.variants); recorded only when set (as_record)
    l2_to_init: float = 0.0  # L2-SP: adds l2_to_init * ||theta - theta_0||^2 over the trained weights to the loss; >= 0
    train_last_k: int | None = None  # end-to-end: train the image tower's last k blocks and the head only; >= 0

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        bounds = (
            ("lr", self.lr > 0 and math.isfinite(self.lr), "a positive number (3e-5 is the paper's)"),
            ("weight-decay", self.weight_decay >= 0, ">= 0"),
            ("batch-size", self.batch_size >= 1, ">= 1"),
            ("epochs", self.epochs >= 1, ">= 1"),
            ("warmup-steps", self.warmup_steps >= 0, ">= 0"),
            ("label-smoothing", 0 <= self.label_smoothing < 1, "in [0, 1), e.g. 0.1"),
            ("grad-clip", self.grad_clip >= 0, ">= 0 (0 disables clipping)"),
            ("seed", self.seed >= 0, ">= 0"),
            ("workers", self.num_workers >= 0, ">= 0"),
            ("checkpoint-every", self.checkpoint_every >= 0, ">= 0"),
            ("keep-checkpoints", self.keep_checkpoints >= 0, ">= 0 (0 keeps all)"),
            ("max-steps", self.max_steps is None or self.max_steps >= 1, ">= 1"),
            ("l2-to-init", self.l2_to_init >= 0 and math.isfinite(self.l2_to_init), ">= 0 (0 disables it)"),
            ("train-last-k", self.train_last_k is None or self.train_last_k >= 0, ">= 0 (blocks of the tower)"),
        )
        for flag, ok, rule in bounds:
            if not ok:
                value = getattr(self, flag.replace("-", "_").replace("workers", "num_workers"))
                raise ValueError(f"--{flag} must be {rule}, got {value}")
        if self.train_last_k is not None and self.mode != "end-to-end":
            raise ValueError(
                "--train-last-k chooses what end-to-end fine-tuning trains; a linear classifier "
                "trains the head only already (drop --train-last-k or use --mode end-to-end)"
            )

    def as_record(self) -> dict:
        """The settings as a dict, without the options added after train-state format 2 while they are at
        their defaults (LATER_DEFAULTS): the records and identities of runs made before them stay equal."""
        return {k: v for k, v in asdict(self).items() if not (k in LATER_DEFAULTS and v == LATER_DEFAULTS[k])}


LATER_DEFAULTS = {"l2_to_init": 0.0, "train_last_k": None}  # FinetuneConfig options recorded only when set


def cosine_lr(step: int, total_steps: int, cfg: FinetuneConfig) -> float:
    """Learning rate at `step`: linear warmup, then cosine decay to 0 (the paper's schedule)."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, total_steps - cfg.warmup_steps)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress))) * cfg.lr


def epoch_plan(n: int, epoch: int, cfg: FinetuneConfig) -> tuple[np.ndarray, np.ndarray]:
    """This rank's example order for an epoch and each example's augmentation seed.

    The order is a seeded permutation, padded and sharded by rank like DistributedSampler. The seed
    of the example at position p of the (unsharded) epoch order is a function of (seed, epoch, p):
    ranks draw different crops, and a run gets the same crops with any number of processes.
    """
    rng = np.random.default_rng([cfg.seed, epoch])
    perm = rng.permutation(n)
    world = runtime.world_size()
    per_rank = math.ceil(n / world)
    perm = np.resize(perm, per_rank * world)  # pad by wrapping, like DistributedSampler
    base = int(np.random.SeedSequence([cfg.seed, epoch, 1]).generate_state(1, np.uint64)[0] >> 2)
    seeds = base + np.arange(len(perm), dtype=np.int64)  # positions -> distinct seeds
    return perm[runtime.rank() :: world], seeds[runtime.rank() :: world]


def epoch_indices(n: int, epoch: int, cfg: FinetuneConfig) -> np.ndarray:
    """This rank's example order for an epoch (see epoch_plan)."""
    return epoch_plan(n, epoch, cfg)[0]


class SeededImages(torch.utils.data.Dataset):
    """An ImageSet as (transformed image, label) items keyed by (seed, index): each transform runs
    under its own torch seed, in a forked RNG, so neither the loader's workers nor the global RNG
    decide an augmentation."""

    def __init__(self, images: ImageSet, transform: Callable):
        self.images, self.transform = images, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, item: tuple[int, int]):
        seed, i = item
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            x = self.transform(self.images.get_image(int(i)))  # (3, H, W)
        return x, int(self.images.labels[int(i)])


def image_loader(
    data: SeededImages,
    idx: np.ndarray,
    seeds: np.ndarray,
    per_rank: int,
    cfg: FinetuneConfig,
    epoch: int,
    dev: torch.device,
) -> Iterator:
    """Batches (x (B, 3, H, W), y (B,)) of one epoch's (remaining) order; the loader's own generator
    is seeded from (seed, epoch, rank), so creating it draws nothing from the global RNG."""
    gen = torch.Generator().manual_seed(
        int(np.random.SeedSequence([cfg.seed, epoch, runtime.rank(), 2]).generate_state(1, np.uint64)[0] >> 2)
    )
    return iter(
        torch.utils.data.DataLoader(
            data,
            batch_size=per_rank,
            sampler=list(zip(seeds.tolist(), idx.tolist())),
            num_workers=cfg.num_workers,
            pin_memory=dev.type == "cuda",
            generator=gen,
        )
    )


# ----------------------------------------------------------------------------- training


def finetune(
    run_dir: Path,
    train_set: ImageSet,
    cfg: FinetuneConfig,
    device: str | None = None,
    restart: bool = False,
    init_from: Path | None = None,
) -> Path:
    """Fine-tune the run's zero-shot model on `train_set`; writes weights/finetuned.safetensors.

    Resumes from the run's newest train-state checkpoint when its identity (settings, training set,
    starting weights, preprocessing) matches; otherwise raises TrainStateError saying what differs.
    restart: discard the run's checkpoints first. init_from: start from other weights than theta_0,
    explicitly: an ImageClassifier weight file (step 0), or a train-state checkpoint of the same
    architecture, whose model, optimizer state and step are continued under `cfg` (a fork).
    Returns the weights path.
    """
    run_dir = Path(run_dir)
    dev = runtime.pick_device(device)
    manifest = artifacts.read_manifest(run_dir)
    _check_classes(train_set, manifest["classnames"])
    classifier, pp_cfg = load_classifier(run_dir, "zeroshot", dev)
    anchor = variants.anchor(classifier) if cfg.l2_to_init else None  # theta_0, before --init-from loads
    if init_from is not None and not Path(init_from).is_file():
        raise ValueError(f"--init-from {init_from} does not exist; give a weight file or a train-state checkpoint")
    init = None if init_from is None else {"digest": file_digest(init_from, length=16)}
    theta_0 = file_digest(artifacts.weights_file(run_dir, "zeroshot", manifest), length=16)
    ident = trainstate.identity(cfg, train_set, theta_0, pp_cfg, init)
    if init_from is not None:  # checked before --restart deletes anything
        _load_init(classifier, Path(init_from), len(manifest["classnames"]))
    resume = _resume_point(run_dir, ident, restart, manifest)
    runtime.seed_everything(cfg.seed)
    trainable, batches = _batches(classifier, train_set, cfg, pp_cfg, run_dir, ident, dev)
    if anchor is not None:  # keep theta_0 of the trained weights only (memory: frozen blocks need none)
        anchor = {p: a for p, a in anchor.items() if p.requires_grad}
    train_loop(classifier, trainable, batches, len(train_set), cfg, run_dir, dev, ident, resume or init_from, anchor)
    return _finish(run_dir, classifier, cfg, train_set, ident, init_from)


def _batches(
    classifier: nn.Module,
    train_set: ImageSet,
    cfg: FinetuneConfig,
    pp_cfg: dict,
    run_dir: Path,
    ident: dict,
    dev: torch.device,
) -> tuple[nn.Module, Callable]:
    """The trained module and `batches(epoch, offset)`: augmented images (end-to-end), or rows of the
    frozen encoder's streamed features (linear-classifier)."""
    train_tf, val_tf = transforms_from_cfg(pp_cfg)
    per_rank = max(1, cfg.batch_size // runtime.world_size())
    if cfg.mode == "linear-classifier":
        from core.train.features import extract_features, feature_dir

        classifier.image_encoder.requires_grad_(False)
        feat_id = {k: ident[k] for k in ("format", "train_set", "theta_0", "init_from", "preprocess")}
        feats = extract_features(
            feature_dir(run_dir, feat_id),
            feat_id,
            classifier.features,
            train_set,
            val_tf,
            dev,
            num_workers=cfg.num_workers,
        )  # (N, D) float16, memory-mapped
        labels = torch.as_tensor(train_set.labels)
        trainable: nn.Module = classifier.head

        def batches(epoch: int, offset: int) -> Iterator:
            idx = epoch_plan(len(train_set), epoch, cfg)[0][offset * per_rank :]
            for s in range(0, len(idx), per_rank):
                b = idx[s : s + per_rank]
                yield torch.from_numpy(feats[b].astype(np.float32)), labels[torch.as_tensor(b)]  # (B, D), (B,)
    else:
        trainable = classifier
        if cfg.train_last_k is not None:
            variants.train_last_blocks(classifier, cfg.train_last_k)
        data = SeededImages(train_set, train_tf if cfg.augment else val_tf)

        def batches(epoch: int, offset: int) -> Iterator:
            idx, seeds = (a[offset * per_rank :] for a in epoch_plan(len(train_set), epoch, cfg))
            return image_loader(data, idx, seeds, per_rank, cfg, epoch, dev)

    return trainable, batches


def _check_classes(train_set: ImageSet, classnames: list[str]) -> None:
    """A training set must have exactly the run's classes, in the run's order."""
    have = list(train_set.classnames)
    if have == list(classnames):
        return
    extra = [c for c in have if c not in classnames]
    missing = [c for c in classnames if c not in have]
    what = (f"classes not in the run: {extra[:8]}; " if extra else "") + (
        f"run classes it lacks: {missing[:8]}; " if missing else ""
    ) or "the same classes in another order; "
    raise ValueError(
        f"training set {train_set.name!r} ({train_set.spec}) has {len(have)} classes and the run "
        f"{len(classnames)}: {what}fine-tune on a set whose classes are the run's (its class "
        "subfolders named like the run's classnames), or create a run from it (zeroshot --classes-from)"
    )


def _resume_point(run_dir: Path, ident: dict, restart: bool, manifest: dict) -> Path | None:
    """The checkpoint to resume from (None: start), after checking it was made from `ident`."""
    if restart and runtime.is_main():
        shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
    runtime.barrier()
    ckpts = checkpoints(run_dir)
    if ckpts:
        trainstate.check_resumable(ckpts[-1], ident, run_dir)
        return ckpts[-1]
    done = manifest.get("finetune")
    if (
        not restart
        and done
        and (run_dir / "weights" / "finetuned.safetensors").is_file()
        and done.get("identity") != ident
    ):
        diffs = trainstate.differences(done.get("identity") or {}, ident)
        raise trainstate.TrainStateError(
            f"{run_dir} already has fine-tuned weights made from other inputs ({'; '.join(diffs[:6])}): add "
            "--restart to replace them, or start a new run (zeroshot --out NEW)"
        )
    return None


def _load_init(classifier: nn.Module, path: Path, num_classes: int) -> None:
    """The model weights of an --init-from file (a train state or an ImageClassifier state dict)."""
    from core.runs.weights import check_head

    state = load_weights(path)
    if any(k.startswith("model.") for k in state):
        state = {k[6:]: v for k, v in state.items() if k.startswith("model.")}
    check_head(state, num_classes, path)
    try:
        classifier.load_state_dict(state)
    except RuntimeError as err:
        raise ValueError(
            f"--init-from {path} is not a checkpoint of this run's architecture: {str(err).splitlines()[0]}"
        ) from err


def _finish(
    run_dir: Path, classifier: nn.Module, cfg: FinetuneConfig, train_set: ImageSet, ident: dict, init_from: Path | None
) -> Path:
    out = run_dir / "weights" / "finetuned.safetensors"
    if runtime.is_main():
        save_weights(out, classifier.state_dict())
        record = {**cfg.as_record(), "train_set": train_set.spec, "n_train": len(train_set), "identity": ident}
        if init_from is not None:
            record["init_from"] = str(init_from)
        artifacts.update_manifest(run_dir, {"finetune": record})
    runtime.barrier()
    return out


def _start(start: Path | None, classifier: nn.Module, opt: torch.optim.Optimizer, ident: dict) -> int:
    """Step to start at: restored from a checkpoint of this run (everything, RNG included) or a
    forked train state (model, optimizer and step); 0 from plain weights."""
    if start is None:
        return 0
    meta = trainstate.read_meta(start)
    if "step" not in meta:
        return 0  # --init-from plain weights, already loaded
    own = meta.get("identity") and json.loads(meta["identity"]) == ident
    return trainstate.load_train_state(start, classifier, opt, rng=bool(own))


def train_step(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    params: list,
    x: torch.Tensor,
    y: torch.Tensor,
    lr: float,
    cfg: FinetuneConfig,
    amp,
    anchor: list[torch.Tensor] | None = None,
) -> torch.Tensor:
    """One optimiser step on a batch already on the device; returns the training loss (not synced).
    anchor: theta_0 of each of `params` for the L2-SP penalty (cfg.l2_to_init)."""
    for group in opt.param_groups:
        group["lr"] = lr
    with amp:
        logits = model(x)  # (B, C) float32 (the head runs in fp32)
    loss = F.cross_entropy(logits.float(), y, label_smoothing=cfg.label_smoothing)
    if anchor is not None:
        loss = loss + cfg.l2_to_init * variants.squared_distance(params, anchor)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if cfg.grad_clip:
        nn.utils.clip_grad_norm_(params, cfg.grad_clip)
    opt.step()
    return loss


def train_loop(
    classifier: nn.Module,
    trainable: nn.Module,
    batches: Callable,
    n: int,
    cfg: FinetuneConfig,
    run_dir: Path,
    dev: torch.device,
    ident: dict,
    start: Path | None,
    anchor: dict | None = None,
) -> None:
    """The optimisation loop shared by both modes; checkpoints the whole classifier. anchor: theta_0 per
    parameter (variants.anchor) when cfg.l2_to_init is set."""
    world = runtime.world_size()
    per_rank = max(1, cfg.batch_size // world)
    steps_per_epoch = math.ceil(math.ceil(n / world) / per_rank)
    total = steps_per_epoch * cfg.epochs
    stop = min(total, cfg.max_steps or total)
    params = [p for p in trainable.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=dev.type == "cuda")
    step = _start(start, classifier, opt, ident)
    model = trainable
    if world > 1:
        model = nn.parallel.DistributedDataParallel(trainable, device_ids=[dev.index] if dev.type == "cuda" else None)
    if cfg.compile:
        model = torch.compile(model)  # shares the parameters: checkpoints still save `classifier`
    classifier.train() if trainable is classifier else classifier.eval()
    if cfg.train_last_k is not None:
        variants.freeze_batchnorm(classifier)  # frozen blocks keep their BatchNorm statistics too
    pull = [anchor[p] for p in params] if anchor is not None else None
    amp = runtime.autocast(dev) if trainable is classifier else contextlib.nullcontext()  # a lone head: fp32
    bar = tqdm(total=stop, initial=step, desc=f"finetune ({cfg.mode})", disable=not runtime.is_main())
    every = cfg.checkpoint_every or steps_per_epoch
    seen, t0 = 0, time.perf_counter()
    while step < stop:
        epoch, offset = divmod(step, steps_per_epoch)
        for x, y in batches(epoch, offset):
            loss = train_step(
                model,
                opt,
                params,
                x.to(dev, non_blocking=True),
                y.to(dev, non_blocking=True),
                cosine_lr(step, total, cfg),
                cfg,
                amp,
                pull,
            )
            step, seen = step + 1, seen + len(x) * world
            bar.update(1)
            if step % LOG_EVERY == 0 or step == stop:  # the only host sync of the loop
                bar.set_postfix(loss=f"{loss.item():.3f}", img_s=f"{seen / (time.perf_counter() - t0):.0f}")
            if (step % every == 0 or step == stop) and runtime.is_main():
                trainstate.save_train_state(
                    run_dir / "checkpoints" / f"step_{step:07d}.safetensors", classifier, opt, step, ident
                )
                trainstate.prune(run_dir, cfg.keep_checkpoints)
            if step >= stop:
                break
    bar.close()
    if seen and runtime.is_main():
        seconds = time.perf_counter() - t0
        tqdm.write(
            f"finetune: {seen} images in {seconds:.1f} s, {seen / seconds:.1f} images/s ({world} process(es))",
            file=sys.stderr,
        )
    classifier.eval()
