"""A run's accuracies beside the paper's published numbers: `python -m core compare --run RUN --reference table5`.

The reference tables are tidy CSVs (table,model,finetune,method,alpha,dataset,metric,value; see
data/paper/README.md). A reference row is matched to the run by dataset name (case and punctuation
ignored: the run's `imagenet-r` is the paper's `ImageNet-R`) and by alpha: sweep rows by their alpha,
"zero-shot" rows at alpha 0, "standard fine-tuning" at alpha 1, "optimal alpha" rows by the best
grid alpha of that column. `avg_shifts` / `avg_ref_shifts` are recomputed from the run when it has
all five ImageNet shifts. Differences are recomputed too: Table 3's optimal minus alpha 0.5, Table 2's
gain over fine-tuning. Rows of methods off the WiSE-FT path (CoOp, output-space ensembles with
another network, a model alone) have no counterpart in a run and are reported as such. Output-space ensemble rows (Table 13) are
matched to the run's ensemble of its two ends (core.results.ensembles, mixing logits), "no ensemble (model
alone)" to its fine-tuned end. Each run
accuracy comes with its 95% interval over the run's examples (Wilson per set; the averages resample
each set on its own), so a delta can be read against the run's noise; the paper's own numbers are
printed without one (their sampling noise is not published).

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

from core.results import uncertainty
from core.results.extra_metrics import run_extra_metrics
from core.results.report import accuracy_grid, hit_grid, interval_grid
from core.runs.artifacts import Run

PAPER_DIR = Path(__file__).resolve().parents[2] / "data" / "paper"  # every table ships in the repository
ACCURACY_METRICS = ("accuracy", "top-1")
EXTRA_METRICS = ("macro F1", "worst-region accuracy", "pm-0", "pm-k")  # core.results.extra_metrics
# differences of two accuracies on the path: metric -> (the alpha subtracted, how the label names it)
DIFFERENCE_METRICS = {
    "accuracy_difference_pp": (0.5, "alpha 0.50"),  # Table 3
    "gain_vs_standard_finetuning_pp": (1.0, "fine-tuned"),
}  # Table 2
SHIFTS = ("imagenetv2", "imagenetr", "imagenetsketch", "objectnet", "imageneta")


# the paper's dataset names (normalised) -> the registered dataset (core.data.shifts) they were measured on
PAPER_DATASETS = {
    "imagenet": "imagenet",
    "imagenetv2": "imagenetv2",
    "imagenetr": "imagenet-r",
    "imagenetsketch": "imagenet-sketch",
    "objectnet": "objectnet",
    "imageneta": "imagenet-a",
    "cifar10": "cifar10",
    "cifar101": "cifar10.1",
    "cifar102": "cifar10.2",
    "cifar100": "cifar100",
    "food101": "food101",
    "cars": "stanford-cars",
    "dtd": "dtd",
    "sun397": "sun397",
    "wildsiwildcamidtest": "iwildcam:id_test",
    "wildsiwildcamoodtest": "iwildcam:ood_test",
    "wildsfmowidtest": "fmow:id_test",
    "wildsfmowoodtest": "fmow:ood_test",
    "imagenetvidrobust": "imagenet-vid-robust",
    "ytbbrobust": "ytbb-robust",
}
DEFAULT_SPLITS = ("", "val", "test", "v6")  # a spec without a split means the table's (test) split


def list_tables() -> list[str]:
    """The paper tables `load_reference` finds by name (table2, table4, ...), in number order."""
    found = {
        re.match(r"wiseft_paper_(table\d+)_", p.name).group(1) for p in PAPER_DIR.glob("wiseft_paper_table*_*.csv")
    }
    return sorted(found, key=lambda t: int(t[5:]))


def norm_name(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def load_reference(table: str) -> list[dict]:
    """Rows of a reference CSV given its path, or a table name: 'table5', '5', 'Table 5' or a file
    stem, looked up in data/paper/. A comma joins tables: 'table2,table6'."""
    if "," in table and not Path(table).is_file():
        return [row for part in table.split(",") for row in load_reference(part.strip())]
    path = Path(table)
    if not path.is_file() and (path.suffix == ".csv" or len(path.parts) > 1):  # a path, not a table name
        raise ValueError(
            f"reference {table}: no such CSV file; give an existing CSV or a table name ({', '.join(list_tables())})"
        )
    if not path.is_file():
        number = re.fullmatch(r"(?:table)?(\d+)", norm_name(table))
        found = sorted(PAPER_DIR.glob(f"wiseft_paper_table{number.group(1)}_*.csv" if number else f"{table}.csv"))
        if not found:
            raise ValueError(
                f"no reference table {table!r}: give a CSV path or a table of {PAPER_DIR} ({', '.join(list_tables())})"
            )
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


def _run_intervals(run: Run) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """95% intervals (%) of `_run_accuracy`'s values, keyed alike: {key: (lo (A,), hi (A,))}."""
    out = {norm_name(name): (100 * lo, 100 * hi) for name, (lo, hi) in interval_grid(run).items() if name != "avg_ood"}
    if all(s in out for s in SHIFTS):
        hits, names = hit_grid(run), {norm_name(n): n for n in run.dataset_names}
        out["avgshifts"] = _mean_interval(run, hits, [names[s] for s in SHIFTS], None)
        if "imagenet" in out:  # (ImageNet + the shifts' mean) / 2
            out["avgrefshifts"] = _mean_interval(
                run, hits, [names[k] for k in ("imagenet", *SHIFTS)], [0.5] + [0.5 / len(SHIFTS)] * len(SHIFTS)
            )
    return out


