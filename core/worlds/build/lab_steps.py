"""The four steps of the LMC lab (spawn at k, SWA, soups, alignment; see core.worlds.build.lab): each trains
in the work folder, evaluates with core.lmc and writes one summary to data/world/lab/. Notes: docs/lab-notes.md."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from core.lmc import lab as L
from core.lmc.align import write_alignment
from core.lmc.plane import average_weights, path_loss
from core.model.clip import transforms_from_cfg
from core.results import report
from core.runs import artifacts
from core.runs.create import create_path_run
from core.runs.identity import file_digest, json_digest, state_digest
from core.runs.weights import load_classifier, load_weights
from core.train.finetune import FinetuneConfig, finetune
from core.worlds.build.config import OOD_SPLITS
from core.worlds.build.lab import (
    as_shipped,
    calibration,
    eval_set,
    fresh,
    half_copy,
    lab_dir,
    section_config,
    snapshots,
    write_section,
)
from core.worlds.build.recipes import scratch_init, trained, zeroshot


def _model(run: Path):
    """A run's classifier (to load weight sets into) and its eval transform."""
    model, pp_cfg = load_classifier(run)
    return model, transforms_from_cfg(pp_cfg)[1]


# ----------------------------------------------------------------------------- spawn at k


def spawn_recipe(b) -> FinetuneConfig:
    """The spawn experiment's recipe: the world's scratch recipe with LabConfig.spawn_recipe's overrides."""
    return replace(b.scratch, **dict(b.lab.spawn_recipe))


def spawn_config(b) -> dict:
    """What spawn.json depends on: the spawn settings and the whole recipe (a changed recipe makes it stale)."""
    return section_config(
        b, ("spawn_recipe", "spawn_k", "spawn_seed", "alphas", "n_id", "n_calibration"), spawn_recipe(b)
    )


def spawn_parent(b, init: Path, recipe: FinetuneConfig, tag: str) -> Path:
    """The parent: the spawn recipe from `init` with data order seed 0, trained in segments that stop at
    each k > 0, so that it keeps a train state at exactly those steps (a resume is bit-identical on
    CPU, core.train.finetune; checkpointing every gcd(k) steps would save 378 for k = 1)."""
    run = b.work / f"lab-parent-{tag}"
    cfg = replace(recipe, seed=b.scratch.seed, checkpoint_every=10**9, keep_checkpoints=0)  # saves at each stop
    if not run.exists():
        shutil.copytree(init, run)
    for k in sorted({k for k in b.lab.spawn_k if k > 0}):
        ckpt = run / "checkpoints" / f"step_{k:07d}.safetensors"
        if not ckpt.exists():
            finetune(run, b.train_set(), replace(cfg, max_steps=k))
        if not ckpt.exists():
            raise RuntimeError(
                f"{run} went past step {k} without its train state (an interrupted older "
                f"build?): delete {run} and run the lab again"
            )
    done = (run / "weights" / "finetuned.safetensors").exists() and artifacts.read_manifest(run).get(
        "finetune", {}
    ).get("max_steps", 0) is None
    if not done:
        finetune(run, b.train_set(), cfg)
    return run


def spawn_children(b) -> tuple[Path, Path, list[Path]]:
    """The parent (`spawn_parent`) and one child per k forked from its train state at step k and
    trained to the end with seed `spawn_seed` under the same recipe. Work runs are named by the
    recipe's digest, so a changed recipe never reuses another recipe's networks. Returns (init run,
    parent run, children runs)."""
    lab, width, recipe = b.lab, b.pretrain.vision_width, spawn_recipe(b)
    tag = json_digest(recipe.as_record(), length=8)
    init = scratch_init(b, width, b.scratch.seed)
    parent = spawn_parent(b, init, recipe, tag)
    children = []
    for k in lab.spawn_k:
        fork = None if k == 0 else parent / "checkpoints" / f"step_{k:07d}.safetensors"
        children.append(
            trained(
                b,
                f"lab-spawn-{tag}-k{k:04d}",
                init,
                b.train_set(),
                replace(recipe, seed=lab.spawn_seed),
                init_from=fork,
            )
        )
    return init, parent, children


