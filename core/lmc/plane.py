"""Linear mode connectivity beyond one path: weight averages, 2-D loss surfaces, BatchNorm recalibration.

A loss surface is evaluated on the plane through three weight sets (Garipov et al., 2018):
theta(x, y) = theta_a + x * u + y * v, with u = theta_b - theta_a and v the part of theta_c - theta_a
orthogonal to u, both in the flattened space of floating-point tensors. Coordinates are reported in
units of ||u|| so that theta_a sits at (0, 0) and theta_b at (1, 0).

`write_plane` stores such a surface in a run folder (RUN/plane.safetensors, the plane through the
run's theta_0, theta_1 and a third weight set) so the explorer can draw it without a model;
`read_plane` reads it back and says whether the weights it was computed from have changed since.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from core.data.registry import get_dataset
from core.model.clip import transforms_from_cfg
from core.model.evaluate import decode, predict
from core.results import metrics
from core.runs import artifacts
from core.runs.identity import file_digest
from core.runs.manifest import plane_file
from core.runs.weights import load_classifier, load_weights
from core.wiseft.interpolate import StateDict, check_compatible, interpolate

FloatState = dict[str, torch.Tensor]


def average_weights(states: Sequence[StateDict]) -> FloatState:
    """Uniform average of weight sets (SWA-style); integer buffers come from the first."""
    for s in states[1:]:
        check_compatible(states[0], s)
    return {
        k: torch.stack([s[k] for s in states]).mean(0) if v.is_floating_point() else v.clone()
        for k, v in states[0].items()
    }


def _dot(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor]) -> float:
    return float(sum((a[k].double() * b[k].double()).sum() for k in a))


def plane(
    theta_a: StateDict, theta_b: StateDict, theta_c: StateDict
) -> tuple[FloatState, FloatState, tuple[float, float]]:
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
def evaluate_states(
    model: nn.Module,
    states: Sequence[StateDict],
    images: torch.Tensor,
    labels: np.ndarray,
    batch_size: int = 512,
    device: str = "cpu",
    desc: str = "evaluate",
) -> tuple[np.ndarray, np.ndarray]:
    """(loss, accuracy) of `model` loaded with each state on preprocessed `images`: two (S,) arrays."""
    losses, accs = [], []
    for state in tqdm(states, desc=desc, leave=False):
        model.load_state_dict(state)
        logits = predict(model.eval(), images, batch_size, torch.device(device)).numpy()
        losses.append(metrics.cross_entropy(logits, labels))
        accs.append(metrics.accuracy(logits, labels))
    return np.asarray(losses), np.asarray(accs)


def loss_surface(
    model: nn.Module,
    theta_a: StateDict,
    theta_b: StateDict,
    theta_c: StateDict,
    images: torch.Tensor,
    labels: np.ndarray,
    xs: np.ndarray,
    ys: np.ndarray,
    device: str = "cpu",
) -> dict[str, np.ndarray]:
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
        model(images[start : start + batch_size].to(device))  # updates running statistics only
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    return model.eval()


def path_loss(
    model: nn.Module,
    theta_0: StateDict,
    theta_1: StateDict,
    alphas: Sequence[float],
    images: torch.Tensor,
    labels: np.ndarray,
    calibration: torch.Tensor | None = None,
    batch_size: int = 512,
) -> tuple[np.ndarray, np.ndarray]:
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


# ----------------------------------------------------------------------------- the stored plane

PLANE_FORMAT = 1


@dataclass(frozen=True)
class PlaneConfig:
    """The grid and the images of a stored loss plane (`write_plane`). The defaults are the shipped world's
    (2 CPU cores, busy): 6 steps per unit gives 9 x 6 = 54 models; 8 steps per unit (11 x 7 = 77 models)
    took 162 s, too close to the build's 3-minute budget for this step."""

    steps_per_unit: int = 6  # grid spacing 1/steps_per_unit of ||theta_1 - theta_0||, the same along x and y
    pad: int = 1  # grid steps beyond the triangle theta_0, theta_1, theta_c on every side
    n_id: int | None = 500  # first n examples of the ID set (None: all)
    n_ood: int | None = 100  # first n examples of each OOD set, pooled: the average over the OOD sets


def plane_grid(c: tuple[float, float], cfg: PlaneConfig) -> tuple[np.ndarray, np.ndarray]:
    """xs, ys covering (0, 0), (1, 0) and c plus `pad` steps, on multiples of 1/steps_per_unit (so
    theta_0 and theta_1 are grid points)."""
    s = cfg.steps_per_unit

    def axis(lo: float, hi: float) -> np.ndarray:
        return np.arange(int(np.floor(lo * s)) - cfg.pad, int(np.ceil(hi * s)) + cfg.pad + 1) / s

    return axis(min(0.0, c[0]), max(1.0, c[0])), axis(min(0.0, c[1]), max(0.0, c[1]))


