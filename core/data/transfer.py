"""The paper's transfer datasets (Table 2), read from --data-root in the layout each publisher ships.

    spec                      layout under DATA_ROOT                                        classes
    cifar100[:test|train]     cifar-100-python/{train,test,meta}  (pickles, read safely)    100
    food101[:test|train]      food-101/images/<class>/<id>.jpg + food-101/meta/{test,train}.txt  101
    dtd[:test|train|val]      dtd/images/<class>/*.jpg + dtd/labels/<split>1.txt (partition 1)  47
    sun397[:test|train]       SUN397/<l>/<class>/*.jpg + SUN397/ClassName.txt + Testing_01.txt  397
    stanford-cars[:test|train] stanford_cars/{devkit/cars_meta.mat, cars_<split>/*.jpg, annotations}  196

These are the layouts torchvision's CIFAR100 / Food101 / DTD / SUN397 / StanfordCars read (DTD also as
dtd/dtd/ like torchvision's download). They are read here without torchvision's loaders: CIFAR-100
ships as pickles, which are only opened with the restricted unpickler of core.data.shifts (never plain
pickle.load), and the others are plain lists of file names. Stanford Cars' annotations are MATLAB
.mat files, read with scipy.io.loadmat as torchvision's StanfordCars does (its loader was not reused:
it yields decoded images, not the file list and labels an ImageSet keeps). The test labels are in
cars_test_annos_withlabels.mat (released after the devkit, whose cars_test_annos.mat has none);
torchvision keeps it next to devkit/, and devkit/ is accepted too. Images are used whole, not cropped
to the annotated boxes (as CLIP's evaluation and torchvision do).

Class names: the publishers' names with '_' as ' ' (CIFAR-100 'aquarium_fish' -> 'aquarium fish');
SUN397's '/b/bakery/shop' -> 'bakery shop'. Sizes are the published split sizes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from core.data.registry import DatasetError, ImageSet, register
from core.data.layout import files_set, locate, parse_split
from core.data.shifts import load_arrays, read_pickle_safely
from core.runs.identity import stat_digest


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
    split = parse_split("cifar100", arg, ("test", "train"))
    layout = "cifar-100-python/{train,test,meta} (the python version)"
    root = locate(data_root, "cifar100", ["cifar-100-python"], layout,
                   "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz")
    if missing := [f for f in (split, "meta") if not (root / f).is_file()]:
        raise DatasetError(f"cifar100: {root} lacks {missing}; expected {layout}")
    meta = read_pickle_safely(root / "meta")
    classnames = _names([n.decode() if isinstance(n, bytes) else n
                         for n in meta.get(b"fine_label_names", meta.get("fine_label_names", []))])
    images, labels = load_arrays(str(root / split))  # (N, 32, 32, 3), (N,) fine labels
    ids = [f"{(root / split).resolve()}#{i}" for i in range(len(labels))]
    return ImageSet(name="cifar100" if split == "test" else "cifar100-train", classnames=classnames, ids=ids,
                    labels=labels, get_image=lambda i: Image.fromarray(images[i]), content=stat_digest([str(root / split)]))


@register("food101", "Food-101: food101[:test|train], DATA_ROOT/food-101/images/<class>/ + meta/<split>.txt",
          sizes={"": 25_250, "test": 25_250, "train": 75_750}, layout="food-101/{images/<class>/*.jpg,meta/*.txt}")
def food101(arg: str, data_root: str | None = None) -> ImageSet:
    split = parse_split("food101", arg, ("test", "train"))
    layout = "food-101/images/<class>/<id>.jpg, food-101/meta/{classes,test,train}.txt"
    root = locate(data_root, "food101", ["food-101"], layout,
                   "https://data.vision.ee.ethz.ch/cvl/datasets_extra/food-101/ (food-101.tar.gz)")
    classes = [c.strip() for c in (root / "meta/classes.txt").read_text().splitlines() if c.strip()]
    lines = (root / f"meta/{split}.txt").read_text().splitlines()
    paths, labels = _listed(root / "images", lines, {c: i for i, c in enumerate(classes)}, "food101", ".jpg")
    return files_set("food101" if split == "test" else "food101-train", _names(classes), paths, labels)


@register("dtd", "Describable Textures: dtd[:test|train|val], DATA_ROOT/dtd/images/<class>/ + labels/<split>1.txt",
          sizes={"": 1_880, "test": 1_880, "train": 1_880, "val": 1_880}, layout="dtd/{images/<class>/*.jpg,labels/*1.txt}")
def dtd(arg: str, data_root: str | None = None) -> ImageSet:
    split = parse_split("dtd", arg, ("test", "train", "val"))
    layout = "dtd/images/<class>/<image>.jpg, dtd/labels/{train,val,test}1.txt (partition 1)"
    root = locate(data_root, "dtd", ["dtd/dtd", "dtd"], layout,
                   "https://www.robots.ox.ac.uk/~vgg/data/dtd/ (dtd-r1.0.1.tar.gz)")
    if (root / "dtd").is_dir() and not (root / "images").is_dir():
        root = root / "dtd"
    classes = sorted(d.name for d in (root / "images").iterdir() if d.is_dir())
    lines = (root / f"labels/{split}1.txt").read_text().splitlines()
    paths, labels = _listed(root / "images", lines, {c: i for i, c in enumerate(classes)}, "dtd")
    return files_set("dtd" if split == "test" else f"dtd-{split}", _names(classes), paths, labels)


@register("sun397", "SUN397: sun397[:test|train], DATA_ROOT/SUN397/ + its Testing_01.txt / Training_01.txt",
          sizes={"": 19_850, "test": 19_850, "train": 19_850}, layout="SUN397/<letter>/<class>/*.jpg, SUN397/ClassName.txt")
def sun397(arg: str, data_root: str | None = None) -> ImageSet:
    split = parse_split("sun397", arg, ("test", "train"))
    listing = {"test": "Testing_01.txt", "train": "Training_01.txt"}[split]
    layout = f"SUN397/<letter>/<class>/<image>.jpg, SUN397/ClassName.txt, SUN397/{listing} (from Partitions.zip)"
    root = locate(data_root, "sun397", ["SUN397"], layout,
                   "https://vision.princeton.edu/projects/2010/SUN/ (SUN397.tar.gz and Partitions.zip)")
    classes = [c.strip().lstrip("/") for c in (root / "ClassName.txt").read_text().splitlines() if c.strip()]
    part = next((p for p in (root / listing, root / "Partitions" / listing) if p.is_file()), root / listing)
    if not part.is_file():
        raise DatasetError(f"sun397: {part} does not exist; expected {layout}")
    paths, labels = _listed(root, part.read_text().splitlines(), {c: i for i, c in enumerate(classes)}, "sun397")
    names = [" ".join(c.split("/")[1:]).replace("_", " ") for c in classes]  # 'b/bakery/shop' -> 'bakery shop'
    return files_set("sun397" if split == "test" else "sun397-train", names, paths, labels)


CARS_SPLITS = {"train": ("devkit/cars_train_annos.mat", "cars_train"),
               "test": ("cars_test_annos_withlabels.mat", "cars_test")}  # torchvision.datasets.StanfordCars


def _loadmat(path: Path, name: str) -> dict:
    try:
        from scipy.io import loadmat
    except ImportError:
        raise DatasetError(f"{name}: reading {path.name} needs scipy (pip install scipy)") from None
    try:
        return loadmat(path, squeeze_me=True)
    except Exception as err:  # noqa: BLE001  (scipy's reader fails on a damaged file in many ways: MatReadError,
        # IndexError, ValueError...; for the user's own file every failure is a bad input)
        raise DatasetError(f"{name}: {path} is not a readable MATLAB file ({err}); replace it with the "
                           "release's copy (car_devkit.tgz, or torchvision's StanfordCars download)") from None


@register("stanford-cars", "Stanford Cars: stanford-cars[:test|train], DATA_ROOT/stanford_cars/ (torchvision's layout)",
          sizes={"": 8_041, "test": 8_041, "train": 8_144},  # Krause et al., 2013
          layout="stanford_cars/{devkit/cars_{meta,train_annos}.mat,cars_test_annos_withlabels.mat,cars_<split>/}")
def stanford_cars(arg: str, data_root: str | None = None) -> ImageSet:
    split = parse_split("stanford-cars", arg, ("test", "train"))
    annos, images = CARS_SPLITS[split]
    layout = ("stanford_cars/devkit/{cars_meta,cars_train_annos}.mat, stanford_cars/cars_test_annos_withlabels.mat, "
              "stanford_cars/cars_{train,test}/<image>.jpg")
    root = locate(data_root, "stanford-cars", ["stanford_cars"], layout,
                   "https://ai.stanford.edu/~jkrause/cars/car_dataset.html (offline; mirrors keep the devkit, "
                   "the images and cars_test_annos_withlabels.mat)")
    found = [p for p in (root / annos, root / "devkit" / Path(annos).name) if p.is_file()]
    if not found or not (root / "devkit/cars_meta.mat").is_file():
        lacks = annos if not found else "devkit/cars_meta.mat"
        raise DatasetError(f"stanford-cars: {root} lacks {lacks}; expected {layout}")
    classes = [str(c) for c in np.atleast_1d(_loadmat(root / "devkit/cars_meta.mat", "stanford-cars")["class_names"])]
    rows = np.atleast_1d(_loadmat(found[0], "stanford-cars")["annotations"])
    if "class" not in (rows.dtype.names or ()):
        raise DatasetError(f"stanford-cars: {found[0]} has no class labels (the devkit's cars_test_annos.mat has none: "
                           "use cars_test_annos_withlabels.mat)")
    paths = [str((root / images / str(r["fname"])).resolve()) for r in rows]
    labels = np.asarray([int(r["class"]) - 1 for r in rows], dtype=np.int64)  # the .mat counts classes from 1
    if missing := [p for p in paths[:1000] if not Path(p).is_file()]:
        raise DatasetError(f"stanford-cars: {len(missing)} annotated images are missing under {root / images}, "
                           f"e.g. {missing[0]}")
    return files_set("cars" if split == "test" else "cars-train", classes, paths, labels)  # "cars": Table 2's column
