"""The paper's datasets, read from a local --data-root in the layout each publisher ships.

Specs: imagenet[:val|train], imagenetv2[:variant], imagenet-r, imagenet-a, imagenet-sketch, objectnet,
cifar10[:test|train], cifar10.1[:v6|v4], cifar10.2[:test|train]; the layout under DATA_ROOT and where
to get each: docs/reproduce.md (and `python -m core datasets`). Any other class-per-folder
pair (train / eval) is `folder:PATH` (core.data). ImageNet-family sets are labelled with ImageNet's
1000 classes (open_clip's IMAGENET_CLASSNAMES, in wnid order; see core/data/metadata/). ImageNet-R/A
carry `logit_indices`, so a 1000-class head's logits are projected onto their 200 classes before
argmax and loss; ObjectNet (113 classes, mapped to 125 of the 1000) carries a (113, 3) index array: each
of its classes scores the max over the ImageNet classes mapped to it (the paper's code does the same).

Each registration carries the dataset's published size per split: get_dataset refuses a copy of
another size unless allow_partial (`--allow-partial`). Nothing is downloaded implicitly: a missing
dataset raises an error naming the expected layout. `download(spec, data_root)` (the CLI's
--download) fetches CIFAR-10's official archive, the one set whose licence lets a tool fetch it.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import tarfile
import urllib.request
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from core.data.registry import DatasetError, ImageSet, parse_spec, register, register_opener
from core.runs.identity import stat_digest
from core.data.layout import files_set, folder_images, locate, parse_split

METADATA = Path(__file__).parent / "metadata"
# ObjectNet images carry a thin red border; the paper's code (mlfoundations/wise-ft,
# src/datasets/objectnet.py, `crop`) removes 2 pixels from each side before preprocessing.
OBJECTNET_BORDER = 2
CIFAR10_CLASSNAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
CIFAR10_MD5 = "c32a1d4ab5d03f1284b67883e8d87530"
CIFAR10_BIN, CIFAR10_PY = "cifar-10-batches-bin", "cifar-10-batches-py"
CIFAR10_FILES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}


# ----------------------------------------------------------------------------- class metadata


@lru_cache(maxsize=None)
def _lines(filename: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in (METADATA / filename).read_text().splitlines() if line.strip())


def imagenet_wnids() -> list[str]:
    """The 1000 ImageNet wnids in the standard (sorted) class order."""
    return list(_lines("imagenet_wnids.txt"))


def imagenet_classnames() -> list[str]:
    """open_clip's cleaned ImageNet class names (the ones the paper's zero-shot heads use)."""
    import open_clip

    return list(open_clip.IMAGENET_CLASSNAMES)


def subset_wnids(name: str) -> list[str]:
    """The 200 wnids of 'imagenet-r' or 'imagenet-a', in their label order."""
    return list(_lines(f"{name.replace('-', '_')}_wnids.txt"))


def imagenet_indices(wnids: list[str]) -> np.ndarray:
    """ImageNet class index of each wnid: the logits a 200-class subset keeps, (K,)."""
    position = {w: i for i, w in enumerate(imagenet_wnids())}
    return np.asarray([position[w] for w in wnids], dtype=np.int64)


@lru_cache(maxsize=None)
def _objectnet() -> tuple[dict, ...]:
    return tuple(json.loads((METADATA / "objectnet_imagenet.json").read_text()))


def objectnet_classes() -> list[dict]:
    """ObjectNet's 113 ImageNet-overlapping classes in label order (sorted by folder): dicts with
    folder, name, imagenet_indices."""
    return [dict(c) for c in _objectnet()]


def objectnet_logit_groups() -> np.ndarray:
    """(113, G) ImageNet indices per ObjectNet class, padded by repeating the first: the max over a
    row is the class's logit."""
    groups = [c["imagenet_indices"] for c in _objectnet()]
    width = max(map(len, groups))
    return np.asarray([g + [g[0]] * (width - len(g)) for g in groups], dtype=np.int64)


# ----------------------------------------------------------------------------- locating data










# ----------------------------------------------------------------------------- ImageNet family

IMAGENET_SOURCE = "https://image-net.org (ILSVRC-2012), with the validation images sorted into wnid folders"


@register("imagenet", "ImageNet ILSVRC-2012: imagenet[:val|train], DATA_ROOT/imagenet/<split>/<wnid>/*.JPEG",
          sizes={"": 50_000, "val": 50_000, "train": 1_281_167}, layout="imagenet/{val,train}/<wnid>/*.JPEG")
