"""core.results.tables against numbers recomputed from the stored logits (core.results.metrics on Run.logits), on the
shipped world run; and `python -m core info --format ...`, which prints the paper's layout."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core import cli
from core.results import metrics, tables
from core.results.compare import compare, load_reference
from core.results.report import as_json, format_table
from core.runs.artifacts import Run

REPO = Path(__file__).resolve().parents[1]
RUN = REPO / "data" / "runs" / "world-e2e"
pytestmark = pytest.mark.skipif(not (RUN / "manifest.json").exists(), reason="no shipped world run (make world)")


@pytest.fixture(scope="module")
def run() -> Run:
    return Run(RUN)


def _recomputed(run: Run) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{dataset: (accuracy (A,), loss (A,))} from the logits at each grid alpha."""
    out = {}
    for name in run.dataset_names:
        logits, labels = run.logits(name, run.alphas), run.labels(name)  # (A, N, C), (N,)
        out[name] = (metrics.accuracy(logits, labels), metrics.cross_entropy(logits, labels))
    return out


def test_metrics_frame_is_tidy_and_equals_the_logits(run):
    frame = tables.metrics_frame(run)
    assert list(frame.columns) == ["dataset", "role", "alpha", "metric", "value", "lo", "hi", "n"]
    assert len(frame) == 2 * len(run.alphas) * len(run.dataset_names)
    for name, (acc, loss) in _recomputed(run).items():
        for metric, expected in (("accuracy", acc), ("loss", loss)):
            rows = frame[(frame.dataset == name) & (frame.metric == metric)]
            np.testing.assert_allclose(rows.alpha, run.alphas)
            np.testing.assert_allclose(rows.value, expected, atol=1e-6)
            assert set(rows.role) == {run.dataset_info(name)["role"]}
            assert set(rows.n) == {len(run.labels(name))}


def test_run_table_is_the_paper_layout_of_recomputed_accuracies(run):
    table = tables.run_table(run)
    assert table.index.names == ["method", "alpha"]
    assert list(table.columns) == [run.id_dataset, *run.ood_datasets, tables.AVG_SHIFTS]
    np.testing.assert_allclose(table.index.get_level_values("alpha"), run.alphas)
    acc = {name: 100 * a for name, (a, _) in _recomputed(run).items()}
    for name, values in acc.items():
        np.testing.assert_allclose(table[name].to_numpy(), values, atol=1e-4)
    np.testing.assert_allclose(table[tables.AVG_SHIFTS], np.mean([acc[n] for n in run.ood_datasets], axis=0), atol=1e-4)


def test_baselines_frame_and_robustness_frame(run):
    base = tables.baselines_frame(run)
    assert len(base) == len(run.baselines()) > 0
    assert set(base.role) == {"id", "ood"}
    assert set(base[base.role == "id"].dataset) == {run.id_dataset}
    # the fit, recomputed from baselines.csv by hand, and the path's accuracies from the logits
    models = list(dict.fromkeys(base.model))
    acc = {(r["model"], r["dataset"]): r["accuracy"] for r in run.baselines()}
    base_id = np.array([acc[m, run.id_dataset] for m in models])
    base_ood = np.array([np.mean([acc[m, d] for d in run.ood_datasets]) for m in models])
    trend = metrics.fit_linear_trend(base_id, base_ood)
    rec = _recomputed(run)
    path_id = rec[run.id_dataset][0]
    path_ood = np.mean([rec[n][0] for n in run.ood_datasets], axis=0)
    frame = tables.robustness_frame(run)
    avg = frame[frame.ood == "avg_ood"]
    np.testing.assert_allclose(avg[["slope", "intercept"]].iloc[0], trend)
    np.testing.assert_allclose(avg.id_accuracy, path_id, atol=1e-6)
    np.testing.assert_allclose(avg.ood_accuracy, path_ood, atol=1e-6)
    np.testing.assert_allclose(
        avg.effective_robustness, metrics.effective_robustness(path_id, path_ood, trend), atol=1e-6
    )
    assert set(frame.ood) == {*run.ood_datasets, "avg_ood"}
    assert (frame.er_lo < frame.effective_robustness).all() and (frame.effective_robustness < frame.er_hi).all()


