"""WiSE-FT Explorer: drag alpha and watch what weight-space interpolation does.

    streamlit run explorer/app.py                      # or `make demo`; opens on the shipped world run
    WISEFT_RUNS=/my/runs streamlit run explorer/app.py # look for runs in other folders
    http://127.0.0.1:8501/?run=/path/to/run&alpha=0.3&set=sketch&tab=Choosing+α   # an exact view
    http://127.0.0.1:8501/?lesson=lmc&step=3           # the lesson (explorer.lesson; docs/lesson.md)

theta_alpha = (1 - alpha) * theta_0 + alpha * theta_1. The app never trains: it reads run folders
through `core`, reduces each run to per-alpha tables once (explorer.live) and hands them to the
live view (explorer.client), which redraws tiles and charts in the browser as alpha moves. The
script reruns only when the run, the eval set, the compared alpha, the class filter or a tab change.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `streamlit run` puts explorer/ first

from core.runs.artifacts import RunFormatError
from core.runs.manifest import plane_file
from explorer import client, lesson, live, paper, share, state
from explorer.gallery import changes_ui, try_image_ui, view_controls_ui

RUN_MODE, PAPER_MODE, LAB_MODE, LESSON_MODE = "A run", "The paper's numbers", "LMC lab", "The lesson"
URL_MODES = {PAPER_MODE: "paper", LAB_MODE: "lab"}  # ?mode= (the lesson: ?lesson=lmc&step=N)
CHANGES_TAB, IMAGE_TAB, SETS_TAB = "Examples that changed", "Try your own image", "The eval sets"
CHOOSING_TAB, DEFINITIONS_TAB, BASELINES_TAB = "Choosing α", "Definitions", "Baselines"
PLANE_TAB = "Loss plane"  # runs with a stored plane (core.lmc.plane.write_plane)
TABS = [CHANGES_TAB, IMAGE_TAB, SETS_TAB, BASELINES_TAB, CHOOSING_TAB, DEFINITIONS_TAB]
PAPER_TABS = [CHOOSING_TAB, DEFINITIONS_TAB]
ALPHA_TABS = [CHANGES_TAB, IMAGE_TAB, PLANE_TAB]  # they show alpha-dependent things: the live view sends alpha there
NO_COMPARE = "(nothing)"
COMPACT_CSS = (
    "<style>.block-container { padding-top: 2.2rem; padding-bottom: 1rem; }"  # charts above the fold
    " .stMainBlockContainer h4 { padding: 0.2rem 0; }</style>"
)
# Prepared runs kept: more than the runs a picker lists (the shipped five), which it opens on every page to flag
# damaged ones; with 4 kept, every new page re-prepared 4 of the 5 (0.3-0.8 s before the live view was sent).
RUNS_KEPT = 16
PRESENTER_CSS = "<style>html { font-size: 20px; } .stMarkdown p, .stCaption { font-size: 1.05rem; }</style>"


@st.cache_resource(max_entries=RUNS_KEPT, show_spinner="Reading the run and precomputing every alpha…")
def load_run(path: str, stamp: float) -> state.RunArrays:
    """The run's per-alpha arrays, kept across reruns (stamp: reloads a re-swept run)."""
    return state.load_run(path)


@st.cache_data(max_entries=32, show_spinner=False)
def run_payload(path: str, stamp: float, dataset: str, ref_alpha: float, cls: int | None, y_name: str) -> dict:
    ra = load_run(path, stamp)
    return live.run_payload(ra, dataset, ref_alpha, cls, y_name)


@st.cache_resource
def paper_sweeps() -> list[paper.PaperSweep]:
    return paper.list_sweeps()


def damage(path: Path) -> str | None:
    """Why a run cannot open (the reason core gives), or None when it opens. Opening is cached
    (load_run), so listing runs costs one preparation per run and session."""
    try:
        load_run(str(path), state.run_stamp(path))
    except Exception as err:  # noqa: BLE001  (RunFormatError, or a reader's own error on a damaged file)
        return str(err) or type(err).__name__
    return None


def url_alpha(default: float = 0.5) -> float:
    try:
        return float(st.query_params.get("alpha", default))
    except ValueError:
        return default


def set_param(name: str, value: str | None) -> None:
    """Keep ?name= in the URL in step with a server-side choice (only when it changed)."""
    if value is None:
        st.query_params.pop(name, None)
    elif st.query_params.get(name) != value:
        st.query_params[name] = value


# ----------------------------------------------------------------------------- sidebar


