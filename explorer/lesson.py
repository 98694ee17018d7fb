"""The lesson (`?lesson=lmc&step=N`): a 50-minute class on WiSE-FT and linear mode connectivity, one
screen per step at 1024x768, each with a "predict, then drag" prompt, the answer computed from the
shipped numbers, and the notebook section that goes deeper. The steps reuse the live view (explorer.live,
explorer.paths) and the lab's charts; docs/lesson.md is the teacher's guide to the same steps.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st
import streamlit.components.v1 as components

from explorer import charts, client, live, paths, state
from explorer.numbers import pct

LESSON = "lmc"  # ?lesson=
APP_URL = "http://127.0.0.1:8501"  # `make demo`'s address: the notebooks link back to it
RISE = 0.05  # nats: a loss barrier above this is "a rise" in the lesson's answers
JUPYTER_ENV = "WISEFT_JUPYTER"  # where the step's notebook links point (a running `jupyter lab notebooks/`)
JUPYTER_DEFAULT = "http://localhost:8888/lab/tree/notebooks/"
PATH_RUNS = (
    ("scratch", "lmc-scratch", "Scratch A ↔ B"),
    ("shared", "lmc-shared-start", "A shared start"),
    ("finetunes", "lmc-finetunes", "Two fine-tunes"),
    ("wiseft", "world-e2e", "Zero-shot → fine-tuned"),
)


@dataclass(frozen=True)
class Step:
    """One screen of the lesson."""

    id: str  # a short name (the guide's anchor)
    title: str
    minutes: int  # its share of the 50 minutes
    prompt: str  # "predict, then drag"
    shows: str  # what is on the screen
    notebook: str  # notebooks/<file>
    section: str  # the heading in it that goes deeper (its text, exactly)


STEPS = (
    Step(
        "shift",
        "Zero-shot vs fine-tuned on the shifts",
        7,
        "**Predict:** fine-tuning raises ID accuracy. Which of the five shifts lose accuracy when we fine-tune? "
        "**Then drag** α from 0 (zero-shot) to 1 (fine-tuned) and read the tiles.",
        "world-e2e: the tiles and the accuracy along the path, starting at the zero-shot model",
        "02_fine_tuning_trades_robustness.ipynb",
        "ID up, OOD down",
    ),
    Step(
        "wiseft",
        "WiSE-FT: one slider between the two",
        8,
        "**Predict:** halfway between zero-shot and fine-tuned weights, is OOD accuracy between the two ends, "
        "or above both? **Then drag** and watch the dot leave the baselines' line.",
        "world-e2e: accuracy along α and the ID-vs-OOD scatter with the baselines' fit (effective robustness)",
        "03_wise_ft.ipynb",
        "2. Sweep alpha",
    ),
    Step(
        "baselines",
        "Why not tune the fine-tuning, or ensemble the outputs?",
        6,
        "**Predict:** a gentler fine-tune (smaller learning rate, fewer epochs, a pull toward θ0, fewer layers "
        "trained) or averaging the two models' outputs: does either land above WiSE-FT's curve? **Then look** "
        "at the triangles and the dashed curve in the corner.",
        "world-e2e: six other fine-tunes of θ0 and the output-space ensemble beside WiSE-FT's curve, on the "
        "effective-robustness scatter and zoomed on the fine-tuned corner",
        "07_baselines.ipynb",
        "2. Where the fine-tunes land",
    ),
    Step(
        "paths",
        "Four paths, one slider",
        10,
        "**Predict:** which of these four straight paths has a loss barrier in the middle? **Then drag** to "
        "α = 0.5: every panel moves together.",
        "loss (barrier shaded) and accuracy along scratch A ↔ B, a shared start, two fine-tunes and "
        "zero-shot → fine-tuned: the talk's observations 1, 2, 4 and 5",
        "04_linear_mode_connectivity.ipynb",
        "(1) Independently trained models are not connected",
    ),
    Step(
        "swa-soups",
        "SWA and soups: averaging inside a basin",
        7,
        "**Predict:** does the average of SGD's last snapshots beat the last snapshot? Does a soup of five "
        "fine-tunes beat its best ingredient under shift? **Then look** at the bars and the stars.",
        "the LMC lab: SWA's snapshots and their average; soups against the WiSE-FT path (observation 3)",
        "04_linear_mode_connectivity.ipynb",
        "(3) SGD ends at the edge of a flat basin; averaging moves inward (SWA)",
    ),
    Step(
        "plane",
        "Why it works: the loss plane",
        6,
        "**Predict:** on the plane through zero-shot, fine-tuned and a second fine-tune, is there a ridge on "
        "the segment between the first two? **Then drag** and follow the star.",
        "world-e2e: the loss along the path beside the ID loss plane with the current α's star",
        "04_linear_mode_connectivity.ipynb",
        "The loss surface on the plane through zero-shot and two fine-tunes",
    ),
    Step(
        "choosing",
        "Choosing α",
        6,
        "**Predict:** if you may only look at ID data, which α do you pick, and what does it cost under shift? "
        "**Then jump** to 'best on ID' and to α = 0.5 and compare.",
        "world-e2e: the jumps to α = 0.5 and to each set's best α, and the table of what each choice gives",
        "03_wise_ft.ipynb",
        "3. The best alpha for ID and for OOD",
    ),
)


def list_steps() -> list[Step]:
    return list(STEPS)


def step_url(n: int, base: str = "") -> str:
    """The link that opens step n (1-based): `?lesson=lmc&step=n`."""
    return f"{base}/?lesson={LESSON}&step={n}"


def notebook_anchor(section: str) -> str:
    """JupyterLab's anchor for a markdown heading: spaces become '-'."""
    return section.replace(" ", "-")


