"""The LMC lab (issue 15): spawn at k, SWA and soups on the quick world, and the shipped summaries."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from core.cli import main
from core.lmc import lab as L
from core.lmc.plane import average_weights
from core.results import metrics
from core.worlds.build.lab import fresh, lab_dir
from core.worlds.build.lab_steps import spawn_config, spawn_recipe, swa_snapshots

SHIPPED = Path(__file__).resolve().parents[1] / "data" / "world" / "lab"
SECTIONS = ("spawn", "swa", "soups")


@pytest.fixture(scope="module")
def lab_world(quick_world):
    """The quick world (conftest), whose build ends with the lab's three steps."""
    return quick_world


def read(b, section):
    return json.loads((lab_dir(b) / f"{section}.json").read_text())


@pytest.mark.slow
def test_lab_writes_three_summaries_and_skips_them_when_current(lab_world):
    b, times = lab_world
    assert set(times) >= {"lab spawn", "lab swa", "lab soups"}
    stamps = {s: (lab_dir(b) / f"{s}.json").stat().st_mtime_ns for s in SECTIONS}
    threads = torch.get_num_threads()
    try:
        assert main(["world", "--quick", "--lab", "--out", str(b.out), "--work", str(b.work)]) == 0
    finally:
        torch.set_num_threads(threads)
    assert {s: (lab_dir(b) / f"{s}.json").stat().st_mtime_ns for s in SECTIONS} == stamps


@pytest.mark.slow
def test_spawn_summary_is_recomputed_from_its_curves(lab_world):
    b, _ = lab_world
    s = read(b, "spawn")
    assert s["k_steps"] == list(b.lab.spawn_k) and np.shape(s["loss"]) == (len(b.lab.spawn_k), len(b.lab.alphas))
    assert (
        len(s["weights"]["children"]) == len(b.lab.spawn_k) and s["weights"]["parent"] not in s["weights"]["children"]
    )
    again = L.spawn_summary(
        s["k_steps"], s["alphas"], np.array(s["loss"]), np.array(s["accuracy"]), s["steps_per_epoch"]
    )
    for key in ("loss_barrier", "error_barrier", "loss_barrier_chord", "error_barrier_chord", "holds", "k_epochs"):
        assert again[key] == s[key]
    row = np.array(s["accuracy"][0])
    assert s["barrier_definition"] == "frankle"
    assert s["error_barrier"][0] == pytest.approx(
        (row[0] + row[-1]) / 2 - row.min()
    )  # Frankle et al.: vs the ends' mean
    assert s["error_barrier_chord"][0] == pytest.approx(
        np.max((row[0] + (row[-1] - row[0]) * np.array(s["alphas"])) - row)
    )


@pytest.mark.slow
def test_spawn_trains_parent_and_children_with_its_recipe_and_records_it(lab_world):
    b, _ = lab_world
    s, recipe = read(b, "spawn"), spawn_recipe(b)
    assert recipe.lr == dict(b.lab.spawn_recipe)["lr"] != b.scratch.lr and recipe.warmup_steps == 0
    assert s["config"] == spawn_config(b) and s["config"]["recipe"] == json.loads(json.dumps(recipe.as_record()))
    runs = sorted(b.work.glob("lab-parent-*")) + sorted(b.work.glob("lab-spawn-*"))
    assert len(runs) == 1 + len(b.lab.spawn_k)
    for run in runs:  # every network of the experiment was trained with the recipe, the parent with seed 0
        done = json.loads((run / "manifest.json").read_text())["finetune"]
        assert (done["lr"], done["warmup_steps"], done["weight_decay"]) == (recipe.lr, 0, recipe.weight_decay)
        assert done["seed"] == (b.scratch.seed if run.name.startswith("lab-parent") else b.lab.spawn_seed)
    steps = {int(c.stem[5:]) for c in (runs[0] / "checkpoints").glob("step_*.safetensors")}
    assert steps - {max(steps)} == {k for k in b.lab.spawn_k if k > 0}  # the parent's train states: each k, the end
    other = replace(b, lab=replace(b.lab, spawn_recipe=(("lr", 1e-3),)))
    assert not fresh(lab_dir(b) / "spawn.json", spawn_config(other), s["inputs"])  # another recipe: recomputed


@pytest.mark.slow
def test_swa_average_is_the_average_of_the_snapshots(lab_world):
    b, _ = lab_world
    snaps = swa_snapshots(b, b.runs / "world-e2e" / "weights" / "finetuned.safetensors")  # trained: read back
    assert len(snaps) == b.lab.swa_steps // b.lab.swa_every
    avg = average_weights(snaps)
    for k, v in avg.items():
        if v.is_floating_point():
            assert torch.allclose(v, torch.stack([s[k] for s in snaps]).mean(0))
    s = read(b, "swa")
    assert [m["name"] for m in s["models"]][-1] == "average" and len(s["models"]) == len(snaps) + 2
    assert all(len(m["flatness_per_direction"]) == b.lab.flat_directions for m in s["models"])


