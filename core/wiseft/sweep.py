"""The sweep: logits of theta_alpha for every example of every eval set and every alpha of a grid.

Each image is decoded and preprocessed once per sweep: a chunk of images is decoded into memory,
then the model's weights are set in place to each theta_alpha in turn and the chunk is run through
it. When theta_0 and theta_1 differ only in the head (linear-classifier fine-tunes), the encoder runs
once and logits(alpha) = (1 - alpha) * logits_0 + alpha * logits_1 exactly, for any alpha: such a
set stores the two endpoint logits ('closed_form' in its manifest entry).

The sweep reduces as it goes: per chunk and alpha, `metrics.reduce_logits` keeps the predictions,
per-example losses, top-k classes and probabilities and per-class hits beside the logits, so
metrics.csv and every reader work from those (a few MB) instead of the (alphas x examples x
classes) logits; `keep_logits=False` stores only the reductions. Memory: one chunk's logits
(A x chunk_size x C, in the stored dtype) plus one alpha of it in float32.

Each finished chunk is saved atomically under sweep/.partial/ with its identity, so an interrupted
sweep resumes where it stopped; results go to a new generation that the manifest switches to last
(core.runs.sweep_store).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from core import runtime
from core.data.registry import ImageSet, align_classes, project_logits
from core.model.clip import ImageClassifier, transforms_from_cfg
from core.model.evaluate import decode, predict, split_normalize
from core.results import metrics
from core.runs import artifacts, sweep_store
from core.runs.identity import file_digest, json_digest
from core.runs.weights import load_classifier, load_weights
from core.wiseft.interpolate import check_compatible, differing_keys, interpolate_

DEFAULT_ALPHAS = tuple(round(a, 4) for a in np.linspace(0, 1, 21))
FORMAT = 2  # what a chunk and a final file hold; part of every identity, so a change recomputes


@dataclass(frozen=True)
class SweepConfig:
    """Sweep settings."""

    alphas: tuple[float, ...] = DEFAULT_ALPHAS  # interpolation grid; any reals (>1 extrapolates)
    batch_size: int = 256  # forward-pass batch, >= 1
    chunk_size: int = 4096  # images decoded at once and kept in memory across alphas, >= 1
    num_workers: int = 0  # data loader workers for decoding, >= 0
    logits_dtype: str = "float16"  # stored logits: float16 (small) or float32 (exact)
    device: str | None = None  # default: CUDA when available, else CPU
    compile: bool = False  # torch.compile the model's forward (worth it on GPUs for long sweeps)
    keep_logits: bool = True  # False: store only the reductions (closed-form sets keep their 2 endpoints)
    topk: int = metrics.TOPK  # top classes kept per example and alpha, >= 1

    def __post_init__(self):
        if not self.alphas or not all(np.isfinite(self.alphas)):
            raise ValueError("the alpha grid is empty or not finite: give alphas like 0,0.5,1 or 0:1:21")
        for name, low in (("batch_size", 1), ("chunk_size", 1), ("num_workers", 0), ("topk", 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or value < low:
                raise ValueError(
                    f"{name} must be an integer >= {low}, got {value!r} "
                    f"(--{name.replace('_', '-').replace('num-workers', 'workers')})"
                )
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
    """What one sweep computes: the two weight sets, whether the closed form applies, and the
    inputs every identity covers."""

    theta_0: dict
    theta_1: dict
    head_only: bool
    weight_digests: list[str]
    preprocess: dict
    host_tf: object = None  # decodes an image on the host: to uint8 (3, H, W) when `prepare` is set
    prepare: object = None  # device part of the eval transform (uint8 batch -> normalised float), or None


def sweep(run_dir: Path, eval_sets: list[tuple[ImageSet, str]], cfg: SweepConfig = SweepConfig()) -> Path:
    """Compute and store logits and their reductions for every (eval set, alpha) in a new sweep
    generation, write its metrics.csv, then switch the run's manifest to it.

    Args:
        run_dir: a run with weights/zeroshot.safetensors and weights/finetuned.safetensors.
        eval_sets: (images, role) pairs, role 'id' or 'ood'; the first 'id' set is the reference.
        cfg: the grid and batching.
    Returns:
        run_dir
    """
    run = artifacts.Run(run_dir)
    names = [artifacts.check_set_name(s.name) for s, _ in eval_sets]
    if len(set(names)) != len(names):
        raise ValueError(f"eval set names must be unique, got {names}; name them like sketch=folder:PATH")
    if not any(role == "id" for _, role in eval_sets):
        raise ValueError("a sweep needs an ID eval set (--id)")
    eval_sets = [(align_classes(s, run.classnames, "eval set"), role) for s, role in eval_sets]
    dev = runtime.pick_device(cfg.device)
    model, pp_cfg = load_classifier(run.path, "zeroshot", dev)
    plan = _plan(run, pp_cfg, dev)
    if cfg.compile:
        model.compile()  # in place: state_dict keys, which the sweep writes theta_alpha into, stay the same
    _, val_tf = transforms_from_cfg(pp_cfg)
    plan.host_tf, plan.prepare = split_normalize(val_tf) or (val_tf, None)
    folder = sweep_store.new_generation(run, runtime.is_main())
    runtime.barrier()
    entries = []
    try:
        for images, role in eval_sets:
            entry = _entry(images, role, plan, cfg)
            if not sweep_store.reuse(run, folder, entry, runtime.is_main()):
                _sweep_one(run, folder, images, entry, model, plan, cfg, dev)
            entries.append(entry)
    except BaseException:  # a bad image, a kill: no half generation is left (finished chunks stay for a resume)
        if runtime.is_main():
            sweep_store.discard_generation(run, folder)
        raise
    if runtime.is_main():
        sweep_store.switch(
            run,
            folder,
            {
                "alphas": list(cfg.alphas),
                "logits_dtype": cfg.logits_dtype,
                "keep_logits": cfg.keep_logits,
                "topk": cfg.topk,
                "datasets": entries,
            },
        )
    runtime.barrier()  # under torchrun, no rank returns before rank 0 has written the results
    return run.path


def _plan(run: artifacts.Run, pp_cfg: dict, dev: torch.device) -> _Plan:
    paths = [artifacts.weights_file(run.path, which, run.manifest) for which in ("zeroshot", "finetuned")]
    theta_0, theta_1 = (load_weights(p, dev) for p in paths)
    check_compatible(theta_0, theta_1)
    head_only = all(k.startswith("head.") for k in differing_keys(theta_0, theta_1))
    return _Plan(theta_0, theta_1, head_only, [file_digest(p) for p in paths], pp_cfg)


def identity(plan: _Plan, images: ImageSet, cfg: SweepConfig) -> dict:
    """Everything a set's stored results depend on; reuse needs all of it equal."""
    proj = images.logit_indices
    return {
        "format": FORMAT,
        "weights": plan.weight_digests,
        "head_only": plan.head_only,
        "preprocess": plan.preprocess,
        "spec": images.spec,
        "n": len(images),
        "ids_labels": json_digest(list(images.ids), np.asarray(images.labels, np.int64).tobytes()),
        "classnames": list(images.classnames),
        "extra": images.extra,
        "projection": None if proj is None else json_digest(list(proj.shape), np.asarray(proj, np.int64).tobytes()),
        "alphas": list(cfg.alphas),
        "dtype": cfg.logits_dtype,
        "chunk_size": chunk_size(len(images), cfg),
        "keep_logits": cfg.keep_logits,
        "topk": cfg.topk,
        **({"content": images.content} if images.content else {}),
    }