def notebook_url(step: Step) -> str:
    base = os.environ.get(JUPYTER_ENV, JUPYTER_DEFAULT)
    return f"{base}{step.notebook}#{notebook_anchor(step.section)}"


# ----------------------------------------------------------------------------- expected answers, from the data


def find_run(name: str) -> Path | None:
    return next((p for p in state.list_runs() if p.name == name), None)


def _shift_answer(ra: state.RunArrays) -> str:
    acc = ra.accuracy_curves()
    lo, hi = state.endpoint_alphas(ra)
    i0, i1 = state.view_index(ra, lo), state.view_index(ra, hi)
    fell = [n for n in ra.ood_names if acc[n][i1] < acc[n][i0]]
    return (
        f"ID goes from {pct(acc[ra.id_name][i0])} to {pct(acc[ra.id_name][i1])}; "
        + (
            f"{len(fell)} of {len(ra.ood_names)} shifts lose accuracy ({', '.join(fell)})"
            if fell
            else "no shift loses accuracy"
        )
        + f", and the average OOD accuracy goes from {pct(acc[state.AVG_OOD][i0])} to {pct(acc[state.AVG_OOD][i1])}."
    )


def _wiseft_answer(ra: state.RunArrays) -> str:
    ood = ra.accuracy_curves()[state.AVG_OOD]
    best = int(np.argmax(ood))
    above = ood[best] > max(ood[0], ood[-1])
    return (
        f"Average OOD accuracy peaks at α = {ra.alphas[best]:.2f}: {pct(ood[best])}, "
        + ("above both ends" if above else "not above both ends")
        + f" ({pct(ood[0])} zero-shot, {pct(ood[-1])} fine-tuned)."
    )


def _paths_answer(rs: dict[str, state.RunArrays]) -> str:
    from core.results import metrics

    barrier = {
        title: metrics.loss_barrier(rs[k].sets[rs[k].id_name].loss, rs[k].alphas)
        for k, _, title in PATH_RUNS
        if k in rs
    }
    rises = [t for t, b in barrier.items() if b > RISE]
    return (
        "ID loss barriers: "
        + "; ".join(f"{t}: {b:.3f} nats" for t, b in barrier.items())
        + ". "
        + (
            f"Only {' and '.join(rises)} rises by more than {RISE} nats."
            if rises
            else f"None rises by more than {RISE} nats."
        )
    )


def _swa_soups_answer(swa: dict, soups: dict) -> str:
    avg, final = swa["models"][-1], swa["models"][-2]
    pts = {p["kind"]: p for p in soups["points"] if p["kind"] != "ingredient"}
    best = max((p for p in soups["points"] if p["kind"] == "ingredient"), key=lambda p: p["ood_acc"])
    soup = pts.get("uniform")
    return (
        f"SWA's average: ID loss {avg['id_loss']:.4f} vs {final['id_loss']:.4f} nats for the last snapshot, "
        f"average OOD {pct(avg['ood_acc'])} vs {pct(final['ood_acc'])}. "
        + (
            f"The uniform soup: average OOD {pct(soup['ood_acc'])} vs {pct(best['ood_acc'])} for the best ingredient."
            if soup
            else ""
        )
    )


