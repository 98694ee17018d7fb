"""`python -m core export` and `predict` on the shipped world run: the README snippet of an exported
model (open_clip + torch, no `core`) reproduces the sweep's logits at that alpha, `predict`'s top-1 at
alpha 0 and 1 equals the sweep's predictions, and bad input gets a one-line error (exit 2) that
changes nothing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from core import cli
from core.data.registry import open_example
from core.runs.artifacts import Run
from core.wiseft.export import HEAD_WEIGHTS, readme_snippet, snippet
from core.wiseft.predict import PathPredictor

REPO = Path(__file__).resolve().parents[1]
RUN = REPO / "data" / "runs" / "world-e2e"
DOCS_CLI = REPO / "docs" / "cli.md"  # shows the snippet, a predict output and an info table of this run
pytestmark = pytest.mark.skipif(not (RUN / "manifest.json").exists(), reason="no shipped world run (make world)")
EXAMPLES = [("id_test", 0), ("id_test", 7), ("v2", 1), ("sketch", 3), ("rendition", 5)]  # (eval set, index)


@pytest.fixture(scope="module")
def run() -> Run:
    return Run(RUN)


@pytest.fixture(scope="module")
def images(run, tmp_path_factory) -> dict[tuple[str, int], Path]:
    """Shipped world examples (by the ids the run stores) saved as PNG files (lossless)."""
    folder = tmp_path_factory.mktemp("world-images")
    out = {}
    for name, i in EXAMPLES:
        out[name, i] = folder / f"{name}_{i}.png"
        open_example(run.ids(name)[i]).save(out[name, i])
    return out


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("export") / "world-alpha0.5"
    assert cli.main(["export", "--run", str(RUN), "--alpha", "0.5", "--out", str(out)]) == 0
    return out


def _run_snippet(code: str, image: Path, monkeypatch) -> dict:
    """Execute the README's code as written, with `image` as its argv[1]; return its variables."""
    monkeypatch.setattr(sys, "argv", ["classify.py", str(image)])
    scope: dict = {"__name__": "__main__"}
    exec(compile(code, "README.md", "exec"), scope)
    return scope


def test_exported_snippet_reproduces_the_sweep_logits(run, exported, images, monkeypatch, capsys):
    readme = (exported / "README.md").read_text()
    code = readme_snippet(readme)
    assert "import core" not in code and "from core" not in code and len(code.splitlines()) <= 16
    config = json.loads((exported / "open_clip_config.json").read_text())
    assert config["model_cfg"] == json.loads((RUN / "model" / "open_clip_config.json").read_text())["model_cfg"]
    assert config["wiseft"]["alpha"] == 0.5 and config["wiseft"]["classnames"] == run.classnames
    for (name, i), path in images.items():
        logits = _run_snippet(code, path, monkeypatch)["logits"][0].numpy()  # (C,)
        stored = run.logits(name, 0.5)[i]  # the sweep's theta_0.5 logits, stored as float16
        np.testing.assert_allclose(logits, stored, rtol=2e-3, atol=2e-2)
        assert capsys.readouterr().out.splitlines()[0].startswith(run.classnames[int(stored.argmax())] + ": ")


@pytest.mark.slow
def test_snippet_runs_without_core_in_a_fresh_process(run, exported, images, tmp_path):
    script = tmp_path / "classify.py"
    script.write_text(readme_snippet((exported / "README.md").read_text()))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    (name, i), path = next(iter(images.items()))
    out = subprocess.run(
        [sys.executable, str(script), str(path)], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300
    )
    assert out.returncode == 0, out.stderr
    probs = torch.softmax(torch.from_numpy(run.logits(name, 0.5)[i]), -1).numpy()
    top = np.argsort(-probs)[:3]
    printed = [line.split(": ") for line in out.stdout.splitlines()]  # [[class, probability], ...]
    assert [c for c, _ in printed] == [run.classnames[c] for c in top]
    np.testing.assert_allclose([float(p) for _, p in printed], probs[top], atol=2e-3)  # float16 logits, 3 decimals


def test_docs_show_the_snippet_export_writes():
    """docs/cli.md's snippet, for `--out /tmp/exports/world-0.5`, is the code the tests above run."""
    out = Path("/tmp/exports/world-0.5")
    code = snippet(out).replace(str(out.resolve()), str(out))
    assert f"```python\n{code}```" in DOCS_CLI.read_text()


def test_docs_show_what_predict_and_info_print(images, capsys):
    """docs/cli.md's outputs: `predict` on the world's v2/1 at alpha 0, 0.4 and 1, and `info --format markdown`."""
    image = images["v2", 1]
    assert cli.main(["predict", "--run", str(RUN), "--alpha", "0", "--alpha", "0.4", "--alpha", "1", str(image)]) == 0
    printed = capsys.readouterr().out.strip().replace(str(image), "/tmp/exports/v2_1.png")
    assert f"```\n{printed}\n```" in DOCS_CLI.read_text()
    assert cli.main(["info", "--run", str(RUN), "--format", "markdown"]) == 0
    assert capsys.readouterr().out.strip() in DOCS_CLI.read_text()


