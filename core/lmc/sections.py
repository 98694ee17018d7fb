"""Reading the LMC lab's stored sections (data/world/lab/<section>.json, written by `make world`), with no
torch: the app's lab page and lesson, and notebooks 04 and 06, only read them (core.lmc.lab computes them)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

SECTIONS = ("spawn", "swa", "align", "soups")  # data/world/lab/<section>.json (align: core.lmc.align)


def read_sections(lab_dir: Path) -> dict[str, dict]:
    """{section: stored summary} for every section file present in `lab_dir` (data/world/lab); the
    readers (the app's lab page, notebooks 04 and 06) show what is there and say how to make the rest."""
    out = {}
    for name in SECTIONS:
        path = Path(lab_dir) / f"{name}.json"
        if path.exists():
            out[name] = json.loads(path.read_text())
    return out


def baseline_points(run) -> list[tuple[str, float, float]]:
    """(model, ID accuracy, average OOD accuracy) of the run's baseline models that report every set of the
    run (`core.runs.artifacts.Run.baselines`): the trend the soups' effective robustness is measured against."""
    acc: dict[str, dict[str, float]] = {}
    for row in run.baselines():
        acc.setdefault(row["model"], {})[row["dataset"]] = row["accuracy"]
    ood = run.ood_datasets
    return [
        (m, a[run.id_dataset], float(np.mean([a[n] for n in ood])))
        for m, a in acc.items()
        if run.id_dataset in a and ood and all(n in a for n in ood)
    ]
