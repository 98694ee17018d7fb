"""Linear mode connectivity beyond one path: weight averages, 2-D loss surfaces, BatchNorm recalibration.

A loss surface is evaluated on the plane through three weight sets (Garipov et al., 2018):
theta(x, y) = theta_a + x * u + y * v, with u = theta_b - theta_a and v the part of theta_c - theta_a
orthogonal to u, both in the flattened space of floating-point tensors. Coordinates are reported in
units of ||u|| so that theta_a sits at (0, 0) and theta_b at (1, 0).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from . import metrics
from .evaluate import predict
from .interpolate import StateDict, check_compatible, interpolate

FloatState = dict[str, torch.Tensor]


def average_weights(states: Sequence[StateDict]) -> FloatState:
    """Uniform average of weight sets (SWA-style); integer buffers come from the first."""
    for s in states[1:]:
        check_compatible(states[0], s)
    return {k: torch.stack([s[k] for s in states]).mean(0) if v.is_floating_point() else v.clone()
            for k, v in states[0].items()}


def _dot(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor]) -> float:
    return float(sum((a[k].double() * b[k].double()).sum() for k in a))


def plane(theta_a: StateDict, theta_b: StateDict, theta_c: StateDict) -> tuple[FloatState, FloatState, tuple[float, float]]:
    """Orthogonal directions (u, v) of the plane through three weight sets, both scaled to ||u||,
    and theta_c's coordinates (x, y) in that plane. Only floating-point tensors span the plane."""
    keys = [k for k, t in theta_a.items() if t.is_floating_point()]
    u = {k: theta_b[k] - theta_a[k] for k in keys}
    w = {k: theta_c[k] - theta_a[k] for k in keys}
    uu = _dot(u, u)
    x_c = _dot(w, u) / uu
    v = {k: w[k] - x_c * u[k] for k in keys}
    scale = (uu / max(_dot(v, v), 1e-30)) ** 0.5
    v = {k: t * scale for k, t in v.items()}  # same length as u
    return u, v, (x_c, 1.0 / scale)


def point(theta_a: StateDict, u: FloatState, v: FloatState, x: float, y: float) -> FloatState:
    """theta_a + x * u + y * v (integer buffers copied from theta_a)."""
    return {k: t + x * u[k] + y * v[k] if k in u else t.clone() for k, t in theta_a.items()}


@torch.no_grad()
def evaluate_states(model: nn.Module, states: Sequence[StateDict], images: torch.Tensor, labels: np.ndarray,
                    batch_size: int = 512, device: str = "cpu", desc: str = "evaluate") -> tuple[np.ndarray, np.ndarray]:
    """(loss, accuracy) of `model` loaded with each state on preprocessed `images`: two (S,) arrays."""
    losses, accs = [], []
    for state in tqdm(states, desc=desc, leave=False):
        model.load_state_dict(state)
        logits = predict(model.eval(), images, batch_size, torch.device(device)).numpy()
        losses.append(metrics.cross_entropy(logits, labels))
        accs.append(metrics.accuracy(logits, labels))
    return np.asarray(losses), np.asarray(accs)


def loss_surface(model: nn.Module, theta_a: StateDict, theta_b: StateDict, theta_c: StateDict,
                 images: torch.Tensor, labels: np.ndarray, xs: np.ndarray, ys: np.ndarray,
                 device: str = "cpu") -> dict[str, np.ndarray]:
    """Loss and accuracy on the grid xs x ys of the plane through three weight sets.

    Returns {"loss": (len(ys), len(xs)), "accuracy": same, "c": theta_c's (x, y)}.
    """
    u, v, c = plane(theta_a, theta_b, theta_c)
    states = [point(theta_a, u, v, x, y) for y in ys for x in xs]
    loss, acc = evaluate_states(model, states, images, labels, device=device, desc="loss surface")
    shape = (len(ys), len(xs))
    return {"loss": loss.reshape(shape), "accuracy": acc.reshape(shape), "c": np.asarray(c)}


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, images: torch.Tensor, batch_size: int = 256) -> nn.Module:
    """Recompute every BatchNorm layer's running mean and variance on `images` (returns `model`, in eval mode).

    The statistics of an interpolated network are not the interpolated statistics of its endpoints: for
    two independently trained networks, whose units do not correspond, the interpolated statistics
    mis-normalise every layer and overstate the barrier (Jordan et al., 2022, "REPAIR"; Ainsworth et al.,
    2022, reset BatchNorm the same way). Each layer's statistics become the exact mean over `images`
    (momentum None: a cumulative average), with only the BatchNorm layers in training mode.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    model.eval()
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
        m.train()
    device = next(model.parameters()).device
    for start in range(0, len(images), batch_size):
        model(images[start:start + batch_size].to(device))  # updates running statistics only
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    return model.eval()


def path_loss(model: nn.Module, theta_0: StateDict, theta_1: StateDict, alphas: Sequence[float],
              images: torch.Tensor, labels: np.ndarray, calibration: torch.Tensor | None = None,
              batch_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """(loss, accuracy) along theta_alpha = (1 - alpha) theta_0 + alpha theta_1: two (A,) arrays.

    With `calibration` images, each theta_alpha's BatchNorm statistics are recomputed on them
    (`recalibrate_batchnorm`) before it is evaluated; without, they are interpolated like the weights.
    """
    losses, accs = [], []
    for alpha in alphas:
        model.load_state_dict(interpolate(theta_0, theta_1, alpha))
        if calibration is not None:
            recalibrate_batchnorm(model, calibration, batch_size)
        loss, acc = evaluate_states(model, [model.state_dict()], images, labels, batch_size, desc=f"alpha {alpha:g}")
        losses.append(loss[0])
        accs.append(acc[0])
    return np.asarray(losses), np.asarray(accs)
