"""Plotly figures of the explorer, shared with the notebooks (plotly and numpy only, no streamlit).

Every function takes plain arrays (accuracies in [0, 1], shown in %) and returns a go.Figure:

    fig = accuracy_vs_alpha(ra.alphas, ra.accuracy_curves(), alpha=0.5, id_name=ra.id_name)
"""

from __future__ import annotations

import numpy as np
import plotly.colors
import plotly.graph_objects as go

from core.results import metrics

AVG_OOD = "avg_ood"
ID_COLOR, AVG_COLOR = "#1f3b73", "#111111"
OOD_COLORS = plotly.colors.qualitative.D3[1:] + plotly.colors.qualitative.Set2
OTHER_COLOR = "#b8b8b8"
FONT = dict(size=15)
TICK_PERCENTS = (
    0.1,
    0.5,
    1,
    2,
    5,
    10,
    15,
    20,
    25,
    30,
    40,
    50,
    60,
    70,
    75,
    80,
    85,
    90,
    95,
    97,
    98,
    99,
    99.5,
    99.9,
    99.99,
)


def pretty(name: str) -> str:
    return "avg OOD" if name == AVG_OOD else name


# One colour per kind of shift, shared by the world's runs and the paper's tables (the world's sets are
# named after the ImageNet shifts they mimic), so a shift keeps its colour when switching modes.
SHIFT_COLORS = {
    "v2": "#ff7f0e",
    "ImageNetV2": "#ff7f0e",
    "sketch": "#2ca02c",
    "ImageNet-Sketch": "#2ca02c",
    "rendition": "#9467bd",
    "ImageNet-R": "#9467bd",
    "objectnet": "#8c564b",
    "ObjectNet": "#8c564b",
    "hard": "#d62728",
    "ImageNet-A": "#d62728",
}


def dataset_colors(names: list[str], id_name: str | None) -> dict[str, str]:
    """A stable colour per set: ID navy, average OOD black, known shifts their SHIFT_COLORS, others
    from a palette (skipping colours already taken)."""
    ood = [n for n in names if n not in (id_name, AVG_OOD)]
    colors = {n: SHIFT_COLORS[n] for n in ood if n in SHIFT_COLORS}
    free = [c for c in OOD_COLORS if c not in colors.values()]
    for i, n in enumerate(n for n in ood if n not in colors):
        colors[n] = free[i % len(free)]
    return {**colors, **({id_name: ID_COLOR} if id_name else {}), AVG_OOD: AVG_COLOR}


BASE_LAYOUT = dict(  # a light theme spelled out: plotly's named templates cost ~0.1 s per figure
    plot_bgcolor="white",
    paper_bgcolor="white",
    font=FONT,
    colorway=OOD_COLORS,
    margin=dict(l=60, r=20, t=60, b=40),
    hovermode="closest",
    legend=dict(font=dict(size=13), orientation="h", x=0, y=-0.3, yanchor="top"),  # below: plots keep their width
    xaxis=dict(gridcolor="#e8e8e8", zerolinecolor="#cccccc"),
    yaxis=dict(gridcolor="#e8e8e8", zerolinecolor="#cccccc"),
)


PRESENTER_FONT = 19  # presenter mode: tick labels and legends readable from the back of a room (>= 18 px)


def presenter_layout(fig: go.Figure) -> go.Figure:
    """The figure with larger, darker type for a projector (the live view's presenter mode does the same)."""
    axes = {
        k: {"tickfont": {"size": PRESENTER_FONT, "color": "#222"}, "title": {"font": {"size": PRESENTER_FONT}}}
        for k in fig.layout.to_plotly_json()
        if k.startswith(("xaxis", "yaxis"))
    }
    return fig.update_layout(font=dict(size=PRESENTER_FONT), legend=dict(font=dict(size=PRESENTER_FONT)), **axes)


