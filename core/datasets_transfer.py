"""The paper's transfer datasets (Table 2), read from --data-root in the layout each publisher ships.

    spec                      layout under DATA_ROOT                                        classes
    cifar100[:test|train]     cifar-100-python/{train,test,meta}  (pickles, read safely)    100
    food101[:test|train]      food-101/images/<class>/<id>.jpg + food-101/meta/{test,train}.txt  101
    dtd[:test|train|val]      dtd/images/<class>/*.jpg + dtd/labels/<split>1.txt (partition 1)  47
    sun397[:test|train]       SUN397/<l>/<class>/*.jpg + SUN397/ClassName.txt + Testing_01.txt  397

These are the layouts torchvision's CIFAR100 / Food101 / DTD / SUN397 read (DTD also as dtd/dtd/ like
torchvision's download). They are read here without torchvision's loaders: CIFAR-100 ships as
pickles, which are only opened with the restricted unpickler of core.datasets (never plain
pickle.load), and the others are plain lists of file names. Stanford Cars is not provided: its
annotations are MATLAB .mat files, which need scipy (not in the pinned stack); use
`cars=folder:PATH` with one folder per class instead, or add scipy and a reader.

Class names: the publishers' names with '_' as ' ' (CIFAR-100 'aquarium_fish' -> 'aquarium fish');
SUN397's '/b/bakery/shop' -> 'bakery shop'. Sizes are the published split sizes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from .data import DatasetError, ImageSet, register
from .datasets import _files_set, _locate, _split, load_arrays, read_pickle_safely


def _names(lines: list[str]) -> list[str]:
    return [n.strip().replace("_", " ") for n in lines if n.strip()]


def _listed(root: Path, lines: list[str], label_of: dict[str, int], name: str, suffix: str = "") -> tuple[list[str], np.ndarray]:
    """Paths and labels of the files a split list names (`<class>/<file>` per line)."""
    entries = [line.strip().lstrip("/") for line in lines if line.strip()]
    paths = [str((root / (e + suffix)).resolve()) for e in entries]
    try:
        labels = [label_of[e.rsplit("/", 1)[0]] for e in entries]
    except KeyError as err:
        raise DatasetError(f"{name}: the split list names class {err.args[0]!r}, which is not among its classes") from None
    if missing := [p for p in paths[:1000] if not Path(p).is_file()]:
        raise DatasetError(f"{name}: {len(missing)} listed images are missing under {root}, e.g. {missing[0]}")
    return paths, np.asarray(labels, dtype=np.int64)


@register("cifar100", "CIFAR-100: cifar100[:test|train], DATA_ROOT/cifar-100-python/ (read without unpickling code)",
          sizes={"": 10_000, "test": 10_000, "train": 50_000}, layout="cifar-100-python/{train,test,meta}")
def cifar100(arg: str, data_root: str | None = None) -> ImageSet:
    split = _split("cifar100", arg, ("test", "train"))
    layout = "cifar-100-python/{train,test,meta} (the python version)"
    root = _locate(data_root, "cifar100", ["cifar-100-python"], layout,
                   "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz")
    if missing := [f for f in (split, "meta") if not (root / f).is_file()]:
        raise DatasetError(f"cifar100: {root} lacks {missing}; expected {layout}")
    meta = read_pickle_safely(root / "meta")
    classnames = _names([n.decode() if isinstance(n, bytes) else n
                         for n in meta.get(b"fine_label_names", meta.get("fine_label_names", []))])
    images, labels = load_arrays(str(root / split))  # (N, 32, 32, 3), (N,) fine labels
    ids = [f"{(root / split).resolve()}#{i}" for i in range(len(labels))]
    return ImageSet(name="cifar100" if split == "test" else "cifar100-train", classnames=classnames, ids=ids,
                    labels=labels, get_image=lambda i: Image.fromarray(images[i]))


@register("food101", "Food-101: food101[:test|train], DATA_ROOT/food-101/images/<class>/ + meta/<split>.txt",
          sizes={"": 25_250, "test": 25_250, "train": 75_750}, layout="food-101/{images/<class>/*.jpg,meta/*.txt}")
def food101(arg: str, data_root: str | None = None) -> ImageSet:
    split = _split("food101", arg, ("test", "train"))
    layout = "food-101/images/<class>/<id>.jpg, food-101/meta/{classes,test,train}.txt"
    root = _locate(data_root, "food101", ["food-101"], layout,
                   "https://data.vision.ee.ethz.ch/cvl/datasets_extra/food-101/ (food-101.tar.gz)")
    classes = [c.strip() for c in (root / "meta/classes.txt").read_text().splitlines() if c.strip()]
    lines = (root / f"meta/{split}.txt").read_text().splitlines()
    paths, labels = _listed(root / "images", lines, {c: i for i, c in enumerate(classes)}, "food101", ".jpg")
    return _files_set("food101" if split == "test" else "food101-train", _names(classes), paths, labels)


@register("dtd", "Describable Textures: dtd[:test|train|val], DATA_ROOT/dtd/images/<class>/ + labels/<split>1.txt",
          sizes={"": 1_880, "test": 1_880, "train": 1_880, "val": 1_880}, layout="dtd/{images/<class>/*.jpg,labels/*1.txt}")
def dtd(arg: str, data_root: str | None = None) -> ImageSet:
    split = _split("dtd", arg, ("test", "train", "val"))
    layout = "dtd/images/<class>/<image>.jpg, dtd/labels/{train,val,test}1.txt (partition 1)"
    root = _locate(data_root, "dtd", ["dtd/dtd", "dtd"], layout,
                   "https://www.robots.ox.ac.uk/~vgg/data/dtd/ (dtd-r1.0.1.tar.gz)")
    if (root / "dtd").is_dir() and not (root / "images").is_dir():
        root = root / "dtd"
    classes = sorted(d.name for d in (root / "images").iterdir() if d.is_dir())
    lines = (root / f"labels/{split}1.txt").read_text().splitlines()
    paths, labels = _listed(root / "images", lines, {c: i for i, c in enumerate(classes)}, "dtd")
    return _files_set("dtd" if split == "test" else f"dtd-{split}", _names(classes), paths, labels)


@register("sun397", "SUN397: sun397[:test|train], DATA_ROOT/SUN397/ + its Testing_01.txt / Training_01.txt",
          sizes={"": 19_850, "test": 19_850, "train": 19_850}, layout="SUN397/<letter>/<class>/*.jpg, SUN397/ClassName.txt")
def sun397(arg: str, data_root: str | None = None) -> ImageSet:
    split = _split("sun397", arg, ("test", "train"))
    listing = {"test": "Testing_01.txt", "train": "Training_01.txt"}[split]
    layout = f"SUN397/<letter>/<class>/<image>.jpg, SUN397/ClassName.txt, SUN397/{listing} (from Partitions.zip)"
    root = _locate(data_root, "sun397", ["SUN397"], layout,
                   "https://vision.princeton.edu/projects/2010/SUN/ (SUN397.tar.gz and Partitions.zip)")
    classes = [c.strip().lstrip("/") for c in (root / "ClassName.txt").read_text().splitlines() if c.strip()]
    part = next((p for p in (root / listing, root / "Partitions" / listing) if p.is_file()), root / listing)
    if not part.is_file():
        raise DatasetError(f"sun397: {part} does not exist; expected {layout}")
    paths, labels = _listed(root, part.read_text().splitlines(), {c: i for i, c in enumerate(classes)}, "sun397")
    names = [" ".join(c.split("/")[1:]).replace("_", " ") for c in classes]  # 'b/bakery/shop' -> 'bakery shop'
    return _files_set("sun397" if split == "test" else "sun397-train", names, paths, labels)
