"""Labelled image sets and the dataset registry.

An ImageSet knows how to fetch image i, its label and a stable id (the file path for folder
datasets), so a viewer can find any example a run refers to. Datasets are named by a spec string:

    folder:PATH          class-per-subfolder images (ImageFolder layout)
    world:SPLIT          the embedded procedural world (core.worlds), e.g. world:sketch
    <registered name>    real datasets under --data-root (see list_datasets())

A spec may carry a display name: `sketch=folder:/data/sketch`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff")


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
            onto them before argmax and loss.
    """

    name: str
    classnames: list[str]
    ids: list[str]
    labels: np.ndarray
    get_image: Callable[[int], Image.Image]
    logit_indices: np.ndarray | None = None
    spec: str = ""
    extra: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, n: int | None) -> "ImageSet":
        """The first n examples (all when n is None), e.g. for quick modes."""
        if n is None or n >= len(self):
            return self
        idx = np.linspace(0, len(self) - 1, n).round().astype(int)  # spread over classes
        return ImageSet(self.name, self.classnames, [self.ids[i] for i in idx], self.labels[idx],
                        lambda i, g=self.get_image, idx=idx: g(int(idx[i])), self.logit_indices,
                        self.spec, self.extra)


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
_REGISTRY: dict[str, tuple[DatasetFactory, str]] = {}


def register(name: str, help: str = "") -> Callable[[DatasetFactory], DatasetFactory]:
    """Register a dataset factory `f(arg, data_root) -> ImageSet` under `name` (spec `name:arg`)."""

    def wrap(factory: DatasetFactory) -> DatasetFactory:
        _REGISTRY[name] = (factory, help)
        return factory

    return wrap


def list_datasets() -> dict[str, str]:
    """Registered dataset names and a one-line description of each."""
    _load_plugins()
    return {name: help for name, (_, help) in sorted(_REGISTRY.items())}


def _load_plugins() -> None:
    """Import the modules whose datasets register themselves (kept lazy: they are optional)."""
    import importlib

    for module in ("core.worlds.registry", "core.datasets"):
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


def get_dataset(spec: str, data_root: str | None = None) -> ImageSet:
    """Resolve a dataset spec (see module docstring) to an ImageSet."""
    _load_plugins()
    display, kind, arg = parse_spec(spec)
    if kind not in _REGISTRY:
        raise DatasetError(
            f"unknown dataset {spec!r}. Use folder:PATH for a class-per-subfolder image folder, "
            f"or one of: {', '.join(sorted(_REGISTRY))}"
        )
    images = _REGISTRY[kind][0](arg, data_root)
    images.spec = spec
    if display:
        images.name = display
    return images


@register("folder", "class-per-subfolder images: folder:PATH (PATH/<class>/<image>)")
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
    paths, labels = [], []
    for label, cls in enumerate(classes):
        files = sorted(p for p in (root / cls).rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
        paths += [str(p.resolve()) for p in files]
        labels += [label] * len(files)
    if not paths:
        raise DatasetError(f"{root} has class folders but no images ({', '.join(IMAGE_EXTENSIONS)})")
    return ImageSet(
        name=root.name,
        classnames=[c.replace("_", " ") for c in classes],
        ids=paths,
        labels=np.asarray(labels, dtype=np.int64),
        get_image=lambda i: open_image(paths[i]),
    )


def open_image(path: str) -> Image.Image:
    """Decode an image file to RGB, with an error that names the file."""
    try:
        with Image.open(path) as img:
            return img.convert("RGB")
    except (OSError, ValueError) as err:
        raise DatasetError(f"cannot read image {path}: {err}") from err


def open_example(example_id: str) -> Image.Image:
    """The image behind a per-example id stored in a run: a file path, or `world:SPLIT/INDEX`
    (regenerated on the fly, since world images are procedural)."""
    if example_id.startswith("world:"):
        from .worlds.registry import world_image

        return world_image(example_id)
    if "#" in example_id:  # FILE#INDEX: an image inside an array file (CIFAR)
        from .datasets import open_array_example

        return open_array_example(example_id)
    return open_image(example_id)


def align_classes(images: ImageSet, head_classnames: list[str]) -> ImageSet:
    """Map an eval set's labels onto a head's classes by name, or raise naming the mismatch.

    Eval sets with a subset of the head's classes get `logit_indices` (ImageNet-R style projection).
    """
    if images.logit_indices is not None or list(images.classnames) == list(head_classnames):
        return images
    index = {c: i for i, c in enumerate(head_classnames)}
    unknown = [c for c in images.classnames if c not in index]
    if unknown:
        raise DatasetError(
            f"eval set {images.name!r} has {len(images.classnames)} classes but the model's head has "
            f"{len(head_classnames)}; classes not in the head: {unknown[:8]}. Use eval folders whose "
            "class subfolders are named like the training classes."
        )
    images.logit_indices = np.asarray([index[c] for c in images.classnames], dtype=np.int64)
    return images
