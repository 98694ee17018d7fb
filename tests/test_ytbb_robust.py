"""Issue 26 (issue 16's YTBB-Robust): the set is read from a fake release in the form the paper's loader
(mlfoundations/wise-ft src/datasets/ytbb_robust.py) defines, scored as that loader scores pm-0 and
pm-10 (its rules transcribed below as the reference), projected as it projects, and Table 6's
YTBB-Robust pm-0 row is compared with a run swept on it."""

import csv
import json

import numpy as np
import pytest
import torch

from conftest import run_cli
from core.cli import main
from core.data import ytbb
from core.data.registry import get_dataset, list_datasets, project_logits
from core.results.compare import compare, load_reference
from core.results.extra_metrics import dataset_metric
from core.runs.artifacts import Run
from test_datasets_transfer_wilds_video import image

ANCHOR_NAMES = ["good", "bad", "unsure", "person", "dog", "car", "blurry"]
PMK_NAMES = [
    "similar",
    "correct",
    "dissimilar",
    "problematic",
    "incorrect",
    "dont know",
    "deformation",
    "background-change",
    "occlusion-increased",
    "blur-increase",
    "bad-anchor",
]
A, B = "v_A-1_1000", "vidB_2000"  # <ytid>_<time_ms>; a ytid may hold '_' and '-'


def annotation_file(path, names, rows):
    """The release's annotation format: label names, then rows of label indices."""
    path.write_text(
        json.dumps(
            {
                "labels": names,
                "annotations": [
                    {"key": key, "notes": "", "labels": [names.index(n) for n in labels]} for key, labels in rows
                ],
            }
        )
    )


def fake_release(root):
    """A YTBB-Robust release as the paper's loader reads it (DATA_ROOT/imagenet_vid_ytbb_robust/ytbb-robust/)."""
    base = root / "imagenet_vid_ytbb_robust" / "ytbb-robust"
    base.mkdir(parents=True)
    annotation_file(
        base / "anchor_labels.json",
        ANCHOR_NAMES,
        [
            (f"/export/ytbb_videos/{A}/frame-30.jpg", ["good", "person"]),  # a path: its last two parts are the key
            (f"{B}/frame-60.jpg", ["bad"]),
            (f"{B}/frame-60.jpg", ["good", "blurry"]),  # annotated twice: the last annotation counts
            ("vidC_3000/frame-90.jpg", ["good", "unsure"]),  # not kept: unsure
            ("vidD_4000/frame-15.jpg", ["bad", "dog"]),  # not kept: bad
            ("vidE_5000/frame-45.jpg", ["good"]),  # not kept: a pm-k annotation says bad-anchor
        ],
    )
    annotation_file(
        base / "pmk_labels.json",
        PMK_NAMES,
        [
            (f"{A}/frame-30.jpg,{A}/frame-29.jpg", ["similar"]),
            (f"{A}/frame-30.jpg,{A}/frame-40.jpg", ["similar", "correct"]),  # d = 10: the last of pm-10
            (f"{A}/frame-30.jpg,{A}/frame-41.jpg", ["similar"]),  # d = 11: outside pm-10
            (f"{A}/frame-30.jpg,{A}/frame-31.jpg", ["similar", "blur-increase"]),  # problematic
            (f"{A}/frame-30.jpg,{A}/frame-32.jpg", ["dissimilar"]),
            (f"{B}/frame-60.jpg,{B}/frame-61.jpg", ["similar"]),
            ("vidE_5000/frame-45.jpg,vidE_5000/frame-46.jpg", ["similar", "bad-anchor"]),
        ],
    )
    with (base / "ytbb_robustness_test_anchors_full.csv").open("w", newline="") as f:
        csv.writer(f).writerows(
            [
                ["ytid", "time_ms", "label"],
                ["v_A-1", 1000, 19],
                ["vidB", 2000, 22],
                ["vidC", 3000, 0],
                ["vidD", 4000, 0],
                ["vidE", 5000, 1],
            ]
        )
    for folder, frames in ((A, (29, 30, 31, 32, 40, 41)), (B, (60, 61)), ("vidC_3000", (90,)), ("vidE_5000", (45, 46))):
        for i in frames:
            image(base / "ytbb_videos" / folder / f"frame-{i}.jpg")
    return base