def figure(data: list[dict], title: str, x: str, y: str, height: int = 480, **layout) -> go.Figure:
    """A figure from plain trace dicts, unvalidated: plotly's per-property validation of go.Scatter
    objects costs ~10 ms a trace, too slow to redraw on every slider move. Check new charts with
    go.Figure(fig.to_dict()) once, which validates."""
    spec = {**BASE_LAYOUT, "title": dict(text=title, font=dict(size=18)), "height": height, **layout}
    spec["xaxis"] = {**BASE_LAYOUT["xaxis"], "title": dict(text=x), **layout.get("xaxis", {})}
    spec["yaxis"] = {**BASE_LAYOUT["yaxis"], "title": dict(text=y), **layout.get("yaxis", {})}
    return go.Figure({"data": data, "layout": spec}, _validate=False)


def scatter(x, y, **kw) -> dict:
    return {"type": "scatter", "x": np.asarray(x), "y": np.asarray(y), **kw}


def _alpha_marker(alpha: float | None) -> dict:
    """A dotted vertical line at the slider's alpha, labelled: layout shapes and annotations."""
    if alpha is None:
        return {}
    return {
        "shapes": [
            dict(
                type="line", x0=alpha, x1=alpha, y0=0, y1=1, yref="paper", line=dict(color="grey", dash="dot", width=2)
            )
        ],
        "annotations": [
            dict(
                x=alpha,
                y=1,
                yref="paper",
                yanchor="bottom",
                xanchor="center",
                showarrow=False,  # above the plot, off the curves
                text=f" α = {alpha:.2f}",
                bgcolor="rgba(255,255,255,0.7)",
            )
        ],
    }


# ----------------------------------------------------------------------------- 1. accuracy


def accuracy_vs_alpha(
    alphas: np.ndarray,
    curves: dict[str, np.ndarray],
    alpha: float | None = None,
    id_name: str | None = None,
    title: str = "Accuracy along the path",
    endpoints: tuple[str, str] = ("zero-shot", "fine-tuned"),
) -> go.Figure:
    """One line per eval set (ID thick, average OOD dashed), the current alpha marked."""
    colors = dataset_colors(list(curves), id_name)
    data = []
    for name, acc in curves.items():
        bold = name in (id_name, AVG_OOD)
        line = dict(color=colors[name], width=4 if bold else 2, dash="dash" if name == AVG_OOD else "solid")
        data.append(
            scatter(
                alphas,
                100 * np.asarray(acc),
                mode="lines",
                name=pretty(name),
                line=line,
                hovertemplate="α=%{x:.2f}: %{y:.1f}%<extra>" + pretty(name) + "</extra>",
            )
        )
        if alpha is not None:
            data.append(
                scatter(
                    [alpha],
                    [100 * np.interp(alpha, alphas, acc)],
                    mode="markers",
                    showlegend=False,
                    marker=dict(color=colors[name], size=11 if bold else 8),
                    hoverinfo="skip",
                )
            )
    x_title, legend = f"α (0 = {endpoints[0]}, 1 = {endpoints[1]})", BASE_LAYOUT["legend"]
    if len(x_title) > 36:  # long endpoint labels (paths between other weight sets): a smaller second line
        x_title, legend = f"α<br><sup>0 = {endpoints[0]}; 1 = {endpoints[1]}</sup>", {**legend, "y": -0.38}
    return figure(data, title, x_title, "accuracy (%)", legend=legend, **_alpha_marker(alpha))


def paper_curves(sweep, alpha: float | None = None) -> go.Figure:
    """accuracy_vs_alpha for a published sweep (explorer.paper.PaperSweep)."""
    return accuracy_vs_alpha(
        sweep.alphas,
        sweep.accuracy,
        alpha,
        id_name="ImageNet",
        title=f"{sweep.model}, {sweep.finetune} ({sweep.table})",
    )


# ----------------------------------------------------------------------------- 2. robustness


def logit_ticks(lo: float, hi: float) -> tuple[list[float], list[str]]:
    """Tick positions (in logit units) and % labels for an axis spanning [lo, hi] (logit units)."""
    ticks, gap = [], (hi - lo) / 7  # at most ~7 ticks, none closer than a seventh of the axis
    for p in TICK_PERCENTS:
        at = float(metrics.logit(p / 100))
        if lo <= at <= hi and (not ticks or at - metrics.logit(ticks[-1] / 100) >= gap):
            ticks.append(p)
    return [float(metrics.logit(p / 100)) for p in ticks], [f"{p:g}%" for p in ticks]


