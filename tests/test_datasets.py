"""Every registered dataset: a tiny fake copy in its publisher's layout (real folder and file names,
real class-id lists) loads with the right labels; the ImageNet-R/A projection and the ObjectNet
mapping pick the right logits, also through a real sweep; CIFAR arrays decode; nothing downloads."""

import hashlib
import io
import os
import pickle
import tarfile
import urllib.request

import numpy as np
import open_clip
import pytest
import torch
from PIL import Image

from conftest import CLASSES, make_image_folder
from core.cli import main
from core.data import shifts as ds
from core.data.registry import DatasetError, get_dataset, list_datasets
from test_datasets_transfer_wilds_video import TALK_FAKES

NAMES = list(open_clip.IMAGENET_CLASSNAMES)
WNIDS = ds.imagenet_wnids()
# The paper's code, mlfoundations/wise-ft: CLASS_SUBLIST in src/datasets/imagenet_r.py and imagenet_a.py.
IMAGENET_R_SUBLIST = [
    1,
    2,
    4,
    6,
    8,
    9,
    11,
    13,
    22,
    23,
    26,
    29,
    31,
    39,
    47,
    63,
    71,
    76,
    79,
    84,
    90,
    94,
    96,
    97,
    99,
    100,
    105,
    107,
    113,
    122,
    125,
    130,
    132,
    144,
    145,
    147,
    148,
    150,
    151,
    155,
    160,
    161,
    162,
    163,
    171,
    172,
    178,
    187,
    195,
    199,
    203,
    207,
    208,
    219,
    231,
    232,
    234,
    235,
    242,
    245,
    247,
    250,
    251,
    254,
    259,
    260,
    263,
    265,
    267,
    269,
    276,
    277,
    281,
    288,
    289,
    291,
    292,
    293,
    296,
    299,
    301,
    308,
    309,
    310,
    311,
    314,
    315,
    319,
    323,
    327,
    330,
    334,
    335,
    337,
    338,
    340,
    341,
    344,
    347,
    353,
    355,
    361,
    362,
    365,
    366,
    367,
    368,
    372,
    388,
    390,
    393,
    397,
    401,
    407,
    413,
    414,
    425,
    428,
    430,
    435,
    437,
    441,
    447,
    448,
    457,
    462,
    463,
    469,
    470,
    471,
    472,
    476,
    483,
    487,
    515,
    546,
    555,
    558,
    570,
    579,
    583,
    587,
    593,
    594,
    596,
    609,
    613,
    617,
    621,
    629,
    637,
    657,
    658,
    701,
    717,
    724,
    763,
    768,
    774,
    776,
    779,
    780,
    787,
    805,
    812,
    815,
    820,
    824,
    833,
    847,
    852,
    866,
    875,
    883,
    889,
    895,
    907,
    928,
    931,
    932,
    933,
    934,
    936,
    937,
    943,
    945,
    947,
    948,
    949,
    951,
    953,
    954,
    957,
    963,
    965,
    967,
    980,
    981,
    983,
    988,
]
IMAGENET_A_SUBLIST = [
    6,
    11,
    13,
    15,
    17,
    22,
    23,
    27,
    30,
    37,
    39,
    42,
    47,
    50,
    57,
    70,
    71,
    76,
    79,
    89,
    90,
    94,
    96,
    97,
    99,
    105,
    107,
    108,
    110,
    113,
    124,
    125,
    130,
    132,
    143,
    144,
    150,
    151,
    207,
    234,
    235,
    254,
    277,
    283,
    287,
    291,
    295,
    298,
    301,
    306,
    307,
    308,
    309,
    310,
    311,
    313,
    314,
    315,
    317,
    319,
    323,
    324,
    326,
    327,
    330,
    334,
    335,
    336,
    347,
    361,
    363,
    372,
    378,
    386,
    397,
    400,
    401,
    402,
    404,
    407,
    411,
    416,
    417,
    420,
    425,
    428,
    430,
    437,
    438,
    445,
    456,
    457,
    461,
    462,
    470,
    472,
    483,
    486,
    488,
    492,
    496,
    514,
    516,
    528,
    530,
    539,
    542,
    543,
    549,
    552,
    557,
    561,
    562,
    569,
    572,
    573,
    575,
    579,
    589,
    606,
    607,
    609,
    614,
    626,
    627,
    640,
    641,
    642,
    643,
    658,
    668,
    677,
    682,
    684,
    687,
    701,
    704,
    719,
    736,
    746,
    749,
    752,
    758,
    763,
    765,
    768,
    773,
    774,
    776,
    779,
    780,
    786,
    792,
    797,
    802,
    803,
    804,
    813,
    815,
    820,
    823,
    831,
    833,
    835,
    839,
    845,
    847,
    850,
    859,
    862,
    870,
    879,
    880,
    888,
    890,
    897,
    900,
    907,
    913,
    924,
    932,
    933,
    934,
    937,
    943,
    945,
    947,
    951,
    954,
    956,
    957,
    959,
    971,
    972,
    980,
    981,
    984,
    986,
    987,
    988,
]
SUBLISTS = {"imagenet-r": IMAGENET_R_SUBLIST, "imagenet-a": IMAGENET_A_SUBLIST}


