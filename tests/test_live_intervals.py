"""The 95% intervals of the live view (issue 24): the closed-form bands of core.results.uncertainty against its
bootstraps on the shipped runs, the payload's intervals against core on the stored predictions, a change within
noise and one that is not, and the definitions tab naming both barrier definitions with their sources."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import REPO
from core.results import claims, metrics
from core.results import uncertainty as U
from core.runs.artifacts import Run
from explorer import explain, live, state

RUNS = REPO / "data" / "runs"
E2E, LC = RUNS / "world-e2e", RUNS / "world-lc"
pytestmark = pytest.mark.skipif(not (E2E / "manifest.json").exists(), reason="the shipped world runs are not built")


@pytest.fixture(scope="module")
def e2e() -> state.RunArrays:
    return state.load_run(E2E)


def test_wilson_band_equals_wilson_row_by_row():
    run = Run(E2E)
    for name in run.dataset_names:
        correct = claims.correctness(run, name)  # (A, N)
        band = U.wilson_band(correct)
        for g, row in enumerate(correct):
            iv = U.wilson(int(row.sum()), row.size)
            assert (band.value[g], band.lo[g], band.hi[g]) == pytest.approx((iv.value, iv.lo, iv.hi), abs=1e-12)


@pytest.mark.parametrize("path", [E2E, LC], ids=lambda p: p.name)
def test_difference_bands_agree_with_the_paired_bootstrap(path):
    """Every sweep alpha, both ends, each set and the OOD average: within 0.12 pp of the bootstrap, and the same sign
    except where the bootstrap's bound lies on 0 or one example from it (the lattice of a count over N examples)."""
    run = Run(path)
    correct = {n: claims.correctness(run, n) for n in run.dataset_names}
    for ref in (0, len(run.alphas) - 1):
        for name, c in correct.items():
            band, n = U.paired_difference_band(c[ref], c), c.shape[1]
            for g in range(len(run.alphas)):
                iv = U.paired_difference(c[ref], c[g])
                assert (band.lo[g], band.hi[g]) == pytest.approx((iv.lo, iv.hi), abs=0.0012), (name, ref, g)
                assert band.sign[g] == iv.sign or min(abs(iv.lo), abs(iv.hi)) <= 1 / n, (name, ref, g)
        band = U.mean_difference_band([(correct[n][ref], correct[n]) for n in run.ood_datasets])
        for g in range(0, len(run.alphas), 5):
            iv = U.mean_accuracy_difference([(correct[n][ref], correct[n][g]) for n in run.ood_datasets])
            assert (band.lo[g], band.hi[g]) == pytest.approx((iv.lo, iv.hi), abs=0.0006)
            assert band.sign[g] == iv.sign


def test_effective_robustness_and_barrier_bands_agree_with_their_bootstraps(e2e):
    run, ra = e2e.run, e2e
    for y in run.ood_datasets[:2]:
        fit = state.trend(ra, y)
        band = U.effective_robustness_band(ra.sets[ra.id_name].correct, [ra.sets[y].correct], fit)
        for g in (0, 10, 20):
            iv = U.effective_robustness_interval(ra.sets[ra.id_name].correct[g], ra.sets[y].correct[g], fit)
            assert band.value[g] == pytest.approx(iv.value, abs=1e-12)
            assert (band.lo[g], band.hi[g]) == pytest.approx((iv.lo, iv.hi), abs=0.006)  # +-8 pp wide near 97% ID
    scratch = Run(RUNS / "lmc-scratch")
    loss = scratch.reductions(scratch.id_dataset)["loss"]  # (A, N) nats
    error = 1.0 - claims.correctness(scratch, scratch.id_dataset)
    for values, tol in ((loss, 0.01), (error, 0.006)):
        for definition in metrics.BARRIER_DEFINITIONS:
            closed, boot = (
                U.barrier_interval(values, scratch.alphas, definition),
                U.path_barrier(values, scratch.alphas, definition, n_boot=400),
            )
            assert closed.value == pytest.approx(metrics.barrier(np.mean(values, axis=1), scratch.alphas, definition))
            assert (closed.lo, closed.hi) == pytest.approx((boot.lo, boot.hi), abs=tol)


