"""Tables of a run's results, read from its metrics table (numpy only: no torch, no logits read).

The table is what the sweep computed from its reductions (metrics.summarize); Run.metrics_rows
checks it against the manifest's grid, so a table never mixes two sweeps. Each accuracy comes with
its 95% interval, from the table's counts alone (correct = accuracy x n): the Wilson interval of one
set, a bootstrap of each set on its own for the OOD average (core.results.uncertainty).
"""

from __future__ import annotations

import numpy as np

from core.results import uncertainty
from core.runs.artifacts import Run


def accuracy_grid(run: Run) -> dict[str, np.ndarray]:
    """Accuracy in [0, 1] per eval set over the run's alpha grid, plus 'avg_ood' when there are
    OOD sets: {name: (A,)}."""
    grid = run.metric_grid("accuracy")
    if run.ood_datasets:
        grid["avg_ood"] = np.mean([grid[n] for n in run.ood_datasets], axis=0)
    return grid


def hit_grid(run: Run) -> dict[str, tuple[np.ndarray, int]]:
    """{set: (correct examples (A,) int, n)}: the counts behind each accuracy of the metrics table."""
    grid = run.metric_grid("accuracy")
    return {
        name: (np.rint(grid[name] * run.dataset_info(name)["n"]).astype(np.int64), int(run.dataset_info(name)["n"]))
        for name in run.dataset_names
    }


def interval_grid(run: Run) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """95% interval of every accuracy of `accuracy_grid`: {name: (lo (A,), hi (A,))} in [0, 1]; Wilson per
    set, and for 'avg_ood' a bootstrap that resamples each OOD set on its own (uncertainty.mean_accuracy_interval)."""
    hits = hit_grid(run)
    out = {}
    for name, (h, n) in hits.items():
        ivs = [uncertainty.wilson(int(k), n) for k in h]
        out[name] = (np.array([iv.lo for iv in ivs]), np.array([iv.hi for iv in ivs]))
    if run.ood_datasets:
        sizes = [hits[d][1] for d in run.ood_datasets]
        ivs = [
            uncertainty.mean_accuracy_interval([int(hits[d][0][i]) for d in run.ood_datasets], sizes)
            for i in range(len(run.alphas))
        ]
        out["avg_ood"] = (np.array([iv.lo for iv in ivs]), np.array([iv.hi for iv in ivs]))
    return out


def loss_grid(run: Run) -> dict[str, np.ndarray]:
    """Mean cross-entropy per eval set over the alpha grid: {name: (A,)}."""
    return run.metric_grid("loss")


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


def _exactness(run: Run) -> str:
    exact = [n for n in run.dataset_names if run.exact_any_alpha(n)]
    if len(exact) == len(run.dataset_names):
        return ", logits exact for any alpha"
    return f", logits exact for any alpha on {', '.join(exact)} (the others at grid alphas)" if exact else ""


def format_table(run: Run) -> str:
    """A fixed-width table: one row per alpha, one column per eval set, accuracies in % with half the
    width of their 95% interval (`interval_grid`; its two ends are in `as_json` and `info --format csv`)."""
    grid, ci = accuracy_grid(run), interval_grid(run)
    cols = list(grid)
    width = max(12, *(len(c) + 1 for c in cols))
    sizes = sorted({run.dataset_info(n)["n"] for n in run.dataset_names})
    lines = [
        f"run {run.name}: {run.manifest['model']['name']}"
        + (f" ({run.manifest['model']['pretrained']})" if run.manifest["model"].get("pretrained") else "")
        + _exactness(run),
        f"top-1 % ± half its 95% interval (Wilson on n = {', '.join(f'{n:,}' for n in sizes)} examples"
        + ("; avg_ood: each set resampled" if "avg_ood" in grid else "")
        + ")",
    ]
    lines.append("alpha".rjust(6) + "".join(c.rjust(width) for c in cols))
    for i, a in enumerate(run.alphas):
        lines.append(f"{a:6.3g}" + "".join(f"{_pm(grid[c][i], ci[c][0][i], ci[c][1][i]):>{width}}" for c in cols))
    keys = key_alphas(run, grid)
    lines.append("")
    for label, a in keys.items():
        i = int(np.argmin(np.abs(run.alphas - a)))
        lines.append(f"{label:>24}: " + ", ".join(f"{c} {100 * grid[c][i]:.2f}" for c in cols))
    return "\n".join(lines)


def _pm(value: float, lo: float, hi: float, digits: int = 2) -> str:
    """'96.30±0.83': an accuracy in % and half the width of its interval."""
    return f"{100 * value:.{digits}f}±{50 * (hi - lo):.{digits}f}"


def as_json(run: Run) -> dict:
    """The run's table as plain JSON-able data; accuracy_ci: {set: [[lo, hi] per alpha]} (95%, in [0, 1])."""
    grid, ci = accuracy_grid(run), interval_grid(run)
    losses = loss_grid(run)
    return {
        "run": str(run.path),
        "name": run.name,
        "model": run.manifest["model"],
        "alphas": run.alphas.tolist(),
        "linear_in_alpha": run.linear_in_alpha,
        "datasets": run.datasets and [{k: d[k] for k in ("name", "role", "n")} for d in run.datasets],
        "accuracy": {k: v.tolist() for k, v in grid.items()},
        "accuracy_ci": {k: np.stack(ci[k], axis=1).tolist() for k in grid},
        "loss": {k: v.tolist() for k, v in losses.items()},
        "key_alphas": key_alphas(run, grid),
    }
