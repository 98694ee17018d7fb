"""The contract between the server and the live view: what explorer.live sends, what live.js reads.

`run_payload` returns a RunPayload, `paper_payload` a Payload; explorer.client hands either to the
component as LiveArgs. Plain dicts at run time (TypedDicts type them), serialised to JSON as they are:
G is the view grid's length, C the number of classes; accuracies are in [0, 1]; a float list holds None
where JSON would need NaN. live.js reads these keys through a few fixed names (its header says which);
tests/test_live_contract.py checks that it reads every key declared here and nothing else.
"""

from __future__ import annotations

from typing import Literal, TypedDict


class SetInfo(TypedDict):
    """One curve of the accuracy chart and one tile."""

    name: str  # the key of this set in acc, loss, barrier and flips ('avg_ood' for the average of the OOD sets)
    label: str  # what the page calls it ('avg OOD' for the average)
    role: str  # 'ID', 'OOD', 'avg', or '' for a set of neither role
    color: str  # CSS colour, the same for a shift in run and paper mode (charts.dataset_colors)


class Marks(TypedDict):
    """The alphas worth a jump button and a triangle on the accuracy chart."""

    half: float | None  # 0.5 when the grid has it, else None
    best_id: float | None  # the alpha of best ID accuracy (what someone without OOD data picks)
    best: dict[str, float]  # OOD set or 'avg_ood' -> its alpha of best accuracy


class Scatter(TypedDict):
    """The ID-vs-OOD accuracy scatter on logit axes."""

    y_name: str  # the set on the y axis: an OOD set or 'avg_ood' (a key of acc)
    y_label: str  # its axis label
    baselines: list[list]  # [model, ID accuracy, y accuracy] per baseline model (baselines.csv)
    fit: list[float] | None  # [slope, intercept] of the baselines' line in logit space; None without one
    er: list[float | None] | None  # (G,) effective robustness of theta_alpha above the fit; None when not shown
    er_note: str  # why effective robustness is not shown ('' when it is)
    range: list[float]  # [lo, hi] of both axes, in logits
    tickvals: list[float]  # tick positions on both axes, in logits
    ticktext: list[str]  # their labels, in %


class PaperScatter(Scatter):
    """The scatter of a published sweep: its fit goes through other models than baselines."""

    fit_label: str  # what the dashed fit goes through (legend and caption)


class ExtraMetric(TypedDict):
    """A metric beyond top-1 that a set's benchmark reports: a tile and a dashed curve."""

    name: str  # the set (a key of acc)
    label: str  # the set's label
    metric: str  # the metric's name ('macro F1', 'worst-region accuracy', 'pm-0', ...)
    short: str  # the metric's name on a tile (one line on a projector)
    color: str  # the set's colour
    values: list[float | None]  # (G,) the metric at each alpha, in [0, 1]


class Overlay(TypedDict):
    """Another path (Compare), drawn thin and dashed on the accuracy chart and the scatter."""

    name: str  # its run's name or sweep's label
    alphas: list[float]  # (G',) its own grid
    x: list[float | None]  # (G',) its ID accuracy
    y: list[float | None]  # (G',) its average OOD accuracy (ID when it has no OOD set)
    endpoints: list[str]  # [theta_0, theta_1] labels; not read by live.js (a compared path is named by `name`)


class Intervals(TypedDict):
    """95% intervals at every alpha of the view grid, from each example's correctness in the sweep's stored
    predictions (explorer.live.intervals_payload; core.results.uncertainty's closed forms). A change is shown as a
    gain or a loss only when `sign` says so, else as within noise."""

    acc: dict[str, list[list[float]]]  # set -> (2, G) [lo, hi] of acc: Wilson; 'avg_ood': over the sets, each resampled
    diff: dict[str, list[list[list[float]]]]  # set -> (2, 2, G): [lo, hi] of acc - acc at ends[0], then at ends[1]
    sign: dict[
        str, list[list[int]]
    ]  # set -> (2, G) per end: +1 / -1 where diff's interval lies above / below 0, 0 within noise
    er: list[list[float]] | None  # (2, G) [lo, hi] of scatter.er; None when scatter.er is None
    er_sign: list[int] | None  # (G,) the sign scatter.er's interval supports (0: within noise of the fit)
    barrier: dict[str, list[float]]  # set -> [lo, hi] of barrier (nats), from the sweep grid's per-example losses