def _plane_images(run, names: Sequence[str], n: int | None, transform) -> tuple[torch.Tensor, np.ndarray, list[dict]]:
    """The first n examples of each named eval set of `run`, decoded once and concatenated."""
    xs, ys, used = [], [], []
    for name in names:
        spec = run.dataset_info(name).get("spec")
        images = get_dataset(spec)
        k = len(images) if n is None else min(n, len(images))
        xs.append(decode(images, transform, np.arange(k)))  # (k, 3, H, W)
        ys.append(np.asarray(images.labels[:k]))
        used.append({"name": name, "spec": spec, "n": k})
    return torch.cat(xs), np.concatenate(ys), used


def write_plane(
    run_dir: Path, theta_c: Path, label_c: str, cfg: PlaneConfig = PlaneConfig(), device: str = "cpu"
) -> Path:
    """Compute and store the loss plane through the run's theta_0, theta_1 and the weights `theta_c`.

    Loss and accuracy on the grid `plane_grid` of the ID set and of the pooled OOD sets (equal n
    each, so the pooled loss is the average over the sets) go to RUN/plane.safetensors (arrays xs,
    ys, loss_id, acc_id and, with OOD sets, loss_ood, acc_ood: (len(ys), len(xs))), atomically,
    then the manifest's "plane" entry names it (runs of the current schema only: a schema-1 run, like
    the shipped world's, is read as it is, its manifest untouched; readers find the file by its
    name). NaN where a BatchNorm running variance turns
    negative off the triangle (left as is: the chart shows it blank).

    Returns the file written.
    """
    run_dir, theta_c = Path(run_dir), Path(theta_c)
    run = artifacts.Run(run_dir)
    files = [run.weights_path("zeroshot"), run.weights_path("finetuned"), theta_c]
    states = [load_weights(p) for p in files]
    check_compatible(states[0], states[2])
    _, _, c = plane(*states)
    xs, ys = plane_grid(c, cfg)
    model, pp_cfg = load_classifier(run_dir)
    transform = transforms_from_cfg(pp_cfg)[1]
    arrays = {"xs": xs, "ys": ys}
    sets = {}
    for group, names, n in (("id", [run.id_dataset], cfg.n_id), ("ood", run.ood_datasets, cfg.n_ood)):
        if not names:
            continue
        images, labels, sets[group] = _plane_images(run, names, n, transform)
        surface = loss_surface(model, *states, images, labels, xs, ys, device=device)
        undefined = ~np.isfinite(surface["loss"])  # NaN logits: their arg-max "accuracy" means nothing
        arrays[f"loss_{group}"] = surface["loss"]
        arrays[f"acc_{group}"] = np.where(undefined, np.nan, surface["accuracy"])
    meta = {
        "format": PLANE_FORMAT,
        "theta_c": os.path.relpath(theta_c.resolve(), run_dir.resolve()),
        "label_c": label_c,
        "c": [float(c[0]), float(c[1])],
        "sets": sets,
        "config": asdict(cfg),
        "digests": dict(zip(("theta_0", "theta_1", "theta_c"), [file_digest(p, length=16) for p in files])),
    }
    path = plane_file(run_dir, run.manifest)
    artifacts.atomic_save_arrays(path, {k: np.asarray(v, dtype=np.float64) for k, v in arrays.items()}, meta)
    if run.manifest.get("schema_version") == artifacts.SCHEMA_VERSION:
        entry = {"file": path.name, "theta_c": meta["theta_c"], "label_c": label_c}
        artifacts.update_manifest(run_dir, {"plane": entry})
    return path


@dataclass(frozen=True)
class StoredPlane:
    """A plane read from a run folder: arrays (len(ys), len(xs)), metadata, and whether it is current."""

    xs: np.ndarray
    ys: np.ndarray
    surfaces: dict  # {"id": {"loss", "accuracy"}, "ood": ...}: the groups the plane was computed on
    meta: dict
    stale: str | None  # why the plane no longer matches the run's weights; None when it does


def read_plane(run_dir: Path) -> StoredPlane | None:
    """The run's stored plane (None when it has none), checked against the current weight files:
    `stale` names a weight file that changed or went missing since the plane was computed."""
    run_dir = Path(run_dir)
    manifest = artifacts.read_manifest(run_dir)
    path = plane_file(run_dir, manifest)
    if not path.exists():
        return None
    try:
        arrays = {k: np.array(v) for k, v in artifacts.open_arrays(path).items()}
        meta = artifacts.read_arrays_meta(path)
    except artifacts.TensorFileError as err:
        raise artifacts.RunFormatError(f"{err}; recompute it with core.lmc.plane.write_plane") from err
    files = {
        "theta_0": artifacts.weights_file(run_dir, "zeroshot", manifest),
        "theta_1": artifacts.weights_file(run_dir, "finetuned", manifest),
        "theta_c": run_dir / meta.get("theta_c", ""),
    }
    stale = None
    for key, file in files.items():
        if not file.is_file():
            stale = f"{key} ({file}) is missing"
        elif file_digest(file, length=16) != meta.get("digests", {}).get(key):
            stale = f"{key} ({file.name}) changed after the plane was computed"
        if stale:
            break
    surfaces = {
        g: {"loss": arrays[f"loss_{g}"], "accuracy": arrays[f"acc_{g}"]} for g in ("id", "ood") if f"loss_{g}" in arrays
    }
    return StoredPlane(arrays["xs"], arrays["ys"], surfaces, meta, stale)
