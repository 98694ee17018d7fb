import numpy as np
import pytest
import torch

from core.results import metrics


def test_accuracy_and_cross_entropy_match_torch():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 50, 7)).astype(np.float32) * 3
    labels = rng.integers(0, 7, 50)
    acc = metrics.accuracy(logits, labels)
    loss = metrics.cross_entropy(logits, labels)
    for a in range(3):
        t = torch.from_numpy(logits[a])
        assert acc[a] == pytest.approx((t.argmax(1).numpy() == labels).mean())
        assert loss[a] == pytest.approx(torch.nn.functional.cross_entropy(t, torch.from_numpy(labels)).item(), rel=1e-5)
    assert isinstance(metrics.accuracy(logits[0], labels), float)


def test_per_class_accuracy_and_flips():
    labels = np.array([0, 0, 1, 1, 2])
    before = np.eye(3)[[0, 1, 1, 0, 2]]  # right, wrong, right, wrong, right
    after = np.eye(3)[[0, 0, 0, 1, 2]]  # right, right, wrong, right, right
    np.testing.assert_allclose(metrics.per_class_accuracy(before, labels, 4)[:3], [0.5, 0.5, 1.0])
    assert np.isnan(metrics.per_class_accuracy(before, labels, 4)[3])
    f = metrics.flips(before, after, labels)
    assert f["fixed"].tolist() == [1, 3] and f["broken"].tolist() == [2]


def test_effective_robustness_is_distance_above_the_logit_linear_fit():
    id_acc = np.array([0.3, 0.5, 0.7, 0.9])
    ood_acc = metrics.sigmoid(0.8 * metrics.logit(id_acc) - 0.5)  # baselines exactly on a line
    trend = metrics.fit_linear_trend(id_acc, ood_acc)
    assert trend == pytest.approx((0.8, -0.5), abs=1e-6)
    assert metrics.effective_robustness(0.6, metrics.sigmoid(0.8 * metrics.logit(0.6) - 0.5), trend) == pytest.approx(
        0, abs=1e-9
    )
    assert metrics.effective_robustness(0.6, 0.7, trend) == pytest.approx(0.7 - metrics.predicted_ood(0.6, trend))
    with pytest.raises(ValueError, match="at least 2"):
        metrics.fit_linear_trend([0.5], [0.4])


def test_loss_barrier_against_the_chord():
    alphas = np.linspace(0, 1, 5)
    bump = np.array([1.0, 2.0, 3.0, 2.0, 1.0])  # rises 2 above a flat chord
    assert metrics.loss_barrier(bump, alphas) == pytest.approx(2.0)
    convex = np.array([2.0, 1.0, 0.8, 0.9, 1.5])  # stays below the chord from 2.0 to 1.5
    assert metrics.loss_barrier(convex, alphas) == pytest.approx(0.0)
    assert metrics.accuracy_barrier(np.array([0.9, 0.5, 0.8]), np.array([0, 0.5, 1])) == pytest.approx(0.35)