def imagenet(arg: str, data_root: str | None = None) -> ImageSet:
    split = parse_split("imagenet", arg, ("val", "train"))
    layout = f"imagenet/{split}/<wnid>/<image>.JPEG (1000 folders n01440764 ...)"
    root = locate(data_root, "imagenet", [f"imagenet/{split}"], layout, IMAGENET_SOURCE)
    wnids = imagenet_wnids()
    paths, labels = folder_images(root, {w: i for i, w in enumerate(wnids)}, "imagenet", layout)
    return files_set("imagenet" if split == "val" else "imagenet-train", imagenet_classnames(), paths, labels)


@register("imagenetv2", "ImageNetV2: imagenetv2[:matched-frequency|threshold0.7|top-images], folders 0..999",
          sizes={v: 10_000 for v in ("", "matched-frequency", "threshold0.7", "top-images")},
          layout="imagenetv2-<variant>-format-val/<0..999>/*.jpeg")
def imagenetv2(arg: str, data_root: str | None = None) -> ImageSet:
    variant = arg or "matched-frequency"
    folder = f"imagenetv2-{variant}-format-val"
    layout = f"{folder}/<class index 0..999>/<image>.jpeg"
    source = f"https://github.com/modestyachts/ImageNetV2 (imagenetv2-{variant}.tar.gz)"
    root = locate(data_root, "imagenetv2", [folder], layout, source)
    paths, labels = folder_images(root, {str(i): i for i in range(1000)}, "imagenetv2", layout)
    return files_set("imagenetv2", imagenet_classnames(), paths, labels)


def _imagenet_subset(name: str, data_root: str | None, source: str) -> ImageSet:
    """ImageNet-R or -A: 200 wnid folders; labels index the 200, logit_indices the 1000."""
    wnids = subset_wnids(name)
    layout = f"{name}/<wnid>/<image>.jpg (200 folders)"
    root = locate(data_root, name, [name], layout, source)
    paths, labels = folder_images(root, {w: i for i, w in enumerate(wnids)}, name, layout)
    indices = imagenet_indices(wnids)
    names = imagenet_classnames()
    return files_set(name, [names[i] for i in indices], paths, labels, logit_indices=indices,
                      extra={"logit_projection": "200-class subset of ImageNet's 1000"})


@register("imagenet-r", "ImageNet-R (renditions): DATA_ROOT/imagenet-r/<wnid>/, 200 ImageNet classes",
          sizes={"": 30_000}, layout="imagenet-r/<wnid>/*.jpg")
def imagenet_r(arg: str, data_root: str | None = None) -> ImageSet:
    return _imagenet_subset("imagenet-r", data_root, "https://github.com/hendrycks/imagenet-r (imagenet-r.tar)")


@register("imagenet-a", "ImageNet-A (natural adversarial): DATA_ROOT/imagenet-a/<wnid>/, 200 ImageNet classes",
          sizes={"": 7_500}, layout="imagenet-a/<wnid>/*.jpg")
def imagenet_a(arg: str, data_root: str | None = None) -> ImageSet:
    return _imagenet_subset("imagenet-a", data_root,
                            "https://github.com/hendrycks/natural-adv-examples (imagenet-a.tar)")


@register("imagenet-sketch", "ImageNet-Sketch: DATA_ROOT/sketch/<wnid>/*.JPEG, 1000 classes",
          sizes={"": 50_889}, layout="sketch/<wnid>/*.JPEG")
def imagenet_sketch(arg: str, data_root: str | None = None) -> ImageSet:
    layout = "sketch/<wnid>/<image>.JPEG (1000 folders; what ImageNet-Sketch.zip unpacks to)"
    root = locate(data_root, "imagenet-sketch", ["sketch", "imagenet-sketch/sketch"], layout,
                   "https://github.com/HaohanWang/ImageNet-Sketch (Google Drive or Kaggle)")
    wnids = imagenet_wnids()
    paths, labels = folder_images(root, {w: i for i, w in enumerate(wnids)}, "imagenet-sketch", layout)
    return files_set("imagenet-sketch", imagenet_classnames(), paths, labels)


@register("objectnet", "ObjectNet 1.0: DATA_ROOT/objectnet-1.0/images/<folder>/, its 113 ImageNet classes",
          sizes={"": 18_574}, layout="objectnet-1.0/images/<folder>/*.png")
def objectnet(arg: str, data_root: str | None = None) -> ImageSet:
    layout = "objectnet-1.0/images/<class folder, e.g. alarm_clock>/<image>.png"
    root = locate(data_root, "objectnet", ["objectnet-1.0/images"], layout,
                   "https://objectnet.dev (objectnet-1.0.zip; its licence forbids training on it)")
    classes = objectnet_classes()
    paths, labels = folder_images(root, {c["folder"]: i for i, c in enumerate(classes)}, "objectnet", layout)
    return files_set("objectnet", [c["name"].lower() for c in classes], paths, labels, crop=OBJECTNET_BORDER,
                      logit_indices=objectnet_logit_groups(),
                      extra={"logit_projection": "max over the ImageNet classes mapped to each ObjectNet class"})


