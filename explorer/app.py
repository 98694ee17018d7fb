"""WiSE-FT Explorer: drag alpha and watch what weight-space interpolation does.

    streamlit run explorer/app.py                      # or `make demo`; opens on the shipped world run
    WISEFT_RUNS=/my/runs streamlit run explorer/app.py # look for runs in other folders
    http://127.0.0.1:8501/?run=/path/to/run            # open one run folder directly

theta_alpha = (1 - alpha) * theta_zeroshot + alpha * theta_finetuned. The app never trains: it reads
run folders through `core`, caches each run's per-alpha arrays (explorer.state) and redraws the
charts (explorer.charts) from them when the slider moves.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `streamlit run` puts explorer/ first

from core.artifacts import RunFormatError  # noqa: E402
from explorer import charts, paper, state  # noqa: E402
from explorer.gallery import changes_controls_ui, changes_ui, try_image_ui  # noqa: E402

RUN_MODE, PAPER_MODE = "A run", "The paper's numbers"
PLOTLY = dict(theme=None, config={"displayModeBar": False})


@st.cache_resource(max_entries=4, show_spinner="Reading the run and precomputing every alpha…")
def load_run(path: str, stamp: float) -> state.RunArrays:
    """The run's per-alpha arrays, kept across reruns (stamp: reloads a re-swept run)."""
    return state.load_run(path)


@st.cache_resource
def paper_sweeps() -> list[paper.PaperSweep]:
    return paper.list_sweeps()


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


# ----------------------------------------------------------------------------- sidebar


def run_picker_ui() -> Path | None:
    """The run chosen in the sidebar: a typed path (or ?run=), else one of the runs found."""
    roots = state.run_roots()
    runs = state.list_runs(roots)
    typed = st.sidebar.text_input("Run folder path", value=st.query_params.get("run", ""), key="run_path",
                                  placeholder="/path/to/run (optional)")
    if typed.strip():
        return Path(typed.strip()).expanduser()
    if not runs:
        return None
    return st.sidebar.selectbox("Run", runs, key="run", format_func=lambda p: f"{p.name}  ({p.parent})",
                                help="Runs found under " + ", ".join(map(str, roots)))


def no_runs_ui() -> None:
    roots = ", ".join(f"`{r}`" for r in state.run_roots())
    st.warning(
        f"**No runs found** in {roots}.\n\n"
        "- `make world` builds the embedded world's runs into `data/runs/`;\n"
        "- `python -m core zeroshot/finetune/sweep ...` makes your own (see README);\n"
        "- or type a run folder's path in the sidebar.\n\n"
        f"Meanwhile, *{PAPER_MODE}* (sidebar) shows the paper's published sweeps.")


def run_info_ui(ra: state.RunArrays) -> None:
    run = ra.run
    model = run.manifest.get("model", {})
    name = str(model.get("name", "?"))
    name = name if len(name) <= 32 else "…" + name[-31:]
    ft = run.manifest.get("finetune", {})
    st.sidebar.markdown(
        f"**{run.name}**  \nmodel: `{name}` {model.get('pretrained') or ''}  \n"
        + ("path: θ0 = {}, θ1 = {}".format(*run.endpoints) if "endpoints" in run.manifest
           else f"fine-tuning: {ft.get('mode', '?')}")
        + f"  \n{len(run.classnames)} classes; eval sets: "
        + ", ".join(f"{s.name} ({s.role}, {len(s.labels)})" for s in ra.sets.values())
        + ("  \nlogits are linear in α: exact at any α" if ra.linear else "")
        + (f"  \n{len(ra.baselines)} baseline models" if ra.baselines else ""))


# ----------------------------------------------------------------------------- run mode


