"""Output-space ensembles of a run's two ends, the baseline WiSE-FT is compared with (the paper's Table 13).

WiSE-FT mixes the weights and runs one network: f(x; (1 - alpha) theta_0 + alpha theta_1). An output-space
ensemble runs both networks and mixes what they output: (1 - alpha) f(x; theta_0) + alpha f(x; theta_1),
so it costs two forward passes per image where WiSE-FT costs one (INFERENCE_PASSES).

What is mixed (`mix`):
    "logits"  (1 - alpha) z_0 + alpha z_1, then softmax: the default. The paper writes the ensemble as a mix
              of the two models' outputs f(x; theta), and its classifiers (wise-ft's ImageClassifier, ours)
              output logits; mixing logits is also the one choice under which a fine-tuned linear
              classifier's two ensembles coincide (its logits are linear in the head's weights).
    "probs"   (1 - alpha) softmax(z_0) + alpha softmax(z_1): the usual deep-ensemble average (and how some
              later work writes output-space ensembles), offered for comparison.

Everything is computed on read from the sweep's stored logits at alpha 0 and 1 (no forward pass, no new
sweep); a set swept with --reductions-only has no logits, and its ensemble cannot be computed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.results import metrics
from core.results import uncertainty as U
from core.results.claims import correctness
from core.runs.artifacts import Run

MIXES = ("logits", "probs")
DEFAULT_MIX = "logits"  # the paper's (see the module docstring)
INFERENCE_PASSES = {"WiSE-FT": 1, "output-space ensemble": 2}  # forward passes per image at inference


class EnsembleError(ValueError):
    """An output-space ensemble that a run's stored files cannot give."""


@dataclass(frozen=True)
class EnsembleCurve:
    """An output-space ensemble along a run's alpha grid on one eval set."""

    dataset: str
    mix: str  # "logits" or "probs"
    alphas: np.ndarray  # (A,) the run's grid
    pred: np.ndarray  # (A, N) int32 predicted class
    loss: np.ndarray  # (A, N) float32 cross-entropy of the ensemble's distribution, nats
    labels: np.ndarray  # (N,)

    @property
    def correct(self) -> np.ndarray:
        return self.pred == self.labels[None, :]  # (A, N) bool

    @property
    def accuracy(self) -> np.ndarray:
        return self.correct.mean(axis=1)  # (A,)

    @property
    def mean_loss(self) -> np.ndarray:
        return self.loss.astype(np.float64).mean(axis=1)  # (A,)


def check_mix(mix: str) -> str:
    if mix not in MIXES:
        raise ValueError(f"unknown ensemble mix {mix!r}: choose {' or '.join(MIXES)}")
    return mix


def endpoint_logits(run: Run, name: str) -> tuple[np.ndarray, np.ndarray]:
    """The stored logits of theta_0 and theta_1 on one set, (N, C) float32 each (EnsembleError if absent)."""
    if not run.has_logits(name):
        raise EnsembleError(
            f"{run.name}: {name!r} was swept with --reductions-only, so its endpoint logits are "
            "not stored and its output-space ensemble cannot be computed; re-sweep without it"
        )
    missing = [a for a in (0.0, 1.0) if not run.exact_any_alpha(name) and not np.isclose(run.alphas, a).any()]
    if missing:
        raise EnsembleError(
            f"{run.name}: the grid {run.alphas.tolist()} lacks alpha {missing}, the ends whose "
            "logits an output-space ensemble mixes; re-sweep with 0 and 1 in --alphas"
        )
    return run.logits(name, 0.0), run.logits(name, 1.0)


def mix_outputs(logits_0: np.ndarray, logits_1: np.ndarray, alpha: float, mix: str = DEFAULT_MIX) -> np.ndarray:
    """The ensemble's log-probabilities (N, C) at one alpha (for 'logits', log-softmax of the mixed logits)."""
    if check_mix(mix) == "logits":
        return metrics.log_softmax(metrics.closed_form(logits_0, logits_1, alpha))  # (N, C)
    p = (1 - alpha) * metrics.softmax(logits_0) + alpha * metrics.softmax(logits_1)  # (N, C)
    return np.log(np.maximum(p, np.finfo(np.float32).tiny))