def spawn_step(b) -> Path:
    """Each child's path to the parent's own end (the seed-0 child): two networks that share k steps."""
    out = lab_dir(b) / "spawn.json"
    recipe, config = spawn_recipe(b), spawn_config(b)
    inputs = {"arch": file_digest(b.model_dir / "open_clip_config.json", length=16)}
    if fresh(out, config, inputs):
        return out
    t0 = time.perf_counter()
    init, parent, children = spawn_children(b)
    model, tf = _model(init)
    data, cal = eval_set(f"world:id_test:{b.n_test}", b.lab.n_id, tf), calibration(b, tf)
    theta_a = as_shipped(load_weights(parent / "weights" / "finetuned.safetensors"))
    curves = [
        path_loss(
            model,
            theta_a,
            as_shipped(load_weights(c / "weights" / "finetuned.safetensors")),
            b.lab.alphas,
            data.images,
            data.labels,
            calibration=cal,
            batch_size=500,
        )
        for c in children
    ]
    steps_per_epoch = -(-b.n_train // recipe.batch_size)
    summary = L.spawn_summary(
        b.lab.spawn_k, b.lab.alphas, np.array([c[0] for c in curves]), np.array([c[1] for c in curves]), steps_per_epoch
    )
    summary["eval"] = {
        "set": data.name,
        "n": len(data.labels),
        "batchnorm": f"recomputed at every alpha on the first {len(cal)} id_train images",
    }
    summary["weights"] = {
        "parent": file_digest(parent / "weights" / "finetuned.safetensors", length=16),
        "children": [file_digest(c / "weights" / "finetuned.safetensors", length=16) for c in children],
    }
    return write_section(out, "spawn", config, inputs, summary, time.perf_counter() - t0)


# ----------------------------------------------------------------------------- SWA


def swa_snapshots(b, start: Path) -> list[dict]:
    """A constant-learning-rate phase from `start`: finetune's cosine schedule over a nominal 1,000
    epochs, stopped after swa_steps (the rate stays within 1e-5 of swa_lr), no warmup; its
    checkpoints' weights, float16 like every shipped weight set."""
    lab = b.lab
    cfg = replace(
        b.finetune,
        lr=lab.swa_lr,
        warmup_steps=0,
        epochs=1000,
        max_steps=lab.swa_steps,
        checkpoint_every=lab.swa_every,
        keep_checkpoints=0,
    )
    run = trained(b, "lab-swa", zeroshot(b), b.train_set(), cfg, init_from=start)
    return [as_shipped(s) for s in snapshots(run)]


def swa_step(b) -> Path:
    out = lab_dir(b) / "swa.json"
    start = b.runs / "world-e2e" / "weights" / "finetuned.safetensors"
    keys = (
        "swa_lr",
        "swa_steps",
        "swa_every",
        "flat_directions",
        "flat_seed",
        "flat_radius",
        "n_flat",
        "n_id",
        "n_ood",
        "n_calibration",
    )
    config = section_config(b, keys, b.finetune)
    inputs = {
        "start": file_digest(start, length=16),
        "model": file_digest(b.model_dir / "open_clip_model.safetensors", length=16),
    }
    if fresh(out, config, inputs):
        return out
    t0 = time.perf_counter()
    snaps = swa_snapshots(b, start)
    model, tf = _model(b.runs / "world-e2e")
    theta_start = load_weights(start)
    states = [theta_start, *snaps, average_weights(snaps)]
    names = (
        ["start (world-e2e fine-tuned)"]
        + [f"snapshot {i + 1} (step {(i + 1) * b.lab.swa_every})" for i in range(len(snaps))]
        + ["average"]
    )
    cal = calibration(b, tf)
    sets = [eval_set(f"world:id_test:{b.n_test}", b.lab.n_id, tf)]
    sets += [eval_set(f"world:{s}:{b.n_test}", b.lab.n_ood, tf) for s in OOD_SPLITS]
    flat = L.EvalSet("id_test", sets[0].images[: b.lab.n_flat], sets[0].labels[: b.lab.n_flat])
    params = [k for k, _ in model.named_parameters()]
    norm = float(sum((theta_start[k].double() ** 2).sum() for k in params) ** 0.5) * b.lab.flat_radius
    dirs = L.random_directions(theta_start, params, b.lab.flat_directions, b.lab.flat_seed, norm)
    rows = [L.evaluate(model, s, sets, cal) for s in states]
    rises = [L.flatness(model, s, dirs, flat, cal) for s in states]
    summary = L.swa_summary(names, rows, rises, "id_test", list(OOD_SPLITS))
    summary["flatness_norm"] = norm
    summary["weights"] = {"snapshots": [state_digest(s) for s in snaps]}  # train-state files also hold paths
    summary["eval"] = {
        "n_id": b.lab.n_id,
        "n_ood": b.lab.n_ood,
        "n_flat": len(flat.labels),
        "batchnorm": f"recomputed for every model on the first {len(cal)} id_train images",
    }
    return write_section(out, "swa", config, inputs, summary, time.perf_counter() - t0)


# ----------------------------------------------------------------------------- soups


SHIPPED_INGREDIENTS = ("world-e2e (lr 2e-3, seed 0)", "finetune-seed1 (lr 2e-3, seed 1)")


def shipped_ingredients(b) -> list[Path]:
    return [
        b.runs / "world-e2e" / "weights" / "finetuned.safetensors",
        b.out / "world" / "weights" / "finetune-seed1.safetensors",
    ]


def soup_ingredients(b) -> tuple[list[str], list[Path]]:
    """world-e2e's and finetune-seed1's shipped weights, then one fine-tune per recipe (stored float16)."""
    names, files = list(SHIPPED_INGREDIENTS), shipped_ingredients(b)
    for name, overrides in b.lab.soup_recipes:
        cfg = replace(b.finetune, keep_checkpoints=1, **dict(overrides))
        slug = "lab-soup-" + "".join(c if c.isalnum() else "-" for c in name)
        names.append(name)
        files.append(half_copy(trained(b, slug, zeroshot(b), b.train_set(), cfg)))
    return names, files


def heldout_set(b, tf) -> L.EvalSet:
    """id_train examples n_train .. n_train + n_heldout: the split's continuation, which no fine-tune saw
    (they train on world:id_train:n_train, its first n_train examples)."""
    return eval_set(f"world:id_train:{b.n_train + b.lab.n_heldout}", b.lab.n_heldout, tf, "heldout", start=b.n_train)


def soups_step(b) -> Path:
    out = lab_dir(b) / "soups.json"
    e2e = artifacts.Run(b.runs / "world-e2e")
    config = section_config(b, ("soup_recipes", "n_heldout", "barrier_tolerance"), b.finetune)
    inputs = {
        "zeroshot": file_digest(e2e.weights_path("zeroshot"), length=16),
        "metrics": file_digest(artifacts.metrics_file(e2e.path, e2e.manifest), length=16),
        **{f"ingredient {i}": file_digest(f, length=16) for i, f in enumerate(shipped_ingredients(b))},
    }
    if fresh(out, config, inputs):
        return out
    t0 = time.perf_counter()
    names, files = soup_ingredients(b)
    model, tf = _model(e2e.path)
    held = heldout_set(b, tf)
    states = [load_weights(f) for f in files]
    ends = [L.evaluate(model, s, [held])["heldout"] for s in states]
    mids = {
        (i, j): L.evaluate(model, average_weights([states[i], states[j]]), [held])["heldout"][0]
        for i in range(len(states))
        for j in range(i + 1, len(states))
    }
    matrix = L.barrier_matrix([e[0] for e in ends], mids)
    uniform = average_weights(states)
    members, trace = L.greedy_soup(states, lambda s: L.evaluate(model, s, [held])["heldout"][1])
    greedy = average_weights([states[i] for i in members])
    soups = {"uniform": {"members": list(range(len(states)))}, "greedy": {"members": members, "trace": trace}}
    for key, state in (("uniform", uniform), ("greedy", greedy)):
        soups[key]["heldout_loss"], soups[key]["heldout_acc"] = L.evaluate(model, state, [held])["heldout"]
    summary = L.soups_summary(names, ends, matrix, soups, b.lab.barrier_tolerance)
    summary["heldout"] = {
        "spec": f"world:id_train:{b.n_train + b.lab.n_heldout}",
        "start": b.n_train,
        "n": b.lab.n_heldout,
        "ids": [f"world:id_train/{b.n_train}", f"world:id_train/{b.n_train + b.lab.n_heldout - 1}"],
        "fine-tunes trained on": f"world:id_train:{b.n_train}",
    }
    summary["weights"] = {"ingredients": [file_digest(f, length=16) for f in files]}
    summary |= test_points(b, model, tf, e2e, names, states, uniform, greedy)
    summary["holds"] |= L.soup_test_claims(summary["points"], summary["wiseft"])
    return write_section(out, "soups", config, inputs, summary, time.perf_counter() - t0)


def test_points(b, model, tf, e2e, names, states, uniform, greedy) -> dict:
    """Every ingredient and soup on the sweep's test sets (full n_test each, BatchNorm statistics
    averaged with the weights, as the sweep does), and world-e2e's WiSE-FT curve from its metrics."""
    sets = [eval_set(f"world:id_test:{b.n_test}", b.n_test, tf)]
    sets += [eval_set(f"world:{s}:{b.n_test}", b.n_test, tf) for s in OOD_SPLITS]
    models = [(n, "ingredient", s) for n, s in zip(names, states)] + [
        ("uniform soup", "uniform", uniform),
        ("greedy soup", "greedy", greedy),
    ]
    points = []
    for name, kind, state in models:
        row = L.evaluate(model, state, sets)
        points.append(
            {
                "name": name,
                "kind": kind,
                "id_acc": row["id_test"][1],
                "ood_acc": L.avg_ood(row, OOD_SPLITS)[1],
                "per_set": {k: list(v) for k, v in row.items()},
            }
        )
    grid = report.accuracy_grid(e2e)  # (A,) per set and avg_ood, from the sweep's metrics
    wiseft = [
        {"alpha": float(a), "id_acc": float(grid[e2e.id_dataset][i]), "ood_acc": float(grid["avg_ood"][i])}
        for i, a in enumerate(e2e.alphas)
    ]
    return {"points": points, "wiseft": wiseft}


def align_pair(b) -> tuple[Path, dict]:
    """Two models trained from scratch at width `align_width` with the world's scratch recipe (init and data
    order seeds 0 and 1, like scratch-a and scratch-b), stored float16, joined by a path run in the work
    folder. Returns the run and the pair's description (stored in align.json)."""
    from core.worlds.build.recipes import scratch_model

    width, recipe = b.lab.align_width, b.scratch
    ends = []
    for end, seed in (("a", recipe.seed), ("b", recipe.seed + 1)):
        ends.append(half_copy(scratch_model(b, f"lab-align-w{width}-{end}", width, replace(recipe, seed=seed))))
    run = b.work / f"lab-align-w{width}-path"
    if not (run / artifacts.MANIFEST).exists():
        create_path_run(
            run,
            ends[0].parents[1],
            *ends,
            (f"from scratch, width {width}, init A", f"from scratch, width {width}, init B"),
            share_weights=True,
        )
    pair = {
        "width": width,
        "seeds": [recipe.seed, recipe.seed + 1],
        "recipe": recipe.as_record(),
        "n_train": b.n_train,
        "stored": "float16",
        "world_width": b.pretrain.vision_width,
    }
    return run, json.loads(json.dumps(pair))


def align_step(b) -> Path:
    """Issue 15.3: the width-`align_width` scratch pair aligned by core.lmc.align (skipped while align.json
    is current: same weights, config, eval set and pair)."""
    run, pair = align_pair(b)
    return write_alignment(lab_dir(b), run, b.lab.align, eval_set=f"world:id_test:{b.n_test}", pair=pair)