def image(path, color=(40, 90, 200), size=(40, 36), border=None):
    """A small image file; `border` paints a 1-pixel frame (ObjectNet's red border)."""
    arr = np.zeros((size[1], size[0], 3), np.uint8) + np.asarray(color, np.uint8)
    if border:
        arr[0, :] = arr[-1, :] = arr[:, 0] = arr[:, -1] = border
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def folders(root, names, files):
    """Two images per class folder, named like the publisher's files; returns the folder names in order."""
    for n in names:
        for k in range(2):
            image(root / n / files.format(n=n, k=k))
    return names


def cifar_arrays(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, n).astype(np.int64)


def write_cifar_bin(folder, name, images, labels):
    planes = images.transpose(0, 3, 1, 2).reshape(len(images), 3072)  # R, G, B planes, row-major
    folder.mkdir(parents=True, exist_ok=True)
    np.concatenate([labels[:, None].astype(np.uint8), planes], axis=1).tofile(folder / name)


# ----------------------------------------------------------------------------- one fake per dataset
# Each returns (spec, expected labels or None, expected classnames).


def fake_imagenet(root):
    picks = [0, 409, 999]
    folders(root / "imagenet/val", [WNIDS[i] for i in picks], "ILSVRC2012_val_0000000{k}.JPEG")
    return "imagenet", [0, 0, 409, 409, 999, 999], NAMES


def fake_imagenetv2(root):
    folders(root / "imagenetv2-matched-frequency-format-val", ["0", "409", "999"], "{k}7e8ee5c3c4e5bb1e5b.jpeg")
    return "imagenetv2", [0, 0, 409, 409, 999, 999], NAMES  # folders sort as strings: 0, 409, 999


def fake_subset(name):
    def make(root):
        wnids = ds.subset_wnids(name)
        folders(root / name, [wnids[0], wnids[57], wnids[199]], "art_{k}.jpg")
        return name, [0, 0, 57, 57, 199, 199], [NAMES[i] for i in SUBLISTS[name]]

    return make


def fake_sketch(root):
    folders(root / "sketch", [WNIDS[1], WNIDS[500]], "sketch_{k}.JPEG")
    return "imagenet-sketch", [1, 1, 500, 500], NAMES


def fake_objectnet(root):
    base = root / "objectnet-1.0/images"
    for folder in ("alarm_clock", "chair", "squeegee", "wok"):  # squeegee is not an ImageNet class
        for k in range(2):
            image(base / folder / f"0a{k}f2bd4a1b94a1e.png", border=(255, 0, 0))
    labels = {c["folder"]: i for i, c in enumerate(ds.objectnet_classes())}
    return (
        "objectnet",
        [labels[f] for f in ("alarm_clock", "alarm_clock", "chair", "chair", "wok", "wok")],
        [c["name"].lower() for c in ds.objectnet_classes()],
    )


def fake_cifar10(root):
    images, labels = cifar_arrays(6)
    write_cifar_bin(root / "cifar-10-batches-bin", "test_batch.bin", images, labels)
    (root / "cifar-10-batches-bin/batches.meta.txt").write_text("\n".join(ds.CIFAR10_CLASSNAMES) + "\n\n")
    return "cifar10", labels.tolist(), list(ds.CIFAR10_CLASSNAMES)


