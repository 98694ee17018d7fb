"""Pretrain the world's zero-shot model: a small CLIP (ResNet image tower, word-level text tower).

Recipe (LiT-style, Zhai et al. 2022, "locked-image tuning"), all from the `pretrain` split's captions:
  A. image tower: supervised on words parsed from the noisy captions (shape, object colour,
     background colour and texture, rendering style), one linear head per field.
  B. text tower: the image tower is locked and the text tower learns to match alt-text
     (styles.alt_text) to image embeddings with a multi-positive contrastive loss.
Why: with both towers free (plain CLIP from scratch) the shape words collapse and zero-shot stays at
chance; locking a tower that already separates shapes leaves the text tower only the alignment to
learn. Alt-text never names two classes (styles.ALT_TEXT_WORDS), so zero-shot is weak where real
CLIP is: on names web text rarely uses.

Output: a model dir that `load_model_dir` (or any open_clip user) re-creates from JSON alone:
  open_clip_config.json      {"model_cfg": {...}, "preprocess_cfg": {"size", "mean", "std"}}
  open_clip_model.safetensors  state_dict, fp32
  vocab.json                 the WordTokenizer
Budgets, the recipes measured and rejected: docs/world.md (the zero-shot model).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import open_clip
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from core.model.tokenizer import WordTokenizer
from core.worlds import shapes
from core.worlds import styles as S

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


@dataclass(frozen=True)
class PretrainConfig:
    """Everything that defines the zero-shot model. Defaults: the shipped recipe (see the module docstring)."""

    seed: int = 0
    n_images: int = 80_000  # pretrain split examples rendered
    # model
    embed_dim: int = 128  # joint embedding width
    vision_width: int = 12  # ModifiedResNet base width; output channels = 32 * width (fp16 file ~1.5 MB)
    vision_layers: tuple[int, ...] = (1, 1, 1, 1)
    text_width: int = 128
    text_layers: int = 2
    text_heads: int = 4
    context_length: int = 16
    # stage A: image tower on caption fields
    epochs_a: float = 4.0  # 2,500 steps: shapes are learned late (see the module docstring)
    batch_a: int = 128
    lr_a: float = 2e-3
    shape_weight: float = 8.0  # weight of the shape field in the stage A loss (the one zero-shot needs)
    # stage B: text tower against the locked image tower
    n_images_b: int = 30_000  # first n pretrain images used for alignment
    epochs_b: float = 1.0  # the contrastive loss plateaus after ~60 steps
    batch_b: int = 256
    lr_b: float = 1e-3
    weight_decay: float = 0.05
    threads: int = 2

    @classmethod
    def quick(cls, **kw) -> PretrainConfig:
        """Same code, tiny budget: for tests (well under a minute)."""
        return replace(cls(n_images=4000, epochs_a=1.0, n_images_b=2000, epochs_b=2.0, batch_b=256), **kw)


def model_config(cfg: PretrainConfig, vocab_size: int) -> dict:
    """open_clip CLIP kwargs; `open_clip.CLIP(**model_config(...))` re-creates the model."""
    return {
        "embed_dim": cfg.embed_dim,
        "vision_cfg": {"layers": list(cfg.vision_layers), "width": cfg.vision_width, "image_size": shapes.SIZE},
        "text_cfg": {
            "context_length": cfg.context_length,
            "vocab_size": vocab_size,
            "width": cfg.text_width,
            "heads": cfg.text_heads,
            "layers": cfg.text_layers,
            "act_kwargs": {"approximate": "tanh"},
        },
    }


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> normalized float (N, 3, H, W)."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(255)  # (N, 3, H, W)
    return (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)


# ---------------------------------------------------------------- caption fields (stage A targets)
_CAPTION = re.compile(
    r"^(?P<style>.+?) an? (?:(?P<fg>\w+) )?(?P<shape>\w+)"
    r"(?: on an? (?P<bg>\w+) (?P<tex>\w+) background)?\.?$"
)
FIELDS = {
    "shape": list(shapes.CLASSNAMES),
    "fg": list(S.PALETTE),
    "bg": list(S.PALETTE),
    "tex": list(S.TEXTURE_WORDS.values()),
    "style": sorted({p for v in S._STYLE_PHRASES.values() for p in v}),
}


def caption_targets(captions: list[str]) -> dict[str, torch.Tensor]:
    """Parse captions into one class index per field (-1 where the caption does not say)."""
    out = {k: np.full(len(captions), -1, np.int64) for k in FIELDS}
    for i, c in enumerate(captions):
        m = _CAPTION.match(c)
        if m is None:
            continue
        for k, names in FIELDS.items():
            v = m.group(k)
            if v in names:
                out[k][i] = names.index(v)
    return {k: torch.from_numpy(v) for k, v in out.items()}


# ---------------------------------------------------------------- stages
def _cosine_lr(opt, step: int, total: int, lr: float, warmup: int) -> None:
    f = (step + 1) / warmup if step < warmup else 0.5 * (1 + np.cos(np.pi * (step - warmup) / max(1, total - warmup)))
    for g in opt.param_groups:
        g["lr"] = lr * f


def train_image_tower(model: open_clip.CLIP, x: torch.Tensor, targets: dict, cfg: PretrainConfig) -> None:
    """Stage A: linear heads on the image embedding predict each caption field."""
    heads = torch.nn.ModuleDict({k: torch.nn.Linear(cfg.embed_dim, len(v)) for k, v in FIELDS.items()})
    params = list(model.visual.parameters()) + list(heads.parameters())
    opt = torch.optim.AdamW(params, lr=cfg.lr_a, weight_decay=cfg.weight_decay)
    g = torch.Generator().manual_seed(cfg.seed)
    n, steps = len(x), int(cfg.epochs_a * len(x) / cfg.batch_a)
    order = torch.cat([torch.randperm(n, generator=g) for _ in range(int(np.ceil(cfg.epochs_a)))])
    model.visual.train()
    bar = tqdm(range(steps), desc="pretrain A: image tower", mininterval=2)
    for step in bar:
        idx = order[step * cfg.batch_a : (step + 1) * cfg.batch_a]
        _cosine_lr(opt, step, steps, cfg.lr_a, warmup=max(1, steps // 20))
        z = model.visual(x[idx])  # (B, D)
        loss = sum(
            (cfg.shape_weight if k == "shape" else 1.0) * F.cross_entropy(heads[k](z), targets[k][idx], ignore_index=-1)
            for k in FIELDS
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if step % 20 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}")


@torch.no_grad()
def embed_images(model: open_clip.CLIP, x: torch.Tensor, batch: int = 1024) -> torch.Tensor:
    """Normalized image embeddings (N, D) in eval mode."""
    model.visual.eval()
    return torch.cat([F.normalize(model.visual(x[i : i + batch]), dim=-1) for i in range(0, len(x), batch)])


def train_text_tower(model: open_clip.CLIP, img_emb: torch.Tensor, tokens: torch.Tensor, cfg: PretrainConfig) -> None:
    """Stage B: multi-positive contrastive loss, image tower locked."""
    text_params = [p for n, p in model.named_parameters() if not n.startswith("visual.")]
    opt = torch.optim.AdamW(text_params, lr=cfg.lr_b, weight_decay=cfg.weight_decay)
    g = torch.Generator().manual_seed(cfg.seed + 1)
    n, steps = len(tokens), int(cfg.epochs_b * len(tokens) / cfg.batch_b)
    order = torch.cat([torch.randperm(n, generator=g) for _ in range(int(np.ceil(cfg.epochs_b)))])
    _, caption_id = torch.unique(tokens, dim=0, return_inverse=True)  # (N,) equal captions share an id
    model.train()
    model.visual.eval()  # locked: no BatchNorm statistics drift
    bar = tqdm(range(steps), desc="pretrain B: text tower", mininterval=2)
    for step in bar:
        idx = order[step * cfg.batch_b : (step + 1) * cfg.batch_b]
        _cosine_lr(opt, step, steps, cfg.lr_b, warmup=max(1, steps // 20))
        t = F.normalize(model.encode_text(tokens[idx]), dim=-1)  # (B, D)
        logits = model.logit_scale.exp() * img_emb[idx] @ t.T  # (B, B) image x text
        pos = (caption_id[idx, None] == caption_id[None, idx]).float()  # (B, B)
        target = pos / pos.sum(1, keepdim=True)
        loss = 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(text_params, 1.0)
        opt.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, np.log(100))
        if step % 20 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}", scale=f"{model.logit_scale.exp().item():.1f}")


# ---------------------------------------------------------------- model dir
def save_model_dir(
    model: open_clip.CLIP, model_cfg: dict, tokenizer: WordTokenizer, out_dir: str | Path, extra: dict | None = None
) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config = {"model_cfg": model_cfg, "preprocess_cfg": {"size": shapes.SIZE, "mean": list(MEAN), "std": list(STD)}}
    if extra:
        config["pretrain"] = extra
    (out / "open_clip_config.json").write_text(json.dumps(config, indent=1))
    save_file(
        {
            k: v.detach().contiguous().float() if v.is_floating_point() else v.contiguous()
            for k, v in model.state_dict().items()
        },
        str(out / "open_clip_model.safetensors"),
    )
    tokenizer.save(out / "vocab.json")
    return out


def load_model_dir(model_dir: str | Path) -> tuple[open_clip.CLIP, WordTokenizer, dict]:
    """Re-create (model, tokenizer, preprocess_cfg) from a model dir."""
    d = Path(model_dir)
    config = json.loads((d / "open_clip_config.json").read_text())
    model = open_clip.CLIP(**config["model_cfg"])
    model.load_state_dict(load_file(str(d / "open_clip_model.safetensors")))
    return model.eval(), WordTokenizer.load(d / "vocab.json"), config["preprocess_cfg"]


def pretrain(out_dir: str | Path, cfg: PretrainConfig = PretrainConfig()) -> Path:
    """Render the pretrain split, run stages A and B, write the model dir. Returns its path."""
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    times = {}
    t0 = time.time()
    images, _, captions = shapes.make_split("pretrain", cfg.n_images, seed=cfg.seed)
    x = to_tensor(images)  # (N, 3, H, W)
    del images
    times["render_s"] = time.time() - t0
    tok = WordTokenizer.from_texts(
        captions + [t.format(c) for t in shapes.TEMPLATES for c in shapes.CLASSNAMES], cfg.context_length
    )
    model_cfg = model_config(cfg, tok.vocab_size)
    model = open_clip.CLIP(**model_cfg)
    t0 = time.time()
    train_image_tower(model, x, caption_targets(captions), cfg)
    times["stage_a_s"] = time.time() - t0
    t0 = time.time()
    nb = min(cfg.n_images_b, len(x))
    img_emb = embed_images(model, x[:nb])  # (nb, D)
    alt = [S.alt_text(c) for c in captions[:nb]]  # the text tower learns from web-style alt-text
    train_text_tower(model, img_emb, tok(alt), cfg)
    times["stage_b_s"] = time.time() - t0
    model.eval()
    extra = {"config": asdict(cfg), "times": {k: round(v, 1) for k, v in times.items()}}
    return save_model_dir(model, model_cfg, tok, out_dir, extra)
