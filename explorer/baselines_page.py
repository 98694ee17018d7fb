"""The Baselines view (issue 28): could a gentler fine-tune, or averaging the two models' outputs, do what
WiSE-FT does? The run view's "Baselines" tab and the lesson's step 3 draw it from the run's stored files
only (core.results.robustness.scatter_points, core.results.ensembles.ensemble_rows); every sentence comes
from explorer.baselines_text."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from core.results.ensembles import DEFAULT_MIX, EnsembleError, ensemble_rows
from core.results.robustness import scatter_points
from core.runs.artifacts import Run
from explorer import baselines_text, charts, state

MIX_LABELS = {"logits": "logits (the paper's)", "probs": "probabilities"}
TABLE_COLUMNS = ["variant", "ID", "avg OOD", "effective robustness", "WiSE-FT at", "OOD vs WiSE-FT", "verdict"]


@st.cache_data(max_entries=8, show_spinner="Placing WiSE-FT's baselines…")
def baselines_data(path: str, stamp: float, mix: str) -> tuple[dict | None, list[dict], str]:
    """(scatter_points or None, ensemble_rows or [], why a part is missing) of the run at `path`."""
    run, why = Run(path), ""
    try:
        points = scatter_points(run, mix)
    except ValueError as err:  # no baselines.csv: no fit, no scatter; the ensemble still stands
        points, why = None, str(err)
    try:
        rows = ensemble_rows(run, mix)
    except EnsembleError as err:
        rows, why = [], (why + " " + str(err)).strip()
    return points, rows, why


def controls_ui(key: str) -> tuple[str, tuple[float, ...]]:
    """What is mixed in the output-space ensemble, and whether each variant's own WiSE-FT (alpha 0.5) shows."""
    left, right = st.columns(2, vertical_alignment="center")
    mix = left.radio(
        "The output-space ensemble mixes",
        list(MIX_LABELS),
        format_func=MIX_LABELS.get,
        key=f"{key}:mix",
        horizontal=True,
        help="(1 − α)·z0 + α·z1 of the two models' logits, or of their softmax probabilities",
    )
    own = right.toggle(
        "Also WiSE-FT on each fine-tune",
        key=f"{key}:own",
        help="Each variant's own α = 0.5: halfway between θ0 and that fine-tune (hollow triangles)",
    )
    return mix or DEFAULT_MIX, (1.0, 0.5) if own else (1.0,)


def baselines_ui(path: Path, presenter: bool, key: str = "baselines", lesson: bool = False) -> str:
    """The view: controls, the two-panel scatter, then (outside the lesson) its sentences and the variants' table.
    Returns the sentences (the lesson folds them into its answer)."""
    if not lesson:
        st.markdown(baselines_text.INTRO)
    mix, variants_at = controls_ui(key)
    points, rows, why = baselines_data(str(path), state.run_stamp(path), mix)
    if points is None:
        st.info(
            f"**No effective-robustness scatter for this run:** {why}. A `baselines.csv` in the run folder (model, "
            "dataset, accuracy of models trained without the zero-shot start; docs/run-format.md) places it."
        )
        run = Run(path)
        points = {"finetunes": [], "ensemble": rows, "notes": [why], "mix": mix, "ood_sets": run.ood_datasets}
        text = baselines_text.summary_md(points, rows)
        if not lesson:
            st.markdown(text)
        return text
    fig = charts.baselines_scatter(
        points, variants_at, height=(430 if lesson else 520) + 40 * presenter, presenter=presenter
    )
    st.plotly_chart(
        fig,
        width="stretch",
        key=f"{key}:chart",
        theme=None,
        config={"displaylogo": False},
    )
    text = baselines_text.summary_md(points, rows)
    if lesson:
        return text
    st.markdown(text)
    if family := baselines_text.family_rows(points):
        st.dataframe(pd.DataFrame(family)[TABLE_COLUMNS], hide_index=True, width="stretch")
        st.caption(
            "Each variant is a fine-tune of the same θ0 on the same data with one setting changed "
            "(`python -m core finetune --lr / --epochs / --l2-to-init / --train-last-k`), built by `make world`. "
            "It is compared with WiSE-FT at the grid α of nearest ID accuracy: the paired difference of average "
            "OOD accuracy over the same examples, with its 95% interval (docs/uncertainty.md)."
        )
    else:
        st.caption("This run ships no fine-tuning family (finetunes.json): only the ensemble is compared.")
    return text