# ----------------------------------------------------------------------------- CIFAR arrays


class _ArraysOnly(pickle.Unpickler):
    """Unpickles numpy arrays and plain builtins (dict, list, bytes, ...) and nothing else, so a
    tampered CIFAR python batch cannot run code."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
               ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
               ("numpy", "ndarray"), ("numpy", "dtype"),
               ("_codecs", "encode")}  # how protocol-2 pickles written by Python 3 spell bytes

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise DatasetError(f"refusing to unpickle {module}.{name}: a CIFAR batch holds only arrays and lists")
        try:  # numpy 2 renamed numpy.core to numpy._core; old pickles name the former
            return super().find_class(module.replace("numpy.core.", "numpy._core."), name)
        except ModuleNotFoundError:
            return super().find_class(module, name)


def read_cifar10_binary(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """A CIFAR-10 binary batch: 3073-byte records (label byte, then R, G, B planes of 32x32).
    Returns images (N, 32, 32, 3) uint8 and labels (N,) int64."""
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0 or raw.size % 3073:
        raise DatasetError(f"{path} is not a CIFAR-10 binary batch (size {raw.size} is not a multiple of 3073)")
    records = raw.reshape(-1, 3073)
    return records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), records[:, 0].astype(np.int64)


def read_pickle_safely(path: Path) -> dict:
    """A CIFAR python file (a pickled dict of arrays, lists and bytes), read with the restricted
    unpickler: a tampered file cannot run code."""
    with open(path, "rb") as f:
        return _ArraysOnly(f, encoding="bytes").load()


def read_cifar10_python(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """A CIFAR-10 python batch, or a CIFAR-100 python split (its `fine_labels`), read safely."""
    batch = read_pickle_safely(path)
    label_key = "labels" if b"labels" in batch or "labels" in batch else "fine_labels"
    data, labels = (batch.get(k.encode(), batch.get(k)) for k in ("data", label_key))
    images = np.asarray(data, dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return images, np.asarray(labels, dtype=np.int64)


@lru_cache(maxsize=8)
def load_arrays(path: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 32, 32, 3) and labels of one array file: a CIFAR-10 batch (binary or python),
    CIFAR-10.1's *_data.npy (labels from *_labels.npy) or CIFAR-10.2's .npz. No pickles allowed
    except the restricted CIFAR python batches."""
    p = Path(path)
    if p.suffix == ".bin":
        return read_cifar10_binary(p)
    if p.suffix == ".npy":
        return np.load(p, allow_pickle=False), np.load(str(p).replace("_data.npy", "_labels.npy")).astype(np.int64)
    if p.suffix == ".npz":
        with np.load(p, allow_pickle=False) as z:
            return z["images"], z["labels"].astype(np.int64)
    return read_cifar10_python(p)


def open_array_example(example_id: str) -> Image.Image:
    """The image behind an array-set id `FILE#INDEX` (CIFAR sets store ids of this form)."""
    path, _, index = example_id.rpartition("#")
    return Image.fromarray(load_arrays(path)[0][int(index)])


def _is_array_id(example_id: str) -> bool:
    path, _, index = example_id.rpartition("#")
    return bool(path) and index.isdigit()


register_opener("array", _is_array_id, open_array_example)


def _array_set(name: str, classnames: list[str], files: list[Path]) -> ImageSet:
    parts = [load_arrays(str(f)) for f in files]
    images = np.concatenate([p[0] for p in parts])  # (N, 32, 32, 3)
    labels = np.concatenate([p[1] for p in parts])
    ids = [f"{f.resolve()}#{i}" for f, p in zip(files, parts) for i in range(len(p[1]))]
    return ImageSet(name=name, classnames=list(classnames), ids=ids, labels=labels,
                    get_image=lambda i: Image.fromarray(images[i]), content=stat_digest([str(f) for f in files]))


@register("cifar10", "CIFAR-10: cifar10[:test|train], DATA_ROOT/cifar-10-batches-bin/ (or -py/); --download",
          sizes={"": 10_000, "test": 10_000, "train": 50_000}, layout="cifar-10-batches-bin/*.bin (or cifar-10-batches-py/)")
