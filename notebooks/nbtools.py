"""Set-up shared by the notebooks: where the runs are, quick mode, and an alpha slider over a figure.

Only paths, environment and widget wiring live here; every number is computed by `core`.

    WISEFT_DATA=PATH   the data folder (default: the repo's data/, holding world/ and runs/)
    WISEFT_QUICK=1     small subsets, few steps, coarse grids (CI; numbers are then meaningless)
    WISEFT_HANDOUT=1   set by notebooks/handouts.py: alpha_slider shows a static figure (an HTML export has no kernel)
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is downloaded; open_clip reads its cache only
REPO = Path(__file__).resolve().parents[1]
try:
    import core  # noqa: F401  (installed editable by `make setup`)
except ImportError:  # a plain checkout: import the package from the repo root
    sys.path.insert(0, str(REPO))

DATA = Path(os.environ.get("WISEFT_DATA") or REPO / "data").resolve()
RUNS = DATA / "runs"
QUICK = os.environ.get("WISEFT_QUICK", "0") not in ("", "0")
HANDOUT = os.environ.get("WISEFT_HANDOUT", "0") not in ("", "0")


def pick(full, quick):
    """`full` normally, `quick` under WISEFT_QUICK=1."""
    return quick if QUICK else full


def require_run(name: str) -> Path:
    """The shipped run `name` under DATA/runs, or an error that says how to get it."""
    path = RUNS / name
    if not (path / "manifest.json").exists():
        raise FileNotFoundError(
            f"{path} is missing: run `make world` (or `python -m core world --quick --out DIR`) "
            f"and point WISEFT_DATA at the data folder (now {DATA})"
        )
    return path


def alpha_slider(
    make_figure: Callable,
    describe: Callable[[float], str] | None = None,
    value: float = 0.5,
    min: float = 0.0,
    max: float = 1.0,
    step: float = 0.05,
    description: str = "α",
):
    """A FloatSlider above a live plotly figure (and optional HTML text) redrawn at each alpha.

    make_figure(alpha) -> go.Figure (e.g. a explorer.charts helper); describe(alpha) -> HTML string.
    Returns the widget box; its `.slider` attribute is the slider (set `.value` to move it). Under
    WISEFT_HANDOUT=1 the box is wrapped in a `Snapshot` that displays as a plain figure instead.
    """
    import ipywidgets as widgets
    import plotly.graph_objects as go

    fig = go.FigureWidget(make_figure(value))
    text = widgets.HTML(describe(value) if describe else "")
    slider = widgets.FloatSlider(
        value=value, min=min, max=max, step=step, description=description, continuous_update=False, readout_format=".2f"
    )

    def redraw(change) -> None:
        new = make_figure(change["new"])
        with fig.batch_update():
            if len(fig.data) != len(new.data):
                fig.data = ()
                fig.add_traces(new.data)
            else:
                for old, trace in zip(fig.data, new.data):
                    old.update({k: v for k, v in trace.to_plotly_json().items() if k != "type"})
            fig.layout.update(new.layout.to_plotly_json())
        if describe:
            text.value = describe(change["new"])

    slider.observe(redraw, names="value")
    box = widgets.VBox([slider, text, fig])
    box.slider = slider
    return Snapshot(box) if HANDOUT else box


class Snapshot:
    """An alpha_slider box for an HTML export: displays its text and a static copy of its figure at the slider's
    value when displayed. Widgets draw only with a live kernel (and a widget manager loaded from a CDN), so in an
    exported page they are blank; a plain figure goes through plotly's renderer like every `fig.show()`."""

    def __init__(self, box):
        self.box, self.slider = box, box.slider

    def _ipython_display_(self) -> None:
        import plotly.graph_objects as go
        from IPython.display import HTML, display

        _, text, fig = self.box.children
        display(
            HTML(
                f"<p><i>In the app (or a live notebook) a slider moves this chart; here α = {self.slider.value:.2f}.</i> "
                f"{text.value}</p>"
            )
        )
        go.Figure(fig).show()
