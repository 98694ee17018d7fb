"""`make world`: regenerate every shipped artifact of the embedded world from scratch.

    python -m core world [--out data] [--quick] [--work build/world] [--lab]

`build` runs the steps in order (pretrain, world-e2e, world-lc, the LMC runs, the baselines, the
fine-tuning family, the loss plane, the LMC lab), each skipped when its output exists, so an interrupted
build resumes. Everything runs through core's code path (models, finetune, sweep) like a real CLIP run;
weights are stored as float16 and every sweep is computed from the stored float16 weights. Thread counts
are fixed per step (trained weights depend on them), so a rebuild on one machine is byte-identical under any
load (another CPU's kernels give other bytes: docs/world.md).
The steps and what each writes, the budget and the measured cost: docs/world.md (building it).
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import torch

from core.worlds.build.config import WorldBuild
from core.worlds.build.lab import required
from core.worlds.build.lab_steps import align_step
from core.worlds.build.parallel import run_jobs
from core.worlds.build.recipes import (
    baseline_model,
    baseline_rows,
    build_finetune_family,
    build_model,
    fork_model,
    path_run,
    scratch_init,
    scratch_model,
    ship_weights,
    trained_variant,
    wiseft_run,
    world_plane,
    write_baselines,
    zeroshot,
)

# ----------------------------------------------------------------------------- steps


def build(b: WorldBuild) -> dict[str, float]:
    """Run every step; returns the seconds each took."""
    times, t0 = {}, time.perf_counter()

    def lap(step: str) -> None:
        nonlocal t0
        times[step] = round(time.perf_counter() - t0, 1)
        t0 = time.perf_counter()

    build_model(b)
    lap("pretrain")
    torch.set_num_threads(b.threads)
    e2e = wiseft_run(b, "world-e2e", b.finetune, trajectory_every=b.trajectory_every)
    lap("world-e2e")
    lc = wiseft_run(b, "world-lc", b.linear, theta_0_from=e2e)
    lap("world-lc")
    width = b.pretrain.vision_width
    inits = [scratch_init(b, width, seed) for seed in (b.scratch.seed, b.scratch.seed + 1)]  # before the pool
    jobs = [
        (trained_variant, (b, "finetune-seed1", zeroshot(b), replace(b.finetune, seed=1, keep_checkpoints=1))),
        (scratch_model, (b, "scratch-a", width, b.scratch, 1.0, inits[0])),
        (scratch_model, (b, "scratch-b", width, replace(b.scratch, seed=b.scratch.seed + 1), 1.0, inits[1])),
    ]
    (seed1, _), (scratch_a, _), (scratch_b, _) = run_jobs(jobs, b.workers, b.threads)  # independent: two at a time
    ft1 = ship_weights(b, seed1, "finetune-seed1")
    lmc = [
        path_run(
            b,
            "lmc-finetunes",
            e2e / "weights" / "finetuned.safetensors",
            ft1,
            ("fine-tuned, seed 0", "fine-tuned, seed 1"),
            e2e,
        )
    ]
    fork = fork_model(b, scratch_a, width)
    a, bb, f = (
        ship_weights(b, w, n) for w, n in ((scratch_a, "scratch-a"), (scratch_b, "scratch-b"), (fork, "scratch-fork"))
    )
    lmc.append(path_run(b, "lmc-scratch", a, bb, ("from scratch, init A", "from scratch, init B"), scratch_a))
    lmc.append(
        path_run(
            b,
            "lmc-shared-start",
            a,
            f,
            ("from scratch, A", f"A's first {b.fork_epoch} epochs, then another data order"),
            scratch_a,
        )
    )
    lap("seed-1 fine-tune, scratch pair and paths")
    rows = baseline_rows(b, f"scratch w{width} e{b.scratch.epochs} (A)", scratch_a)
    rows += baseline_rows(b, f"scratch w{width} e{b.scratch.epochs} (B)", scratch_b)
    jobs = []
    for base in b.baselines:
        cfg = replace(b.scratch, epochs=base.epochs, augment=base.augment, keep_checkpoints=1)
        slug = "baseline-" + "".join(c if c.isalnum() else "-" for c in base.name)
        init = scratch_init(b, base.width, cfg.seed)  # here: two jobs may share an init
        jobs.append((baseline_model, (b, base.name, slug, base.width, cfg, base.fraction, init)))
    for more, _ in run_jobs(jobs, b.workers, b.threads):  # trained and evaluated two at a time
        rows += more
    write_baselines([e2e, lc, *lmc], rows)
    lap("baselines")
    build_finetune_family(b, e2e)
    lap("finetune family")
    world_plane(b, e2e, ft1)
    lap("plane")
    times |= build_lab(b)
    return times


def build_cli(out: Path, work: Path, quick: bool, lab: bool) -> dict[str, float]:
    """The `world` verb: the whole build (or only the lab's missing or stale steps) on the world's thread count."""
    b = WorldBuild.quick(out, work) if quick else WorldBuild(out=out, work=work)
    torch.set_num_threads(b.threads)
    return build_lab(b) if lab else build(b)


def build_lab(b) -> dict[str, float]:
    """Every lab step whose summary is missing or stale; returns the seconds each took."""
    missing = [str(p) for p in required(b) if not p.exists()]
    if missing:
        raise FileNotFoundError(
            f"the lab starts from the built world; missing {', '.join(missing)}: "
            "run `make world` (or python -m core world) first"
        )
    from core.worlds.build.lab_steps import soups_step, spawn_step, swa_step

    steps = (("lab align", align_step), ("lab spawn", spawn_step), ("lab soups", soups_step), ("lab swa", swa_step))
    done = run_jobs([(step, (b,)) for _, step in steps], b.workers, b.lab.threads)  # longest first
    return {name: seconds for (name, _), (_, seconds) in zip(steps, done)}