def cifar10(arg: str, data_root: str | None = None) -> ImageSet:
    split = parse_split("cifar10", arg, ("test", "train"))
    layout = f"{CIFAR10_BIN}/{{data_batch_1..5,test_batch}}.bin (the binary version)"
    root = locate(data_root, "cifar10", [CIFAR10_BIN, CIFAR10_PY], layout,
                   f"{CIFAR10_URL}, or pass --download to fetch it")
    binary = root.name == CIFAR10_BIN
    files = [root / (f + ".bin" if binary else f) for f in CIFAR10_FILES[split]]
    if missing := [f.name for f in files if not f.is_file()]:
        raise DatasetError(f"cifar10: {root} lacks {missing}; expected {layout}")
    meta = root / "batches.meta.txt"
    names = [n for n in meta.read_text().split() if n] if binary and meta.is_file() else CIFAR10_CLASSNAMES
    return _array_set("cifar10" if split == "test" else "cifar10-train", list(names), files)


@register("cifar10.1", "CIFAR-10.1: cifar10.1[:v6|v4], DATA_ROOT/CIFAR-10.1/cifar10.1_v6_{data,labels}.npy",
          sizes={"": 2_000, "v6": 2_000, "v4": 2_021}, layout="CIFAR-10.1/cifar10.1_<version>_{data,labels}.npy")
def cifar10_1(arg: str, data_root: str | None = None) -> ImageSet:
    version = arg or "v6"
    layout = f"CIFAR-10.1/cifar10.1_{version}_data.npy and cifar10.1_{version}_labels.npy"
    path = locate(data_root, "cifar10.1", [f"CIFAR-10.1/cifar10.1_{version}_data.npy"], layout,
                   "https://github.com/modestyachts/CIFAR-10.1 (datasets/)")
    return _array_set("cifar10.1", list(CIFAR10_CLASSNAMES), [path])


@register("cifar10.2", "CIFAR-10.2: cifar10.2[:test|train], DATA_ROOT/CIFAR-10.2/cifar102_<split>.npz",
          sizes={"": 2_000, "test": 2_000, "train": 10_000}, layout="CIFAR-10.2/cifar102_{test,train}.npz")
def cifar10_2(arg: str, data_root: str | None = None) -> ImageSet:
    split = parse_split("cifar10.2", arg, ("test", "train"))
    layout = f"CIFAR-10.2/cifar102_{split}.npz (keys images, labels)"
    path = locate(data_root, "cifar10.2", [f"CIFAR-10.2/cifar102_{split}.npz"], layout,
                   "https://github.com/modestyachts/cifar-10.2")
    return _array_set("cifar10.2" if split == "test" else "cifar10.2-train", list(CIFAR10_CLASSNAMES), [path])


# ----------------------------------------------------------------------------- explicit download


def download(spec: str, data_root: str | None) -> bool:
    """Fetch a downloadable dataset (CIFAR-10) into data_root unless it is already there.

    Returns True when something was downloaded; datasets that cannot be downloaded are left alone.
    """
    _, kind, _ = parse_spec(spec)
    if kind != "cifar10":
        return False
    if not data_root:
        raise DatasetError("--download needs --data-root (where to put the dataset)")
    root = Path(data_root).expanduser()
    if (root / CIFAR10_BIN).is_dir():
        return False
    archive = root / "cifar-10-binary.tar.gz"
    _fetch(CIFAR10_URL, archive, CIFAR10_MD5)
    members = {f"{CIFAR10_BIN}/{f}.bin" for files in CIFAR10_FILES.values() for f in files}
    _extract(archive, root, members | {f"{CIFAR10_BIN}/batches.meta.txt"})
    archive.unlink()
    return True


def _fetch(url: str, dest: Path, md5: str) -> None:
    """Stream url to dest (via a temporary name), checking its MD5."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp, digest = dest.with_name(dest.name + ".part"), hashlib.md5()
    print(f"downloading {url} -> {dest}")
    with urllib.request.urlopen(url, timeout=60) as response, open(tmp, "wb") as f:
        for block in iter(lambda: response.read(1 << 20), b""):
            digest.update(block)
            f.write(block)
    if digest.hexdigest() != md5:
        tmp.unlink()
        raise DatasetError(f"{url}: MD5 {digest.hexdigest()} != expected {md5}; the download is corrupt")
    tmp.replace(dest)


def _extract(archive: Path, root: Path, members: set[str]) -> None:
    """Extract exactly the named regular files of a tar archive (no other paths are written)."""
    with tarfile.open(archive) as tar:
        found = {m.name: m for m in tar.getmembers() if m.isfile() and m.name in members}
        if missing := sorted(members - set(found)):
            raise DatasetError(f"{archive} lacks {missing}")
        for name, member in found.items():
            out = root / name
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(tar.extractfile(member).read())
