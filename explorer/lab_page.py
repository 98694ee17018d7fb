"""The explorer's LMC lab page (`?mode=lab`): the talk's linear-mode-connectivity experiments, computed by
`make world` into data/world/lab/ and only read here: spawn at k, SWA, permutation alignment and soups.
Every sentence comes from explorer.lab_text, which follows the stored numbers. The paths (spawn at every k,
each alignment method) are a live view moved by one alpha slider (explorer.paths); `?lab=` names the tab."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st
import streamlit.components.v1 as components

from core.lmc import sections as lab
from explorer import charts, client, lab_charts, lab_text, paths
from explorer.state import lab_root

REPO = Path(__file__).resolve().parents[1]
SECTIONS = lab.SECTIONS
PRESENTER_KEY = "presenter"  # the app's presenter toggle (session state and ?presenter=)


@st.cache_data(max_entries=8)
def read_sections(root: str, stamp: tuple) -> dict[str, dict]:
    """core.lmc.lab.read_sections, cached (stamp: the files' mtimes, so a rebuild shows)."""
    return lab.read_sections(Path(root))


def _stamp(root: Path) -> tuple:
    return tuple((p.name, p.stat().st_mtime_ns) for p in sorted(root.glob("*.json"))) if root.exists() else ()


def _charts(*figures: tuple) -> None:
    """(figure, key) pairs side by side."""
    for col, (fig, key) in zip(st.columns(len(figures)), figures):
        with col:
            big = st.session_state.get(PRESENTER_KEY, False)
            st.plotly_chart(
                charts.presenter_layout(fig) if big else fig,
                width="stretch",
                key=key,
                theme=None,
                config={"displaylogo": False},
            )


def spawn_ui(s: dict) -> None:
    st.markdown(lab_text.intro_md("spawn", s))
    _charts((lab_charts.spawn_barriers(s), "lab:spawn"))
    st.markdown(lab_text.spawn_md(s))


def swa_ui(s: dict) -> None:
    st.markdown(lab_text.intro_md("swa", s))
    _charts((lab_charts.swa_chart(s), "lab:swa"))
    st.markdown(lab_text.swa_md(s))
    rows = [
        {
            "model": m["name"],
            "ID loss": m["id_loss"],
            "ID acc (%)": 100 * m["id_acc"],
            "avg OOD acc (%)": 100 * m["ood_acc"],
            "flatness (nats)": m["flatness"],
        }
        for m in s["models"]
    ]
    st.dataframe(pd.DataFrame(rows).round(4), hide_index=True, width="stretch")


def align_ui(s: dict) -> None:
    st.markdown(lab_text.intro_md("align", s))
    _charts((lab_charts.align_ratios(s), "lab:align_ratios"))
    st.markdown(lab_text.align_md(s))


def soups_ui(s: dict) -> None:
    st.markdown(lab_text.intro_md("soups", s))
    base = baselines(str(lab_root().parents[1] / "runs" / "world-e2e"))
    _charts(
        (lab_charts.barrier_heatmap(s), "lab:soups_matrix"), (lab_charts.soups_scatter(s, base), "lab:soups_scatter")
    )
    st.markdown(lab_text.soups_md(s, base))


@st.cache_data(max_entries=4)
def baselines(run_dir: str) -> list[tuple[str, float, float]]:
    """The world-e2e run's baseline models (core.lmc.lab.baseline_points), [] when the run is not there."""
    from core.runs.artifacts import MANIFEST, Run

    return lab.baseline_points(Run(Path(run_dir))) if (Path(run_dir) / MANIFEST).exists() else []


PANELS = {
    name: (lab_text.TITLES[name], ui)
    for name, ui in {"spawn": spawn_ui, "swa": swa_ui, "align": align_ui, "soups": soups_ui}.items()
}
BARRIERS_TAB = "Every barrier"


@st.cache_data(max_entries=2, show_spinner="Reading every stored path's barriers…")
def barrier_rows(data_root: str, stamp: tuple) -> list[dict]:
    """core.lmc.barriers.barrier_table of the data folder (cached per files' mtimes; 500 bootstrap resamples)."""
    from core.lmc.barriers import barrier_table

    return barrier_table(data_root, n_boot=500)


def barriers_ui(root: Path) -> None:
    """Every barrier the product shows on the ID set, side by side: why 1.94, 1.57, 1.43 and 1.98 nats differ."""
    data_root = root.parents[1]
    rows = [
        r for r in barrier_rows(str(data_root), _stamp(root)) if r["eval_set"] is None or "id_test" in r["eval_set"]
    ]
    st.markdown(
        "**Why the barriers differ.** A barrier depends on the pair, the network's width, how the BatchNorm "
        "statistics of the averaged network are set (interpolated like the weights, or recomputed on id_train "
        "images at every α) and the definition: the *chord* barrier (Entezari et al., 2022) or Frankle et al.'s "
        "(2020, the worst point minus the mean of the ends). Every barrier this project shows on the ID set, "
        "from the stored files (`core.lmc.barriers`); 95% intervals where per-example results are stored."
    )
    cell = lambda r, k, d: (
        ""
        if r[k] is None
        else f"{r[k]:.{d}f}" + ("" if r[k + "_lo"] is None else f" [{r[k + '_lo']:.{d}f}, {r[k + '_hi']:.{d}f}]")
    )
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "pair": r["pair"],
                    "alignment": r["alignment"],
                    "width": r["width"],
                    "BatchNorm statistics": r["batchnorm"],
                    "definition": r["definition"],
                    "loss barrier (nats)": cell(r, "loss", 3),
                    "error barrier (pp)": cell(r, "error", 1),
                    "source": r["source"],
                }
                for r in rows
            ]
        ),
        hide_index=True,
        width="stretch",
    )


# As the live view does in run mode (explorer/components/live/live.js): below 1300 px the sidebar folds away once.
FOLD_SIDEBAR = """<script>
const w = window.parent;
if (!w.__wiseftSidebarChecked && w.innerWidth < 1300) {
  w.__wiseftSidebarChecked = true;
  const b = w.document.querySelector('button[aria-label="Collapse sidebar"]');
  if (b) b.click();
}
</script>"""


def lab_sections() -> dict[str, dict]:
    root = lab_root()
    return read_sections(str(root), _stamp(root))


def lab_ui(presenter: bool = False) -> None:
    """The lab page: the paths moved by one slider, then one tab per section present (a missing one says how
    to compute it)."""
    components.html(FOLD_SIDEBAR, height=0)
    root = lab_root()
    sections = lab_sections()
    st.caption(f"Computed by `make world` (core/worlds/build/) into `{root}`; this page only reads it.")
    panels = [paths.spawn_panel(sections["spawn"])] if "spawn" in sections else []
    panels += [paths.align_panel(sections["align"])] if "align" in sections else []
    if panels:
        client.live_view(paths.paths_payload("The lab's paths", panels), "lab:paths", presenter, compact=True)
    names = [n for n in SECTIONS if n in PANELS]
    tabs = st.tabs([*(PANELS[n][0] for n in names), BARRIERS_TAB], key="lab", bind="query-params")
    for name, tab in zip(names, tabs):
        with tab:
            if name in sections:
                PANELS[name][1](sections[name])
            else:
                st.info(f"No `{name}.json` in {root}: run `make world` (or `python -m core world --lab`).")
    with tabs[-1]:
        barriers_ui(root)
