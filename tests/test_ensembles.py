"""Output-space ensembles (core.results.ensembles, issue 28) recomputed by hand from the stored endpoint logits of
the shipped world runs, beside WiSE-FT's weight-space curve; and `info --ensemble`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, copy_run, run_cli
from core import cli
from core.results import ensembles, tables
from core.runs.artifacts import Run

RUNS = Path(REPO) / "data" / "runs"
pytestmark = pytest.mark.skipif(
    not (RUNS / "world-e2e" / "manifest.json").exists(), reason="no shipped world (make world)"
)


@pytest.fixture(scope="module")
def e2e() -> Run:
    return Run(RUNS / "world-e2e")


def by_hand(
    z0: np.ndarray, z1: np.ndarray, labels: np.ndarray, alpha: float, mix: str
) -> tuple[np.ndarray, np.ndarray]:
    """(pred, per-example loss) of the ensemble, written out in float64 without core.results.metrics."""
    z0, z1 = z0.astype(np.float64), z1.astype(np.float64)

    def log_softmax(z):
        z = z - z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    if mix == "logits":
        logp = log_softmax((1 - alpha) * z0 + alpha * z1)
    else:
        logp = np.log((1 - alpha) * np.exp(log_softmax(z0)) + alpha * np.exp(log_softmax(z1)))
    return logp.argmax(axis=1), -logp[np.arange(len(labels)), labels]


@pytest.mark.parametrize("mix", ensembles.MIXES)
def test_ensemble_curve_is_the_mix_of_the_stored_endpoint_logits(e2e, mix):
    for name in e2e.dataset_names:
        z0, z1, labels = e2e.logits(name, 0.0), e2e.logits(name, 1.0), e2e.labels(name)  # (N, C), (N, C), (N,)
        curve = ensembles.output_ensemble(e2e, name, mix)
        assert curve.pred.shape == curve.loss.shape == (len(e2e.alphas), len(labels))
        for i, a in enumerate(e2e.alphas):
            pred, loss = by_hand(z0, z1, labels, float(a), mix)
            assert (curve.pred[i] != pred).sum() == 0, (name, a)
            np.testing.assert_allclose(curve.loss[i], loss, rtol=1e-4, atol=1e-5)
            assert curve.accuracy[i] == (pred == labels).mean()


def test_weight_space_and_output_space_curves_differ_as_the_logits_say(e2e):
    rows = {(r["dataset"], r["alpha"]): r for r in ensembles.ensemble_rows(e2e)}
    changed = 0
    for name in e2e.dataset_names:
        z0, z1, labels = e2e.logits(name, 0.0), e2e.logits(name, 1.0), e2e.labels(name)
        for a in e2e.alphas:
            wise = e2e.logits(name, float(a)).argmax(axis=1) == labels  # theta_alpha's own logits (one network)
            mixed = by_hand(z0, z1, labels, float(a), "logits")[0] == labels  # the two ends' logits mixed
            r = rows[name, float(a)]
            assert r["wiseft"].value == wise.mean() and r["ensemble"].value == mixed.mean()
            assert r["difference"].value == pytest.approx(mixed.mean() - wise.mean(), abs=1e-12)
            assert r["difference"].lo <= r["difference"].value <= r["difference"].hi
            if a in (0.0, 1.0):
                assert r["difference"].value == 0  # at the ends the ensemble is one of the two networks
            changed += int((wise != mixed).sum())
    assert changed > 0, "the end-to-end run's weight-space and output-space ensembles agree on every example"
    # on average OOD the stored logits put the ensemble above WiSE-FT at alpha 0.4 and below it at 0.8
    assert rows["avg_ood", 0.4]["difference"].sign == 1 and rows["avg_ood", 0.8]["difference"].sign == -1


def test_logit_mixing_is_wiseft_for_a_linear_classifier():
    """A head-only fine-tune: the logits W x are linear in the head's weights W (the features x are theta_0's at
    every alpha), so f(x; (1 - a) W_0 + a W_1) = (1 - a) f(x; W_0) + a f(x; W_1): the two ensembles are one
    function, and the run's closed-form logits give the same bits for both. Mixing probabilities is not."""
    lc = Run(RUNS / "world-lc")
    assert lc.linear_in_alpha
    differ = 0
    for name in lc.dataset_names:
        curve = ensembles.output_ensemble(lc, name, "logits")
        assert np.array_equal(curve.pred, lc.reductions(name)["pred"])
        assert np.array_equal(curve.loss, lc.reductions(name)["loss"])
        differ += int((ensembles.output_ensemble(lc, name, "probs").pred != curve.pred).sum())
    assert differ > 0


