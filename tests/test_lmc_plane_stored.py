"""The stored loss plane (core.lmc.plane.write_plane / read_plane) against core.lmc.plane.loss_surface computed on the
fly, its staleness check, and the explorer's "Loss plane" tab (AppTest), on conftest's tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from conftest import REPO, copy_run
from core.data.registry import get_dataset
from core.lmc import plane
from core.model.clip import transforms_from_cfg
from core.model.evaluate import decode
from core.runs.artifacts import Run, read_manifest
from core.runs.weights import load_classifier, load_weights, save_weights
from explorer import charts, state

APP = str(REPO / "explorer" / "app.py")
PLANE = "plane.safetensors"
CFG = plane.PlaneConfig(steps_per_unit=2, pad=0, n_id=None, n_ood=6)  # a few grid points, whole ID set


def third_weights(run: Path, path: Path, seed: int = 0, scale: float = 0.5) -> Path:
    """theta_c: theta_1 plus Gaussian noise of norm `scale` * ||theta_1 - theta_0|| (floating tensors)."""
    t0, t1 = (
        load_weights(run / "weights" / "zeroshot.safetensors"),
        load_weights(run / "weights" / "finetuned.safetensors"),
    )
    g = torch.Generator().manual_seed(seed)
    keys = [k for k, v in t1.items() if v.is_floating_point()]
    noise = {k: torch.randn(t1[k].shape, generator=g) for k in keys}
    dist = sum(float(((t1[k] - t0[k]) ** 2).sum()) for k in keys) ** 0.5
    norm = sum(float((n**2).sum()) for n in noise.values()) ** 0.5
    save_weights(path, {k: v + scale * dist / norm * noise[k] if k in noise else v for k, v in t1.items()})
    return path


@pytest.fixture(scope="module")
def plane_run(tmp_path_factory, e2e_run) -> Path:
    root = tmp_path_factory.mktemp("plane")
    run = copy_run(e2e_run, root / "with-plane")
    plane.write_plane(run, third_weights(run, root / "theta_c.safetensors"), "noisy fine-tune", CFG)
    return run


def images_of(run: Run, names: list[str], n: int | None):
    model, pp = load_classifier(run.path)
    xs, ys = [], []
    for name in names:
        ds = get_dataset(run.dataset_info(name)["spec"])
        k = len(ds) if n is None else min(n, len(ds))
        xs.append(decode(ds, transforms_from_cfg(pp)[1], np.arange(k)))
        ys.append(np.asarray(ds.labels[:k]))
    return model, torch.cat(xs), np.concatenate(ys)


def test_the_stored_plane_equals_the_surface_computed_on_the_fly(plane_run):
    run, stored = Run(plane_run), plane.read_plane(plane_run)
    assert stored is not None and stored.stale is None
    theta_c = plane_run / stored.meta["theta_c"]
    states = [
        load_weights(run.weights_path("zeroshot")),
        load_weights(run.weights_path("finetuned")),
        load_weights(theta_c),
    ]
    np.testing.assert_allclose(stored.meta["c"], plane.plane(*states)[2])
    assert stored.xs[0] <= 0 and stored.xs[-1] >= max(1.0, stored.meta["c"][0]) and stored.ys[-1] >= stored.meta["c"][1]
    assert np.allclose(np.diff(stored.xs), 1 / CFG.steps_per_unit) and np.allclose(
        np.diff(stored.ys), 1 / CFG.steps_per_unit
    )
    for group, names, n in (("id", [run.id_dataset], CFG.n_id), ("ood", run.ood_datasets, CFG.n_ood)):
        model, images, labels = images_of(run, names, n)
        assert stored.meta["sets"][group] == [
            {"name": m, "spec": run.dataset_info(m)["spec"], "n": len(labels) // len(names)} for m in names
        ]
        shape = stored.surfaces[group]["loss"].shape
        assert shape == (len(stored.ys), len(stored.xs)) and shape[0] * shape[1] >= 4
        for j, i in [(0, 0), (shape[0] - 1, shape[1] - 1), (shape[0] // 2, 1)]:
            fly = plane.loss_surface(model, *states, images, labels, stored.xs[i : i + 1], stored.ys[j : j + 1])
            np.testing.assert_allclose(stored.surfaces[group]["loss"][j, i], fly["loss"][0, 0], rtol=1e-6)
            assert stored.surfaces[group]["accuracy"][j, i] == fly["accuracy"][0, 0]
    # theta_0 and theta_1 are grid points, and there the plane is the sweep's endpoints (whole ID set)
    i0, i1, j0 = (
        int(np.argmin(np.abs(stored.xs))),
        int(np.argmin(np.abs(stored.xs - 1))),
        int(np.argmin(np.abs(stored.ys))),
    )
    assert stored.xs[i0] == 0 and stored.xs[i1] == 1 and stored.ys[j0] == 0
    loss = run.metric_grid("loss")[run.id_dataset]
    np.testing.assert_allclose(stored.surfaces["id"]["loss"][j0, [i0, i1]], loss[[0, -1]], rtol=1e-4)
    manifest = read_manifest(plane_run)
    assert manifest["plane"] == {
        "file": "plane.safetensors",
        "theta_c": stored.meta["theta_c"],
        "label_c": "noisy fine-tune",
    }


def test_a_plane_whose_weights_changed_is_stale(plane_run, tmp_path):
    stored = plane.read_plane(plane_run)
    run = copy_run(plane_run, tmp_path / "run")
    (tmp_path / "theta_c.safetensors").write_bytes((plane_run / stored.meta["theta_c"]).read_bytes())
    assert plane.read_plane(run).stale is None  # the same bytes: current
    third_weights(run, tmp_path / "theta_c.safetensors", seed=1)
    assert "theta_c (theta_c.safetensors) changed" in plane.read_plane(run).stale
    plane.write_plane(run, tmp_path / "theta_c.safetensors", "another", CFG)
    assert plane.read_plane(run).stale is None
    save_weights(run / "weights" / "finetuned.safetensors", load_weights(run / "weights" / "zeroshot.safetensors"))
    assert "theta_1 (finetuned.safetensors) changed" in plane.read_plane(run).stale
    (tmp_path / "theta_c.safetensors").unlink()
    assert "theta_1" in plane.read_plane(run).stale  # the first difference found is named


def test_incompatible_third_weights_are_refused_and_the_stored_plane_is_kept(plane_run, tmp_path):
    run = copy_run(plane_run, tmp_path / "run")
    before = (run / PLANE).read_bytes()
    state_1 = load_weights(run / "weights" / "finetuned.safetensors")
    save_weights(tmp_path / "other.safetensors", {k: v for k, v in state_1.items() if not k.startswith("head.")})
    with pytest.raises(ValueError, match="keys only in"):
        plane.write_plane(run, tmp_path / "other.safetensors", "headless", CFG)
    assert (run / PLANE).read_bytes() == before


def test_the_chart_is_to_scale_log_coloured_and_marks_the_segment(plane_run):
    stored = plane.read_plane(plane_run)
    loss = {k: s["loss"] for k, s in stored.surfaces.items()}
    loss["id"] = loss["id"].copy()
    loss["id"][0, -1] = np.nan  # undefined: a gap, not a colour
    fig = charts.loss_plane(
        stored.xs, stored.ys, loss, {"a": (0, 0), "b": (1, 0), "c": tuple(stored.meta["c"])}, alpha=0.3
    )
    go.Figure(fig.to_dict())  # plotly validates the spec
    contours = [t for t in fig.data if t.type == "contour"]
    assert len(contours) == 2 and contours[0].connectgaps is False and np.isnan(contours[0].z[0][-1])
    np.testing.assert_allclose(np.asarray(contours[1].z, dtype=float), np.log10(loss["ood"]))
    axis = fig.layout.coloraxis.colorbar
    assert axis.ticktext and all(
        10**v == pytest.approx(float(t), rel=1e-9) for v, t in zip(axis.tickvals, axis.ticktext)
    )
    assert (
        fig.layout.yaxis.scaleanchor == "x"
        and fig.layout.yaxis2.scaleanchor == "x2"
        and fig.layout.yaxis.scaleratio == 1
    )
    segment = [t for t in fig.data if t.type == "scatter" and list(t.x) == [0, 1] and list(t.y) == [0, 0]]
    stars = [t for t in fig.data if t.type == "scatter" and t.marker.symbol == "star"]
    assert len(segment) == 2 and [float(s.x[0]) for s in stars] == [0.3, 0.3]


def test_nats_ticks_label_log10_positions():
    vals, text = charts.nats_ticks(0.006, 1.7)
    assert text == ["0.01", "0.02", "0.05", "0.1", "0.2", "0.5", "1"] and np.allclose(
        vals, np.log10([float(t) for t in text])
    )
    vals, text = charts.nats_ticks(1.09, 2.57)  # narrow: rounded values between
    assert len(text) >= 3 and all(1.09 <= float(t) <= 2.57 for t in text)


# ----------------------------------------------------------------------------- the app


@pytest.fixture(scope="module")
def app_root(tmp_path_factory, plane_run, e2e_run) -> Path:
    root = tmp_path_factory.mktemp("plane_app")
    theta_c = plane.read_plane(plane_run).meta["theta_c"]
    (root / Path(theta_c).name).write_bytes((plane_run / theta_c).read_bytes())  # ../theta_c.safetensors
    copy_run(plane_run, root / "with-plane")
    copy_run(e2e_run, root / "no-plane")
    stale = copy_run(plane_run, root / "stale-plane")
    save_weights(stale / "weights" / "finetuned.safetensors", load_weights(stale / "weights" / "zeroshot.safetensors"))
    return root


def open_tab(monkeypatch, root: Path, run: str, tab: str | None = "Loss plane"):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv(state.RUNS_ENV, str(root))
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update({"run": str(root / run), **({"tab": tab} if tab else {})})
    at.run()
    assert not at.exception, at.exception
    return at


def test_the_app_shows_the_plane_tab_with_its_chart(monkeypatch, app_root):
    at = open_tab(monkeypatch, app_root, "with-plane")
    assert "Loss plane" in [t.label for t in at.tabs]
    (chart,) = at.get("plotly_chart")
    spec = json.loads(chart.proto.spec)
    assert [t["type"] for t in spec["data"]].count("contour") == 2
    assert any("What am I looking at" in m.value for m in at.markdown) and not at.error and not at.warning


@pytest.mark.slow
def test_no_plane_tab_on_a_run_without_one(monkeypatch, app_root):
    at = open_tab(monkeypatch, app_root, "no-plane")
    assert "Loss plane" not in [t.label for t in at.tabs]
    assert not at.error and not at.get("plotly_chart")


def test_a_stale_plane_is_not_shown_as_current(monkeypatch, app_root):
    at = open_tab(monkeypatch, app_root, "stale-plane")
    assert not at.get("plotly_chart")
    assert any("out of date" in w.value and "theta_1" in w.value for w in at.warning)


@pytest.mark.slow
def test_the_world_build_step_recomputes_only_a_stale_or_differently_configured_plane(plane_run, tmp_path):
    from core.worlds.build.config import WorldBuild
    from core.worlds.build.recipes import world_plane

    run = copy_run(plane_run, tmp_path / "run")
    theta_c = third_weights(run, tmp_path / "theta_c.safetensors")
    b = WorldBuild.quick(tmp_path / "data", tmp_path / "work")
    world_plane(b, run, theta_c)  # the stored plane has another grid (CFG): recomputed
    first = (run / PLANE).read_bytes()
    assert plane.read_plane(run).meta["config"]["steps_per_unit"] == 1
    world_plane(b, run, theta_c)  # current: kept as it is
    assert (run / PLANE).read_bytes() == first
    third_weights(run, theta_c, seed=2)
    world_plane(b, run, theta_c)  # theta_c changed: recomputed, current again
    assert (run / PLANE).read_bytes() != first and plane.read_plane(run).stale is None


@pytest.mark.slow
def test_a_schema_1_run_gets_the_plane_file_and_keeps_its_manifest(plane_run, tmp_path):
    """Schema-1 runs (the shipped world's) are read as they are: the plane is found by its file name."""
    run = copy_run(plane_run, tmp_path / "run")
    manifest = read_manifest(run)
    del manifest["plane"]
    (run / "manifest.json").write_text(json.dumps({**manifest, "schema_version": 1}))
    (run / PLANE).unlink()
    before = (run / "manifest.json").read_bytes()
    theta_c = third_weights(run, tmp_path / "theta_c.safetensors")
    plane.write_plane(run, theta_c, "noisy", CFG)
    assert (run / "manifest.json").read_bytes() == before
    stored = plane.read_plane(run)
    assert stored.stale is None and stored.meta["label_c"] == "noisy" and set(stored.surfaces) == {"id", "ood"}
