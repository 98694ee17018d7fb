"""Several straight paths in weight space moved by one slider: the payload of the live view's paths mode.

The lesson's "four paths, one slider" (two scratch inits, a shared start, two fine-tunes, zero-shot to
fine-tuned: `run_panel` per path run) and the lab page's path families (spawn at every k, each alignment
method: `spawn_panel`, `align_panel`) become PathPanels (explorer/payload.py) that live.js draws side by
side, each with its loss (the barrier shaded above the chord) and accuracy. Only stored numbers are read.
"""

from __future__ import annotations

import numpy as np

from core.results import metrics
from explorer import charts, state
from explorer.lab_charts import k_text
from explorer.live import json_floats
from explorer.numbers import pct
from explorer.payload import PathCurve, PathPanel, PathsPayload

FAMILY = ("#9ecae1", "#6baed6", "#3182bd", "#08519c", "#08306b")  # light to dark: spawn points k in order


def curve(
    label: str, color: str, loss=None, acc=None, barrier: float | None = None, width: float = 3, shade: bool = False
) -> PathCurve:
    return {
        "label": label,
        "color": color,
        "width": width,
        "loss": None if loss is None else json_floats(loss),
        "acc": None if acc is None else json_floats(acc),
        "barrier": None if barrier is None else round(float(barrier), 6),
        "shade": shade,
    }


def run_panel(ra: state.RunArrays, panel_id: str, title: str) -> PathPanel:
    """A path run's ID loss and accuracy (and its average OOD accuracy, dashed, when it has OOD sets); the
    barrier is the run view's: the largest rise of the loss above its chord (metrics.loss_barrier)."""
    s = ra.sets[ra.id_name]
    barrier = metrics.loss_barrier(s.loss, ra.alphas)
    curves = [
        curve(f"{charts.pretty(ra.id_name)} (ID)", charts.ID_COLOR, s.loss, s.accuracy, barrier, shade=barrier > 0)
    ]  # shaded only when the loss rises above its chord
    if ra.ood_names:
        curves.append(curve("avg OOD", charts.AVG_COLOR, acc=ra.accuracy_curves()[state.AVG_OOD], width=2))
    worst = int(np.argmin(s.accuracy))
    note = (
        f"ID loss barrier <b>{barrier:.3f} nats</b> (the largest rise above the dashed chord, shaded). "
        f"ID accuracy {pct(s.accuracy[0])} at α = 0, {pct(s.accuracy[-1])} at α = 1"
        + (
            f", {pct(s.accuracy[worst])} at its lowest (α = {ra.alphas[worst]:.2f})."
            if 0 < worst < len(s.accuracy) - 1
            else ", never lower in between."
        )
    )
    if ra.ood_names:
        ood = ra.accuracy_curves()[state.AVG_OOD]
        best = int(np.argmax(ood))
        note += f" Average OOD accuracy (dashed) peaks at α = {ra.alphas[best]:.2f}: {pct(ood[best])}."
    e0, e1 = ra.run.endpoints
    return {
        "id": panel_id,
        "title": title,
        "ends": [e0, e1],
        "alphas": json_floats(ra.alphas),
        "curves": curves,
        "note": note,
    }


def spawn_panel(spawn: dict) -> PathPanel:
    """Spawn at k (data/world/lab/spawn.json): the path from the parent's end to each child forked at step k."""
    per_epoch, ks = spawn["steps_per_epoch"], spawn["k_steps"]

    curves = [
        curve(
            f"k = {k_text(k, per_epoch)}", FAMILY[i % len(FAMILY)], loss, acc, barrier, width=2 + (i == 0), shade=i == 0
        )
        for i, (k, loss, acc, barrier) in enumerate(zip(ks, spawn["loss"], spawn["accuracy"], spawn["loss_barrier"]))
    ]
    line = 100 * spawn["stable_error_barrier"]
    note = (
        f"One curve per spawn point k, on {spawn['eval']['n']} {spawn['eval']['set']} images. Loss barriers (the "
        "path's worst loss minus the mean of its ends, Frankle et al.): "
        + ", ".join(f"{c['label']} {b:.3f}" for c, b in zip(curves, spawn["loss_barrier"]))
        + f" nats; a pair is stable when its error barrier is below {line:g}%."
    )
    return {
        "id": "spawn",
        "title": "Spawn at k: parent → child",
        "ends": ["the parent", "the child split at k"],
        "alphas": json_floats(spawn["alphas"]),
        "curves": curves,
        "note": note,
    }


def align_panel(align: dict, stats: str = "recomputed") -> PathPanel:
    """Permutation alignment (data/world/lab/align.json): scratch A to scratch B, unaligned and after each method."""
    from explorer.lab_text import METHOD_NAMES

    colors = ["#7f7f7f", *charts.OOD_COLORS]
    curves = []
    for i, (m, v) in enumerate(align["methods"].items()):
        c = v["curves"][stats]
        acc = None if c.get("error") is None else 1 - np.asarray(c["error"], dtype=float) / 100  # stored in %
        loss = np.asarray(c["loss"], dtype=float)
        curves.append(
            curve(
                METHOD_NAMES.get(m, m),
                colors[i % len(colors)],
                loss,
                acc,
                metrics.loss_barrier(loss, np.asarray(align["alphas"])),
                width=3 if i == 0 else 2,
                shade=i == 0,
            )
        )
    note = (
        "Scratch B's units permuted to match A's by each method, BatchNorm statistics " + stats + ". Loss barriers "
        "above the chord: " + ", ".join(f"{c['label']} {c['barrier']:.3f}" for c in curves) + " nats."
    )
    return {
        "id": "align",
        "title": "Scratch A → B, aligned",
        "ends": ["scratch A", "scratch B (permuted)"],
        "alphas": json_floats(align["alphas"]),
        "curves": curves,
        "note": note,
    }


def paths_payload(title: str, panels: list[PathPanel], alpha: float = 0.5) -> PathsPayload:
    """The live view's paths mode: the slider runs over every panel's grid together."""
    grid = sorted({round(a, 6) for p in panels for a in p["alphas"]})
    return {"mode": "paths", "title": title, "alphas": grid, "alpha": float(alpha), "panels": panels}
