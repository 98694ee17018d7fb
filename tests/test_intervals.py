"""Issue 24: every accuracy a reader sees with its 95% interval. `info` (table, json, csv), the tables,
`compare` and the claims recomputed from the shipped world run's logits and predictions; a difference
within noise and one that is not."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from core import cli
from core.results import claims, metrics, tables
from core.results import uncertainty as U
from core.results.compare import compare, format_comparison, load_reference
from core.results.report import as_json, interval_grid
from core.runs.artifacts import Run

REPO = Path(__file__).resolve().parents[1]
RUN = REPO / "data" / "runs" / "world-e2e"
pytestmark = pytest.mark.skipif(not (RUN / "manifest.json").exists(), reason="no shipped world run (make world)")


@pytest.fixture(scope="module")
def run() -> Run:
    return Run(RUN)


@pytest.fixture(scope="module")
def hits(run) -> dict[str, np.ndarray]:
    """{set: correct examples (A,)} counted from the stored logits at each grid alpha."""
    return {n: (metrics.predictions(run.logits(n, run.alphas)) == run.labels(n)).sum(axis=1) for n in run.dataset_names}


@pytest.fixture(scope="module")
def wilson(run, hits) -> dict[str, np.ndarray]:
    """{set: (A, 2) [lo, hi]} of uncertainty.wilson on those counts, and avg_ood's bootstrap of each set."""
    n = {s: len(run.labels(s)) for s in run.dataset_names}
    out = {s: np.array([[U.wilson(int(h), n[s]).lo, U.wilson(int(h), n[s]).hi] for h in hits[s]]) for s in hits}
    avg = [
        U.mean_accuracy_interval([int(hits[s][i]) for s in run.ood_datasets], [n[s] for s in run.ood_datasets])
        for i in range(len(run.alphas))
    ]
    out["avg_ood"] = np.array([[iv.lo, iv.hi] for iv in avg])
    return out


