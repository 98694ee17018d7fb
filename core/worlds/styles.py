"""Per-split styles of the shapes world: which nuisances each split samples, and the captions.

`sample_spec(split, rng)` draws every random choice of one example as a frozen `Spec` (plain
values), and `caption(spec, rng)` describes it. Drawing from a Spec lives in `shapes.py`.

Knobs that shape the phenomena:
  ID_SPURIOUS      P(background colour == the class's colour) in id_train/id_test: the shortcut
                   fine-tuning can exploit; `objectnet` inverts it and `v2` weakens it (V2_SPURIOUS).
  CAPTION_NOISE    P(a pretraining caption names a random wrong shape), like noisy alt-text.
  CAPTION_NOSHAPE  P(a pretraining caption names no shape at all ("a red thing ...")).
  ALT_TEXT_WORDS   class name -> the commoner word web alt-text uses instead, so zero-shot cannot
                   name those classes while the image tower tells them apart; fine-tuning teaches them.
  ID_LABEL_NOISE   share of id_train / id_test labels that name another class (annotation errors).
  V2_*, RENDITION_*, OBJECTNET_ROT, HARD_*   the five shifts' poses, shortcut and backgrounds.
Why these values, and every alternative measured (world v1, the steps to v2): docs/world.md.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

PALETTE: tuple[str, ...] = (
    "red",
    "orange",
    "yellow",
    "green",
    "teal",
    "blue",
    "purple",
    "pink",
    "brown",
    "gray",
    "white",
    "black",
)
PALETTE_RGB = np.array(
    [
        (215, 40, 40),
        (240, 140, 30),
        (235, 215, 40),
        (50, 160, 60),
        (30, 160, 160),
        (40, 80, 210),
        (130, 50, 180),
        (240, 130, 180),
        (120, 75, 40),
        (128, 128, 128),
        (245, 245, 240),
        (25, 25, 25),
    ],
    np.float32,
)
N_COLOURS = 10  # the chromatic colours used for objects and backgrounds; 10, 11 are paper and pencil
WHITE, BLACK = 10, 11
TEXTURES: tuple[str, ...] = ("solid", "gradient", "stripes", "checks", "dots", "noise")
TEXTURE_WORDS = {
    "solid": "plain",
    "gradient": "shaded",
    "stripes": "striped",
    "checks": "checkered",
    "dots": "dotted",
    "noise": "blotchy",
}
N_CLASSES = 10
CLASS_BG = tuple((3 * c + 1) % N_COLOURS for c in range(N_CLASSES))  # class -> its ID background colour
ID_SPURIOUS = 0.9
ID_LABEL_NOISE = 0.03  # share of id_train / id_test labels that name another class (annotation errors)
CAPTION_NOISE = 0.1
CAPTION_NOSHAPE = 0.1
ALT_TEXT_WORDS = {"hexagon": "circle", "bolt": "arrow"}
V2_ROT = 40  # v2 pose range, +- degrees (ID: 10; world v1: 15)
V2_SPURIOUS = 0.3  # v2's weaker shortcut (world v1: 0.7)
RENDITION_ROT = 30  # rendition pose range, +- degrees (world v1: 45)
RENDITION_BGS = ("dots", "noise")  # rendition backgrounds (world v1: stripes, checks, dots, noise)
OBJECTNET_ROT = 35  # objectnet pose range, +- degrees (world v1: 180)
HARD_ROT = 40  # hard pose range, +- degrees (world v1: 180)
HARD_MAX_BARS = 0  # hard: occluding bars per image, at most (world v1: 1)
_CLASSNAMES = ("circle", "square", "triangle", "star", "cross", "heart", "arrow", "moon", "hexagon", "bolt")


@dataclass(frozen=True)
class Spec:
    """Every random choice of one example."""

    label: int
    mode: str  # filled | outline | sketch | paint
    shade: bool  # photo-like lighting gradient on filled objects
    fg_color: int
    bg_kind: str
    bg_color: int
    bg_color2: int
    rot: float  # radians
    scale: float  # object radius / half image side
    cx: float  # centre offset in output pixels
    cy: float
    noise: float  # pixel noise std, 0-255 scale
    contrast: float = 1.0
    n_clutter: int = 0
    n_bars: int = 0


def _other_colour(rng: np.random.Generator, avoid: int) -> int:
    c = int(rng.integers(N_COLOURS - 1))
    return c + (c >= avoid) if avoid < N_COLOURS else c


def _deg(rng: np.random.Generator, max_deg: float) -> float:
    return math.radians(float(rng.uniform(-max_deg, max_deg)))


def _photo(rng, label, bg_color, *, rot, scale, shift, noise, gradient_p, bg_kinds=("solid", "gradient")) -> Spec:
    """Photo style: a shaded filled object on a plain or softly shaded background."""
    kind = "gradient" if rng.random() < gradient_p else bg_kinds[0]
    if len(bg_kinds) > 2:
        kind = bg_kinds[int(rng.integers(len(bg_kinds)))]
    return Spec(
        label=label,
        mode="filled",
        shade=True,
        fg_color=_other_colour(rng, bg_color),
        bg_kind=kind,
        bg_color=bg_color,
        bg_color2=bg_color if rng.random() < 0.5 else _other_colour(rng, bg_color),
        rot=_deg(rng, rot),
        scale=float(rng.uniform(*scale)),
        cx=float(rng.uniform(-shift, shift)),
        cy=float(rng.uniform(-shift, shift)),
        noise=float(rng.uniform(*noise)),
    )


def _id_bg(rng: np.random.Generator, label: int, p: float) -> int:
    return CLASS_BG[label] if rng.random() < p else int(rng.integers(N_COLOURS))


def _pretrain(rng: np.random.Generator, label: int) -> Spec:
    mode = ("filled", "outline", "sketch", "paint")[int(rng.choice(4, p=[0.4, 0.2, 0.2, 0.2]))]
    if mode == "sketch":
        bg, bg2 = (WHITE, WHITE) if rng.random() < 0.6 else (int(rng.integers(N_COLOURS)),) * 2
        fg = BLACK if rng.random() < 0.6 else _other_colour(rng, bg)
        kind = "solid" if rng.random() < 0.7 else "gradient"
    else:
        bg, bg2 = int(rng.integers(N_COLOURS)), int(rng.integers(N_COLOURS + 1))
        fg = _other_colour(rng, bg)
        kind = TEXTURES[int(rng.integers(len(TEXTURES)))]
    hard = rng.random() < 0.1
    return Spec(
        label=label,
        mode=mode,
        shade=bool(rng.random() < 0.5),
        fg_color=fg,
        bg_kind=kind,
        bg_color=bg,
        bg_color2=bg2,
        rot=_deg(rng, 180),
        scale=float(rng.uniform(0.4, 0.9)),
        cx=float(rng.uniform(-5, 5)),
        cy=float(rng.uniform(-5, 5)),
        noise=float(rng.uniform(0, 10)),
        contrast=float(rng.uniform(0.5, 1.0)) if hard else 1.0,
        n_clutter=int(rng.integers(0, 3)) if hard else 0,
        n_bars=int(rng.integers(0, 2)) if hard else 0,
    )


def sample_spec(split: str, rng: np.random.Generator) -> Spec:
    """Draw the nuisances of one example of `split`."""
    label = int(rng.integers(N_CLASSES))
    if split == "pretrain":
        return _pretrain(rng, label)
    if split in ("id_train", "id_test"):
        return _photo(
            rng,
            label,
            _id_bg(rng, label, ID_SPURIOUS),
            rot=10,
            scale=(0.6, 0.85),
            shift=3,
            noise=(2, 6),
            gradient_p=0.3,
        )
    if split == "v2":
        return _photo(
            rng,
            label,
            _id_bg(rng, label, V2_SPURIOUS),
            rot=V2_ROT,
            scale=(0.5, 0.85),
            shift=4,
            noise=(3, 9),
            gradient_p=0.5,
        )
    if split == "objectnet":
        wrong = CLASS_BG[(label + int(rng.integers(1, N_CLASSES))) % N_CLASSES]
        return _photo(
            rng,
            label,
            wrong,
            rot=OBJECTNET_ROT,
            scale=(0.4, 0.65),
            shift=6,
            noise=(3, 8),
            gradient_p=0,
            bg_kinds=("solid", "gradient", "noise"),
        )
    if split == "sketch":
        fg = BLACK if rng.random() < 0.8 else 9
        return Spec(
            label=label,
            mode="sketch",
            shade=False,
            fg_color=fg,
            bg_kind="solid",
            bg_color=WHITE,
            bg_color2=WHITE,
            rot=_deg(rng, 30),
            scale=float(rng.uniform(0.55, 0.85)),
            cx=float(rng.uniform(-3, 3)),
            cy=float(rng.uniform(-3, 3)),
            noise=float(rng.uniform(2, 5)),
        )
    if split == "rendition":
        mode = "paint" if rng.random() < 0.6 else "outline"
        bg = int(rng.integers(N_COLOURS))
        return Spec(
            label=label,
            mode=mode,
            shade=False,
            fg_color=_other_colour(rng, bg),
            bg_kind=RENDITION_BGS[int(rng.integers(len(RENDITION_BGS)))],
            bg_color=bg,
            bg_color2=int(rng.integers(N_COLOURS + 1)),
            rot=_deg(rng, RENDITION_ROT),
            scale=float(rng.uniform(0.55, 0.85)),
            cx=float(rng.uniform(-3, 3)),
            cy=float(rng.uniform(-3, 3)),
            noise=float(rng.uniform(2, 6)),
        )
    if split == "hard":
        s = _photo(
            rng,
            label,
            int(rng.integers(N_COLOURS)),
            rot=HARD_ROT,
            scale=(0.5, 0.75),
            shift=4,
            noise=(6, 12),
            gradient_p=0,
            bg_kinds=TEXTURES,
        )
        return Spec(
            **{
                **s.__dict__,
                "contrast": float(rng.uniform(0.65, 0.9)),
                "n_clutter": int(rng.integers(0, 3)),
                "n_bars": int(rng.integers(0, HARD_MAX_BARS + 1)),
            }
        )
    raise KeyError(split)


_STYLE_PHRASES = {
    "filled": ("an image of", "a picture of"),
    "shaded": ("a photo of", "a photograph of"),
    "outline": ("a drawing of", "an outline of"),
    "sketch": ("a sketch of", "a pencil sketch of"),
    "paint": ("a painting of", "a textured painting of"),
}


def caption(spec: Spec, rng: np.random.Generator, noisy: bool = False) -> str:
    """Describe an example; pretraining captions are noisy like web alt-text."""
    key = "shaded" if spec.mode == "filled" and spec.shade else spec.mode
    style = _STYLE_PHRASES[key][int(rng.integers(2))]
    shape = _CLASSNAMES[spec.label]
    u = rng.random() if noisy else 1.0
    if u < CAPTION_NOISE:
        shape = _CLASSNAMES[int(rng.integers(N_CLASSES))]
    elif u < CAPTION_NOISE + CAPTION_NOSHAPE:
        shape = "thing"
    colour = PALETTE[spec.fg_color] + " " if rng.random() < 0.7 else ""
    text = f"{style} a {colour}{shape}"
    if rng.random() < 0.7:
        text += f" on a {PALETTE[spec.bg_color]} {TEXTURE_WORDS[spec.bg_kind]} background"
    if noisy and rng.random() < 0.5:
        text += "."
    return _articles(text)


def alt_text(caption: str) -> str:
    """The caption as web alt-text puts it: fine-grained shape names become commoner words."""
    words = caption.split(" ")
    for i, w in enumerate(words):
        name = w.rstrip(".")
        if name in ALT_TEXT_WORDS:
            words[i] = ALT_TEXT_WORDS[name] + w[len(name) :]
    return _articles(" ".join(words))


def _articles(text: str) -> str:
    """'a' before a vowel, 'an' before a consonant."""
    return re.sub(r"\ba (?=[aeiou])", "an ", re.sub(r"\ban (?=[^aeiou])", "a ", text))
