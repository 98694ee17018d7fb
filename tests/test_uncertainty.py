"""core.results.uncertainty against references (scipy, a plain index bootstrap) and the two barrier
definitions of core.results.metrics on curves worked out by hand."""

import numpy as np
import pytest
from scipy import stats

from core.results import metrics
from core.results import uncertainty as U


def test_barrier_definitions_agree_when_the_ends_are_equal():
    alphas = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    err = np.array([0.10, 0.20, 0.35, 0.18, 0.10])
    assert metrics.barrier(err, alphas, "chord") == pytest.approx(0.25)
    assert metrics.barrier(err, alphas, "frankle") == pytest.approx(0.25)
    assert metrics.accuracy_barrier(1 - err, alphas, "chord") == pytest.approx(0.25)
    assert metrics.accuracy_barrier(1 - err, alphas, "frankle") == pytest.approx(0.25)


def test_barrier_definitions_differ_as_computed_by_hand_when_the_ends_differ():
    alphas = np.array([0.0, 0.5, 1.0])
    err = np.array([0.10, 0.12, 0.30])  # chord at 0.5: 0.20; the path stays below it
    assert metrics.barrier(err, alphas, "chord") == pytest.approx(0.0)  # max(0, 0.12 - 0.20, 0)
    assert metrics.barrier(err, alphas, "frankle") == pytest.approx(0.30 - 0.20)  # max minus the ends' mean
    # a monotone path from a bad end to a good one (zero-shot -> fine-tuned on ID): no chord barrier,
    # but Frankle's definition counts half the gap between the ends
    mono = np.array([0.40, 0.30, 0.20, 0.15, 0.11])
    a5 = np.linspace(0, 1, 5)
    assert metrics.barrier(mono, a5, "chord") == pytest.approx(0.0, abs=1e-12)
    assert metrics.barrier(mono, a5, "frankle") == pytest.approx(0.40 - (0.40 + 0.11) / 2)
    with pytest.raises(ValueError, match="unknown barrier definition"):
        metrics.barrier(mono, a5, "midpoint")


def test_wilson_matches_scipy():
    for hits, n in ((50, 100), (1990, 2000), (0, 100), (100, 100), (3, 7)):
        ref = stats.binomtest(hits, n).proportion_ci(method="wilson")
        iv = U.wilson(hits, n)
        assert (iv.value, iv.lo, iv.hi) == pytest.approx((hits / n, ref.low, ref.high), abs=1e-12)
    assert np.isnan(U.wilson(0, 0).value)


def _index_bootstrap(a, b, n_boot, seed):
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, a.size, size=(n_boot, a.size))
    return np.quantile(b[idx].mean(1) - a[idx].mean(1), [0.025, 0.975])


def test_paired_difference_equals_an_index_bootstrap_in_distribution():
    rng = np.random.default_rng(1)
    a = rng.random(2000) < 0.80
    b = np.where(rng.random(2000) < 0.1, ~a, a)  # b flips 10% of a's outcomes
    iv = U.paired_difference(a, b)
    assert iv.value == pytest.approx(b.mean() - a.mean())
    ref = _index_bootstrap(a.astype(float), b.astype(float), 4000, 2)
    assert (iv.lo, iv.hi) == pytest.approx(tuple(ref), abs=0.004)
    assert U.paired_difference(a, b) == iv  # a fixed seed: the same numbers every time


def test_within_noise_and_significant_differences_are_told_apart():
    n = 2000
    a = np.zeros(n, bool)
    a[:1600] = True
    small = a.copy()
    small[1600:1610], small[:5] = True, False  # 10 fixed, 5 broken: +0.25 pp on 2,000 examples, within noise
    big = a.copy()
    big[1600:1700] = True  # +5 pp: a gain
    assert U.paired_difference(a, small).sign == 0
    assert U.paired_difference(a, big).sign == 1
    assert U.paired_difference(big, a).sign == -1


def test_mcnemar_matches_scipy_binomtest():
    rng = np.random.default_rng(3)
    a = rng.random(500) < 0.7
    b = np.where(rng.random(500) < 0.15, ~a, a)
    up, down = int((b & ~a).sum()), int((a & ~b).sum())
    assert U.mcnemar_p(a, b) == pytest.approx(stats.binomtest(min(up, down), up + down, 0.5).pvalue, rel=1e-9)
    assert U.mcnemar_p(a, a) == 1.0


def test_path_barrier_interval_brackets_the_barrier_of_the_mean_curve():
    rng = np.random.default_rng(4)
    alphas = np.linspace(0, 1, 5)
    bump = np.array([0.0, 0.3, 0.5, 0.3, 0.0])[:, None]
    loss = rng.exponential(0.5, size=(1, 400)) + bump + rng.normal(0, 0.1, size=(5, 400))  # (A, N)
    iv = U.path_barrier(loss, alphas, n_boot=400)
    assert iv.value == pytest.approx(metrics.loss_barrier(loss.mean(1), alphas))
    assert iv.lo < iv.value < iv.hi and iv.sign == 1
    err = rng.random((5, 400)) < 0.2  # no bump: the error barrier is noise around 0
    assert U.path_barrier(err, alphas, "frankle", n_boot=400).lo <= 0.0 + 0.02


