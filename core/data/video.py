"""ImageNet-Vid-Robust (paper Table 6, pm-0), read from its release layout.

    spec                  layout under DATA_ROOT                                              classes
    imagenet-vid-robust   imagenet-vid-robust/{metadata/{pmsets,labels}.json, misc/*.json, val/...}  30, projected from 1000

The release (Shankar et al., "Do image classifiers generalize across time?", ICCV 2021) groups
frames into sets: metadata/pmsets.json maps each anchor frame to its neighbouring frames, and
metadata/labels.json gives every frame its list of correct labels (a frame may have several) over
the 30 classes of misc/imagenet_vid_class_index.json ({index: [wnid, name]}). An ImageNet model's
1000 logits are projected onto the 30 classes by the max over the ImageNet classes whose wnid
misc/wnid_map.json maps to each class (misc/imagenet_class_index.json gives the ImageNet wnids),
as the paper's code does with merge_op='max'.

Scoring follows the release's evaluation script: an anchor is right when its prediction is one of
its labels (pm-0, what Table 6 reports); pm-k counts it only when the anchor and every frame of its
set are right. A frame with an empty label list is counted wrong in both, as the script does. The set's `extra` carries the anchors and the extra labels into the run manifest;
core.results.extra_metrics.pm_k computes both. The published size is not checked (not verified here).
YTBB-Robust, whose layout is the paper's loader's, is read by core.data.ytbb.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from core.data.registry import DatasetError, ImageSet, register
from core.data.layout import files_set, locate
from core.data.shifts import imagenet_wnids


def _json(path: Path, kind: type = dict):
    """A release file's JSON object (or list), or an error naming the file."""
    if not path.is_file():
        raise DatasetError(f"imagenet-vid-robust: {path} does not exist; the release has metadata/ and misc/ folders")
    try:
        obj = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise DatasetError(f"imagenet-vid-robust: {path} is not valid JSON ({err}); re-download the release") from None
    if not isinstance(obj, kind):
        raise DatasetError(f"imagenet-vid-robust: {path} holds a {type(obj).__name__}, not the release's "
                           f"{kind.__name__}; re-download the release")
    return obj


def frame_labels(frames: list[str], labels: dict, path: Path) -> tuple[list[int], list[list[int]], list[int]]:
    """(stored label, [frame, further label] pairs, frames with no label) of each frame. A frame whose
    label list is empty has no right answer: the benchmark's scoring counts it wrong (pm-0 and pm-k),
    so it is listed as unlabelled and stored with its set's first label as a placeholder."""
    if missing := [f for f in frames if f not in labels]:
        raise DatasetError(f"imagenet-vid-robust: {path} has no labels for frame {missing[0]!r}"
                           f"{f' (and {len(missing) - 1} more)' if len(missing) > 1 else ''} of metadata/pmsets.json; "
                           "use the release's labels.json, which labels every frame of pmsets.json")
    if bad := [f for f in frames if not isinstance(labels[f], list)]:
        raise DatasetError(f"imagenet-vid-robust: {path}: frame {bad[0]!r} has {labels[bad[0]]!r}, not a list "
                           "of labels; re-download the release")
    first = [int(labels[f][0]) if labels[f] else -1 for f in frames]
    extra = [[i, int(l)] for i, f in enumerate(frames) for l in labels[f][1:]]
    unlabelled = [i for i, label in enumerate(first) if label < 0]
    fallback = next((label for label in first if label >= 0), 0)
    return [label if label >= 0 else fallback for label in first], extra, unlabelled


def vid_logit_groups(root: Path, vid_wnids: list[str]) -> np.ndarray:
    """(30, G) ImageNet indices per ImageNet-Vid class, padded by repeating the first (as ObjectNet)."""
    parent = _json(root / "misc/wnid_map.json")  # ImageNet wnid -> ImageNet-Vid wnid
    index = {w: i for i, w in enumerate(imagenet_wnids())}
    groups = [[index[w] for w, p in parent.items() if p == v and w in index] for v in vid_wnids]
    if empty := [v for v, g in zip(vid_wnids, groups) if not g]:
        raise DatasetError(f"imagenet-vid-robust: misc/wnid_map.json maps no ImageNet class to {empty}")
    width = max(map(len, groups))
    return np.asarray([sorted(g) + [min(g)] * (width - len(g)) for g in groups], dtype=np.int64)


@register("imagenet-vid-robust", "ImageNet-Vid-Robust: DATA_ROOT/imagenet-vid-robust/ (pm-0 / pm-k), 30 classes",
          layout="imagenet-vid-robust/{metadata/{pmsets,labels}.json,misc/*.json,val/<video>/<frame>.JPEG}")
def imagenet_vid_robust(arg: str, data_root: str | None = None) -> ImageSet:
    layout = "imagenet-vid-robust/metadata/{pmsets,labels}.json, misc/{imagenet_vid_class_index,wnid_map}.json"
    root = locate(data_root, "imagenet-vid-robust", ["imagenet-vid-robust"], layout,
                   "the release of Shankar et al. 2021 (imagenet_vid_ytbb_robust: its imagenet-vid-robust/ folder)")
    classes = _json(root / "misc/imagenet_vid_class_index.json")
    vid = [classes[str(k)] for k in range(len(classes))]  # [[wnid, name], ...] in label order
    pmsets, labels = _json(root / "metadata/pmsets.json"), _json(root / "metadata/labels.json")
    frames, anchors = [], []
    for anchor, neighbours in pmsets.items():
        if not isinstance(neighbours, list):
            raise DatasetError(f"imagenet-vid-robust: {root / 'metadata/pmsets.json'}: anchor {anchor!r} maps to "
                               f"{neighbours!r}, not a list of frames; re-download the release")
        head = len(frames)
        frames += [anchor, *neighbours]
        anchors += [head] * (1 + len(neighbours))
    first, extra_labels, unlabelled = frame_labels(frames, labels, root / "metadata/labels.json")
    paths = [str((root / f).resolve()) for f in frames]
    extra = {"metric": "pm-0", "anchors": anchors, "extra_labels": extra_labels,
             **({"unlabelled": unlabelled} if unlabelled else {}),
             "logit_projection": "max over the ImageNet classes mapped to each ImageNet-Vid class"}
    return files_set("imagenet-vid-robust", [n.replace("_", " ") for _, n in vid], paths,
                      np.asarray(first, dtype=np.int64), logit_indices=vid_logit_groups(root, [w for w, _ in vid]),
                      extra=extra)
