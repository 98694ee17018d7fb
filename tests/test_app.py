"""The explorer, headless: its per-change computations against core, its charts, and the Streamlit app
through streamlit.testing.v1.AppTest (opens, follows the slider, switches runs, paper mode, messages)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import pytest
from PIL import Image

from conftest import REPO, copy_run, run_cli
from core.results import metrics
from core.runs.artifacts import Run, update_manifest
from explorer import charts, live, paper, state

APP = str(REPO / "explorer" / "app.py")
TIMEOUT = 60  # the first run imports torch (gallery, predictor)


def write_baselines(run: Path, models: int = 4, seed: int = 0) -> None:
    """A baselines.csv for the robustness scatter's fit: a few models with made-up accuracies."""
    rng = np.random.default_rng(seed)
    names = Run(run).dataset_names
    with (run / "baselines.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["model", "dataset", "accuracy"])
        for m in range(models):
            for name in names:
                writer.writerow([f"baseline {m}", name, f"{rng.uniform(0.3, 0.9):.4f}"])


@pytest.fixture(scope="session")
def runs_root(tmp_path_factory, zeroshot_run, e2e_run, folders) -> Path:
    """A runs folder with a tiny end-to-end run and a linear-classifier run trained long enough
    that its accuracy changes mid-path (conftest's lc_run stays at chance), each with baselines."""
    root = tmp_path_factory.mktemp("app_runs")
    write_baselines(copy_run(e2e_run, root / "tiny-e2e"))
    lc = copy_run(zeroshot_run, root / "tiny-lc")
    run_cli(
        "finetune",
        "--run",
        lc,
        "--train",
        f"folder:{folders['train']}",
        "--mode",
        "linear-classifier",
        "--epochs",
        "20",
        "--batch-size",
        "16",
        "--warmup-steps",
        "1",
        "--lr",
        "0.2",
    )
    run_cli(
        "sweep",
        "--run",
        lc,
        "--id",
        f"folder:{folders['val']}",
        "--ood",
        f"folder:{folders['shift']}",
        "--alphas",
        "0,0.5,1",
        "--float32",
    )
    write_baselines(lc)
    return root


def open_app(monkeypatch, root: Path | None):
    from streamlit.testing.v1 import AppTest

    if root is None:
        monkeypatch.delenv(state.RUNS_ENV, raising=False)
    else:
        monkeypatch.setenv(state.RUNS_ENV, str(root))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    return at


def live_args(at) -> dict:
    """The arguments the app sent to the live view (explorer/components/live): explorer.payload.LiveArgs."""
    (element,) = [e for e in at.get("component_instance") if e.proto.component_name.endswith("wiseft_live")]
    return json.loads(element.proto.json_args)


def live_payload(at) -> dict:
    """What the app sent to the live view to draw tiles and charts from."""
    return live_args(at)["payload"]


def shown(at, alpha: float | None = None) -> dict[str, str]:
    """The metric tiles at alpha (default: the view's starting alpha): {set label: accuracy}, formatted
    as the tiles format them (live.js pct)."""
    p = live_payload(at)
    alpha = p["alpha"] if alpha is None else alpha
    i = int(np.argmin(np.abs(np.asarray(p["alphas"]) - alpha)))
    return {
        s["label"]: "n/a" if p["acc"][s["name"]][i] is None else f"{100 * p['acc'][s['name']][i]:.1f}%"
        for s in p["sets"]
    }


def expected(run: Run, alpha: float) -> dict[str, str]:
    """The metric row recomputed here from the run's stored logits."""
    acc = {n: metrics.accuracy(run.logits(n, alpha), run.labels(n)) for n in run.dataset_names}
    if run.ood_datasets:
        acc["avg OOD"] = np.mean([acc[n] for n in run.ood_datasets])
    return {n: f"{100 * a:.1f}%" for n, a in acc.items()}


def pick(at, run_dir: Path):
    at.selectbox(key="run").set_value(run_dir).run()
    assert not at.exception, at.exception
    return at


# ----------------------------------------------------------------------------- state and charts


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["tiny-e2e", "tiny-lc"])
def test_state_agrees_with_core_metrics(runs_root, kind):
    run = Run(runs_root / kind)
    ra = state.load_run(run.path)
    for name in run.dataset_names:
        logits = run.grid_logits(name)  # (A, N, C)
        grid = [state.view_index(ra, a) for a in run.alphas]
        assert np.array_equal(ra.sets[name].accuracy[grid], metrics.accuracy(logits, run.labels(name)))
        np.testing.assert_allclose(ra.sets[name].loss[grid], metrics.cross_entropy(logits, run.labels(name)), rtol=1e-5)
        got = state.flips(ra, name, 0.0, 1.0)
        want = metrics.flips(logits[0], logits[-1], run.labels(name))
        assert all(np.array_equal(got[k], want[k]) for k in ("fixed", "broken"))
        np.testing.assert_array_equal(
            state.per_class_accuracy(ra, name, 1.0),
            metrics.per_class_accuracy(logits[-1], run.labels(name), len(run.classnames)),
        )


