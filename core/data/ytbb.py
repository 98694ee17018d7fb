"""YTBB-Robust (paper Table 6, pm-0), read the way the paper's own loader reads it: mlfoundations/wise-ft,
src/datasets/ytbb_robust.py (commit 4639a39), whose rules are followed here one by one.

    spec         layout under DATA_ROOT                                                      classes
    ytbb-robust  imagenet_vid_ytbb_robust/ytbb-robust/{ytbb_videos/<ytid>_<ms>/frame-<i>.jpg,    24, projected from 1000
                 anchor_labels.json, pmk_labels.json, ytbb_robustness_test_anchors_full.csv}

- Annotation files (anchor_labels.json, pmk_labels.json): {"labels": [names], "annotations": [{"key",
  "labels": [indices into names], "notes"}]}; a key annotated twice keeps its last annotation.
- Anchors: annotated 'good' and neither 'bad' nor 'unsure'; an anchor that a pm-k annotation marks
  'bad-anchor' is dropped. An anchor's labels: the YTBB class names among its annotation labels plus
  its class in the anchors CSV (ytid, time_ms, label; classes 22 and 23 swapped, as the loader does).
- pm-k frames: frame-<i + d>.jpg of the anchor's folder, 1 <= |d| <= 10, when pmk_labels.json
  annotates "<anchor key>,<frame key>" 'similar' and with none of PMK_PROBLEMS.
- Scoring (core.results.extra_metrics.pm_k): pm-0 is the share of anchors predicted as one of their
  labels; pm-k (the paper's pm-10) counts an anchor only when it and each of its pm-k frames are
  predicted as one of the anchor's labels.
- Projection: a 1000-class ImageNet head onto the 24 classes by the max over each class's ImageNet
  classes (metadata/ytbb_rev_class_idx_map.json); the 5 classes with none score 0, and 'none' never wins.

The class index and the ImageNet map ship in core/data/metadata/ (copied from the loader's
ytbb-robust_metadata/). The annotation files and the anchors CSV are read from the release folder
(or its metadata/ or ytbb-robust_metadata/ subfolder): the paper's repository ships anchor_labels.json
and the CSV, not pmk_labels.json, so the three are taken from one place, the user's copy.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path, PurePosixPath

import numpy as np

from core.data.layout import files_set, locate
from core.data.registry import NEVER_PREDICTED, NO_CLASS, DatasetError, ImageSet, register

METADATA = Path(__file__).parent / "metadata"
NAME = "ytbb-robust"
ANCHOR_RULE = ({"good"}, {"bad", "unsure"})  # (must have, must not have)
PMK_PROBLEMS = {"dissimilar", "problematic", "incorrect", "dont know", "deformation", "background-change",
                "occlusion-increased", "blur-increase", "bad-anchor"}
PMK_NAMES = {"similar", "correct"} | PMK_PROBLEMS  # the loader refuses a label list that lacks one
K = 10  # pm-k's k: frames within 10 of the anchor
FILES = ("anchor_labels.json", "pmk_labels.json", "ytbb_robustness_test_anchors_full.csv")
SOURCE = ("the YTBB-Robust release (Shankar et al. 2021: imagenet_vid_ytbb_robust/ytbb-robust/), with the annotation "
          "files and the anchors CSV of mlfoundations/wise-ft src/datasets/ytbb-robust_metadata/")


def key_of(path: str) -> str:
    """'<ytid>_<ms>/frame-<i>.jpg': a frame's folder and file name (the loader's path_to_key)."""
    p = PurePosixPath(path)
    return f"{p.parent.name}/{p.name}"


def _find(root: Path, name: str) -> Path:
    for folder in (root, root / "metadata", root / "ytbb-robust_metadata"):
        if (folder / name).is_file():
            return folder / name
    raise DatasetError(f"{NAME}: {root / name} does not exist (nor in metadata/ or ytbb-robust_metadata/); "
                       f"copy it from {SOURCE}")


def annotations(path: Path, needed: set[str]) -> dict[str, set[str]]:
    """{raw key: set of label names} of an annotation file, its label list checked for `needed`."""
    try:
        obj = json.loads(path.read_text())
        names, rows = obj["labels"], obj["annotations"]
        found = {row["key"]: {names[i] for i in row["labels"]} for row in rows}  # the last one wins
    except (ValueError, UnicodeDecodeError, KeyError, TypeError, IndexError) as err:
        raise DatasetError(f"{NAME}: {path} is not an annotation file ({type(err).__name__}: {err}); expected "
                           '{"labels": [...], "annotations": [{"key", "labels", "notes"}]}') from None
    if missing := sorted(needed - set(names)):
        raise DatasetError(f"{NAME}: {path}'s label list lacks {missing}; use the release's file")
    return found


def anchor_classes(path: Path) -> dict[str, int]:
    """{'<ytid>_<time_ms>': YTBB class} from the anchors CSV, classes 22 and 23 swapped (the loader's fix)."""
    try:
        with path.open(newline="") as f:
            rows = {f"{r['ytid']}_{r['time_ms']}": int(r["label"]) for r in csv.DictReader(f)}
    except (KeyError, ValueError, TypeError) as err:
        raise DatasetError(f"{NAME}: {path} is not the anchors CSV (ytid,time_ms,label): {err}") from None
    return {k: {22: 23, 23: 22}.get(c, c) for k, c in rows.items()}


def pm_sets(root: Path, classes: dict[str, int]) -> dict[str, tuple[set[int], list[str]]]:
    """{anchor key: (its YTBB labels, its pm-k frame keys)} for the anchors the loader keeps, sorted."""
    anchors = {key_of(k): v for k, v in annotations(_find(root, FILES[0]), {"good", "bad", "unsure"}).items()}
    pmk = annotations(_find(root, FILES[1]), PMK_NAMES)
    bad = {key_of(k.split(",")[0]) for k, v in pmk.items() if "bad-anchor" in v}
    similar = {k for k, v in pmk.items() if "similar" in v and not v & PMK_PROBLEMS}
    initial = anchor_classes(_find(root, FILES[2]))
    must, must_not = ANCHOR_RULE
    out = {}
    for key in sorted(k for k, v in anchors.items() if must <= v and not v & must_not and k not in bad):
        if key.split("/")[0] not in initial:
            raise DatasetError(f"{NAME}: anchor {key} is not in {FILES[2]}; use the CSV of the same release")
        labels = {classes[n] for n in anchors[key] if n in classes} | {initial[key.split("/")[0]]}
        folder, frame = key.split("/")
        index = int(frame.split("-")[1].split(".")[0])
        near = [f"{folder}/frame-{index + d}.jpg" for d in range(-K, K + 1) if d]
        out[key] = (labels, [f for f in near if f"{key},{f}" in similar])
    return out


def logit_groups() -> np.ndarray:
    """(24, G) ImageNet indices per YTBB class; NO_CLASS for the classes without one, NEVER_PREDICTED for 'none'."""
    index = {int(k): v for k, v in json.loads((METADATA / "ytbb_class_index.json").read_text()).items()}
    mapped = {int(k): v for k, v in json.loads((METADATA / "ytbb_rev_class_idx_map.json").read_text()).items()}
    width = max(map(len, mapped.values()))
    groups = [sorted(mapped[k]) + [min(mapped[k])] * (width - len(mapped[k])) if k in mapped
              else [NEVER_PREDICTED if index[k] == "none" else NO_CLASS] * width for k in range(len(index))]
    return np.asarray(groups, dtype=np.int64)


@register(NAME, "YTBB-Robust: DATA_ROOT/imagenet_vid_ytbb_robust/ytbb-robust/ (pm-0 / pm-k), 24 classes; the layout "
          "and rules follow the paper's loader (mlfoundations/wise-ft src/datasets/ytbb_robust.py)",
          layout="imagenet_vid_ytbb_robust/ytbb-robust/{ytbb_videos/<ytid>_<ms>/frame-<i>.jpg,anchor_labels.json,"
                 "pmk_labels.json,ytbb_robustness_test_anchors_full.csv} (the paper's loader's layout)")
def ytbb_robust(arg: str, data_root: str | None = None) -> ImageSet:
    layout = "imagenet_vid_ytbb_robust/ytbb-robust/ytbb_videos/<ytid>_<ms>/frame-<i>.jpg and " + ", ".join(FILES)
    root = locate(data_root, NAME, ["imagenet_vid_ytbb_robust/ytbb-robust", "ytbb-robust"], layout, SOURCE)
    names = json.loads((METADATA / "ytbb_class_index.json").read_text())
    classnames = [names[str(k)] for k in range(len(names))]
    frames, anchors, first, extra_labels = [], [], [], []
    for key, (labels, near) in pm_sets(root, {n: i for i, n in enumerate(classnames)}).items():
        head, ordered = len(frames), sorted(labels)
        for frame in [key, *near]:
            extra_labels += [[len(frames), label] for label in ordered[1:]]  # every frame scores the anchor's labels
            frames.append(frame)
            anchors.append(head)
            first.append(ordered[0])
    if not frames:
        raise DatasetError(f"{NAME}: no anchor of {root} passes the loader's rules ('good' anchors of anchor_labels.json)")
    paths = [str((root / "ytbb_videos" / f).resolve()) for f in frames]
    if missing := [p for p in paths if not Path(p).is_file()]:
        raise DatasetError(f"{NAME}: {len(missing)} annotated frames are missing under {root / 'ytbb_videos'}, "
                           f"e.g. {missing[0]}; use the complete release")
    extra = {"metric": "pm-0", "anchors": anchors, "extra_labels": extra_labels, "pm_k": K,
             "logit_projection": "max over the ImageNet classes mapped to each YTBB class (the paper's loader)"}
    return files_set(NAME, classnames, paths, np.asarray(first, dtype=np.int64), logit_indices=logit_groups(),
                     extra=extra)
