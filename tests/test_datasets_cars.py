"""Issue 16: Stanford Cars from torchvision's layout (.mat annotations read with scipy), its train split,
the test annotations without labels refused with the fix, and `compare --reference table2` naming its
column (Cars) on a generated run."""

import numpy as np
import pytest

from conftest import copy_run, run_cli
from core.data.registry import DatasetError, dataset_entry, get_dataset
from core.results.compare import compare, load_reference
from core.runs.artifacts import Run
from test_datasets_transfer_wilds_video import fake_stanford_cars


def test_cars_test_and_train_splits(tmp_path):
    spec, labels, classes = fake_stanford_cars(tmp_path)
    test = get_dataset(spec, str(tmp_path), allow_partial=True)
    assert len(test.classnames) == 196 and test.classnames[:2] == ["AM General Hummer SUV 2000", "Acura RL Sedan 2012"]
    assert test.labels.tolist() == [0, 195, 1] and test.ids[1].endswith("stanford_cars/cars_test/00002.jpg")
    train = get_dataset("stanford-cars:train", str(tmp_path), allow_partial=True)
    assert test.name == "cars" and train.name == "cars-train" and train.labels.tolist() == [4]
    assert dataset_entry("stanford-cars").sizes == {"": 8_041, "test": 8_041, "train": 8_144}  # Krause et al., 2013


def test_cars_test_annotations_without_labels_name_the_file_to_use(tmp_path):
    from scipy.io import savemat

    fake_stanford_cars(tmp_path)
    base = tmp_path / "stanford_cars"
    (base / "cars_test_annos_withlabels.mat").unlink()
    with pytest.raises(DatasetError, match="lacks cars_test_annos_withlabels.mat"):
        get_dataset("stanford-cars", str(tmp_path), allow_partial=True)
    table = np.array(
        [(1, 1, 9, 9, "00001.jpg")], dtype=[(f, "O") for f in ("bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "fname")]
    )[None]
    savemat(base / "devkit/cars_test_annos_withlabels.mat", {"annotations": table})  # the devkit's, no labels
    with pytest.raises(DatasetError, match="has no class labels"):
        get_dataset("stanford-cars", str(tmp_path), allow_partial=True)


def test_compare_table2_fills_the_cars_column(e2e_run, folders, tmp_path):
    run = copy_run(e2e_run, tmp_path / "run")
    run_cli(
        "sweep",
        "--run",
        run,
        "--id",
        f"CIFAR10=folder:{folders['val']}",
        "--ood",
        f"Cars=folder:{folders['shift']}",
        "--alphas",
        "0,0.5,1",
    )
    result = compare(Run(run), load_reference("table2"), allow_mismatch=True)
    cells = {(r["label"], r["dataset"]): r for r in result["rows"]}
    acc = 100 * (Run(run).grid_logits("Cars").argmax(-1) == Run(run).labels("Cars")).mean(-1)  # (3,)
    assert cells["alpha 0.50", "Cars"]["paper"] == 93.3 and cells["alpha 0.50", "Cars"]["run"] == pytest.approx(acc[1])
    assert "Cars" not in result["missing"]
    with pytest.raises(ValueError, match="Cars"):  # a folder is not the named dataset: refused without the flag
        compare(Run(run), load_reference("table2"))


def test_the_cars_column_is_measured_on_stanford_cars():
    from core.results.compare import dataset_mismatches

    class Named:  # a run's datasets as the manifest lists them
        datasets = [{"name": "Cars", "spec": "Cars=stanford-cars"}, {"name": "DTD", "spec": "DTD=folder:/x"}]

    assert dataset_mismatches(Named(), load_reference("table2")) == [
        "DTD were not evaluated on the named datasets (e.g. DTD on 'DTD=folder:/x')"
    ]


@pytest.mark.slow
def test_a_run_swept_on_stanford_cars_fills_table2s_cars_column(tiny_config, tmp_path, capsys):
    """zeroshot with the 196 car classes, a sweep on the fake copy, `compare --reference table2`."""
    import torch

    from core.runs.weights import load_weights, save_weights

    _, labels, classes = fake_stanford_cars(tmp_path / "data")
    (tmp_path / "classes.txt").write_text("\n".join(classes))
    run = tmp_path / "run"
    run_cli(
        "zeroshot",
        "--model",
        tiny_config,
        "--classnames",
        tmp_path / "classes.txt",
        "--templates",
        "simple",
        "--out",
        run,
    )
    theta = load_weights(run / "weights/zeroshot.safetensors")
    gen = torch.Generator().manual_seed(0)
    theta = {k: v + 0.5 * torch.randn(v.shape, generator=gen) if k.startswith("head.") else v for k, v in theta.items()}
    save_weights(run / "weights/finetuned.safetensors", theta)
    run_cli(
        "sweep",
        "--run",
        run,
        "--id",
        "stanford-cars",
        "--data-root",
        tmp_path / "data",
        "--allow-partial",
        "--alphas",
        "0,0.5,1",
        "--float32",
    )
    swept = Run(run)
    assert swept.dataset_names == ["cars"] and swept.labels("cars").tolist() == labels
    result = compare(swept, load_reference("table2"), allow_mismatch=True)
    cells = {(r["label"], r["dataset"]): r for r in result["rows"]}
    acc = 100 * (swept.grid_logits("cars").argmax(-1) == swept.labels("cars")).mean(-1)  # (3,)
    assert cells["alpha 0.50", "Cars"]["run"] == pytest.approx(acc[1]) and cells["alpha 0.50", "Cars"]["paper"] == 93.3
    with pytest.raises(ValueError) as err:  # refused for the model only: the datasets are the table's
        compare(swept, load_reference("table2"))
    assert "not evaluated on the named datasets" not in str(err.value)
    run_cli("compare", "--run", run, "--reference", "table2", "--allow-mismatch")
    assert "Cars" in capsys.readouterr().out