def test_linear_runs_are_exact_off_the_sweep_grid(runs_root):
    """The live view's tables of a linear run hold every 0.01 step, each exact (the closed form)."""
    run = Run(runs_root / "tiny-lc")
    ra = state.load_run(run.path)
    assert state.view_index(ra, 0.37) is not None and state.view_index(ra, 0.371) is None
    p = live.run_payload(ra)
    g = state.view_index(ra, 0.37)
    for name in run.dataset_names:
        assert p["acc"][name][g] == pytest.approx(metrics.accuracy(run.logits(name, 0.37), run.labels(name)), abs=1e-6)
    with pytest.raises(ValueError, match="not on the view grid"):  # the slider and the compared α never are
        state.flips(ra, run.id_dataset, 0.0, 0.371)


def test_every_chart_is_a_valid_plotly_figure(runs_root):
    ra = state.load_run(runs_root / "tiny-e2e")
    fit = state.trend(ra, state.AVG_OOD)
    er = live.run_payload(ra)["scatter"]["er"][state.view_index(ra, 0.5)]
    curves = ra.accuracy_curves()
    sweep = paper.list_sweeps()[0]
    figs = [
        charts.accuracy_vs_alpha(ra.alphas, curves, 0.5, ra.id_name),
        charts.robustness_scatter(
            [{"name": "run", "alphas": ra.alphas, "x": curves[ra.id_name], "y": curves[state.AVG_OOD]}],
            state.baseline_points(ra, state.AVG_OOD),
            fit,
            {"alpha": 0.5, "x": 0.6, "y": 0.5, "er": er},
        ),
        charts.loss_path(ra.alphas, ra.loss_curves(), 0.5, ra.id_name, state.barriers(ra)),
        charts.path_probabilities(ra.alphas, np.full((len(ra.alphas), 3), 1 / 3), ra.classnames, 0.5),
        charts.paper_curves(sweep, 0.5),
    ]
    for fig in figs:
        go.Figure(fig.to_dict())  # validates every property (the charts are built unvalidated)


# ----------------------------------------------------------------------------- the app


@pytest.mark.slow
def test_app_opens_on_the_default_run(monkeypatch, runs_root):
    shipped = state.list_runs(list(state.DEFAULT_ROOTS))  # the embedded world's runs, once built
    at = open_app(monkeypatch, None if shipped else runs_root)
    default = Run((shipped or state.list_runs([runs_root]))[0])
    assert default.name in at.subheader[0].value
    assert shown(at) == expected(default, 0.5)
    assert len(live_payload(at)["acc"]) >= 2 and live_payload(at)["loss"]  # the accuracy, scatter and loss charts' data


@pytest.mark.parametrize("kind", ["tiny-e2e", "tiny-lc"])
def test_every_slider_position_shows_accuracies_recomputed_from_the_logits(monkeypatch, runs_root, kind):
    """The slider moves in the browser (test_browser.py); what it can show is sent once: every alpha
    of the view grid, off the sweep grid for the linear run, must match the stored logits."""
    run = Run(runs_root / kind)
    grid = state.view_grid(run)
    at = pick(open_app(monkeypatch, runs_root), run.path)
    assert np.allclose(live_payload(at)["alphas"], grid)
    assert shown(at) == expected(run, 0.5)
    off_grid = [a for a in grid if not np.isin(a, run.alphas)] if run.linear_in_alpha else []
    for alpha in [*run.alphas, *off_grid[::7]]:
        assert shown(at, float(alpha)) == expected(run, float(alpha)), alpha