def baseline_trace(baselines: list, size: int) -> dict:
    """The baseline models, (name, ID acc, OOD acc) each, as grey diamonds on logit axes (hover: the name)."""
    return scatter(
        metrics.logit([b[1] for b in baselines]),
        metrics.logit([b[2] for b in baselines]),
        mode="markers",
        name="baseline models",
        text=[b[0] for b in baselines],
        marker=dict(color="#7f7f7f", size=size, symbol="diamond"),
        hovertemplate="%{text}<extra>baseline</extra>",
    )


def axis_range(values: list[np.ndarray]) -> tuple[float, float]:
    flat = metrics.logit(np.concatenate([np.ravel(v) for v in values]))
    flat = flat[np.isfinite(flat)]
    pad = 0.2 * max(float(flat.max() - flat.min()), 0.5)
    return float(flat.min() - pad), float(flat.max() + pad)


def _path_traces(path: dict, color: str, first_other: bool = False) -> list[dict]:
    """An alpha path on logit axes with its endpoints marked. A highlighted path is bold and its
    endpoints labelled; the others are thin grey lines, named on hover, one legend entry for all."""
    x, y, alphas = (np.asarray(path[k], dtype=float) for k in ("x", "y", "alphas"))
    big = path.get("highlight", True)
    color = color if big else OTHER_COLOR
    line = scatter(
        metrics.logit(x),
        metrics.logit(y),
        mode="lines",
        line=dict(color=color, width=4 if big else 1.5),
        name=path["name"] if big else "other sweeps (hover for names)",
        legendgroup=None if big else "others",
        showlegend=big or first_other,
        customdata=np.stack([alphas, 100 * x, 100 * y], -1),
        hovertemplate="α=%{customdata[0]:.2f}<br>ID %{customdata[1]:.1f}%<br>"
        "OOD %{customdata[2]:.1f}%<extra>" + path["name"] + "</extra>",
    )
    ends = [int(np.argmin(np.abs(alphas - a))) for a in (0.0, 1.0)]
    marks = scatter(
        metrics.logit(x[ends]),
        metrics.logit(y[ends]),
        mode="markers+text" if big else "markers",
        marker=dict(color=color, size=12 if big else 6, symbol=["circle", "square"]),
        text=list(path.get("endpoints", ("zero-shot", "fine-tuned"))),
        textposition=["top left", "bottom left"],
        cliponaxis=False,
        showlegend=False,
        hoverinfo="skip",
    )
    return [line, marks]


def _current_trace(current: dict) -> dict:
    er = "" if current.get("er") is None else f"<br>ER {100 * current['er']:+.1f} pp"
    return scatter(
        [metrics.logit(current["x"])],
        [metrics.logit(current["y"])],
        mode="markers",  # named in the
        name=f"α = {current['alpha']:.2f}{er.replace('<br>', ', ')}",  # legend: a text label collided
        marker=dict(color="#ff7f0e", size=18, symbol="star"),
    )


def robustness_scatter(
    paths: list[dict],
    baselines: list[tuple[str, float, float]] = (),
    fit: tuple[float, float] | None = None,
    current: dict | None = None,
    x_label: str = "ID accuracy",
    y_label: str = "OOD accuracy",
    title: str = "Effective robustness",
) -> go.Figure:
    """ID (x) vs OOD (y) accuracy on logit-scaled axes (Taori et al., 2020).

    Args:
        paths: alpha paths, each {name, alphas, x, y, endpoints=(label_0, label_1), highlight}.
        baselines: (model, ID accuracy, OOD accuracy) of standard models; `fit` their logit-space line.
        current: {alpha, x, y, er} for the marker at the slider's alpha (er may be None).
    """
    others = [i for i, p in enumerate(paths) if not p.get("highlight", True)]
    data = [
        t
        for i, path in enumerate(paths)
        for t in _path_traces(
            path,
            ID_COLOR if i == 0 else OOD_COLORS[(i - 1) % len(OOD_COLORS)],
            first_other=bool(others) and i == others[0],
        )
    ]
    lo, hi = axis_range(
        [p for path in paths for p in (path["x"], path["y"])] + [np.array([b[1], b[2]]) for b in baselines]
    )
    diag = np.array([lo, hi])
    data.append(scatter(diag, diag, mode="lines", name="y = x", line=dict(color="grey", dash="dot")))
    if baselines:
        data.append(baseline_trace(baselines, size=10))
    if fit is not None:
        data.append(
            scatter(
                diag,
                fit[0] * diag + fit[1],
                mode="lines",
                name="baselines' linear fit",
                line=dict(color="#7f7f7f", dash="dash"),
            )
        )
    if current is not None:
        data.append(_current_trace(current))
    tickvals, ticktext = logit_ticks(lo, hi)
    axis = dict(range=[lo, hi], tickvals=tickvals, ticktext=ticktext, zeroline=False)
    return figure(
        data,
        title,
        f"{x_label} (logit scale)",
        f"{y_label} (logit scale)",
        xaxis=axis,
        yaxis={**axis, "scaleanchor": "x"},
    )  # equal scales: y = x at 45 degrees


