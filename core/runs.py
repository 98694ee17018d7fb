"""Creating runs and moving weights in and out of them (safetensors only)."""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from pathlib import Path
from typing import Sequence

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save as save_torch

from . import artifacts
from .models import ImageClassifier, ModelSpec, empty_classifier, load_clip, save_arch, zero_shot_classifier
from .runtime import pick_device, seed_everything

ARCH_DIR = "model"


class WeightsError(ValueError):
    """A weight file that is missing, truncated or not a safetensors file."""


def save_weights(path: Path, state: dict[str, torch.Tensor], meta: dict | None = None,
                 dtype: torch.dtype | None = None) -> None:
    """Save a state dict as safetensors, atomically (tensors made contiguous, on CPU); `dtype`
    (e.g. torch.float16, for shipping) casts the floating-point tensors."""
    tensors = {k: (v.to(dtype) if dtype is not None and v.is_floating_point() else v).detach().to("cpu").contiguous()
               for k, v in state.items()}
    metadata = {k: str(v) for k, v in (meta or {}).items()}
    artifacts.atomic_write_bytes(path, save_torch(tensors, metadata=metadata))


def load_weights(path: Path, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Load a safetensors state dict with an error that names the file and what to do.

    Half-precision tensors (weights shipped as float16) are returned as float32, so interpolation
    and inference run in full precision whatever the storage.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weight file {path} does not exist")
    try:
        state = load_file(str(path), device=str(device))
        return {k: v.float() if v.dtype in (torch.float16, torch.bfloat16) else v for k, v in state.items()}
    except (SafetensorError, OSError, ValueError) as err:
        raise WeightsError(
            f"{path} is not a readable safetensors file ({err}); it may be truncated by an "
            "interrupted copy or write. Re-create it (re-run the step that wrote it)."
        ) from err


def file_digest(path: Path) -> str:
    """sha256 of a file, to tell whether partial results were made from the same weights."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class RunExistsError(ValueError, FileExistsError):
    """Creating a run where a run (or a file) already is."""


def _refuse_existing(out: Path) -> None:
    """Never overwrite a run: creating one where a manifest already exists is an error."""
    if out.exists() and not out.is_dir():
        raise RunExistsError(f"--out {out} is a file, not a folder; give the path of a new run folder")
    if (out / artifacts.MANIFEST).exists():
        raise RunExistsError(f"{out} already holds a run; choose a new --out or delete it first")


def create_zeroshot_run(
    out: Path, spec: ModelSpec, classnames: Sequence[str], templates: Sequence[str],
    seed: int = 0, name: str | None = None, device: str | None = None,
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
    artifacts.update_manifest(out, {
        "name": name or out.name,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "model": {**spec.to_dict(), "arch": ARCH_DIR},
        "classnames": list(classnames),
        "templates": list(templates),
        "seed": seed,
    })
    return out


def load_classifier(
    run_dir: Path, which: str = "zeroshot", device: str | torch.device = "cpu"
) -> tuple[ImageClassifier, dict]:
    """Rebuild a run's ImageClassifier with weights 'zeroshot', 'finetuned' or a file path.

    Returns the classifier (eval mode) and its open_clip preprocess config.
    """
    run_dir = Path(run_dir)
    manifest = artifacts.read_manifest(run_dir)
    classifier, pp_cfg = empty_classifier(run_dir / manifest["model"]["arch"], len(manifest["classnames"]))
    path = Path(which) if which.endswith(".safetensors") else artifacts.weights_file(run_dir, which, manifest)
    state = load_weights(path)
    check_head(state, len(manifest["classnames"]), path)
    classifier.load_state_dict(state)
    return classifier.to(device).eval(), pp_cfg


def check_head(state: dict[str, torch.Tensor], num_classes: int, path: Path) -> None:
    head = state.get("head.weight")
    if head is None:
        raise WeightsError(f"{path} has no head.weight: not an ImageClassifier state dict")
    if head.shape[0] != num_classes:
        raise WeightsError(
            f"{path} has a head for {head.shape[0]} classes but the run has {num_classes} classnames; "
            "fine-tune and evaluate with the classes the run was created with"
        )


def create_path_run(
    out: Path, source_run: Path, theta_0: Path, theta_1: Path, endpoints: tuple[str, str], name: str | None = None,
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
    artifacts.update_manifest(out, {**keep, "name": name or out.name,
                                    "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                                    "endpoints": {"theta_0": endpoints[0], "theta_1": endpoints[1]},
                                    **({"weights": shared} if shared else {})})
    return out


def create_scratch_run(out: Path, arch_dir: Path, classnames: Sequence[str], seed: int = 0,
                       name: str | None = None) -> Path:
    """A run whose theta_0 is a randomly initialised classifier of a saved architecture: fine-tuning
    it trains a "standard model" from scratch (the baselines of effective robustness)."""
    out = Path(out)
    _refuse_existing(out)
    torch.manual_seed(seed)
    classifier, _ = empty_classifier(Path(arch_dir), len(classnames))
    shutil.copytree(arch_dir, out / ARCH_DIR)
    save_weights(out / "weights" / "zeroshot.safetensors", classifier.state_dict())
    artifacts.update_manifest(out, {
        "name": name or out.name, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "model": {"name": f"local-dir:{arch_dir}", "pretrained": None, "arch": ARCH_DIR},
        "classnames": list(classnames), "templates": [], "seed": seed,
        "endpoints": {"theta_0": "random init", "theta_1": "trained from scratch"},
    })
    return out
