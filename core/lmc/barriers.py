"""Every barrier the product shows, in one table, each with what it was measured on.

A barrier depends on more than the pair of networks: how the BatchNorm statistics of the averaged
network are set (interpolated like the weights, or recomputed on id_train images at every alpha),
the eval set, the alpha grid, and the definition (core.results.metrics.BARRIER_DEFINITIONS: "chord",
the rise above the straight line between the ends, or "frankle", the path's worst value minus the
mean of its ends). The world's width-12 scratch pair has 1.94 nats with interpolated statistics and
1.57 recomputed; the lab's width-24 pair 1.98 and 1.43: `barrier_table` puts them side by side.

Numbers come from stored files only (numpy, no torch): the path runs' sweeps (per-example loss and
predictions: a bootstrap interval over the examples, core.results.uncertainty.path_barriers) and the
lab's summaries in data/world/lab/ and the alignments of `python -m core align` (curves only: no
interval). Rows are plain dicts (COLUMNS); `format_barrier_table` prints them as markdown.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.results import metrics
from core.results import uncertainty as U
from core.runs.artifacts import Run

COLUMNS = (
    "source",
    "shown",
    "pair",
    "alignment",
    "width",
    "batchnorm",
    "eval_set",
    "n",
    "alphas",
    "definition",
    "loss",
    "loss_lo",
    "loss_hi",
    "error",
    "error_lo",
    "error_hi",
)
DEFINITIONS = ("chord", "frankle")
PATH_RUNS = ("lmc-scratch", "lmc-shared-start", "lmc-finetunes", "world-e2e", "world-lc")
INTERPOLATED = "interpolated"  # BatchNorm statistics averaged with the weights (as the sweep does)
SHOWN = {  # where the product shows each kind of number
    "path": "explorer path view, docs/world.md, notebook 04",
    "spawn": "explorer lab page (spawn), docs/lab-notes.md, notebook 04",
    "align": "explorer lab page (alignment), docs/lab-notes.md, notebook 06",
    "align-cli": "docs/world.md, docs/lab-notes.md (`python -m core align`)",
    "soups": "explorer lab page (soups), docs/lab-notes.md",
}


def _row(**values) -> dict:
    return {c: values.get(c) for c in COLUMNS}


def _width(run_dir: Path) -> int | None:
    """The image tower's width of a run folder's architecture (its model/open_clip_config.json)."""
    config = Path(run_dir) / "model" / "open_clip_config.json"
    if not config.is_file():
        return None
    return json.loads(config.read_text())["model_cfg"]["vision_cfg"].get("width")


def _recomputed(sets: dict | None, n: int) -> str:
    calib = (sets or {}).get("calibration", {}).get("spec", f"world:id_train:{n}")
    return f"recomputed on {calib}"


def path_run_rows(run_dir: Path, source: str, n_boot: int = U.N_BOOT_PATH) -> list[dict]:
    """A path run's barriers per eval set and definition, with bootstrap intervals from its sweep's
    per-example loss and predictions (the sweep interpolates every float tensor: BatchNorm statistics too)."""
    run = Run(run_dir)
    pair = " -> ".join(run.endpoints)
    rows = []
    for name in run.dataset_names:
        red, labels = run.reductions(name), run.labels(name)
        curves = {"loss": np.asarray(red["loss"]), "error": np.asarray(red["pred"]) != labels[None, :]}  # (A, N)
        ivs = U.path_barriers(curves, run.alphas, DEFINITIONS, n_boot=n_boot)
        for d in DEFINITIONS:
            loss, err = ivs["loss"][d], ivs["error"][d].scaled(100)
            rows.append(
                _row(
                    source=source,
                    shown=SHOWN["path"],
                    pair=pair,
                    alignment="none",
                    width=_width(run_dir),
                    batchnorm=INTERPOLATED,
                    eval_set=run.dataset_info(name)["spec"],
                    n=len(labels),
                    alphas=len(run.alphas),
                    definition=d,
                    loss=loss.value,
                    loss_lo=loss.lo,
                    loss_hi=loss.hi,
                    error=err.value,
                    error_lo=err.lo,
                    error_hi=err.hi,
                )
            )
    return rows


def spawn_rows(spawn: dict, source: str, width: int | None) -> list[dict]:
    """Spawn at k: each child's path to the parent's end, from the stored curves (5 alphas, no interval)."""
    alphas, ev = np.asarray(spawn["alphas"]), spawn["eval"]
    bn, rows = _recomputed(None, spawn["config"]["n_calibration"]), []
    for k, loss, acc in zip(spawn["k_steps"], spawn["loss"], spawn["accuracy"]):
        err = 100 * (1 - np.asarray(acc, dtype=np.float64))
        for d in DEFINITIONS:
            rows.append(
                _row(
                    source=source,
                    shown=SHOWN["spawn"],
                    pair=f"spawn parent -> child forked at step {k}",
                    alignment="none",
                    width=width,
                    batchnorm=bn,
                    eval_set=f"world:{ev['set']}:{ev['n']}",
                    n=ev["n"],
                    alphas=len(alphas),
                    definition=d,
                    loss=metrics.barrier(loss, alphas, d),
                    error=metrics.barrier(err, alphas, d),
                )
            )
    return rows


def align_rows(align: dict, source: str, shown: str, pair: str, width: int | None) -> list[dict]:
    """An alignment summary (align.json): each method, BatchNorm handling and definition, from its curves."""
    alphas, sets = np.asarray(align["alphas"]), align.get("sets", {})
    rows = []
    for method, entry in align["methods"].items():
        for stats, curve in entry["curves"].items():
            bn = INTERPOLATED if stats == "interpolated" else _recomputed(sets, align["config"]["n_calib"])
            for d in DEFINITIONS:
                rows.append(
                    _row(
                        source=source,
                        shown=shown,
                        pair=pair,
                        alignment=method.replace("_", " "),
                        width=width,
                        batchnorm=bn,
                        eval_set=sets.get("eval", {}).get("spec", "?"),
                        n=sets.get("eval", {}).get("n"),
                        alphas=len(alphas),
                        definition=d,
                        loss=metrics.barrier(curve["loss"], alphas, d),
                        error=metrics.barrier(curve["error"], alphas, d),
                    )
                )
    return rows


def soups_rows(soups: dict, source: str, width: int | None) -> list[dict]:
    """The soups' pairwise midpoint barrier matrix: its largest entry over the pairs (loss only)."""
    matrix = np.asarray(soups["barrier_matrix"])
    i, j = np.triu_indices(len(matrix), k=1)
    worst = int(np.argmax(matrix[i, j]))
    names = soups["ingredients"]
    return [
        _row(
            source=source,
            shown=SHOWN["soups"],
            alignment="none",
            width=width,
            batchnorm=INTERPOLATED,
            pair=f"largest of {len(i)} fine-tune pairs: {names[i[worst]]} -> {names[j[worst]]}",
            eval_set=f"held-out id_train ({soups['heldout']['spec']} from {soups['heldout']['start']})",
            n=soups["heldout"]["n"],
            alphas=3,
            definition="midpoint",
            loss=float(matrix[i, j][worst]),
        )
    ]


