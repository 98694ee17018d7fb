"""Issue 16: a command line that documents itself."""

import argparse
import os
import subprocess
import sys
from dataclasses import fields

import pytest

from conftest import REPO
from core import cli
from core.cli import main
from core.data.registry import dataset_entry, list_datasets
from core.train.finetune import FinetuneConfig


def subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = cli.build_parser()
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices


@pytest.mark.parametrize("verb", sorted(cli.VERBS))
def test_every_subcommand_has_a_description_examples_and_option_help(verb, capsys):
    sp = subparsers()[verb]
    assert sp.description and len(sp.description) > 30
    examples = [line for line in sp.epilog.splitlines() if line.strip().startswith("python -m core")]
    assert 1 <= len(examples) <= 3 and all(f" {verb}" in e for e in examples)
    for action in sp._actions:
        if action.option_strings and action.dest != "help":
            assert action.help and len(action.help) > 10, f"{verb} {action.option_strings} has no help text"
    assert main([verb, "--help"]) == 0
    assert "examples:" in capsys.readouterr().out


def test_options_show_their_defaults(capsys):
    assert main(["sweep", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for shown in ("(default: 0:1:21)", "(default: 256)", "(default: 4096)", "(default: 0)"):
        assert shown in text
    assert "NAME=SPEC" in text  # --ood documents the named form
    assert main(["finetune", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for shown in ("(default: 3e-05", "(default: 0.1", "(default: 512", "(default: 10,", "(default: 500"):
        assert shown in text  # the paper's recipe, as docs/cli.md and docs/reproduce.md say
    assert main(["info", "--help"]) == 0
    assert "list the runs" in " ".join(capsys.readouterr().out.split())


def test_finetune_help_defaults_are_finetune_configs():
    defaults = {f.name: f.default for f in fields(FinetuneConfig)}
    for flag, (_, _, shown) in cli.FINETUNE_FLAGS.items():
        assert defaults[flag.replace("-", "_")] == shown, flag


def test_datasets_lists_layouts_and_published_sizes(capsys):
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    for name in list_datasets():
        assert f"\n{name}\n" in f"\n{out}"
    assert "objectnet-1.0/images/<folder>/*.png" in out and "18,574" in out and "50,889" in out
    assert dataset_entry("imagenet").layout in out


def test_info_json_into_head_ends_quietly(e2e_run):
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    for reader in ("head -n 2", "true"):  # `true` has exited before Python writes: a sure broken pipe
        cmd = f"{sys.executable} -m core info --run {e2e_run} --json | {reader}"
        done = subprocess.run(cmd, shell=True, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
        assert done.stdout.count("\n") == (2 if reader.startswith("head") else 0)
        assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
