"""The world build steps shared by the main build and the LMC lab: pretrain, fine-tune, train from scratch, path runs,
baselines, the fine-tuning family, the loss plane."""

from __future__ import annotations

import csv
import io
import json
import shutil
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from core.model.clip import ModelSpec
from core.runs import artifacts
from core.runs.create import create_path_run, create_scratch_run, create_zeroshot_run
from core.runs.weights import load_weights, save_weights
from core.train.finetune import FinetuneConfig, finetune
from core.wiseft.sweep import SweepConfig, sweep
from core.worlds import shapes
from core.worlds.build.config import HALF, PATH_ALPHAS, WorldBuild
from core.worlds.build.parallel import run_jobs
from core.worlds.pretrain import pretrain


def halve(path: Path) -> None:
    """Store a weight file as float16 (results are computed from the stored file afterwards)."""
    save_weights(path, load_weights(path), dtype=HALF)


def build_model(b: WorldBuild) -> Path:
    if not (b.model_dir / "open_clip_model.safetensors").exists():
        pretrain(b.model_dir, b.pretrain)
        halve(b.model_dir / "open_clip_model.safetensors")
    return b.model_dir


def trained(
    b: WorldBuild, name: str, start: Path, train_set, cfg: FinetuneConfig, init_from: Path | None = None
) -> Path:
    """Fine-tune (or train from scratch) a copy of run `start` in the work folder; returns the work run.
    init_from: a train-state checkpoint to fork from (finetune's explicit fork)."""
    work = b.work / name
    if not (work / "weights" / "finetuned.safetensors").exists():
        if not work.exists():
            shutil.copytree(start, work)
        finetune(work, train_set, cfg, init_from=init_from)
    return work


def zeroshot(b: WorldBuild) -> Path:
    """theta_0 for every WiSE-FT run: the zero-shot head on the pretrained image tower."""
    run = b.work / "zeroshot"
    if not (run / artifacts.MANIFEST).exists():
        create_zeroshot_run(run, ModelSpec(f"local-dir:{b.model_dir}"), shapes.CLASSNAMES, shapes.TEMPLATES)
        halve(run / "weights" / "zeroshot.safetensors")
    return run


def wiseft_run(
    b: WorldBuild, name: str, cfg: FinetuneConfig, trajectory_every: int = 0, theta_0_from: Path | None = None
) -> Path:
    """A shipped WiSE-FT run: zero-shot head, fine-tune on id_train, 21-alpha sweep.

    theta_0_from: a shipped run with the same zero-shot weights; the manifest points at its file
    instead of storing a second copy (world-lc shares world-e2e's theta_0).
    """
    run = b.runs / name
    work = trained(b, name, zeroshot(b), b.train_set(), cfg)
    if not (run / "weights" / "finetuned.safetensors").exists():
        shutil.rmtree(run, ignore_errors=True)
        shutil.copytree(b.work / "zeroshot", run)
        meta = {"name": name, "finetune": artifacts.read_manifest(work)["finetune"]}
        if theta_0_from is not None:
            (run / "weights" / "zeroshot.safetensors").unlink()
            meta["weights"] = {"zeroshot": f"../{theta_0_from.name}/weights/zeroshot.safetensors"}
        artifacts.update_manifest(run, meta)
        snapshots = sorted((work / "checkpoints").glob("step_*.safetensors"))[:-1]  # per epoch; last = theta_1
        for epoch, ckpt in enumerate(snapshots, start=1):
            if trajectory_every and epoch % trajectory_every == 0:
                state = {k[6:]: v for k, v in load_weights(ckpt).items() if k.startswith("model.")}
                save_weights(run / "trajectory" / f"epoch_{epoch:02d}.safetensors", state, dtype=HALF)
        save_weights(
            run / "weights" / "finetuned.safetensors",
            load_weights(work / "weights" / "finetuned.safetensors"),
            dtype=HALF,
        )
    sweep(run, b.eval_sets(), SweepConfig(alphas=b.alphas))
    return run


def scratch_model(
    b: WorldBuild, name: str, width: int, cfg: FinetuneConfig, fraction: float = 1.0, start: Path | None = None
) -> Path:
    """Train a classifier from random init (or from `start`'s theta_0) on id_train; returns its work run."""
    init = scratch_init(b, width, cfg.seed) if start is None else start
    return trained(b, name, init, b.train_set(fraction), cfg)


