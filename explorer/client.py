"""The live view as a Streamlit component: explorer/components/live/ (plain HTML/JS, no build step).

The page is served by Streamlit itself, with plotly.js copied next to it from the installed plotly
package (the browser needs no network). The component is declared with a path, so its iframe is
same-origin with the app: it writes ?alpha= into the page URL itself and remembers the slider
across reruns. Moving alpha reruns nothing; only when the slider rests (350 ms) while a tab below
that shows alpha-dependent things is open and on screen does it send the alpha back (one rerun).

Measured and rejected: components.v1.html with plotly.js inlined (4.8 MB of srcdoc re-sent to the
browser on every rerun); st.plotly_chart per chart (a server round trip per slider step, 0.3-0.8 s).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import plotly
import streamlit.components.v1 as components

from explorer.payload import LiveArgs, PathsPayload, Payload

LIVE_DIR = Path(__file__).resolve().parent / "components" / "live"
PLOTLY_JS = LIVE_DIR / "plotly.min.js"  # gitignored: copied from the plotly package on first use


def ensure_plotly_js() -> Path:
    """Copy plotly.min.js from the installed plotly package next to the component (atomically),
    unless the copy there already matches it in size."""
    source = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not PLOTLY_JS.exists() or PLOTLY_JS.stat().st_size != source.stat().st_size:
        fd, tmp = tempfile.mkstemp(dir=LIVE_DIR, suffix=".tmp")
        os.close(fd)
        shutil.copyfile(source, tmp)
        os.replace(tmp, PLOTLY_JS)
    return PLOTLY_JS


_live = None


def payload_id(payload: Payload | PathsPayload, presenter: bool, key: str) -> str:
    """What the browser compares to decide whether to rebuild: a hash of the payload, the presenter flag
    and the run's key. The starting alpha is not part of it: a rerun that only tells the server the
    slider's alpha rebuilds nothing."""
    text = json.dumps({k: v for k, v in payload.items() if k != "alpha"}, sort_keys=True, allow_nan=False)
    return hashlib.sha1(f"{text}|{presenter}|{key}".encode()).hexdigest()[:16]


def live_view(
    payload: Payload | PathsPayload,
    key: str,
    presenter: bool = False,
    alpha_tabs: Sequence[str] = (),
    charts: Sequence[str] | None = None,
    compact: bool = False,
) -> None:
    """Draw the live view of one payload (explorer.live); `key` names the run (the remembered alpha
    belongs to it). The browser rebuilds only when the payload, the presenter flag or the charts change.
    `alpha_tabs` names the page's tabs that show alpha-dependent things: while one is open, the
    slider's alpha comes back as it moves (slider_alpha). `charts` picks the charts drawn (a lesson
    step), `compact` makes them shorter."""
    global _live
    if _live is None:
        ensure_plotly_js()
        _live = components.declare_component("wiseft_live", path=str(LIVE_DIR))
    shown = None if charts is None else list(charts)
    args: LiveArgs = {
        "payload": payload,
        "payload_id": payload_id(payload, presenter, f"{key}|{shown}|{compact}"),
        "key_name": key,
        "presenter": presenter,
        "server_alpha": payload["alpha"],
        "alpha_tabs": list(alpha_tabs),
        "charts": shown,
        "compact": compact,
    }
    _live(**args, key="live", default=None)


PRESENTER_KEY = "presenter"  # the switch's key, its session state and its URL parameter (?presenter=true)


def presenter_toggle(where) -> bool:
    """The presenter switch (larger type: ticks and keys >= 18 px) in `where`, a container of the page itself, so
    that it is reachable at 1024 px with the sidebar folded away; ?presenter=true in the URL."""
    return where.toggle("Presenter mode", key=PRESENTER_KEY, bind="query-params", help="Larger type for a projector")


def presenter_on() -> bool:
    """The switch's value before it is drawn: its state, else the link's ?presenter=."""
    import streamlit as st

    return bool(st.session_state.get(PRESENTER_KEY, st.query_params.get(PRESENTER_KEY, "").lower() == "true"))


def slider_alpha() -> float | None:
    """The alpha the live view last sent (it sends it when the slider rests while a tab below that shows
    alpha-dependent things, the gallery, your own image or the loss plane, is open and on screen); None
    before that."""
    import streamlit as st

    value = st.session_state.get("live")
    return float(value) if isinstance(value, (int, float)) else None
