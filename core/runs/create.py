"""Creating run folders: a zero-shot run, a path run between two weight files, a run trained from scratch."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from core.model.clip import ModelSpec, empty_classifier, load_clip, save_arch, zero_shot_classifier
from core.runs import artifacts
from core.runs.files import check_writable
from core.runs.weights import load_weights, save_weights
from core.runtime import pick_device, seed_everything

ARCH_DIR = "model"


class RunExistsError(ValueError, FileExistsError):
    """Creating a run where a run (or a file) already is."""


def _refuse_existing(out: Path) -> None:
    """Never overwrite a run: creating one where a manifest already exists is an error."""
    if out.exists() and not out.is_dir():
        raise RunExistsError(f"--out {out} is a file, not a folder; give the path of a new run folder")
    if (out / artifacts.MANIFEST).exists():
        raise RunExistsError(f"{out} already holds a run; choose a new --out or delete it first")
    check_writable(out / artifacts.MANIFEST)  # before the model is loaded: names --out, not a temp file


def create_zeroshot_run(
    out: Path,
    spec: ModelSpec,
    classnames: Sequence[str],
    templates: Sequence[str],
    seed: int = 0,
    name: str | None = None,
    device: str | None = None,
) -> Path:
    """Load a CLIP model, build theta_0 (image tower + zero-shot head) and start a run folder.

    `seed` seeds every RNG before the model is built, so a randomly initialised model (a config JSON
    without --pretrained) is the same on every call.
    """
    out = Path(out)
    _refuse_existing(out)
    dev = pick_device(device)
    seed_everything(seed)
    model, _, _, tokenizer = load_clip(spec, device=dev)
    classifier = zero_shot_classifier(model, tokenizer, list(classnames), list(templates), dev)
    save_arch(spec, model, out / ARCH_DIR)
    save_weights(out / "weights" / "zeroshot.safetensors", classifier.state_dict())
    artifacts.update_manifest(
        out,
        {
            "name": name or out.name,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "model": {**spec.to_dict(), "arch": ARCH_DIR},
            "classnames": list(classnames),
            "templates": list(templates),
            "seed": seed,
        },
    )
    return out


def create_path_run(
    out: Path,
    source_run: Path,
    theta_0: Path,
    theta_1: Path,
    endpoints: tuple[str, str],
    name: str | None = None,
    share_weights: bool = False,
) -> Path:
    """A run whose path joins two arbitrary weight sets of one architecture (e.g. two models trained
    from different random inits, or two fine-tunes), for linear-mode-connectivity sweeps.

    The architecture, classes and templates come from `source_run`; `endpoints` labels theta_0 and
    theta_1 (stored in the manifest; the files keep their names zeroshot/finetuned). With
    share_weights, the manifest points at the given ImageClassifier weight files (by relative path)
    instead of copying them, so runs shipped together store each weight set once.
    """
    out, source_run = Path(out), Path(source_run)
    _refuse_existing(out)
    manifest = artifacts.read_manifest(source_run)
    shutil.copytree(source_run / manifest["model"]["arch"], out / ARCH_DIR)
    shared = {}
    for src, which in ((theta_0, "zeroshot"), (theta_1, "finetuned")):
        if share_weights:
            shared[which] = os.path.relpath(Path(src).resolve(), out.resolve())
            continue
        state = load_weights(src)
        state = {k.removeprefix("model."): v for k, v in state.items() if not k.startswith(("optim.", "rng."))}
        save_weights(out / "weights" / f"{which}.safetensors", state)
    keep = {k: manifest[k] for k in ("model", "classnames", "templates", "seed") if k in manifest}
    artifacts.update_manifest(
        out,
        {
            **keep,
            "name": name or out.name,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "endpoints": {"theta_0": endpoints[0], "theta_1": endpoints[1]},
            **({"weights": shared} if shared else {}),
        },
    )
    return out


def create_scratch_run(
    out: Path, arch_dir: Path, classnames: Sequence[str], seed: int = 0, name: str | None = None
) -> Path:
    """A run whose theta_0 is a randomly initialised classifier of a saved architecture: fine-tuning
    it trains a "standard model" from scratch (the baselines of effective robustness)."""
    out = Path(out)
    _refuse_existing(out)
    torch.manual_seed(seed)
    classifier, _ = empty_classifier(Path(arch_dir), len(classnames))
    shutil.copytree(arch_dir, out / ARCH_DIR)
    save_weights(out / "weights" / "zeroshot.safetensors", classifier.state_dict())
    artifacts.update_manifest(
        out,
        {
            "name": name or out.name,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "model": {"name": f"local-dir:{arch_dir}", "pretrained": None, "arch": ARCH_DIR},
            "classnames": list(classnames),
            "templates": [],
            "seed": seed,
            "endpoints": {"theta_0": "random init", "theta_1": "trained from scratch"},
        },
    )
    return out
