"""How sure a number is: 95% intervals over the examples of each eval set (numpy only).

Every interval treats the eval set as a sample of its distribution and resamples examples:
- an accuracy at one alpha: the Wilson score interval;
- a difference between two alphas of one run (the same examples at both): a paired bootstrap over
  examples, with the exact McNemar p-value beside it;
- a barrier along a path: a bootstrap over the examples of the per-example loss or correctness;
- effective robustness: a bootstrap over the ID and the OOD examples, the baseline trend held fixed;
- an average over eval sets (average OOD accuracy, its effective robustness): each set resampled on
  its own, as the sets are independent samples.
Bootstraps draw from a fixed seed, so every number reproduces. A difference is called a gain only
when its interval excludes zero (`Interval.sign`); otherwise it is "within noise".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from core.results import metrics

LEVEL = 0.95
Z = 1.959963984540054  # the normal quantile of LEVEL (two-sided)
N_BOOT = 10_000  # bootstrap resamples of a difference or an effective robustness
N_BOOT_PATH = 2_000  # resamples of a whole path (each costs a pass over the examples)
SEED = 0


@dataclass(frozen=True)
class Interval:
    """A point estimate and its 95% interval, in the estimate's own units."""

    value: float
    lo: float
    hi: float

    @property
    def sign(self) -> int:
        """+1 when the interval lies above 0, -1 below, 0 when it contains 0 (within noise)."""
        return 1 if self.lo > 0 else -1 if self.hi < 0 else 0

    def scaled(self, k: float) -> Interval:
        return Interval(self.value * k, self.lo * k, self.hi * k)

    def as_dict(self) -> dict[str, float]:
        return {"value": self.value, "lo": self.lo, "hi": self.hi}


def wilson(hits: int, n: int, z: float = Z) -> Interval:
    """Accuracy hits / n with its Wilson score interval (good at any n and near 0 or 1)."""
    if n <= 0:
        return Interval(math.nan, math.nan, math.nan)
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half))


def accuracy_interval(correct: np.ndarray) -> Interval:
    """Accuracy of a boolean (N,) correctness vector, with its Wilson interval."""
    correct = np.asarray(correct, dtype=bool)
    return wilson(int(correct.sum()), correct.size)


def _quantiles(samples: np.ndarray) -> tuple[float, float]:
    lo, hi = np.quantile(samples, [(1 - LEVEL) / 2, 1 - (1 - LEVEL) / 2])
    return float(lo), float(hi)


def paired_difference(correct_a: np.ndarray, correct_b: np.ndarray, n_boot: int = N_BOOT, seed: int = SEED) -> Interval:
    """acc(b) - acc(a) on the same examples, with a percentile bootstrap over examples.

    The bootstrap mean of d_i = b_i - a_i in {-1, 0, +1} depends only on how many resampled
    examples fall in each value, so it is drawn as multinomial counts: the same distribution as
    resampling indices, at any N in O(n_boot).
    """
    a, b = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    n = a.size
    up, down = int((b & ~a).sum()), int((a & ~b).sum())
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n, [up / n, down / n, (n - up - down) / n], size=n_boot)  # (B, 3)
    return Interval((up - down) / n, *_quantiles((counts[:, 0] - counts[:, 1]) / n))


def mcnemar_p(correct_a: np.ndarray, correct_b: np.ndarray) -> float:
    """Exact two-sided McNemar p-value: is one model right more often on the examples they disagree on?"""
    a, b = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    up, down = int((b & ~a).sum()), int((a & ~b).sum())
    n, k = up + down, min(up, down)
    if n == 0:
        return 1.0
    log_terms = [
        math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) - n * math.log(2) for i in range(k + 1)
    ]
    top = max(log_terms)
    return min(1.0, 2 * math.exp(top) * sum(math.exp(t - top) for t in log_terms))


def _resample_counts(rng: np.random.Generator, n: int, b: int) -> np.ndarray:
    """(b, n) float64: how often each of n examples is drawn in each of b resamples of size n (the
    multinomial counts of uniform index resampling, from integer draws and one bincount: fast at any n)."""
    idx = rng.integers(0, n, size=(b, n)) + n * np.arange(b)[:, None]  # (b, n) flat indices
    return np.bincount(idx.ravel(), minlength=b * n).reshape(b, n).astype(np.float64)