def output_ensemble(run: Run, name: str, mix: str = DEFAULT_MIX) -> EnsembleCurve:
    """The output-space ensemble of the run's two ends at every grid alpha on eval set `name`.

    Args:
        run: a swept run whose grid holds alpha 0 and 1 (or a closed-form set).
        name: an eval set of the run.
        mix: "logits" (the paper's, default) or "probs".
    Returns:
        EnsembleCurve with per-example predictions and losses (A, N).
    """
    z0, z1 = endpoint_logits(run, name)  # (N, C) each
    labels = run.labels(name)
    rows = np.arange(len(labels))
    pred = np.empty((len(run.alphas), len(labels)), np.int32)
    loss = np.empty((len(run.alphas), len(labels)), np.float32)
    for i, a in enumerate(run.alphas):
        logp = mix_outputs(z0, z1, float(a), mix)  # (N, C)
        pred[i], loss[i] = logp.argmax(axis=-1), -logp[rows, labels]
    return EnsembleCurve(name, mix, run.alphas.copy(), pred, loss, labels)


def ensemble_rows(run: Run, mix: str = DEFAULT_MIX) -> list[dict]:
    """The ensemble beside WiSE-FT at every grid alpha, on every set and the OOD average ('avg_ood').

    Returns rows {dataset, alpha, wiseft, ensemble (Interval: Wilson; for avg_ood the mean of the sets'),
    difference (Interval: ensemble - WiSE-FT, paired over the same examples), ensemble_loss, wiseft_loss},
    accuracies in [0, 1], losses in nats.
    """
    curves = {n: output_ensemble(run, n, mix) for n in run.dataset_names}
    wise = {n: correctness(run, n) for n in run.dataset_names}  # (A, N) from the sweep's predictions
    wise_loss = run.metric_grid("loss")
    rows = []
    for name in run.dataset_names:
        for i, a in enumerate(run.alphas):
            c, w = curves[name].correct[i], wise[name][i]
            rows.append(
                {
                    "dataset": name,
                    "alpha": float(a),
                    "wiseft": U.accuracy_interval(w),
                    "ensemble": U.accuracy_interval(c),
                    "difference": U.paired_difference(w, c),
                    "ensemble_loss": float(curves[name].mean_loss[i]),
                    "wiseft_loss": float(wise_loss[name][i]),
                }
            )
    oods = run.ood_datasets
    for i, a in enumerate(run.alphas) if len(oods) > 1 else ():
        sets = [(wise[n][i], curves[n].correct[i]) for n in oods]
        rows.append(
            {
                "dataset": "avg_ood",
                "alpha": float(a),
                "wiseft": _mean_interval([w for w, _ in sets]),
                "ensemble": _mean_interval([c for _, c in sets]),
                "difference": U.mean_accuracy_difference(sets),
                "ensemble_loss": float(np.mean([curves[n].mean_loss[i] for n in oods])),
                "wiseft_loss": float(np.mean([wise_loss[n][i] for n in oods])),
            }
        )
    return rows


def _mean_interval(correct: list[np.ndarray]) -> U.Interval:
    """The mean accuracy over sets with the mean of their Wilson bounds (a conservative band for a mean
    of independent sets; the paired differences carry the comparisons)."""
    parts = [U.accuracy_interval(c) for c in correct]
    return U.Interval(*(float(np.mean([getattr(p, k) for p in parts])) for k in ("value", "lo", "hi")))


def format_ensemble(run: Run, mix: str = DEFAULT_MIX) -> str:
    """A fixed-width table: per alpha, WiSE-FT and the ensemble on ID and average OOD, and the paired
    difference (ensemble - WiSE-FT) with its 95% interval; the inference cost of each on the first line."""
    rows = ensemble_rows(run, mix)
    sets = [run.id_dataset] + (["avg_ood"] if len(run.ood_datasets) > 1 else run.ood_datasets)
    by = {(r["dataset"], r["alpha"]): r for r in rows}
    passes = INFERENCE_PASSES
    lines = [
        (
            f"output-space ensemble of {run.name}'s two ends, mixing {mix} ({passes['output-space ensemble']} "
            f"forward passes per image; WiSE-FT {passes['WiSE-FT']}): top-1 %, difference = ensemble - WiSE-FT "
            "[95% paired interval]"
        )
    ]
    lines.append(
        "alpha".rjust(6) + "".join(f"{s + ' WiSE-FT':>20}{s + ' ensemble':>20}{'difference':>24}" for s in sets)
    )
    for a in run.alphas:
        cells = []
        for s in sets:
            r = by[s, float(a)]
            d = r["difference"].scaled(100)
            cells.append(
                f"{100 * r['wiseft'].value:20.2f}{100 * r['ensemble'].value:20.2f}"
                f"{f'{d.value:+.2f} [{d.lo:+.2f}, {d.hi:+.2f}]':>24}"
            )
        lines.append(f"{a:6.3g}" + "".join(cells))
    return "\n".join(lines)
