"""Metrics over stored logits; numpy only, so the app and notebooks compute them without torch.

Shapes: logits (N, C) or (A, N, C) for A alphas; labels (N,) int.

`reduce_logits` is the one path from logits to what every reader shows: the sweep calls it per
chunk and alpha and stores its output beside the logits; `summarize` turns those reductions into
the metrics table (accuracy, mean loss) that metrics.csv, `info`, compare, the notebooks and the
explorer all read. Runs written before reductions existed get them from the same function on read.
"""

from __future__ import annotations

import numpy as np


def _f32(logits: np.ndarray) -> np.ndarray:
    return np.asarray(logits, dtype=np.float32)


def predictions(logits: np.ndarray) -> np.ndarray:
    """Arg-max class per example: (..., N, C) -> (..., N)."""
    return np.asarray(logits).argmax(axis=-1)


def accuracy(logits: np.ndarray, labels: np.ndarray) -> np.ndarray | float:
    """Top-1 accuracy in [0, 1]; (N, C) -> float, (A, N, C) -> (A,)."""
    acc = (predictions(logits) == labels).mean(axis=-1)
    return float(acc) if np.ndim(acc) == 0 else acc


def log_softmax(logits: np.ndarray) -> np.ndarray:
    z = _f32(logits)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def softmax(logits: np.ndarray) -> np.ndarray:
    return np.exp(log_softmax(logits))


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> np.ndarray | float:
    """Mean cross-entropy in nats; (N, C) -> float, (A, N, C) -> (A,)."""
    logp = log_softmax(logits)  # (..., N, C)
    idx = np.broadcast_to(labels[:, None], logp.shape[:-1] + (1,))
    nll = -np.take_along_axis(logp, idx, axis=-1)[..., 0]  # (..., N)
    loss = nll.mean(axis=-1)
    return float(loss) if np.ndim(loss) == 0 else loss


def closed_form(logits_0: np.ndarray, logits_1: np.ndarray, alpha: float | np.ndarray) -> np.ndarray:
    """Logits of theta_alpha for head-only fine-tunes, exact at any alpha: (1 - alpha) L0 + alpha L1
    in float32; one alpha -> (N, C), an array of A alphas -> (A, N, C)."""
    a = np.asarray(alpha, dtype=np.float32)
    a = a[:, None, None] if a.ndim else a
    return (1 - a) * np.asarray(logits_0, np.float32) + a * np.asarray(logits_1, np.float32)


TOPK = 5  # top classes (and probabilities) kept per example and alpha: the gallery shows 3


def topk_worth_storing(n_classes: int, logit_itemsize: int, k: int = TOPK) -> bool:
    """Top-k (an int32 class and a float16 probability each) is stored beside logits only when it is
    smaller than a logit row: for a head of <= 3k classes readers take it from the logits instead."""
    return min(k, n_classes) * 6 < n_classes * logit_itemsize


def reduce_logits(logits: np.ndarray, labels: np.ndarray, k: int = TOPK) -> dict[str, np.ndarray]:
    """What readers need from logits (A, N, C), one alpha at a time (float32 per (N, C) slice only).

    Returns pred (A, N) int32, loss (A, N) float32 per-example cross-entropy, topk (A, N, k) int32
    classes by falling probability, topk_prob (A, N, k) float16, class_hits (A, C) int64 correct
    predictions per true class.
    """
    n_alpha, n, c = logits.shape
    k = min(k, c)
    out = {
        "pred": np.empty((n_alpha, n), np.int32),
        "loss": np.empty((n_alpha, n), np.float32),
        "topk": np.empty((n_alpha, n, k), np.int32),
        "topk_prob": np.empty((n_alpha, n, k), np.float16),
        "class_hits": np.empty((n_alpha, c), np.int64),
    }
    rows = np.arange(n)
    for a in range(n_alpha):
        logp = log_softmax(logits[a])  # (N, C) float32
        pred = np.asarray(logits[a]).argmax(axis=-1)  # as `predictions` breaks ties: the first class
        if k == 1:
            top = pred[:, None]  # (N, 1)
        else:
            top = np.argpartition(-logp, k - 1, axis=-1)[:, :k] if k < c else np.tile(np.arange(c), (n, 1))  # (N, k)
            order = np.argsort(-np.take_along_axis(logp, top, axis=-1), axis=-1, kind="stable")
            top = np.take_along_axis(top, order, axis=-1)
        out["pred"][a], out["loss"][a] = pred, -logp[rows, labels]
        out["topk"][a], out["topk_prob"][a] = top, np.exp(np.take_along_axis(logp, top, axis=-1))
        out["class_hits"][a] = np.bincount(labels[pred == labels], minlength=c)[:c]
    return out


