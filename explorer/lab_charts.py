"""Figures of the LMC lab (data/world/lab/*.json, written by `make world`), shared by the app's lab page
and notebooks 04 and 06. Plotly and numpy only; each function takes one stored section (a dict) as
`core.worlds.build.lab` wrote it and returns a go.Figure:

    fig = spawn_barriers(read_section(root, "spawn"))
"""

from __future__ import annotations

import textwrap

import numpy as np
import plotly.graph_objects as go

from core.results import metrics
from explorer.charts import BASE_LAYOUT, ID_COLOR, OOD_COLORS, axis_range, baseline_trace, figure, logit_ticks, scatter
from explorer.lab_text import METHOD_NAMES

STABLE_COLOR, UNSTABLE_COLOR = "#2ca02c", "#d62728"


def k_text(steps: int, per_epoch: int) -> str:
    """A spawn point as read: '0 (init)', '3 steps', '2 epochs' (steps within the first epoch)."""
    if steps == 0:
        return "0 (init)"
    if steps < per_epoch:
        return f"{steps} step" + ("" if steps == 1 else "s")
    epochs = steps / per_epoch
    return f"{round(epochs, 2):g} epoch" + ("" if epochs == 1 else "s")


def _k_label(steps: int, per_epoch: int) -> str:
    return f"k = {k_text(steps, per_epoch)}"


def spawn_barriers(spawn: dict) -> go.Figure:
    """Error barrier (%, left axis) and loss barrier (nats, right axis) against the spawn point k, with
    Frankle et al.'s 2% stability line."""
    ticks = [k_text(k, spawn["steps_per_epoch"]) for k in spawn["k_steps"]]
    k = np.arange(len(ticks))  # evenly spaced: the spawn points span 1 step to epochs
    err, loss, line = (
        100 * np.asarray(spawn["error_barrier"]),
        np.asarray(spawn["loss_barrier"]),
        100 * spawn["stable_error_barrier"],
    )
    colors = [STABLE_COLOR if e < line else UNSTABLE_COLOR for e in err]
    data = [
        scatter(
            k,
            err,
            mode="lines+markers",
            name="error barrier (%)",
            line=dict(color=ID_COLOR, width=3),
            marker=dict(size=11, color=colors, line=dict(color="white", width=1)),
            customdata=ticks,
            hovertemplate="k = %{customdata}: %{y:.2f}%<extra>error barrier</extra>",
        ),
        scatter(
            k,
            loss,
            mode="lines+markers",
            name="loss barrier (nats, right axis)",
            yaxis="y2",
            line=dict(color="#ff7f0e", width=2, dash="dash"),
            marker=dict(size=8, symbol="square"),
            customdata=ticks,
            hovertemplate="k = %{customdata}: %{y:.3f} nats<extra>loss barrier</extra>",
        ),
    ]
    top = max(float(err.max()), line) * 1.25
    shapes = [
        dict(
            type="line", x0=0, x1=1, xref="paper", y0=line, y1=line, line=dict(color=STABLE_COLOR, dash="dot", width=2)
        )
    ]
    notes = [
        dict(
            x=1,
            xref="paper",
            y=line,
            xanchor="right",
            yanchor="bottom",
            showarrow=False,
            text=f"stable below {line:g}%",
            font=dict(color=STABLE_COLOR, size=13),
        )
    ]
    return figure(
        data,
        "Barrier between two children, by k",
        "k: training shared before the split",
        "error barrier (%)",
        height=440,
        shapes=shapes,
        annotations=notes,
        xaxis=dict(tickmode="array", tickvals=k.tolist(), ticktext=ticks),
        yaxis=dict(range=[0, top], rangemode="tozero"),
        yaxis2=dict(
            overlaying="y",
            side="right",
            showgrid=False,
            tickmode="auto",
            nticks=6,
            tickformat=".3~f",
            range=[0, max(float(loss.max()), 1e-3) * 1.25],
            title=dict(text="loss barrier (nats)"),
        ),
        margin=dict(l=60, r=70, t=60, b=40),
    )