@pytest.mark.slow
def test_extrapolated_export_matches_predict(tmp_path, images, monkeypatch):
    import open_clip
    from safetensors.torch import load_file

    out = tmp_path / "alpha1.2"
    assert cli.main(["export", "--run", str(RUN), "--alpha", "1.2", "--out", str(out)]) == 0
    model, preprocess = open_clip.create_model_from_pretrained(f"local-dir:{out}")
    head = load_file(str(out / HEAD_WEIGHTS))
    pils = [open_example(Run(RUN).ids(n)[i]) for n, i in EXAMPLES]
    with torch.no_grad():
        x = torch.stack([preprocess(im) for im in pils])  # (N, 3, H, W)
        ours = (model.eval().encode_image(x, normalize=True) @ head["weight"].T + head["bias"]).numpy()  # (N, C)
    theirs = PathPredictor(RUN).logits(pils, [1.2])[0]  # (N, C)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)


def test_predict_top1_equals_the_sweep_at_the_endpoints(run, images, capsys):
    paths = [str(p) for p in images.values()]
    assert (
        cli.main(["predict", "--run", str(RUN), "--alpha", "0", "--alpha", "1", "--top-k", "2", "--json", *paths]) == 0
    )
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 2 * len(paths) * 2
    for alpha in (0.0, 1.0):
        for (name, i), path in images.items():
            top1 = next(r for r in rows if r["image"] == str(path) and r["alpha"] == alpha and r["rank"] == 1)
            assert top1["index"] == int(run.logits(name, alpha)[i].argmax()), (name, i, alpha)
            assert top1["class"] == run.classnames[top1["index"]]


@pytest.mark.slow
def test_predict_a_folder_prints_each_alpha(images, capsys):
    folder = next(iter(images.values())).parent
    assert (
        cli.main(["predict", "--run", str(RUN), "--alpha", "0", "--alpha", "0.5", "--alpha", "-0.2", str(folder)]) == 0
    )
    out = capsys.readouterr().out.splitlines()
    assert len(out) == len(images) * 4
    assert [line.split()[1] for line in out[1:4]] == ["0", "0.5", "-0.2"]


@pytest.fixture
def no_finetune(run, tmp_path) -> Path:
    """A copy of the world run without theta_1."""
    path = tmp_path / "zeroshot-only"
    shutil.copytree(RUN / "model", path / "model")
    (path / "weights").mkdir()
    shutil.copy(RUN / "weights" / "zeroshot.safetensors", path / "weights")
    shutil.copy(RUN / "manifest.json", path)
    return path


def _fails(argv: list[str], capsys, needle: str) -> None:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and needle in err and "\n" not in err, err


def test_bad_input_gets_one_line_errors_and_changes_nothing(no_finetune, images, tmp_path, capsys):
    image = str(next(iter(images.values())))
    _fails(["predict", "--run", str(no_finetune), image], capsys, "no fine-tuned weights")
    _fails(
        ["export", "--run", str(no_finetune), "--alpha", "0.5", "--out", str(tmp_path / "x")],
        capsys,
        "no fine-tuned weights",
    )
    assert not (tmp_path / "x").exists()
    _fails(["predict", "--run", str(RUN), str(tmp_path / "missing.png")], capsys, "does not exist")
    (tmp_path / "notes.png").write_text("not an image")
    _fails(["predict", "--run", str(RUN), str(tmp_path / "notes.png")], capsys, "cannot read image")
    _fails(["predict", "--run", str(RUN), "--alpha", "3", image], capsys, "BatchNorm running variances")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    _fails(["export", "--run", str(RUN), "--alpha", "0.5", "--out", str(busy)], capsys, "not empty")
    _fails(["export", "--run", str(RUN), "--alpha", "inf", "--out", str(tmp_path / "y")], capsys, "finite")
    assert [p.name for p in busy.iterdir()] == ["keep.txt"] and (busy / "keep.txt").read_text() == "mine"
    assert not (tmp_path / "y").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp folders left


def test_export_of_a_tiny_vit_run_matches_its_float32_sweep(e2e_run, tmp_path, monkeypatch):
    """The same on a ViT (the architecture of real CLIP) built from a config JSON, swept in float32."""
    run = Run(e2e_run)
    out = tmp_path / "vit-0.5"
    assert cli.main(["export", "--run", str(e2e_run), "--alpha", "0.5", "--out", str(out)]) == 0
    config = json.loads((out / "open_clip_config.json").read_text())
    assert "random init" in config["wiseft"]["text_tower"]  # the tiny model has no pretrained weights
    code = readme_snippet((out / "README.md").read_text())
    name = run.ood_datasets[0]
    for i in (0, 5):
        logits = _run_snippet(code, Path(run.ids(name)[i]), monkeypatch)["logits"][0].numpy()  # (C,)
        np.testing.assert_allclose(logits, run.logits(name, 0.5)[i], rtol=1e-4, atol=1e-4)
