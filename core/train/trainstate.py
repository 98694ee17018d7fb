"""Fine-tuning train states: safetensors checkpoints that record what they were computed from.

A checkpoint holds the classifier, the optimizer state, every RNG stream (torch CPU and CUDA, numpy,
python `random`) and an *identity*: the format version, the result-changing settings, the training
set (spec, n, a digest of its ids and labels), the digest of the starting weights and the
preprocessing. `finetune` resumes only from a checkpoint whose identity equals the current one, and
otherwise refuses with a line that says what differs (issue 10.3). Settings that only say how or how
long to run (max_steps, checkpoint_every, keep_checkpoints, num_workers, compile) are not part of
it; neither are the device and the number of processes, which change float summation order only.
Options added later (L2-SP, training the last blocks) enter it only when set (FinetuneConfig.as_record),
so a checkpoint made before they existed still resumes under the same settings.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import torch
from torch import nn

from core.runs.identity import examples_digest
from core.runs.weights import WeightsError, load_weights, save_weights

FORMAT = 2  # 1: no identity and only the CPU torch RNG (refused: resume from it was not exact)
RUN_CONTROL = ("max_steps", "checkpoint_every", "keep_checkpoints", "num_workers", "compile")


class TrainStateError(ValueError):
    """A checkpoint that cannot be resumed: unreadable, or made from other inputs."""


def identity(cfg, train_set, theta_0_digest: str, pp_cfg: dict, init_from: dict | None) -> dict:
    """Everything a fine-tuning result depends on, as a JSON-able dict."""
    settings = {k: v for k, v in cfg.as_record().items() if k not in RUN_CONTROL}
    return {
        "format": FORMAT,
        "config": settings,
        "train_set": {
            "spec": train_set.spec,
            "n": len(train_set),
            "digest": examples_digest(train_set.ids, train_set.labels),
            **({"content": train_set.content} if train_set.content else {}),
        },
        "theta_0": theta_0_digest,
        "init_from": init_from,
        "preprocess": json.loads(json.dumps(pp_cfg)),
    }


def differences(stored: dict, current: dict, prefix: str = "") -> list[str]:
    """'key: stored -> current' for every leaf that differs."""
    out = []
    for key in sorted(set(stored) | set(current)):
        a, b = stored.get(key), current.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix.removeprefix('config.')}{key}: {a} -> {b}")
    return out


# ----------------------------------------------------------------------------- RNG streams


def rng_tensors() -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Every RNG stream of this process as tensors plus metadata strings."""
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = state
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    tensors["rng.numpy"] = torch.from_numpy(keys.astype(np.int64))
    version, internal, gauss_next = random.getstate()
    meta = {
        "rng_numpy": json.dumps([kind, int(pos), int(has_gauss), float(gauss)]),
        "rng_python": json.dumps([version, list(internal), gauss_next]),
    }
    return tensors, meta


def restore_rng(tensors: dict[str, torch.Tensor], meta: dict[str, str]) -> None:
    torch.set_rng_state(tensors["rng.torch"])
    cuda = [tensors[k] for k in sorted(k for k in tensors if k.startswith("rng.cuda."))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda[: torch.cuda.device_count()])
    kind, pos, has_gauss, gauss = json.loads(meta["rng_numpy"])
    np.random.set_state((kind, tensors["rng.numpy"].numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = json.loads(meta["rng_python"])
    random.setstate((version, tuple(internal), gauss_next))


# ----------------------------------------------------------------------------- files


def save_train_state(path: Path, model: nn.Module, opt: torch.optim.Optimizer, step: int, ident: dict) -> None:
    """Model, optimizer, RNG streams and identity as one safetensors file (no pickles)."""
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    opt_state = opt.state_dict()
    for idx, state in opt_state["state"].items():
        for key, value in state.items():
            tensors[f"optim.{idx}.{key}"] = torch.as_tensor(value)
    rng, rng_meta = rng_tensors()
    meta = {
        "step": step,
        "param_groups": json.dumps(opt_state["param_groups"]),
        "identity": json.dumps(ident),
        **rng_meta,
    }
    save_weights(path, {**tensors, **rng}, meta)


def _unreadable(path: Path, err: Exception) -> TrainStateError:
    return TrainStateError(
        f"checkpoint {path} is unreadable ({str(err).splitlines()[0][:120]}), e.g. cut short by a kill or a "
        f"full disk: delete that file (finetune then resumes from the previous checkpoint, or from the "
        "start), or re-run with --restart to discard every checkpoint of the run"
    )


def read_meta(path: Path) -> dict[str, str]:
    """A checkpoint's metadata; TrainStateError naming the file to delete when it is unreadable."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return f.metadata() or {}
    except Exception as err:  # safetensors raises its own error types, OSError, or ValueError
        raise _unreadable(path, err) from err


def check_resumable(path: Path, current: dict, run_dir: Path) -> None:
    """Refuse a checkpoint whose identity differs from `current`, saying what differs and what to do."""
    meta = read_meta(path)
    stored = json.loads(meta["identity"]) if "identity" in meta else {"format": 1}
    diffs = differences(stored, current)
    if diffs:
        raise TrainStateError(
            f"{run_dir} has a fine-tuning checkpoint ({path.name}) made from other inputs ({'; '.join(diffs[:6])}"
            f"{'; ...' if len(diffs) > 6 else ''}): re-run with the settings it was made with to continue it, "
            "add --restart to discard its checkpoints and train anew, or start a new run (zeroshot --out NEW)"
        )


def load_train_state(path: Path, model: nn.Module, opt: torch.optim.Optimizer | None, rng: bool = True) -> int:
    """Restore a train state saved by save_train_state; returns its step. opt=None (and rng=False)
    loads the model weights only."""
    meta = read_meta(path)
    try:
        tensors = load_weights(path)
    except WeightsError as err:
        raise _unreadable(path, err) from err
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    if opt is not None:
        state: dict[int, dict] = {}
        for key, value in tensors.items():
            if key.startswith("optim."):
                _, idx, name = key.split(".", 2)
                state.setdefault(int(idx), {})[name] = value
        opt.load_state_dict({"state": state, "param_groups": json.loads(meta["param_groups"])})
    if rng:
        restore_rng(tensors, meta)
    return int(meta["step"])


def checkpoints(run_dir: Path) -> list[Path]:
    """Train-state checkpoints of a run, oldest first."""
    return sorted((Path(run_dir) / "checkpoints").glob("step_*.safetensors"))


def prune(run_dir: Path, keep: int) -> None:
    if keep > 0:
        for old in checkpoints(run_dir)[:-keep]:
            old.unlink()
