"""What the browser needs to redraw every alpha-dependent number and chart without the server.

`run_payload(ra, ...)` reduces a prepared run (explorer.state.RunArrays) to per-alpha tables, once
per (run, eval set, compared alpha, class filter): alphas (G,) x sets accuracy and loss, per-class
accuracy (G, C) of the selected set, fixed/broken counts (G, S, 2) against the compared alpha,
effective robustness (G,), the alphas worth marking, and each set's metric beyond top-1 (G,) where its
benchmark reports one (`extra_payload`: WILDS macro F1 / worst-region accuracy, video pm-0 / pm-k).
`paper_payload(sweep)` does the same for a published sweep. Both return plain JSON-able dicts
(NaN -> None) typed in explorer/payload.py, the contract with explorer/components/live/, which
draws them. Sizes: 21 alphas x 6 sets x 10 classes is about 10 kB of JSON; a 1,000-class ImageNet
run with 101 alphas, about 1 MB (the per-class table dominates).

Measured and rejected: plotly frames driven by a plotly slider (every frame re-sends all traces,
and the metric tiles, which are not plotly, would still need the server).
"""

from __future__ import annotations

import numpy as np

from core.results import metrics
from core.results import uncertainty as U
from explorer import charts, paper, state
from explorer.payload import ExtraMetric, Intervals, Marks, Overlay, Payload, RunPayload, SetInfo

AVG_OOD = state.AVG_OOD
ZERO_SHOT = "zero-shot"  # an endpoint label that marks a path starting at a zero-shot model


def json_floats(values) -> list:
    """Floats rounded to 6 digits, NaN as None (JSON has no NaN)."""
    arr = np.asarray(values, dtype=float)
    out = np.round(arr, 6).tolist()
    if arr.ndim == 1:
        return [None if np.isnan(v) else v for v in out]
    return [json_floats(row) for row in arr]


def starts_at_zero_shot(endpoints: tuple[str, str]) -> bool:
    """Effective robustness is the paper's measure for paths that start at a zero-shot model;
    on paths between two scratch or two fine-tuned models it would mislead (lmc-scratch, 2.9 pp at
    chance accuracy), so it is shown only when theta_0's label says zero-shot."""
    return ZERO_SHOT in endpoints[0].lower()


def best_alphas(alphas: np.ndarray, curves: dict[str, np.ndarray]) -> dict[str, float]:
    """The alpha of highest accuracy per curve (the first, on ties); NaN-only curves are skipped."""
    best = {}
    for name, acc in curves.items():
        acc = np.asarray(acc, dtype=float)
        if np.isfinite(acc).any():
            best[name] = float(alphas[int(np.nanargmax(acc))])
    return best


def flip_table(ra: state.RunArrays, ref_alpha: float, cls: int | None) -> dict[str, list]:
    """{set: (G, 2) [fixed, broken]} from ref_alpha to every alpha of the view grid; only examples of
    true class `cls` when given (the class filter of the gallery)."""
    table, r = {}, int(np.argmin(np.abs(ra.alphas - ref_alpha)))  # the compared alpha is a grid point
    for name, s in ra.sets.items():
        right = s.correct  # (G, N) bool
        ref = right[r]  # (N,)
        keep = np.ones(len(ref), bool) if cls is None else s.labels == cls
        fixed = (right & ~ref & keep).sum(axis=1)  # (G,)
        broken = (~right & ref & keep).sum(axis=1)
        table[name] = np.stack([fixed, broken], -1).tolist()
    return table


def _sets(names: list[str], id_name: str, ood: list[str]) -> list[SetInfo]:
    colors = charts.dataset_colors(names, id_name)
    role = {id_name: "ID", AVG_OOD: "avg"} | {n: "OOD" for n in ood}
    return [{"name": n, "label": charts.pretty(n), "role": role.get(n, ""), "color": colors[n]} for n in names]


