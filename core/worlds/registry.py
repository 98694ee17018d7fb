"""The embedded world as datasets: `world:SPLIT` (or `world:SPLIT:N` for the first N examples).

Images are generated in bulk when a set is first requested; a per-example id `world:SPLIT/INDEX`
regenerates exactly that image (see shapes.render), so runs store ids, not pixels.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image

from core.data.registry import DatasetError, ImageSet, register, register_opener
from core.runs.identity import bytes_digest
from core.worlds import shapes

WORLD_SEED = 0
SPLIT_SIZES = {"pretrain": 150_000, "id_train": 10_000}  # every test split: 2,000
TEST_SIZE = 2_000


def default_size(split: str) -> int:
    return SPLIT_SIZES.get(split, TEST_SIZE)


@lru_cache(maxsize=16)
def _generate(split: str, n: int) -> tuple[np.ndarray, np.ndarray, str]:
    """The split's first n images and labels, and a digest of the pixels: a change to the world's
    styles (new shifts) changes every result computed from them, though ids and labels stay the same."""
    images, labels, _ = shapes.make_split(split, n, seed=WORLD_SEED)
    return images, labels, bytes_digest(images.tobytes(), length=16)


@register(
    "world",
    "the embedded procedural world: world:SPLIT[:N], SPLIT in core.worlds.shapes.SPLITS",
    layout="generated on the fly (no files)",
)
def world_split(arg: str, data_root: str | None = None) -> ImageSet:
    split, _, count = arg.partition(":")
    if split not in shapes.SPLITS:
        raise DatasetError(f"unknown world split {split!r}; the splits are {', '.join(shapes.SPLITS)}")
    try:
        n = int(count) if count else default_size(split)
    except ValueError as err:
        raise DatasetError(f"world:{arg}: the size after the second ':' must be an integer") from err
    images, labels, pixels = _generate(split, n)
    return ImageSet(
        name=split,
        classnames=list(shapes.CLASSNAMES),
        ids=[f"world:{split}/{i}" for i in range(n)],
        labels=np.asarray(labels, dtype=np.int64),
        get_image=lambda i: Image.fromarray(images[i]),
        content=pixels,
    )


def world_image(example_id: str) -> Image.Image:
    """Regenerate the image behind an id `world:SPLIT/INDEX`."""
    try:
        split, index = example_id.removeprefix("world:").split("/")
        return Image.fromarray(shapes.render(split, int(index), WORLD_SEED)[0])
    except (ValueError, KeyError) as err:
        raise DatasetError(f"{example_id!r} is not a world example id (world:SPLIT/INDEX)") from err


register_opener("world", lambda example_id: example_id.startswith("world:"), world_image)