ENSEMBLE_COLOR, VARIANT_COLOR = "#ff7f0e", "#2ca02c"
LEGEND_ROWS = 3  # the baselines scatter's legend at 1024 px


def _baseline_points(points: list[dict], name: str, zoom: bool, **kw) -> dict:
    """Points {id, ood, er: {value, lo, hi}, alpha, name?}: on logit axes (the whole picture), or in % with their
    OOD accuracy's 95% interval as an error bar (`zoom`); hover: the name or alpha, ID, OOD and effective robustness with
    intervals."""

    def part(k: str, q: str) -> np.ndarray:
        return np.array([p[k][q] for p in points], dtype=float)

    at = (lambda v: 100 * v) if zoom else metrics.logit
    x, y = at(part("id", "value")), at(part("ood", "value"))
    bars = {
        f"error_{a}": dict(
            type="data",
            symmetric=False,
            array=at(part(k, "hi")) - v,
            arrayminus=v - at(part(k, "lo")),
            thickness=1.2,
            width=3,
            color=kw.get("marker", {}).get("line", {}).get("color") or kw.get("marker", {}).get("color"),
        )
        for a, k, v in (("y", "ood", y),)  # ID's intervals (hover) would hide the curves' shape in the corner
    }
    custom = np.stack([100 * part(k, q) for k in ("id", "ood", "er") for q in ("value", "lo", "hi")], axis=-1)
    return scatter(
        x,
        y,
        name=name,
        legendgroup=name,
        text=[p.get("name") or f"α = {p['alpha']:.2f}" for p in points],
        customdata=custom,  # (P, 9): id, id_lo, id_hi, ood, ood_lo, ood_hi, er, er_lo, er_hi, in %
        hovertemplate="<b>%{text}</b><br>ID %{customdata[0]:.1f}% [%{customdata[1]:.1f}, %{customdata[2]:.1f}]"
        "<br>avg OOD %{customdata[3]:.1f}% [%{customdata[4]:.1f}, %{customdata[5]:.1f}]"
        "<br>ER %{customdata[6]:+.1f} pp [%{customdata[7]:+.1f}, %{customdata[8]:+.1f}]<extra>" + name + "</extra>",
        **(bars if zoom else {}),
        **({"xaxis": "x2", "yaxis": "y2", "showlegend": False} if zoom else {}),
        **kw,
    )