def test_the_url_opens_the_exact_view(monkeypatch, runs_root):
    run = Run(runs_root / "tiny-lc")
    monkeypatch.setenv(state.RUNS_ENV, str(runs_root))
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update({"run": str(run.path), "alpha": "0.37", "set": "shift", "tab": "Choosing α"})
    at.run()
    assert not at.exception, at.exception
    payload = live_payload(at)
    assert payload["title"] == run.name and payload["alpha"] == 0.37 and payload["dataset"] == "shift"
    assert shown(at) == expected(run, 0.37)
    assert at.query_params["run"] == str(run.path) and at.query_params["set"] == "shift"
    assert any("best on ID" in str(df.value) for df in at.dataframe)  # the Choosing α tab is the open one


def test_the_run_picker_switches_runs(monkeypatch, runs_root):
    at = open_app(monkeypatch, runs_root)
    for kind in ("tiny-lc", "tiny-e2e"):
        run = Run(runs_root / kind)
        pick(at, run.path)
        assert run.name in at.subheader[0].value and shown(at) == expected(run, 0.5)
    assert live_payload(at)["alphas"] == [0.0, 0.5, 1.0]  # the e2e grid
    at.text_input(key="run_path").set_value(str(runs_root / "tiny-lc")).run()  # a path typed in
    assert "tiny-lc" in at.subheader[0].value and not at.exception
    at.text_input(key="run_path").set_value(str(runs_root / "no-such-run")).run()
    assert "does not exist" in at.error[0].value


def test_the_changes_tab_shows_fixed_examples_with_their_images(monkeypatch, runs_root):
    run = Run(runs_root / "tiny-e2e")
    at = pick(open_app(monkeypatch, runs_root), run.path)
    assert any("Examples at **α = 0.50**" in m.value for m in at.markdown)  # the URL's (default) alpha
    at.session_state["live"] = 1.0  # what the live view sends when its slider rests at alpha 1 on this tab
    at.run()
    assert any("Examples at **α = 1.00**" in m.value for m in at.markdown)
    fixed = metrics.flips(run.logits("val", 0.0), run.logits("val", 1.0), run.labels("val"))["fixed"]
    assert any(f"**{len(fixed)} fixed** examples of *val*" in m.value for m in at.markdown)
    assert len(at.get("image")) == min(len(fixed), 12)


@pytest.mark.slow
def test_try_your_own_image(monkeypatch, runs_root):
    run = Run(runs_root / "tiny-e2e")
    at = pick(open_app(monkeypatch, runs_root), run.path)
    at.query_params["tab"] = "Try your own image"
    at.session_state["tab"] = "Try your own image"
    at.run()
    assert not at.exception and len(at.get("plotly_chart")) == 1  # an example of the run, along alpha
    at.radio(key=f"src:{run.path}").set_value("upload one").run()
    at.file_uploader(key=f"upload:{run.path}").set_value(("notes.png", b"not an image", "image/png")).run()
    assert "Cannot read notes.png" in at.error[0].value
    assert "notes.png is a text file, not an image" in at.error[0].value and "BytesIO" not in at.error[0].value
    buf = io.BytesIO()
    Image.new("RGB", (40, 40), (200, 30, 30)).save(buf, format="PNG")
    charts_before = len(at.get("plotly_chart"))
    at.file_uploader(key=f"upload:{run.path}").set_value(("red.png", buf.getvalue(), "image/png")).run()
    assert not at.exception and not at.error, (at.exception, at.error)
    assert len(at.get("plotly_chart")) == charts_before + 1


def test_paper_mode_shows_the_published_numbers(monkeypatch, runs_root):
    at = open_app(monkeypatch, runs_root)
    at.radio(key="mode").set_value("The paper's numbers").run()
    assert not at.exception, at.exception
    assert shown(at)["ImageNet"] == "86.8%" and shown(at)["avg OOD"] == "76.9%"  # Table 4, E2E, alpha 0.5
    assert (
        shown(at, 1.0)["ImageNet"] == "86.2%" and shown(at, 1.0)["ImageNet-R"] == "79.8%"
    )  # = Table 1, fine-tuned E2E
    assert live_payload(at)["scatter"]["fit"] is not None  # the trend line through the fine-tuned ends
    align_lc = next(s.label for s in paper.list_sweeps() if s.table == "Table 9" and s.finetune == "linear-classifier")
    at.selectbox(key="paper_sweep").set_value(align_lc).run()
    assert shown(at, 1.0)["ImageNet"] == "n/a"  # a blank cell of the table, not "nan"