def _mean_interval(run: Run, hits: dict, sets: list[str], weights: list[float] | None) -> tuple[np.ndarray, np.ndarray]:
    ivs = [
        uncertainty.mean_accuracy_interval([int(hits[s][0][i]) for s in sets], [hits[s][1] for s in sets], weights)
        for i in range(len(run.alphas))
    ]
    return 100 * np.array([iv.lo for iv in ivs]), 100 * np.array([iv.hi for iv in ivs])


def _run_extra_metrics(run: Run) -> dict[tuple[str, str], np.ndarray]:
    """{(normalised dataset, metric): (A,) values in %} for the sets whose manifest entry names a
    metric beyond top-1 (WILDS, video sets; see core.results.extra_metrics)."""
    return {
        (norm_name(name), metric): 100 * np.asarray(values) for name, (metric, values) in run_extra_metrics(run).items()
    }


def is_output_ensemble(row: dict) -> bool:
    """A row of an output-space ensemble (Table 13): matched to the run's ensemble of its two ends."""
    return "output-space ensemble" in row["method"].lower()


def _path_alpha(row: dict) -> float | str | None:
    """The point on the path a reference row reports: an alpha, "optimal", or None when the row's method has
    no counterpart in a run (CoOp, an ensemble with another network, ...). Output-space ensemble rows are points
    of the run's ensemble curve; "no ensemble (model alone)" is its fine-tuned end."""
    method = row["method"].lower()
    if not (
        is_output_ensemble(row)
        or method.startswith(("zero-shot", "standard fine-tuning", "wise-ft", "no ensemble (model alone)"))
    ):
        return None
    if "optimal alpha" in method:
        return "optimal"
    if row["alpha"].strip():
        return float(row["alpha"])
    if method.startswith("zero-shot"):
        return 0.0
    return 1.0 if method.startswith(("standard fine-tuning", "no ensemble (model alone)")) else None


def _index(values: np.ndarray, alphas: np.ndarray, alpha: float | str) -> int | None:
    """The grid index of an alpha (None off the grid), or of the run's best over the grid ("optimal")."""
    if alpha == "optimal":
        return int(np.argmax(values))
    hit = np.flatnonzero(np.abs(alphas - alpha) < 1e-6)
    return int(hit[0]) if hit.size else None