def run_payload(
    ra: state.RunArrays,
    dataset: str | None = None,
    ref_alpha: float = 0.0,
    cls: int | None = None,
    y_name: str = AVG_OOD,
    alpha: float = 0.5,
) -> RunPayload:
    """Everything the live view draws for one run; see the module docstring."""
    dataset = dataset or ra.id_name
    curves = ra.accuracy_curves()
    names = list(curves)
    endpoints = tuple(ra.run.endpoints)
    has_ood = bool(ra.ood_names)
    fit = state.trend(ra, y_name) if has_ood else None
    er = None
    if has_ood and fit is not None and starts_at_zero_shot(endpoints):
        er = json_floats(metrics.effective_robustness(curves[ra.id_name], curves[y_name], fit))
    points = state.baseline_points(ra, y_name) if has_ood else []
    per_class = np.stack([state.per_class_accuracy(ra, dataset, float(a)) for a in ra.alphas])  # (G, C)
    lo, hi = state.endpoint_alphas(ra)
    return {
        "mode": "run",
        "title": ra.run.name,
        "alphas": json_floats(ra.alphas),
        "alpha": float(alpha),
        "ends": [lo, hi],
        "endpoints": list(endpoints),
        "id_name": ra.id_name,
        "sets": _sets(names, ra.id_name, ra.ood_names),
        "acc": {n: json_floats(c) for n, c in curves.items()},
        "loss": {n: json_floats(c) for n, c in ra.loss_curves().items()},
        "barrier": {n: round(float(b), 6) for n, b in state.barriers(ra).items()},
        "ref_alpha": float(ref_alpha),
        "dataset": dataset,
        "classnames": list(ra.classnames),
        "class_filter": None if cls is None else ra.classnames[cls],
        "per_class": json_floats(per_class),
        "flips": flip_table(ra, ref_alpha, cls),
        "scatter": None
        if not has_ood
        else {
            "y_name": y_name,
            "y_label": charts.pretty(y_name),
            "baselines": [[m, x, y] for m, x, y in points],
            "fit": None if fit is None else [float(fit[0]), float(fit[1])],
            "er": er,
            "er_note": _er_note(fit, endpoints),
            **scatter_axes(
                [curves[ra.id_name], curves[y_name], *np.asarray(points)[:, 1:].T.astype(float)]
                if points
                else [curves[ra.id_name], curves[y_name]]
            ),
        },
        "marks": _marks(ra.alphas, curves, ra.id_name, ra.ood_names),
        "extra": extra_payload(ra),
        "overlay": None,
        "ci": intervals_payload(ra, y_name if er is not None else None),
    }


def _bounds(band: U.Band) -> list[list[float]]:
    """[lo (G,), hi (G,)] to 5 digits (0.001 pp; the page shows 0.1): two long lists, not G short ones, which JSON
    writes 3x faster (the app serialises the payload on every rerun)."""
    return np.round(np.stack([band.lo, band.hi]), 5).tolist()


def intervals_payload(ra: state.RunArrays, er_y: str | None = None) -> Intervals:
    """95% intervals of what the tiles and the loss chart show, at every alpha of the view grid, from each example's
    correctness (core.results.uncertainty's closed forms): each accuracy, its change since either end (paired over
    the set's examples) with the sign that change's interval supports, effective robustness on `er_y` (None: not
    shown) and each set's chord barrier. Computed once per run and `er_y` (kept in ra.memo): a change of the eval
    set, the compared alpha or the class filter reuses them."""
    key = ("intervals", er_y)
    if key not in ra.memo:
        ra.memo[key] = _intervals(ra, er_y)
    return ra.memo[key]


def _intervals(ra: state.RunArrays, er_y: str | None) -> Intervals:
    ends = [state.view_index(ra, a) for a in state.endpoint_alphas(ra)]
    correct = {n: s.correct for n, s in ra.sets.items()}  # (G, N) bool each
    acc = {n: U.wilson_band(c) for n, c in correct.items()}
    diff = {n: [U.paired_difference_band(c[g], c) for g in ends] for n, c in correct.items()}
    if ra.ood_names:
        ood = [correct[n] for n in ra.ood_names]
        acc[AVG_OOD] = U.mean_accuracy_band(ood)
        diff[AVG_OOD] = [U.mean_band([diff[n][k] for n in ra.ood_names]) for k in range(len(ends))]
    er = None
    if er_y is not None:
        fit = state.trend(ra, er_y)
        ood_y = [correct[n] for n in (ra.ood_names if er_y == AVG_OOD else [er_y])]
        er = U.effective_robustness_band(correct[ra.id_name], ood_y, fit)
    return {
        "acc": {n: _bounds(b) for n, b in acc.items()},
        "diff": {n: [_bounds(b) for b in pair] for n, pair in diff.items()},
        "sign": {n: [b.sign.tolist() for b in pair] for n, pair in diff.items()},
        "er": None if er is None else _bounds(er),
        "er_sign": None if er is None else er.sign.tolist(),
        "barrier": {n: _interval(U.barrier_interval(ra.run.reductions(n)["loss"], ra.run.alphas)) for n in ra.sets},
    }