def run_picker_ui() -> Path | None:
    """The run chosen in the sidebar: a typed path (or ?run=), else one of the runs found; runs that
    cannot open are listed as damaged, with the reason, and the others still open."""
    roots = state.run_roots()
    runs = state.list_runs(roots)
    asked = st.query_params.get("run", "")
    found = {str(p): p for p in runs}
    by_name = [p for p in runs if p.name == asked]  # a link may name a listed run (?run=world-e2e)
    asked = str(by_name[0]) if asked not in found and len(by_name) == 1 else asked
    typed = st.sidebar.text_input(
        "Run folder path", value="" if asked in found else asked, key="run_path", placeholder="/path/to/run (optional)"
    )
    if typed.strip():
        return Path(typed.strip()).expanduser()
    if not runs:
        return None
    if "run" not in st.session_state and asked in found:
        st.session_state["run"] = found[asked]
    broken = {p: damage(p) for p in runs}

    def label(p: Path) -> str:
        return f"{p.name}  ({p.parent})" + (f"  ⚠ damaged: {broken[p]}" if broken[p] else "")

    return st.sidebar.selectbox(
        "Run", runs, key="run", format_func=label, help="Runs found under " + ", ".join(map(str, roots))
    )


def no_runs_ui() -> None:
    roots = ", ".join(f"`{r}`" for r in state.run_roots())
    st.warning(
        f"**No runs found** in {roots}.\n\n"
        "- `make world` builds the embedded world's runs into `data/runs/`;\n"
        "- `python -m core zeroshot/finetune/sweep ...` makes your own (see README);\n"
        "- or type a run folder's path in the sidebar.\n\n"
        f"Meanwhile, *{PAPER_MODE}* (sidebar) shows the paper's published sweeps."
    )


def run_info_ui(ra: state.RunArrays) -> None:
    run = ra.run
    e0, e1 = run.endpoints
    model = run.manifest.get("model", {})
    name = str(model.get("name", "?"))
    name = name if len(name) <= 32 else "…" + name[-31:]
    st.sidebar.markdown(f"θα = (1 − α)·θ0 + α·θ1  \nθ0 = *{e0}*, θ1 = *{e1}*")
    st.sidebar.markdown(
        f"**{run.name}**  \nmodel: `{name}` {model.get('pretrained') or ''}"
        + f"  \n{len(run.classnames)} classes; eval sets: "
        + ", ".join(f"{s.name} ({s.role}, {len(s.labels)})" for s in ra.sets.values())
        + ("  \nlogits are linear in α: exact at any α" if ra.linear else "")
        + (f"  \n{len(ra.baselines)} baseline models" if ra.baselines else "")
    )


def compare_ui(current: str, runs: list[Path], sweeps: list[paper.PaperSweep]) -> dict | None:
    """Compare: another run (by name) or a paper sweep, drawn dashed on the accuracy and scatter charts; ?compare=."""
    by_name = {p.name: str(p) for p in runs if str(p) != current}
    options = [NO_COMPARE, *by_name, *(s.label for s in sweeps if s.label != current)]
    if st.session_state.get("compare") not in options:
        st.session_state.pop("compare", None)  # another run's own name, or a link's unknown one: nothing
    pick = st.sidebar.selectbox("Compare with (dashed overlay)", options, key="compare", bind="query-params")
    if pick == NO_COMPARE:
        return None
    pick = by_name.get(pick, pick)
    sweep = next((s for s in sweeps if s.label == pick), None)
    if sweep is not None:
        return live.overlay(sweep.label, sweep.alphas, sweep.accuracy[paper.ID_NAME], sweep.accuracy[paper.AVG_OOD])
    try:
        other = load_run(pick, state.run_stamp(Path(pick)))
    except (RunFormatError, KeyError, ValueError, OSError) as err:
        st.sidebar.error(f"Cannot open {Path(pick).name}: {err}")
        return None
    curves = other.accuracy_curves()
    y = curves.get(state.AVG_OOD, curves[other.id_name])
    return live.overlay(other.run.name, other.alphas, curves[other.id_name], y, other.run.endpoints)


# ----------------------------------------------------------------------------- run mode