def test_info_json_carries_the_wilson_interval_of_every_accuracy(run, wilson, capsys):
    assert cli.main(["info", "--run", str(RUN), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert set(printed["accuracy_ci"]) == {*run.dataset_names, "avg_ood"}
    for name, expected in wilson.items():
        np.testing.assert_allclose(printed["accuracy_ci"][name], expected, atol=1e-12)
        lo, hi = np.array(printed["accuracy_ci"][name]).T
        assert (lo <= np.array(printed["accuracy"][name])).all() and (np.array(printed["accuracy"][name]) <= hi).all()
    assert printed == json.loads(json.dumps(as_json(run)))


def test_info_table_prints_each_accuracy_with_half_its_interval(run, wilson, capsys):
    assert cli.main(["info", "--run", str(RUN)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("top-1 % ± half its 95% interval (Wilson on n = 2,000 examples")
    cols = lines[2].split()[1:]
    assert cols == [*run.dataset_names, "avg_ood"]
    acc = {**run.metric_grid("accuracy")}
    acc["avg_ood"] = np.mean([acc[n] for n in run.ood_datasets], axis=0)
    for i, line in enumerate(lines[3 : 3 + len(run.alphas)]):
        cells = dict(zip(cols, line.split()[1:]))
        for name in cols:
            lo, hi = wilson[name][i]
            assert cells[name] == f"{100 * acc[name][i]:.2f}±{50 * (hi - lo):.2f}", (name, i)


def test_info_csv_carries_the_interval_ends(run, wilson, capsys):
    import pandas as pd

    assert cli.main(["info", "--run", str(RUN), "--format", "csv"]) == 0
    back = pd.read_csv(io.StringIO(capsys.readouterr().out))
    for name in run.dataset_names:
        np.testing.assert_allclose(back[f"{name} lo"], 100 * wilson[name][:, 0], atol=1e-3)
        np.testing.assert_allclose(back[f"{name} hi"], 100 * wilson[name][:, 1], atol=1e-3)
    np.testing.assert_allclose(back[f"{tables.AVG_SHIFTS} lo"], 100 * wilson["avg_ood"][:, 0], atol=1e-3)


def test_metrics_frame_and_claims_give_the_same_intervals(run, wilson):
    frame = tables.metrics_frame(run)
    for name in run.dataset_names:
        rows = frame[(frame.dataset == name) & (frame.metric == "accuracy")]
        np.testing.assert_allclose(rows[["lo", "hi"]].to_numpy(), wilson[name], atol=1e-12)
        from_predictions = claims.accuracy_intervals(run, name)  # the per-example path agrees with the counts
        np.testing.assert_allclose([[iv.lo, iv.hi] for iv in from_predictions], wilson[name], atol=1e-12)
    assert frame[frame.metric == "loss"][["lo", "hi"]].isna().all().all()
    grid = interval_grid(run)
    np.testing.assert_allclose(np.stack(grid["avg_ood"], axis=1), wilson["avg_ood"])


def test_robustness_frame_interval_is_the_bootstrap_of_the_stored_correctness(run):
    frame = tables.robustness_frame(run)
    correct = {n: claims.correctness(run, n) for n in run.dataset_names}  # (A, N) from the stored predictions
    for ood in ("v2", "avg_ood"):
        trend = tables.baseline_trend(run, ood)
        rows = frame[frame.ood == ood].reset_index(drop=True)
        for i in (0, 10, 20):
            oods = [correct[n][i] for n in run.ood_datasets] if ood == "avg_ood" else correct[ood][i]
            iv = U.effective_robustness_interval(correct[run.id_dataset][i], oods, trend)
            assert rows.effective_robustness[i] == pytest.approx(iv.value, abs=1e-9)
            assert (rows.er_lo[i], rows.er_hi[i]) == pytest.approx((iv.lo, iv.hi), abs=1e-12)
    zs, ft = frame[(frame.ood == "avg_ood") & frame.alpha.isin([0.0, 1.0])].sort_values("alpha").itertuples()
    assert zs.er_lo > ft.er_hi  # zero-shot's effective robustness is above the fine-tuned model's, beyond noise


def test_compare_prints_the_runs_interval_beside_the_paper(run, wilson, tmp_path, capsys):
    reference = tmp_path / "world_reference.csv"  # a made-up "paper" in the world's dataset names
    reference.write_text(
        "table,model,finetune,method,alpha,dataset,metric,value\n"
        "T,world,end-to-end,WiSE-FT,0.50,v2,accuracy,83.0\n"
        "T,world,end-to-end,WiSE-FT,0.50,objectnet,accuracy,62.0\n"
        'T,world,end-to-end,"WiSE-FT, optimal alpha (per column)",,objectnet,accuracy,66.0\n'
    )
    result = compare(run, load_reference(str(reference)), allow_mismatch=True)
    cells = {(r["label"], r["dataset"]): r for r in result["rows"]}
    i, best = int(run.grid_index(0.5)), int(np.argmax(run.metric_grid("accuracy")["objectnet"]))
    for (label, name), k in (
        (("alpha 0.50", "v2"), i),
        (("alpha 0.50", "objectnet"), i),
        (("optimal alpha", "objectnet"), best),
    ):
        assert (cells[label, name]["lo"], cells[label, name]["hi"]) == pytest.approx(tuple(100 * wilson[name][k]))
    assert cells["alpha 0.50", "v2"]["lo"] < 83.0 < cells["alpha 0.50", "v2"]["hi"]  # 83.75 [82.1, 85.3]
    assert cells["alpha 0.50", "objectnet"]["lo"] > 62.0  # 65.15 [63.0, 67.2]: the "paper" is outside
    text = format_comparison(result)
    lo, hi = 100 * wilson["v2"][i]
    assert f"[{lo:.1f}, {hi:.1f}]" in text and "95% CI" in text
    assert "2 of 3 paper numbers lie inside the run's 95% interval" in text
    frame = tables.comparison_frame(result)
    np.testing.assert_allclose(frame[["run_lo", "run_hi"]].to_numpy(), [[r["lo"], r["hi"]] for r in result["rows"]])
    assert cli.main(["compare", "--run", str(RUN), "--reference", str(reference), "--allow-mismatch"]) == 0
    assert capsys.readouterr().out.strip() == text


def test_a_difference_within_noise_and_a_gain_are_told_apart(run):
    """world-e2e at alpha 0.5: objectnet against zero-shot is within noise, v2 against fine-tuned a gain."""
    noise = claims.difference(run, "objectnet", 0.5, 0.0)
    gain = claims.difference(run, "v2", 0.5, 1.0)
    assert noise.sign == 0 and claims.format_pp(noise.interval) == "+1.4 pp [-0.6, +3.4]"
    assert gain.sign == 1 and claims.format_pp(gain.interval) == "+2.3 pp [+0.7, +4.0]"
    assert claims.verdict(noise).startswith("alpha 0.5 is within noise of the zero-shot end (alpha 0) on objectnet")
    assert claims.verdict(gain).startswith("alpha 0.5 beats the fine-tuned end (alpha 1) on v2 by +2.3 pp")
    # the paired difference is narrower than the two accuracies' own intervals suggest
    a, b = (U.accuracy_interval(claims.correctness(run, "v2")[k]) for k in (run.grid_index(1.0), run.grid_index(0.5)))
    assert a.hi > b.lo  # the Wilson intervals overlap, yet the paired interval excludes zero


@pytest.mark.parametrize("name,reference", [("objectnet", 0.0), ("v2", 1.0), ("avg_ood", 1.0)])
def test_differences_along_the_path_are_the_pointwise_differences(run, name, reference):
    along = claims.differences_along_path(run, name, reference)
    assert len(along) == len(run.alphas)
    for i in (0, 10, 20):
        assert along[i] == claims.difference(run, name, float(run.alphas[i]), reference).interval
