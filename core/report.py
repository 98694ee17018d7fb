"""Tables of a run's results, computed from its stored logits (numpy only)."""

from __future__ import annotations

import numpy as np

from . import metrics
from .artifacts import Run


def accuracy_grid(run: Run) -> dict[str, np.ndarray]:
    """Accuracy in [0, 1] per eval set over the run's alpha grid, plus 'avg_ood' when there are
    OOD sets: {name: (A,)}."""
    grid = {name: metrics.accuracy(run.grid_logits(name), run.labels(name)) for name in run.dataset_names}
    if run.ood_datasets:
        grid["avg_ood"] = np.mean([grid[n] for n in run.ood_datasets], axis=0)
    return grid


def loss_grid(run: Run) -> dict[str, np.ndarray]:
    """Mean cross-entropy per eval set over the alpha grid: {name: (A,)}."""
    return {name: metrics.cross_entropy(run.grid_logits(name), run.labels(name)) for name in run.dataset_names}


def key_alphas(run: Run, grid: dict[str, np.ndarray] | None = None) -> dict[str, float]:
    """The endpoints, 0.5 when on the grid, and the alpha with the best average OOD (or ID)."""
    grid = grid or accuracy_grid(run)
    alphas = run.alphas
    target = "avg_ood" if "avg_ood" in grid else run.id_dataset
    keys = {"zero-shot (0)": 0.0, "fine-tuned (1)": 1.0}
    if np.isclose(alphas, 0.5).any():
        keys["alpha 0.5"] = 0.5
    best = float(alphas[int(np.argmax(grid[target]))])
    keys[f"best {target} ({best:g})"] = best
    return {k: v for k, v in keys.items() if np.isclose(alphas, v).any()}


def format_table(run: Run) -> str:
    """A fixed-width table: one row per alpha, one column per eval set, accuracies in %."""
    grid = accuracy_grid(run)
    cols = list(grid)
    width = max(9, *(len(c) + 1 for c in cols))
    lines = [f"run {run.name}: {run.manifest['model']['name']}"
             + (f" ({run.manifest['model']['pretrained']})" if run.manifest["model"].get("pretrained") else "")
             + (", logits exact for any alpha" if run.linear_in_alpha else "")]
    lines.append("alpha".rjust(6) + "".join(c.rjust(width) for c in cols))
    for i, a in enumerate(run.alphas):
        lines.append(f"{a:6.3g}" + "".join(f"{100 * grid[c][i]:{width}.2f}" for c in cols))
    keys = key_alphas(run, grid)
    lines.append("")
    for label, a in keys.items():
        i = int(np.argmin(np.abs(run.alphas - a)))
        lines.append(f"{label:>24}: " + ", ".join(f"{c} {100 * grid[c][i]:.2f}" for c in cols))
    return "\n".join(lines)


def as_json(run: Run) -> dict:
    """The run's table as plain JSON-able data."""
    grid = accuracy_grid(run)
    losses = loss_grid(run)
    return {
        "run": str(run.path), "name": run.name, "model": run.manifest["model"],
        "alphas": run.alphas.tolist(), "linear_in_alpha": run.linear_in_alpha,
        "datasets": run.datasets and [{k: d[k] for k in ("name", "role", "n")} for d in run.datasets],
        "accuracy": {k: v.tolist() for k, v in grid.items()},
        "loss": {k: v.tolist() for k, v in losses.items()},
        "key_alphas": key_alphas(run, grid),
    }
