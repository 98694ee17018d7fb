"""What the explorer computes: per-run arrays prepared once, then reductions over them.

`load_run(path)` reads a run through `core` and precomputes, at every alpha of its view grid,
which examples theta_alpha gets right (G, N) and the mean loss (G,) of each eval set. It reads the
sweep's reductions (predictions and per-example losses, memory-mapped), never the whole logits:
an ImageNet-sized run (6 sets, 167k examples, 21 alphas) opens from ~40 MB instead of 5 GB.
explorer.live reduces those arrays to the per-alpha tables the browser draws as the slider moves;
what the server does when the slider rests on the gallery tab (`flips`, `top_predictions`) is
indexing on them. bench/app_latency.py and bench/scale.py time both.
Logits are read only for the few examples shown (`top_predictions` off the stored top-k).
A set whose manifest entry names a metric beyond top-1 (macro F1, worst-region accuracy, pm-0/pm-k)
gets it on the whole view grid (`EvalSet.extra`), from the same per-alpha predictions, by
core.results.extra_metrics.dataset_metric (what `info` and `compare` use): every view-grid alpha has
predictions (stored at sweep alphas, closed form on a linear run's dense grid), so no fallback to
sweep alphas only is needed.

Runs whose logits are linear in alpha (linear-classifier fine-tunes) get a dense view grid (step
0.01, exact); the gallery's top-k at an alpha without stored top-k is computed from
(1 - alpha) * L0 + alpha * L1 for the rows shown.
No streamlit here: the app caches what these functions return.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.results import extra_metrics, metrics
from core.runs.artifacts import Run, RunFormatError, find_runs
from core.runs.upgrade import upgrade_note

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ROOTS = (REPO / "data" / "runs", REPO / "runs")  # shipped runs, then the user's
RUNS_ENV = "WISEFT_RUNS"  # os.pathsep-separated folders to search instead of DEFAULT_ROOTS
PREFERRED_RUN = "world-e2e"  # the default when several runs are found
LINEAR_STEP = 0.01  # slider step (and view grid) for runs that are exact at any alpha
AVG_OOD = "avg_ood"


# ----------------------------------------------------------------------------- finding runs


def run_roots() -> list[Path]:
    """Where the run picker looks: $WISEFT_RUNS when set, else data/runs and runs/."""
    env = os.environ.get(RUNS_ENV, "")
    return [Path(p) for p in env.split(os.pathsep) if p] if env else list(DEFAULT_ROOTS)


def lab_root() -> Path:
    """The LMC lab's stored sections: data/world/lab under $WISEFT_DATA (the notebooks' variable), else the
    repo's data/."""
    return Path(os.environ.get("WISEFT_DATA", REPO / "data")) / "world" / "lab"


