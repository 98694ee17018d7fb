"""The "shapes" world: a procedural, captioned image world where WiSE-FT's phenomena happen for real.

Every example is a 32x32 RGB image of one of ten shapes, drawn from a per-split *style* (styles.py):
how the shape is rendered, what lies behind it, its pose and the pixel noise. `render(split, index,
seed)` rebuilds any single example from its id, so a viewer can show example 1234 of `sketch` without
storing images. `pretrain` is a broad captioned mix; `id_train`/`id_test` a narrow "photo" style with a
background-colour shortcut; `v2`, `sketch`, `rendition`, `objectnet` and `hard` mimic ImageNet's shifts.
Why: pretraining sees every style, fine-tuning only the photo style, so fine-tuning trades robustness
for ID accuracy and the path between them keeps both (the splits and the mechanism: docs/world.md).

Only numpy and PIL; deterministic per (split, index, seed) through numpy's SeedSequence.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from PIL import Image, ImageDraw

from core.worlds import styles as S

SIZE = 32  # output side, pixels
SS = 2  # supersampling factor: shapes are drawn at SIZE*SS and box-filtered down
CLASSNAMES: tuple[str, ...] = (
    "circle",
    "square",
    "triangle",
    "star",
    "cross",
    "heart",
    "arrow",
    "moon",
    "hexagon",
    "bolt",
)
SPLITS: tuple[str, ...] = ("pretrain", "id_train", "id_test", "v2", "sketch", "rendition", "objectnet", "hard")
TEMPLATES: tuple[str, ...] = (  # zero-shot prompts; words all occur in pretraining captions
    "a photo of a {}.",
    "a photograph of a {}.",
    "a picture of a {}.",
    "an image of a {}.",
)
_SPLIT_IDS = {name: i for i, name in enumerate(SPLITS)}


# ---------------------------------------------------------------- shapes (unit polygons, radius ~1)
def _ngon(n: int, r: float = 1.0, phase: float = 0.0) -> np.ndarray:
    t = phase + 2 * np.pi * np.arange(n) / n
    return np.stack([r * np.sin(t), -r * np.cos(t)], 1)  # (n, 2) x right, y down


def _star() -> np.ndarray:
    outer, inner = _ngon(5), _ngon(5, 0.42, np.pi / 5)
    return np.stack([outer, inner], 1).reshape(-1, 2)


def _cross(w: float = 0.34) -> np.ndarray:
    return np.array(
        [(-w, -1), (w, -1), (w, -w), (1, -w), (1, w), (w, w), (w, 1), (-w, 1), (-w, w), (-1, w), (-1, -w), (-w, -w)],
        float,
    )


def _heart() -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    x = 16 * np.sin(t) ** 3
    y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    p = np.stack([x, y + 2.5], 1)
    return p / 16.5


def _arrow() -> np.ndarray:
    return np.array([(-1, -0.28), (0.15, -0.28), (0.15, -0.75), (1, 0), (0.15, 0.75), (0.15, 0.28), (-1, 0.28)], float)


def _moon() -> np.ndarray:
    a = np.linspace(0.2 * np.pi, 1.8 * np.pi, 30)
    outer = np.stack([np.cos(a), np.sin(a)], 1)
    b = np.linspace(1.75 * np.pi, 0.25 * np.pi, 24)
    inner = np.stack([0.45 + 0.78 * np.cos(b), 0.78 * np.sin(b)], 1)
    return np.concatenate([outer, inner]) - np.array([0.25, 0.0])


def _bolt() -> np.ndarray:
    return np.array([(0.25, -1), (-0.55, 0.1), (-0.05, 0.1), (-0.3, 1), (0.6, -0.2), (0.08, -0.2), (0.45, -1)], float)


SHAPES: tuple[np.ndarray, ...] = (
    _ngon(48, 0.95),
    _ngon(4, 1.05, np.pi / 4),
    _ngon(3, 1.1) + [0, 0.15],
    _star(),
    _cross(),
    _heart(),
    _arrow(),
    _moon(),
    _ngon(6),
    _bolt(),
)


# ---------------------------------------------------------------- drawing primitives
def _place(poly: np.ndarray, rot: float, scale: float, cx: float, cy: float) -> list[tuple[float, float]]:
    """Unit polygon -> pixel coordinates on the supersampled canvas."""
    c, s = math.cos(rot), math.sin(rot)
    p = poly @ np.array([[c, s], [-s, c]])  # (n, 2)
    half = SIZE * SS / 2
    p = p * scale * half + np.array([cx, cy]) * SS + half
    return [tuple(q) for q in p]


def _mask(pts, mode: str, rng: np.random.Generator) -> np.ndarray:
    """Coverage mask (S, S) float32 in [0, 1] of the shape drawn in `mode`."""
    n = SIZE * SS
    im = Image.new("L", (n, n), 0)
    d = ImageDraw.Draw(im)
    if mode in ("filled", "paint"):
        d.polygon(pts, fill=255)
    elif mode == "outline":
        d.line(pts + [pts[0]], fill=255, width=int(rng.integers(2, 5)), joint="curve")
    else:  # sketch: two or three jittered, slightly broken pencil passes
        arr = np.array(pts)
        for _ in range(int(rng.integers(2, 4))):
            jit = arr + rng.normal(0, 1.1, arr.shape)
            seq = [tuple(q) for q in jit] + [tuple(jit[0])]
            for a, b in zip(seq[:-1], seq[1:]):
                if rng.random() < 0.92:
                    d.line([a, b], fill=int(rng.integers(150, 256)), width=int(rng.integers(1, 3)))
    return np.asarray(im, np.float32) / 255.0


def _downsample(x: np.ndarray) -> np.ndarray:
    n = SIZE
    return x.reshape(n, SS, n, SS, *x.shape[2:]).mean((1, 3))


def _background(kind: str, c1: np.ndarray, c2: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(SIZE, SIZE, 3) float32 background in [0, 255]."""
    n = SIZE
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32) / n
    if kind == "solid":
        w = np.zeros((n, n), np.float32)
    elif kind == "gradient":
        a = rng.uniform(0, 2 * np.pi)
        w = np.cos(a) * xx + np.sin(a) * yy
        w = (w - w.min()) / (w.max() - w.min() + 1e-6)
    elif kind == "stripes":
        a, f = rng.uniform(0, np.pi), rng.uniform(3, 6)
        w = (np.sin(2 * np.pi * f * (np.cos(a) * xx + np.sin(a) * yy)) > 0).astype(np.float32)
    elif kind == "checks":
        f = int(rng.integers(3, 7))
        w = ((np.floor(xx * f) + np.floor(yy * f)) % 2).astype(np.float32)
    elif kind == "dots":
        f = rng.uniform(4, 7)
        w = ((np.sin(2 * np.pi * f * xx) * np.sin(2 * np.pi * f * yy)) > 0.5).astype(np.float32)
    else:  # noise: blotchy low-frequency noise
        g = rng.random((5, 5)).astype(np.float32)
        w = np.asarray(Image.fromarray((g * 255).astype(np.uint8)).resize((n, n), Image.BILINEAR), np.float32) / 255.0
    return c1 * (1 - w[..., None]) + c2 * w[..., None]


