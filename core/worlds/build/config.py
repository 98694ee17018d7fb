"""What `make world` builds: the world build settings (WorldBuild) and the LMC lab settings (LabConfig)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from core.data.registry import get_dataset
from core.lmc.align import AlignConfig
from core.train.finetune import FinetuneConfig
from core.wiseft.sweep import DEFAULT_ALPHAS
from core.worlds.pretrain import PretrainConfig

OOD_SPLITS = ("v2", "sketch", "rendition", "objectnet", "hard")


PATH_ALPHAS = tuple(round(a, 2) for a in np.linspace(0, 1, 11))


HALF = torch.float16


@dataclass(frozen=True)
class LabConfig:
    """The lab's settings; the defaults are the shipped world's (63 steps per epoch), `quick()` the tests'."""

    # the spawn experiment's recipe, parent and children alike (Frankle et al., 2020): overrides of the world's
    # scratch recipe (AdamW, lr 2e-3, batch 128, 6 epochs, warmup 60, wd 0.05), which is stable from init (k = 0:
    # 0.028 nats); no warmup, a 20x learning rate and no weight decay make it unstable at init (measured above)
    spawn_recipe: tuple[tuple[str, float], ...] = (("lr", 4e-2), ("warmup_steps", 0), ("weight_decay", 0.0))
    spawn_k: tuple[int, ...] = (
        0,
        1,
        3,
        9,
        189,
    )  # spawn steps: 0, 0.26%, 0.8%, 2.4% and 3 of the 6 epochs (63 steps each)
    spawn_seed: int = 1  # the children's data order (the parent, the other end, is seed 0)
    alphas: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)  # points on each spawn path (max barrier at 0.5 so far)
    n_id: int = 2000  # id_test images for the spawn paths and the SWA comparison
    n_ood: int = 1000  # images of each OOD set for the SWA comparison (soups use the sweep's full sets)
    n_calibration: int = 2000  # first id_train images (eval transform) for BatchNorm recomputation
    swa_lr: float = 5e-4  # constant learning rate of the SWA phase (a quarter of the fine-tune's peak)
    swa_steps: int = 126  # two epochs
    swa_every: int = 14  # a snapshot every 14 steps: 9 snapshots
    flat_directions: int = 3  # random directions per model for flatness
    flat_seed: int = 0  # directions are drawn from (flat_seed, i): the same for every model
    # direction norm, as a fraction of the SWA start's parameter norm (80.5): random directions barely move the
    # loss (world-e2e, 500 images: rise 0.0001-0.0003 nats at 0.01, 0.005-0.019 at 0.1), so 0.25
    flat_radius: float = 0.25
    n_flat: int = 1000  # first id_test images for flatness
    # soup ingredients trained here (on top of world-e2e and finetune-seed1): overrides of the world's
    # fine-tuning recipe (lr 2e-3, 6 epochs); seeds differ from both shipped fine-tunes
    soup_recipes: tuple[tuple[str, tuple[tuple[str, float], ...]], ...] = (
        ("lr 1e-3, seed 2", (("lr", 1e-3), ("seed", 2))),
        ("label smoothing 0.1, seed 3", (("label_smoothing", 0.1), ("seed", 3))),
        ("lr 3e-3, 3 epochs, seed 4", (("lr", 3e-3), ("epochs", 3), ("seed", 4))),
    )
    n_heldout: int = 2000  # id_train examples n_train .. n_train + n_heldout: the greedy soup's split
    barrier_tolerance: float = 0.0  # nats: a pair is connected when its midpoint loss is <= its ends' mean
    align: AlignConfig = AlignConfig()  # permutation alignment of a from-scratch pair (core.lmc.align)
    # the aligned pair's vision width: twice the world's 12, as alignment needs width (Ainsworth et al.): the world's
    # width-12 scratch pair kept 53% of its barrier at best (STE), a width-24 pair 14% (activation matching); trained
    # in the work folder with the world's scratch recipe (seeds 0 and 1), not shipped (2 x 6 MB as float16)
    align_width: int = 24
    # torch CPU threads for every lab step (WorldBuild.threads is the same for the steps before): training results depend
    # on it (the STE's barrier: 0.80 nats with two, 0.93 with one) and one was the faster on the busy 2-core machine
    threads: int = 1

    @classmethod
    def quick(cls) -> LabConfig:
        """Tests: the quick world (7 steps per epoch, 2 epochs), a few dozen images."""
        return cls(
            spawn_k=(0, 4, 12),
            alphas=(0.0, 0.5, 1.0),
            n_id=60,
            n_ood=30,
            n_calibration=60,
            swa_steps=8,
            swa_every=1,
            flat_directions=2,
            n_flat=40,
            n_heldout=60,
            soup_recipes=(("lr 1e-3, seed 2", (("lr", 1e-3), ("seed", 2))),),
            align=AlignConfig.quick(),
            align_width=8,
        )


@dataclass(frozen=True)
class Baseline:
    """One standard model trained from scratch on id_train: its settings vary along the family."""

    name: str
    width: int  # ModifiedResNet base width
    epochs: int
    fraction: float = 1.0  # share of id_train used
    augment: bool = True