def fake_cifar10_1(root):
    images, labels = cifar_arrays(5, seed=1)
    (root / "CIFAR-10.1").mkdir()
    np.save(root / "CIFAR-10.1/cifar10.1_v6_data.npy", images)
    np.save(root / "CIFAR-10.1/cifar10.1_v6_labels.npy", labels)
    return "cifar10.1", labels.tolist(), list(ds.CIFAR10_CLASSNAMES)


def fake_cifar10_2(root):
    images, labels = cifar_arrays(4, seed=2)
    (root / "CIFAR-10.2").mkdir()
    np.savez(
        root / "CIFAR-10.2/cifar102_test.npz", images=images, labels=labels, label_names=list(ds.CIFAR10_CLASSNAMES)
    )
    return "cifar10.2", labels.tolist(), list(ds.CIFAR10_CLASSNAMES)


def fake_folder(root):
    make_image_folder(root / "pets", 2, seed=0)
    return f"folder:{root / 'pets'}", [0, 0, 1, 1, 2, 2], list(CLASSES)


def fake_world(root):
    from core.worlds import shapes

    return "world:id_test:4", None, list(shapes.CLASSNAMES)


def fake_ytbb(root):
    """YTBB-Robust in the paper's loader's layout (tests/test_ytbb_robust.py)."""
    from test_ytbb_robust import fake_release

    fake_release(root)
    names = (
        "person bird bicycle boat bus bear cow cat giraffe _ horse motorcycle knife airplane skateboard train "
        "truck zebra toilet dog elephant umbrella none car"
    ).split()
    return "ytbb-robust", [0, 0, 0, 23, 23], [n if n != "_" else "potted plant" for n in names]


FAKES = {
    "imagenet": fake_imagenet,
    "imagenetv2": fake_imagenetv2,
    "imagenet-r": fake_subset("imagenet-r"),
    "imagenet-a": fake_subset("imagenet-a"),
    "imagenet-sketch": fake_sketch,
    "objectnet": fake_objectnet,
    "cifar10": fake_cifar10,
    "cifar10.1": fake_cifar10_1,
    "cifar10.2": fake_cifar10_2,
    "folder": fake_folder,
    "world": fake_world,
    "ytbb-robust": fake_ytbb,
    **TALK_FAKES,
}  # the talk's other datasets (issue 16)


@pytest.mark.parametrize("name", sorted(list_datasets()))
def test_every_registered_dataset_loads_its_fake_copy(name, tmp_path):
    assert name in FAKES, f"dataset {name!r} is registered but has no fake copy in tests/test_datasets.py"
    spec, labels, classnames = FAKES[name](tmp_path)
    images = get_dataset(spec, str(tmp_path), allow_partial=True)
    if labels is not None:
        assert images.labels.tolist() == labels
    assert list(images.classnames) == classnames
    assert len(images.ids) == len(images) and len(set(images.ids)) == len(images)
    assert images.get_image(len(images) - 1).mode == "RGB"


@pytest.mark.parametrize("name", sorted(set(list_datasets()) - {"folder", "world"}))
def test_a_missing_dataset_names_its_layout_and_source(name, tmp_path):
    with pytest.raises(DatasetError, match="Expected layout: DATA_ROOT/.*Obtain it from"):
        get_dataset(name, str(tmp_path), allow_partial=True)
    with pytest.raises(DatasetError, match="--data-root"):
        get_dataset(name, None)
    assert not list(tmp_path.iterdir())  # nothing was downloaded or created


# ----------------------------------------------------------------------------- class handling


@pytest.mark.parametrize("name", ["imagenet-r", "imagenet-a"])
def test_200_class_projection_picks_the_published_logits(name):
    wnids = ds.subset_wnids(name)
    assert len(wnids) == 200 == len(set(wnids))
    indices = ds.imagenet_indices(wnids)
    assert indices.tolist() == SUBLISTS[name]  # the wnid list and the paper's index list agree
    assert [WNIDS[i] for i in SUBLISTS[name]] == wnids
    logits = np.random.default_rng(0).normal(size=(4, 1000))  # (N, 1000)
    np.testing.assert_array_equal(logits[..., indices], logits[:, SUBLISTS[name]])