def spawn_paths(spawn: dict) -> go.Figure:
    """ID error along the linear path between the two children, one curve per spawn point k."""
    alphas, acc = np.asarray(spawn["alphas"]), np.asarray(spawn["accuracy"], dtype=float)
    shades = [f"rgba(31, 59, 115, {0.3 + 0.7 * i / max(len(acc) - 1, 1):.2f})" for i in range(len(acc))]
    per_epoch = spawn["steps_per_epoch"]
    data = [
        scatter(
            alphas,
            100 * (1 - row),
            mode="lines+markers",
            name=_k_label(k, per_epoch),
            line=dict(color=c, width=3),
            hovertemplate="α=%{x:.2f}: %{y:.2f}% error<extra>" + _k_label(k, per_epoch) + "</extra>",
        )
        for row, k, c in zip(acc, spawn["k_steps"], shades)
    ]
    return figure(
        data,
        "The path from the parent to each child, for each k",
        "α (0 = the parent, 1 = the child split at k)",
        "ID error (%)",
        height=440,
    )


def swa_chart(swa: dict) -> go.Figure:
    """Each SWA snapshot and their average: ID loss (left) and average OOD accuracy (right); the numbers
    on the start, the final snapshot and the average."""
    models = swa["models"]
    names = [m["name"] for m in models]
    colors = [ID_COLOR if m["name"] == "average" else "#9aa5bd" for m in models]
    x = list(range(len(models)))
    named = lambda fmt: [fmt(m) if i in (0, len(models) - 2, len(models) - 1) else "" for i, m in enumerate(models)]
    data = [
        dict(
            type="bar",
            x=x,
            y=[m["id_loss"] for m in models],
            marker=dict(color=colors),
            name="ID loss",
            text=named(lambda m: f"{m['id_loss']:.4f}"),
            textposition="outside",
            cliponaxis=False,
            constraintext="none",
            textfont=dict(size=12),
            customdata=names,
            hovertemplate="%{customdata}: %{y:.4f} nats<extra>ID loss</extra>",
            showlegend=False,
        ),
        dict(
            type="bar",
            x=x,
            y=[100 * m["ood_acc"] for m in models],
            marker=dict(color=colors),
            name="avg OOD",
            xaxis="x2",
            yaxis="y2",
            text=named(lambda m: f"{100 * m['ood_acc']:.1f}"),
            textposition="outside",
            constraintext="none",
            textfont=dict(size=12),
            cliponaxis=False,
            customdata=names,
            showlegend=False,
            hovertemplate="%{customdata}: %{y:.1f}%<extra>avg OOD accuracy</extra>",
        ),
    ]
    ticks = dict(tickvals=x, ticktext=[_short(n) for n in names], tickangle=-45)
    ood = [100 * m["ood_acc"] for m in models]
    return figure(
        data,
        "SWA: snapshots of a constant-learning-rate phase and their average",
        "",
        "ID loss (nats)",
        height=460,
        xaxis=dict(domain=[0, 0.4], **ticks),
        xaxis2=dict(domain=[0.6, 1], anchor="y2", **ticks),
        yaxis2=dict(
            anchor="x2",
            title=dict(text="average OOD accuracy (%)"),
            gridcolor="#e8e8e8",
            range=[min(ood) - 2, max(ood) + 1.5],
        ),
        margin=dict(l=60, r=20, t=60, b=110),
    )


def _short(name: str) -> str:
    """'snapshot 3 (step 42)' -> 'snap 3'; 'start (world-e2e fine-tuned)' -> 'start'."""
    return name.split(" (")[0].replace("snapshot", "snap")


def barrier_heatmap(soups: dict) -> go.Figure:
    """The ingredients' pairwise midpoint loss barriers (nats): near zero means the pair averages well.
    Axes are numbered #1..#M (the long names are in the hover and the legend-like subtitle)."""
    names, m = soups["ingredients"], np.asarray(soups["barrier_matrix"], dtype=float)
    ticks = [f"#{i + 1}" for i in range(len(names))]
    top = max(float(np.abs(m).max()), 1e-3)
    hover = [[f"{names[i]}<br>{names[j]}" for j in range(len(names))] for i in range(len(names))]
    data = [
        dict(
            type="heatmap",
            z=m,
            x=ticks,
            y=ticks,
            text=[[f"{v:+.3f}" for v in row] for row in m],
            texttemplate="%{text}",
            textfont=dict(size=14),
            zmin=-top,
            zmax=top,
            colorscale="RdBu_r",
            customdata=hover,
            colorbar=dict(title=dict(text="nats")),
            hovertemplate="%{customdata}: %{z:.4f} nats<extra>midpoint barrier</extra>",
        )
    ]
    key = "<br>".join(f"#{i + 1} {n}" for i, n in enumerate(names))
    return figure(
        data,
        "Pairwise barriers of the ingredients",
        "",
        "",
        height=520,
        xaxis=dict(type="category", side="top"),
        yaxis=dict(type="category", autorange="reversed"),
        margin=dict(l=50, r=20, t=90, b=30 + 19 * len(names)),
        annotations=[
            dict(
                x=0,
                xref="paper",
                y=-0.03,
                yref="paper",
                yanchor="top",
                xanchor="left",
                align="left",
                showarrow=False,
                text=key,
                font=dict(size=13),
            )
        ],
    )


