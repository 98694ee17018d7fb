"""Predictions for a single image along the interpolation path (the app's "try your own image")."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .artifacts import weights_file
from .interpolate import check_compatible, interpolate_
from .models import transforms_from_cfg
from .runs import load_classifier, load_weights


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
    def probabilities(self, image: Image.Image, alphas) -> np.ndarray:
        """Softmax class probabilities of theta_alpha for each alpha: (A, C)."""
        x = self.transform(image.convert("RGB"))[None].to(self.device)  # (1, 3, H, W)
        target = self.model.state_dict()
        out = []
        for alpha in np.atleast_1d(alphas):
            interpolate_(target, self.theta_0, self.theta_1, float(alpha))
            out.append(torch.softmax(self.model(x).float(), dim=-1)[0].cpu().numpy())
        interpolate_(target, self.theta_0, self.theta_1, 0.0)
        return np.stack(out)