def _plane_answer(ra: state.RunArrays) -> str:
    barrier = state.barriers(ra)[ra.id_name]
    ood = np.mean([ra.sets[n].loss for n in ra.ood_names], axis=0) if ra.ood_names else None
    low = None if ood is None else int(np.argmin(ood))
    return (
        f"No ridge: the ID loss barrier along the segment is {barrier:.3f} nats, so every mix is about as good on "
        "ID data"
        if barrier <= RISE
        else f"A ridge: the ID loss barrier is {barrier:.3f} nats"
    ) + (
        ""
        if low is None
        else f"; the mean OOD loss is lowest at α = {ra.alphas[low]:.2f}"
        + (", between the ends." if 0 < low < len(ood) - 1 else ", at an end.")
    )


def _choosing_answer(ra: state.RunArrays) -> str:
    acc = ra.accuracy_curves()
    best = live.best_alphas(ra.alphas, acc)
    i_id, i_half = state.view_index(ra, best[ra.id_name]), state.view_index(ra, 0.5)
    return (
        f"Best on ID: α = {best[ra.id_name]:.2f}, average OOD {pct(acc[state.AVG_OOD][i_id])}; α = 0.5 gives "
        f"{pct(acc[state.AVG_OOD][i_half])} OOD for {pct(acc[ra.id_name][i_half])} ID "
        f"(vs {pct(acc[ra.id_name][i_id])})."
    )


# ----------------------------------------------------------------------------- the page


def header_ui(n: int, step: Step) -> None:
    """Step n of N, previous/next, the prompt, and the answer folded away."""
    left, switch, prev, nxt = st.columns([4.6, 3, 1, 1], vertical_alignment="center")
    left.markdown(f"#### Step {n} of {len(STEPS)} · {step.title}")
    client.presenter_toggle(switch)
    if n > 1:
        prev.button(
            "←",
            key="lesson:prev",
            on_click=go_to,
            args=(n - 1,),
            width="stretch",
            help=f"Step {n - 1}: {STEPS[n - 2].title}",
        )
    if n < len(STEPS):
        nxt.button(
            "→",
            key="lesson:next",
            on_click=go_to,
            args=(n + 1,),
            width="stretch",
            type="primary",
            help=f"Step {n + 1}: {STEPS[n].title}",
        )
    st.markdown(step.prompt)


def go_to(n: int) -> None:
    """Previous/next: the step's own URL, in this tab; each step starts at its own alpha."""
    st.query_params["step"] = str(n)
    st.query_params.pop("alpha", None)


def answer_ui(text: str) -> None:
    with st.expander("The answer (from the shipped numbers)"):
        st.markdown(text)


def footer_ui(step: Step) -> None:
    st.caption(
        f"Going deeper: [notebook {step.notebook[:2]}, “{step.section}”]({notebook_url(step)}) "
        f"(`jupyter lab notebooks/{step.notebook}`) · the teacher's guide: docs/lesson.md"
    )


def _world(load: Callable) -> state.RunArrays | None:
    path = find_run("world-e2e")
    if path is None:
        st.warning("The shipped run world-e2e is not here: `make world` builds it.")
        return None
    return load(str(path), state.run_stamp(path))


def run_step_ui(
    ra: state.RunArrays, payload_of: Callable, presenter: bool, alpha: float, chart_ids: list[str], follow: bool = False
) -> dict:
    """The live view of a run for one step (its own remembered alpha); `follow`: the page beside it follows alpha."""
    payload = dict(payload_of(str(ra.run.path), state.run_stamp(ra.run.path), ra.id_name, 0.0, None, state.AVG_OOD))
    sent = client.slider_alpha() if follow else None
    payload["alpha"] = alpha if sent is None else sent
    client.live_view(
        payload, f"lesson:{'-'.join(chart_ids)}", presenter, ["*"] if follow else (), chart_ids, compact=True
    )
    return payload


def lesson_ui(
    n: int, load: Callable, payload_of: Callable, read_lab: Callable, presenter: bool, url_alpha: float | None
) -> None:
    """Step n (1-based) of the lesson; `load`, `payload_of` and `read_lab` are the app's cached readers."""
    n = min(max(n, 1), len(STEPS))
    step = STEPS[n - 1]
    header_ui(n, step)
    STEP_UI[step.id](load, payload_of, read_lab, presenter, url_alpha)
    footer_ui(step)


