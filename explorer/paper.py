"""The paper's published alpha sweeps (data/paper/wiseft_paper_table*_sweep.csv) as read-only runs.

Each sweep is one (model, fine-tuning) block of 21 alphas x 8 columns: ImageNet (ID), its five
shifts, and the paper's two averages. Values are top-1 accuracy, stored here in [0, 1].
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PAPER_DIR = Path(__file__).resolve().parents[1] / "data" / "paper"
ID_NAME = "ImageNet"
SHIFTS = ("ImageNetV2", "ImageNet-R", "ImageNet-Sketch", "ObjectNet", "ImageNet-A")
AVG_OOD = "avg_ood"  # the paper's "Avg shifts" column, named like the runs' average


@dataclass(frozen=True)
class PaperSweep:
    """One published sweep: accuracies (A,) per column over the alpha grid (NaN where blank)."""

    table: str  # e.g. "Table 4"
    model: str
    finetune: str  # 'end-to-end' or 'linear-classifier'
    alphas: np.ndarray  # (A,)
    accuracy: dict[str, np.ndarray]  # ImageNet, the five shifts and avg_ood: (A,) in [0, 1]

    @property
    def label(self) -> str:
        return f"{self.model}, {self.finetune} ({self.table})"

    @property
    def ood_names(self) -> list[str]:
        return [s for s in SHIFTS if s in self.accuracy]


def _read(path: Path) -> list[PaperSweep]:
    with path.open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["metric"] == "accuracy" and r["alpha"].strip()]
    blocks: dict[tuple[str, str, str], dict[str, dict[float, float]]] = {}
    for r in rows:
        name = AVG_OOD if r["dataset"] == "avg_shifts" else r["dataset"]
        value = float(r["value"]) / 100 if r["value"].strip() else np.nan
        blocks.setdefault((r["table"], r["model"], r["finetune"]), {}).setdefault(name, {})[float(r["alpha"])] = value
    sweeps = []
    for (table, model, finetune), columns in blocks.items():
        alphas = np.array(sorted(columns[ID_NAME]))
        acc = {
            name: np.array([col.get(a, np.nan) for a in alphas])
            for name, col in columns.items()
            if name in (ID_NAME, *SHIFTS, AVG_OOD)
        }
        sweeps.append(PaperSweep(table, model, finetune, alphas, acc))
    return sweeps


def list_sweeps(folder: Path = PAPER_DIR) -> list[PaperSweep]:
    """Every published sweep found in the folder, in table order (ViT-L/14@336px first)."""
    paths = sorted(
        folder.glob("wiseft_paper_table*_sweep.csv"), key=lambda p: int(p.name.split("table")[1].split("_")[0])
    )
    return [s for p in paths for s in _read(p)]


def accuracy_at(sweep: PaperSweep, alpha: float) -> dict[str, float]:
    """The sweep's accuracies at a grid alpha (nearest grid point)."""
    i = int(np.argmin(np.abs(sweep.alphas - alpha)))
    return {name: float(v[i]) for name, v in sweep.accuracy.items()}


def scatter_path(sweep: PaperSweep, highlight: bool = False) -> dict:
    """The sweep as a path for charts.robustness_scatter: ImageNet (x) vs average shift (y)."""
    return {
        "name": sweep.label,
        "alphas": sweep.alphas,
        "x": sweep.accuracy[ID_NAME],
        "y": sweep.accuracy[AVG_OOD],
        "endpoints": ("zero-shot", "fine-tuned"),
        "highlight": highlight,
    }


def endpoint_trend(sweeps: list[PaperSweep]) -> tuple[float, float] | None:
    """A logit-space line through the fine-tuned ends (alpha = 1) of the published sweeps: ImageNet
    vs average shift. The paper's own baseline fit uses standard ImageNet models that its tables do
    not list; the fine-tuned ends are the standard (non-zero-shot) models the tables do hold."""
    from core.results import metrics

    pts = [(s.accuracy[ID_NAME][-1], s.accuracy[AVG_OOD][-1]) for s in sweeps if np.isclose(s.alphas[-1], 1.0)]
    pts = [p for p in pts if np.isfinite(p).all()]
    return metrics.fit_linear_trend(*zip(*pts)) if len(pts) >= 2 else None


def optimal_minus_half(sweep: PaperSweep) -> dict[str, float]:
    """Per column: the best accuracy over alpha minus the accuracy at alpha = 0.5, in pp (the
    paper's Table 3 is exactly this for Tables 4 and 5)."""
    i = int(np.argmin(np.abs(sweep.alphas - 0.5)))
    return {name: float(100 * (np.nanmax(acc) - acc[i])) for name, acc in sweep.accuracy.items() if np.isfinite(acc[i])}


def published_table3(folder: Path = PAPER_DIR) -> list[dict]:
    """The paper's Table 3 (optimal alpha minus alpha = 0.5, pp) as rows {model, finetune, column: pp}."""
    path = folder / "wiseft_paper_table3_optimal_minus_alpha05.csv"
    if not path.exists():
        return []
    rows: dict[tuple[str, str], dict] = {}
    with path.open(newline="") as f:
        for r in csv.DictReader(f):
            name = AVG_OOD if r["dataset"] == "avg_shifts" else r["dataset"]
            if name in (ID_NAME, *SHIFTS, AVG_OOD):
                rows.setdefault((r["model"], r["finetune"]), {"model": r["model"], "fine-tuning": r["finetune"]})[
                    name
                ] = float(r["value"])
    return list(rows.values())