def baselines_scatter(
    points: dict, variants_at: tuple[float, ...] = (1.0,), height: int = 520, presenter: bool = False
) -> go.Figure:
    """WiSE-FT against its baselines (issue 28): the from-scratch models and their fit, WiSE-FT's curve, the
    output-space ensemble's along the same alphas, and the fine-tuning variants at the alphas of their own
    paths in `variants_at` (1: the variant itself; 0.5: WiSE-FT applied to it). Left, the whole picture on
    logit axes; right, the fine-tuned corner (from 1 pp below the least accurate variant on ID) in %, with
    95% intervals. `points` is core.results.robustness.scatter_points(run); `presenter`: projector type."""
    font = PRESENTER_FONT if presenter else 13
    ens_name = f"output-space ensemble (mixes {points['mix']}; 2 forward passes)"
    groups = [
        (
            points["wiseft"],
            "WiSE-FT (mixes weights; 1 forward pass)",
            dict(mode="lines+markers", line=dict(color=ID_COLOR, width=3), marker=dict(color=ID_COLOR, size=6)),
        ),
        (
            points["ensemble"],
            ens_name,
            dict(
                mode="lines+markers",
                line=dict(color=ENSEMBLE_COLOR, width=2.5, dash="dash"),
                marker=dict(color=ENSEMBLE_COLOR, size=6, symbol="diamond"),
            ),
        ),
    ]
    for a in variants_at:
        own = a == 1.0
        members = [f for f in points["finetunes"] if abs(f["alpha"] - a) < 1e-9]
        look = dict(
            color=VARIANT_COLOR if own else "white",
            size=11,
            symbol="triangle-up",
            line=dict(color=VARIANT_COLOR, width=2),
        )
        groups.append(
            (members, "other fine-tunes" if own else f"their own WiSE-FT, α = {a:g}", dict(mode="markers", marker=look))
        )
    groups = [g for g in groups if g[0]]
    variants = [f for f in points["finetunes"] if f["alpha"] == 1.0] or points["wiseft"][-1:]
    corner = min(p["id"]["value"] for p in variants) - 0.01  # the zoom: the variants and the curves beside them

    data = []
    if points["baselines"]:
        data.append(baseline_trace([(b["name"], b["id"]["value"], b["ood"]["value"]) for b in points["baselines"]], 9))
    for members, name, look in groups:
        data.append(_baseline_points(members, name, zoom=False, **look))
        near = [p for p in members if p["id"]["value"] >= corner]
        if near:
            data.append(_baseline_points(near, name, zoom=True, **look))
    wise = points["wiseft"]
    for zoom in (False, True):
        ends = [p for p in (wise[0], wise[-1]) if not zoom or p["id"]["value"] >= corner]
        at = (lambda v: 100 * np.asarray(v)) if zoom else metrics.logit
        data.append(
            scatter(
                at([p["id"]["value"] for p in ends]),
                at([p["ood"]["value"] for p in ends]),
                mode="markers+text",
                marker=dict(color=ID_COLOR, size=13, symbol="square" if zoom else ["circle", "square"]),
                text=["fine-tuned"] if zoom else ["zero-shot", "fine-tuned"],
                textposition="bottom left" if zoom else ["top center", "bottom left"],
                cliponaxis=False,
                showlegend=False,
                hoverinfo="skip",
                **({"xaxis": "x2", "yaxis": "y2"} if zoom else {}),
            )
        )
    every = [p for members, _, _ in groups for p in members] + points["baselines"]
    lo_x, hi_x = axis_range([np.array([p["id"]["value"] for p in every])])
    lo_y, hi_y = axis_range([np.array([p["ood"]["value"] for p in every])])
    if points["trend"]:
        xs = np.array([lo_x, hi_x])
        data.append(
            scatter(
                xs,
                points["trend"]["slope"] * xs + points["trend"]["intercept"],
                mode="lines",
                name="from-scratch models' fit",
                line=dict(color="#7f7f7f", dash="dot"),
                hoverinfo="skip",
            )
        )
    zoomed = [p for members, _, _ in groups for p in members if p["id"]["value"] >= corner]
    zx = [100 * v for p in zoomed for v in (p["id"]["lo"], p["id"]["hi"])]
    zy = [100 * v for p in zoomed for v in (p["ood"]["lo"], p["ood"]["hi"])]
    xt, xl = logit_ticks(lo_x, hi_x)
    yt, yl = logit_ticks(lo_y, hi_y)
    box = dict(
        type="rect",
        xref="x",
        yref="y",
        x0=metrics.logit(min(zx) / 100),
        x1=metrics.logit(max(zx) / 100),
        y0=metrics.logit(min(zy) / 100),
        y1=metrics.logit(max(zy) / 100),
        line=dict(color="#555", dash="dot"),
    )
    grid = dict(gridcolor="#e8e8e8", zeroline=False)
    fig = figure(
        data,
        "",
        "",
        "",
        height=height,
        # The legend sits at the figure's foot and the bottom margin holds it and the axes' ticks and titles:
        # Plotly's own margin push takes the larger of the two, not their sum, so a legend placed below the
        # plots covered the axis titles in presenter type.
        margin=dict(l=60, r=20, t=40, b=round(2.6 * font + 10 + LEGEND_ROWS * 1.6 * font + 10)),
        legend=dict(font=dict(size=font), orientation="h", x=0, y=0, yref="container", yanchor="bottom"),
        shapes=[box],
        annotations=[  # the panels' titles
            dict(text=t, xref=f"{x} domain", yref=f"{y} domain", x=0, y=1.08, showarrow=False, xanchor="left")
            | {"font": dict(size=15)}
            for t, x, y in (
                ("the whole picture (logit axes)", "x", "y"),
                ("the dotted box, in % (95% intervals of OOD)", "x2", "y2"),
            )
        ],
        xaxis=dict(
            domain=[0, 0.44],
            range=[lo_x, hi_x],
            tickvals=xt,
            ticktext=xl,
            title=dict(text=f"ID ({points['id_set']})"),
            **grid,
        ),
        yaxis=dict(range=[lo_y, hi_y], tickvals=yt, ticktext=yl, title=dict(text="average OOD"), **grid),
        xaxis2=dict(domain=[0.56, 1], anchor="y2", ticksuffix="%", title=dict(text=f"ID ({points['id_set']})"), **grid),
        yaxis2=dict(anchor="x2", ticksuffix="%", title=dict(text="average OOD"), **grid),
    )
    return presenter_layout(fig) if presenter else fig