def paper_scores(pred_by_key: dict, release) -> tuple[float, float]:
    """pm-0 and pm-10 as the paper's loader computes them (get_anchor_labels, get_pmk, create_pmk_score),
    transcribed rule by rule on the fake release's files."""

    def load(name):
        obj = json.loads((release / name).read_text())
        rows = {r["key"]: r for r in obj["annotations"]}  # load_labels: the latest label of a key
        return {k: {obj["labels"][i] for i in r["labels"]} for k, r in rows.items()}

    def key(path):
        return "/".join(path.split("/")[-2:])

    anchors = {key(k): v for k, v in load("anchor_labels.json").items()}
    pmk = load("pmk_labels.json")
    problems = {
        "dissimilar",
        "problematic",
        "incorrect",
        "dont know",
        "deformation",
        "background-change",
        "occlusion-increased",
        "blur-increase",
        "bad-anchor",
    }
    bad = {key(k.split(",")[0]) for k, v in pmk.items() if "bad-anchor" in v}
    valid_pmk = {k for k, v in pmk.items() if "similar" in v and not v & problems and key(k.split(",")[0]) not in bad}
    good = [k for k, v in anchors.items() if "good" in v and not v & {"bad", "unsure"} and k not in bad]
    with (release / "ytbb_robustness_test_anchors_full.csv").open() as f:
        initial = {
            f"{r['ytid']}_{r['time_ms']}": {23: 22, 22: 23}.get(int(r["label"]), int(r["label"]))
            for r in csv.DictReader(f)
        }
    classes = {n: int(i) for i, n in json.loads((ytbb.METADATA / "ytbb_class_index.json").read_text()).items()}
    pm0 = pm10 = 0
    for anchor in good:
        labels = {classes[n] for n in anchors[anchor] if n in classes} | {initial[anchor.split("/")[0]]}
        folder, frame = anchor.split("/")
        index = int(frame.split("-")[1].split(".")[0])
        frames = [
            f"{folder}/frame-{index + d}.jpg"
            for d in range(-10, 11)
            if d and f"{anchor},{folder}/frame-{index + d}.jpg" in valid_pmk
        ]
        right = pred_by_key[anchor] in labels
        pm0 += right
        pm10 += right and all(pred_by_key[f] in labels for f in frames)
    return pm0 / len(good), pm10 / len(good)


def test_the_release_is_read_as_the_paper_reads_it(tmp_path):
    release = fake_release(tmp_path)
    images = get_dataset("ytbb-robust", str(tmp_path))
    keys = ["/".join(i.split("/")[-2:]) for i in images.ids]
    assert keys == [
        f"{A}/frame-30.jpg",
        f"{A}/frame-29.jpg",
        f"{A}/frame-40.jpg",
        f"{B}/frame-60.jpg",
        f"{B}/frame-61.jpg",
    ]
    assert images.extra["anchors"] == [0, 0, 0, 3, 3]
    assert len(images.classnames) == 24 and images.classnames[22] == "none" and images.classnames[23] == "car"
    assert images.labels.tolist() == [0, 0, 0, 23, 23]  # A: person (annotated) and dog (CSV); B: CSV 22 -> 23
    assert images.extra["extra_labels"] == [[0, 19], [1, 19], [2, 19]]
    rng = np.random.default_rng(0)
    for trial in range(200):
        pred = rng.choice([0, 19, 23, 5], size=len(keys))  # right and wrong classes, frame by frame
        want = paper_scores(dict(zip(keys, pred.tolist())), release)
        got = (
            dataset_metric(pred, images.labels, images.extra)[1],
            dataset_metric(pred, images.labels, {**images.extra, "metric": "pm-k"})[1],
        )
        assert got == pytest.approx(want), (trial, pred)