def _jitter(c: np.ndarray, rng: np.random.Generator, amount: float) -> np.ndarray:
    return np.clip(c + rng.normal(0, amount, 3), 0, 255).astype(np.float32)


# ---------------------------------------------------------------- one example
def _rng(split: str, index: int, seed: int) -> np.random.Generator:
    return np.random.default_rng([seed, _SPLIT_IDS[split], index])


def spec(split: str, index: int, seed: int = 0) -> S.Spec:
    """The nuisances of example `index` of `split` without drawing it (cheap)."""
    return S.sample_spec(split, _rng(split, index, seed))


def render(split: str, index: int, seed: int = 0) -> tuple[np.ndarray, int, str]:
    """Draw example `index` of `split`.

    Returns:
        image (SIZE, SIZE, 3) uint8, label in range(len(CLASSNAMES)), caption (str).
    """
    if split not in _SPLIT_IDS:
        raise KeyError(f"unknown split {split!r}; choose from {SPLITS}")
    rng = _rng(split, index, seed)
    spec = S.sample_spec(split, rng)  # every random choice of the example, as plain values
    image = _draw(spec, rng)
    return image, annotated_label(split, index, seed, spec.label), S.caption(spec, rng, noisy=split == "pretrain")


def annotated_label(split: str, index: int, seed: int, label: int) -> int:
    """The label an annotator gave the example: on the ID splits a share S.ID_LABEL_NOISE of them name
    a uniformly drawn other class. Drawn from its own stream, so the image is the same either way."""
    if split not in ("id_train", "id_test") or S.ID_LABEL_NOISE == 0:
        return label
    rng = np.random.default_rng([seed, _SPLIT_IDS[split], index, 1])
    if rng.random() >= S.ID_LABEL_NOISE:
        return label
    return int((label + 1 + rng.integers(len(SHAPES) - 1)) % len(SHAPES))


