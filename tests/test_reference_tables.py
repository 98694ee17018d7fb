"""Issue 26, item 1: the repository alone reproduces every paper table. A copy of the repository (no
../shared beside it) compares a run with each of the 13 tables; rows of methods off the WiSE-FT path
are reported, not dropped; no module reads a path outside the repository."""

import json
import re
import shutil
import subprocess
import sys

import pytest

from conftest import REPO, copy_run, run_cli
from core.cli import main
from core.results.compare import list_tables

SHIFTS = ("imagenetv2", "imagenet-r", "imagenet-sketch", "objectnet", "imagenet-a")


def repository_copy(dest):
    """The files git would commit (tracked, and new ones not ignored), copied alone."""
    names = (
        subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=REPO,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, names):
        if (REPO / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, dest / name)
    return dest


@pytest.fixture(scope="module")
def paper_named_run(e2e_run, folders, tmp_path_factory):
    """The tiny run swept on folders named like the paper's sets, its manifest naming ViT-B/16."""
    run = copy_run(e2e_run, tmp_path_factory.mktemp("tables") / "run")
    ood = [a for s in (*SHIFTS, "cifar10.1") for a in ("--ood", f"{s}=folder:{folders['shift']}")]
    run_cli("sweep", "--run", run, "--id", f"imagenet=folder:{folders['val']}", *ood, "--alphas", "0,0.4,0.5,0.75,1")
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["model"].update(name="ViT-B-16", pretrained="openai")
    (run / "manifest.json").write_text(json.dumps(manifest))
    return run


@pytest.mark.slow
def test_the_repository_alone_compares_every_table(paper_named_run, tmp_path):
    repo = repository_copy(tmp_path / "clone" / "repo")
    assert not (repo.parent / "shared").exists()
    outputs = {}
    for n in range(1, 14):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "core",
                "compare",
                "--run",
                str(paper_named_run),
                "--reference",
                f"table{n}",
                "--allow-mismatch",
            ],
            cwd=repo,
            capture_output=True,
            text=True,
            env={"PYTHONPATH": str(repo), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
        )
        assert done.returncode == 0, (n, done.stderr)
        assert f"Table {n}:" in done.stdout
        outputs[n] = done.stdout
    assert "no counterpart in a run" in outputs[13] and "NS EfficientNet-L2: no ensemble (model alone)" in outputs[13]
    assert "alpha 0.75" in outputs[13] and "optimal alpha" in outputs[13]
    assert "CoOp" in outputs[7].splitlines()[-2] + outputs[7].splitlines()[-1]
    assert "optimal alpha - alpha 0.50 (pp)" in outputs[3]
    assert "alpha 0.50 - fine-tuned (pp)" in outputs[2]
    assert "standard fine-tuning (as reported by Radford et al. [82]) (1)" not in outputs[1]  # end-to-end run


def test_every_table_ships_in_data_paper():
    assert list_tables() == [f"table{n}" for n in range(1, 14)]
    readme = (REPO / "data" / "paper" / "README.md").read_text()
    for path in (REPO / "data" / "paper").glob("wiseft_paper_table*.csv"):
        assert f"`{path.name}`" in readme, path.name


def test_no_module_reads_outside_the_repository():
    outside = re.compile(r"""shared["' /,]+reference|\.parent\s*/\s*["']shared|\.\./shared""")
    sources = [p for d in ("core", "explorer", "notebooks", "bench") for p in (REPO / d).rglob("*.py")]
    found = [str(p.relative_to(REPO)) for p in sources if outside.search(p.read_text())]
    assert not found


def test_a_missing_absolute_reference_path_is_one_line(paper_named_run, tmp_path, capsys):
    missing = tmp_path / "missing.csv"
    assert main(["compare", "--run", str(paper_named_run), "--reference", str(missing)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and str(missing) in err and "table5" in err