def summarize(reductions: dict[str, np.ndarray], labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy in [0, 1] and mean cross-entropy per alpha, (A,) each, from `reduce_logits` output."""
    acc = (np.asarray(reductions["pred"]) == labels).mean(axis=-1)
    loss = np.asarray(reductions["loss"], dtype=np.float64).mean(axis=-1)
    return acc, loss


def per_class_accuracy(logits: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Accuracy per true class, (C,); NaN for classes with no examples."""
    correct = predictions(logits) == labels
    hits = np.bincount(labels, weights=correct, minlength=num_classes)
    counts = np.bincount(labels, minlength=num_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, hits / np.maximum(counts, 1), np.nan)


def flips(logits_a: np.ndarray, logits_b: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    """Per-example changes from model a to model b: index arrays of fixed and broken examples.

    fixed: wrong under a, right under b. broken: right under a, wrong under b.
    """
    right_a = predictions(logits_a) == labels
    right_b = predictions(logits_b) == labels
    return {
        "fixed": np.flatnonzero(~right_a & right_b),
        "broken": np.flatnonzero(right_a & ~right_b),
    }


def logit(p: np.ndarray | float, eps: float = 1e-4) -> np.ndarray:
    """The logit (probit-like) axis scaling of Taori et al. for accuracies in [0, 1]."""
    p = np.clip(np.asarray(p, dtype=np.float64), eps, 1 - eps)
    return np.log(p / (1 - p))


def sigmoid(x: np.ndarray | float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def fit_linear_trend(id_acc: np.ndarray, ood_acc: np.ndarray) -> tuple[float, float]:
    """Least-squares line logit(ood) = slope * logit(id) + intercept over baseline models."""
    id_acc, ood_acc = np.asarray(id_acc), np.asarray(ood_acc)
    if id_acc.size < 2:
        raise ValueError("effective robustness needs at least 2 baseline models to fit a line")
    slope, intercept = np.polyfit(logit(id_acc), logit(ood_acc), deg=1)
    return float(slope), float(intercept)


def predicted_ood(id_acc: np.ndarray | float, trend: tuple[float, float]) -> np.ndarray:
    """OOD accuracy the baseline trend predicts at a given ID accuracy."""
    slope, intercept = trend
    return sigmoid(slope * logit(id_acc) + intercept)


def effective_robustness(
    id_acc: np.ndarray | float, ood_acc: np.ndarray | float, trend: tuple[float, float]
) -> np.ndarray | float:
    """OOD accuracy above the baseline trend at the same ID accuracy (Taori et al., 2020)."""
    er = np.asarray(ood_acc, dtype=np.float64) - predicted_ood(id_acc, trend)
    return float(er) if er.ndim == 0 else er


def chord(values: np.ndarray, alphas: np.ndarray) -> np.ndarray:
    """Straight line between a path's endpoints (alpha = first and last grid point): (A,) -> (A,),
    or (..., A) -> (..., A) for several paths at once."""
    alphas, values = np.asarray(alphas, dtype=np.float64), np.asarray(values)
    a0, a1 = alphas[0], alphas[-1]
    t = (alphas - a0) / (a1 - a0)
    return (1 - t) * values[..., :1] + t * values[..., -1:]


BARRIER_DEFINITIONS = {
    "chord": "the largest rise above the straight line (chord) between the two ends (Entezari et al., 2022; "
    "the WiSE-FT talk's Acc(alpha) >= chord)",
    "frankle": "the largest value on the path minus the mean of the two ends (Frankle et al., 2020, "
    "who call a path stable when this error barrier is below 2%)",
}


def barrier(values: np.ndarray, alphas: np.ndarray, definition: str = "chord") -> float | np.ndarray:
    """The barrier of a path of values where higher is worse (loss, error), under `definition`.

    "chord": max over the path of values - chord (Entezari et al., 2022); "frankle": max over the path
    minus the mean of the two ends (Frankle et al., 2020). They agree when the ends are equal; with
    unequal ends Frankle's is at least half their gap, and the chord one is usually smaller (larger only
    when the path's rise above its chord lies nearer the better end; docs/world.md has both for every path).
    Positive: a barrier separates the ends; <= 0: the path stays at or below the reference (linearly
    mode-connected). `alphas` sorted, the ends first and last.
    values (A,) -> float; (..., A) -> (...,) barriers of several paths (e.g. bootstrap resamples).
    """
    values = np.asarray(values, dtype=np.float64)
    if definition == "chord":
        out = np.max(values - chord(values, alphas), axis=-1)
    elif definition == "frankle":
        out = np.max(values, axis=-1) - (values[..., 0] + values[..., -1]) / 2
    else:
        raise ValueError(f"unknown barrier definition {definition!r}: choose from {', '.join(BARRIER_DEFINITIONS)}")
    return float(out) if out.ndim == 0 else out


def loss_barrier(losses: np.ndarray, alphas: np.ndarray, definition: str = "chord") -> float:
    """The loss barrier (nats) of a path under `definition` (see `barrier`)."""
    return barrier(losses, alphas, definition)


def accuracy_barrier(accs: np.ndarray, alphas: np.ndarray, definition: str = "chord") -> float:
    """The error barrier of a path from its accuracies (the barrier of 1 - accuracy); positive = barrier."""
    accs = np.asarray(accs, dtype=np.float64)
    if definition == "chord":
        return float(np.max(chord(accs, alphas) - accs))
    if definition == "frankle":
        return float((accs[0] + accs[-1]) / 2 - np.min(accs))
    return barrier(1.0 - accs, alphas, definition)  # raises for an unknown definition
