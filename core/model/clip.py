"""Zero-shot models (open_clip), the zero-shot head, and the ImageClassifier that WiSE-FT interpolates.

A model is named by a ModelSpec:
    ModelSpec("ViT-B-32", "openai")              a built-in open_clip config + pretrained tag
    ModelSpec("ViT-B-32", "/ckpt/model.pt")      a built-in config + a local checkpoint file
    ModelSpec("local-dir:/models/world-clip")    a folder with open_clip_config.json + weights
    ModelSpec("/configs/tiny.json")              a custom config JSON (random init unless pretrained)

A local dir may also hold vocab.json: a word-level tokenizer for small models (core.model.tokenizer).
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import pickle
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

VOCAB_FILE = "vocab.json"


class ModelLoadError(ValueError):
    """A model spec or checkpoint that cannot be loaded."""


@dataclass(frozen=True)
class ModelSpec:
    """Which zero-shot model to load.

    name: open_clip model name ('ViT-B-32'), 'local-dir:PATH', or a path to a config JSON.
    pretrained: open_clip pretrained tag ('openai', 'laion2b_s34b_b79k') or a checkpoint path;
        ignored for local-dir models, which carry their weights.
    """

    name: str
    pretrained: str | None = None

    @property
    def local_dir(self) -> Path | None:
        return Path(self.name.removeprefix("local-dir:")) if self.name.startswith("local-dir:") else None

    def to_dict(self) -> dict:
        return asdict(self)


class ImageClassifier(nn.Module):
    """Image encoder + linear head over L2-normalized features: the unit that is fine-tuned and
    interpolated. The zero-shot head's weights are the scaled class text embeddings."""

    def __init__(self, image_encoder: nn.Module, head: nn.Linear):
        super().__init__()
        self.image_encoder = image_encoder
        self.head = head

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """L2-normalised image features, float32 even under autocast (the encoder may run in bf16)."""
        feats = self.image_encoder(images)  # (B, D), bf16 under CUDA autocast
        with torch.autocast(feats.device.type, enabled=False):
            return F.normalize(feats.float(), dim=-1)  # (B, D) float32

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits (B, C) in float32: the head runs with autocast disabled. With CLIP's logit scale of
        100, bf16 spacing near |logit| 30 is 0.125 nats; a CPU bf16 simulation of the world run changed
        4-17 of 2,000 argmaxes and the loss by ~1e-3 when the head ran in bf16 (issue 11.2)."""
        feats = self.features(images)  # (B, D) float32
        with torch.autocast(feats.device.type, enabled=False):
            return self.head(feats)  # (B, C) float32


# ----------------------------------------------------------------------------- loading


def _open_clip():
    import open_clip  # imported lazily: slow, and only compute paths need it

    return open_clip


@contextlib.contextmanager
def _quiet_open_clip():
    """Silence open_clip's root-logger warnings for the duration."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def _resolve_name(spec: ModelSpec) -> str:
    """The name to give open_clip.create_model; registers a custom config JSON with open_clip."""
    oc = _open_clip()
    if spec.name.endswith(".json"):
        path = Path(spec.name)
        if not path.is_file():
            raise ModelLoadError(f"model config {path} does not exist")
        cfg = json.loads(path.read_text())
        cfg = cfg.get("model_cfg", cfg)  # open_clip_config.json layout or a bare model config
        missing = [k for k in ("embed_dim", "vision_cfg", "text_cfg") if k not in cfg]
        if missing:
            raise ModelLoadError(f"model config {path} lacks {missing}; see open_clip's model_configs")
        oc.factory._MODEL_CONFIGS[path.stem] = cfg  # what add_model_config does, minus its file scan
        return path.stem
    if spec.local_dir is not None:
        if not (spec.local_dir / "open_clip_config.json").is_file():
            raise ModelLoadError(f"{spec.local_dir} is not an open_clip model folder: open_clip_config.json is missing")
        return spec.name
    if oc.get_model_config(spec.name) is None:
        raise ModelLoadError(
            f"unknown open_clip model {spec.name!r}; see open_clip.list_models(), or pass a "
            "config JSON path or local-dir:PATH"
        )
    return spec.name


