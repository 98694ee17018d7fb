"""Straight-through estimator matching (Ainsworth et al., 2022, "Git Re-Basin", Sec. 3.3, Alg. 3).

Free weights phi (initialised at theta_a) are trained so that the midpoint between theta_a and
pi(theta_b), with pi = weight_matching(phi, theta_b), has low loss on training images; the forward pass
uses pi(theta_b), the gradient flows to phi as if the projection were the identity. The result is a
permutation of B (phi is discarded), so the aligned model computes exactly B's function.

BatchNorm runs in training mode during the steps (batch statistics, like the recomputed statistics
the path is evaluated with); the running statistics are not trained (phi holds parameters only).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from core.lmc.rebasin import Perms, PermutationSpec, apply_permutation, weight_matching


@dataclass(frozen=True)
class SteConfig:
    """The STE's optimisation; defaults measured on the world's scratch pair (core.lmc.align)."""

    steps: int = 300  # Adam steps
    batch: int = 128  # training images per step
    lr: float = 1e-3  # Adam learning rate on phi
    wm_passes: int = 5  # weight-matching passes per step, warm-started from the previous step's permutations
    seed: int = 0  # batch order


def ste_matching(
    model: nn.Module,
    theta_a: Mapping[str, torch.Tensor],
    theta_b: Mapping[str, torch.Tensor],
    images: torch.Tensor,
    labels: torch.Tensor,
    spec: PermutationSpec,
    cfg: SteConfig = SteConfig(),
) -> tuple[Perms, dict]:
    """Permutations of B from STE training on (images (N, 3, H, W), labels (N,)).

    Returns the permutations and {"steps", "first_loss", "last_loss"} (midpoint training loss, mean
    over the first and the last 10% of the steps)."""
    gen = torch.Generator().manual_seed(cfg.seed)
    names = {k for k, _ in model.named_parameters()}
    phi = {k: theta_a[k].clone().requires_grad_(True) for k in names}
    opt = torch.optim.Adam(phi.values(), lr=cfg.lr)
    perms, losses = None, []
    model.train()
    for step in range(cfg.steps):
        current = {**theta_a, **{k: v.detach() for k, v in phi.items()}}
        perms, _ = weight_matching(
            current, theta_b, spec, iters=100 if perms is None else cfg.wm_passes, seed=cfg.seed + step, init=perms
        )
        pb = apply_permutation(theta_b, perms, spec)
        mid = {
            k: 0.5 * (theta_a[k] + (phi[k] + (pb[k] - phi[k]).detach())) if k in phi else 0.5 * (theta_a[k] + pb[k])
            for k in theta_a
            if theta_a[k].is_floating_point()
        }
        idx = torch.randint(0, len(images), (cfg.batch,), generator=gen)
        loss = F.cross_entropy(functional_call(model, mid, (images[idx],), strict=False), labels[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    model.eval()
    tail = max(1, cfg.steps // 10)
    perms, _ = weight_matching(
        {**theta_a, **{k: v.detach() for k, v in phi.items()}}, theta_b, spec, iters=100, seed=cfg.seed, init=perms
    )
    return perms, {
        "steps": cfg.steps,
        "first_loss": float(np.mean(losses[:tail])),
        "last_loss": float(np.mean(losses[-tail:])),
    }
