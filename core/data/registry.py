"""Labelled image sets and the dataset registry.

An ImageSet knows how to fetch image i, its label and a stable id (the file path for folder
datasets), so a viewer can find any example a run refers to. Datasets are named by a spec string:

    folder:PATH          class-per-subfolder images (ImageFolder layout)
    world:SPLIT          the embedded procedural world (core.worlds), e.g. world:sketch
    <registered name>    real datasets under --data-root (see list_datasets())

A spec may carry a display name: `sketch=folder:/data/sketch`.

Each dataset family registers itself (`register`, with its published sizes and layout) and the
opener of the per-example ids it stores in runs (`register_opener`); this module knows no family's
ids or files. `python -m core datasets` lists the families.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image
from core.runs.identity import stat_digest

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff")


NO_CLASS, NEVER_PREDICTED = -1, -2  # logit_indices entries: a constant logit 0, or one that never wins
NEVER_LOGIT = -1e4  # the paper subtracts 1e10; -1e4 keeps float16 logits finite and still never wins


def project_logits(logits: np.ndarray, logit_indices: np.ndarray | None) -> np.ndarray:
    """A head's logits (..., C) projected onto a set's classes (..., K) (see ImageSet.logit_indices)."""
    if logit_indices is None:
        return logits
    if logit_indices.ndim == 1:
        return logits[..., logit_indices]
    picked = logits[..., np.maximum(logit_indices, 0)]  # (..., K, G)
    if (logit_indices < 0).any():
        fixed = np.where(logit_indices == NO_CLASS, 0.0, NEVER_LOGIT).astype(picked.dtype)  # (K, G)
        picked = np.where(logit_indices >= 0, picked, fixed)
    return picked.max(axis=-1)


class DatasetError(ValueError):
    """A dataset spec that cannot be resolved, or a dataset that is missing or malformed."""


@dataclass
class ImageSet:
    """A labelled image set.

    Attributes:
        name: short display name, used for file names in run folders.
        classnames: class names in label order (what the zero-shot prompts are built from).
        ids: per-example id, e.g. the image path; stable across runs.
        labels: (N,) int64 class index into `classnames`.
        get_image: i -> PIL RGB image.
        logit_indices: when the model's head has more classes than this set (ImageNet-R/A's
            200-class subsets), the head classes that this set's labels index; logits are projected
            onto them before argmax and loss (`project_logits`). (K, G): class k scores the max over
            its group; a group of NO_CLASS scores a constant 0 and one of NEVER_PREDICTED cannot win
            (YTBB-Robust classes with no ImageNet class, as the paper's projection).
        content: a digest of what the examples hold beyond their ids and labels (the world's pixels,
            image files' sizes and modification times), so that results computed from other content
            are never reused for this set; "" when the ids alone pin the content.
    """

    name: str
    classnames: list[str]
    ids: list[str]
    labels: np.ndarray
    get_image: Callable[[int], Image.Image]
    logit_indices: np.ndarray | None = None
    spec: str = ""
    extra: dict = field(default_factory=dict)
    content: str = ""

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, n: int | None) -> "ImageSet":
        """n evenly spaced examples (all when n is None or >= len), e.g. for quick modes.

        Evenly spaced rather than the first n: the examples are sorted by class, so the first n
        would hold one or two classes only.
        """
        if n is not None and n < 1:
            raise DatasetError(f"--limit {n}: give a positive number of examples (or leave --limit out for all)")
        if n is None or n >= len(self):
            return self
        idx = np.linspace(0, len(self) - 1, n).round().astype(int)  # spread over classes
        return ImageSet(self.name, self.classnames, [self.ids[i] for i in idx], self.labels[idx],
                        lambda i, g=self.get_image, idx=idx: g(int(idx[i])), self.logit_indices,
                        self.spec, self.extra, self.content)


class TorchImages(torch.utils.data.Dataset):
    """An ImageSet as a torch Dataset of (preprocessed image, label, index)."""

    def __init__(self, images: ImageSet, transform: Callable):
        self.images, self.transform = images, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        return self.transform(self.images.get_image(i)), int(self.images.labels[i]), i


# ----------------------------------------------------------------------------- registry

DatasetFactory = Callable[[str, "str | None"], ImageSet]
Opener = Callable[[str], Image.Image]


@dataclass(frozen=True)
class DatasetEntry:
    """One registered dataset family.

    factory: (arg, data_root) -> ImageSet. help: one line for --help and `python -m core datasets`.
    sizes: {split or variant (the text after ':'; '' for the default): published example count};
        get_dataset refuses a copy of another size unless allow_partial (a partial download skews
        every number computed on it). Empty for families without a fixed size (folder:, world:).
    layout: where the files lie under --data-root, for `python -m core datasets`.
    """

    factory: DatasetFactory
    help: str = ""
    sizes: dict = field(default_factory=dict)
    layout: str = ""


_REGISTRY: dict[str, DatasetEntry] = {}
_OPENERS: list[tuple[str, Callable[[str], bool], Opener]] = []
# Modules whose dataset families register themselves (the package's own "entry points"); imported
# on first use so that `core.data` never imports them at module level (they import it).
PLUGINS = ("core.worlds.registry", "core.data.shifts", "core.data.transfer", "core.data.wilds", "core.data.video",
           "core.data.ytbb")


def register(name: str, help: str = "", sizes: dict | None = None,
             layout: str = "") -> Callable[[DatasetFactory], DatasetFactory]:
    """Register a dataset factory `f(arg, data_root) -> ImageSet` under `name` (spec `name:arg`).

    sizes: published example count per split/variant (see DatasetEntry); layout: one line.
    """

    def wrap(factory: DatasetFactory) -> DatasetFactory:
        _REGISTRY[name] = DatasetEntry(factory, help, dict(sizes or {}), layout)
        return factory

    return wrap


def register_opener(scheme: str, matches: Callable[[str], bool], opener: Opener) -> None:
    """Let a dataset family open the per-example ids it stores in runs (see open_example).

    scheme: a short name for messages; matches(id) -> True for this family's ids; opener(id) -> RGB image.
    Re-registering a scheme replaces it (module reloads).
    """
    _OPENERS[:] = [o for o in _OPENERS if o[0] != scheme] + [(scheme, matches, opener)]


def list_datasets() -> dict[str, str]:
    """Registered dataset names and a one-line description of each."""
    _load_plugins()
    return {name: entry.help for name, entry in sorted(_REGISTRY.items())}


def dataset_entry(name: str) -> DatasetEntry:
    """The registry entry of a dataset family (its factory, help, published sizes, layout)."""
    _load_plugins()
    if name not in _REGISTRY:
        raise DatasetError(f"unknown dataset {name!r}; the named datasets are {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def _load_plugins() -> None:
    """Import the modules whose datasets register themselves (kept lazy: they are optional)."""
    import importlib

    for module in PLUGINS:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as err:
            if err.name not in (module, module.rsplit(".", 1)[0]):
                raise


def parse_spec(spec: str) -> tuple[str | None, str, str]:
    """'name=kind:arg' -> (display name or None, kind, arg)."""
    display = None
    head = spec.split(":", 1)[0]
    if "=" in head:
        display, spec = spec.split("=", 1)
    kind, _, arg = spec.partition(":")
    return display, kind, arg


def get_dataset(spec: str, data_root: str | None = None, allow_partial: bool = False) -> ImageSet:
    """Resolve a dataset spec (see module docstring) to an ImageSet.

    A named dataset whose size differs from its published size is refused unless allow_partial
    (an incomplete download silently skews every number; see DatasetEntry.sizes).
    """
    _load_plugins()
    display, kind, arg = parse_spec(spec)
    if kind not in _REGISTRY:
        raise DatasetError(
            f"unknown dataset {spec!r}. Use folder:PATH for a class-per-subfolder image folder, "
            f"or one of: {', '.join(sorted(_REGISTRY))}"
        )
    entry = _REGISTRY[kind]
    images = entry.factory(arg, data_root)
    expected = entry.sizes.get(arg)  # the default split is registered under '' too
    if expected is not None and len(images) != expected and not allow_partial:
        raise DatasetError(
            f"{kind}{':' + arg if arg else ''} under {data_root} has {len(images):,} examples, but the published "
            f"dataset has {expected:,}: the copy is incomplete or has extra files. Re-download it, or pass "
            "--allow-partial to use it anyway (its numbers will not be comparable with the paper's)"
        )
    images.spec = spec
    if display:
        images.name = display
    return images


@register("folder", "class-per-subfolder images: folder:PATH (PATH/<class>/<image>)", layout="PATH/<class>/<image>")
def image_folder(path: str, data_root: str | None = None) -> ImageSet:
    root = Path(path).expanduser()
    if not root.is_absolute() and data_root and not root.exists():
        root = Path(data_root) / root
    if not root.is_dir():
        raise DatasetError(
            f"image folder {root} does not exist; expected PATH/<class name>/<image files>"
        )
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise DatasetError(f"{root} has no class subfolders; expected PATH/<class name>/<image files>")
    paths, labels, empty = [], [], []
    for label, cls in enumerate(classes):
        files = sorted(p for p in (root / cls).rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
        paths += [str(p.resolve()) for p in files]
        labels += [label] * len(files)
        empty += [] if files else [cls]
    if not paths:
        raise DatasetError(f"{root} has class folders but no images ({', '.join(IMAGE_EXTENSIONS)})")
    if empty:  # a class with no examples (torchvision's ImageFolder refuses it too)
        raise DatasetError(f"{root / empty[0]} holds no images ({', '.join(IMAGE_EXTENSIONS)})"
                           f"{f' (nor do {len(empty) - 1} more class folders)' if len(empty) > 1 else ''}: "
                           "add the class's images or remove its folder")
    return ImageSet(
        name=root.name,
        classnames=[c.replace("_", " ") for c in classes],
        ids=paths,
        labels=np.asarray(labels, dtype=np.int64),
        get_image=lambda i: open_image(paths[i]),
        content=stat_digest(paths),
    )




def open_image(path: str) -> Image.Image:
    """Decode an image file to RGB, with an error that names the file."""
    try:
        with Image.open(path) as img:
            return img.convert("RGB")
    except (OSError, ValueError) as err:
        raise DatasetError(f"cannot read image {path}: {err}") from err


def open_example(example_id: str) -> Image.Image:
    """The image behind a per-example id stored in a run.

    Each dataset family registers the ids it writes (register_opener): the world's `world:SPLIT/INDEX`
    (regenerated on the fly), array files' `FILE#INDEX` (CIFAR), ...; any other id is an image path.
    """
    _load_plugins()
    for _, matches, opener in _OPENERS:
        if matches(example_id):
            return opener(example_id)
    return open_image(example_id)


def align_classes(images: ImageSet, head_classnames: list[str], role: str | None = None) -> ImageSet:
    """Map a set's labels onto a head's classes by name, or raise naming the classes that differ.

    Sets with a subset of the head's classes get `logit_indices` (ImageNet-R style projection).
    role: what the set is used for, for the message ("training set", "eval set"); a neutral
    "dataset" when not given.
    """
    what = f"{role or 'dataset'} {images.name!r}" + (f" ({images.spec})" if images.spec else "")
    if images.logit_indices is not None:  # projected from a larger head (ImageNet-R/A, ObjectNet)
        if int(images.logit_indices.max()) >= len(head_classnames):
            raise DatasetError(
                f"{what} is scored on a projection of ImageNet's 1000 classes, but the model's head has "
                f"{len(head_classnames)} classes. Start the run with --classes-from imagenet"
            )
        return images
    if list(images.classnames) == list(head_classnames):
        return images
    index = {c: i for i, c in enumerate(head_classnames)}
    unknown = [c for c in images.classnames if c not in index]
    if unknown:
        n, m = len(images.classnames), len(head_classnames)
        counts = (f"{n} classes but the model's head has {m}" if n != m
                  else f"the same number of classes as the model's head ({m})")
        present = set(images.classnames)
        absent = [c for c in head_classnames if c not in present]
        raise DatasetError(
            f"{what} has {counts}, and {len(unknown)} of its classes are not in the head: {_few(unknown)}"
            + (f"; head classes it lacks: {_few(absent)}" if absent else "")
            + ". Name its class subfolders like the run's classes (listed under classnames in the run's manifest.json)."
        )
    images.logit_indices = np.asarray([index[c] for c in images.classnames], dtype=np.int64)
    return images


def _few(names: list[str], k: int = 8) -> str:
    """Up to k names for a message, with how many more there are."""
    shown = ", ".join(repr(n) for n in names[:k])
    return shown + (f" (and {len(names) - k} more)" if len(names) > k else "")