def pretrained_cfg(spec: ModelSpec) -> dict:
    """open_clip's registry entry for the spec's pretrained tag (mean/std, interpolation, resize
    mode, quick_gelu); {} for checkpoint files, local dirs and configs without a registered tag."""
    if spec.local_dir is not None or not spec.pretrained:
        return {}
    return dict(_open_clip().get_pretrained_cfg(_resolve_name(spec), spec.pretrained) or {})


def model_config(spec: ModelSpec) -> dict:
    """The open_clip model config (embed_dim, vision_cfg, text_cfg, quick_gelu) of a spec.

    A pretrained tag trained with QuickGELU (every OpenAI CLIP) sets quick_gelu: open_clip 3.3 builds
    nn.GELU for `ViT-B-16` + `openai` and only warns, so theta_0 and every fine-tune would run the
    OpenAI weights with the wrong activation (issue 11.1).
    """
    if spec.local_dir is not None:
        return json.loads((spec.local_dir / "open_clip_config.json").read_text())["model_cfg"]
    cfg = copy.deepcopy(_open_clip().get_model_config(_resolve_name(spec)))
    if pretrained_cfg(spec).get("quick_gelu"):
        cfg["quick_gelu"] = True
    return cfg


def load_clip(spec: ModelSpec, device: str | torch.device = "cpu", load_weights: bool = True):
    """Load a CLIP model with its transforms and tokenizer.

    load_weights=False builds the same architecture and preprocessing at random init (open_clip
    still resolves the tag; parity tests stub its download).

    Returns:
        (model, preprocess_train, preprocess_val, tokenizer)
    """
    oc = _open_clip()
    name = _resolve_name(spec)
    pretrained = None if spec.local_dir else spec.pretrained
    if pretrained and Path(pretrained).suffix and not Path(pretrained).is_file():
        raise ModelLoadError(f"checkpoint {pretrained} does not exist")
    quick_gelu = bool(model_config(spec).get("quick_gelu"))
    try:
        with warnings.catch_warnings():  # the QuickGELU mismatch warning: we force the tag's setting
            warnings.filterwarnings("ignore", message="QuickGELU mismatch")
            model, pre_train, pre_val = oc.create_model_and_transforms(
                name, pretrained=pretrained, device=device, force_quick_gelu=quick_gelu, load_weights=load_weights
            )
    except Exception as err:  # below: only errors of reading the user's own file become ModelLoadError
        # A checkpoint file the user named can fail inside torch's unpickler in many ways (garbage text
        # raised IndexError from its stack); for a file, every failure is a bad input. Tags keep the
        # narrow list, so a bug elsewhere still shows its traceback.
        is_file = bool(pretrained) and Path(pretrained).is_file()
        if not is_file and not isinstance(err, (RuntimeError, pickle.UnpicklingError, EOFError, KeyError, ValueError)):
            raise
        raise ModelLoadError(
            f"could not load {spec.name} with --pretrained {pretrained}: {load_failure(err)}. Give an open_clip tag "
            "(open_clip.list_pretrained()), a safetensors file, or a checkpoint of tensors only"
        ) from err
    return model, pre_train, pre_val, load_tokenizer(spec, name)


