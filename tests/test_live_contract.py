"""The live view's contract (explorer/payload.py): live.js reads exactly the keys Python declares, and
what explorer.live builds and explorer.client sends holds exactly those keys, at every level."""

from __future__ import annotations

import json
import re

import pytest

from conftest import REPO
from core.runs.artifacts import Run
from explorer import live, paper, payload, state
from test_app import live_args, open_app, runs_root  # noqa: F401  (the fixture: tiny runs with baselines)

LIVE_JS = REPO / "explorer" / "components" / "live" / "live.js"

# How live.js names each part of the payload (its header says so): patterns whose group is a key read.
READS = {
    payload.RunPayload: [r"\bP\.(\w+)"],
    payload.SetInfo: [r"\bset\.(\w+)", r"\bsetOf\([^)]*\)\.(\w+)"],
    payload.PaperScatter: [r"\bsc\.(\w+)"],
    payload.Marks: [r"\bm\.(\w+)", r"\bP\.marks\.(\w+)"],
    payload.ExtraMetric: [r"\bex\.(\w+)"],
    payload.Overlay: [r"\bo\.(\w+)"],
    payload.Intervals: [r"\bci\.(\w+)"],
    payload.LiveArgs: [r"\bargs\.(\w+)"],
    payload.PathsPayload: [r"\bQ\.(\w+)"],
    payload.PathPanel: [r"\bpa\.(\w+)"],
    payload.PathCurve: [r"\bcv\.(\w+)"],
}
# What Python writes and live.js does not read, and why it is still sent.
NOT_READ = {
    payload.RunPayload: {"title"},  # names what the page shows for the server's tests and bench/scale.py
    payload.Overlay: {
        "endpoints"
    },  # the compared path's own ends: part of the JSON the browser got before the contract
    payload.PathsPayload: {"mode", "alpha"},  # read as P.mode and P.alpha, with the other modes' payloads
}


def declared(typed: type) -> set[str]:
    """The keys a TypedDict declares, its bases' included."""
    return set(typed.__required_keys__ | typed.__optional_keys__)


def js_source() -> str:
    """live.js and paths.js without their comments (which name payload keys in prose)."""
    code = "\n".join(p.read_text() for p in (LIVE_JS, LIVE_JS.with_name("paths.js")))
    text = re.sub(r"/\*.*?\*/", "", code, flags=re.DOTALL)
    return re.sub(
        r"(^|\s)//.*$", "", text, flags=re.MULTILINE
    )  # `//` after a space or at a line's start: not "http://"


def assert_conforms(p: dict) -> None:
    """A payload holds exactly the keys explorer/payload.py declares for its mode, at every level."""
    run = p["mode"] == "run"
    assert set(p) == declared(payload.RunPayload if run else payload.Payload)
    assert all(set(s) == declared(payload.SetInfo) for s in p["sets"])
    assert set(p["marks"]) == declared(payload.Marks)
    if p["scatter"] is not None:
        assert set(p["scatter"]) == declared(payload.Scatter if run else payload.PaperScatter)
    assert all(set(e) == declared(payload.ExtraMetric) for e in p["extra"])
    assert all(set(o) == declared(payload.Overlay) for o in p["overlay"] or [])
    assert (p["ci"] is None) == (not run) and (not run or set(p["ci"]) == declared(payload.Intervals))


@pytest.mark.parametrize("typed", list(READS), ids=lambda t: t.__name__)
def test_live_js_reads_every_declared_key_and_nothing_else(typed):
    source = js_source()
    read = {m.group(1) for pattern in READS[typed] for m in re.finditer(pattern, source)}
    assert read == declared(typed) - NOT_READ.get(typed, set())


def test_the_payloads_hold_exactly_the_declared_keys(runs_root):  # noqa: F811
    for kind in ("tiny-e2e", "tiny-lc"):
        p = live.run_payload(state.load_run(runs_root / kind), cls=0)
        assert p["scatter"] is not None
        assert_conforms(p)
    sweeps = paper.list_sweeps()
    p = live.paper_payload(sweeps[0], 0.5, paper.endpoint_trend(sweeps))
    p["overlay"] = [
        live.overlay(s.label, s.alphas, s.accuracy[paper.ID_NAME], s.accuracy[paper.AVG_OOD]) for s in sweeps[1:]
    ]
    assert_conforms(p)


@pytest.mark.slow
def test_what_the_app_sends_is_the_contract_and_names_the_tabs(monkeypatch, runs_root):  # noqa: F811
    run = Run(runs_root / "tiny-e2e")
    at = open_app(monkeypatch, runs_root)
    at.selectbox(key="run").set_value(run.path).run()
    at.selectbox(key="compare").set_value("tiny-lc").run()
    args = live_args(at)
    assert set(args) - {"key", "default"} == declared(payload.LiveArgs)  # less Streamlit's own two
    assert_conforms(args["payload"])
    assert args["payload"]["overlay"]
    json.dumps(args, allow_nan=False)
    tabs = {t.label for t in at.tabs}  # the tabs name themselves in Python only; live.js gets the ones it needs
    assert [t for t in args["alpha_tabs"] if t in tabs] == ["Examples that changed", "Try your own image"]
    assert not [t for t in tabs | set(args["alpha_tabs"]) if f'"{t}"' in js_source()]
