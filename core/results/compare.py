"""A run's accuracies beside the paper's published numbers: `python -m core compare --run RUN --reference table5`.

The reference tables are tidy CSVs (table,model,finetune,method,alpha,dataset,metric,value; see
data/paper/README.md). A reference row is matched to the run by dataset name (case and punctuation
ignored: the run's `imagenet-r` is the paper's `ImageNet-R`) and by alpha: sweep rows by their alpha,
"zero-shot" rows at alpha 0, "standard fine-tuning" at alpha 1, "optimal alpha" rows by the best
grid alpha of that column. Output-space ensemble rows (Table 13) are matched to the run's ensemble of
its two ends (core.results.ensembles, mixing logits), "no ensemble (model alone)" to its fine-tuned end. `avg_shifts` / `avg_ref_shifts` are recomputed from the run when it has
all five ImageNet shifts.

Comparing a run with a table it does not reproduce prints meaningless deltas, so `compare` refuses
(unless allow_mismatch) when the run's model is not the table's, or when a dataset the paper names
(ImageNet, CIFAR-10.1, ...) was not evaluated from that named dataset (e.g. `imagenet=folder:...`).
Rows of a user's own CSV with dataset names unknown here are not checked.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np

from core.runs.artifacts import Run
from core.results.extra_metrics import run_extra_metrics
from core.results.report import accuracy_grid

REPO = Path(__file__).resolve().parents[2]
REFERENCE_DIRS = (REPO / "data" / "paper", REPO.parent / "shared" / "reference")
ACCURACY_METRICS = ("accuracy", "top-1")
EXTRA_METRICS = ("macro F1", "worst-region accuracy", "pm-0", "pm-k")  # core.results.extra_metrics
SHIFTS = ("imagenetv2", "imagenetr", "imagenetsketch", "objectnet", "imageneta")


# the paper's dataset names (normalised) -> the registered dataset (core.data.shifts) they were measured on
PAPER_DATASETS = {"imagenet": "imagenet", "imagenetv2": "imagenetv2", "imagenetr": "imagenet-r",
                  "imagenetsketch": "imagenet-sketch", "objectnet": "objectnet", "imageneta": "imagenet-a",
                  "cifar10": "cifar10", "cifar101": "cifar10.1", "cifar102": "cifar10.2", "cifar100": "cifar100",
                  "food101": "food101", "cars": "stanford-cars", "dtd": "dtd", "sun397": "sun397",
                  "wildsiwildcamidtest": "iwildcam:id_test", "wildsiwildcamoodtest": "iwildcam:ood_test",
                  "wildsfmowidtest": "fmow:id_test", "wildsfmowoodtest": "fmow:ood_test",
                  "imagenetvidrobust": "imagenet-vid-robust", "ytbbrobust": "ytbb-robust"}
DEFAULT_SPLITS = ("", "val", "test", "v6")  # a spec without a split means the table's (test) split


def list_tables() -> list[str]:
    """The paper tables `load_reference` finds by name (table2, table4, ...), in number order."""
    found = {re.match(r"wiseft_paper_(table\d+)_", p.name).group(1)
             for d in REFERENCE_DIRS if d.is_dir() for p in d.glob("wiseft_paper_table*_*.csv")}
    return sorted(found, key=lambda t: int(t[5:]))


def norm_name(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def load_reference(table: str) -> list[dict]:
    """Rows of a reference CSV given its path, or a table name: 'table5', '5', 'Table 5' or a file
    stem, looked up in data/paper/ and then ../shared/reference/. A comma joins tables: 'table2,table6'."""
    if "," in table and not Path(table).is_file():
        return [row for part in table.split(",") for row in load_reference(part.strip())]
    path = Path(table)
    if not path.is_file():
        number = re.fullmatch(r"(?:table)?(\d+)", norm_name(table))
        pattern = f"wiseft_paper_table{number.group(1)}_*.csv" if number else f"{table}.csv"
        found = [p for d in REFERENCE_DIRS if d.is_dir() for p in sorted(d.glob(pattern))]
        if not found:
            raise ValueError(f"no reference table {table!r}: give a CSV path or a table of "
                             f"{', '.join(str(d) for d in REFERENCE_DIRS)} (e.g. table5)")
        path = found[0]
    with path.open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("value", "").strip()]
    if not rows or not {"dataset", "value", "alpha", "method"} <= set(rows[0]):
        raise ValueError(f"{path} is not a reference table (table,model,finetune,method,alpha,dataset,metric,value)")
    return rows


def _pick_model(rows: list[dict], model: str | None, run: Run) -> str:
    models = list(dict.fromkeys(r["model"] for r in rows))
    wanted = norm_name(model or run.manifest.get("model", {}).get("name", ""))
    matches = [m for m in models if wanted and wanted in norm_name(m)]
    if len(models) == 1 and not model:
        return models[0]
    if len(matches) != 1:
        raise ValueError(f"pick the reference model with --model; the table has: {'; '.join(models)}")
    return matches[0]


def _run_accuracy(run: Run) -> dict[str, np.ndarray]:
    """Run accuracies in %, keyed by normalised dataset name, with the paper's two averages."""
    acc = {norm_name(name): 100 * values for name, values in accuracy_grid(run).items() if name != "avg_ood"}
    if all(s in acc for s in SHIFTS):
        acc["avgshifts"] = np.mean([acc[s] for s in SHIFTS], axis=0)
        if "imagenet" in acc:
            acc["avgrefshifts"] = (acc["imagenet"] + acc["avgshifts"]) / 2
    return acc