def _logit_axis(values: list[float]) -> dict:
    """A logit-scaled axis over `values`; a narrow range (fewer than 3 of the usual ticks) gets evenly
    spaced percentages (steps of 1, 2 or 5 points) instead."""
    lo, hi = axis_range([np.asarray(values)])
    tickvals, ticktext = logit_ticks(lo, hi)
    if len(tickvals) < 3:
        p_lo, p_hi = 100 / (1 + np.exp(-lo)), 100 / (1 + np.exp(-hi))
        step = next((s for s in (1, 2, 5, 10) if (p_hi - p_lo) / s <= 6), 20)
        percents = np.arange(np.ceil(p_lo / step) * step, p_hi, step)
        tickvals, ticktext = [float(metrics.logit(p / 100)) for p in percents], [f"{p:g}%" for p in percents]
    return dict(range=[lo, hi], tickvals=tickvals, ticktext=ticktext, zeroline=False, gridcolor="#e8e8e8")


def soups_scatter(soups: dict, baselines: list[tuple[str, float, float]] = ()) -> go.Figure:
    """Ingredients, soups and the WiSE-FT path: ID (x) against average OOD accuracy (y), each on its own
    logit axis (the points crowd near 100% ID: equal scales would squash them). With `baselines` (model, ID,
    avg OOD: core.lmc.lab.baseline_points) their linear fit in logit space is drawn and every point's effective
    robustness (OOD accuracy above the fit) is in its hover."""
    points, wise = soups["points"], soups["wiseft"]
    fit = metrics.fit_linear_trend([b[1] for b in baselines], [b[2] for b in baselines]) if len(baselines) > 1 else None
    er = (
        (lambda p: f"<br>ER {100 * metrics.effective_robustness(p['id_acc'], p['ood_acc'], fit):+.1f} pp")
        if fit
        else (lambda p: "")
    )
    symbols = {"ingredient": "circle-open", "uniform": "star", "greedy": "diamond"}
    data = [
        scatter(
            metrics.logit([w["id_acc"] for w in wise]),
            metrics.logit([w["ood_acc"] for w in wise]),
            mode="lines",
            name="WiSE-FT (α from 0 to 1)",
            line=dict(color=ID_COLOR, width=4),
            customdata=[[w.get("alpha", np.nan), 100 * w["id_acc"], 100 * w["ood_acc"]] for w in wise],
            hovertemplate="α=%{customdata[0]:.2f}<br>ID %{customdata[1]:.1f}%<br>OOD %{customdata[2]:.1f}%<extra>WiSE-FT</extra>",
        )
    ]
    for i, kind in enumerate(dict.fromkeys(p["kind"] for p in points)):
        group = [p for p in points if p["kind"] == kind]
        data.append(
            scatter(
                metrics.logit([p["id_acc"] for p in group]),
                metrics.logit([p["ood_acc"] for p in group]),
                mode="markers",
                name=kind + ("s" if kind == "ingredient" else " soup"),
                customdata=[[p.get("name", kind) + er(p), 100 * p["id_acc"], 100 * p["ood_acc"]] for p in group],
                marker=dict(
                    size=12 if kind == "ingredient" else 18,
                    symbol=symbols.get(kind, "circle"),
                    color=OOD_COLORS[i % len(OOD_COLORS)],
                    line=dict(width=2),
                ),
                hovertemplate="%{customdata[0]}<br>ID %{customdata[1]:.2f}%<br>OOD %{customdata[2]:.1f}%<extra></extra>",
            )
        )
    every = list(points) + list(wise)
    if fit is not None:
        data.append(baseline_trace(baselines, size=9))
        lo, hi = _logit_axis([p["id_acc"] for p in every] + [b[1] for b in baselines])["range"]
        data.append(
            scatter(
                [lo, hi],
                [fit[0] * lo + fit[1], fit[0] * hi + fit[1]],
                mode="lines",
                name="baselines' fit",
                line=dict(color="#7f7f7f", dash="dash"),
                hoverinfo="skip",
            )
        )
        every += [{"id_acc": b[1], "ood_acc": b[2]} for b in baselines]
    return figure(
        data,
        "Soups and WiSE-FT: effective robustness",
        "ID accuracy (logit scale)",
        "average OOD accuracy (logit scale)",
        height=520,
        xaxis=_logit_axis([p["id_acc"] for p in every]),
        yaxis=_logit_axis([p["ood_acc"] for p in every]),
        legend={**BASE_LAYOUT["legend"], "y": -0.2},
    )


