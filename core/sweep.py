"""The sweep: logits of theta_alpha for every example of every eval set and every alpha of a grid.

Each image is decoded and preprocessed once per sweep: a chunk of images is decoded into memory,
then the model's weights are set in place to each theta_alpha in turn and the chunk is run through
it. When theta_0 and theta_1 differ only in the head (linear-classifier fine-tunes), the encoder runs
once and logits(alpha) = (1 - alpha) * logits_0 + alpha * logits_1 exactly, for any alpha: the run
stores the two endpoint logits and says so in its manifest.

Each finished chunk is saved atomically under sweep/.partial/, so an interrupted sweep resumes
where it stopped; the eval set's final file appears (by rename) only when complete.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from . import artifacts, metrics, runtime
from .data import ImageSet, align_classes
from .evaluate import decode, predict
from .interpolate import check_compatible, differing_keys, interpolate_
from .models import ImageClassifier, transforms_from_cfg
from .runs import file_digest, load_classifier, load_weights

DEFAULT_ALPHAS = tuple(round(a, 4) for a in np.linspace(0, 1, 21))


@dataclass(frozen=True)
class SweepConfig:
    """Sweep settings."""

    alphas: tuple[float, ...] = DEFAULT_ALPHAS  # interpolation grid; any reals (>1 extrapolates)
    batch_size: int = 256  # forward-pass batch
    chunk_size: int = 4096  # images decoded at once and kept in memory across alphas
    num_workers: int = 0  # data loader workers for decoding
    logits_dtype: str = "float16"  # stored logits: float16 (small) or float32 (exact)
    device: str | None = None  # default: CUDA when available, else CPU
    compile: bool = False  # torch.compile the model's forward (worth it on GPUs for long sweeps)

    def __post_init__(self):
        if not self.alphas:
            raise ValueError("the alpha grid is empty")
        if self.logits_dtype not in ("float16", "float32"):
            raise ValueError("logits_dtype must be float16 or float32")


def parse_alphas(text: str) -> tuple[float, ...]:
    """'0,0.5,1' or 'start:stop:num' (e.g. '0:1:21') -> sorted tuple of floats."""
    try:
        if ":" in text:
            start, stop, num = text.split(":")
            values = np.linspace(float(start), float(stop), int(num))
        else:
            values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError as err:
        raise ValueError(
            f"cannot parse alphas {text!r}: give a comma list like 0,0.5,1 or start:stop:num like 0:1:21"
        ) from err
    values = sorted({round(float(v), 6) for v in values})
    if not values or not all(np.isfinite(values)):
        raise ValueError(f"cannot parse alphas {text!r}: no finite values")
    return tuple(values)


@dataclass
class _Plan:
    """What one sweep computes: the two weight sets and whether the closed form applies."""

    theta_0: dict
    theta_1: dict
    head_only: bool
    fingerprint: str
    alphas: tuple[float, ...] = field(default_factory=tuple)


def sweep(run_dir: Path, eval_sets: list[tuple[ImageSet, str]], cfg: SweepConfig = SweepConfig()) -> Path:
    """Compute and store logits for every (eval set, alpha); write metrics.csv and the manifest.

    Args:
        run_dir: a run with weights/zeroshot.safetensors and weights/finetuned.safetensors.
        eval_sets: (images, role) pairs, role 'id' or 'ood'; the first 'id' set is the reference.
        cfg: the grid and batching.
    Returns:
        run_dir
    """
    run_dir = Path(run_dir)
    manifest = artifacts.read_manifest(run_dir)
    names = [s.name for s, _ in eval_sets]
    if len(set(names)) != len(names):
        raise ValueError(f"eval set names must be unique, got {names}; name them like sketch=folder:PATH")
    if not any(role == "id" for _, role in eval_sets):
        raise ValueError("a sweep needs an ID eval set (--id)")
    eval_sets = [(align_classes(s, manifest["classnames"]), role) for s, role in eval_sets]
    dev = runtime.pick_device(cfg.device)
    plan = _plan(run_dir, cfg, dev)
    model, pp_cfg = load_classifier(run_dir, "zeroshot", dev)
    if cfg.compile:
        model.compile()  # in place: state_dict keys, which the sweep writes theta_alpha into, stay the same
    _, val_tf = transforms_from_cfg(pp_cfg)
    for images, _ in eval_sets:
        _sweep_one(run_dir, images, model, val_tf, plan, cfg, dev)
    _write_results(run_dir, eval_sets, plan, cfg)
    runtime.barrier()  # under torchrun, no rank returns before rank 0 has written the results
    return run_dir


def _plan(run_dir: Path, cfg: SweepConfig, dev: torch.device) -> _Plan:
    paths = [artifacts.weights_file(run_dir, which) for which in ("zeroshot", "finetuned")]
    theta_0, theta_1 = (load_weights(p, dev) for p in paths)
    check_compatible(theta_0, theta_1)
    head_only = all(k.startswith("head.") for k in differing_keys(theta_0, theta_1))
    digest = json.dumps([cfg.alphas, cfg.logits_dtype, *map(file_digest, paths)])
    return _Plan(theta_0, theta_1, head_only, digest, cfg.alphas)


def _sweep_one(run_dir: Path, images: ImageSet, model: ImageClassifier, val_tf, plan: _Plan,
               cfg: SweepConfig, dev: torch.device) -> None:
    """Sweep one eval set chunk by chunk (chunks sharded across torchrun ranks), then consolidate."""
    final = run_dir / "sweep" / f"{images.name}.safetensors"
    if final.exists() and artifacts.read_arrays_meta(final).get("fingerprint") == plan.fingerprint:
        return  # done by an earlier (interrupted or repeated) sweep with the same weights and grid
    partial = run_dir / "sweep" / ".partial" / images.name
    starts = range(0, len(images), cfg.chunk_size)
    passes = 1 if _closed_form(plan, images.logit_indices) else len(plan.alphas)
    bar = tqdm(total=len(images) * passes, desc=f"sweep {images.name}", unit="img",
               disable=not runtime.is_main())
    done = sum(_chunk_done(partial / f"chunk_{i:05d}.safetensors", plan) for i in range(len(starts)))
    runtime.barrier()  # every rank counts the finished chunks before any rank writes new ones
    if done and runtime.is_main():
        tqdm.write(f"sweep {images.name}: resuming, {done}/{len(starts)} chunks already done", file=sys.stderr)
    t0, computed = time.perf_counter(), 0
    for i, start in enumerate(starts):
        path = partial / f"chunk_{i:05d}.safetensors"
        stop = min(start + cfg.chunk_size, len(images))
        if i % runtime.world_size() != runtime.rank():
            continue
        if _chunk_done(path, plan):
            bar.update((stop - start) * passes)
            continue
        x = decode(images, val_tf, np.arange(start, stop), cfg.batch_size, cfg.num_workers)  # (n, 3, H, W)
        arrays = _chunk_logits(model, x, plan, cfg, dev, images.logit_indices, bar)
        artifacts.atomic_save_arrays(path, arrays, {"fingerprint": plan.fingerprint})
        computed += len(x)
    bar.close()
    if computed and runtime.is_main():
        seconds = time.perf_counter() - t0
        tqdm.write(f"sweep {images.name}: {computed} images x {passes} passes in {seconds:.1f} s on rank 0 of "
                   f"{runtime.world_size()}: {computed * passes / seconds:.1f} images/s per process", file=sys.stderr)
    runtime.barrier()
    if runtime.is_main():
        _consolidate(final, partial, len(starts), images, plan)
    runtime.barrier()


def _closed_form(plan: _Plan, logit_indices: np.ndarray | None) -> bool:
    """Head-only runs store the two endpoint logits, unless a max-projection (ObjectNet) breaks
    linearity in alpha; then logits are stored per alpha like end-to-end runs."""
    return plan.head_only and (logit_indices is None or logit_indices.ndim == 1)


def _chunk_done(path: Path, plan: _Plan) -> bool:
    return path.exists() and artifacts.read_arrays_meta(path).get("fingerprint") == plan.fingerprint


def _chunk_logits(model: ImageClassifier, x: torch.Tensor, plan: _Plan, cfg: SweepConfig,
                  dev: torch.device, logit_indices: np.ndarray | None, bar) -> dict[str, np.ndarray]:
    dtype = np.dtype(cfg.logits_dtype)
    project = (lambda z: z) if logit_indices is None else (lambda z: z[..., logit_indices])
    if logit_indices is not None and logit_indices.ndim == 2:  # (K, G): class k scores max of its group
        project = lambda z: z[..., logit_indices].max(axis=-1)  # noqa: E731
    if _closed_form(plan, logit_indices):  # encoder once; logits are linear in alpha
        feats = predict(model.features, x, cfg.batch_size, dev).to(dev)  # (n, D)
        ends = {}
        for key, theta in (("logits_0", plan.theta_0), ("logits_1", plan.theta_1)):
            logits = feats @ theta["head.weight"].float().T + theta["head.bias"].float()  # (n, C)
            ends[key] = project(logits.cpu().numpy()).astype(dtype)
        bar.update(len(x))
        return ends
    target = model.state_dict()  # shares storage with the live parameters
    per_alpha = []
    for alpha in plan.alphas:
        interpolate_(target, plan.theta_0, plan.theta_1, alpha)
        per_alpha.append(project(predict(model, x, cfg.batch_size, dev).numpy()).astype(dtype))
        bar.update(len(x))
    interpolate_(target, plan.theta_0, plan.theta_1, 0.0)
    return {"logits": np.stack(per_alpha)}  # (A, n, C)


def _consolidate(final: Path, partial: Path, n_chunks: int, images: ImageSet, plan: _Plan) -> None:
    from safetensors.numpy import load_file

    parts = [load_file(str(partial / f"chunk_{i:05d}.safetensors")) for i in range(n_chunks)]
    arrays = {k: np.concatenate([p[k] for p in parts], axis=-2) for k in parts[0]}
    arrays["labels"] = np.asarray(images.labels, dtype=np.int64)
    artifacts.atomic_write_json(final.with_suffix(".ids.json"), list(images.ids))
    artifacts.atomic_save_arrays(final, arrays, {"fingerprint": plan.fingerprint, "alphas": plan.alphas})
    shutil.rmtree(partial)
    if not any(partial.parent.iterdir()):
        partial.parent.rmdir()


def _write_results(run_dir: Path, eval_sets: list[tuple[ImageSet, str]], plan: _Plan, cfg: SweepConfig) -> None:
    if not runtime.is_main():
        return
    datasets = [{"name": s.name, "role": role, "spec": s.spec, "n": len(s),
                 "classnames": list(s.classnames), **s.extra} for s, role in eval_sets]
    info = {"alphas": list(plan.alphas), "logits_linear_in_alpha": plan.head_only,
            "logits_dtype": cfg.logits_dtype, "datasets": datasets}
    artifacts.update_manifest(run_dir, {"sweep": info})
    artifacts.write_metrics_csv(run_dir / "metrics.csv", artifacts.Run(run_dir).recompute_metrics())
