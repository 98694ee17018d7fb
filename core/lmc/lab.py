"""The LMC lab (issue 15): spawn-at-k, stochastic weight averaging and model soups, from weight sets.

Pure computation: every function takes weight sets (state dicts), a model to load them into and
decoded images, and returns numbers; `core.worlds.build.lab` trains the weight sets and stores the summaries
this module makes (`spawn_summary`, `swa_summary`, `soups_summary`) as JSON under data/world/lab/.
Each summary keeps the numbers its claims come from and the claims as computed booleans ("holds"),
so text in the app and the notebooks follows the numbers; `recheck` recomputes every claim of a
stored summary from its stored numbers (the tests run it on the shipped files).

  - spawn at k (Frankle et al., 2020): the loss and error barrier on the linear path between two
    networks that share their first k steps, in Frankle et al.'s definition (the path's worst value
    minus the mean of its ends); "stable" means an error barrier below 2%, as in their paper.
  - SWA (Izmailov et al., 2018): snapshots of a constant-learning-rate phase and their average,
    compared on loss and accuracy (ID and OOD) and on flatness, measured the same way for every model
    (`flatness`: mean loss rise along fixed random directions of one fixed norm).
  - soups (Wortsman et al., 2022, "Model soups"): the uniform average of several fine-tunes, the
    greedy soup chosen on a held-out ID split, and the pairwise barrier matrix of the ingredients.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from core.lmc.plane import average_weights, recalibrate_batchnorm
from core.lmc.sections import SECTIONS, baseline_points, read_sections  # noqa: F401  (the readers' names, here too)
from core.model.evaluate import predict
from core.results import metrics
from core.wiseft.interpolate import StateDict

STABLE_ERROR_BARRIER = 0.02  # Frankle et al.'s criterion: a path is "stable" below a 2% error barrier
SPAWN_DEFINITION = "frankle"  # spawn barriers: the path's worst value minus the mean of its ends (metrics.barrier)
LAB_FORMAT = 1


@dataclass(frozen=True)
class EvalSet:
    """Decoded images of one evaluation set: images (N, 3, H, W), labels (N,)."""

    name: str
    images: torch.Tensor
    labels: np.ndarray


# ----------------------------------------------------------------------------- evaluation


@torch.no_grad()
def evaluate(
    model: nn.Module,
    state: StateDict,
    sets: Sequence[EvalSet],
    calibration: torch.Tensor | None = None,
    batch_size: int = 500,
) -> dict[str, tuple[float, float]]:
    """{set name: (loss in nats, accuracy)} of `model` loaded with `state`; with `calibration` images the
    BatchNorm statistics are recomputed on them first (otherwise they are the state's own)."""
    model.load_state_dict(state)
    if calibration is not None:
        recalibrate_batchnorm(model, calibration, batch_size)
    out = {}
    for s in sets:
        logits = predict(model.eval(), s.images, batch_size, torch.device("cpu")).numpy()  # (N, C)
        out[s.name] = (float(metrics.cross_entropy(logits, s.labels)), float(metrics.accuracy(logits, s.labels)))
    return out


# ----------------------------------------------------------------------------- spawn at k


def spawn_summary(
    k_steps: Sequence[int], alphas: Sequence[float], loss: np.ndarray, accuracy: np.ndarray, steps_per_epoch: int
) -> dict:
    """Barriers against the spawn step k from the per-alpha curves, (K, A) each, and the claims.

    `loss_barrier` and `error_barrier` follow Frankle et al. (SPAWN_DEFINITION), whose 2% criterion the
    claims use; the chord versions (Entezari et al.) are stored beside them for comparison.
    """
    loss, accuracy = np.asarray(loss, dtype=np.float64), np.asarray(accuracy, dtype=np.float64)
    lb, eb = spawn_barriers(loss, accuracy, alphas)
    return {
        "k_steps": list(map(int, k_steps)),
        "k_epochs": [k / steps_per_epoch for k in k_steps],
        "steps_per_epoch": steps_per_epoch,
        "alphas": list(map(float, alphas)),
        "loss": loss.tolist(),
        "accuracy": accuracy.tolist(),
        "barrier_definition": SPAWN_DEFINITION,
        "loss_barrier": lb,
        "error_barrier": eb,
        "loss_barrier_chord": [metrics.loss_barrier(row, alphas, "chord") for row in loss],
        "error_barrier_chord": [metrics.accuracy_barrier(row, alphas, "chord") for row in accuracy],
        "stable_error_barrier": STABLE_ERROR_BARRIER,
        "holds": spawn_claims(lb, eb),
    }


def spawn_barriers(loss: np.ndarray, accuracy: np.ndarray, alphas: Sequence[float]) -> tuple[list[float], list[float]]:
    """Loss and error barrier of every spawn path, (K, A) curves each, in Frankle et al.'s definition."""
    return (
        [metrics.loss_barrier(row, alphas, SPAWN_DEFINITION) for row in np.asarray(loss, dtype=np.float64)],
        [metrics.accuracy_barrier(row, alphas, SPAWN_DEFINITION) for row in np.asarray(accuracy, dtype=np.float64)],
    )


def spawn_claims(loss_barrier: Sequence[float], error_barrier: Sequence[float]) -> dict[str, bool]:
    """The issue's bars as booleans: barriers fall with k (never rise by more than 0.5 pp / 0.01 nats
    from one k to the next, and end below where they start), > 1 nat at k = 0, stable at the largest k."""
    lb, eb = np.asarray(loss_barrier), np.asarray(error_barrier)
    return {
        "error_barrier_falls_with_k": bool(eb[-1] < eb[0] and np.all(np.diff(eb) <= 0.005)),
        "loss_barrier_falls_with_k": bool(lb[-1] < lb[0] and np.all(np.diff(lb) <= 0.01)),
        "loss_barrier_above_1_nat_at_k0": bool(lb[0] > 1.0),
        "unstable_at_k0": bool(eb[0] >= STABLE_ERROR_BARRIER),
        "stable_at_largest_k": bool(eb[-1] < STABLE_ERROR_BARRIER),
    }


# ----------------------------------------------------------------------------- SWA and flatness


def random_directions(state: StateDict, keys: Sequence[str], n: int, seed: int, norm: float) -> list[dict]:
    """n Gaussian directions over the tensors `keys` (the trained parameters), each of global L2 norm
    `norm`, drawn from a generator seeded with (seed, i): the same directions for every model."""
    dirs = []
    for i in range(n):
        gen = torch.Generator().manual_seed(seed * 1000 + i)
        d = {k: torch.randn(state[k].shape, generator=gen) for k in keys}
        scale = norm / float(torch.sqrt(sum((t.double() ** 2).sum() for t in d.values())))
        dirs.append({k: t * scale for k, t in d.items()})
    return dirs


@torch.no_grad()
def flatness(
    model: nn.Module, state: StateDict, directions: Sequence[dict], data: EvalSet, calibration: torch.Tensor
) -> list[float]:
    """Loss rise on `data` at state + d for each direction d (BatchNorm statistics recomputed once on
    `calibration` at the state itself and kept for its perturbed copies): (D,) nats."""
    model.load_state_dict(state)
    recalibrate_batchnorm(model, calibration)
    recal = {k: v.clone() for k, v in model.state_dict().items()}  # the state with its own statistics
    base = evaluate(model, recal, [data])[data.name][0]
    rises = []
    for d in directions:
        moved = {k: v + d[k] if k in d else v for k, v in recal.items()}
        rises.append(evaluate(model, moved, [data])[data.name][0] - base)
    return rises


def avg_ood(row: dict, ood: Sequence[str]) -> tuple[float, float]:
    """(mean loss, mean accuracy) over the OOD sets of one model's {set: (loss, acc)} row."""
    return float(np.mean([row[s][0] for s in ood])), float(np.mean([row[s][1] for s in ood]))


def swa_summary(
    names: Sequence[str], rows: Sequence[dict], rises: Sequence[Sequence[float]], id_set: str, ood: Sequence[str]
) -> dict:
    """The SWA comparison: one entry per model (names[-1] is the average, names[-2] the final snapshot,
    the others the earlier snapshots and the start), and the claims computed from them."""
    models = []
    for name, row, rise in zip(names, rows, rises):
        ood_loss, ood_acc = avg_ood(row, ood)
        models.append(
            {
                "name": name,
                "id_loss": row[id_set][0],
                "id_acc": row[id_set][1],
                "ood_loss": ood_loss,
                "ood_acc": ood_acc,
                "per_set": {k: list(v) for k, v in row.items()},
                "flatness": float(np.mean(rise)),
                "flatness_per_direction": list(map(float, rise)),
            }
        )
    return {"id_set": id_set, "ood_sets": list(ood), "models": models, "holds": swa_claims(models)}


def swa_claims(models: Sequence[dict]) -> dict[str, bool]:
    """Average (last entry) against the final snapshot (second to last) and against every snapshot
    (entries 1 .. -2; entry 0 is the phase's start). Lower loss, higher accuracy, smaller rise = better."""
    avg, final, snaps = models[-1], models[-2], models[1:-1]
    return {
        "average_beats_final_on_id_loss": avg["id_loss"] < final["id_loss"],
        "average_beats_final_on_id_acc": avg["id_acc"] > final["id_acc"],
        "average_beats_final_on_ood_loss": avg["ood_loss"] < final["ood_loss"],
        "average_beats_final_on_ood_acc": avg["ood_acc"] > final["ood_acc"],
        "average_beats_every_snapshot_on_id_loss": all(avg["id_loss"] < s["id_loss"] for s in snaps),
        "average_beats_every_snapshot_on_ood_acc": all(avg["ood_acc"] > s["ood_acc"] for s in snaps),
        "average_flatter_than_final": avg["flatness"] < final["flatness"],
        "average_flatter_than_every_snapshot": all(avg["flatness"] < s["flatness"] for s in snaps),
    }


# ----------------------------------------------------------------------------- soups


def greedy_soup(states: Sequence[StateDict], heldout_acc: Callable[[StateDict], float]) -> tuple[list[int], list[dict]]:
    """Wortsman et al.'s greedy soup: ingredients in decreasing order of held-out accuracy, each kept
    when the soup's held-out accuracy does not fall. `heldout_acc` must score on held-out ID data only.
    Returns (selected indices, the trace: one {"add", "acc", "kept"} per ingredient tried)."""
    scores = [heldout_acc(s) for s in states]
    order = sorted(range(len(states)), key=lambda i: -scores[i])
    chosen, best = [order[0]], scores[order[0]]
    trace = [{"add": order[0], "acc": best, "kept": True}]
    for i in order[1:]:
        acc = heldout_acc(average_weights([states[j] for j in chosen + [i]]))
        trace.append({"add": i, "acc": acc, "kept": acc >= best})
        if acc >= best:
            chosen, best = chosen + [i], acc
    return sorted(chosen), trace


def barrier_matrix(endpoint_loss: Sequence[float], midpoint_loss: dict[tuple[int, int], float]) -> np.ndarray:
    """(M, M) midpoint loss barriers L(0.5) - (L_i + L_j) / 2 from each pair's midpoint loss (i < j):
    symmetric, zero on the diagonal."""
    m = len(endpoint_loss)
    out = np.zeros((m, m))
    for (i, j), mid in midpoint_loss.items():
        out[i, j] = out[j, i] = mid - 0.5 * (endpoint_loss[i] + endpoint_loss[j])
    return out


def soup_prediction(matrix: np.ndarray, members: Sequence[int], tolerance: float) -> dict:
    """What the matrix says in advance of a soup: it should work when every pair of its members is
    connected (midpoint barrier <= tolerance nats)."""
    sub = np.asarray(matrix)[np.ix_(members, members)]
    worst = float(sub.max()) if len(members) > 1 else 0.0
    return {"max_pair_barrier": worst, "predicted_to_work": worst <= tolerance}


def soups_summary(
    names: Sequence[str],
    heldout: Sequence[tuple[float, float]],
    matrix: np.ndarray,
    soups: dict[str, dict],
    tolerance: float,
) -> dict:
    """The soups section from the ingredients' held-out (loss, accuracy), the barrier matrix and per soup
    (uniform, greedy: {"members", "heldout_loss", "heldout_acc"}): the matrix's prediction and three
    outcomes: "works" (held-out accuracy at least its best member's), "lower_loss" (held-out loss below
    its lowest member's: accuracy near 100% ties on a few images, the loss still separates) and
    "below_member_mean" (held-out loss at most its members' mean: what connected pairs promise)."""
    out = {}
    for key, soup in soups.items():
        best_acc = max(heldout[i][1] for i in soup["members"])
        losses = [heldout[i][0] for i in soup["members"]]
        out[key] = {
            **soup,
            "best_member_heldout_acc": best_acc,
            "best_member_heldout_loss": min(losses),
            "member_mean_heldout_loss": float(np.mean(losses)),
            "works": soup["heldout_acc"] >= best_acc,
            "lower_loss": soup["heldout_loss"] < min(losses),
            "below_member_mean": soup["heldout_loss"] <= float(np.mean(losses)),
            **soup_prediction(matrix, soup["members"], tolerance),
        }
    holds = {}
    for k, v in out.items():
        holds |= {
            f"{k}_soup_works": v["works"],
            f"{k}_soup_lower_heldout_loss_than_best_member": v["lower_loss"],
            f"{k}_soup_heldout_loss_at_most_member_mean": v["below_member_mean"],
            f"matrix_predicts_{k}_soup": v["works"] == v["predicted_to_work"],
            f"matrix_predicts_{k}_soup_vs_member_mean": v["below_member_mean"] == v["predicted_to_work"],
        }
    return {
        "ingredients": list(names),
        "ingredient_heldout_loss": [float(h[0]) for h in heldout],
        "ingredient_heldout_acc": [float(h[1]) for h in heldout],
        "barrier_matrix": np.asarray(matrix).tolist(),
        "barrier_tolerance": tolerance,
        "soups": out,
        "holds": holds,
    }


def soup_test_claims(points: Sequence[dict], wiseft: Sequence[dict]) -> dict[str, bool]:
    """Claims on the test sets: each soup against the best ingredient (ID and average OOD accuracy)
    and against WiSE-FT's curve (its best average OOD accuracy over alpha)."""
    ingredients = [p for p in points if p["kind"] == "ingredient"]
    best_id, best_ood = max(p["id_acc"] for p in ingredients), max(p["ood_acc"] for p in ingredients)
    wise_ood = max(w["ood_acc"] for w in wiseft)
    out = {}
    for p in points:
        if p["kind"] != "ingredient":
            out[f"{p['kind']}_soup_beats_best_ingredient_on_id_acc"] = p["id_acc"] > best_id
            out[f"{p['kind']}_soup_beats_best_ingredient_on_ood_acc"] = p["ood_acc"] > best_ood
            out[f"{p['kind']}_soup_beats_wiseft_best_ood_acc"] = p["ood_acc"] > wise_ood
    return out


# ----------------------------------------------------------------------------- stored summaries


def recheck(section: str, summary: dict) -> dict[str, bool]:
    """Every claim of a stored summary recomputed from its stored numbers (equal to summary["holds"]
    when the file is consistent)."""
    if section == "spawn":
        return spawn_claims(*spawn_barriers(summary["loss"], summary["accuracy"], summary["alphas"]))
    if section == "swa":
        return swa_claims(summary["models"])
    if section == "soups":
        soups = {
            k: {key: v[key] for key in ("members", "heldout_loss", "heldout_acc")} for k, v in summary["soups"].items()
        }
        heldout = list(zip(summary["ingredient_heldout_loss"], summary["ingredient_heldout_acc"]))
        holds = soups_summary(
            summary["ingredients"], heldout, np.asarray(summary["barrier_matrix"]), soups, summary["barrier_tolerance"]
        )["holds"]
        return holds | soup_test_claims(summary["points"], summary["wiseft"])
    raise ValueError(f"unknown lab section {section!r}; the sections are spawn, swa, soups")