def test_objectnet_mapping():
    classes = ds.objectnet_classes()
    assert len(classes) == 113 and [c["folder"] for c in classes] == sorted(c["folder"] for c in classes)
    flat = [i for c in classes for i in c["imagenet_indices"]]
    assert len(flat) == len(set(flat)) == 125  # each ImageNet class belongs to one ObjectNet class
    by_folder = {c["folder"]: [NAMES[i] for i in c["imagenet_indices"]] for c in classes}
    assert by_folder["alarm_clock"] == ["analog clock", "digital clock"]
    assert by_folder["chair"] == ["barber chair", "folding chair", "rocking chair"]
    assert by_folder["bicycle"] == ["tandem bicycle", "mountain bike"] and by_folder["wok"] == ["wok"]
    groups = ds.objectnet_logit_groups()  # (113, 3), padded with repeats
    logits = np.random.default_rng(0).normal(size=(5, 1000))
    projected = logits[..., groups].max(-1)  # what the sweep stores, (5, 113)
    for k, c in enumerate(classes):
        np.testing.assert_array_equal(projected[:, k], logits[:, c["imagenet_indices"]].max(-1))


def test_objectnet_border_is_cropped(tmp_path):
    fake_objectnet(tmp_path)
    img = np.asarray(get_dataset("objectnet", str(tmp_path), allow_partial=True).get_image(0))
    assert img.shape == (32, 36, 3) and not (img == [255, 0, 0]).all(-1).any()  # 2 px per side, as wise-ft


# ----------------------------------------------------------------------------- CIFAR arrays


def test_cifar_arrays_decode_to_the_stored_pixels(tmp_path):
    images, labels = cifar_arrays(3)
    write_cifar_bin(tmp_path / "b", "test_batch.bin", images, labels)
    got, got_labels = ds.read_cifar10_binary(tmp_path / "b/test_batch.bin")
    np.testing.assert_array_equal(got, images)
    np.testing.assert_array_equal(got_labels, labels)
    fake_cifar10_1(tmp_path)
    fake_cifar10_2(tmp_path)
    for spec, seed, n in (("cifar10.1", 1, 5), ("cifar10.2", 2, 4)):
        s = get_dataset(spec, str(tmp_path), allow_partial=True)
        np.testing.assert_array_equal(np.asarray(s.get_image(2)), cifar_arrays(n, seed)[0][2])
        np.testing.assert_array_equal(np.asarray(ds.open_array_example(s.ids[2])), cifar_arrays(n, seed)[0][2])


def test_cifar10_train_split_and_python_version(tmp_path):
    images, labels = cifar_arrays(10)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for i in range(5):  # the python version: pickled dicts with bytes keys, data as (N, 3072) rows
        part = slice(2 * i, 2 * i + 2)
        batch = {
            b"batch_label": b"training batch",
            b"labels": labels[part].tolist(),
            b"data": images[part].transpose(0, 3, 1, 2).reshape(2, 3072),
            b"filenames": [b"a.png", b"b.png"],
        }
        (folder / f"data_batch_{i + 1}").write_bytes(pickle.dumps(batch, protocol=2))
    train = get_dataset("cifar10:train", str(tmp_path), allow_partial=True)
    assert train.labels.tolist() == labels.tolist() and len(train.ids) == 10
    np.testing.assert_array_equal(np.asarray(train.get_image(7)), images[7])


