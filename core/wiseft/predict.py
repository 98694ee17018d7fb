"""Predictions of theta_alpha for image files along the interpolation path: the app's "try your own
image" and `python -m core predict --run RUN --alpha 0 --alpha 0.5 IMAGE...`."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from core.data.registry import IMAGE_EXTENSIONS, open_image
from core.model.clip import transforms_from_cfg
from core.runs.artifacts import Run, weights_file
from core.runs.weights import load_classifier, load_weights
from core.wiseft.interpolate import check_compatible, interpolate_


def check_alpha(alpha: float) -> float:
    """alpha as a float; any finite real (alpha > 1 or < 0 extrapolates), else a ValueError."""
    try:
        value = float(alpha)
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value):
        raise ValueError(f"alpha {alpha!r} is not a finite number; give e.g. --alpha 0.5 (any real works)")
    return value


def require_finetuned(run: Run) -> None:
    """A one-line error when the run has no theta_1 to interpolate towards."""
    path = weights_file(run.path, "finetuned", run.manifest)
    if not path.is_file():
        raise ValueError(
            f"run {run.path} has no fine-tuned weights ({path} is missing); fine-tune it first: "
            f"`python -m core finetune --run {run.path} --train DATASET`"
        )


def variance_alpha_range(theta_0, theta_1) -> tuple[float, float]:
    """The open interval of alphas where every BatchNorm running variance of theta_alpha stays > 0.

    Inside [0, 1] a variance is a mix of two positive ones; extrapolating can push it below zero and
    the model's outputs to NaN (the world's ResNet: about (-0.37, 1.36)). (-inf, inf) without BatchNorm.
    """
    lo, hi = -math.inf, math.inf
    for key, v0 in theta_0.items():
        if key.endswith("running_var"):
            step = theta_1[key] - v0  # var(alpha) = v0 + alpha * step
            bound = v0 / -step  # alpha where var(alpha) = 0
            if (step < 0).any():
                hi = min(hi, float(bound[step < 0].min()))
            if (step > 0).any():
                lo = max(lo, float(bound[step > 0].max()))
    return lo, hi


def check_variances(theta_0, theta_1, alphas: Sequence[float]) -> None:
    """A one-line error for an alpha that extrapolates a BatchNorm variance below zero."""
    lo, hi = variance_alpha_range(theta_0, theta_1)
    bad = [a for a in alphas if not lo < a < hi]
    if bad:
        raise ValueError(
            f"alpha {bad[0]:g} extrapolates this model's BatchNorm running variances below zero "
            f"(its outputs would be NaN); pick an alpha between {lo:.3f} and {hi:.3f}"
        )


def image_files(paths: Sequence[str | Path]) -> list[Path]:
    """Image files named directly, or found (sorted, recursively) in folders; one-line errors for a
    missing path or a folder without images. Files are not decoded here."""
    found = []
    for path in map(Path, paths):
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
            if not files:
                raise ValueError(f"folder {path} has no images ({', '.join(IMAGE_EXTENSIONS)})")
            found += files
        elif path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(f"image {path} does not exist")
    return found


class PathPredictor:
    """Holds a run's theta_0 and theta_1 and one model; classifies images at any alpha.

    Example:
        predictor = PathPredictor(run_dir)
        probs = predictor.probabilities(image, alphas=[0, 0.5, 1])  # (3, C)
    """

    def __init__(self, run_dir: str | Path, device: str = "cpu"):
        run_dir = Path(run_dir)
        self.device = torch.device(device)
        self.model, pp_cfg = load_classifier(run_dir, "zeroshot", self.device)
        self.transform = transforms_from_cfg(pp_cfg)[1]
        self.theta_0 = load_weights(weights_file(run_dir, "zeroshot"), self.device)
        self.theta_1 = load_weights(weights_file(run_dir, "finetuned"), self.device)
        check_compatible(self.theta_0, self.theta_1)

    @torch.no_grad()
    def logits(self, images: Sequence[Image.Image], alphas) -> np.ndarray:
        """Logits of theta_alpha for each alpha and image: (A, N, C) float32."""
        x = torch.stack([self.transform(im.convert("RGB")) for im in images]).to(self.device)  # (N, 3, H, W)
        target = self.model.state_dict()
        out = []
        for alpha in np.atleast_1d(alphas):
            interpolate_(target, self.theta_0, self.theta_1, float(alpha))
            out.append(self.model(x).float().cpu().numpy())  # (N, C)
        interpolate_(target, self.theta_0, self.theta_1, 0.0)
        return np.stack(out)

    def probabilities(self, image: Image.Image, alphas) -> np.ndarray:
        """Softmax class probabilities of theta_alpha for each alpha: (A, C)."""
        return torch.softmax(torch.from_numpy(self.logits([image], alphas)[:, 0]), dim=-1).numpy()


def predict_files(
    run: Run, paths: Sequence[str | Path], alphas: Sequence[float], top_k: int = 3, device: str = "cpu"
) -> list[dict]:
    """Top-k classes of theta_alpha for each image file and alpha.

    Returns rows {image, alpha, rank, class, index, probability}; images are decoded (and rejected
    with a one-line error) before the model is loaded.
    """
    alphas = [check_alpha(a) for a in alphas]
    require_finetuned(run)
    files = image_files(paths)
    images = [open_image(str(p)) for p in files]
    predictor = PathPredictor(run.path, device)
    check_variances(predictor.theta_0, predictor.theta_1, alphas)
    logits = predictor.logits(images, alphas)  # (A, N, C)
    probs = torch.softmax(torch.from_numpy(logits), dim=-1).numpy()
    k = max(1, min(top_k, probs.shape[-1]))
    rows = []
    for a, alpha in enumerate(alphas):
        for n, path in enumerate(files):
            for rank, c in enumerate(np.argsort(-probs[a, n])[:k], start=1):
                rows.append(
                    {
                        "image": str(path),
                        "alpha": alpha,
                        "rank": rank,
                        "class": run.classnames[c],
                        "index": int(c),
                        "probability": float(probs[a, n, c]),
                    }
                )
    return rows


def format_predictions(rows: list[dict]) -> str:
    """One block per image, one line per alpha: `alpha 0.5: circle 0.912, square 0.051, ...`."""
    lines = []
    for image in dict.fromkeys(r["image"] for r in rows):
        lines.append(image)
        mine = [r for r in rows if r["image"] == image]
        for alpha in dict.fromkeys(r["alpha"] for r in mine):
            top = ", ".join(f"{r['class']} {r['probability']:.3f}" for r in mine if r["alpha"] == alpha)
            lines.append(f"  alpha {alpha:<6g} {top}")
    return "\n".join(lines)