def _entry(images: ImageSet, role: str, plan: _Plan, cfg: SweepConfig) -> dict:
    """The set's manifest entry: what it is, how its logits are stored, and its identity."""
    ident = identity(plan, images, cfg)
    proj = images.logit_indices
    storage = "closed_form" if _closed_form(plan, proj) else "grid" if cfg.keep_logits else "reductions"
    return {
        "name": images.name,
        "role": role,
        "spec": images.spec,
        "n": len(images),
        "classnames": list(images.classnames),
        **images.extra,
        "storage": storage,
        "projection": "none" if proj is None else "subset" if proj.ndim == 1 else "max",
        "ids_digest": ident["ids_labels"],
        "identity": json_digest(ident),
    }


def _closed_form(plan: _Plan, logit_indices: np.ndarray | None) -> bool:
    """Head-only runs store the two endpoint logits, unless a max-projection (ObjectNet) breaks
    linearity in alpha; then logits are stored per alpha like end-to-end runs."""
    return plan.head_only and (logit_indices is None or logit_indices.ndim == 1)


def chunk_size(n: int, cfg: SweepConfig) -> int:
    """Images per chunk: cfg.chunk_size, smaller when a set has too few images to give every torchrun
    rank a chunk (ImageNet-A's 7,500 images were 2 chunks of 4,096: 6 of 8 GPUs idle)."""
    return max(1, min(cfg.chunk_size, -(-n // runtime.world_size())))


def _decoded(images: ImageSet, metas: list[dict], plan: _Plan, cfg: SweepConfig, dev: torch.device):
    """Yield (meta, decoded chunk on `dev`): uint8 when the transform splits (normalised on the device
    batch by batch), decoded one chunk ahead in a thread on CUDA so the GPU never waits for the decoder."""
    from concurrent.futures import ThreadPoolExecutor

    def load(m: dict) -> torch.Tensor:
        x = decode(images, plan.host_tf, np.arange(m["start"], m["stop"]), cfg.batch_size, cfg.num_workers)
        return x.pin_memory().to(dev, non_blocking=True) if dev.type == "cuda" else x  # (n, 3, H, W)

    if dev.type != "cuda" or len(metas) < 2:
        yield from ((m, load(m)) for m in metas)
        return
    with ThreadPoolExecutor(max_workers=1) as pool:
        ahead = pool.submit(load, metas[0])
        for i, m in enumerate(metas):
            x = ahead.result()
            if i + 1 < len(metas):
                ahead = pool.submit(load, metas[i + 1])
            yield m, x


def _sweep_one(
    run: artifacts.Run,
    folder: Path,
    images: ImageSet,
    entry: dict,
    model: ImageClassifier,
    plan: _Plan,
    cfg: SweepConfig,
    dev: torch.device,
) -> None:
    """Sweep one eval set chunk by chunk (chunks sharded across torchrun ranks), then consolidate."""
    size = chunk_size(len(images), cfg)
    metas = [
        {"identity": entry["identity"], "chunk": i, "start": s, "stop": min(s + size, len(images))}
        for i, s in enumerate(range(0, len(images), size))
    ]
    passes = 1 if entry["storage"] == "closed_form" else len(cfg.alphas)
    bar = tqdm(total=len(images) * passes, desc=f"sweep {images.name}", unit="img", disable=not runtime.is_main())
    done = sum(sweep_store.chunk_done(sweep_store.chunk_path(run, images.name, m["chunk"]), m) for m in metas)
    runtime.barrier()  # every rank counts the finished chunks before any rank writes new ones
    if done and runtime.is_main():
        tqdm.write(f"sweep {images.name}: resuming, {done}/{len(metas)} chunks already done", file=sys.stderr)
    t0, computed = time.perf_counter(), 0
    mine = [m for m in metas if m["chunk"] % runtime.world_size() == runtime.rank()]
    todo = []
    for m in mine:
        if sweep_store.chunk_done(sweep_store.chunk_path(run, images.name, m["chunk"]), m):
            bar.update((m["stop"] - m["start"]) * passes)
        else:
            todo.append(m)
    for m, x in _decoded(images, todo, plan, cfg, dev):
        path = sweep_store.chunk_path(run, images.name, m["chunk"])
        labels = np.asarray(images.labels[m["start"] : m["stop"]], np.int64)
        arrays = _chunk_arrays(model, x, labels, plan, cfg, dev, images.logit_indices, entry["storage"], bar)
        artifacts.atomic_save_arrays(path, arrays, m)
        computed += len(x)
    bar.close()
    if computed and runtime.is_main():
        seconds = time.perf_counter() - t0
        tqdm.write(
            f"sweep {images.name}: {computed} images x {passes} passes in {seconds:.1f} s on rank 0 of "
            f"{runtime.world_size()}: {computed * passes / seconds:.1f} images/s per process",
            file=sys.stderr,
        )
    runtime.barrier()
    if runtime.is_main():
        sweep_store.consolidate(
            folder,
            images.name,
            len(metas),
            run,
            images.labels,
            images.ids,
            {"identity": entry["identity"], "alphas": list(cfg.alphas)},
        )
    runtime.barrier()


def _chunk_arrays(
    model: ImageClassifier,
    x: torch.Tensor,
    labels: np.ndarray,
    plan: _Plan,
    cfg: SweepConfig,
    dev: torch.device,
    logit_indices: np.ndarray | None,
    storage: str,
    bar,
) -> dict[str, np.ndarray]:
    """One chunk's stored logits (as `storage` says) and their reductions at every grid alpha."""
    dtype = np.dtype(cfg.logits_dtype)
    project = lambda z: project_logits(z, logit_indices)
    if storage == "closed_form":  # encoder once; logits are linear in alpha
        feats = predict(model.features, x, cfg.batch_size, dev, plan.prepare).to(dev)  # (n, D)
        ends = {}
        for key, theta in (("logits_0", plan.theta_0), ("logits_1", plan.theta_1)):
            logits = feats @ theta["head.weight"].float().T + theta["head.bias"].float()  # (n, C)
            ends[key] = project(logits.cpu().numpy()).astype(dtype)
        bar.update(len(x))
        parts = [
            metrics.reduce_logits(metrics.closed_form(ends["logits_0"], ends["logits_1"], [a]), labels, cfg.topk)
            for a in cfg.alphas
        ]  # (1, n, C) each
        return {
            **ends,
            **_drop_small_topk({k: np.concatenate([p[k] for p in parts]) for k in parts[0]}, ends["logits_0"]),
        }
    target = model.state_dict()  # shares storage with the live parameters
    per_alpha = []
    for alpha in cfg.alphas:
        interpolate_(target, plan.theta_0, plan.theta_1, alpha)
        per_alpha.append(project(predict(model, x, cfg.batch_size, dev, plan.prepare).numpy()).astype(dtype))  # (n, C)
        bar.update(len(x))
    interpolate_(target, plan.theta_0, plan.theta_1, 0.0)
    logits = np.stack(per_alpha)  # (A, n, C) in the stored dtype
    reduced = metrics.reduce_logits(logits, labels, cfg.topk)
    return {"logits": logits, **_drop_small_topk(reduced, logits)} if storage == "grid" else reduced


def _drop_small_topk(reduced: dict, logits: np.ndarray) -> dict:
    """Top-k is kept beside the logits only when it is smaller than a logit row (C > 3k in float16):
    for the embedded world's 10 classes it would double the shipped runs; readers then take the
    top-k of the few examples shown from their logits."""
    keep = metrics.topk_worth_storing(logits.shape[-1], logits.itemsize, reduced["topk"].shape[-1])
    return reduced if keep else {k: v for k, v in reduced.items() if not k.startswith("topk")}