def _draw(spec: S.Spec, rng: np.random.Generator) -> np.ndarray:
    pal = S.PALETTE_RGB
    bg = _background(
        spec.bg_kind, _jitter(pal[spec.bg_color], rng, 10), _jitter(pal[spec.bg_color2], rng, 10), rng
    )  # (n, n, 3)
    pts = _place(SHAPES[spec.label], spec.rot, spec.scale, spec.cx, spec.cy)
    m = _downsample(_mask(pts, spec.mode, rng))[..., None]  # (n, n, 1)
    fg = _foreground(spec, rng)  # (n, n, 3)
    img = bg * (1 - m) + fg * m
    for _ in range(spec.n_clutter):  # small distractor marks (hard split)
        img = _clutter(img, rng)
    for _ in range(spec.n_bars):  # occluding bars
        img = _bar(img, rng)
    if spec.contrast < 1.0:
        img = img.mean((0, 1), keepdims=True) + spec.contrast * (img - img.mean((0, 1), keepdims=True))
    img = img + rng.normal(0, spec.noise, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _foreground(spec: S.Spec, rng: np.random.Generator) -> np.ndarray:
    col = _jitter(S.PALETTE_RGB[spec.fg_color], rng, 12)
    n = SIZE
    if spec.mode == "sketch":
        return np.broadcast_to(col, (n, n, 3)).astype(np.float32)
    if spec.mode == "paint":
        kind = S.TEXTURES[int(rng.integers(1, len(S.TEXTURES)))]
        col2 = _jitter(S.PALETTE_RGB[int(rng.integers(len(S.PALETTE)))], rng, 12)
        return _background(kind, col, col2, rng)
    if spec.shade:  # photo look: a soft lighting gradient across the object
        return _background("gradient", col * 1.15, col * 0.6, rng)
    return np.broadcast_to(col, (n, n, 3)).astype(np.float32)


def _clutter(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = SIZE
    r = int(rng.integers(2, 4))
    x, y = (int(v) for v in rng.integers(r, n - r, 2))
    col = S.PALETTE_RGB[int(rng.integers(len(S.PALETTE)))]
    img = img.copy()
    img[y - r : y + r, x - r : x + r] = col
    return img


def _bar(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = SIZE
    img = img.copy()
    w = int(rng.integers(2, 4))
    p = int(rng.integers(4, n - 4))
    col = S.PALETTE_RGB[int(rng.integers(len(S.PALETTE)))]
    if rng.random() < 0.5:
        img[:, p : p + w] = col
    else:
        img[p : p + w, :] = col
    return img


# ---------------------------------------------------------------- many examples
def _chunk(args: tuple[str, int, int, int]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    split, start, stop, seed = args
    out = [render(split, i, seed) for i in range(start, stop)]
    return (
        np.stack([o[0] for o in out]) if out else np.zeros((0, SIZE, SIZE, 3), np.uint8),
        np.array([o[1] for o in out], np.int64),
        [o[2] for o in out],
    )


def make_split(
    split: str, n: int, seed: int = 0, workers: int | None = None
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Render examples 0..n-1 of `split` (equal to stacking `render(split, i, seed)`).

    Returns:
        images (N, SIZE, SIZE, 3) uint8, labels (N,) int64, captions list[str].
    """
    workers = workers or min(os.cpu_count() or 1, 4)
    if n < 2000 or workers == 1:
        return _chunk((split, 0, n, seed))
    bounds = np.linspace(0, n, workers * 8 + 1).astype(int)
    jobs = [(split, int(a), int(b), seed) for a, b in zip(bounds[:-1], bounds[1:])]
    with ProcessPoolExecutor(workers) as ex:
        parts = list(ex.map(_chunk, jobs))
    caps = [c for p in parts for c in p[2]]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), caps