def _run_value(row: dict, values: np.ndarray, alphas: np.ndarray) -> tuple[str, float, int | None] | None:
    """(row label, run value, its grid index) for a reference row on the path, or None when the run has no
    such point; the index is None for a difference of two alphas (no single accuracy's interval). `values`
    are the run's WiSE-FT curve, or its output-space ensemble's for is_output_ensemble rows."""
    alpha = _path_alpha(row)
    i = None if alpha is None else _index(values, alphas, alpha)
    value = None if i is None else float(values[i])
    prefix = "output-space ensemble, " if is_output_ensemble(row) else ""
    if alpha == "optimal":
        label = f"{prefix}optimal alpha"
    else:
        label = f"{prefix}alpha {alpha:.2f}" if row["alpha"].strip() else f"{row['method']} ({alpha:g})"
    if row.get("metric") in DIFFERENCE_METRICS:
        base, name = DIFFERENCE_METRICS[row["metric"]]
        j = _index(values, alphas, base)
        value, label = (None if value is None or j is None else value - float(values[j])), f"{label} - {name} (pp)"
        i = None
    return None if value is None else (label, value, i)


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


def compare(
    run: Run, reference: list[dict], model: str | None = None, finetune: str | None = None, allow_mismatch: bool = False
) -> dict:
    """Match a run's accuracies to a reference table's rows.

    Raises ValueError when the run's model or datasets are not the table's, unless allow_mismatch.
    Returns {"title", "datasets", "missing", "rows": [{label, dataset, run, lo, hi, paper, delta, metric}]},
    accuracies in %; lo, hi: the run value's 95% interval (None for metrics beyond top-1).
    """
    finetune = finetune or run.manifest.get("finetune", {}).get("mode", "end-to-end")
    rows = [
        r
        for r in reference
        if r.get("metric", "accuracy") in (*ACCURACY_METRICS, *EXTRA_METRICS, *DIFFERENCE_METRICS)
        and r.get("finetune", "none") in (finetune, "none")
    ]
    if not rows:
        raise ValueError(f"the reference has no {finetune} accuracy rows")

    def on_path(r: dict) -> bool:  # Table 13's other networks (an ensemble with zero-shot CLIP, a model alone) count
        # as the run's own output-space ensemble and fine-tuned end only when --model names that network
        other = is_output_ensemble(r) or r["method"].lower().startswith("no ensemble")
        return _path_alpha(r) is not None and (
            not other or (model is not None and norm_name(model) in norm_name(r["model"]))
        )

    off_path = list(dict.fromkeys(f"{r['model']}: {r['method']}" for r in rows if not on_path(r)))
    if not (rows := [r for r in rows if on_path(r)]):
        raise ValueError(f"no row of the reference has a counterpart in a run (their methods: {'; '.join(off_path)})")
    chosen = _pick_model(rows, model, run)
    rows = [r for r in rows if r["model"] == chosen]
    problems = [_model_mismatch(run, chosen)] + dataset_mismatches(run, rows)
    if (problems := [p for p in problems if p]) and not allow_mismatch:
        raise ValueError(
            f"run {run.name!r} does not reproduce this table: {'; '.join(problems)}. Its deltas "
            "would mean nothing; pass --allow-mismatch to compare anyway"
        )
    acc, extra, alphas, ci = _run_accuracy(run), _run_extra_metrics(run), run.alphas, _run_intervals(run)
    ens = _run_ensemble_accuracy(run) if any(map(is_output_ensemble, rows)) else {}
    out, missing = [], []
    for r in rows:
        key, metric = norm_name(r["dataset"]), r.get("metric", "accuracy")
        on_accuracy = metric in ACCURACY_METRICS or metric in DIFFERENCE_METRICS
        values = acc.get(key) if on_accuracy else extra.get((key, metric))
        if is_output_ensemble(r):
            values = ens.get(key) if metric in ACCURACY_METRICS else None
        if values is None:
            missing.append(r["dataset"] if on_accuracy else f"{r['dataset']} ({metric})")
            continue
        matched = _run_value(r, values, alphas)
        if matched:
            (label, value, i), paper = matched, float(r["value"].lstrip("+"))
            with_ci = metric in ACCURACY_METRICS and i is not None and key in ci and not is_output_ensemble(r)
            lo, hi = (float(ci[key][0][i]), float(ci[key][1][i])) if with_ci else (None, None)
            out.append(
                {
                    "label": label,
                    "dataset": r["dataset"],
                    "run": value,
                    "lo": lo,
                    "hi": hi,
                    "paper": paper,
                    "delta": value - paper,
                    "metric": metric,
                }
            )
    if not out:
        raise ValueError(f"no reference row matches the run's datasets {run.dataset_names} and alphas")
    tables = ", ".join(dict.fromkeys(r.get("table", "reference") for r in rows))
    return {
        "title": f"{tables}: {chosen}, {finetune}",
        "run": run.name,
        "datasets": list(dict.fromkeys(o["dataset"] for o in out)),
        "missing": list(dict.fromkeys(missing)),
        "off_path": off_path,
        "rows": out,
        "warnings": problems,
    }