def baselines_panels(points: dict, variants_at: tuple[float, ...] = (1.0,), height: int = 460) -> list[go.Figure]:
    """baselines_scatter's two panels as two figures (the whole picture, then the fine-tuned corner), each with
    its own legend, for a page that stacks them on a narrow screen (explorer.share)."""
    both = baselines_scatter(points, variants_at, height)
    out = []
    for ax in ("", "2"):
        data = []
        for t in both.data:
            if (t.xaxis or "x") == f"x{ax}":
                data.append(t.to_plotly_json() | {"xaxis": "x", "yaxis": "y"})
                if ax == "2":  # the corner's own legend: its named traces
                    data[-1]["showlegend"] = bool(t.name) and t.mode != "markers+text"
        title = "the whole picture (logit axes)" if ax == "" else "zoom on the dotted box (in %)"
        layout = both.layout.to_plotly_json()
        axes = {
            "xaxis": layout[f"xaxis{ax}"] | {"domain": [0, 1], "anchor": "y"},
            "yaxis": layout[f"yaxis{ax}"] | {"anchor": "x"},
        }
        out.append(
            figure(
                data,
                title,
                "",
                "",
                height=height,
                margin=layout["margin"],
                legend=layout["legend"],
                shapes=list(layout["shapes"]) if ax == "" else [],
                **axes,
            )
        )
    return out


# ----------------------------------------------------------------------------- 3. loss


def loss_path(
    alphas: np.ndarray,
    losses: dict[str, np.ndarray],
    alpha: float | None = None,
    id_name: str | None = None,
    barriers: dict[str, float] | None = None,
) -> go.Figure:
    """Loss of each set along the path, with the chord between its endpoint losses (dashed).

    A curve above its chord is a loss barrier; the title prints the largest barrier's height.
    """
    colors = dataset_colors(list(losses), id_name)
    data = []
    for name, loss in losses.items():
        data.append(
            scatter(
                alphas,
                loss,
                mode="lines",
                name=pretty(name),
                legendgroup=name,
                line=dict(color=colors[name], width=4 if name == id_name else 2),
            )
        )
        data.append(
            scatter(
                alphas,
                metrics.chord(loss, alphas),
                mode="lines",
                legendgroup=name,
                line=dict(color=colors[name], width=1.5, dash="dash"),
                showlegend=False,
                hoverinfo="skip",
            )
        )
    title = "Loss along the path"
    if barriers:
        worst = max(barriers, key=barriers.get)
        title += f"<br><sup>dashed: chord. Largest barrier: {barriers[worst]:+.3f} ({pretty(worst)})</sup>"
    return figure(data, title, "α", "cross-entropy (nats)", **_alpha_marker(alpha))


# ----------------------------------------------------------------------------- 4. your own image


