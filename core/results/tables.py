"""Results as pandas DataFrames: a run's metrics, its baselines, the effective-robustness fit, the
paper's tables and `compare`'s output, plus one layout that prints any of them as the paper does.

Tidy frames hold one number per row, so they filter, pivot and concatenate:

    tables.metrics_frame(run)        dataset, role, alpha, metric, value, lo, hi, n   (value in [0, 1] / nats)
    tables.baselines_frame(run)      model, dataset, role, accuracy
    tables.robustness_frame(run)     alpha, ood, id_accuracy, ood_accuracy, predicted_ood, effective_robustness,
                                     er_lo, er_hi, slope, intercept
    tables.reference_frame("table5") the paper's CSV with numeric value and alpha
    tables.comparison_frame(result)  compare.compare()'s rows: method, alpha, dataset, run, run_lo, run_hi, paper, delta
    tables.ensemble_accuracy_frame(run)  the output-space ensemble of the two ends (core.results.ensembles)

lo and hi are the ends of a 95% interval over the eval set's examples (core.results.uncertainty; Wilson
for an accuracy). `paper_layout(frame)` turns any frame with method, alpha, dataset, role and a value
column into the paper's table: rows (method, alpha), columns ID, each shift, "avg shifts". `run_table(run)`
is that layout for a run, accuracies in %, and `run_interval_tables(run)` its intervals' ends.
pandas is imported inside the functions: `core` stays light to import (the sweep and the CLI's other
verbs never load it).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np

from core.results import metrics, uncertainty
from core.results.report import hit_grid, interval_grid
from core.runs.artifacts import Run

if TYPE_CHECKING:
    import pandas as pd

AVG_SHIFTS = "avg shifts"  # the paper's "Avg shifts" column: mean over the OOD columns of a row
PAPER_AVERAGES = {"avg_shifts": AVG_SHIFTS, "avg_ref_shifts": "avg reference, shifts"}
PAPER_ID_SETS = ("ImageNet",)  # the paper's reference (ID) column; other reference columns are shifts
FORMATS = ("csv", "markdown", "latex")


def _pd():
    import pandas  # imported lazily: ~0.3 s, and only table users need it

    return pandas


def metrics_frame(run: Run) -> pd.DataFrame:
    """A run's metrics.csv, tidy: one row per (dataset, alpha, metric); metric is accuracy (in [0, 1])
    or loss (mean cross-entropy, nats); lo, hi: the accuracy's 95% Wilson interval (NaN for the loss)."""
    rows = []
    for r in run.metrics_rows():
        ci = uncertainty.wilson(round(r["accuracy"] * r["n"]), r["n"])
        rows += [
            {
                "dataset": r["dataset"],
                "role": r["role"],
                "alpha": r["alpha"],
                "metric": "accuracy",
                "value": r["accuracy"],
                "lo": ci.lo,
                "hi": ci.hi,
                "n": r["n"],
            },
            {
                "dataset": r["dataset"],
                "role": r["role"],
                "alpha": r["alpha"],
                "metric": "loss",
                "value": r["loss"],
                "lo": np.nan,
                "hi": np.nan,
                "n": r["n"],
            },
        ]
    return _pd().DataFrame(rows, columns=["dataset", "role", "alpha", "metric", "value", "lo", "hi", "n"])


def baselines_frame(run: Run) -> pd.DataFrame:
    """The run's baseline models' accuracies: model, dataset, role (of that set in the run), accuracy."""
    roles = {d["name"]: d["role"] for d in run.datasets} if run.has_sweep else {}
    rows = [
        {"model": r["model"], "dataset": r["dataset"], "role": roles.get(r["dataset"], ""), "accuracy": r["accuracy"]}
        for r in run.baselines()
    ]
    return _pd().DataFrame(rows, columns=["model", "dataset", "role", "accuracy"])