def test_the_projection_is_the_papers(tmp_path):
    groups = ytbb.logit_groups()  # (24, G)
    mapped = {int(k): v for k, v in json.loads((ytbb.METADATA / "ytbb_rev_class_idx_map.json").read_text()).items()}
    logits = np.random.default_rng(1).normal(size=(7, 1000)).astype(np.float32)  # (N, 1000)
    paper = np.zeros((7, 24))  # the loader: zeros, the max over each class's ImageNet classes, 'none' -= 1e10
    for k, v in mapped.items():
        paper[:, k] = logits[:, v].max(axis=1)
    paper[:, 22] -= 1e10
    got = project_logits(logits, groups)
    np.testing.assert_array_equal(got[:, sorted(mapped)], paper[:, sorted(mapped)])
    np.testing.assert_array_equal(got[:, [6, 8, 14, 18]], 0)
    np.testing.assert_array_equal(got.argmax(-1), paper.argmax(-1))
    assert (project_logits(np.full((1, 1000), -50.0), groups).argmax(-1) == 6).all()  # a 0 beats -50, 'none' never wins


def test_datasets_says_the_layout_is_the_papers(capsys):
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    block = out[out.index("ytbb-robust") :].split("\n\n")[0]
    assert "the paper's loader" in block and "ytbb_videos/<ytid>_<ms>/frame-<i>.jpg" in block
    assert "ytbb-robust" in list_datasets()


def test_a_release_without_pmk_labels_names_the_file(tmp_path, tiny_config, capsys):
    (fake_release(tmp_path) / "pmk_labels.json").unlink()
    assert (
        main(
            [
                "zeroshot",
                "--model",
                str(tiny_config),
                "--classes-from",
                "ytbb-robust",
                "--data-root",
                str(tmp_path),
                "--templates",
                "simple",
                "--out",
                str(tmp_path / "run"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "pmk_labels.json does not exist" in err and "wise-ft" in err


@pytest.fixture(scope="module")
def ytbb_run(tmp_path_factory, tiny_config):
    """A tiny run with ImageNet's 1000-class head, swept on the fake release (ID) at alphas 0, 0.5, 1."""
    import open_clip

    from core.runs.weights import load_weights, save_weights

    root = tmp_path_factory.mktemp("ytbb")
    fake_release(root / "data")
    names = root / "classes.txt"
    names.write_text("\n".join(open_clip.IMAGENET_CLASSNAMES))
    run = root / "run"
    run_cli("zeroshot", "--model", tiny_config, "--classnames", names, "--templates", "simple", "--out", run)
    theta = load_weights(run / "weights/zeroshot.safetensors")
    gen = torch.Generator().manual_seed(0)
    save_weights(
        run / "weights/finetuned.safetensors",
        {k: v + torch.randn(v.shape, generator=gen) if k.startswith("head.") else v for k, v in theta.items()},
    )
    run_cli(
        "sweep", "--run", run, "--id", "ytbb-robust", "--data-root", root / "data", "--alphas", "0,0.5,1", "--float32"
    )
    return run


def test_compare_table6_reports_the_ytbb_pm0_row(ytbb_run, capsys):
    run = Run(ytbb_run)
    info = run.dataset_info("ytbb-robust")
    pred = run.reductions("ytbb-robust")["pred"]  # (3, N)
    want = [100 * dataset_metric(p, run.labels("ytbb-robust"), info)[1] for p in pred]
    result = compare(run, load_reference("table6"), finetune="linear-classifier", allow_mismatch=True)
    cells = {(r["label"], r["dataset"]): r for r in result["rows"] if r["dataset"] == "YTBB-Robust"}
    assert cells["zero-shot (0)", "YTBB-Robust"]["metric"] == "pm-0"
    assert cells["zero-shot (0)", "YTBB-Robust"]["run"] == pytest.approx(want[0])
    assert cells["alpha 0.50", "YTBB-Robust"]["run"] == pytest.approx(want[1])
    assert cells["standard fine-tuning (1)", "YTBB-Robust"]["run"] == pytest.approx(want[2])
    assert "YTBB-Robust (pm-0)" not in result["missing"]
    assert (
        main(
            [
                "compare",
                "--run",
                str(ytbb_run),
                "--reference",
                "table6",
                "--finetune",
                "linear-classifier",
                "--allow-mismatch",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "YTBB-Robust: pm-0 (%), not top-1" in out