def align_paths(align: dict, stats: str = "recomputed") -> go.Figure:
    """Loss along the linear path between the two scratch models, unaligned and after each alignment
    method; `stats`: BatchNorm statistics "recomputed" at every alpha or "interpolated" like the weights."""
    alphas, methods = np.asarray(align["alphas"]), align["methods"]
    colors = {m: ("#7f7f7f" if m == "unaligned" else OOD_COLORS[i % len(OOD_COLORS)]) for i, m in enumerate(methods)}
    best = align["best"]["method"]
    data = [
        scatter(
            alphas,
            v["curves"][stats]["loss"],
            mode="lines+markers",
            name=METHOD_NAMES.get(m, m),
            line=dict(
                color=colors[m],
                width=4 if m in ("unaligned", best) else 2,
                dash="dash" if m == "unaligned" else "solid",
            ),
            hovertemplate="α=%{x:.1f}: %{y:.3f} nats<extra>" + METHOD_NAMES.get(m, m) + "</extra>",
        )
        for m, v in methods.items()
    ]
    width = (align.get("pair") or {}).get("width")
    title = (f"Width-{width} pair: " if width else "") + f"path loss, BatchNorm {stats}"
    return figure(
        data,
        title,
        "α (0 = scratch A, 1 = scratch B, permuted)",
        "ID loss (nats)",
        height=460,
        legend={**BASE_LAYOUT["legend"], "y": -0.25},
    )


def align_ratios(align: dict) -> go.Figure:
    """Each method's loss barrier as a share of the unaligned one, both BatchNorm treatments, with the bar."""
    ratios, bar = align["ratios"], 100 * align["bar"]
    # category names on at most two short lines, unrotated: rotated long names ran off a 1024-px screen
    names = ["<br>".join(textwrap.wrap(METHOD_NAMES.get(m, m), 17)) for m in ratios]
    data = [
        dict(
            type="bar",
            name=f"BatchNorm {stats}",
            x=names,
            y=[100 * (r[stats] or 0) for r in ratios.values()],
            text=[f"{100 * r[stats]:.0f}%" if r[stats] is not None else "n/a" for r in ratios.values()],
            textposition="outside",
            cliponaxis=False,
            marker=dict(color=color),
            hovertemplate="%{x}: %{y:.1f}%<extra>" + stats + "</extra>",
        )
        for stats, color in (("recomputed", ID_COLOR), ("interpolated", "#b8b8b8"))
    ]
    top = max([bar] + [100 * v for r in ratios.values() for v in r.values() if v is not None]) * 1.2
    return figure(
        data,
        "Barrier after alignment (% of unaligned)",
        "",
        "share of the unaligned barrier (%)",
        height=460,
        barmode="group",
        yaxis=dict(range=[0, top]),
        xaxis=dict(tickangle=0),
        shapes=[
            dict(type="line", x0=0, x1=1, xref="paper", y0=bar, y1=bar, line=dict(color="#2ca02c", dash="dot", width=2))
        ],
        annotations=[
            dict(
                x=1.01,
                xref="paper",
                y=bar,
                xanchor="left",
                yanchor="middle",
                showarrow=False,
                text=f"target<br>≤ {bar:g}%",
                font=dict(color="#2ca02c", size=13),
            )
        ],
        legend={**BASE_LAYOUT["legend"], "y": -0.3},
        margin=dict(l=60, r=70, t=60, b=40),
    )


def section_figures(section: str, s: dict, baselines: list[tuple[str, float, float]] = ()) -> list[go.Figure]:
    """Every figure of one stored section, in the lab page's order (the shared page draws these)."""
    if section == "spawn":
        return [spawn_barriers(s), spawn_paths(s)]
    if section == "swa":
        return [swa_chart(s)]
    if section == "align":
        return [align_paths(s), align_ratios(s)]
    return [barrier_heatmap(s), soups_scatter(s, baselines)]