@pytest.mark.slow
def test_greedy_soup_is_chosen_on_held_out_id_train_only(lab_world):
    b, _ = lab_world
    s = read(b, "soups")
    held = s["heldout"]
    assert held["spec"].startswith("world:id_train:") and held["start"] == b.n_train
    first = int(held["ids"][0].rsplit("/", 1)[1])
    assert first >= b.n_train  # the fine-tunes saw world:id_train:n_train, indices 0 .. n_train - 1
    assert held["fine-tunes trained on"] == b.train_set().spec
    assert not any("test" in k for k in held) and "test" not in held["spec"]
    trace = s["soups"]["greedy"]["trace"]
    assert sorted(t["add"] for t in trace) == list(range(len(s["ingredients"])))
    assert s["soups"]["greedy"]["members"] == sorted(t["add"] for t in trace if t["kept"])


def test_greedy_soup_keeps_an_ingredient_only_when_held_out_accuracy_does_not_fall():
    states = [{"w": torch.tensor([w])} for w in (1.0, 2.0, 4.0, 8.0)]
    scores = {1.0: 0.5, 2.0: 0.9, 4.0: 0.2, 8.0: 0.7, 5.0: 0.8, 1.5: 0.95}  # soups' weights: 5 = (2 + 8) / 2 ...

    def acc(state):  # a made-up held-out score of a weight set with one weight
        return scores.get(round(float(state["w"]), 4), 0.1)

    members, trace = L.greedy_soup(states, acc)
    assert [t["add"] for t in trace] == [1, 3, 0, 2]  # decreasing individual score
    assert [t["kept"] for t in trace] == [True, False, True, False] and members == [0, 1]


@pytest.mark.slow
def test_barrier_matrix_is_symmetric_with_zero_diagonal(lab_world):
    b, _ = lab_world
    m = np.array(read(b, "soups")["barrier_matrix"])
    assert m.shape == (2 + len(b.lab.soup_recipes),) * 2
    assert np.array_equal(m, m.T) and np.all(np.diag(m) == 0)
    again = L.barrier_matrix([1.0, 2.0, 4.0], {(0, 1): 1.0, (0, 2): 3.0, (1, 2): 3.5})
    assert np.allclose(again, [[0, -0.5, 0.5], [-0.5, 0, 0.5], [0.5, 0.5, 0]])


@pytest.mark.slow
def test_soup_test_points_match_the_sweep_at_alpha_1(lab_world):
    b, _ = lab_world
    s = read(b, "soups")
    e2e = next(p for p in s["points"] if p["name"].startswith("world-e2e"))
    at1 = next(w for w in s["wiseft"] if w["alpha"] == 1.0)
    assert e2e["id_acc"] == pytest.approx(at1["id_acc"], abs=1e-6)
    assert e2e["ood_acc"] == pytest.approx(at1["ood_acc"], abs=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("section", SECTIONS)
def test_quick_lab_claims_are_recomputed_from_their_numbers(lab_world, section):
    b, _ = lab_world
    s = read(b, section)
    assert L.recheck(section, s) == s["holds"] and s["holds"]


def test_flatness_directions_have_the_fixed_norm_and_seed():
    state = {"a": torch.zeros(3, 4), "b": torch.zeros(5)}
    d1 = L.random_directions(state, ["a", "b"], 2, seed=7, norm=0.5)
    d2 = L.random_directions(state, ["a", "b"], 2, seed=7, norm=0.5)
    for d, e in zip(d1, d2):
        assert float(sum((t**2).sum() for t in d.values())) ** 0.5 == pytest.approx(0.5)
        assert all(torch.equal(d[k], e[k]) for k in d)
    assert not torch.equal(d1[0]["a"], d1[1]["a"])


# ----------------------------------------------------------------------------- the shipped summaries


@pytest.mark.parametrize("section", SECTIONS)
def test_shipped_claims_are_recomputed_from_their_numbers(section):
    path = SHIPPED / f"{section}.json"
    if not path.exists():
        pytest.skip(f"{path} not shipped yet (python -m core world --lab writes it)")
    s = json.loads(path.read_text())
    assert L.recheck(section, s) == s["holds"]
    if section == "spawn":
        assert s["barrier_definition"] == "frankle"  # the definition of their 2% stability criterion
        assert s["loss_barrier"] == [metrics.loss_barrier(r, s["alphas"], "frankle") for r in s["loss"]]
        assert s["error_barrier"] == [metrics.accuracy_barrier(r, s["alphas"], "frankle") for r in s["accuracy"]]
        assert s["error_barrier_chord"] == [metrics.accuracy_barrier(r, s["alphas"], "chord") for r in s["accuracy"]]


def test_shipped_summaries_are_small():
    files = list(SHIPPED.glob("*")) if SHIPPED.exists() else []
    assert sum(f.stat().st_size for f in files) < 1_000_000
