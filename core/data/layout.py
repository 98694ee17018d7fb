"""Layout helpers shared by the dataset modules: find a dataset under --data-root, build a file-backed ImageSet, check a split name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from core.data.registry import IMAGE_EXTENSIONS, DatasetError, ImageSet, open_image
from core.runs.identity import stat_digest


def locate(data_root: str | None, name: str, candidates: list[str], layout: str, source: str) -> Path:
    """The first candidate path under data_root that exists, or an error naming layout and source."""
    hint = f"Expected layout: DATA_ROOT/{layout}. Obtain it from {source}."
    if not data_root:
        raise DatasetError(f"dataset {name!r} is read from --data-root, which was not given. {hint}")
    for rel in candidates:
        path = Path(data_root).expanduser() / rel
        if path.exists():
            return path
    raise DatasetError(f"dataset {name!r} not found: {Path(data_root) / candidates[0]} does not exist. {hint}")


def folder_images(root: Path, label_of: dict[str, int], name: str, layout: str) -> tuple[list[str], np.ndarray]:
    """Image paths and labels of root/<folder>/<image> for the folders named in label_of."""
    paths, labels, root = [], [], root.resolve()  # ids are absolute paths (one resolve, not one per file)
    for folder in sorted(d for d in root.iterdir() if d.is_dir() and d.name in label_of):
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
        paths += [str(p) for p in files]
        labels += [label_of[folder.name]] * len(files)
    if not paths:
        raise DatasetError(f"{name}: {root} holds no images in the expected class folders ({layout})")
    return paths, np.asarray(labels, dtype=np.int64)


def files_set(name: str, classnames: list[str], paths: list[str], labels: np.ndarray,
               crop: int = 0, **kwargs) -> ImageSet:
    def get_image(i: int) -> Image.Image:
        img = open_image(paths[i])
        return img.crop((crop, crop, img.width - crop, img.height - crop)) if crop else img

    return ImageSet(name=name, classnames=classnames, ids=paths, labels=labels, get_image=get_image,
                    content=stat_digest(paths), **kwargs)


def parse_split(name: str, arg: str, allowed: tuple[str, ...]) -> str:
    """The split named after the colon (default: the first allowed one), or an error naming the choices."""
    split = arg or allowed[0]
    if split not in allowed:
        raise DatasetError(f"{name}:{arg}: the split must be {' or '.join(allowed)}")
    return split
