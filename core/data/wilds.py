"""WILDS iWildCam and FMoW (paper Table 6), read from the WILDS on-disk layout (metadata.csv + images).

    spec                                   layout under DATA_ROOT                              classes
    iwildcam[:id_test|ood_test|train|...]  iwildcam_v2.0/{metadata.csv,categories.csv,train/}  182
    fmow[:id_test|ood_test|train|...]      fmow_v1.1/{rgb_metadata.csv,country_code_mapping.csv,images/}  62

Splits follow the WILDS package (p-lambda/wilds, wilds/datasets/*_dataset.py, split_scheme
'official'): iWildCam's metadata.csv names each row's split (train, val, test, id_val, id_test;
`ood_test` / `ood_val` here are WILDS' `test` / `val`). FMoW's official scheme is 'time_after_2016':
images from 2016 on are OOD test (rows of the original 'test' split), 2013-2015 OOD val (original
'val'), earlier ones ID (train / id_val / id_test from the original split); 'seq' rows are dropped;
image i is images/rgb_img_{i}.png, i its row in rgb_metadata.csv.

The metric of Table 6 is recorded in each set's `extra` (it lands in the run manifest's dataset
entry): macro F1 for iWildCam (over the classes present in the labels, as WILDS' F1 does), accuracy
for FMoW ID test, worst-region accuracy for FMoW OOD test (regions from country_code_mapping.csv;
'Other' is not a region, as in WILDS). core.results.extra_metrics computes them from logits.
"""

from __future__ import annotations

import csv
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from core.data.registry import DatasetError, ImageSet, register
from core.data.layout import files_set, locate, parse_split

WILDS_SOURCE = "the WILDS package (pip install wilds; get_dataset('{name}', download=True)) or https://wilds.stanford.edu"
IWILDCAM_SPLITS = {"id_test": "id_test", "ood_test": "test", "train": "train", "id_val": "id_val", "ood_val": "val"}
FMOW_SPLITS = ("id_test", "ood_test", "train", "id_val", "ood_val")
# WILDS' FMoW categories, in label order (fmow_dataset.py `categories`)
FMOW_CATEGORIES = (
    "airport", "airport_hangar", "airport_terminal", "amusement_park", "aquaculture", "archaeological_site", "barn",
    "border_checkpoint", "burial_site", "car_dealership", "construction_site", "crop_field", "dam", "debris_or_rubble",
    "educational_institution", "electric_substation", "factory_or_powerplant", "fire_station", "flooded_road",
    "fountain", "gas_station", "golf_course", "ground_transportation_station", "helipad", "hospital",
    "impoverished_settlement", "interchange", "lake_or_pond", "lighthouse", "military_facility",
    "multi-unit_residential", "nuclear_powerplant", "office_building", "oil_or_gas_facility", "park",
    "parking_lot_or_garage", "place_of_worship", "police_station", "port", "prison", "race_track", "railway_bridge",
    "recreational_facility", "road_bridge", "runway", "shipyard", "shopping_mall", "single-unit_residential",
    "smokestack", "solar_farm", "space_facility", "stadium", "storage_tank", "surface_mine", "swimming_pool",
    "toll_booth", "tower", "tunnel_opening", "waste_disposal", "water_treatment_facility", "wind_farm", "zoo")


def _rows(path: Path, name: str, columns: set[str]) -> list[dict]:
    if not path.is_file():
        raise DatasetError(f"{name}: {path} does not exist; the WILDS layout has it next to the images")
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or not columns <= set(rows[0]):
        raise DatasetError(f"{name}: {path} lacks the columns {sorted(columns)}")
    return rows


@register("iwildcam", "WILDS iWildCam: iwildcam[:id_test|ood_test|train|id_val|ood_val], DATA_ROOT/iwildcam_v2.0/",
          sizes={"": 8_154, "id_test": 8_154, "ood_test": 42_791, "train": 129_809, "id_val": 7_314, "ood_val": 14_961},
          layout="iwildcam_v2.0/{metadata.csv,categories.csv,train/<filename>}")