def scratch_init(b: WorldBuild, width: int, seed: int) -> Path:
    """The work run holding the random init of a width-`width` classifier drawn with `seed`."""
    init = b.work / f"init-w{width}-s{seed}"
    if not (init / artifacts.MANIFEST).exists():
        config = json.loads((b.model_dir / "open_clip_config.json").read_text())
        config["model_cfg"]["vision_cfg"]["width"] = width
        arch = b.work / f"arch-w{width}"
        arch.mkdir(parents=True, exist_ok=True)
        (arch / "open_clip_config.json").write_text(json.dumps(config))
        create_scratch_run(init, arch, shapes.CLASSNAMES, seed=seed)
    return init


def ship_weights(b: WorldBuild, work: Path, name: str) -> Path:
    dest = b.out / "world" / "weights" / f"{name}.safetensors"
    if not dest.exists():
        save_weights(dest, load_weights(work / "weights" / "finetuned.safetensors"), dtype=HALF)
    return dest


def path_run(b: WorldBuild, name: str, theta_0: Path, theta_1: Path, labels: tuple[str, str], source: Path) -> Path:
    """A shipped linear-mode-connectivity run between two stored weight sets (shared, not copied)."""
    run = b.runs / name
    if not (run / artifacts.MANIFEST).exists():
        create_path_run(run, source, theta_0, theta_1, labels, name=name, share_weights=True)
    sweep(run, b.eval_sets(), SweepConfig(alphas=PATH_ALPHAS if len(b.alphas) > 3 else b.alphas))
    return run


def fork_model(b: WorldBuild, parent: Path, width: int) -> Path:
    """Spawn from `parent`'s train state after `fork_epoch` epochs and continue with another data
    order (seed 1): the two models share the start of their trajectory (Frankle et al., 2020)."""
    ckpt = sorted((parent / "checkpoints").glob("step_*.safetensors"))[b.fork_epoch - 1]
    return trained(
        b,
        "scratch-fork",
        b.work / f"init-w{width}-s{b.scratch.seed}",
        b.train_set(),
        replace(b.scratch, seed=b.scratch.seed + 1),
        init_from=ckpt,
    )


def baseline_model(b: WorldBuild, name: str, slug: str, width: int, cfg: FinetuneConfig, fraction: float, init: Path):
    """One from-scratch baseline for run_jobs: trained in the work folder, then its rows (baseline_rows)."""
    return baseline_rows(b, name, scratch_model(b, slug, width, cfg, fraction, init))


def baseline_rows(b: WorldBuild, name: str, work: Path) -> list[dict]:
    """Accuracy of a from-scratch model (theta_1 of its work run) on every eval set."""
    sweep(work, b.eval_sets(), SweepConfig(alphas=(1.0,)))
    return [
        {"model": name, "dataset": r["dataset"], "accuracy": r["accuracy"]} for r in artifacts.Run(work).metrics_rows()
    ]


def write_baselines(runs: list[Path], rows: list[dict]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=("model", "dataset", "accuracy"), lineterminator="\n")
    writer.writeheader()
    writer.writerows({**r, "accuracy": f"{r['accuracy']:.6f}"} for r in rows)
    for run in runs:
        artifacts.atomic_write_bytes(run / "baselines.csv", buf.getvalue().encode())


def world_plane(b: WorldBuild, e2e: Path, theta_c: Path) -> Path:
    """world-e2e's loss plane through theta_0, theta_1 and the seed-1 fine-tune (the explorer's "Loss
    plane" tab); skipped while the stored one is current. The shipped grid (core.lmc.plane.PlaneConfig) is
    9 x 6 points on 500 ID and 5 x 100 OOD images; the quick build's, about 2 x 2 on a few dozen."""
    from dataclasses import asdict

    from core.lmc.plane import PlaneConfig, read_plane, write_plane

    cfg = PlaneConfig() if len(b.alphas) > 3 else PlaneConfig(steps_per_unit=1, pad=0, n_id=40, n_ood=8)
    stored = read_plane(e2e)
    if stored is None or stored.stale or stored.meta.get("config") != asdict(cfg):
        write_plane(e2e, theta_c, "fine-tuned, seed 1", cfg)
    return e2e / "plane.safetensors"


