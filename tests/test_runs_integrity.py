"""Issue 10 (run side): reused sweep work matches its inputs, a run is always whole (kills at every
write, readers during a re-sweep), per-set facts, set names, damaged runs, config bounds, files."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys

import numpy as np
import pytest

from conftest import CLASSES, REPO, copy_run, make_image_folder, run_cli
from core.cli import main
from core.data.registry import get_dataset
from core.results import metrics, report
from core.runs import sweep_store
from core.runs.artifacts import Run, RunFormatError
from explorer import live, state

NEW_GRID = "0,0.25,0.5,0.75,1"


def sweep_cli(run, folders, *extra, ood=True):
    args = ["sweep", "--run", run, "--id", f"folder:{folders['val']}", "--alphas", "0,0.5,1", "--float32"]
    return [*args, *(["--ood", f"folder:{folders['shift']}"] if ood else []), *extra]


def consistent(run: Run) -> list[dict]:
    """Everything a reader sees agrees with the manifest; returns the metrics table."""
    rows = run.metrics_rows()
    a = len(run.alphas)
    for name in run.dataset_names:
        n, labels = int(run.dataset_info(name)["n"]), run.labels(name)
        assert len(labels) == n == len(run.ids(name))
        red = run.reductions(name)
        assert red["pred"].shape == (a, n) and red["class_hits"].shape[0] == a
        assert run.grid_logits(name).shape[:2] == (a, n)
    report.as_json(run)  # the table, key alphas: crashed with IndexError on a mixed run
    for r, want in zip(rows, run.recompute_metrics()):
        assert r["accuracy"] == pytest.approx(want["accuracy"]) and r["loss"] == pytest.approx(want["loss"], rel=1e-5)
    return rows


def why_unopenable(path) -> str | None:
    """What the explorer's run picker shows next to a run that cannot open (explorer/app.py's damage:
    the error of preparing it), or None when it opens."""
    try:
        state.load_run(path)
    except Exception as err:  # noqa: BLE001  (as the app: any reader error marks the run damaged)
        return str(err) or type(err).__name__
    return None


def table(rows):
    return [(r["dataset"], round(r["alpha"], 6), round(r["accuracy"], 6), round(r["loss"], 5)) for r in rows]


# ----------------------------------------------------------------------------- 1: stale reuse


def test_resweep_with_limit_recomputes_everything(e2e_run, folders, tmp_path):
    run = copy_run(e2e_run, tmp_path / "run")
    run_cli(*sweep_cli(run, folders, "--limit", "6"))
    r = Run(run)
    assert r.dataset_info("val")["n"] == 6 and len(r.labels("val")) == 6 and len(r.ids("val")) == 6
    assert {row["n"] for row in r.metrics_rows()} == {6}
    consistent(r)


def test_resweep_with_another_folder_of_the_same_name(e2e_run, folders, tmp_path):
    other = make_image_folder(tmp_path / "other" / "val", 3, seed=7)
    shutil.rmtree(other / CLASSES[2])  # two of the three classes
    run = copy_run(e2e_run, tmp_path / "run")
    run_cli("sweep", "--run", run, "--id", f"folder:{other}", "--alphas", "0,0.5,1", "--float32")
    r = Run(run)
    assert r.dataset_names == ["val"] and r.dataset_info("val")["classnames"] == list(CLASSES[:2])
    assert all(i.startswith(str(other)) for i in r.ids("val")) and len(r.ids("val")) == 6
    assert r.logits("val", 0.0).shape == (6, 2)
    consistent(r)


@pytest.mark.slow
def test_interrupted_with_one_chunking_resumed_with_another(e2e_run, folders, tmp_path, monkeypatch):
    run = copy_run(e2e_run, tmp_path / "run")
    shutil.rmtree(run / "sweep")
    (run / "manifest.json").write_text(
        json.dumps({k: v for k, v in json.loads((run / "manifest.json").read_text()).items() if k != "sweep"})
    )

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sweep_store, "consolidate", killed)
    with pytest.raises(KeyboardInterrupt):
        main([str(a) for a in sweep_cli(run, folders, "--chunk-size", "8")])
    assert len(list((run / "sweep" / ".partial" / "val").glob("chunk_*"))) == 3
    monkeypatch.undo()
    run_cli(*sweep_cli(run, folders, "--chunk-size", "5"))
    resumed, reference = Run(run), Run(e2e_run)
    for name in ("val", "shift"):
        np.testing.assert_allclose(resumed.grid_logits(name), reference.grid_logits(name), atol=1e-5, rtol=0)
    assert table(consistent(resumed)) == table(reference.metrics_rows())
    assert not (run / "sweep" / ".partial").exists()


def test_damaged_final_file_is_refused_then_repaired_by_a_rerun(e2e_run, folders, tmp_path):
    run = copy_run(e2e_run, tmp_path / "run")
    path = Run(run).folder / "val.safetensors"
    data = path.read_bytes()
    path.unlink()  # a new inode: the other runs that share this one by hard link keep theirs
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(RunFormatError, match="truncated"):
        Run(run).logits("val", 0.0)
    assert "truncated" in why_unopenable(run)
    run_cli(*sweep_cli(run, folders))
    np.testing.assert_array_equal(Run(run).grid_logits("val"), Run(e2e_run).grid_logits("val"))


def test_unchanged_sets_are_reused_not_recomputed(e2e_run, folders, tmp_path):
    run = copy_run(e2e_run, tmp_path / "run")
    before = Run(run).folder / "val.safetensors"
    run_cli(*sweep_cli(run, folders))
    after = Run(run).folder / "val.safetensors"
    assert after != before and after.stat().st_ino == before.stat().st_ino  # linked into the new generation


@pytest.mark.slow
def test_an_image_replaced_under_the_same_path_is_recomputed(e2e_run, folders, tmp_path):
    """The ids (paths) and labels stay the same, the pixels do not: the old logits must not be reused."""
    val = shutil.copytree(folders["val"], tmp_path / "val")
    run = copy_run(e2e_run, tmp_path / "run")
    args = ["sweep", "--run", run, "--id", f"folder:{val}", "--alphas", "0,0.5,1", "--float32"]
    run_cli(*args)
    before = Run(run).grid_logits("val").copy()
    first = sorted((val / CLASSES[0]).iterdir())[0]
    shutil.copyfile(sorted((val / CLASSES[1]).iterdir())[0], first)  # another class's image, same file name
    run_cli(*args)
    after = Run(run).grid_logits("val")
    changed = np.flatnonzero(np.abs(after - before).max(axis=(0, 2)) > 0)
    assert list(changed) == [0], f"examples whose logits changed: {changed}"
    consistent(Run(run))


def test_world_sets_change_identity_with_their_styles(monkeypatch):
    """A new world style (world v2's shifts) keeps every id and label of a split but changes its
    pixels, so results swept or trained on the old split are not reused."""
    from core.train import trainstate
    from core.train.finetune import FinetuneConfig
    from core.worlds import registry, styles

    registry._generate.cache_clear()
    old = get_dataset("world:v2:16")
    monkeypatch.setattr(styles, "V2_ROT", styles.V2_ROT + 30)
    registry._generate.cache_clear()
    new = get_dataset("world:v2:16")
    registry._generate.cache_clear()
    assert old.ids == new.ids and (old.labels == new.labels).all() and old.content != new.content
    ident = [trainstate.identity(FinetuneConfig(), s, "t0", {}, None) for s in (old, new)]
    assert ident[0]["train_set"]["digest"] == ident[1]["train_set"]["digest"] and ident[0] != ident[1]


# ----------------------------------------------------------------------------- 2: always whole

KILLER = """
import os, shutil, signal, sys
kill_at, calls = int(sys.argv[1]), [0]
def counted(real):
    def wrapper(*args, **kwargs):
        calls[0] += 1
        if calls[0] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(*args, **kwargs)
    return wrapper
os.replace, os.link, shutil.rmtree = counted(os.replace), counted(os.link), counted(shutil.rmtree)
from core.cli import main
code = main(sys.argv[2:])
print("WRITES", calls[0], file=sys.stderr)
sys.exit(code)
"""


def killed_sweep(run, folders, kill_at: int) -> subprocess.CompletedProcess:
    args = [str(a) for a in sweep_cli(run, folders, "--chunk-size", "10")]
    args[args.index("0,0.5,1")] = NEW_GRID
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-c", KILLER, str(kill_at), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_a_kill_at_any_write_leaves_the_old_or_the_new_run(e2e_run, folders, tmp_path):
    old = table(Run(e2e_run).metrics_rows())
    ref = copy_run(e2e_run, tmp_path / "ref")
    done = killed_sweep(ref, folders, 0)
    assert done.returncode == 0, done.stderr
    writes = int(done.stderr.rsplit("WRITES", 1)[1].split()[0])
    new = table(Run(ref).metrics_rows())
    assert len(new) == 2 * 5 and writes > 10
    seen = set()
    for k in range(1, writes + 1):
        run = copy_run(e2e_run, tmp_path / f"kill{k}")
        assert killed_sweep(run, folders, k).returncode == -9
        got = table(consistent(Run(run)))
        assert got in (old, new), f"kill at write {k}: a mixed run"
        seen.add(got == new)
        run_cli(*[a if a != "0,0.5,1" else NEW_GRID for a in sweep_cli(run, folders, "--chunk-size", "10")])
        assert table(consistent(Run(run))) == new, f"kill at write {k}: the rerun did not finish the sweep"
        assert not list(run.rglob(".*.tmp")), f"kill at write {k}: a leftover temporary file"
        shutil.rmtree(run)
    assert seen == {False, True}


@pytest.mark.slow
def test_readers_during_a_resweep_see_whole_runs(e2e_run, folders, tmp_path):
    run = copy_run(e2e_run, tmp_path / "run")
    old = table(Run(run).metrics_rows())
    args = [str(a) for a in sweep_cli(run, folders, "--chunk-size", "2", "--batch-size", "2")]
    args[args.index("0,0.5,1")] = "0:1:11"
    proc = subprocess.Popen(
        [sys.executable, "-m", "core", *args],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    reads, grids = 0, set()
    while proc.poll() is None:
        r = Run(run)
        rows = consistent(r)
        grids.add(len(r.alphas))
        assert len(r.alphas) == 11 or table(rows) == old
        live.run_payload(state.load_run(run))  # what the app builds per run
        reads += 1
    assert proc.returncode == 0 and reads >= 3
    assert len(Run(run).alphas) == 11 and 3 in grids


# ----------------------------------------------------------------------------- 6: per-set facts


@pytest.mark.slow
def test_linear_run_with_a_max_projected_set(lc_run, folders, tmp_path):
    run = copy_run(lc_run, tmp_path / "run")
    val = get_dataset(f"folder:{folders['val']}")
    grouped = get_dataset(f"grouped=folder:{folders['shift']}")
    grouped.classnames = ["cat or dog", "fish"]  # like ObjectNet: a class scores the max of its head classes
    grouped.labels = (grouped.labels == 2).astype(np.int64)
    grouped.logit_indices = np.array([[0, 1], [2, 2]])
    from core.wiseft.sweep import SweepConfig, sweep

    sweep(run, [(val, "id"), (grouped, "ood")], SweepConfig(alphas=(0.0, 0.5, 1.0), logits_dtype="float32"))
    r = Run(run)
    assert r.exact_any_alpha("val") and not r.exact_any_alpha("grouped") and not r.linear_in_alpha
    assert r.dataset_info("grouped")["storage"] == "grid" and r.dataset_info("grouped")["projection"] == "max"
    assert np.allclose(r.logits("val", 0.37), 0.63 * r.logits("val", 0.0) + 0.37 * r.logits("val", 1.0), atol=1e-5)
    with pytest.raises(ValueError, match="not on this run's grid"):
        r.logits("grouped", 0.37)
    assert "exact for any alpha on val" in report.format_table(r)
    ra = state.load_run(run)
    shown = live.run_payload(ra)["acc"]["grouped"]  # the live view's accuracy curve
    for alpha in r.alphas:  # the explorer reads the stored per-alpha results, never a blend of the ends
        want = metrics.accuracy(r.logits("grouped", alpha), r.labels("grouped"))
        assert shown[state.view_index(ra, alpha)] == pytest.approx(want, abs=1e-6)


# ----------------------------------------------------------------------------- 7, 8, 9, 10


def test_set_names_cannot_leave_the_run(e2e_run, folders, tmp_path, capsys):
    run = copy_run(e2e_run, tmp_path / "a" / "b" / "run")
    for bad in ("../../escaped", ".hidden", "a/b"):
        assert main(["sweep", "--run", str(run), "--id", f"{bad}=folder:{folders['val']}"]) == 2
        err = capsys.readouterr().err
        assert "not allowed" in err and "no path separators" in err and err.count("\n") == 1
    assert not list(tmp_path.rglob("escaped*"))


def test_damaged_runs_are_reported_and_the_others_still_open(e2e_run, tmp_path, capsys):
    root = tmp_path / "runs"
    good = copy_run(e2e_run, root / "good")
    as_list = copy_run(e2e_run, root / "as_list")
    (as_list / "manifest.json").write_text("[1, 2]")
    no_classes = copy_run(e2e_run, root / "no_classes")
    m = json.loads((no_classes / "manifest.json").read_text())
    del m["classnames"]
    (no_classes / "manifest.json").write_text(json.dumps(m))
    for path, why in ((as_list, "JSON list"), (no_classes, "'classnames'")):
        assert main(["info", "--run", str(path)]) == 2
        err = capsys.readouterr().err
        assert why in err and "damaged" in err and err.count("\n") == 1
        assert why in why_unopenable(path)
    assert set(state.list_runs([root])) == {good, as_list, no_classes}
    assert why_unopenable(good) is None and state.load_run(good).sets


def test_bad_baseline_rows_are_refused_and_the_run_opens(e2e_run, tmp_path):
    run = copy_run(e2e_run, tmp_path / "run")
    (run / "baselines.csv").write_text("model,dataset,accuracy\nA,val,0.5\nB,val,oops\nC,val,1.7\n")
    r = Run(run)
    assert [b["model"] for b in r.baselines()] == ["A"] and len(r.baseline_problems) == 2
    assert state.load_run(run).baselines == {"A": {"val": 0.5}}


def test_junk_partial_chunk_is_recomputed(e2e_run, folders, tmp_path):
    run = copy_run(e2e_run, tmp_path / "run")
    junk = run / "sweep" / ".partial" / "val" / "chunk_00000.safetensors"
    junk.parent.mkdir(parents=True)
    junk.write_bytes(b"\x00junk" * 10)
    run_cli(*sweep_cli(run, folders, "--alphas", "0,1"))  # a new grid: nothing reusable
    assert table(consistent(Run(run)))


@pytest.mark.parametrize("flag", [("--chunk-size", "0"), ("--batch-size", "0"), ("--workers", "-1")])
def test_sweep_config_bounds(e2e_run, folders, tmp_path, capsys, flag):
    run = copy_run(e2e_run, tmp_path / "run")
    before = {p: p.stat().st_mtime_ns for p in run.rglob("*")}
    assert main([str(a) for a in sweep_cli(run, folders, *flag)]) == 2
    err = capsys.readouterr().err
    # the parser refuses non-positive sizes itself; SweepConfig refuses what reaches it (workers < 0)
    assert ("must be an integer >=" in err or "must be at least 1" in err) and flag[0] in err and err.count("\n") == 1
    assert {p: p.stat().st_mtime_ns for p in run.rglob("*")} == before
    field = {"--chunk-size": "chunk_size", "--batch-size": "batch_size", "--workers": "num_workers"}[flag[0]]
    from core.wiseft.sweep import SweepConfig

    with pytest.raises(ValueError, match=f"{field} must be an integer >="):  # the library's own bound
        SweepConfig(**{field: int(flag[1])})


@pytest.mark.slow
def test_files_respect_the_umask_and_leftovers_are_cleaned(e2e_run, folders, tmp_path):
    run = copy_run(e2e_run, tmp_path / "run")
    old = os.umask(0o022)
    try:
        run_cli(*sweep_cli(run, folders, "--alphas", "0,1"))
    finally:
        os.umask(old)
    r = Run(run)
    for path in (run / "manifest.json", r.folder / "val.safetensors", r.folder / "metrics.csv"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path
    leftover = r.folder / ".metrics.csv.999999999.dead.tmp"  # a killed writer's leftover (no such pid)
    leftover.write_bytes(b"half")
    from core.runs.files import atomic_write_bytes

    atomic_write_bytes(r.folder / "note.txt", b"x")
    assert not leftover.exists()