def baseline_trend(run: Run, ood: str = "avg_ood") -> tuple[float, float]:
    """(slope, intercept) of logit(OOD) vs logit(ID) over the run's baselines (metrics.fit_linear_trend);
    `ood` is one OOD set or 'avg_ood' (each baseline's mean over the run's OOD sets)."""
    acc = {(r["model"], r["dataset"]): r["accuracy"] for r in run.baselines()}
    models = list(dict.fromkeys(m for m, _ in acc))
    sets = run.ood_datasets if ood == "avg_ood" else [ood]
    models = [m for m in models if all((m, d) in acc for d in [run.id_dataset, *sets])]
    id_acc = np.array([acc[m, run.id_dataset] for m in models])
    ood_acc = np.array([np.mean([acc[m, d] for d in sets]) for m in models])
    return metrics.fit_linear_trend(id_acc, ood_acc)


def robustness_frame(run: Run) -> pd.DataFrame:
    """Effective robustness along the run's path, per OOD set and for their average ('avg_ood'):
    alpha, ood, id_accuracy, ood_accuracy, predicted_ood (the baselines' fit at that ID accuracy),
    effective_robustness, er_lo, er_hi (its 95% interval: a bootstrap over the ID examples and each OOD
    set's, the fit held fixed; all in [0, 1]), slope, intercept. Empty when the run has no baselines."""
    from core.results.report import accuracy_grid

    columns = [
        "alpha",
        "ood",
        "id_accuracy",
        "ood_accuracy",
        "predicted_ood",
        "effective_robustness",
        "er_lo",
        "er_hi",
        "slope",
        "intercept",
    ]
    if not run.baselines() or not run.ood_datasets:
        return _pd().DataFrame(columns=columns)
    grid, hits = accuracy_grid(run), hit_grid(run)
    (h_id, n_id), rows = hits[run.id_dataset], []
    for ood in [*run.ood_datasets, "avg_ood"]:
        trend, sets = baseline_trend(run, ood), run.ood_datasets if ood == "avg_ood" else [ood]
        x, y = grid[run.id_dataset], grid[ood]
        pred, er = metrics.predicted_ood(x, trend), metrics.effective_robustness(x, y, trend)
        for i, a in enumerate(run.alphas):
            ci = uncertainty.effective_robustness_counts(
                int(h_id[i]), n_id, [int(hits[d][0][i]) for d in sets], [hits[d][1] for d in sets], trend
            )
            rows.append(
                {
                    "alpha": float(a),
                    "ood": ood,
                    "id_accuracy": float(x[i]),
                    "ood_accuracy": float(y[i]),
                    "predicted_ood": float(pred[i]),
                    "effective_robustness": float(er[i]),
                    "er_lo": ci.lo,
                    "er_hi": ci.hi,
                    "slope": trend[0],
                    "intercept": trend[1],
                }
            )
    return _pd().DataFrame(rows, columns=columns)


def _number(text: str) -> float:
    text = str(text).strip().lstrip("+")
    return float(text) if text else float("nan")


def reference_frame(table: str) -> pd.DataFrame:
    """A paper table (compare.load_reference: 'table5', a path, 'table2,table6') with numeric value
    and alpha (NaN where the paper prints none) and a role per dataset: 'id' for ImageNet, 'avg' for
    the paper's average columns, 'ood' for the rest."""
    from core.results.compare import load_reference

    frame = _pd().DataFrame(load_reference(table))
    frame["value"] = frame["value"].map(_number)
    frame["alpha"] = frame["alpha"].map(_number)
    frame["role"] = ["avg" if d in PAPER_AVERAGES else "id" if d in PAPER_ID_SETS else "ood" for d in frame["dataset"]]
    frame["dataset"] = frame["dataset"].replace(PAPER_AVERAGES)
    return frame


def comparison_frame(result: dict) -> pd.DataFrame:
    """compare.compare()'s rows: method, alpha (NaN for the optimal-alpha rows), dataset, run, run_lo and
    run_hi (its 95% interval; NaN for metrics without one), paper, delta (accuracies in %), role as in
    reference_frame."""
    rows = []
    for o in result["rows"]:
        label = o["label"]
        found = re.search(r"alpha ([-0-9.]+)|\(([-0-9.]+)\)$", label)
        alpha = float(found.group(1) or found.group(2)) if found else float("nan")
        method = re.sub(r"(, )?alpha [-0-9.]+$| \([-0-9.]+\)$", "", label) or "WiSE-FT"
        role = "avg" if o["dataset"] in PAPER_AVERAGES else "id" if o["dataset"] in PAPER_ID_SETS else "ood"
        rows.append(
            {
                "method": method,
                "alpha": alpha,
                "dataset": PAPER_AVERAGES.get(o["dataset"], o["dataset"]),
                "role": role,
                "run": o["run"],
                "run_lo": _nan(o.get("lo")),
                "run_hi": _nan(o.get("hi")),
                "paper": o["paper"],
                "delta": o["delta"],
            }
        )
    return _pd().DataFrame(
        rows, columns=["method", "alpha", "dataset", "role", "run", "run_lo", "run_hi", "paper", "delta"]
    )


