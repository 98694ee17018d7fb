"""Issue 26, item 10: `python -m core upgrade` stores the reductions of a run swept before run format 2,
once, streaming; `info` and the explorer say so in one line when they meet such a run. The upgraded
run holds the same logits bit for bit and the reductions readers computed before."""

import json
import os

import numpy as np
import pytest

from conftest import copy_run
from core.cli import main
from core.runs.artifacts import Run
from core.runs.files import save_arrays
from core.runs.upgrade import needs_upgrade
from explorer import state
from test_sweep_reductions import as_schema_1


def snapshot(folder):
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*")}


def as_closed_form_schema_1(src: Run, dst) -> Run:
    """A schema-1 copy of a linear-classifier run: each set keeps its two endpoint logits."""
    old = as_schema_1(src, dst)
    for name in src.dataset_names:
        ends = {"logits_0": src.logits(name, 0.0), "logits_1": src.logits(name, 1.0)}
        save_arrays(
            old.path / "sweep" / f"{name}.safetensors",
            {"labels": src.labels(name), **ends},
            {"alphas": json.dumps(src.alphas.tolist())},
        )
    return Run(old.path)


@pytest.mark.parametrize("kind", ["grid", "closed_form"])
def test_upgrade_stores_what_readers_computed(e2e_run, lc_run, tmp_path, capsys, kind):
    src = Run(e2e_run if kind == "grid" else lc_run)
    old = (as_schema_1 if kind == "grid" else as_closed_form_schema_1)(src, tmp_path / "old")
    before = {n: (old.reductions(n), old.grid_logits(n)) for n in old.dataset_names}  # recomputed on read
    rows_before = old.metrics_rows()
    assert needs_upgrade(old)
    assert main(["upgrade", "--run", str(old.path)]) == 0
    assert "upgraded" in capsys.readouterr().out
    new = Run(old.path)
    assert new.manifest["schema_version"] == 2 and new.manifest["sweep"]["generation"] == "gen-0001"
    assert not needs_upgrade(new) and {d["storage"] for d in new.datasets} == {kind}
    assert sorted(p.name for p in (old.path / "sweep").iterdir()) == ["gen-0001"]  # schema-1 files removed
    assert not (old.path / "metrics.csv").exists()
    for name, (red, logits) in before.items():
        stored = new._load(name)
        assert "logits" in stored if kind == "grid" else "logits_0" in stored
        np.testing.assert_array_equal(new.grid_logits(name), logits)  # the same logits, bit for bit
        np.testing.assert_array_equal(stored["pred"], red["pred"])
        np.testing.assert_array_equal(stored["class_hits"], red["class_hits"])
        np.testing.assert_allclose(stored["loss"], red["loss"], rtol=1e-6)
    for a, b in zip(new.metrics_rows(), rows_before):
        assert (a["dataset"], a["alpha"]) == (b["dataset"], b["alpha"]) and a["accuracy"] == pytest.approx(
            b["accuracy"]
        )
    new.check()
    assert main(["upgrade", "--run", str(old.path)]) == 0
    assert "nothing to upgrade" in capsys.readouterr().out


def test_info_and_the_explorer_say_an_old_run_needs_the_upgrade(e2e_run, tmp_path, capsys):
    old = as_schema_1(Run(e2e_run), tmp_path / "old")
    assert main(["info", "--run", str(old.path)]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("note: ") and f"python -m core upgrade --run {old.path}" in err[0]
    assert f"python -m core upgrade --run {old.path}" in state.before_opening(old.path)
    assert main(["upgrade", "--run", str(old.path)]) == 0
    capsys.readouterr()
    assert main(["info", "--run", str(old.path)]) == 0 and capsys.readouterr().err == ""
    assert state.before_opening(old.path) is None and state.before_opening(e2e_run) is None


def test_a_damaged_old_run_is_refused_before_anything_is_written(e2e_run, zeroshot_run, tmp_path, capsys):
    old = as_schema_1(Run(e2e_run), tmp_path / "old")
    cut = old.path / "sweep" / "val.safetensors"
    os.truncate(cut, cut.stat().st_size // 2)
    before = snapshot(old.path)
    assert main(["upgrade", "--run", str(old.path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and str(cut) in err and "re-run the sweep" in err
    assert snapshot(old.path) == before
    run = copy_run(zeroshot_run, tmp_path / "zs")
    assert main(["upgrade", "--run", str(run)]) == 2
    assert "has no sweep yet" in capsys.readouterr().err