def run_ui(path: Path, presenter: bool) -> None:
    """Run mode: the live view (slider, tiles, five charts) and the server-side tabs below it."""
    if slow := state.before_opening(path):
        st.warning(slow)
    try:
        ra = load_run(str(path), state.run_stamp(path))
    except Exception as err:  # noqa: BLE001  (RunFormatError, or a reader's error on a damaged file)
        st.error(f"**Cannot open this run.** {err or type(err).__name__}")
        return
    key = str(ra.run.path)
    set_param("run", key)
    run_info_ui(ra)
    for note in ra.notes:
        st.warning(note)
    overlay = compare_ui(key, state.list_runs(state.run_roots()), paper_sweeps())
    title = path.name if ra.run.name == path.name else f"{path.name} ({ra.run.name})"
    title_ui(f"{title}: what does α do?", lesson_button=True)
    if not ra.ood_names:
        st.warning(
            "This run has **no OOD eval set**: only ID accuracy and loss are shown. Re-sweep it with "
            "`--ood NAME=SPEC` to see robustness under distribution shift."
        )
    controls = view_controls_ui(
        ra,
        key,
        st.query_params.get("set"),
        wide=not presenter,
        asked={k: st.query_params.get(k) for k in ("ref", "class", "y")},
    )
    set_param("set", controls["dataset"])
    set_param("ref", None if controls["ref_alpha"] == 0.0 else f"{controls['ref_alpha']:.2f}")
    set_param("class", None if controls["cls"] is None else ra.classnames[controls["cls"]])
    set_param("y", None if controls["y_name"] in (None, state.AVG_OOD) else controls["y_name"])
    payload = dict(
        run_payload(
            key,
            state.run_stamp(path),
            controls["dataset"],
            controls["ref_alpha"],
            controls["cls"],
            controls["y_name"] or state.AVG_OOD,
        )
    )
    sent = client.slider_alpha()  # the tabs below follow the live slider once it has said where it is
    payload["alpha"], payload["overlay"] = url_alpha() if sent is None else sent, [overlay] if overlay else None
    client.live_view(payload, key, presenter, ALPHA_TABS)
    st.download_button(
        "Download this view as a page",
        lambda: share.run_page(ra, payload).html,
        f"{ra.run.name}.html",
        "text/html",
        key="dl:page",
        on_click="ignore",
        help="One HTML file that opens offline, with no "
        "Python, on a laptop or a phone: the slider, tiles and charts, the examples that changed, the "
        "definitions and the LMC lab (`python -m core share` writes the same)",
    )
    tabs_ui(ra, controls, payload)


def tables_download_ui(run) -> None:
    """The run's tables as CSV, from core.results.tables (the same frames as `info --format csv` and the notebooks)."""
    from core.results import tables

    left, right = st.columns(2)
    left.download_button(
        "Download the metrics, tidy (CSV)",
        tables.metrics_frame(run).to_csv(index=False),
        f"{run.name}_metrics.csv",
        "text/csv",
        key="dl:metrics",
    )
    right.download_button(
        "Download the paper-style table (CSV)",
        tables.format_frame(tables.run_table(run), "csv"),
        f"{run.name}_table.csv",
        "text/csv",
        key="dl:paper_table",
    )


def tabs_ui(ra: state.RunArrays, controls: dict, payload: dict) -> None:
    from explorer import explain  # pandas: imported once the live view is on its way to the browser

    names = [t for t in TABS if t != BASELINES_TAB or ra.ood_names]  # baselines compare OOD accuracy
    names += [PLANE_TAB] if plane_file(ra.run.path, ra.run.manifest).exists() else []
    tabs = dict(zip(names, st.tabs(names, key="tab", bind="query-params")))
    with tabs[CHANGES_TAB]:
        if tabs[CHANGES_TAB].open:
            changes_ui(ra, controls, payload["alpha"])
    with tabs[IMAGE_TAB]:
        if tabs[IMAGE_TAB].open:
            try_image_ui(ra, payload["alpha"])
    with tabs[SETS_TAB]:
        if tabs[SETS_TAB].open:
            explain.eval_sets_ui(ra)
    if BASELINES_TAB in tabs:
        with tabs[BASELINES_TAB]:
            if tabs[BASELINES_TAB].open:
                from explorer import baselines_page

                baselines_page.baselines_ui(ra.run.path, client.presenter_on())
    with tabs[CHOOSING_TAB]:
        curves = ra.accuracy_curves()
        explain.choosing_ui(ra.alphas, curves, ra.id_name, f"{ra.run.name}_choosing_alpha.csv")
        tables_download_ui(ra.run)
    with tabs[DEFINITIONS_TAB]:
        fit = payload["scatter"]["fit"] if payload["scatter"] else None
        path = (ra.alphas, ra.accuracy_curves()[ra.id_name], ra.id_name)
        st.markdown(explain.definitions_md(ra.run.endpoints, fit, path))
    if PLANE_TAB in tabs:
        with tabs[PLANE_TAB]:
            if tabs[PLANE_TAB].open:
                explain.plane_ui(ra.run.path, ra.run.endpoints, payload["alpha"])


# ----------------------------------------------------------------------------- paper mode


