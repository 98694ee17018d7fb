"""The explorer's explanations: what the eval sets are (with sample images), the definitions a class
needs (ID/OOD, effective robustness and its fit, chord, barrier), choosing alpha, and the loss plane."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from core.runs.artifacts import RunFormatError
from explorer import charts, live, paper, state
from explorer.explain_text import SET_NOTES, barriers_md, definitions_md  # noqa: F401  (app.py: explain.definitions_md)
from explorer.gallery import example_thumbnail
from explorer.numbers import tenths

SAMPLES = 8  # sample images per eval set


@st.cache_data(max_entries=16, show_spinner="Drawing sample images…")
def _samples(ids: tuple[str, ...], labels: tuple[int, ...]) -> list[tuple[int, np.ndarray | None]]:
    """Up to SAMPLES examples, one per class first (the lowest index of each)."""
    first = {}
    for i, c in enumerate(labels):
        first.setdefault(c, i)
    picks = list(first.values())[:SAMPLES]
    return [(i, example_thumbnail(ids[i])) for i in picks]


def eval_sets_ui(ra: state.RunArrays) -> None:
    """Per set: role, size, what it is, and sample images with their true class."""
    for name, s in ra.sets.items():
        spec = next((d.get("spec", "") for d in ra.run.datasets if d["name"] == name), "")
        st.markdown(
            f"**{name}** ({'ID' if s.role == 'id' else 'OOD'}, {len(s.labels)} images): "
            + SET_NOTES.get(name, f"`{spec}`")
        )
        cols = st.columns(SAMPLES)
        for col, (i, thumb) in zip(cols, _samples(tuple(s.ids), tuple(int(c) for c in s.labels))):
            if thumb is None:
                col.caption(f"(unavailable: {s.ids[i]})")
            else:
                col.image(thumb, caption=ra.classnames[s.labels[i]])


def choosing_rows(alphas: np.ndarray, curves: dict[str, np.ndarray], id_name: str) -> pd.DataFrame:
    """Accuracy (%) of every set at alpha = 0.5, at the best-on-ID alpha and at each set's best alpha."""
    best = live.best_alphas(alphas, curves)
    picks = {"α = 0.5": 0.5, f"best on ID ({charts.pretty(id_name)})": best.get(id_name)}
    picks |= {f"best on {charts.pretty(n)}": a for n, a in best.items() if n != id_name}
    rows = []
    for label, a in picks.items():
        if a is None or not np.isclose(alphas, a).any():
            continue
        i = int(np.argmin(np.abs(alphas - a)))
        rows.append(
            {
                "choice": label,
                "α": round(float(alphas[i]), 2),
                **{charts.pretty(n): tenths(float(c[i])) for n, c in curves.items()},
            }
        )
    return pd.DataFrame(rows)


def choosing_md(alphas: np.ndarray, curves: dict[str, np.ndarray], id_name: str) -> str:
    """Where this path's ID-best alpha sits and what it gives under shift against alpha = 0.5, from its numbers."""
    best = live.best_alphas(alphas, curves).get(id_name)
    half = np.isclose(alphas, 0.5)
    if best is None or not half.any():
        return ""
    i, h = int(np.argmin(np.abs(alphas - best))), int(np.argmax(half))
    where = (
        "near the fine-tuned end"
        if best >= 0.8
        else "near the zero-shot end"
        if best <= 0.2
        else "in the middle of the path"
    )
    ood = live.AVG_OOD if live.AVG_OOD in curves else None
    if ood is None:
        return f"Here the ID-best α is {best:.2f}, {where}."
    diff = tenths(float(curves[ood][h])) - tenths(float(curves[ood][i]))
    return (
        f"Here the ID-best α is {best:.2f}, {where}; α = 0.5 gives "
        + ("the same" if abs(diff) < 0.05 else f"{abs(diff):.1f} pp {'more' if diff > 0 else 'less'}")
        + " average OOD accuracy."
    )