def _interval(iv: U.Interval) -> list[float]:
    return [round(iv.lo, 6), round(iv.hi, 6)]


METRIC_SHORT = {"worst-region accuracy": "worst-region acc"}  # tile labels stay one line on a projector


def extra_payload(ra: state.RunArrays) -> list[ExtraMetric]:
    """One entry per set whose benchmark reports a metric beyond top-1: its (G,) values on the view grid
    (the numbers `info` and `compare` print at the sweep's alphas), drawn as a tile and a dashed curve."""
    colors = charts.dataset_colors(list(ra.accuracy_curves()), ra.id_name)
    return [
        {
            "name": n,
            "label": charts.pretty(n),
            "metric": m,
            "short": METRIC_SHORT.get(m, m),
            "color": colors[n],
            "values": json_floats(v),
        }
        for n, (m, v) in ra.extra_curves().items()
    ]


def scatter_axes(values: list) -> dict:
    """The scatter's shared logit-axis range and % ticks (charts' rules: at most ~7, never crowded)."""
    values = [np.asarray(v, dtype=float)[np.isfinite(np.asarray(v, dtype=float))] for v in values]
    lo, hi = charts.axis_range(values)
    tickvals, ticktext = charts.logit_ticks(lo, hi)
    return {"range": [lo, hi], "tickvals": tickvals, "ticktext": ticktext}


def _er_note(fit, endpoints) -> str:
    if not starts_at_zero_shot(endpoints):
        return (
            f"No effective robustness here: this path starts at '{endpoints[0]}', not at a zero-shot "
            "model, and the measure is about how a zero-shot model's robustness survives fine-tuning."
        )
    if fit is None:
        return "No baseline models in this run (baselines.csv), so no linear fit and no effective robustness."
    return ""


def _marks(alphas: np.ndarray, curves: dict, id_name: str, ood: list[str]) -> Marks:
    """alpha = 0.5, the best alpha on ID data (what someone without OOD data picks), each shift's best."""
    best = best_alphas(np.asarray(alphas), curves)
    return {
        "half": 0.5 if np.isclose(alphas, 0.5).any() else None,
        "best_id": best.get(id_name),
        "best": {n: best[n] for n in [*ood, AVG_OOD] if n in best},
    }


def paper_payload(sweep: paper.PaperSweep, alpha: float = 0.5, fit: tuple[float, float] | None = None) -> Payload:
    """A published sweep for the live view: accuracies only (the tables have no loss or examples)."""
    names = [paper.ID_NAME, *sweep.ood_names, AVG_OOD]
    curves = {n: sweep.accuracy[n] for n in names}
    er = None
    if fit is not None:
        er = json_floats(metrics.effective_robustness(curves[paper.ID_NAME], curves[AVG_OOD], fit))
    return {
        "mode": "paper",
        "title": sweep.label,
        "alphas": json_floats(sweep.alphas),
        "alpha": float(alpha),
        "ends": [0.0, 1.0],
        "endpoints": ["zero-shot", "fine-tuned"],
        "id_name": paper.ID_NAME,
        "sets": _sets(names, paper.ID_NAME, sweep.ood_names),
        "acc": {n: json_floats(c) for n, c in curves.items()},
        "loss": None,
        "barrier": {},
        "per_class": None,
        "flips": None,
        "extra": [],
        "scatter": {
            "y_name": AVG_OOD,
            "y_label": "avg of 5 shifts",
            "baselines": [],
            "fit": None if fit is None else [float(fit[0]), float(fit[1])],
            "er": er,
            "er_note": "" if fit else "No fit: fewer than two published fine-tuned models.",
            "fit_label": "fit through the fine-tuned ends (α=1) of the published sweeps",
            **scatter_axes([curves[paper.ID_NAME], curves[AVG_OOD]]),
        },
        "marks": _marks(sweep.alphas, curves, paper.ID_NAME, sweep.ood_names),
        "overlay": None,
        "ci": None,
    }


def overlay(name: str, alphas, id_curve, y_curve, endpoints=("zero-shot", "fine-tuned")) -> Overlay:
    """A second path drawn thin and dashed on the accuracy and scatter charts (Compare)."""
    return {
        "name": name,
        "alphas": json_floats(alphas),
        "x": json_floats(id_curve),
        "y": json_floats(y_curve),
        "endpoints": list(endpoints),
    }