@dataclass(frozen=True)
class FinetuneVariant:
    """One fine-tune of the world's zero-shot model under other settings than world-e2e's recipe (issue 28):
    the paper's alternatives to WiSE-FT (another learning rate or length, L2-SP, fewer trained layers)."""

    name: str
    overrides: tuple[tuple[str, float], ...]  # FinetuneConfig fields changed from WorldBuild.finetune

    def config(self, recipe: FinetuneConfig) -> FinetuneConfig:
        return replace(recipe, keep_checkpoints=1, **dict(self.overrides))


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
    finetune: FinetuneConfig = FinetuneConfig(lr=2e-3, epochs=6, batch_size=128, warmup_steps=40, keep_checkpoints=0)
    # linear classifier, trained close to convergence on the frozen features (computed once, so it costs seconds):
    # world v1's lr 3e-3 x 10 epochs barely left the zero-shot head (alpha 0.5: ID +8.5 pp over zero-shot; best
    # average OOD at alpha 1); lr 1e-2 x 20 and 3e-2 x 30 still peaked at alpha >= 0.7. lr 0.3 x 30 epochs without
    # weight decay puts alpha 0.5 4.3 pp above both ends in world v2 (styles.py has every variant measured)
    linear: FinetuneConfig = FinetuneConfig(
        mode="linear-classifier", lr=0.3, epochs=30, batch_size=256, warmup_steps=20, weight_decay=0.0
    )
    scratch: FinetuneConfig = FinetuneConfig(
        lr=2e-3, epochs=6, batch_size=128, warmup_steps=60, weight_decay=0.05, keep_checkpoints=0
    )
    fork_epoch: int = 2  # the fork shares this many epochs with scratch-a
    trajectory_every: int = 3  # ship world-e2e's weights mid-way (epoch 3 of 6; 1.5 MB per snapshot)
    # the standard-model family of the effective-robustness fit (scratch-a/b, w12 e6, join it): sizes,
    # lengths and data amounts spread their ID accuracy over ~60-95% so the trend is well determined
    baselines: tuple[Baseline, ...] = (
        Baseline("scratch w4 e3", 4, 3),
        Baseline("scratch w8 e2", 8, 2),
        Baseline("scratch w8 e4", 8, 4),
        Baseline("scratch w12 e2", 12, 2),
        Baseline("scratch w16 e3", 16, 3),
        Baseline("scratch w12 e4 25% data", 12, 4, 0.25),
        Baseline("scratch w12 e4 50% data", 12, 4, 0.5),
        Baseline("scratch w12 e4 no aug", 12, 4, augment=False),
    )
    # the fine-tuning family (issue 28): world-e2e's recipe (lr 2e-3, 6 epochs, wd 0.1) with one thing changed,
    # each evaluated at ft_alphas (1: the variant itself; 0.5: WiSE-FT applied to it); only their predictions
    # are shipped (world-e2e/finetunes.*, 0.15 MB); ~5 min of the build. L2-SP at two strengths: 1e-3 ends at
    # ||theta_1 - theta_0||^2 = 33, 1e-2 at 6 (the recipe: 262). The tower's blocks are layer1-4 (a Bottleneck
    # each) and attnpool (63% of the weights): "last block" trains attnpool and the head
    ft_baselines: tuple[FinetuneVariant, ...] = (
        FinetuneVariant("lr 5e-4", (("lr", 5e-4),)),
        FinetuneVariant("2 epochs", (("epochs", 2),)),
        FinetuneVariant("L2-SP 1e-3", (("l2_to_init", 1e-3), ("weight_decay", 0.0))),
        FinetuneVariant("L2-SP 1e-2", (("l2_to_init", 1e-2), ("weight_decay", 0.0))),
        FinetuneVariant("last block", (("train_last_k", 1),)),
        FinetuneVariant("last 2 blocks", (("train_last_k", 2),)),
    )
    ft_alphas: tuple[float, ...] = (0.5, 1.0)
    alphas: tuple[float, ...] = DEFAULT_ALPHAS
    # torch CPU threads for every step after pretraining (pretraining uses PretrainConfig.threads): trained weights
    # depend on the thread count (CPU reductions), so one fixed count makes the build the same on every machine and
    # load; on 2 cores one thread trains this tower about as fast as two (~900 vs ~1,100 images/s idle) and far
    # faster when other jobs share the cores (705 vs 53 images/s measured)
    threads: int = 1
    # processes for independent training jobs (the baseline models, the fine-tuning family, the lab's steps), each on
    # `threads` threads: the same bytes as one process, in about half the time on 2 cores (core.worlds.build.parallel)
    workers: int = 2
    lab: LabConfig = LabConfig()  # the LMC lab (core.worlds.build.lab): spawn at k, SWA, soups

    @classmethod
    def quick(cls, out: Path, work: Path) -> WorldBuild:
        """The same steps on a tiny budget (tests): a few hundred images, an epoch or two."""
        small = dict(batch_size=64, warmup_steps=5)
        return cls(
            out=out,
            work=work,
            n_train=400,
            n_test=120,
            pretrain=PretrainConfig.quick(),
            finetune=replace(cls.finetune, epochs=2, **small),
            linear=replace(cls.linear, epochs=2, **small),
            scratch=replace(cls.scratch, epochs=2, **small),
            fork_epoch=1,
            trajectory_every=1,
            baselines=(
                Baseline("scratch w4 e1", 4, 1),
                Baseline("scratch w8 e2", 8, 2),
                Baseline("scratch w8 e1", 8, 1),
            ),
            alphas=(0.0, 0.5, 1.0),
            lab=LabConfig.quick(),
            ft_baselines=(
                FinetuneVariant("lr 5e-4", (("lr", 5e-4),)),
                FinetuneVariant("1 epoch", (("epochs", 1),)),
                FinetuneVariant("L2-SP 1e-2", (("l2_to_init", 1e-2), ("weight_decay", 0.0))),
                FinetuneVariant("last block", (("train_last_k", 1),)),
            ),
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
            (get_dataset(f"world:{s}:{self.n_test}"), "ood") for s in OOD_SPLITS
        ]
