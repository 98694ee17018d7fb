"""What a run's numbers support: every WiSE-FT claim as data with its 95% interval, and its sentence.

The README, the explorer and the notebooks say "beats", "better" or "within noise" only through
`verdict`, so a sentence always follows its interval: a difference is a gain when its paired
interval lies above zero, a loss when below, and "within noise" otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.results import uncertainty as U
from core.runs.artifacts import Run

END_NAMES = {0.0: "the zero-shot end (alpha 0)", 1.0: "the fine-tuned end (alpha 1)"}


@dataclass(frozen=True)
class Difference:
    """acc(alpha) - acc(reference) on one eval set (or the OOD average), paired over its examples."""

    dataset: str
    alpha: float
    reference: float
    interval: U.Interval  # in [0, 1] units
    p_value: float | None = None  # exact McNemar (one set only)

    @property
    def sign(self) -> int:
        return self.interval.sign


def correctness(run: Run, name: str) -> np.ndarray:
    """(A, N) bool: is each example right at each grid alpha (from the sweep's stored predictions)."""
    return np.asarray(run.reductions(name)["pred"]) == run.labels(name)[None, :]


def accuracy_intervals(run: Run, name: str) -> list[U.Interval]:
    """Wilson 95% interval of the accuracy at every grid alpha of one eval set."""
    return [U.accuracy_interval(row) for row in correctness(run, name)]


def difference(run: Run, name: str, alpha: float, reference: float) -> Difference:
    """acc(alpha) - acc(reference) on eval set `name`, paired over its examples ('avg_ood': the mean over
    the OOD sets, each resampled on its own)."""
    i, j = run.grid_index(alpha), run.grid_index(reference)
    if name == "avg_ood":
        pairs = [(c[j], c[i]) for c in (correctness(run, n) for n in run.ood_datasets)]
        return Difference(name, alpha, reference, U.mean_accuracy_difference(pairs))
    c = correctness(run, name)
    return Difference(name, alpha, reference, U.paired_difference(c[j], c[i]), U.mcnemar_p(c[j], c[i]))


def differences_along_path(run: Run, name: str, reference: float) -> list[U.Interval]:
    """acc(alpha) - acc(reference) at every grid alpha on eval set `name` ('avg_ood': the OOD sets' mean),
    paired as in `difference`; each set's predictions are read once."""
    names = run.ood_datasets if name == "avg_ood" else [name]
    correct = [correctness(run, n) for n in names]  # each (A, N)
    j = run.grid_index(reference)
    if name == "avg_ood":
        return [U.mean_accuracy_difference([(c[j], c[i]) for c in correct]) for i in range(len(run.alphas))]
    return [U.paired_difference(correct[0][j], row) for row in correct[0]]


def wiseft_claims(run: Run, alpha: float = 0.5) -> dict[str, tuple[Difference, Difference]]:
    """For every eval set and the OOD average: theta_alpha against each end, (vs alpha 0, vs alpha 1)."""
    names = [*run.dataset_names, *(["avg_ood"] if len(run.ood_datasets) > 1 else [])]
    return {n: (difference(run, n, alpha, 0.0), difference(run, n, alpha, 1.0)) for n in names}


def beats_both_ends(pair: tuple[Difference, Difference]) -> bool:
    """True only when alpha is above each end with a paired 95% interval above zero."""
    return all(d.sign > 0 for d in pair)


def format_pp(interval: U.Interval, digits: int = 1) -> str:
    """'+2.3 pp [+0.7, +4.0]': a difference of accuracies in percentage points with its interval."""
    v = interval.scaled(100)
    return f"{v.value:+.{digits}f} pp [{v.lo:+.{digits}f}, {v.hi:+.{digits}f}]"


def verdict(d: Difference, subject: str | None = None) -> str:
    """One sentence that says what the interval supports, e.g. 'alpha 0.5 beats the zero-shot end (alpha 0)
    on v2 by +12.5 pp [+10.7, +14.4]', '... is below ... (-0.9 pp [-1.4, -0.5])' or '... is within noise of
    ... (+1.4 pp [-0.6, +3.4])'."""
    who = subject or f"alpha {d.alpha:g}"
    ref = END_NAMES.get(d.reference, f"alpha {d.reference:g}")
    where = "on average over the OOD sets" if d.dataset == "avg_ood" else f"on {d.dataset}"
    if d.sign > 0:
        return f"{who} beats {ref} {where} by {format_pp(d.interval)}"
    if d.sign < 0:
        return f"{who} is below {ref} {where} ({format_pp(d.interval)})"
    return f"{who} is within noise of {ref} {where} ({format_pp(d.interval)})"