def _run_extra_metrics(run: Run) -> dict[tuple[str, str], np.ndarray]:
    """{(normalised dataset, metric): (A,) values in %} for the sets whose manifest entry names a
    metric beyond top-1 (WILDS, video sets; see core.results.extra_metrics)."""
    return {(norm_name(name), metric): 100 * np.asarray(values)
            for name, (metric, values) in run_extra_metrics(run).items()}


def is_output_ensemble(row: dict) -> bool:
    """A row of an output-space ensemble (Table 13): matched to the run's ensemble of its two ends."""
    return "output-space ensemble" in row["method"].lower()


def _run_value(row: dict, values: np.ndarray, alphas: np.ndarray) -> tuple[str, float] | None:
    """(row label, run value) for a reference row, or None when the run has no such point. `values` are
    the run's WiSE-FT curve, or its output-space ensemble's for is_output_ensemble rows."""
    method = row["method"].lower()
    prefix = "output-space ensemble, " if is_output_ensemble(row) else ""
    if row["alpha"].strip():
        alpha = float(row["alpha"])
    elif method.startswith("zero-shot"):
        alpha = 0.0
    elif method in ("standard fine-tuning", "no ensemble (model alone)"):
        alpha = 1.0  # the trained model alone (Table 13's "no ensemble" rows: the run's fine-tuned end)
    elif "optimal alpha" in method and (prefix or method.startswith("wise-ft")):
        return f"{prefix}optimal alpha", float(values.max())
    else:
        return None  # rows of other methods (CoOp, ...) have no run counterpart
    hit = np.flatnonzero(np.abs(alphas - alpha) < 1e-6)
    label = f"{prefix}alpha {alpha:.2f}" if row["alpha"].strip() else f"{row['method']} ({alpha:g})"
    return (label, float(values[hit[0]])) if hit.size else None


def _run_ensemble_accuracy(run: Run) -> dict[str, np.ndarray]:
    """_run_accuracy of the run's output-space ensemble (mixing logits); {} when a set has no stored logits."""
    from core.results.ensembles import EnsembleError, output_ensemble

    try:
        acc = {norm_name(n): 100 * output_ensemble(run, n).accuracy for n in run.dataset_names}
    except EnsembleError:
        return {}
    if all(s in acc for s in SHIFTS):
        acc["avgshifts"] = np.mean([acc[s] for s in SHIFTS], axis=0)
        if "imagenet" in acc:
            acc["avgrefshifts"] = (acc["imagenet"] + acc["avgshifts"]) / 2
    return acc


def _model_mismatch(run: Run, table_model: str) -> str | None:
    """Why the run's model is not the table's, or None when it is."""
    spec = run.manifest.get("model", {})
    ours, theirs = norm_name(spec.get("name", "")), norm_name(table_model)
    if not ours or not (ours in theirs or theirs in ours):
        return f"the run's model is {spec.get('name')!r}, the table's is {table_model!r}"
    if theirs.startswith("clip") and spec.get("pretrained") != "openai":
        return f"the table's {table_model} has OpenAI's weights, the run's are {spec.get('pretrained')!r}"
    return None


def dataset_mismatches(run: Run, rows: list[dict]) -> list[str]:
    """The paper datasets of rows that the run evaluated on something else (e.g. a folder)."""
    specs = {norm_name(d["name"]): d.get("spec", "") for d in run.datasets}
    wrong = {}
    for name in dict.fromkeys(r["dataset"] for r in rows):
        key = norm_name(name)
        want = PAPER_DATASETS.get(key)
        if want and key in specs:
            spec = specs[key].split("=", 1)[1] if "=" in specs[key].split(":", 1)[0] else specs[key]
            kind, _, arg = spec.partition(":")  # (core.data.parse_spec, without importing torch)
            want_kind, _, want_arg = want.partition(":")
            if kind != want_kind or (arg != want_arg if want_arg else arg not in DEFAULT_SPLITS):
                wrong[name] = specs[key]
    if not wrong:
        return []
    first = next(iter(wrong.items()))
    return [f"{', '.join(wrong)} were not evaluated on the named datasets (e.g. {first[0]} on {first[1]!r})"]