def iwildcam(arg: str, data_root: str | None = None) -> ImageSet:
    split = parse_split("iwildcam", arg, tuple(IWILDCAM_SPLITS))
    layout = "iwildcam_v2.0/metadata.csv (split, filename, y), categories.csv (y, name), train/<filename>"
    root = locate(data_root, "iwildcam", ["iwildcam_v2.0"], layout, WILDS_SOURCE.format(name="iwildcam"))
    rows = _rows(root / "metadata.csv", "iwildcam", {"split", "filename", "y"})
    n_classes = max(int(r["y"]) for r in rows) + 1  # as WILDS: the labels used anywhere in the dataset
    names = {int(c["y"]): c["name"] for c in _rows(root / "categories.csv", "iwildcam", {"y", "name"})}
    chosen = [r for r in rows if r["split"] == IWILDCAM_SPLITS[split]]
    paths = [str((root / "train" / r["filename"]).resolve()) for r in chosen]
    labels = np.asarray([int(r["y"]) for r in chosen], dtype=np.int64)
    classnames = [names.get(y, f"class {y}").replace("_", " ") for y in range(n_classes)]
    metric = {"metric": "macro F1"} if split != "train" else {}
    return files_set(f"wilds-iwildcam-{split.replace('_', '-')}", classnames, paths, labels, extra=metric)


def _fmow_split(row: dict, cutoff_ood: datetime, cutoff_val: datetime) -> str | None:
    """WILDS' 'time_after_2016' split of one rgb_metadata.csv row (None: sequestered or unused)."""
    when = datetime.fromisoformat(row["timestamp"].replace("Z", "+00:00"))  # ValueError: not ISO 8601
    when = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
    original = row["split"]
    if when >= cutoff_ood:
        return "ood_test" if original == "test" else None
    if when >= cutoff_val:
        return "ood_val" if original == "val" else None
    return {"train": "train", "val": "id_val", "test": "id_test"}.get(original)


def _fmow_rows(rows: list[dict], split: str, path: Path) -> list[int]:
    """Indices of the rows in `split`; a timestamp that is not ISO 8601 or a category that is not one
    of the 62 is refused naming the file and its line (the header is line 1)."""
    cut_ood, cut_val = (datetime(y, 1, 1, tzinfo=timezone.utc) for y in (2016, 2013))
    index = []
    for i, row in enumerate(rows):
        try:
            chosen = _fmow_split(row, cut_ood, cut_val) == split
        except ValueError:
            raise DatasetError(f"fmow: {path} line {i + 2}: timestamp {row['timestamp']!r} is not ISO 8601 (like "
                               "2016-01-01T00:00:00Z); fix the line or re-download the WILDS copy") from None
        if chosen and row["category"] not in FMOW_CATEGORIES:
            raise DatasetError(f"fmow: {path} line {i + 2}: category {row['category']!r} is not one of WILDS' 62 FMoW "
                               "categories (core.data.wilds.FMOW_CATEGORIES); fix the line or re-download the WILDS copy")
        index += [i] if chosen else []
    return index


@register("fmow", "WILDS FMoW: fmow[:id_test|ood_test|train|id_val|ood_val], DATA_ROOT/fmow_v1.1/",
          sizes={"": 11_327, "id_test": 11_327, "ood_test": 22_108, "train": 76_863, "id_val": 11_483, "ood_val": 19_915},
          layout="fmow_v1.1/{rgb_metadata.csv,country_code_mapping.csv,images/rgb_img_<i>.png}")
def fmow(arg: str, data_root: str | None = None) -> ImageSet:
    split = parse_split("fmow", arg, FMOW_SPLITS)
    layout = "fmow_v1.1/rgb_metadata.csv, country_code_mapping.csv, images/rgb_img_<row>.png"
    root = locate(data_root, "fmow", ["fmow_v1.1"], layout, WILDS_SOURCE.format(name="fmow"))
    rows = _rows(root / "rgb_metadata.csv", "fmow", {"split", "category", "country_code", "timestamp"})
    regions = {r["alpha-3"]: r["region"] for r in _rows(root / "country_code_mapping.csv", "fmow", {"alpha-3", "region"})}
    index = _fmow_rows(rows, split, root / "rgb_metadata.csv")
    label_of = {c: i for i, c in enumerate(FMOW_CATEGORIES)}
    paths = [str((root / "images" / f"rgb_img_{i}.png").resolve()) for i in index]
    labels = np.asarray([label_of[rows[i]["category"]] for i in index], dtype=np.int64)
    region = [regions.get(rows[i]["country_code"], "Other") for i in index]
    group_names = sorted(set(region))
    extra = {}
    if split == "ood_test":
        extra = {"metric": "worst-region accuracy", "group_names": group_names, "ignore_groups": ["Other"],
                 "groups": [group_names.index(g) for g in region]}
    elif split == "id_test":
        extra = {"metric": "accuracy"}
    classnames = [c.replace("_", " ") for c in FMOW_CATEGORIES]
    return files_set(f"wilds-fmow-{split.replace('_', '-')}", classnames, paths, labels, extra=extra)
