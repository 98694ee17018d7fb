"""Creating runs and moving weights in and out of them (safetensors only)."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from safetensors.torch import save as save_torch

from core.model.clip import ImageClassifier, empty_classifier
from core.runs import artifacts


class WeightsError(ValueError):
    """A weight file that is missing, truncated or not a safetensors file."""


def save_weights(
    path: Path, state: dict[str, torch.Tensor], meta: dict | None = None, dtype: torch.dtype | None = None
) -> None:
    """Save a state dict as safetensors, atomically (tensors made contiguous, on CPU); `dtype`
    (e.g. torch.float16, for shipping) casts the floating-point tensors."""
    tensors = {
        k: (v.to(dtype) if dtype is not None and v.is_floating_point() else v).detach().to("cpu").contiguous()
        for k, v in state.items()
    }
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