def load_failure(err: Exception) -> str:
    """Why a checkpoint did not load, in a few words. torch's weights-only refusal is reported as what it
    is (the file holds pickled code, or is not a checkpoint), never with torch's advice to load it with
    weights_only=False: the product refuses to run code from a checkpoint on purpose."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(err))
    if "Weights only load failed" in text:
        after = text.split("WeightsUnpickler error:", 1)[1] if "WeightsUnpickler error:" in text else ""
        reason = next((line.strip() for line in after.splitlines() if line.strip()), "unreadable").split(". ")[0]
        return f"it is not a checkpoint of tensors only ({reason[:200]}); pickled code is never run"
    return (text.strip().splitlines() or [type(err).__name__])[0][:300]


def load_tokenizer(spec: ModelSpec, name: str | None = None) -> Callable:
    """The model's tokenizer: a word vocabulary when the model folder has one, else open_clip's."""
    for folder in (spec.local_dir, Path(spec.name).parent if spec.name.endswith(".json") else None):
        if folder is not None and (folder / VOCAB_FILE).is_file():
            from core.model.tokenizer import WordTokenizer

            return WordTokenizer.load(folder / VOCAB_FILE)
    return _open_clip().get_tokenizer(name or _resolve_name(spec))


def transforms_from_cfg(preprocess_cfg: dict) -> tuple[Callable, Callable]:
    """(train, val) image transforms from a stored open_clip preprocess config."""
    from open_clip.transform import PreprocessCfg, image_transform_v2

    cfg = PreprocessCfg(**preprocess_cfg)
    return image_transform_v2(cfg, is_train=True), image_transform_v2(cfg, is_train=False)


def save_arch(spec: ModelSpec, model: nn.Module, dest: Path) -> None:
    """Write the architecture (open_clip_config.json, and vocab.json if any) to `dest`, so a run
    rebuilds its model with `local-dir:dest` and no download; weights come from the run itself."""
    from core.runs.artifacts import atomic_write_bytes, atomic_write_json

    config = {"model_cfg": model_config(spec), "preprocess_cfg": dict(model.visual.preprocess_cfg)}
    atomic_write_json(dest / "open_clip_config.json", config)
    for folder in (spec.local_dir, Path(spec.name).parent if spec.name.endswith(".json") else None):
        if folder is not None and (folder / VOCAB_FILE).is_file():
            atomic_write_bytes(dest / VOCAB_FILE, (folder / VOCAB_FILE).read_bytes())


# ----------------------------------------------------------------------------- zero-shot head


@torch.no_grad()
def build_zero_shot_head(
    model: nn.Module,
    tokenizer: Callable,
    classnames: Sequence[str],
    templates: Sequence[str],
    device: str | torch.device = "cpu",
) -> nn.Linear:
    """The paper's zero-shot head: per class, the normalized mean of the normalized text embeddings
    of its prompts, scaled by logit_scale.exp(); bias zero. Input: normalized image features.
    """
    model.eval()
    weights = []
    for name in classnames:
        texts = tokenizer([t.format(name) for t in templates]).to(device)  # (T, L)
        emb = F.normalize(model.encode_text(texts), dim=-1).mean(dim=0)  # (D,)
        weights.append(F.normalize(emb, dim=-1))
    weight = torch.stack(weights) * model.logit_scale.exp()  # (C, D)
    head = nn.Linear(weight.shape[1], weight.shape[0], bias=True)
    head.weight.copy_(weight)
    head.bias.zero_()
    return head


def zero_shot_classifier(
    model: nn.Module,
    tokenizer: Callable,
    classnames: Sequence[str],
    templates: Sequence[str],
    device: str | torch.device = "cpu",
) -> ImageClassifier:
    """theta_0: the CLIP image tower with the zero-shot head on top (text tower dropped)."""
    head = build_zero_shot_head(model, tokenizer, classnames, templates, device)
    return ImageClassifier(model.visual, head.to(device))


def empty_classifier(arch_dir: Path, num_classes: int) -> tuple[ImageClassifier, dict]:
    """An ImageClassifier of a saved architecture (save_arch) with random weights, to load a state
    dict into; nothing is downloaded. Returns it and the open_clip preprocess config."""
    spec = ModelSpec(f"local-dir:{arch_dir}")
    with _quiet_open_clip():  # "no pretrained weights loaded" is expected: they come from the run
        model = _open_clip().create_model(_resolve_name(spec), pretrained_text=False)
    head = nn.Linear(model_config(spec)["embed_dim"], num_classes)
    return ImageClassifier(model.visual, head), dict(model.visual.preprocess_cfg)