def test_effective_robustness_interval_narrows_with_more_examples():
    trend = metrics.fit_linear_trend(np.array([0.6, 0.7, 0.8, 0.9]), np.array([0.3, 0.4, 0.5, 0.6]))
    rng = np.random.default_rng(5)
    small = U.effective_robustness_interval(rng.random(500) < 0.85, rng.random(500) < 0.65, trend)
    large = U.effective_robustness_interval(rng.random(20000) < 0.85, rng.random(20000) < 0.65, trend)
    assert small.lo < small.value < small.hi
    assert (large.hi - large.lo) < (small.hi - small.lo) / 3


def test_mean_difference_over_sets_is_the_average_of_the_per_set_differences():
    rng = np.random.default_rng(6)
    pairs = [(rng.random(300) < 0.5, rng.random(300) < 0.6) for _ in range(3)]
    iv = U.mean_accuracy_difference(pairs)
    assert iv.value == pytest.approx(np.mean([b.mean() - a.mean() for a, b in pairs]))
    assert iv.lo < iv.value < iv.hi


def test_barrier_of_several_paths_at_once_is_each_paths_barrier():
    rng = np.random.default_rng(7)
    alphas = np.linspace(0, 1, 6)
    paths = rng.random((4, 3, 6))  # (..., A)
    for d in metrics.BARRIER_DEFINITIONS:
        batch = metrics.barrier(paths, alphas, d)
        assert batch.shape == (4, 3)
        one_by_one = [[metrics.barrier(p, alphas, d) for p in row] for row in paths]
        np.testing.assert_allclose(batch, one_by_one, rtol=0, atol=0)


def test_shared_path_bootstrap_equals_one_curve_at_a_time():
    rng = np.random.default_rng(8)
    alphas = np.linspace(0, 1, 5)
    loss = rng.exponential(0.5, size=(5, 300)) + np.array([0, 0.2, 0.4, 0.2, 0])[:, None]  # (A, N)
    err = rng.random((5, 300)) < 0.3
    both = U.path_barriers({"loss": loss, "error": err}, alphas, n_boot=300)
    for name, curve in (("loss", loss), ("error", err)):
        for d in ("chord", "frankle"):
            assert both[name][d] == U.path_barrier(curve, alphas, d, n_boot=300)
    acc = U.path_barrier(~err, alphas, "chord", higher_is_worse=False, n_boot=300)  # correctness: its drop
    assert (acc.value, acc.lo, acc.hi) == pytest.approx(
        (both["error"]["chord"].value, both["error"]["chord"].lo, both["error"]["chord"].hi), abs=1e-12
    )


def _binomial_reference(hits, ns, weights, n_boot=4000, seed=9):
    """Resample each set's examples by index, on its own, and take the weighted mean of the accuracies."""
    rng = np.random.default_rng(seed)
    samples = 0.0
    for h, n, w in zip(hits, ns, weights):
        correct = np.arange(n) < h
        samples = samples + w * correct[rng.integers(0, n, size=(n_boot, n))].mean(axis=1)
    return np.quantile(samples, [0.025, 0.975])


def test_mean_accuracy_interval_equals_an_index_bootstrap_of_each_set():
    hits, ns = [700, 1300, 450], [1000, 2000, 900]
    iv = U.mean_accuracy_interval(hits, ns)
    assert iv.value == pytest.approx(np.mean([h / n for h, n in zip(hits, ns)]))
    assert (iv.lo, iv.hi) == pytest.approx(tuple(_binomial_reference(hits, ns, [1 / 3] * 3)), abs=0.003)
    weighted = U.mean_accuracy_interval(hits, ns, [0.5, 0.25, 0.25])
    assert weighted.value == pytest.approx(0.5 * 0.7 + 0.25 * 0.65 + 0.25 * 0.5)
    reference = _binomial_reference(hits, ns, [0.5, 0.25, 0.25])
    assert (weighted.lo, weighted.hi) == pytest.approx(tuple(reference), abs=0.003)
    one = U.mean_accuracy_interval([1300], [2000])  # one set: close to its Wilson interval
    assert (one.lo, one.hi) == pytest.approx((U.wilson(1300, 2000).lo, U.wilson(1300, 2000).hi), abs=0.002)


def test_effective_robustness_of_an_average_resamples_each_set():
    trend = metrics.fit_linear_trend(np.array([0.6, 0.7, 0.8, 0.9]), np.array([0.3, 0.4, 0.5, 0.6]))
    rng = np.random.default_rng(10)
    cid, oods = rng.random(2000) < 0.9, [rng.random(n) < p for n, p in ((2000, 0.7), (1000, 0.5), (3000, 0.6))]
    one = U.effective_robustness_interval(cid, oods[0], trend)
    assert one == U.effective_robustness_counts(int(cid.sum()), 2000, [int(oods[0].sum())], [2000], trend)
    avg = U.effective_robustness_interval(cid, oods, trend)
    mean_ood = np.mean([o.mean() for o in oods])
    assert avg.value == pytest.approx(metrics.effective_robustness(cid.mean(), mean_ood, trend))
    # the reference: resample the ID set and each OOD set by index, on its own
    r = np.random.default_rng(11)
    boot = [
        metrics.effective_robustness(
            cid[r.integers(0, 2000, 2000)].mean(),
            np.mean([o[r.integers(0, o.size, o.size)].mean() for o in oods]),
            trend,
        )
        for _ in range(3000)
    ]
    assert (avg.lo, avg.hi) == pytest.approx(tuple(np.quantile(boot, [0.025, 0.975])), abs=0.003)
    assert (avg.hi - avg.lo) < (one.hi - one.lo)  # three sets: a narrower interval than one set's