def _swept(path: Path) -> bool:
    try:
        manifest = json.loads((path / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and bool(manifest.get("sweep"))


def list_runs(roots: list[Path] | None = None) -> list[Path]:
    """Run folders (with a manifest) under the roots: swept runs first, PREFERRED_RUN first of them,
    so the default is a run that opens (not one whose sweep is still being written)."""
    runs = find_runs(*(roots if roots is not None else run_roots()))
    return sorted(runs, key=lambda p: (not _swept(p), p.name != PREFERRED_RUN, str(p)))


def run_stamp(path: Path) -> float:
    """Changes when a run is re-swept (cache key next to the path): a sweep ends by rewriting the
    manifest, which names the generation readers use."""
    try:
        return (path / "manifest.json").stat().st_mtime
    except OSError:
        return 0.0


# ----------------------------------------------------------------------------- prepared arrays


@dataclass
class EvalSet:
    """One eval set's results on the view grid."""

    name: str
    role: str  # 'id' or 'ood'
    labels: np.ndarray  # (N,) int
    ids: list[str]  # per-example ids (core.data.open_example opens them)
    correct: np.ndarray  # (G, N) bool: theta_alpha right on example n
    accuracy: np.ndarray  # (G,) in [0, 1]
    loss: np.ndarray  # (G,) mean cross-entropy, nats
    top: tuple[np.ndarray, np.ndarray] | None = None  # stored top-k at sweep alphas: (A, N, k) int, (A, N, k) prob
    extra: tuple[str, np.ndarray] | None = None  # (metric, (G,) in [0, 1]) when the set names one beyond top-1


@dataclass
class RunArrays:
    """A run prepared for the app: its view grid, eval sets and baselines."""

    run: Run
    alphas: np.ndarray  # (G,) view grid: the sweep grid, or a dense one for linear runs
    sets: dict[str, EvalSet]
    baselines: dict[str, dict[str, float]] = field(default_factory=dict)  # model -> set -> accuracy
    ends: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # linear runs: L0, L1 (N, C)
    notes: list[str] = field(
        default_factory=list
    )  # one line each that the app shows above the run (baselines.csv left out, ...)
    memo: dict = field(default_factory=dict, repr=False, compare=False)  # what a reader computes once per run

    @property
    def linear(self) -> bool:
        return self.run.linear_in_alpha

    @property
    def id_name(self) -> str:
        return self.run.id_dataset

    @property
    def ood_names(self) -> list[str]:
        return [s.name for s in self.sets.values() if s.role == "ood"]

    @property
    def classnames(self) -> list[str]:
        return self.run.classnames

    def accuracy_curves(self) -> dict[str, np.ndarray]:
        """{set: (G,)} plus 'avg_ood' when the run has OOD sets."""
        curves = {name: s.accuracy for name, s in self.sets.items()}
        if self.ood_names:
            curves[AVG_OOD] = np.mean([curves[n] for n in self.ood_names], axis=0)
        return curves

    def loss_curves(self) -> dict[str, np.ndarray]:
        return {name: s.loss for name, s in self.sets.items()}

    def extra_curves(self) -> dict[str, tuple[str, np.ndarray]]:
        """{set: (metric, (G,))} for the sets whose benchmark reports a metric beyond top-1."""
        return {name: s.extra for name, s in self.sets.items() if s.extra is not None}


def view_grid(run: Run) -> np.ndarray:
    """The alphas the app precomputes: the sweep grid, plus a 0.01 grid for linear runs."""
    alphas = run.alphas
    if run.linear_in_alpha:
        dense = np.arange(alphas.min(), alphas.max() + LINEAR_STEP / 2, LINEAR_STEP)
        alphas = np.concatenate([alphas, dense])
    return np.unique(np.round(alphas, 6))


def _prepare_set(run: Run, name: str, alphas: np.ndarray, ends: tuple | None) -> EvalSet:
    labels, info = run.labels(name), run.dataset_info(name)
    wants_extra = info.get("metric", "accuracy") != "accuracy"
    red = run.reductions(name)
    if ends is None:  # view grid == sweep grid: the stored reductions say it all
        pred = np.asarray(red["pred"])  # (G, N)
        loss = np.asarray(red["loss"], dtype=np.float64).mean(axis=1)
    else:  # closed form on a dense grid: the same reducer, one alpha at a time
        pred = np.empty((len(alphas), len(labels)), dtype=np.int32)  # (G, N)
        loss = np.empty(len(alphas))
        for g, alpha in enumerate(alphas):
            one = metrics.reduce_logits(metrics.closed_form(*ends, [alpha]), labels, k=1)  # (1, N, ...)
            pred[g], loss[g] = one["pred"][0], one["loss"][0].astype(np.float64).mean()
    correct = pred == labels  # (G, N)
    extra = extra_metrics.dataset_metric(pred, labels, info) if wants_extra else None
    return EvalSet(
        name,
        info["role"],
        labels,
        run.ids(name),
        correct,
        correct.mean(axis=1),
        loss,
        (red["topk"], red["topk_prob"]) if "topk" in red else None,
        None if extra is None else (extra[0], np.asarray(extra[1], dtype=np.float64)),
    )


def load_run(path: str | Path) -> RunArrays:
    """Read a run and precompute its per-alpha correctness and losses.

    Raises RunFormatError (unknown schema, no sweep, missing files) with a message for the user.
    """
    run = Run(path)
    if not run.has_sweep:
        raise RunFormatError(f"{run.path} has no sweep yet: run `python -m core sweep --run {run.path} ...`")
    run.id_dataset  # noqa: B018  (raises when the run has no ID set)
    run.metrics_rows()  # raises when the table does not match the manifest (a damaged run)
    alphas = view_grid(run)
    names = run.dataset_names
    ends = {n: (run.logits(n, 0.0), run.logits(n, 1.0)) for n in names} if run.linear_in_alpha else {}
    sets = {name: _prepare_set(run, name, alphas, ends.get(name)) for name in names}
    baselines: dict[str, dict[str, float]] = {}
    for row in run.baselines():
        baselines.setdefault(row["model"], {})[row["dataset"]] = row["accuracy"]
    return RunArrays(run, alphas, sets, baselines, ends, notes=run_notes(run))


def run_notes(run: Run) -> list[str]:
    """What the user should know before reading the charts, one line each: baselines.csv lines left out
    of the effective-robustness fit (run.baselines() was read first)."""
    problems = getattr(run, "baseline_problems", [])
    if not problems:
        return []
    more = f" (and {len(problems) - 1} more lines)" if len(problems) > 1 else ""
    return [
        f"{problems[0]}{more}: left out of the effective-robustness fit; "
        f"fix {run.path / run.manifest.get('baselines', 'baselines.csv')}"
    ]


def before_opening(path: str | Path) -> str | None:
    """The one line to show before a run is opened, when opening it will be slow: a run swept before
    run format 2, whose reductions are recomputed on every open (core.runs.upgrade). Cheap: the
    manifest and the sets' headers only; a run that cannot be read gets None (opening it says why)."""
    try:
        return upgrade_note(Run(path))
    except (RunFormatError, OSError, ValueError):
        return None


# ----------------------------------------------------------------------------- per alpha


def view_index(ra: RunArrays, alpha: float) -> int | None:
    """Index of alpha on the view grid (to 1e-6), or None."""
    i = int(np.argmin(np.abs(ra.alphas - alpha)))
    return i if abs(ra.alphas[i] - alpha) <= 1e-6 else None


def correct_at(ra: RunArrays, name: str, alpha: float) -> np.ndarray:
    """(N,) bool: which examples of a set theta_alpha classifies right (alpha on the view grid: the
    slider's positions and the compared alphas all are)."""
    i = view_index(ra, alpha)
    if i is None:
        raise ValueError(f"alpha {alpha} is not on the view grid of {ra.run.name}")
    return ra.sets[name].correct[i]


def endpoint_alphas(ra: RunArrays) -> tuple[float, float]:
    """The alphas the changes are measured against: 0 and 1 (or the grid's ends when absent)."""
    lo = 0.0 if view_index(ra, 0.0) is not None else float(ra.alphas[0])
    hi = 1.0 if view_index(ra, 1.0) is not None else float(ra.alphas[-1])
    return lo, hi


def flips(ra: RunArrays, name: str, alpha_a: float, alpha_b: float) -> dict[str, np.ndarray]:
    """Indices of the examples fixed (wrong at a, right at b) and broken (right at a, wrong at b)."""
    right_a, right_b = correct_at(ra, name, alpha_a), correct_at(ra, name, alpha_b)
    return {"fixed": np.flatnonzero(~right_a & right_b), "broken": np.flatnonzero(right_a & ~right_b)}


def per_class_accuracy(ra: RunArrays, name: str, alpha: float) -> np.ndarray:
    """(C,) accuracy per true class at alpha; NaN for classes absent from the set."""
    labels, num = ra.sets[name].labels, len(ra.classnames)
    hits = np.bincount(labels, weights=correct_at(ra, name, alpha), minlength=num)
    counts = np.bincount(labels, minlength=num)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, hits / np.maximum(counts, 1), np.nan)


def top_predictions(ra: RunArrays, name: str, idx: np.ndarray, alpha: float, k: int = 3):
    """Top-k classes and probabilities of some examples at alpha: ((n, k) int, (n, k) float).

    From the sweep's stored top-k at grid alphas; otherwise from the logits of those rows only."""
    idx = np.asarray(idx, dtype=np.int64)
    top = ra.sets[name].top
    on_grid = np.abs(ra.run.alphas - alpha) <= 1e-6
    if top is not None and on_grid.any() and top[0].shape[-1] >= k:
        g = int(np.argmax(on_grid))
        return np.asarray(top[0][g][idx, :k]), np.asarray(top[1][g][idx, :k], dtype=np.float32)
    if name in ra.ends:
        logits = metrics.closed_form(ra.ends[name][0][idx], ra.ends[name][1][idx], alpha)  # (n, C)
    else:
        logits = ra.run.logits_rows(name, idx, alpha)  # (n, C)
    probs = metrics.softmax(logits)  # (n, C)
    best = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return best, np.take_along_axis(probs, best, axis=1)


def barriers(ra: RunArrays) -> dict[str, float]:
    """Loss barrier of each set: the largest rise of its loss above the endpoints' chord."""
    return {name: metrics.loss_barrier(s.loss, ra.alphas) for name, s in ra.sets.items()}


# ----------------------------------------------------------------------------- robustness


def y_options(ra: RunArrays) -> list[str]:
    """What the robustness scatter can put on its y axis: average OOD, then each OOD set."""
    return [AVG_OOD, *ra.ood_names] if ra.ood_names else []


def baseline_points(ra: RunArrays, y_name: str) -> list[tuple[str, float, float]]:
    """(model, ID accuracy, y accuracy) of the baselines that report the sets needed."""
    need = ra.ood_names if y_name == AVG_OOD else [y_name]
    points = []
    for model, acc in ra.baselines.items():
        if ra.id_name in acc and all(n in acc for n in need):
            points.append((model, acc[ra.id_name], float(np.mean([acc[n] for n in need]))))
    return points


def trend(ra: RunArrays, y_name: str) -> tuple[float, float] | None:
    """The baselines' linear fit in logit space, or None with fewer than 2 baselines."""
    points = baseline_points(ra, y_name)
    if len(points) < 2:
        return None
    return metrics.fit_linear_trend([p[1] for p in points], [p[2] for p in points])