def _nan(v: float | None) -> float:
    return float("nan") if v is None else float(v)


def run_accuracy_frame(run: Run) -> pd.DataFrame:
    """A run's accuracies in %, in the layout's input form: method, alpha, dataset, role, value.
    The method is 'WiSE-FT', or 'theta_0 -> theta_1' for runs whose endpoints are not
    zero-shot / fine-tuned (e.g. linear-mode-connectivity paths); lo, hi: the 95% Wilson interval (%)."""
    ends = run.endpoints
    method = "WiSE-FT" if ends == ("zero-shot", "fine-tuned") else f"{ends[0]} -> {ends[1]}"
    frame = metrics_frame(run)
    frame = frame[frame["metric"] == "accuracy"].assign(
        method=method, **{c: lambda f, c=c: 100 * f[c] for c in ("value", "lo", "hi")}
    )
    return frame[["method", "alpha", "dataset", "role", "value", "lo", "hi"]].reset_index(drop=True)


def paper_layout(frame: pd.DataFrame, value: str = "value", average: bool = True) -> pd.DataFrame:
    """Lay a tidy frame out as the paper's tables: one row per (method, alpha), in order of first
    appearance (preceded by model, finetune and metric when the frame mixes several, e.g. a whole
    paper table); columns the ID sets, then each shift (role 'ood'), then the paper's own averages
    when the frame has them (role 'avg'), else AVG_SHIFTS computed as the mean of the row's shifts.

    Args:
        frame: columns method, alpha, dataset, role and `value` (a run_accuracy_frame, reference_frame,
            comparison_frame, or a baselines_frame renamed to method/value).
        value: the column to lay out ('value', or 'run' / 'paper' / 'delta' of a comparison_frame).
        average: add the AVG_SHIFTS column when there are shifts and the frame has no averages.
    """
    keys = [c for c in ("model", "finetune", "metric") if c in frame and frame[c].nunique() > 1]
    keys += ["method", "alpha"]
    order = {role: list(dict.fromkeys(frame.loc[frame["role"] == role, "dataset"])) for role in ("id", "ood", "avg")}
    table = frame.drop_duplicates(keys + ["dataset"]).set_index(keys + ["dataset"])[value].unstack("dataset")
    rows = _pd().MultiIndex.from_frame(frame[keys].drop_duplicates())
    table = table.reindex(index=rows, columns=order["id"] + order["ood"] + order["avg"])
    if average and order["ood"] and not order["avg"]:
        table[AVG_SHIFTS] = table[order["ood"]].mean(axis=1, skipna=False)
    table.columns.name = None
    return table


def ensemble_accuracy_frame(run: Run, mix: str = "logits") -> pd.DataFrame:
    """The output-space ensemble of the run's two ends (core.results.ensembles, computed from the stored
    endpoint logits) in the layout's input form: method 'output-space ensemble (MIX)', alpha, dataset,
    role, value (accuracy in %)."""
    from core.results.ensembles import output_ensemble

    rows = [
        {
            "method": f"output-space ensemble ({mix})",
            "alpha": float(a),
            "dataset": d["name"],
            "role": d["role"],
            "value": 100 * float(acc),
        }
        for d in run.datasets
        for a, acc in zip(run.alphas, output_ensemble(run, d["name"], mix).accuracy)
    ]
    return _pd().DataFrame(rows, columns=["method", "alpha", "dataset", "role", "value"])