def test_restricted_unpickler_refuses_code(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    (tmp_path / "test_batch").write_bytes(pickle.dumps({b"data": Evil()}, protocol=2))
    with pytest.raises(DatasetError, match="refusing to unpickle"):
        ds.read_cifar10_python(tmp_path / "test_batch")
    assert not marker.exists()


@pytest.mark.slow
def test_cifar10_downloads_only_when_asked(tmp_path, monkeypatch, tiny_config):
    def no_network(*args, **kwargs):
        raise AssertionError("nothing may be downloaded without --download")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    with pytest.raises(DatasetError, match="--download"):
        get_dataset("cifar10", str(tmp_path), allow_partial=True)
    # a local stand-in for the official archive: the six batches, the names, and a path that must not escape
    src = tmp_path / "src"
    for f in ds.CIFAR10_FILES["train"] + ds.CIFAR10_FILES["test"]:
        write_cifar_bin(src / ds.CIFAR10_BIN, f + ".bin", *cifar_arrays(2))
    (src / ds.CIFAR10_BIN / "batches.meta.txt").write_text("\n".join(ds.CIFAR10_CLASSNAMES))
    archive = tmp_path / "cifar-10-binary.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src / ds.CIFAR10_BIN, arcname=ds.CIFAR10_BIN)
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"no"))
    monkeypatch.undo()
    monkeypatch.setattr(ds, "CIFAR10_URL", archive.as_uri())
    monkeypatch.setattr(ds, "CIFAR10_MD5", hashlib.md5(archive.read_bytes()).hexdigest())
    data_root, out = tmp_path / "data", tmp_path / "run"
    assert (
        main(
            [
                "zeroshot",
                "--model",
                str(tiny_config),
                "--classes-from",
                "cifar10:test",
                "--data-root",
                str(data_root),
                "--download",
                "--allow-partial",
                "--templates",
                "simple",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert sorted(p.name for p in data_root.iterdir()) == [ds.CIFAR10_BIN] and not (tmp_path / "escaped.txt").exists()
    assert len(get_dataset("cifar10:train", str(data_root), allow_partial=True)) == 10


# ----------------------------------------------------------------------------- through a real sweep


@pytest.fixture(scope="module")
def imagenet_runs(tmp_path_factory, tiny_config):
    """Two 1000-class runs of the tiny model: theta_1 differs from theta_0 end to end, or in the head only."""
    from core.model.clip import ModelSpec
    from core.runs.create import create_zeroshot_run
    from core.runs.weights import load_weights, save_weights

    root = tmp_path_factory.mktemp("imagenet_runs")
    runs = {}
    for kind in ("e2e", "head"):
        run = create_zeroshot_run(root / kind, ModelSpec(str(tiny_config)), NAMES, ["a photo of a {}."])
        theta = load_weights(run / "weights/zeroshot.safetensors")
        gen = torch.Generator().manual_seed(0)
        for k, v in theta.items():
            if v.is_floating_point() and (kind == "e2e" or k.startswith("head.")):
                theta[k] = v + 0.05 * v.std().nan_to_num(1.0) * torch.randn(v.shape, generator=gen)
        save_weights(run / "weights/finetuned.safetensors", theta)
        runs[kind] = run
    return runs


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["e2e", "head"])
def test_sweep_projects_imagenet_r_and_objectnet_logits(imagenet_runs, kind, tmp_path):
    from core.model.clip import transforms_from_cfg
    from core.model.evaluate import decode, predict
    from core.runs.artifacts import Run
    from core.runs.weights import load_classifier, load_weights
    from core.wiseft.interpolate import interpolate
    from core.wiseft.sweep import SweepConfig, sweep

    run = imagenet_runs[kind]
    fake_subset("imagenet-r")(tmp_path)
    fake_objectnet(tmp_path)
    sets = [
        (get_dataset("imagenet-r", str(tmp_path), allow_partial=True), "id"),
        (get_dataset("objectnet", str(tmp_path), allow_partial=True), "ood"),
    ]
    sweep(run, sets, SweepConfig(alphas=(0.0, 0.5, 1.0), logits_dtype="float32"))
    model, pp_cfg = load_classifier(run)
    t0, t1 = (load_weights(run / f"weights/{w}.safetensors") for w in ("zeroshot", "finetuned"))
    result = Run(run)
    assert ("logits_0" in result._load("imagenet-r")) == (kind == "head")  # closed form: linear in alpha
    assert "logits" in result._load("objectnet")  # a max is not linear in alpha: stored per alpha
    for images, _ in sets:
        x = decode(images, transforms_from_cfg(pp_cfg)[1], np.arange(len(images)))
        for alpha in (0.0, 0.5, 1.0):
            model.load_state_dict(interpolate(t0, t1, alpha))
            full = predict(model, x, 8, torch.device("cpu")).numpy()  # (N, 1000)
            idx = images.logit_indices
            want = full[..., idx] if idx.ndim == 1 else full[..., idx].max(-1)  # (N, 200) or (N, 113)
            np.testing.assert_allclose(result.logits(images.name, alpha), want, rtol=1e-4, atol=1e-4)