def choosing_ui(alphas: np.ndarray, curves: dict[str, np.ndarray], id_name: str, file: str) -> None:
    st.markdown(
        "Without OOD data you can only pick α on held-out **ID** data (second row). The paper "
        "recommends α = 0.5 instead, because on its sweeps the ID-best α often sits near the fine-tuned "
        "end and gives back much of the robustness. "
        + choosing_md(alphas, curves, id_name)
        + " The rows below compare the picks on every set (accuracy, %)."
    )
    df = choosing_rows(alphas, curves, id_name)
    st.dataframe(df, hide_index=True, width="stretch")
    st.download_button("Download this table (CSV)", df.to_csv(index=False), file, "text/csv", key=f"dl:{file}")


def table3_ui(sweeps: list[paper.PaperSweep]) -> None:
    """The paper's Table 3, and the same quantity computed from every published sweep."""
    names = {n: charts.pretty(n) for n in (paper.ID_NAME, *paper.SHIFTS, paper.AVG_OOD)}
    published = pd.DataFrame(paper.published_table3()).rename(columns=names)
    st.markdown(
        "**Optimal α minus α = 0.5** (pp): how much a per-column best α would gain over the fixed "
        "α = 0.5. The paper's Table 3:"
    )
    st.dataframe(published, hide_index=True, width="stretch")
    computed = pd.DataFrame(
        [{"sweep": s.label, **{names[k]: round(v, 1) for k, v in paper.optimal_minus_half(s).items()}} for s in sweeps]
    )
    st.markdown("The same computed here from every published sweep (equal to Table 3 where both exist):")
    st.dataframe(computed, hide_index=True, width="stretch")
    st.download_button(
        "Download (CSV)", computed.to_csv(index=False), "optimal_minus_half.csv", "text/csv", key="dl:table3"
    )


PLANE_NOTE = (
    "**What am I looking at:** the loss of every model on a flat slice of weight space: the plane through "
    "three weight sets, θ0 at (0, 0), θ1 at (1, 0) and a third, θc, where it falls (coordinates in units of the "
    "distance ‖θ1 − θ0‖, the same along both axes, so distances and angles are true). The colour is the "
    "cross-entropy on a log scale (dark: low; the bars are in nats) on ID images (left) and on the OOD sets' "
    "images pooled (right); the panel titles say how many. The orange segment is the WiSE-FT path θα; the star, "
    "α = {alpha:.2f}. No ridge along the segment means θ0 and θ1 are linearly mode-connected; where the lowest "
    "OOD loss lies between them, mixing the weights helps under shift. Blank corners: models whose BatchNorm "
    "variances turn negative off the triangle (undefined)."
)


def plane_ui(
    run_path,
    endpoints: tuple[str, str],
    alpha: float,
    groups: tuple[str, ...] = ("id", "ood"),
    presenter: bool = False,
    note: bool = True,
) -> None:
    """The run's stored loss plane (core.lmc.plane.write_plane), or why it is not shown; `groups` picks the
    panels ('id', 'ood'), `note` the explanation under it."""
    from core.lmc import plane  # here, not at the top: it imports open_clip, which the app's first draw does not need

    try:
        stored = plane.read_plane(run_path)
    except (RunFormatError, KeyError, OSError) as err:
        st.warning(f"**The stored loss plane cannot be read:** {err}")
        return
    if stored is None:
        st.info("This run has no stored loss plane (`core.lmc.plane.write_plane` makes one).")
        return
    if stored.stale:
        st.warning(
            f"**The stored loss plane is out of date and not shown:** {stored.stale}. Recompute it with "
            "`core.lmc.plane.write_plane` (for the shipped world: `python -m core world`)."
        )
        return
    meta, names = stored.meta, {"id": "ID", "ood": "avg OOD"}
    sizes = {g: sum(s["n"] for s in sets) for g, sets in meta.get("sets", {}).items()}
    surfaces = {
        f"{names[g]} ({sizes.get(g, '?')} images)": s["loss"] for g, s in stored.surfaces.items() if g in groups
    }
    points = {
        f"θ0: {endpoints[0]}": (0.0, 0.0),
        f"θ1: {endpoints[1]}": (1.0, 0.0),
        f"θc: {meta.get('label_c', 'third weights')}": tuple(meta["c"]),
    }
    fig = charts.loss_plane(stored.xs, stored.ys, surfaces, points, alpha=alpha)
    st.plotly_chart(
        charts.presenter_layout(fig) if presenter else fig, theme=None, key="plane_chart", config={"displaylogo": False}
    )
    if note:
        st.markdown(PLANE_NOTE.format(alpha=alpha))