def compare(run: Run, reference: list[dict], model: str | None = None, finetune: str | None = None,
            allow_mismatch: bool = False) -> dict:
    """Match a run's accuracies to a reference table's rows.

    Raises ValueError when the run's model or datasets are not the table's, unless allow_mismatch.
    Returns {"title", "datasets", "missing", "rows": [{label, dataset, run, paper, delta}]}, accuracies in %.
    """
    finetune = finetune or run.manifest.get("finetune", {}).get("mode", "end-to-end")
    rows = [r for r in reference if r.get("metric", "accuracy") in ACCURACY_METRICS + EXTRA_METRICS
            and r.get("finetune", "none") in (finetune, "none")]
    if not rows:
        raise ValueError(f"the reference has no {finetune} accuracy rows")
    chosen = _pick_model(rows, model, run)
    rows = [r for r in rows if r["model"] == chosen]
    problems = [_model_mismatch(run, chosen)] + dataset_mismatches(run, rows)
    if (problems := [p for p in problems if p]) and not allow_mismatch:
        raise ValueError(f"run {run.name!r} does not reproduce this table: {'; '.join(problems)}. Its deltas "
                         "would mean nothing; pass --allow-mismatch to compare anyway")
    acc, extra, alphas = _run_accuracy(run), _run_extra_metrics(run), run.alphas
    ens = _run_ensemble_accuracy(run) if any(map(is_output_ensemble, rows)) else {}
    out, missing = [], []
    for r in rows:
        key, metric = norm_name(r["dataset"]), r.get("metric", "accuracy")
        values = acc.get(key) if metric in ACCURACY_METRICS else extra.get((key, metric))
        if is_output_ensemble(r):
            values = ens.get(key) if metric in ACCURACY_METRICS else None
        if values is None:
            missing.append(r["dataset"] if metric in ACCURACY_METRICS else f"{r['dataset']} ({metric})")
            continue
        matched = _run_value(r, values, alphas)
        if matched:
            paper = float(r["value"].lstrip("+"))
            out.append({"label": matched[0], "dataset": r["dataset"], "run": matched[1], "paper": paper,
                        "delta": matched[1] - paper, "metric": metric})
    if not out:
        raise ValueError(f"no reference row matches the run's datasets {run.dataset_names} and alphas")
    tables = ", ".join(dict.fromkeys(r.get("table", "reference") for r in rows))
    return {"title": f"{tables}: {chosen}, {finetune}", "run": run.name,
            "datasets": list(dict.fromkeys(o["dataset"] for o in out)),
            "missing": list(dict.fromkeys(missing)), "rows": out, "warnings": problems}


def format_comparison(result: dict) -> str:
    """Three lines per row label (paper, run, delta), one column per dataset, accuracies in %."""
    cols = result["datasets"]
    width = max(10, *(len(c) + 2 for c in cols))
    cell = {(o["label"], o["dataset"]): o for o in result["rows"]}
    labels = list(dict.fromkeys(o["label"] for o in result["rows"]))
    pad = max(map(len, labels))
    others = {o["dataset"]: o["metric"] for o in result["rows"] if o.get("metric", "accuracy") not in ACCURACY_METRICS}
    lines = [f"{result['title']} vs run {result['run']} (top-1 %, delta = run - paper)"]
    lines += [f"  {d}: {m} (%), not top-1" for d, m in others.items()]
    lines.append(" " * (pad + 7) + "".join(c.rjust(width) for c in cols))
    for label in labels:
        for what, fmt in (("paper", "{:.1f}"), ("run", "{:.2f}"), ("delta", "{:+.2f}")):
            vals = [fmt.format(cell[label, c][what]) if (label, c) in cell else "" for c in cols]
            lines.append(f"{label if what == 'paper' else '':<{pad}} {what:>6}" + "".join(v.rjust(width) for v in vals))
    deltas = np.abs([o["delta"] for o in result["rows"]])
    lines.append(f"\n{len(deltas)} cells: mean |delta| {deltas.mean():.2f} pp, max |delta| {deltas.max():.2f} pp")
    if result["missing"]:
        lines.append(f"not in the run: {', '.join(result['missing'])}")
    for problem in result.get("warnings", []):
        lines.append(f"warning: {problem} (compared because of --allow-mismatch)")
    return "\n".join(lines)