def run_table(run: Run, ensemble: str | None = None) -> pd.DataFrame:
    """The run's accuracies (%) in the paper's layout: rows (method, alpha), columns ID, shifts, avg shifts.
    ensemble: 'logits' or 'probs' adds the output-space ensemble's rows (mixing that) after WiSE-FT's."""
    frame = run_accuracy_frame(run)
    if ensemble:
        frame = _pd().concat([frame, ensemble_accuracy_frame(run, ensemble)], ignore_index=True)
    return paper_layout(frame)


def run_interval_tables(run: Run) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ends (lo, hi) of the 95% interval of every accuracy of `run_table(run)`, in its layout (%):
    Wilson per set; for AVG_SHIFTS a bootstrap that resamples each shift on its own (report.interval_grid)."""
    frame, ci = run_accuracy_frame(run), interval_grid(run)
    out = []
    for k, end in enumerate(("lo", "hi")):
        table = paper_layout(frame, end, average=False)
        if run.ood_datasets:
            table[AVG_SHIFTS] = 100 * ci["avg_ood"][k]
        out.append(table)
    return out[0], out[1]


def interval_columns(table: pd.DataFrame, lo: pd.DataFrame, hi: pd.DataFrame) -> pd.DataFrame:
    """`table` with each column followed by its interval's ends, '<column> lo' and '<column> hi'."""
    parts = {}
    for c in table.columns:
        parts |= {c: table[c], f"{c} lo": lo[c], f"{c} hi": hi[c]}
    return _pd().DataFrame(parts, index=table.index)


def interval_cells(
    table: pd.DataFrame, lo: pd.DataFrame, hi: pd.DataFrame, digits: int = 2, pm: str = "±"
) -> pd.DataFrame:
    """Cells '96.30 ± 0.83': each value and half the width of its interval (text; empty where NaN)."""

    def cell(v, a, b):
        return "" if np.isnan(v) else f"{v:.{digits}f} {pm} {(b - a) / 2:.{digits}f}"

    return _pd().DataFrame(
        {c: [cell(*x) for x in zip(table[c], lo[c], hi[c])] for c in table.columns}, index=table.index
    )


def to_markdown(table: pd.DataFrame, digits: int = 2) -> str:
    """A GitHub markdown table (no `tabulate` needed); index levels become the first columns, and the
    value columns (numbers, or cells of `interval_cells`) are right-aligned."""
    flat = table.reset_index()
    cells = [[_cell(v, digits) for v in row] for row in flat.itertuples(index=False)]
    header = [str(c) for c in flat.columns]
    numeric = [_pd().api.types.is_numeric_dtype(flat[c]) or c in table.columns for c in flat.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" if num else ":---" for num in numeric) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines)


def _cell(v, digits: int) -> str:
    if isinstance(v, (float, np.floating)):
        return "" if np.isnan(v) else f"{v:.{digits}f}"
    return str(v)


def format_frame(
    table: pd.DataFrame, fmt: str, digits: int = 2, intervals: tuple[pd.DataFrame, pd.DataFrame] | None = None
) -> str:
    """A laid-out table as 'csv' (full precision), 'markdown' or 'latex' (`digits` decimals). With
    `intervals` (lo, hi tables of the same layout, e.g. run_interval_tables): csv gets a lo and a hi
    column after each column, markdown and latex cells 'value ± half the interval's width'."""
    if intervals is not None:
        lo, hi = intervals
        if fmt == "csv":
            table = interval_columns(table, lo, hi)
        elif fmt in ("markdown", "latex"):
            table = interval_cells(table, lo, hi, digits, "±" if fmt == "markdown" else "$\\pm$")
    if fmt == "csv":
        return table.reset_index().to_csv(index=False, float_format="%.6g").rstrip("\n")
    if fmt == "markdown":
        return to_markdown(table, digits)
    if fmt == "latex":
        flat = table.reset_index()
        align = "".join("r" if _pd().api.types.is_numeric_dtype(flat[c]) or c in table.columns else "l" for c in flat)
        return flat.to_latex(index=False, float_format=f"%.{digits}f", na_rep="", column_format=align).rstrip("\n")
    raise ValueError(f"unknown table format {fmt!r}; use one of {', '.join(FORMATS)}")
