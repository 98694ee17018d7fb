"""`make world`: regenerate every shipped artifact of the embedded world from scratch.

    python -m core.worlds.build [--out data] [--quick] [--work build/world] [--lab]

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
  7. the LMC lab (core.worlds.lab): spawn at k, SWA, soups; networks in the work folder, only
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

import argparse
import csv
import io
import json
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from .. import artifacts
from ..data import get_dataset
from ..finetune import FinetuneConfig, finetune
from ..models import ModelSpec
from ..runs import create_path_run, create_scratch_run, create_zeroshot_run, load_weights, save_weights
from ..sweep import DEFAULT_ALPHAS, SweepConfig, sweep
from . import shapes
from .lab import LabConfig, build_lab
from .pretrain import PretrainConfig, pretrain

OOD_SPLITS = ("v2", "sketch", "rendition", "objectnet", "hard")
PATH_ALPHAS = tuple(round(a, 2) for a in np.linspace(0, 1, 11))
HALF = torch.float16


@dataclass(frozen=True)
class Baseline:
    """One standard model trained from scratch on id_train: its settings vary along the family."""

    name: str
    width: int  # ModifiedResNet base width
    epochs: int
    fraction: float = 1.0  # share of id_train used
    augment: bool = True


@dataclass(frozen=True)
class WorldBuild:
    """Everything `make world` does; the defaults are the shipped build, `quick()` the test one."""

    out: Path = Path("data")
    work: Path = Path("build/world")  # intermediate runs (checkpoints); not shipped
    n_train: int = 8_000  # id_train examples: enough for ~97% ID after fine-tuning
    n_test: int = 2_000  # examples per eval set (binomial std ~1 pp at 50%)
    pretrain: PretrainConfig = PretrainConfig()
    # lr 2e-3: at 3e-4 the tower barely moves in 6 epochs; at 1e-3 the features drift too little for
    # the fine-tuned model to lose OOD accuracy (measured: avg OOD +2.2 pp over zero-shot, not below it)
    finetune: FinetuneConfig = FinetuneConfig(lr=2e-3, epochs=6, batch_size=128, warmup_steps=40,
                                              keep_checkpoints=0)
    # linear classifier, trained close to convergence on the frozen features (computed once, so it costs seconds):
    # world v1's lr 3e-3 x 10 epochs barely left the zero-shot head (alpha 0.5: ID +8.5 pp over zero-shot; best
    # average OOD at alpha 1); lr 1e-2 x 20 and 3e-2 x 30 still peaked at alpha >= 0.7. lr 0.3 x 30 epochs without
    # weight decay puts alpha 0.5 4.3 pp above both ends in world v2 (styles.py has every variant measured)
    linear: FinetuneConfig = FinetuneConfig(mode="linear-classifier", lr=0.3, epochs=30, batch_size=256,
                                            warmup_steps=20, weight_decay=0.0)
    scratch: FinetuneConfig = FinetuneConfig(lr=2e-3, epochs=6, batch_size=128, warmup_steps=60,
                                             weight_decay=0.05, keep_checkpoints=0)
    fork_epoch: int = 2  # the fork shares this many epochs with scratch-a
    trajectory_every: int = 3  # ship world-e2e's weights mid-way (epoch 3 of 6; 1.5 MB per snapshot)
    # the standard-model family of the effective-robustness fit (scratch-a/b, w12 e6, join it): sizes,
    # lengths and data amounts spread their ID accuracy over ~60-95% so the trend is well determined
    baselines: tuple[Baseline, ...] = (
        Baseline("scratch w4 e3", 4, 3), Baseline("scratch w8 e2", 8, 2), Baseline("scratch w8 e4", 8, 4),
        Baseline("scratch w12 e2", 12, 2), Baseline("scratch w16 e3", 16, 3),
        Baseline("scratch w12 e4 25% data", 12, 4, 0.25), Baseline("scratch w12 e4 50% data", 12, 4, 0.5),
        Baseline("scratch w12 e4 no aug", 12, 4, augment=False),
    )
    alphas: tuple[float, ...] = DEFAULT_ALPHAS
    # torch CPU threads for every step after pretraining (pretraining uses PretrainConfig.threads): trained weights
    # depend on the thread count (CPU reductions), so one fixed count makes the build the same on every machine and
    # load; on 2 cores one thread trains this tower about as fast as two (~900 vs ~1,100 images/s idle) and far
    # faster when other jobs share the cores (705 vs 53 images/s measured)
    threads: int = 1
    lab: LabConfig = LabConfig()  # the LMC lab (core.worlds.lab): spawn at k, SWA, soups

    @classmethod
    def quick(cls, out: Path, work: Path) -> "WorldBuild":
        """The same steps on a tiny budget (tests): a few hundred images, an epoch or two."""
        small = dict(batch_size=64, warmup_steps=5)
        return cls(
            out=out, work=work, n_train=400, n_test=120, pretrain=PretrainConfig.quick(),
            finetune=replace(cls.finetune, epochs=2, **small), linear=replace(cls.linear, epochs=2, **small),
            scratch=replace(cls.scratch, epochs=2, **small), fork_epoch=1, trajectory_every=1,
            baselines=(Baseline("scratch w4 e1", 4, 1), Baseline("scratch w8 e2", 8, 2), Baseline("scratch w8 e1", 8, 1)),
            alphas=(0.0, 0.5, 1.0), lab=LabConfig.quick(),
        )

    @property
    def model_dir(self) -> Path:
        return self.out / "world" / "model"

    @property
    def runs(self) -> Path:
        return self.out / "runs"

    def train_set(self, fraction: float = 1.0):
        return get_dataset(f"world:id_train:{int(self.n_train * fraction)}")

    def eval_sets(self):
        return [(get_dataset(f"world:id_test:{self.n_test}"), "id")] + [
            (get_dataset(f"world:{s}:{self.n_test}"), "ood") for s in OOD_SPLITS]


# ----------------------------------------------------------------------------- steps


def halve(path: Path) -> None:
    """Store a weight file as float16 (results are computed from the stored file afterwards)."""
    save_weights(path, load_weights(path), dtype=HALF)


def build_model(b: WorldBuild) -> Path:
    if not (b.model_dir / "open_clip_model.safetensors").exists():
        pretrain(b.model_dir, b.pretrain)
        halve(b.model_dir / "open_clip_model.safetensors")
    return b.model_dir


def trained(b: WorldBuild, name: str, start: Path, train_set, cfg: FinetuneConfig,
            init_from: Path | None = None) -> Path:
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


def wiseft_run(b: WorldBuild, name: str, cfg: FinetuneConfig, trajectory_every: int = 0,
               theta_0_from: Path | None = None) -> Path:
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
        save_weights(run / "weights" / "finetuned.safetensors",
                     load_weights(work / "weights" / "finetuned.safetensors"), dtype=HALF)
    sweep(run, b.eval_sets(), SweepConfig(alphas=b.alphas))
    return run


def scratch_model(b: WorldBuild, name: str, width: int, cfg: FinetuneConfig, fraction: float = 1.0,
                  start: Path | None = None) -> Path:
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
    return trained(b, "scratch-fork", b.work / f"init-w{width}-s{b.scratch.seed}", b.train_set(),
                   replace(b.scratch, seed=b.scratch.seed + 1), init_from=ckpt)


def baseline_rows(b: WorldBuild, name: str, work: Path) -> list[dict]:
    """Accuracy of a from-scratch model (theta_1 of its work run) on every eval set."""
    sweep(work, b.eval_sets(), SweepConfig(alphas=(1.0,)))
    return [{"model": name, "dataset": r["dataset"], "accuracy": r["accuracy"]}
            for r in artifacts.Run(work).metrics_rows()]


def write_baselines(runs: list[Path], rows: list[dict]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=("model", "dataset", "accuracy"), lineterminator="\n")
    writer.writeheader()
    writer.writerows({**r, "accuracy": f"{r['accuracy']:.6f}"} for r in rows)
    for run in runs:
        artifacts.atomic_write_bytes(run / "baselines.csv", buf.getvalue().encode())


def world_plane(b: WorldBuild, e2e: Path, theta_c: Path) -> Path:
    """world-e2e's loss plane through theta_0, theta_1 and the seed-1 fine-tune (the explorer's "Loss
    plane" tab); skipped while the stored one is current. The shipped grid (core.lmc.PlaneConfig) is
    9 x 6 points on 500 ID and 5 x 100 OOD images; the quick build's, about 2 x 2 on a few dozen."""
    from dataclasses import asdict

    from ..lmc import PlaneConfig, read_plane, write_plane

    cfg = PlaneConfig() if len(b.alphas) > 3 else PlaneConfig(steps_per_unit=1, pad=0, n_id=40, n_ood=8)
    stored = read_plane(e2e)
    if stored is None or stored.stale or stored.meta.get("config") != asdict(cfg):
        write_plane(e2e, theta_c, "fine-tuned, seed 1", cfg)
    return e2e / "plane.safetensors"


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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.worlds.build", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("data"))
    p.add_argument("--work", type=Path, default=Path("build/world"))
    p.add_argument("--quick", action="store_true", help="tiny budget (tests): minutes, not the shipped runs")
    p.add_argument("--lab", action="store_true", help="only the LMC lab's missing or stale steps, on an existing "
                   "built world (the same networks and numbers as a full build)")
    args = p.parse_args(argv)
    b = WorldBuild.quick(args.out, args.work) if args.quick else WorldBuild(out=args.out, work=args.work)
    torch.set_num_threads(b.threads)
    times = build_lab(b) if args.lab else build(b)
    print("world built:", json.dumps(times), f"total {sum(times.values()):.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