def trained_variant(b: WorldBuild, name: str, start: Path, cfg: FinetuneConfig) -> Path:
    """trained() on the full id_train, for run_jobs (a worker builds the training set itself)."""
    return trained(b, name, start, b.train_set(), cfg)


def family_member(b: WorldBuild, name: str, start: Path, cfg: FinetuneConfig) -> tuple[Path, float]:
    """One member of the fine-tuning family for run_jobs: trained, then swept at ft_alphas (reductions only);
    returns its work run and its training seconds."""
    t0 = time.perf_counter()
    work = trained_variant(b, name, start, cfg)
    seconds = round(time.perf_counter() - t0, 1)
    sweep(work, b.eval_sets(), SweepConfig(alphas=b.ft_alphas, keep_logits=False))
    return work, seconds


def build_finetune_family(b: WorldBuild, e2e: Path) -> Path:
    """Issue 28: the fine-tuning family (WorldBuild.ft_baselines), each a fine-tune of world-e2e's theta_0 on
    id_train trained in the work folder and swept at ft_alphas with reductions only; their predictions go to
    world-e2e/finetunes.{json,safetensors} (core.results.robustness reads them). Skipped while current."""
    from core.results.robustness import FAMILY_ARRAYS, FAMILY_FORMAT, FAMILY_JSON
    from core.runs.identity import file_digest, json_digest
    from core.train.trainstate import RUN_CONTROL

    out = e2e / FAMILY_JSON
    config = json.loads(
        json.dumps(
            {
                "recipe": b.finetune.as_record(),
                "variants": [[v.name, v.overrides] for v in b.ft_baselines],
                "alphas": b.ft_alphas,
                "n_train": b.n_train,
            }
        )
    )
    inputs = {"theta_0": file_digest(artifacts.weights_file(e2e, "zeroshot", artifacts.read_manifest(e2e)), 16)}
    if out.exists() and {k: artifacts.load_json(out).get(k) for k in ("config", "inputs")} == {
        "config": config,
        "inputs": inputs,
    }:
        return out
    members, arrays, eval_sets, jobs = [], {}, b.eval_sets(), []
    for variant in b.ft_baselines:
        cfg = variant.config(b.finetune)
        slug = "".join(c if c.isalnum() else "-" for c in variant.name)
        name = f"ft-{slug}-{json_digest(cfg.as_record(), length=8)}"
        reused = (b.work / name / "weights" / "finetuned.safetensors").exists()
        jobs.append((reused, (family_member, (b, name, zeroshot(b), cfg))))
    done = run_jobs([job for _, job in jobs], b.workers, b.threads)  # two at a time: the same bytes
    for i, (variant, (reused, _), ((work, seconds), _)) in enumerate(zip(b.ft_baselines, jobs, done)):
        seconds, cfg = None if reused else seconds, variant.config(b.finetune)  # None: trained by an earlier build
        run = artifacts.Run(work)
        acc = {}
        for name in run.dataset_names:
            pred = np.asarray(run.reductions(name)["pred"])  # (A, N)
            arrays[f"m{i}.{name}"] = pred.astype(np.uint8 if len(run.classnames) <= 256 else np.int32)
            acc[name] = (pred == run.labels(name)[None, :]).mean(axis=1).tolist()
        members.append(
            {
                "name": variant.name,
                "overrides": dict(variant.overrides),
                "seconds": seconds,
                "settings": {k: v for k, v in cfg.as_record().items() if k not in RUN_CONTROL},
                "accuracy": acc,
            }
        )
    sets = [{"name": s.name, "spec": s.spec, "n": len(s)} for s, _ in eval_sets]
    artifacts.atomic_save_arrays(e2e / FAMILY_ARRAYS, arrays)
    artifacts.atomic_write_json(
        out,
        {
            "format": FAMILY_FORMAT,
            "config": config,
            "inputs": inputs,
            "alphas": list(b.ft_alphas),
            "sets": sets,
            "members": members,
        },
    )
    return out
