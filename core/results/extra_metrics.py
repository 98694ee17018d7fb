"""Metrics beyond top-1 that the paper's Table 6 reports (numpy only, like core.results.metrics).

    macro_f1(logits, labels)                         WILDS iWildCam: mean F1 over the classes in labels
    worst_group_accuracy(logits, labels, groups)     WILDS FMoW OOD test: the worst region's accuracy
    pm_k(logits, labels, anchors)                    ImageNet-Vid-Robust / YTBB-Robust: pm-0 and pm-k

Every function takes logits of shape (N, C) or (A, N, C) (one row per alpha of a sweep) and
returns a float or an (A,) array, in [0, 1]. Each needs only the predicted classes, so
`dataset_metric(pred, labels, info)` takes predictions (N,) or (A, N): a run's stored reductions,
never its logit tensor (reductions-only and ImageNet-size runs too). It picks the metric a
dataset's manifest entry names (its `metric`, written by the dataset families in
core.data.wilds), so compare, reports and the explorer compute the same numbers.
"""

from __future__ import annotations

import numpy as np


def _predictions(logits: np.ndarray) -> np.ndarray:
    return np.asarray(logits).argmax(-1)  # (N,) or (A, N)


def macro_f1(logits: np.ndarray, labels: np.ndarray) -> np.ndarray | float:
    """Mean F1 over the classes present in `labels` (WILDS' F1(average='macro'): sklearn's f1_score
    with labels=unique(y_true); a class never predicted has precision 0, so F1 0)."""
    return _macro_f1(_predictions(logits), labels)


def _macro_f1(pred: np.ndarray, labels: np.ndarray) -> np.ndarray | float:
    labels = np.asarray(labels)
    classes = np.unique(labels)
    scores = []
    for c in classes:
        tp = ((pred == c) & (labels == c)).sum(-1)  # (A,) or ()
        predicted, actual = (pred == c).sum(-1), (labels == c).sum()
        scores.append(np.where(tp > 0, 2 * tp / np.maximum(predicted + actual, 1), 0.0))
    out = np.mean(scores, axis=0)
    return float(out) if np.ndim(out) == 0 else out


def worst_group_accuracy(
    logits: np.ndarray, labels: np.ndarray, groups: np.ndarray, ignore: tuple[int, ...] = ()
) -> np.ndarray | float:
    """The lowest accuracy over the groups (e.g. FMoW's regions) that have examples, skipping
    the group ids in `ignore` (WILDS skips 'Other')."""
    return _worst_group_accuracy(_predictions(logits), labels, groups, ignore)


def _worst_group_accuracy(
    pred: np.ndarray, labels: np.ndarray, groups: np.ndarray, ignore: tuple[int, ...] = ()
) -> np.ndarray | float:
    correct = pred == np.asarray(labels)  # (N,) or (A, N)
    groups = np.asarray(groups)
    per_group = [correct[..., groups == g].mean(-1) for g in np.unique(groups) if g not in ignore]
    out = np.min(per_group, axis=0)
    return float(out) if np.ndim(out) == 0 else out


def pm_k(logits: np.ndarray, labels: np.ndarray, anchors: np.ndarray, extra_labels=(), unlabelled=()) -> tuple:
    """(pm-0, pm-k) of a video robustness set, as the benchmark's evaluation script scores them.

    anchors: (N,) for each frame, the index of its anchor frame (an anchor points to itself).
    extra_labels: [frame, label] pairs of further correct labels (a frame may have several).
    unlabelled: frames whose label list is empty: never right (the benchmark's script scores them so).
    pm-0 is the accuracy on the anchors; pm-k counts an anchor as correct only when it and every
    frame of its set are classified correctly (Shankar et al., 2021).
    """
    return _pm_k(_predictions(logits), labels, anchors, extra_labels, unlabelled)


def _pm_k(pred: np.ndarray, labels: np.ndarray, anchors: np.ndarray, extra_labels=(), unlabelled=()) -> tuple:
    correct = pred == np.asarray(labels)
    for frame, label in extra_labels:
        correct[..., frame] |= pred[..., frame] == label
    correct[..., list(unlabelled)] = False
    anchors = np.asarray(anchors)
    heads = np.flatnonzero(anchors == np.arange(len(anchors)))
    pm0 = correct[..., heads].mean(-1)
    all_ok = np.stack([correct[..., anchors == h].all(-1) for h in heads], axis=-1)  # (..., K)
    pmk = all_ok.mean(-1)
    as_out = lambda v: float(v) if np.ndim(v) == 0 else v
    return as_out(pm0), as_out(pmk)


def dataset_metric(pred: np.ndarray, labels: np.ndarray, info: dict) -> tuple[str, np.ndarray | float]:
    """(metric name, value) of a dataset per its manifest entry's `metric` (default: accuracy), from
    its predicted classes pred (N,) or (A, N)."""
    metric = info.get("metric", "accuracy")
    if metric == "macro F1":
        return metric, _macro_f1(pred, labels)
    if metric == "worst-region accuracy":
        names = info.get("group_names", [])
        ignore = tuple(names.index(g) for g in info.get("ignore_groups", []) if g in names)
        return metric, _worst_group_accuracy(pred, labels, np.asarray(info["groups"]), ignore)
    if metric in ("pm-0", "pm-k"):
        pm0, pmk = _pm_k(
            pred, labels, np.asarray(info["anchors"]), info.get("extra_labels", ()), info.get("unlabelled", ())
        )
        return metric, pm0 if metric == "pm-0" else pmk
    acc = (np.asarray(pred) == np.asarray(labels)).mean(-1)
    return "accuracy", float(acc) if np.ndim(acc) == 0 else acc


def run_extra_metrics(run) -> dict[str, tuple[str, np.ndarray]]:
    """{dataset name: (metric, (A,) values in [0, 1])} for a run's eval sets whose manifest entry
    names a metric beyond top-1 (run: a core.runs.artifacts.Run; only its datasets, stored predictions
    and labels are read, so this module stays numpy-only and never loads a logit tensor)."""
    out = {}
    for d in run.datasets:
        if d.get("metric", "accuracy") != "accuracy":
            out[d["name"]] = dataset_metric(run.reductions(d["name"])["pred"], run.labels(d["name"]), d)
    return out


def format_extra_metrics(run) -> str:
    """The extra metrics as a fixed-width table (one row per alpha, values in %), or '' if none."""
    extra = run_extra_metrics(run)
    if not extra:
        return ""
    cols = [f"{name} [{metric}]" for name, (metric, _) in extra.items()]
    width = max(9, *(len(c) + 2 for c in cols))
    lines = ["metrics beyond top-1 (%):", "alpha".rjust(6) + "".join(c.rjust(width) for c in cols)]
    for i, a in enumerate(run.alphas):
        lines.append(f"{a:6.3g}" + "".join(f"{100 * np.asarray(v)[i]:{width}.2f}" for _, v in extra.values()))
    return "\n".join(lines)
