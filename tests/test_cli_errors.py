"""Issue 10, item 9 (command line): every bad input is one line `error: ...`, exit code 2, no
traceback, nothing written; real bugs are not turned into one-word errors; example ids are opened
by the openers their dataset families register."""

import inspect
import shutil
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import copy_run, make_image_folder
from core import cli
from core.cli import main
from core.data import registry


def snapshot(folder):
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*")}


def fails(capsys, *args) -> str:
    assert main([str(a) for a in args]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    return lines[0]


def test_empty_classnames_file(tiny_config, tmp_path, capsys):
    empty = tmp_path / "classes.txt"
    empty.write_text("\n  \n")
    err = fails(
        capsys,
        "zeroshot",
        "--model",
        tiny_config,
        "--classnames",
        empty,
        "--templates",
        "simple",
        "--out",
        tmp_path / "run",
    )
    assert "holds no class names" in err and "one class name per line" in err
    assert not (tmp_path / "run").exists()
    err = fails(
        capsys, "zeroshot", "--model", tiny_config, "--classnames", tmp_path / "nope.txt", "--out", tmp_path / "r"
    )
    assert "is not a file" in err


@pytest.mark.parametrize("limit", ["0", "-3", "many"])
def test_sweep_limit_must_be_positive(e2e_run, folders, tmp_path, capsys, limit):
    run = copy_run(e2e_run, tmp_path / "run")
    before = snapshot(run)
    err = fails(capsys, "sweep", "--run", run, "--id", f"folder:{folders['val']}", "--limit", limit)
    assert "--limit" in err and ("at least 1" in err or "not an integer" in err)
    assert snapshot(run) == before


def test_limit_help_and_behaviour_agree(folders):
    images = registry.get_dataset(f"folder:{folders['val']}")  # 3 classes x 8, sorted by class
    assert sorted(set(images.subset(3).labels.tolist())) == [0, 1, 2]  # evenly spaced, not the first 3
    with pytest.raises(registry.DatasetError, match="positive"):
        images.subset(0)
    text = cli.build_parser()._subparsers._group_actions[0].choices["sweep"].format_help()
    assert "evenly spaced" in " ".join(text.split()) and "first N" not in text


def test_class_mismatch_names_the_set_its_role_and_the_classes(e2e_run, zeroshot_run, tmp_path, capsys):
    odd = make_image_folder(tmp_path / "odd", 2, seed=3)
    shutil.move(odd / "fish", odd / "zebra")  # 3 classes, like the head, but one of them differs
    run = copy_run(e2e_run, tmp_path / "run")
    before = snapshot(run)
    err = fails(capsys, "sweep", "--run", run, "--id", f"folder:{odd}")
    assert "eval set 'odd'" in err and "'zebra'" in err and "lacks: 'fish'" in err
    assert "has 3 classes but the model's head has 3" not in err
    assert snapshot(run) == before
    run = copy_run(zeroshot_run, tmp_path / "zs")
    before = snapshot(run)
    err = fails(capsys, "finetune", "--run", run, "--train", f"folder:{odd}", "--epochs", "1")
    assert "training set 'odd'" in err and "eval set" not in err and "'zebra'" in err
    assert snapshot(run) == before


def test_a_bug_is_not_turned_into_a_one_word_error(monkeypatch):
    def buggy(args):
        return {}["classnames"]

    monkeypatch.setitem(cli.VERBS, "datasets", cli.Verb(buggy, lambda p: None, "x", ()))
    with pytest.raises(KeyError):
        main(["datasets"])


def test_error_starts_on_a_fresh_line_after_a_progress_bar(monkeypatch, capsys):
    from tqdm.auto import tqdm

    def dies_mid_bar(args):
        bar = tqdm(total=10, desc="sweep val", file=sys.stderr, mininterval=0)
        bar.update(4)
        raise ValueError("the disk is full:\nfree some space")

    monkeypatch.setitem(cli.VERBS, "datasets", cli.Verb(dies_mid_bar, lambda p: None, "x", ()))
    assert main(["datasets"]) == 2
    err = capsys.readouterr().err
    assert "\nerror: the disk is full: free some space\n" in err  # its own line, and one line
    assert err.endswith("error: the disk is full: free some space\n")


def test_out_is_a_file_and_unknown_device(tiny_config, tmp_path, capsys):
    names = tmp_path / "classes.txt"
    names.write_text("cat\ndog\n")
    (tmp_path / "afile").write_text("keep me")
    err = fails(capsys, "zeroshot", "--model", tiny_config, "--classnames", names, "--out", tmp_path / "afile")
    assert "is a file" in err and (tmp_path / "afile").read_text() == "keep me"
    err = fails(
        capsys, "zeroshot", "--model", tiny_config, "--classnames", names, "--out", tmp_path / "r", "--device", "nosuch"
    )
    assert "'nosuch' is not a device" in err and not (tmp_path / "r").exists()


def test_usage_mistakes_are_one_line_too(capsys):
    err = fails(capsys, "sweep", "--run", "somewhere")
    assert "--id" in err and "--help" in err
    err = fails(capsys, "nosuchverb")
    assert "nosuchverb" in err


# ----------------------------------------------------------------------------- example openers


def test_each_family_registers_its_own_opener(tmp_path):
    source = inspect.getsource(registry)
    assert "from core.data.shifts" not in source and "from core.worlds" not in source  # no import back
    body = inspect.getsource(registry.open_example).split('"""')[2]  # the code, without the docstring
    assert "world:" not in body and "#" not in body  # the generic layer knows no family's ids
    seen = []
    registry.register_opener(
        "test-mem", lambda i: i.startswith("mem:"), lambda i: seen.append(i) or Image.new("RGB", (2, 2))
    )
    try:
        assert registry.open_example("mem:7").size == (2, 2) and seen == ["mem:7"]
    finally:
        registry._OPENERS[:] = [o for o in registry._OPENERS if o[0] != "test-mem"]


def test_ids_stored_in_existing_runs_still_open(tmp_path):
    from core.worlds.registry import world_image

    world = np.asarray(registry.open_example("world:id_test/3"))  # world:SPLIT/INDEX
    assert np.array_equal(world, np.asarray(world_image("world:id_test/3")))
    arrays = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    np.save(tmp_path / "x_data.npy", arrays)  # FILE#INDEX (CIFAR-10.1 style)
    np.save(tmp_path / "x_labels.npy", np.zeros(3, np.int64))
    assert np.array_equal(np.asarray(registry.open_example(f"{tmp_path / 'x_data.npy'}#2")), arrays[2])
    Image.fromarray(arrays[1]).save(tmp_path / "a#b.png")  # a plain path, even with a '#' in its name
    assert np.array_equal(np.asarray(registry.open_example(str(tmp_path / "a#b.png"))), arrays[1])
