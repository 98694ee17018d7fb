"""`make world`: regenerate every shipped artifact of the embedded world from scratch.

    python -m core world [--out data] [--quick] [--work build/world] [--lab]

Steps (each skipped when its output exists, so an interrupted build resumes):
  1. pretrain the zero-shot CLIP model on `pretrain`                 -> data/world/model/
  2. world-e2e: zero-shot head, end-to-end fine-tune on id_train,
     21-alpha sweep on id_test and the five OOD sets                   -> data/runs/world-e2e/
     (+ fine-tuning trajectory snapshots)                             -> data/runs/world-e2e/trajectory/
  3. world-lc: the same with a linear classifier (exact in alpha)     -> data/runs/world-lc/
  4. the linear-mode-connectivity runs: a second fine-tune (seed 1), two models trained from
     scratch from different random inits, and a fork that shares the first epochs of one of them;
     their weights                                                    -> data/world/weights/
     and path sweeps between them                                      -> data/runs/lmc-*/
  5. the baseline family trained from scratch on id_train only         -> baselines.csv in each run
  6. world-e2e's loss plane                                            -> data/runs/world-e2e/plane.safetensors
  7. the LMC lab (core.worlds.build.lab): spawn at k, SWA, soups; networks in the work folder, only
     the summaries shipped                                             -> data/world/lab/*.json
     (`--lab` runs only this step's missing or stale parts on an existing data/)
Everything runs through core's code path (models, finetune, sweep) like a real CLIP run. Weights are
stored as float16 and every sweep is computed from the stored float16 weights.

Budget (2 CPU cores, target <= 30 min; data/ ~30 MB): a width-12 tower (1.5 MB per fp16 weight file),
8,000 id_train images, 6-epoch fine-tunes and from-scratch runs, a baseline family of small/short
models, one trajectory snapshot, and world-lc pointing at world-e2e's theta_0 file instead of a copy
(the two runs start from the same zero-shot model).

Threads: pretraining runs on PretrainConfig.threads (2), every later step on WorldBuild.threads (1) and the
lab on LabConfig.threads (1): trained weights depend on the thread count, so fixed counts make a rebuild
byte-identical under any load (measured: two builds of world v2 into different folders gave the same
weights, logits and lab summaries). On 2 busy cores, 2 threads trained at 53 images/s against 705 with
one; on idle cores one thread trains this tower at ~900-1,170 images/s.

Cost of world v2 from scratch (`make world`, 2026-12-07, 2 cores, tests on the other core for ~3 of the
minutes): 19 min 44 s wall, 4.0 GB peak RSS, 37 MB of data; pretrain 132 s, world-e2e 95, world-lc 6,
finetune-seed1 74, scratch and paths 183, baselines 165, plane 7, lab spawn 250, SWA 32, soups 128,
align 103. World v1's build (2 threads after pretraining) took 19 min 23 s. With the lab's width-24
alignment pair (2026-12-07, idle machine): 22 min 4 s, 4.1 GB; pretrain 121 s, world-e2e 71, world-lc 4,
finetune-seed1 56, scratch and paths 155, baselines 178, plane 9, lab spawn 277, SWA 38, soups 129,
align 282 (training the pair included); the same bytes as the shipped data/ but for the timings and
paths stored in JSON files.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import torch

from core.worlds.build.config import WorldBuild
from core.worlds.build.recipes import (baseline_rows, build_model, fork_model, path_run, scratch_model, ship_weights, trained,
                                      wiseft_run, world_plane, write_baselines, zeroshot)
from core.worlds.build.lab import required
from core.worlds.build.lab_steps import align_step







# ----------------------------------------------------------------------------- steps




























def build(b: WorldBuild) -> dict[str, float]:
    """Run every step; returns the seconds each took."""
    times, t0 = {}, time.perf_counter()

    def lap(step: str) -> None:
        nonlocal t0
        times[step] = round(time.perf_counter() - t0, 1)
        t0 = time.perf_counter()

    build_model(b); lap("pretrain")
    torch.set_num_threads(b.threads)
    e2e = wiseft_run(b, "world-e2e", b.finetune, trajectory_every=b.trajectory_every); lap("world-e2e")
    lc = wiseft_run(b, "world-lc", b.linear, theta_0_from=e2e); lap("world-lc")
    ft1 = ship_weights(b, trained(b, "finetune-seed1", zeroshot(b), b.train_set(),
                                  replace(b.finetune, seed=1, keep_checkpoints=1)), "finetune-seed1")
    lmc = [path_run(b, "lmc-finetunes", e2e / "weights" / "finetuned.safetensors", ft1,
                    ("fine-tuned, seed 0", "fine-tuned, seed 1"), e2e)]
    lap("finetune-seed1")
    width = b.pretrain.vision_width
    scratch_a = scratch_model(b, "scratch-a", width, b.scratch)
    scratch_b = scratch_model(b, "scratch-b", width, replace(b.scratch, seed=b.scratch.seed + 1))
    fork = fork_model(b, scratch_a, width)
    a, bb, f = (ship_weights(b, w, n) for w, n in ((scratch_a, "scratch-a"), (scratch_b, "scratch-b"), (fork, "scratch-fork")))
    lmc.append(path_run(b, "lmc-scratch", a, bb, ("from scratch, init A", "from scratch, init B"), scratch_a))
    lmc.append(path_run(b, "lmc-shared-start", a, f, ("from scratch, A", f"A's first {b.fork_epoch} epochs, then another data order"), scratch_a))
    lap("scratch and paths")
    rows = baseline_rows(b, f"scratch w{width} e{b.scratch.epochs} (A)", scratch_a)
    rows += baseline_rows(b, f"scratch w{width} e{b.scratch.epochs} (B)", scratch_b)
    for base in b.baselines:
        cfg = replace(b.scratch, epochs=base.epochs, augment=base.augment, keep_checkpoints=1)
        slug = "baseline-" + "".join(c if c.isalnum() else "-" for c in base.name)
        rows += baseline_rows(b, base.name, scratch_model(b, slug, base.width, cfg, base.fraction))
    write_baselines([e2e, lc, *lmc], rows)
    lap("baselines")
    world_plane(b, e2e, ft1); lap("plane")
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
        raise FileNotFoundError(f"the lab starts from the built world; missing {', '.join(missing)}: "
                                "run `make world` (or python -m core world) first")
    from core.worlds.build.lab_steps import soups_step, spawn_step, swa_step

    times, threads = {}, torch.get_num_threads()
    torch.set_num_threads(b.lab.threads)
    try:
        for name, step in (("lab spawn", spawn_step), ("lab swa", swa_step), ("lab soups", soups_step),
                           ("lab align", align_step)):
            t0 = time.perf_counter()
            step(b)
            times[name] = round(time.perf_counter() - t0, 1)
    finally:
        torch.set_num_threads(threads)
    return times