def alpha_slider_ui(ra: state.RunArrays, key: str) -> float:
    """α: grid points of an end-to-end run, or any α (step 0.01) of a linear-classifier run."""
    start = 0.5 if state.view_index(ra, 0.5) is not None else float(ra.alphas[len(ra.alphas) // 2])
    help_ = "θα = (1 − α)·θ_zero-shot + α·θ_fine-tuned. Arrow keys step it."
    if ra.linear:
        return float(st.slider("α (exact at any value: logits are linear in α)", float(ra.alphas[0]),
                               float(ra.alphas[-1]), start, step=state.LINEAR_STEP, format="%.2f",
                               key=f"alpha:{key}", help=help_))
    return float(st.select_slider("α (the run's grid)", options=[float(a) for a in ra.alphas], value=start,
                                  format_func=lambda a: f"{a:.2f}", key=f"alpha:{key}", help=help_))


def metrics_ui(rows: list[dict], id_name: str, ends: tuple[float, float]) -> None:
    """One metric per set: accuracy at α, change vs α=0 (arrow) and vs α=1 (caption)."""
    for col, r in zip(st.columns(len(rows)), rows):
        role = "ID" if r["name"] == id_name else ("" if r["name"] == state.AVG_OOD else "OOD")
        label = charts.pretty(r["name"]) + (f" ({role})" if role else "")
        flat = abs(r["vs_zero"]) < 5e-4
        col.metric(label, pct(r["accuracy"]), delta=f"{100 * r['vs_zero']:+.1f} pp",
                   delta_color="off" if flat else "normal", delta_arrow="off" if flat else "auto",
                   delta_description=f"vs α={ends[0]:g}")
        col.caption(f"{100 * r['vs_one']:+.1f} pp vs α={ends[1]:g}")


def scatter_ui(ra: state.RunArrays, snap: state.Snapshot, y_name: str, fit) -> None:
    curves = ra.accuracy_curves()
    acc = {r["name"]: r["accuracy"] for r in snap.rows}
    er = snap.effective_robustness  # at snap.alpha, for y_name, against `fit`
    path = {"name": ra.run.name, "alphas": ra.alphas, "x": curves[ra.id_name], "y": curves[y_name],
            "endpoints": ra.run.endpoints}
    current = {"alpha": snap.alpha, "x": acc[ra.id_name], "y": acc[y_name], "er": er}
    title = "Effective robustness" + ("" if er is None else f"<br>at α={snap.alpha:.2f}: {100 * er:+.1f} pp")  # 2 lines: narrow column
    fig = charts.robustness_scatter([path], state.baseline_points(ra, y_name), fit, current,
                                    f"ID accuracy ({ra.id_name})", f"{charts.pretty(y_name)} accuracy", title)
    st.plotly_chart(fig, **PLOTLY)
    if fit is None:
        st.caption("No baseline models in this run (baselines.csv), so no linear fit and no effective robustness.")


def run_charts_ui(ra: state.RunArrays, snap: state.Snapshot, cols, y_name: str | None, fit) -> None:
    """Charts 1-3: accuracy vs α, robustness scatter, loss along the path."""
    with cols[0]:
        st.plotly_chart(charts.accuracy_vs_alpha(ra.alphas, ra.accuracy_curves(), snap.alpha, ra.id_name,
                                                 endpoints=ra.run.endpoints), **PLOTLY)
    with cols[1]:
        if y_name is None:
            st.info("This run has no OOD eval set, so there is no robustness scatter.")
        else:
            scatter_ui(ra, snap, y_name, fit)
    with cols[2]:
        bars = state.barriers(ra)
        st.plotly_chart(charts.loss_path(ra.alphas, ra.loss_curves(), snap.alpha, ra.id_name, bars), **PLOTLY)
        st.caption("Barrier = largest rise of the loss above the dashed chord: "
                   + ", ".join(f"{charts.pretty(n)} {b:+.3f}" for n, b in bars.items())
                   + f". Loss at α={snap.alpha:.2f}: "
                   + ", ".join(f"{charts.pretty(n)} {v:.3f}" for n, v in snap.losses.items()))


def run_ui(path: Path) -> None:
    """Run mode: the slider, live metrics, the three path charts, and the two lazy tabs."""
    try:
        ra = load_run(str(path), state.run_stamp(path))
    except (RunFormatError, KeyError, ValueError, OSError) as err:
        st.error(f"**Cannot open this run.** {err}")
        return
    key = str(ra.run.path)
    run_info_ui(ra)
    title = path.name if ra.run.name == path.name else f"{path.name} ({ra.run.name})"
    st.subheader(f"{title}: what does α do?")
    if not ra.ood_names:
        st.warning("This run has **no OOD eval set**: only ID accuracy and loss are shown. Re-sweep it with "
                   "`--ood NAME=SPEC` to see robustness under distribution shift.")
    alpha = alpha_slider_ui(ra, key)
    metrics_box, cols = st.container(), st.columns(3)
    y_name = None
    if ra.ood_names:
        y_name = cols[1].selectbox("scatter's OOD axis", state.y_options(ra), key=f"y:{key}",
                                   format_func=charts.pretty)
    fit = state.trend(ra, y_name) if y_name else None
    tabs = st.tabs(["What changed: fixed and broken examples", "Try your own image"], on_change="rerun",
                   key=f"tabs:{key}")
    with tabs[0]:
        controls = changes_controls_ui(ra, key, alpha) if tabs[0].open else None
    ref_alpha, dataset = (controls["ref_alpha"], controls["dataset"]) if controls else (0.0, None)
    snap = state.on_alpha_change(ra, alpha, ref_alpha, dataset, y_name or state.AVG_OOD, fit)
    with metrics_box:
        metrics_ui(snap.rows, ra.id_name, state.endpoint_alphas(ra))
    run_charts_ui(ra, snap, cols, y_name, fit)
    if controls:
        with tabs[0]:
            changes_ui(ra, snap, controls)
    if tabs[1].open:
        with tabs[1]:
            try_image_ui(ra, alpha)


# ----------------------------------------------------------------------------- paper mode


def paper_ui() -> None:
    """The paper's published sweeps as read-only runs: metrics, curves, and every model's path."""
    sweeps = paper_sweeps()
    st.subheader("The paper's numbers: WiSE-FT on ImageNet and five distribution shifts")
    by_label = {s.label: s for s in sweeps}
    sweep = by_label[st.selectbox("Published sweep", list(by_label), key="paper_sweep")]
    alpha = float(st.select_slider("α (the paper's grid)", options=[float(a) for a in sweep.alphas], value=0.5,
                                   format_func=lambda a: f"{a:.2f}", key="paper_alpha"))
    metrics_ui(paper.metric_rows(sweep, alpha), paper.ID_NAME, (0.0, 1.0))
    left, right = st.columns(2)
    left.plotly_chart(charts.paper_curves(sweep, alpha), **PLOTLY)
    paths = [paper.scatter_path(sweep, highlight=True)]
    paths += [paper.scatter_path(s) for s in sweeps if s is not sweep]
    now = paper.accuracy_at(sweep, alpha)
    current = {"alpha": alpha, "x": now[paper.ID_NAME], "y": now[paper.AVG_OOD], "er": None}
    right.plotly_chart(charts.robustness_scatter(paths, current=current, x_label="ImageNet accuracy",
                                                 y_label="avg of 5 shifts",
                                                 title="Every published sweep: ImageNet vs shifts"), **PLOTLY)
    st.caption("Source: Wortsman et al., *Robust fine-tuning of zero-shot models* (CVPR 2022), appendix "
               "tables 4, 5 and 9-12, copied into data/paper/ (see EXPLORER.md there). The tables list no "
               "baseline models, so there is no linear fit here; the dotted line is y = x.")


def main() -> None:
    st.set_page_config(page_title="WiSE-FT Explorer", page_icon="⚖️", layout="wide")
    st.sidebar.title("WiSE-FT Explorer")
    st.sidebar.caption("θα = (1 − α)·θ_zero-shot + α·θ_fine-tuned (Wortsman et al., 2022)")
    mode = st.sidebar.radio("Show", [RUN_MODE, PAPER_MODE], key="mode", horizontal=True)
    if mode == PAPER_MODE:
        paper_ui()
        return
    path = run_picker_ui()
    if path is None:
        no_runs_ui()
    else:
        run_ui(path)


main()