def path_barriers(
    curves: dict[str, np.ndarray],
    alphas: np.ndarray,
    definitions: tuple[str, ...] = ("chord", "frankle"),
    higher_is_worse: bool = True,
    n_boot: int = N_BOOT_PATH,
    seed: int = SEED,
) -> dict[str, dict[str, Interval]]:
    """Barriers of several per-example curves of one path (e.g. loss and error), each under each definition,
    from one shared bootstrap over the examples (the same resamples for every curve, as they share examples).

    curves: {name: (A, N)} on the same N examples, the grid's ends first and last. Returns
    {name: {definition: Interval}}; each equals `path_barrier(curve, alphas, definition)`.
    """
    values = {k: np.asarray(v, dtype=np.float64) * (1.0 if higher_is_worse else -1.0) for k, v in curves.items()}
    n = next(iter(values.values())).shape[1]
    samples = {k: {d: np.empty(n_boot) for d in definitions} for k in values}
    rng = np.random.default_rng(seed)
    step = max(1, min(250, 4_000_000 // n))  # (step, N) weights at a time: ~32 MB at any N
    for start in range(0, n_boot, step):
        w = _resample_counts(rng, n, min(step, n_boot - start))  # (B, N)
        for k, v in values.items():
            means = w @ v.T / n  # (B, A)
            for d in definitions:
                samples[k][d][start : start + len(w)] = metrics.barrier(means, alphas, d)
    return {
        k: {d: Interval(metrics.barrier(v.mean(axis=1), alphas, d), *_quantiles(samples[k][d])) for d in definitions}
        for k, v in values.items()
    }


def path_barrier(
    per_example: np.ndarray,
    alphas: np.ndarray,
    definition: str = "chord",
    higher_is_worse: bool = True,
    n_boot: int = N_BOOT_PATH,
    seed: int = SEED,
) -> Interval:
    """A barrier of a path with a bootstrap interval over examples.

    per_example: (A, N) loss (nats) or error/correctness along the path, the grid's ends first and last;
    the barrier is metrics.barrier of the per-alpha mean under `definition` ("chord" or "frankle").
    higher_is_worse=False (correctness): the barrier of the negated curve.
    """
    return path_barriers({"c": per_example}, alphas, (definition,), higher_is_worse, n_boot, seed)["c"][definition]


def mean_accuracy_interval(
    hits: list[int], ns: list[int], weights: list[float] | None = None, n_boot: int = N_BOOT, seed: int = SEED
) -> Interval:
    """A weighted mean of accuracies over independent eval sets (default: the plain mean, e.g. average OOD
    accuracy), with a bootstrap that resamples each set's examples on its own (Binomial counts, exactly)."""
    weights = np.full(len(hits), 1 / len(hits)) if weights is None else np.asarray(weights, dtype=np.float64)
    rng = np.random.default_rng(seed)
    samples = sum(w * rng.binomial(n, h / n, size=n_boot) / n for h, n, w in zip(hits, ns, weights))
    return Interval(float(sum(w * h / n for h, n, w in zip(hits, ns, weights))), *_quantiles(samples))


def effective_robustness_counts(
    hits_id: int,
    n_id: int,
    hits_ood: list[int],
    n_ood: list[int],
    trend: tuple[float, float],
    n_boot: int = N_BOOT,
    seed: int = SEED,
) -> Interval:
    """Effective robustness of the mean accuracy over one or more OOD sets (the trend fitted on the same
    mean) from correct counts, with a bootstrap over the ID examples and over each OOD set's on its own
    (resampled accuracy is Binomial exactly); the trend is held fixed."""
    rng = np.random.default_rng(seed)
    acc_id = rng.binomial(n_id, hits_id / n_id, size=n_boot) / n_id
    acc_ood = np.mean([rng.binomial(n, h / n, size=n_boot) / n for h, n in zip(hits_ood, n_ood)], axis=0)
    er = metrics.effective_robustness(hits_id / n_id, np.mean([h / n for h, n in zip(hits_ood, n_ood)]), trend)
    return Interval(float(er), *_quantiles(metrics.effective_robustness(acc_id, acc_ood, trend)))


def effective_robustness_interval(
    correct_id: np.ndarray,
    correct_ood: np.ndarray | list[np.ndarray],
    trend: tuple[float, float],
    n_boot: int = N_BOOT,
    seed: int = SEED,
) -> Interval:
    """Effective robustness (OOD accuracy above the baseline trend at the same ID accuracy) with a
    bootstrap over the ID and the OOD examples (independent sets); the trend is held fixed. correct_ood:
    one OOD set's (N,) correctness, or a list of them for the average over sets (each resampled on its own)."""
    oods = [correct_ood] if isinstance(correct_ood, np.ndarray) and correct_ood.ndim == 1 else list(correct_ood)
    cid = np.asarray(correct_id, dtype=bool)
    return effective_robustness_counts(
        int(cid.sum()), cid.size, [int(np.sum(c)) for c in oods], [np.size(c) for c in oods], trend, n_boot, seed
    )


def mean_accuracy_difference(
    pairs: list[tuple[np.ndarray, np.ndarray]], n_boot: int = N_BOOT, seed: int = SEED
) -> Interval:
    """The average over sets of acc(b) - acc(a) (e.g. average OOD accuracy), each set resampled on its own
    (paired within a set, independent across sets)."""
    rng = np.random.default_rng(seed)
    total, samples = 0.0, np.zeros(n_boot)
    for a, b in pairs:
        a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
        n, up, down = a.size, int((b & ~a).sum()), int((a & ~b).sum())
        counts = rng.multinomial(n, [up / n, down / n, (n - up - down) / n], size=n_boot)
        samples += (counts[:, 0] - counts[:, 1]) / n
        total += (up - down) / n
    k = len(pairs)
    return Interval(total / k, *_quantiles(samples / k))


# ----------------------------------------------------------------------------- every alpha of a grid at once
# The explorer shows an interval at every alpha of a run's view grid (up to 101 alphas x 7 curves x 2 ends); the
# bootstraps above cost ~5 ms each (seconds per run), so it uses their closed forms, vectorized over alphas: Wilson
# for one accuracy, and for a paired difference, an average over sets, an effective robustness or a barrier, the
# normal interval with the variance of the resampling those bootstraps draw. On the shipped 2,000-example sets
# they agree within 0.12 pp (differences) and 0.5 pp (effective robustness, whose intervals there are +-8 pp wide),
# and name the same sign except where the bootstrap puts a bound on 0 or one example from it (1 of 588 differences;
# tests/test_live_intervals.py).


class Band(NamedTuple):
    """A value and its 95% interval at each alpha of a grid: (G,) arrays, in the value's own units."""

    value: np.ndarray
    lo: np.ndarray
    hi: np.ndarray

    @property
    def sign(self) -> np.ndarray:
        """(G,) int: +1 where the interval lies above 0, -1 below, 0 where it contains 0 (within noise)."""
        return np.where(self.lo > 0, 1, np.where(self.hi < 0, -1, 0))


def _normal(value: np.ndarray, var: np.ndarray) -> Band:
    value = np.asarray(value, dtype=np.float64)
    half = Z * np.sqrt(np.maximum(np.asarray(var, dtype=np.float64), 0.0))
    return Band(value, value - half, value + half)


def _table(correct: np.ndarray) -> np.ndarray:
    return np.asarray(correct, dtype=bool)


def _hits(table: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
    """(G,) examples right in each row of a (G, N) bool table, or right in the row and in `reference` (N,) too."""
    return np.count_nonzero(table if reference is None else table & _table(reference), axis=-1)


def wilson_band(correct: np.ndarray) -> Band:
    """Accuracy of each row of a (G, N) correctness table with its Wilson interval (equal to `wilson` per row)."""
    table = _table(correct)
    n = table.shape[-1]
    p = _hits(table) / n
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z * np.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)) / (1 + Z * Z / n)
    return Band(p, np.maximum(0.0, centre - half), np.minimum(1.0, centre + half))


def _paired_moments(reference: np.ndarray, correct: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """acc(row) - acc(reference) for each row of (G, N) `correct`, and the variance of its mean over a resample
    of the N examples: (p_up + p_down - d^2) / N, the paired bootstrap's exact variance."""
    table = _table(correct)
    n = table.shape[-1]
    both = _hits(table, reference)  # (G,) right in the row and in the reference
    up = (_hits(table) - both) / n  # right in the row only
    down = (float(np.count_nonzero(reference)) - both) / n  # right in the reference only
    d = up - down
    return d, (up + down - d * d) / n


def paired_difference_band(reference: np.ndarray, correct: np.ndarray) -> Band:
    """acc(row) - acc(reference) on the same examples at every row of (G, N) `correct` (the closed form of
    `paired_difference`)."""
    return _normal(*_paired_moments(reference, correct))


def mean_difference_band(pairs: list[tuple[np.ndarray, np.ndarray]]) -> Band:
    """The average over sets of acc(row) - acc(reference), pairs of ((N_s,) reference, (G, N_s) correct), each set
    resampled on its own (the closed form of `mean_accuracy_difference`)."""
    moments = [_paired_moments(ref, right) for ref, right in pairs]
    k = len(moments)
    return _normal(sum(d for d, _ in moments) / k, sum(v for _, v in moments) / k**2)


def mean_band(bands: list[Band]) -> Band:
    """The mean of independent normal bands (e.g. each OOD set's `paired_difference_band`): equal to
    `mean_difference_band` on their tables, without recounting them."""
    half = [(b.hi - b.lo) / 2 for b in bands]  # Z sd each
    k = len(bands)
    return _normal(sum(b.value for b in bands) / k, sum((h / Z) ** 2 for h in half) / k**2)


def _accuracy_moments(correct: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The mean over sets of each (G, N_s) table's accuracy, and its variance over independent resamples."""
    accs = [_hits(_table(c)) / np.shape(c)[-1] for c in correct]
    k = len(accs)
    return sum(accs) / k, sum(a * (1 - a) / np.shape(c)[-1] for a, c in zip(accs, correct)) / k**2


def mean_accuracy_band(correct: list[np.ndarray]) -> Band:
    """The mean accuracy over independent sets (e.g. average OOD accuracy), (G, N_s) correctness each."""
    return _normal(*_accuracy_moments(correct))


def effective_robustness_band(
    correct_id: np.ndarray, correct_ood: list[np.ndarray], trend: tuple[float, float]
) -> Band:
    """Effective robustness at every alpha: the mean accuracy over the (G, N_s) OOD tables above the baseline
    trend at the ID accuracy of the (G, N) ID table, ID and OOD examples resampled, the trend held fixed (the
    closed form of `effective_robustness_interval`). The trend bends the ID interval (logit axes), so the two
    intervals are combined by MOVER (Zou & Donner, 2008): each side's distance to its own bound, in quadrature."""
    ood, acc_id = mean_accuracy_band(correct_ood), mean_accuracy_band([correct_id])
    pred, at_lo, at_hi = (metrics.predicted_ood(v, trend) for v in acc_id)  # the trend at the ID value and bounds
    low, high = np.minimum(at_lo, at_hi), np.maximum(at_lo, at_hi)
    er = ood.value - pred
    return Band(er, er - np.hypot(ood.value - ood.lo, high - pred), er + np.hypot(ood.hi - ood.value, pred - low))


def barrier_interval(per_example: np.ndarray, alphas: np.ndarray, definition: str = "chord") -> Interval:
    """A barrier (metrics.barrier) of a path of (A, N) per-example values where higher is worse (loss, error; the
    ends first and last), with the normal interval of each example's rise above the reference (the chord, or the
    mean of the two ends for "frankle") at the alpha where the mean rises most, that alpha held fixed (the closed
    form of `path_barrier`). Both barriers are >= 0 (at the ends the rise is 0, or half their gap): so is lo."""
    values, alphas = np.asarray(per_example), np.asarray(alphas, dtype=np.float64)  # (A, N), (A,)
    t = (alphas - alphas[0]) / (alphas[-1] - alphas[0])  # (A,) the chord's weight on the last end
    if definition == "frankle":
        t = np.full_like(t, 0.5)
    elif definition != "chord":
        raise ValueError(
            f"unknown barrier definition {definition!r}: choose from {', '.join(metrics.BARRIER_DEFINITIONS)}"
        )
    mean = values.mean(axis=1, dtype=np.float64)  # (A,)
    g = int(np.argmax(mean - ((1 - t) * mean[0] + t * mean[-1])))
    rise = values[g] - ((1 - t[g]) * values[0].astype(np.float64) + t[g] * values[-1])  # (N,) per example
    band = _normal(rise.mean(), rise.var() / rise.size)
    return Interval(float(band.value), max(0.0, float(band.lo)), float(band.hi))