def test_no_runs_found(monkeypatch, tmp_path):
    at = open_app(monkeypatch, tmp_path)
    assert "No runs found" in at.warning[0].value


def test_a_run_of_an_unknown_schema_version(monkeypatch, tmp_path, runs_root):
    run = copy_run(runs_root / "tiny-e2e", tmp_path / "future")
    manifest = json.loads((run / "manifest.json").read_text())
    (run / "manifest.json").write_text(json.dumps({**manifest, "schema_version": 99}))
    at = open_app(monkeypatch, tmp_path)
    assert "schema version 99" in at.error[0].value


def test_a_damaged_run_is_listed_as_damaged_and_the_others_still_open(monkeypatch, tmp_path, runs_root):
    good = copy_run(runs_root / "tiny-e2e", tmp_path / "b-good")
    bad = copy_run(runs_root / "tiny-e2e", tmp_path / "a-bad")
    (Run(bad).folder / "val.safetensors").write_bytes(b"truncated")  # the generation the manifest names
    at = open_app(monkeypatch, tmp_path)
    labels = at.selectbox(key="run").options  # as the picker shows them
    assert any("a-bad" in label and "damaged" in label for label in labels), labels
    pick(at, bad)
    assert at.error and "Cannot open this run" in at.error[0].value
    pick(at, good)
    assert not at.error and shown(at) == expected(Run(good), 0.5)


def test_a_run_without_an_ood_set(monkeypatch, tmp_path, runs_root):
    run = copy_run(runs_root / "tiny-e2e", tmp_path / "id-only")
    update_manifest(run, lambda m: m["sweep"].update(datasets=[d for d in m["sweep"]["datasets"] if d["role"] == "id"]))
    at = open_app(monkeypatch, tmp_path)
    assert "no OOD eval set" in at.warning[0].value
    assert list(shown(at)) == ["val"]


def test_compare_overlays_a_second_run_and_the_eval_sets_tab_shows_samples(monkeypatch, runs_root):
    run, other = Run(runs_root / "tiny-e2e"), Run(runs_root / "tiny-lc")
    at = pick(open_app(monkeypatch, runs_root), run.path)
    at.selectbox(key="compare").set_value(other.path.name).run()
    (overlay,) = live_payload(at)["overlay"]
    acc = {n: metrics.accuracy(other.grid_logits(n), other.labels(n)) for n in other.dataset_names}
    grid = [int(np.argmin(np.abs(np.asarray(overlay["alphas"]) - a))) for a in other.alphas]
    np.testing.assert_allclose(np.asarray(overlay["x"])[grid], acc["val"], atol=1e-6)
    sweep = paper.list_sweeps()[0]
    at.selectbox(key="compare").set_value(sweep.label).run()
    assert live_payload(at)["overlay"][0]["name"] == sweep.label
    at.session_state["tab"] = "The eval sets"
    at.run()
    assert not at.exception, at.exception
    assert len(at.get("image")) >= len(run.dataset_names)  # sample images of every set
    assert any("val" in m.value and "ID" in m.value for m in at.markdown)


def test_a_link_may_name_a_listed_run(monkeypatch, runs_root):
    """?run=NAME opens the listed run of that name (links written by hand for a class)."""
    run = Run(runs_root / "tiny-lc")
    monkeypatch.setenv(state.RUNS_ENV, str(runs_root))
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update({"run": "tiny-lc"})
    at.run()
    assert not at.exception and not at.error, at.error
    assert live_payload(at)["title"] == run.name


def test_the_csv_downloads_are_core_tables(monkeypatch, runs_root):
    """The Choosing-α tab offers the run's tables as CSV, made by core.results.tables (as `info --format csv`)."""
    run = Run(runs_root / "tiny-e2e")
    at = open_app(monkeypatch, runs_root)
    pick(at, run.path)
    at.query_params["tab"] = "Choosing α"
    at.run()
    labels = [b.proto.label for b in at.get("download_button")]
    assert "Download the metrics, tidy (CSV)" in labels and "Download the paper-style table (CSV)" in labels