def test_the_payload_intervals_are_core_uncertainty_on_the_stored_predictions(e2e):
    p = live.run_payload(e2e)
    run, ci, ends = e2e.run, p["ci"], (0, len(e2e.alphas) - 1)
    for alpha in (0.25, 0.5, 0.9):
        g = state.view_index(e2e, alpha)
        for name in run.dataset_names:
            c = claims.correctness(run, name)  # from the sweep's stored predictions, not the app's arrays
            iv = U.accuracy_interval(c[g])
            assert [ci["acc"][name][0][g], ci["acc"][name][1][g]] == pytest.approx([iv.lo, iv.hi], abs=1e-5)
            assert p["acc"][name][g] == pytest.approx(iv.value, abs=1e-6)
            for k, ref in enumerate(ends):
                band = U.paired_difference_band(c[ref], c[g : g + 1])
                assert [ci["diff"][name][k][0][g], ci["diff"][name][k][1][g]] == pytest.approx(
                    [band.lo[0], band.hi[0]], abs=1e-5
                )
                assert ci["sign"][name][k][g] == band.sign[0] == U.paired_difference(c[ref], c[g]).sign
        ood = [claims.correctness(run, n) for n in run.ood_datasets]
        band = U.mean_accuracy_band([c[g : g + 1] for c in ood])
        assert [ci["acc"][state.AVG_OOD][0][g], ci["acc"][state.AVG_OOD][1][g]] == pytest.approx(
            [band.lo[0], band.hi[0]], abs=1e-5
        )
        for k, ref in enumerate(ends):
            d = claims.difference(run, state.AVG_OOD, alpha, float(run.alphas[ref]))
            assert ci["sign"][state.AVG_OOD][k][g] == d.sign
    fit = state.trend(e2e, state.AVG_OOD)
    er = U.effective_robustness_band(
        e2e.sets[e2e.id_name].correct, [e2e.sets[n].correct for n in run.ood_datasets], fit
    )
    assert np.allclose(ci["er"], np.stack([er.lo, er.hi]), atol=1e-5) and ci["er_sign"] == er.sign.tolist()
    assert np.allclose(p["scatter"]["er"], er.value, atol=1e-6)
    assert set(ci["barrier"]) == set(run.dataset_names)


def test_within_noise_and_a_gain(e2e):
    """world-e2e at alpha 0.5: objectnet's change since zero-shot is within noise, v2's over the fine-tuned model a
    gain. world-lc at alpha 0.5 lies below an end on v2 and on sketch: sketch's loss to zero-shot is real, v2's to the
    fine-tuned model is within noise (its interval reaches 0). The payload's signs and claims.verdict agree."""
    p, g = live.run_payload(e2e), state.view_index(e2e, 0.5)
    assert p["ci"]["sign"]["objectnet"][0][g] == 0
    assert "within noise of the zero-shot end" in claims.verdict(claims.difference(e2e.run, "objectnet", 0.5, 0.0))
    assert p["ci"]["sign"]["v2"][1][g] == 1
    lo, hi = (bound[g] for bound in p["ci"]["diff"]["v2"][1])
    assert 0 < lo < p["acc"]["v2"][g] - p["acc"]["v2"][-1] < hi
    assert claims.verdict(claims.difference(e2e.run, "v2", 0.5, 1.0)).startswith("alpha 0.5 beats the fine-tuned end")
    lc = state.load_run(LC)
    p, g = live.run_payload(lc), state.view_index(lc, 0.5)
    assert p["acc"]["sketch"][g] < p["acc"]["sketch"][0] and p["ci"]["sign"]["sketch"][0][g] == -1
    assert claims.verdict(claims.difference(lc.run, "sketch", 0.5, 0.0)).startswith(
        "alpha 0.5 is below the zero-shot end"
    )
    assert p["acc"]["v2"][g] < p["acc"]["v2"][-1] and p["ci"]["sign"]["v2"][1][g] == 0
    assert "within noise of the fine-tuned end" in claims.verdict(claims.difference(lc.run, "v2", 0.5, 1.0))


def test_the_definitions_name_both_barriers_with_their_sources_and_work_them_out(e2e):
    curve = e2e.accuracy_curves()[e2e.id_name]
    text = explain.definitions_md(e2e.run.endpoints, None, (e2e.alphas, curve, e2e.id_name))
    assert "Entezari et al., 2022" in text and "Frankle et al.'s barrier* (2020)" in text and "2%" in text
    error = 1 - curve
    frankle, chord = (100 * metrics.barrier(error, e2e.alphas, d) for d in ("frankle", "chord"))
    assert frankle > 10 and chord < 0.05  # zero-shot -> fine-tuned on ID: Frankle's counts half the ends' gap
    assert f"the chord barrier is {chord:.1f} pp and Frankle et al.'s {frankle:.1f} pp" in text
    assert "gives 25.0 pp and 25.0 pp" in text  # equal ends: the two agree
    assert "Wilson" in text and "paired" in text and "within noise" in text.lower()