def format_comparison(result: dict) -> str:
    """Four lines per row label (paper, run, the run's 95% interval, delta), one column per dataset,
    accuracies in %; then how many paper numbers lie inside the run's interval."""
    cols = result["datasets"]
    width = max(14, *(len(c) + 2 for c in cols))
    cell = {(o["label"], o["dataset"]): o for o in result["rows"]}
    labels = list(dict.fromkeys(o["label"] for o in result["rows"]))
    pad = max(map(len, labels))
    others = {o["dataset"]: o["metric"] for o in result["rows"] if o.get("metric", "accuracy") in EXTRA_METRICS}
    lines = [f"{result['title']} vs run {result['run']} (top-1 %, delta = run - paper; 95% CI: the run's interval)"]
    lines += [f"  {d}: {m} (%), not top-1" for d, m in others.items()]
    lines.append(" " * (pad + 7) + "".join(c.rjust(width) for c in cols))
    for label in labels:
        for what in ("paper", "run", "95% CI", "delta"):
            vals = [_comparison_cell(cell[label, c], what) if (label, c) in cell else "" for c in cols]
            lines.append(f"{label if what == 'paper' else '':<{pad}} {what:>6}" + "".join(v.rjust(width) for v in vals))
    deltas = np.abs([o["delta"] for o in result["rows"]])
    lines.append(f"\n{len(deltas)} cells: mean |delta| {deltas.mean():.2f} pp, max |delta| {deltas.max():.2f} pp")
    with_ci = [o for o in result["rows"] if o.get("lo") is not None]
    if with_ci:
        inside = sum(o["lo"] <= o["paper"] <= o["hi"] for o in with_ci)
        lines.append(
            f"{inside} of {len(with_ci)} paper numbers lie inside the run's 95% interval"
            + (
                " (optimal alpha: the interval at the alpha the run's own test set picked)"
                if "optimal alpha" in labels
                else ""
            )
        )
    if result["missing"]:
        lines.append(f"not in the run: {', '.join(result['missing'])}")
    if result.get("off_path"):
        lines.append(f"no counterpart in a run (off the WiSE-FT path): {'; '.join(result['off_path'])}")
    for problem in result.get("warnings", []):
        lines.append(f"warning: {problem} (compared because of --allow-mismatch)")
    return "\n".join(lines)


def _comparison_cell(row: dict, what: str) -> str:
    if what == "95% CI":
        return "" if row.get("lo") is None else f"[{row['lo']:.1f}, {row['hi']:.1f}]"
    return {"paper": "{:.1f}", "run": "{:.2f}", "delta": "{:+.2f}"}[what].format(row[what])
