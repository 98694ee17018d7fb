"""Pieces the LMC lab's four steps share (issue 15): eval sets, float16 copies, summaries, freshness.

The steps (`lab_steps.py`: spawn at k, SWA, soups, alignment) run after the rest of `make world`, or
alone on an existing data/ with `python -m core world --lab`. Both train the same networks from the
same shipped inputs with the same seeds, in the work folder (build/world/lab-*, not shipped), and
write only the summaries (core.lmc.lab) to data/world/lab/{spawn,swa,soups,align}.json. A step is
skipped while its JSON exists with the same config and the same input digests (`fresh`). Every
network is stored and compared as float16, like the shipped world.

What each step trains, the recipes tried and the numbers measured: docs/lab-notes.md.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from core.data.registry import get_dataset
from core.lmc import lab as L
from core.model.evaluate import decode
from core.runs import artifacts
from core.runs.weights import load_weights, save_weights

HALF = torch.float16


# ----------------------------------------------------------------------------- shared pieces


def as_shipped(state: dict) -> dict:
    """The float16 round trip of a state (what a shipped weight file holds), as float32."""
    return {k: v.to(HALF).float() if v.is_floating_point() else v for k, v in state.items()}


def fresh(path: Path, config: dict, inputs: dict) -> bool:
    """True when `path` holds a summary made with this config from these inputs."""
    if not path.exists():
        return False
    stored = json.loads(path.read_text())
    return stored.get("config") == json.loads(json.dumps(config)) and stored.get("inputs") == inputs


def write_section(path: Path, section: str, config: dict, inputs: dict, summary: dict, seconds: float) -> Path:
    artifacts.atomic_write_json(
        path,
        {
            "format": L.LAB_FORMAT,
            "section": section,
            "config": config,
            "inputs": inputs,
            "seconds": round(seconds, 1),
            **summary,
        },
    )
    return path


def eval_set(spec: str, n: int, transform, name: str | None = None, start: int = 0) -> L.EvalSet:
    images = get_dataset(spec)
    idx = np.arange(start, start + n)
    if idx[-1] >= len(images):
        raise ValueError(f"{spec} has {len(images)} examples, the lab asks for index {idx[-1]}: lower its n")
    return L.EvalSet(name or images.name, decode(images, transform, idx), np.asarray(images.labels)[idx])


def half_copy(run: Path) -> Path:
    """A work run's trained weights stored as float16 (weights/finetuned.fp16.safetensors, made once),
    like every shipped weight set; the lab compares networks from these files."""
    half = run / "weights" / "finetuned.fp16.safetensors"
    if not half.exists():
        save_weights(half, load_weights(run / "weights" / "finetuned.safetensors"), dtype=HALF)
    return half


def snapshots(run: Path) -> list[dict]:
    """The model weights of a work run's train-state checkpoints, in step order."""
    from core.train.trainstate import checkpoints

    return [{k[6:]: v for k, v in load_weights(c).items() if k.startswith("model.")} for c in checkpoints(run)]


def lab_dir(b) -> Path:
    return b.out / "world" / "lab"


def required(b) -> list[Path]:
    """Shipped files the lab starts from (made by the rest of `make world`)."""
    return [
        b.model_dir / "open_clip_config.json",
        b.out / "world" / "weights" / "finetune-seed1.safetensors",
        b.runs / "world-e2e" / "weights" / "finetuned.safetensors",
        b.runs / "world-e2e" / artifacts.MANIFEST,
        b.runs / "lmc-scratch" / artifacts.MANIFEST,
    ]


def section_config(b, keys: tuple[str, ...], recipe) -> dict:
    """The part of the lab's config (and the world's recipe) a section depends on, JSON-able."""
    lab = asdict(b.lab)
    return json.loads(
        json.dumps(
            {**{k: lab[k] for k in keys}, "recipe": recipe.as_record(), "n_train": b.n_train, "n_test": b.n_test}
        )
    )


def calibration(b, transform) -> torch.Tensor:
    return eval_set(f"world:id_train:{b.n_train}", b.lab.n_calibration, transform, "calibration").images