def _shift_ui(load, payload_of, read_lab, presenter, alpha) -> None:
    if (ra := _world(load)) is not None:
        run_step_ui(ra, payload_of, presenter, 0.0 if alpha is None else alpha, ["tiles", "pAcc"])
        answer_ui(_shift_answer(ra))


def _wiseft_ui(load, payload_of, read_lab, presenter, alpha) -> None:
    if (ra := _world(load)) is not None:
        run_step_ui(ra, payload_of, presenter, 0.5 if alpha is None else alpha, ["pAcc", "pScatter"])
        answer_ui(_wiseft_answer(ra))


def _baselines_ui(load, payload_of, read_lab, presenter, alpha) -> None:
    from explorer import baselines_page, lab_page

    if (path := find_run("world-e2e")) is None:
        st.warning("The shipped run world-e2e is not here: `make world` builds it.")
        return
    components.html(lab_page.FOLD_SIDEBAR, height=0)  # no live view here to fold the sidebar at 1024 px
    answer_ui(baselines_page.baselines_ui(path, presenter, key="lesson:baselines", lesson=True))


def _paths_ui(load, payload_of, read_lab, presenter, alpha) -> None:
    runs = {k: find_run(name) for k, name, _ in PATH_RUNS}
    rs = {k: load(str(p), state.run_stamp(p)) for k, p in runs.items() if p is not None}
    if not rs:
        st.warning("No path runs here: `make world` builds lmc-scratch, lmc-shared-start, lmc-finetunes, world-e2e.")
        return
    panels = [paths.run_panel(rs[k], k, title) for k, _, title in PATH_RUNS if k in rs]
    payload = paths.paths_payload("Four straight paths", panels, 0.5 if alpha is None else alpha)
    client.live_view(payload, "lesson:paths", presenter, compact=True)
    answer_ui(_paths_answer(rs))


def _swa_soups_ui(load, payload_of, read_lab, presenter, alpha) -> None:
    from explorer import lab_charts, lab_page

    sections = read_lab()
    if "swa" not in sections or "soups" not in sections:
        st.warning("The LMC lab's swa.json and soups.json are not here: `make world` computes them.")
        return
    base = lab_page.baselines(str(lab_page.lab_root().parents[1] / "runs" / "world-e2e"))
    components.html(lab_page.FOLD_SIDEBAR, height=0)  # no live view here to fold it at 1024 px
    figs = [lab_charts.swa_chart(sections["swa"]), lab_charts.soups_scatter(sections["soups"], base)]
    tabs = st.tabs(["SWA: snapshots and their average", "Soups and the WiSE-FT path"], key="part", bind="query-params")
    for tab, fig, key in zip(tabs, figs, ("lesson:swa", "lesson:soups")):
        fig.update_layout(height=420)
        tab.plotly_chart(
            charts.presenter_layout(fig) if presenter else fig,
            width="stretch",
            key=key,
            theme=None,
            config={"displaylogo": False},
        )
    answer_ui(_swa_soups_answer(sections["swa"], sections["soups"]))


def _plane_ui(load, payload_of, read_lab, presenter, alpha) -> None:
    if (ra := _world(load)) is None:
        return
    left, right = st.columns(2)
    with left:
        payload = run_step_ui(ra, payload_of, presenter, 0.5 if alpha is None else alpha, ["pLoss"], follow=True)
    with right:
        from explorer import explain

        explain.plane_ui(
            ra.run.path, ra.run.endpoints, payload["alpha"], groups=("id",), presenter=presenter, note=False
        )
    answer_ui(_plane_answer(ra))


def _choosing_ui(load, payload_of, read_lab, presenter, alpha) -> None:
    if (ra := _world(load)) is None:
        return
    left, right = st.columns([3, 2])
    with left:
        run_step_ui(ra, payload_of, presenter, 0.5 if alpha is None else alpha, ["jumps", "pAcc"])
    with right:
        from explorer import explain

        st.dataframe(explain.choosing_rows(ra.alphas, ra.accuracy_curves(), ra.id_name), hide_index=True)
        st.markdown(explain.choosing_md(ra.alphas, ra.accuracy_curves(), ra.id_name))
    answer_ui(_choosing_answer(ra))


STEP_UI = {
    "shift": _shift_ui,
    "wiseft": _wiseft_ui,
    "baselines": _baselines_ui,
    "paths": _paths_ui,
    "swa-soups": _swa_soups_ui,
    "plane": _plane_ui,
    "choosing": _choosing_ui,
}