class Payload(TypedDict):
    """Everything the live view draws; what both modes send."""

    mode: Literal["run", "paper"]  # a run's tables, or a published sweep's (no loss, no examples)
    title: str  # the run's name or the sweep's label; not read by live.js (tests and bench/scale.py read it)
    alphas: list[float]  # (G,) the view grid, ascending: the slider's positions
    alpha: float  # where the slider starts: the URL's alpha or its last rest (live.js snaps it to the grid)
    ends: list[float]  # [alpha 0, alpha 1] the tiles compare against (the grid's ends when 0 or 1 are absent)
    endpoints: list[str]  # [theta_0, theta_1] labels (run.endpoints)
    id_name: str  # the ID set (a key of acc)
    sets: list[SetInfo]  # (S,) the accuracy curves and tiles, in order: ID, each OOD set, avg OOD
    acc: dict[str, list[float | None]]  # set -> (G,) accuracy of theta_alpha
    loss: dict[str, list[float]] | None  # set -> (G,) mean cross-entropy in nats; None in paper mode
    barrier: dict[str, float]  # set -> loss barrier in nats (rise above the endpoints' chord); {} in paper mode
    per_class: list[list[float | None]] | None  # (G, C) per-class accuracy on `dataset`; None in paper mode
    flips: dict[str, list[list[int]]] | None  # set -> (G, 2) [fixed, broken] since ref_alpha; None in paper mode
    extra: list[ExtraMetric]  # the sets whose benchmark reports a metric beyond top-1 ([] when none)
    scatter: Scatter | PaperScatter | None  # None when the run has no OOD set
    marks: Marks
    overlay: list[Overlay] | None  # the compared paths (set by explorer/app.py), None when none
    ci: (
        Intervals | None
    )  # the 95% intervals of acc, its changes, scatter.er and barrier; None in paper mode (no examples)


class RunPayload(Payload):
    """A run's payload: the server-side choices the per-class and flip tables were built for."""

    ref_alpha: float  # the compared alpha (a sweep alpha): flips and per-class changes count from it
    dataset: str  # the set of per_class (and of the gallery)
    classnames: list[str]  # (C,) class names, the columns of per_class
    class_filter: str | None  # the class flips are counted on, None for all classes


class PathCurve(TypedDict):
    """One curve of a paths panel: loss (top) and accuracy (bottom) along one straight path."""

    label: str  # what the key calls it
    color: str  # CSS colour '#rrggbb'
    width: float  # line width, px
    loss: list[float | None] | None  # (G',) mean cross-entropy in nats on the panel's grid; None: accuracy only
    acc: list[float | None] | None  # (G',) accuracy in [0, 1]; None: loss only
    barrier: float | None  # loss barrier in nats (the panel's definition, named in its note); None when not shown
    shade: bool  # shade between the loss curve and its chord (the barrier)


class PathPanel(TypedDict):
    """One path, or one family of paths (spawn at every k), in its own small chart."""

    id: str  # letters and digits: the chart's element id and export name
    title: str  # the card's title and its tile's label
    ends: list[str]  # [theta_0, theta_1] labels of the panel's paths
    alphas: list[float]  # (G',) the panel's own measured grid, ascending
    curves: list[PathCurve]  # the first one's numbers go on the panel's tile
    note: str  # the caption (HTML): what the panel shows, from its numbers


class PathsPayload(TypedDict):
    """Several paths moved by one slider (explorer.live.paths_payload): the lesson's step 3, the lab page."""

    mode: Literal["paths"]
    title: str  # what the paths have in common (the slider bar's sentence)
    alphas: list[float]  # (G,) the slider's positions: every panel's grid together
    alpha: float  # where the slider starts
    panels: list[PathPanel]


class LiveArgs(TypedDict):
    """The component's arguments (explorer.client.live_view): one payload and how the page hosts it."""

    payload: Payload | PathsPayload  # a RunPayload, a paper Payload, or several paths
    payload_id: str  # hash of the payload less its alpha: the browser rebuilds only when it changes
    key_name: str  # the run the remembered alpha belongs to
    presenter: bool  # larger type
    server_alpha: float  # the alpha the server last drew its tabs at: the slider sends its alpha when they differ
    alpha_tabs: list[
        str
    ]  # the page's tabs that show alpha-dependent things (app.py): alpha goes back while one is open
    charts: list[str] | None  # the chart ids to draw ('pAcc', 'pScatter', 'pLoss', 'pFlips', 'pClass'); None: all
    compact: bool  # shorter charts, no formula line: a lesson step fits one 1024x768 screen