def path_probabilities(
    alphas: np.ndarray, probs: np.ndarray, classnames: list[str], alpha: float | None = None, k: int = 5, first=()
) -> go.Figure:
    """One image's class probabilities along alpha: the classes `first` (those a list beside it names), then
    those that peak highest, k in all. probs (A, C)."""
    peaks = [int(c) for c in np.argsort(-probs.max(axis=0), kind="stable") if int(c) not in {int(f) for f in first}]
    top = ([int(c) for c in first] + peaks)[: max(k, len(first))]
    palette = plotly.colors.qualitative.D3
    data = [
        scatter(
            alphas,
            100 * probs[:, c],
            mode="lines+markers",
            name=classnames[c],
            line=dict(width=3, color=palette[j % len(palette)]),
        )
        for j, c in enumerate(top)
    ]
    return figure(data, "This image's top classes along the path", "α", "probability (%)", **_alpha_marker(alpha))


# ----------------------------------------------------------------------------- 5. loss plane

NATS_TICKS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100)
PLANE_SEGMENT_COLOR = "#ff7f0e"


def nats_ticks(lo: float, hi: float, most: int = 8) -> tuple[list[float], list[str]]:
    """Colour-bar ticks for log10(loss) spanning [lo, hi] nats: positions (log10) and labels (nats).
    Within a narrow range (fewer than 3 of NATS_TICKS) the ticks are rounded values in between."""
    ticks = [t for t in NATS_TICKS if lo <= t <= hi]
    if len(ticks) < 3:
        ticks = sorted({r for t in np.geomspace(lo, hi, 6) if lo <= (r := float(f"{t:.2g}")) <= hi})
    ticks = ticks[:: -(-len(ticks) // most)]  # every k-th, at most `most`
    return [float(np.log10(t)) for t in ticks], [f"{t:g}" for t in ticks]


def _plane_marks(points: dict[str, tuple[float, float]], alpha: float | None, n: int) -> tuple[list[dict], list[dict]]:
    """Panel n's WiSE-FT segment (0,0)-(1,0), the current alpha's star, and the three weight sets
    labelled above (y > 0) or below their marker, on a white box."""
    ax, ay = ("x", "y") if n == 1 else (f"x{n}", f"y{n}")
    data = [
        scatter(
            [0, 1],
            [0, 0],
            mode="lines",
            xaxis=ax,
            yaxis=ay,
            showlegend=False,
            hoverinfo="skip",
            line=dict(color=PLANE_SEGMENT_COLOR, width=4),
        )
    ]
    xy = np.array(list(points.values()), dtype=float)  # (3, 2)
    data.append(
        scatter(
            xy[:, 0],
            xy[:, 1],
            mode="markers",
            xaxis=ax,
            yaxis=ay,
            showlegend=False,
            text=list(points),
            hovertemplate="%{text}<extra></extra>",
            marker=dict(size=11, color="white", line=dict(width=2, color="black")),
        )
    )
    if alpha is not None:
        data.append(
            scatter(
                [alpha],
                [0.0],
                mode="markers",
                xaxis=ax,
                yaxis=ay,
                showlegend=False,
                hovertemplate=f"WiSE-FT, α = {alpha:.2f}<extra></extra>",
                marker=dict(size=16, symbol="star", color=PLANE_SEGMENT_COLOR, line=dict(width=1, color="white")),
            )
        )
    if alpha is not None:
        notes = [
            dict(
                x=alpha,
                y=0,
                xref=ax,
                yref=ay,
                text=f"α = {alpha:.2f}",
                showarrow=False,
                yshift=18,
                font=dict(size=12, color=PLANE_SEGMENT_COLOR),
                bgcolor="rgba(255,255,255,0.85)",
            )
        ]
    else:
        notes = []
    notes += [
        dict(
            x=x,
            y=y,
            xref=ax,
            yref=ay,
            text=label,
            showarrow=True,
            arrowhead=0,
            ax=0,
            ay=26 if y <= 0 else -26,
            bgcolor="rgba(255,255,255,0.85)",
            font=dict(size=13),
        )
        for label, (x, y) in points.items()
    ]
    return data, notes


def loss_plane(
    xs: np.ndarray,
    ys: np.ndarray,
    surfaces: dict[str, np.ndarray],
    points: dict[str, tuple[float, float]],
    alpha: float | None = None,
    title: str = "Loss on the plane through three weight sets",
) -> go.Figure:
    """Loss on a plane of weight space (core.lmc), one panel per surface side by side, axes to scale.

    Args:
        xs, ys: grid coordinates in units of ||theta_1 - theta_0||; surfaces: {panel title: loss (len(ys), len(xs))}
            in nats, NaN where undefined (drawn blank).
        points: {label: (x, y)} of the three weight sets (theta_0 at (0, 0), theta_1 at (1, 0)).
        alpha: the WiSE-FT model marked on the segment theta_0-theta_1.
    The colour is log10(loss) with its own scale per panel (a shared one flattened the OOD panel,
    whose loss spans 1-2.6 nats against ID's 0.006-1.7), each colour bar labelled in nats.
    """
    data, notes, layout = [], [], {}
    gap, k = 0.16, len(surfaces)
    width = (1 - gap * (k - 1)) / k
    for n, (name, loss) in enumerate(surfaces.items(), start=1):
        loss = np.asarray(loss, dtype=float)
        sfx = "" if n == 1 else str(n)
        domain = [(n - 1) * (width + gap), (n - 1) * (width + gap) + width]
        data.append(_plane_contour(xs, ys, loss, name, f"x{sfx}", f"y{sfx}", f"coloraxis{sfx}"))
        layout[f"coloraxis{sfx}"] = _plane_colors(loss, domain[1])
        marks, labels = _plane_marks(points, alpha, n)
        data += marks
        notes += labels
        layout[f"xaxis{sfx}"] = dict(
            **BASE_LAYOUT["xaxis"],
            domain=domain,
            range=[xs[0], xs[-1]],
            constrain="domain",
            zeroline=False,
            anchor=f"y{sfx}",
            title=dict(text="x (units of ‖θ1 − θ0‖)"),
        )
        layout[f"yaxis{sfx}"] = dict(
            **BASE_LAYOUT["yaxis"],
            range=[ys[0], ys[-1]],
            scaleanchor=f"x{sfx}",
            scaleratio=1,
            constrain="domain",
            zeroline=False,
            anchor=f"x{sfx}",
            title=dict(text="y" if n == 1 else ""),
        )  # equal scales: axes to scale
        notes.append(
            dict(
                x=sum(domain) / 2,
                y=1.0,
                xref="paper",
                yref="paper",
                yanchor="bottom",
                showarrow=False,
                text=f"<b>{name}</b>",
                font=dict(size=15),
            )
        )
    # height: short enough that y (not x) limits each panel up to ~1280 px wide, so the to-scale panels fill
    # their height and sit under their titles; wider screens shrink the panels horizontally instead
    return figure(data, title, "", "", height=340, annotations=notes, margin=dict(l=50, r=20, t=75, b=45), **layout)


def _plane_contour(xs, ys, loss: np.ndarray, name: str, ax: str, ay: str, coloraxis: str) -> dict:
    """log10(loss) as a filled contour (NaN: a gap), hover in nats."""
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.log10(loss)  # (len(ys), len(xs))
    text = [["undefined" if not np.isfinite(v) else f"{v:.3f} nats" for v in row] for row in loss]
    return {
        "type": "contour",
        "x": np.asarray(xs),
        "y": np.asarray(ys),
        "z": z,
        "xaxis": ax,
        "yaxis": ay,
        "coloraxis": coloraxis,
        "connectgaps": False,
        "ncontours": 14,
        "contours": dict(coloring="heatmap"),
        "line": dict(width=0.5, color="rgba(255,255,255,0.5)"),
        "text": text,
        "hovertemplate": "(%{x:.2f}, %{y:.2f}): %{text}<extra>" + name + "</extra>",
    }


def _plane_colors(loss: np.ndarray, right: float) -> dict:
    """A colour axis on log10(loss) for one panel, its colour bar at the panel's right edge, ticks in nats."""
    finite = loss[np.isfinite(loss) & (loss > 0)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.1, 1.0)
    hi = max(hi, lo * 1.01)
    tickvals, ticktext = nats_ticks(lo, hi)
    return dict(
        colorscale="Viridis",
        cmin=np.log10(lo),
        cmax=np.log10(hi),
        colorbar=dict(
            title=dict(text="nats"),
            tickvals=tickvals,
            ticktext=ticktext,
            thickness=12,
            len=0.85,
            x=right + 0.01,
            xanchor="left",
        ),
    )