def _default_align_files(data_root: Path) -> list[Path]:
    """The lab's align.json and any `python -m core align` output under runs/align/ beside data/."""
    cli_outputs = sorted((data_root.parent / "runs" / "align").glob("*/align.json"))
    return [data_root / "world" / "lab" / "align.json", *cli_outputs]


def _align_source(path: Path, data_root: Path) -> tuple[str, str, str, int | None]:
    """(source, shown, pair, width) of an align.json: the lab's pair, or the path run it was computed for."""
    align = json.loads(path.read_text())
    if align.get("pair", {}).get("width"):
        pair = align["pair"]
        seeds = ", ".join(map(str, pair.get("seeds", [])))
        return "data/world/lab/align.json", SHOWN["align"], f"the lab's scratch pair (seeds {seeds})", pair["width"]
    run_dir = data_root / "runs" / path.parent.name  # runs/align/<run name>/align.json
    pair = " -> ".join(Run(run_dir).endpoints) if (run_dir / "manifest.json").is_file() else path.parent.name
    return f"runs/align/{path.parent.name}/align.json", SHOWN["align-cli"], pair, _width(run_dir)


def barrier_table(
    data_root: Path | str = "data", align_files: Sequence[Path] | None = None, n_boot: int = U.N_BOOT_PATH
) -> list[dict]:
    """Every barrier number the product shows, one row per (path, eval set, BatchNorm handling, definition).

    Args:
        data_root: the shipped data folder (runs/ and world/lab/ under it).
        align_files: align.json files to include (default: the lab's, and runs/align/*/align.json beside
            data_root, where `python -m core align` writes the width-12 pair's).
        n_boot: bootstrap resamples of the path runs' intervals.
    Returns:
        dicts with COLUMNS: loss in nats, error in percentage points; *_lo/*_hi the 95% interval where
        per-example data are stored, else None. definition "midpoint": the loss at alpha 0.5 minus the
        mean of the ends' (both definitions' value at the midpoint; the soups' matrix).
    """
    data_root = Path(data_root)
    rows = []
    for name in PATH_RUNS:
        if (data_root / "runs" / name / "manifest.json").is_file():
            rows += path_run_rows(data_root / "runs" / name, f"data/runs/{name}", n_boot)
    lab = data_root / "world" / "lab"
    scratch_width = _width(data_root / "runs" / "lmc-scratch")  # spawn trains from scratch-a's init: its tower
    if (lab / "spawn.json").is_file():
        rows += spawn_rows(json.loads((lab / "spawn.json").read_text()), "data/world/lab/spawn.json", scratch_width)
    for path in align_files if align_files is not None else _default_align_files(data_root):
        if Path(path).is_file():
            source, shown, pair, width = _align_source(Path(path), data_root)
            rows += align_rows(json.loads(Path(path).read_text()), source, shown, pair, width)
    if (lab / "soups.json").is_file():
        rows += soups_rows(
            json.loads((lab / "soups.json").read_text()),
            "data/world/lab/soups.json",
            _width(data_root / "runs" / "world-e2e"),
        )
    return rows


def _value(row: dict, key: str, digits: int) -> str:
    if row[key] is None:
        return ""
    text = f"{row[key]:.{digits}f}"
    if row[key + "_lo"] is None:
        return text
    return text + f" [{row[key + '_lo']:.{digits}f}, {row[key + '_hi']:.{digits}f}]"


def format_barrier_table(rows: Sequence[dict]) -> str:
    """The rows as a markdown table: loss barrier (nats, 3 decimals) and error barrier (pp, 1 decimal),
    each with its 95% interval in brackets where there is one."""
    head = [
        "source",
        "pair",
        "alignment",
        "width",
        "BatchNorm statistics",
        "eval set",
        "n",
        "alphas",
        "definition",
        "loss barrier (nats)",
        "error barrier (pp)",
    ]
    align = [":---"] * 6 + ["---:"] * 2 + [":---"] + ["---:"] * 2
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(align) + "|"]
    for r in rows:
        cells = [
            r["source"],
            r["pair"],
            r["alignment"],
            "" if r["width"] is None else str(r["width"]),
            r["batchnorm"],
            r["eval_set"],
            "" if r["n"] is None else f"{r['n']:,}",
            str(r["alphas"]),
            r["definition"],
            _value(r, "loss", 3),
            _value(r, "error", 1),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