def paper_ui(presenter: bool) -> None:
    """The paper's published sweeps in the live view, with a fit through their fine-tuned ends."""
    sweeps = paper_sweeps()
    title_ui("The paper's numbers: WiSE-FT on ImageNet and five distribution shifts")
    labels = [s.label for s in sweeps]
    asked = st.query_params.get("sweep")
    if "paper_sweep" not in st.session_state and asked in labels:
        st.session_state["paper_sweep"] = asked
    label = st.selectbox("Published sweep", labels, key="paper_sweep")
    set_param("sweep", label)
    sweep = sweeps[labels.index(label)]
    fit = paper.endpoint_trend(sweeps)
    payload = live.paper_payload(sweep, url_alpha(), fit)
    others = [
        live.overlay(s.label, s.alphas, s.accuracy[paper.ID_NAME], s.accuracy[paper.AVG_OOD])
        for s in sweeps
        if s is not sweep
    ]
    show = st.toggle("Overlay every other published sweep (dashed)", key="others", bind="query-params")
    payload["overlay"] = others if show else None
    client.live_view(payload, "paper:" + label, presenter)
    from explorer import explain  # pandas: imported once the live view is on its way to the browser

    st.caption(
        "Source: Wortsman et al., *Robust fine-tuning of zero-shot models* (CVPR 2022), appendix "
        "tables 3, 4, 5 and 9-12, copied into data/paper/ (see EXPLORER.md there). The tables list no "
        "standard ImageNet models, so the dashed fit runs through the fine-tuned ends (α = 1) of the "
        "published sweeps; blank cells of the tables show as n/a."
    )
    tabs = dict(zip(PAPER_TABS, st.tabs(PAPER_TABS, key="tab", bind="query-params")))
    with tabs[CHOOSING_TAB]:
        names = [paper.ID_NAME, *sweep.ood_names, paper.AVG_OOD]
        explain.choosing_ui(
            sweep.alphas, {n: sweep.accuracy[n] for n in names}, paper.ID_NAME, "paper_choosing_alpha.csv"
        )
        explain.table3_ui(sweeps)
    with tabs[DEFINITIONS_TAB]:
        path = (sweep.alphas, sweep.accuracy[paper.ID_NAME], paper.ID_NAME)
        st.markdown(explain.definitions_md(("zero-shot", "fine-tuned"), fit, path))


# ----------------------------------------------------------------------------- lesson and lab


def lesson_ui(presenter: bool) -> None:
    """The lesson's step from ?step= (explorer.lesson)."""
    from explorer import lab_page

    try:
        n = int(st.query_params.get("step", 1))
    except ValueError:
        n = 1
    set_param("lesson", lesson.LESSON)
    set_param("step", str(min(max(n, 1), len(lesson.STEPS))))
    asked = st.query_params.get("alpha")
    lesson.lesson_ui(n, load_run, run_payload, lab_page.lab_sections, presenter, None if asked is None else url_alpha())


def title_ui(text: str, lesson_button: bool = False) -> None:
    """The page's title, the presenter switch beside it (reachable with the sidebar folded away: ?presenter=true)
    and, on the landing view, the way into the lesson."""
    cols = st.columns([5, 1.6, 2.4] if lesson_button else [5, 2.4], vertical_alignment="center")
    cols[0].subheader(text)
    if lesson_button:
        cols[1].link_button(
            "▶ The lesson",
            lesson.step_url(1),
            help="A 50-minute class on WiSE-FT and linear mode connectivity, one screen per step (docs/lesson.md)",
            width="stretch",
        )
    client.presenter_toggle(cols[-1])


def main() -> None:
    st.set_page_config(page_title="WiSE-FT Explorer", page_icon="⚖️", layout="wide", initial_sidebar_state="auto")
    st.sidebar.title("WiSE-FT Explorer")
    modes = [RUN_MODE, PAPER_MODE, LAB_MODE, LESSON_MODE]
    asked = (
        LESSON_MODE
        if st.query_params.get("lesson")
        else {v: k for k, v in URL_MODES.items()}.get(st.query_params.get("mode"))
    )
    if "mode" not in st.session_state and asked:
        st.session_state["mode"] = asked
    mode = st.sidebar.radio("Show", modes, key="mode", horizontal=True)
    presenter = client.presenter_on()  # the switch is drawn later, beside the title (title_ui)
    st.markdown(COMPACT_CSS + (PRESENTER_CSS if presenter else ""), unsafe_allow_html=True)
    set_param("mode", URL_MODES.get(mode))
    if mode != LESSON_MODE:
        set_param("lesson", None)
        set_param("step", None)
    if mode == PAPER_MODE:
        paper_ui(presenter)
        return
    if mode == LAB_MODE:
        from explorer import lab_page  # its charts and sentences: only on this page

        title_ui("The LMC lab: when do two weight sets connect?")
        lab_page.lab_ui(presenter)
        return
    if mode == LESSON_MODE:
        lesson_ui(presenter)
        return
    path = run_picker_ui()
    if path is None:
        no_runs_ui()
    else:
        run_ui(path, presenter)


main()