def test_reference_frame_in_the_paper_layout():
    rows = load_reference("table5")
    frame = tables.reference_frame("table5")
    assert len(frame) == len(rows)
    table = tables.paper_layout(frame)
    # both fine-tuning modes, 21 alphas each, the paper's own columns (its averages, not recomputed)
    assert table.index.names == ["finetune", "method", "alpha"] and len(table) == 42
    assert list(table.columns)[:2] == ["ImageNet", "ImageNetV2"] and list(table.columns)[-2:] == [
        tables.AVG_SHIFTS,
        "avg reference, shifts",
    ]
    for r in rows:
        if r["alpha"] == "0.50":
            dataset = tables.PAPER_AVERAGES.get(r["dataset"], r["dataset"])
            assert table.loc[(r["finetune"], "WiSE-FT", 0.5), dataset] == float(r["value"])


def test_comparison_frame_matches_compare_and_the_logits(run, tmp_path):
    reference = tmp_path / "world_reference.csv"  # a made-up "paper" in the world's dataset names
    reference.write_text(
        "table,model,finetune,method,alpha,dataset,metric,value\n"
        + "".join(f"T,world,end-to-end,WiSE-FT,0.50,{d},accuracy,50.0\n" for d in run.dataset_names)
        + "T,world,none,zero-shot,,id_test,accuracy,60.0\n"
    )
    result = compare(run, load_reference(str(reference)), allow_mismatch=True)  # world:objectnet is not the named set
    frame = tables.comparison_frame(result)
    assert len(frame) == len(result["rows"]) == len(run.dataset_names) + 1
    rec = _recomputed(run)
    i = run.grid_index(0.5)
    half = frame[frame.alpha == 0.5].set_index("dataset")
    for name in run.dataset_names:
        assert half.loc[name, "run"] == pytest.approx(100 * rec[name][0][i], abs=1e-4)
        assert half.loc[name, "delta"] == pytest.approx(100 * rec[name][0][i] - 50.0, abs=1e-4)
    deltas = tables.paper_layout(
        frame.assign(role=["id" if d == run.id_dataset else "ood" for d in frame.dataset]), value="delta"
    )
    assert list(deltas.index) == [("WiSE-FT", 0.5), ("zero-shot", 0.0)]
    assert deltas.loc[("zero-shot", 0.0), run.id_dataset] == pytest.approx(100 * rec[run.id_dataset][0][0] - 60.0)


@pytest.mark.parametrize("fmt", ["csv", "markdown", "latex"])
def test_info_format_prints_the_layout(run, fmt, capsys):
    assert cli.main(["info", "--run", str(RUN), "--format", fmt]) == 0
    out = capsys.readouterr().out.strip()
    table, (lo, hi) = tables.run_table(run), tables.run_interval_tables(run)
    assert out == tables.format_frame(table, fmt, intervals=(lo, hi))
    i = int(run.grid_index(0.5))
    half = (hi[run.id_dataset].iloc[i] - lo[run.id_dataset].iloc[i]) / 2
    if fmt == "csv":
        import pandas as pd

        back = pd.read_csv(io.StringIO(out))
        np.testing.assert_allclose(back[run.id_dataset], table[run.id_dataset], atol=1e-3)
        np.testing.assert_allclose(back[f"{run.id_dataset} lo"], lo[run.id_dataset], atol=1e-3)
        np.testing.assert_allclose(back[f"{tables.AVG_SHIFTS} hi"], hi[tables.AVG_SHIFTS], atol=1e-3)
    if fmt == "markdown":
        lines = out.splitlines()
        assert len(lines) == 2 + len(run.alphas)
        assert lines[0].startswith("| method | alpha | id_test |")
        assert lines[2 + i].startswith(f"| WiSE-FT | 0.50 | {table[run.id_dataset].iloc[i]:.2f} ± {half:.2f} |")
    if fmt == "latex":
        assert "\\begin{tabular}" in out and "avg shifts" in out
        assert f"{table[run.id_dataset].iloc[i]:.2f} $\\pm$ {half:.2f}" in out


def test_info_table_and_json_stay_as_before(run, capsys):
    assert cli.main(["info", "--run", str(RUN), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(as_json(run)))
    assert cli.main(["info", "--run", str(RUN)]) == 0
    assert capsys.readouterr().out.strip() == format_table(run)


def test_core_does_not_import_pandas():
    code = "import sys, core.results.tables, core.cli, core.results.report, core.results.compare; print('pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "False"