def test_reductions_only_sets_say_why_there_is_no_ensemble(e2e_run, folders, tmp_path):
    run = copy_run(e2e_run, tmp_path / "run")
    run_cli("sweep", "--run", run, "--id", f"folder:{folders['val']}", "--alphas", "0,0.5,1", "--reductions-only")
    with pytest.raises(ensembles.EnsembleError, match="reductions-only"):
        ensembles.output_ensemble(Run(run), Run(run).id_dataset)
    run_cli("sweep", "--run", run, "--id", f"folder:{folders['val']}", "--alphas", "0,0.5", "--float32")
    with pytest.raises(ensembles.EnsembleError, match=r"lacks alpha \[1.0\]"):
        ensembles.output_ensemble(Run(run), Run(run).id_dataset)
    with pytest.raises(ValueError, match="unknown ensemble mix"):
        ensembles.mix_outputs(np.zeros((1, 2)), np.zeros((1, 2)), 0.5, "votes")


@pytest.mark.slow
def test_info_ensemble_prints_both_methods_and_their_cost(e2e, capsys):
    assert cli.main(["info", "--run", str(e2e.path), "--ensemble"]) == 0
    out = capsys.readouterr().out
    assert "mixing logits (2 forward passes per image; WiSE-FT 1)" in out
    assert out.strip().endswith(ensembles.format_ensemble(e2e, "logits"))
    assert cli.main(["info", "--run", str(e2e.path), "--ensemble", "probs", "--format", "markdown"]) == 0
    table = tables.run_table(e2e, ensemble="probs")
    assert capsys.readouterr().out.strip() == tables.format_frame(table, "markdown")
    assert list(dict.fromkeys(table.index.get_level_values("method"))) == ["WiSE-FT", "output-space ensemble (probs)"]
    half = table.loc[("output-space ensemble (probs)", 0.5)]
    curve = ensembles.output_ensemble(e2e, e2e.id_dataset, "probs")
    assert half[e2e.id_dataset] == pytest.approx(100 * curve.accuracy[e2e.grid_index(0.5)])
    assert cli.main(["info", "--run", str(e2e.path), "--ensemble", "--json"]) == 0
    block = json.loads(capsys.readouterr().out)["output_ensemble"]
    assert block["mix"] == "logits" and block["inference_passes"] == {"WiSE-FT": 1, "output-space ensemble": 2}
    assert len(block["rows"]) == len(e2e.alphas) * (len(e2e.dataset_names) + 1)


def test_compare_table13_matches_wiseft_and_the_output_space_ensemble(e2e_run, folders, tmp_path, capsys):
    """`compare --reference table13`: its WiSE-FT rows against the run's sweep, its output-space ensemble rows
    (NS EfficientNet ensembled with zero-shot CLIP) against the run's ensemble of its two ends."""
    from core.results.compare import compare, list_tables, load_reference
    from test_compare_mismatch import SHIFTS, fake_model

    if "table13" not in list_tables():
        pytest.skip("data/paper/ has no Table 13 yet")
    run = copy_run(e2e_run, tmp_path / "run")
    ood = [a for s in SHIFTS for a in ("--ood", f"{s}=folder:{folders['shift']}")]
    run_cli(
        "sweep", "--run", run, "--id", f"imagenet=folder:{folders['val']}", *ood, "--alphas", "0,0.5,1", "--float32"
    )
    fake_model(run, "ViT-L-14-336", "openai")
    r = Run(run)
    wise = compare(r, load_reference("table13"), allow_mismatch=True)  # the datasets are folders
    labels = {o["label"] for o in wise["rows"]}
    assert labels == {"standard fine-tuning (1)", "alpha 0.50", "optimal alpha"}
    ens = compare(r, load_reference("table13"), model="NS EfficientNet-L2", allow_mismatch=True)
    assert {o["label"] for o in ens["rows"]} == {
        "no ensemble (model alone) (1)",
        "output-space ensemble, alpha 0.50",
        "output-space ensemble, optimal alpha",
    }
    curve = 100 * ensembles.output_ensemble(r, "imagenet").accuracy
    cells = {(o["label"], o["dataset"]): o["run"] for o in ens["rows"]}
    assert cells["output-space ensemble, alpha 0.50", "ImageNet"] == pytest.approx(curve[1])
    assert cells["output-space ensemble, optimal alpha", "ImageNet"] == pytest.approx(curve.max())
    assert cells["no ensemble (model alone) (1)", "ImageNet"] == pytest.approx(curve[2])  # alpha 1: the fine-tuned end
    frame = tables.comparison_frame(ens)
    assert set(frame.method) == {
        "no ensemble (model alone)",
        "output-space ensemble",
        "output-space ensemble, optimal alpha",
    }
    assert (
        cli.main(
            [
                "compare",
                "--run",
                str(run),
                "--reference",
                "table13",
                "--model",
                "NS EfficientNet-L2",
                "--allow-mismatch",
            ]
        )
        == 0
    )
    assert "output-space ensemble, alpha 0.50" in capsys.readouterr().out
