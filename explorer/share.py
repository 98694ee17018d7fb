"""Any view of the explorer as one self-contained HTML page: no Python, no server, no network.

    python -m core share --run data/runs/world-e2e --out world-e2e.html
    python -m core share --lesson --out lesson.html     # the lesson's runs, with a run switcher

The page inlines live.css, plotly.min.js (once) and live.js from explorer/components/live/, unchanged, and
before live.js a small host script (components/share/host.js) that plays Streamlit's part of the component
protocol: it answers live.js's `streamlit:componentReady` with a `streamlit:render` whose args hold a payload
made here by explorer.live.run_payload, the function the app uses, so the page shows the app's numbers.
Below the live view, tabs as in the app: the gallery's fixed and broken examples (at most `thumbs` per set,
kind and swept alpha, embedded as images), the definitions and the eval sets, and the LMC lab's charts
(plotly figure JSON). No streamlit here: `python -m core share` imports this module only when it runs.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import plotly
from PIL import Image

from core.lmc import sections as lab
from core.runs.artifacts import MANIFEST, Run
from core.runs.manifest import plane_file
from explorer import explain_text, lab_charts, lab_text, live, state
from explorer.payload import RunPayload

LIVE_DIR = Path(__file__).resolve().parent / "components" / "live"
SHARE_DIR = Path(__file__).resolve().parent / "components" / "share"
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"  # what explorer.client serves the app
LESSON_RUNS = ("world-e2e", "world-lc", "lmc-scratch", "lmc-shared-start", "lmc-finetunes")  # the lesson's runs
GALLERY_TAB = "Examples that changed"  # live.js sends the slider's alpha while the tab of this name is open
BUDGET_MB = {"run": 8, "lesson": 15, "imagenet": 20}  # issue 27's page sizes, MB (bench/share_page.py)


@dataclass(frozen=True)
class ShareConfig:
    """What a page carries beyond the live view."""

    thumbs: int = 12  # fixed and broken examples kept per set and swept alpha (the app's default); 0: no gallery
    thumb_px: int = 96  # largest side of an embedded image; smaller ones keep their pixels (the page upscales them)
    jpeg_quality: int = 80  # images above 64 px are JPEG, smaller ones PNG
    lab: bool = True  # the LMC lab's charts (data/world/lab)


@dataclass
class Page:
    """A written page and what it is made of."""

    html: str
    sizes: dict[str, int] = field(default_factory=dict)  # bytes per part (plotly.js, payloads, images, ...)
    left_out: list[str] = field(default_factory=list)  # what the explorer shows that this page does not

    def summary(self) -> str:
        """'6.62 MB (plotly.js 4.82 MB, ...)' and what is left out, one line each."""
        parts = ", ".join(f"{k} {v / 1e6:.2f} MB" for k, v in self.sizes.items())
        return f"{len(self.html.encode()) / 1e6:.2f} MB ({parts})\nleft out:\n" + "\n".join(
            f"  - {x}" for x in self.left_out
        )


# ----------------------------------------------------------------------------- text and images


def md_inline(text: str) -> str:
    """One line of the explorer's markdown (**bold**, *italic*, `code`, `  \\n` breaks) as HTML."""

    def styled(part: str) -> str:
        part = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", html.escape(part, quote=False))
        return re.sub(r"\*(.+?)\*", r"<i>\1</i>", part)

    pieces = re.split(r"`([^`]*)`", text)  # odd pieces are code
    out = "".join(f"<code>{html.escape(p, quote=False)}</code>" if i % 2 else styled(p) for i, p in enumerate(pieces))
    return out.replace("  \n", "<br>")


def md_html(text: str) -> str:
    """The explorer's markdown texts (paragraphs of md_inline) as HTML."""
    return "\n".join(f"<p>{md_inline(para)}</p>" for para in re.split(r"\n\s*\n", text.strip()))


def thumbnail_uri(example_id: str, cfg: ShareConfig) -> str | None:
    """The image behind a per-example id as a data: URI (PNG up to 64 px, else JPEG); None when it cannot be opened."""
    from core.data.registry import DatasetError, open_example  # imports torch: only when a gallery is made

    try:
        img = open_example(example_id).convert("RGB")
    except (DatasetError, OSError, ValueError):
        return None
    if max(img.size) > cfg.thumb_px:
        img.thumbnail((cfg.thumb_px, cfg.thumb_px), Image.LANCZOS)
    buf, small = io.BytesIO(), max(img.size) <= 64
    img.save(buf, "PNG", optimize=True) if small else img.save(buf, "JPEG", quality=cfg.jpeg_quality)
    return f"data:image/{'png' if small else 'jpeg'};base64," + base64.b64encode(buf.getvalue()).decode()


# ----------------------------------------------------------------------------- one run


def gallery_set(ra: state.RunArrays, name: str, ref: float, cls: int | None, limit: int) -> dict:
    """One set's gallery at every swept alpha b: the first `limit` fixed and broken examples from `ref` to b (what the
    app's gallery shows), their counts (G, 2), and each shown example's top-3 classes and % at every swept alpha."""
    labels, grid = ra.sets[name].labels, np.asarray(ra.run.alphas, dtype=float)
    pool: dict[int, int] = {}  # example index -> position in items
    shown, counts = {"fixed": [], "broken": []}, []
    for b in grid:
        changed = state.flips(ra, name, ref, float(b))
        row = []
        for kind in ("fixed", "broken"):
            idx = changed[kind] if cls is None else changed[kind][labels[changed[kind]] == cls]
            row.append(len(idx))
            shown[kind].append([pool.setdefault(int(i), len(pool)) for i in idx[:limit]])
        counts.append(row)
    idx = np.fromiter(pool, dtype=np.int64)
    top = []
    for b in grid:
        classes, probs = state.top_predictions(ra, name, idx, float(b))  # (n, 3), (n, 3)
        top.append(np.concatenate([classes, np.round(100 * probs)], axis=1).astype(int).tolist() if len(idx) else [])
    return {
        "items": [[int(i), int(labels[i]), ra.sets[name].ids[i]] for i in idx],
        "counts": counts,
        **shown,
        "top": top,
    }


def gallery(ra: state.RunArrays, payload: RunPayload, cfg: ShareConfig, images: dict[str, str | None]) -> dict:
    """The gallery at the payload's compared alpha and class filter, for every set whose images open here;
    fills `images` (example id -> data URI, shared by the runs of a page)."""
    cls = ra.classnames.index(payload["class_filter"]) if payload["class_filter"] else None
    sets = {}
    for name, s in ra.sets.items():
        if s.ids[0] not in images:
            images[s.ids[0]] = thumbnail_uri(s.ids[0], cfg)
        if images[s.ids[0]] is None:  # the set's images are not on this machine
            continue
        sets[name] = gallery_set(ra, name, payload["ref_alpha"], cls, cfg.thumbs)
        for item in sets[name]["items"]:
            if item[2] not in images:
                images[item[2]] = thumbnail_uri(item[2], cfg)
    return {
        "ref_alpha": payload["ref_alpha"],
        "alphas": [float(a) for a in ra.run.alphas],
        "limit": cfg.thumbs,
        "sets": sets,
    }


def default_payload(ra: state.RunArrays, alpha: float) -> RunPayload:
    """The app's first view of a run, at `alpha`."""
    payload = dict(
        live.run_payload(ra, ra.id_name, 0.0 if state.view_index(ra, 0.0) is not None else float(ra.run.alphas[0]))
    )
    payload["alpha"] = alpha
    return payload


def run_entry(ra: state.RunArrays, payload: RunPayload | None, cfg: ShareConfig, images: dict) -> dict:
    """What the page holds for one run (keyed by its folder's name): the live view's payload (the app's first view
    when None), the gallery, the definitions, the eval sets."""
    payload = payload or default_payload(ra, 0.5)
    fit = payload["scatter"]["fit"] if payload["scatter"] else None
    specs = {d["name"]: d.get("spec", "") for d in ra.run.datasets}
    sets = [
        {
            "name": n,
            "role": "ID" if s.role == "id" else "OOD",
            "n": len(s.labels),
            "note": md_inline(explain_text.SET_NOTES.get(n, f"`{specs.get(n, '')}`")),
        }
        for n, s in ra.sets.items()
    ]
    return {
        "key": ra.run.path.name,
        "title": ra.run.name,
        "payload": payload,
        "gallery": gallery(ra, payload, cfg, images) if cfg.thumbs > 0 else None,
        "definitions": md_html(explain_text.definitions_md(tuple(ra.run.endpoints), fit)),
        "sets": sets,
    }


# ----------------------------------------------------------------------------- the LMC lab


def lab_sections(root: Path | None = None) -> list[dict]:
    """Each stored section of the LMC lab: its title, sentences (HTML) and figures (plotly JSON), as the lab page."""
    root = root or state.lab_root()
    e2e = root.parents[1] / "runs" / "world-e2e"
    base = lab.baseline_points(Run(e2e)) if (e2e / MANIFEST).exists() else []
    secs = [
        {
            "name": name,
            "title": lab_text.TITLES[name],
            "intro": md_html(lab_text.intro_md(name, s)),
            "figures": [json.loads(f.to_json()) for f in lab_charts.section_figures(name, s, base)],
            "text": md_html(lab_text.section_md(name, s, base)),
        }
        for name, s in lab.read_sections(root).items()
    ]
    return secs + ([baselines_section(Run(e2e))] if base else [])


def baselines_section(run: Run) -> dict:
    """The run's Baselines view (explorer.baselines_page) as a section of the page's lab tab: its scatter and
    sentences, the ensemble mixing logits, each variant at alpha 1."""
    from core.results.ensembles import ensemble_rows
    from core.results.robustness import scatter_points
    from explorer import baselines_text, charts

    points = scatter_points(run)
    return {
        "name": "baselines",
        "title": "Baselines: why not tune the fine-tuning, or ensemble the outputs?",
        "intro": md_html(baselines_text.INTRO),
        "figures": [json.loads(f.to_json()) for f in charts.baselines_panels(points)],  # stacked on a phone
        "text": md_html(baselines_text.summary_md(points, ensemble_rows(run))),
    }


# ----------------------------------------------------------------------------- the page


def _script(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    if "</script" in text.lower():  # would end the inline <script> early
        raise ValueError(f"{path} contains '</script' and cannot be inlined")
    return text


def _json(obj) -> str:
    """JSON for a <script type="application/json">: no '<', so no '</script>' can end it early."""
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")


def left_out(entries: list[dict], runs: list[state.RunArrays], cfg: ShareConfig, lab_shown: bool) -> list[str]:
    """What the explorer shows that the page does not, in sentences."""
    out = ["Try your own image: it runs the model, which needs Python and the run's weights (`make demo`)."]
    planes = [ra.run.name for ra in runs if plane_file(ra.run.path, ra.run.manifest).exists()]
    if planes:
        out.append(f"The loss plane tab ({', '.join(planes)}): it is drawn on the server at the slider's alpha.")
    p = entries[0]["payload"]
    where = p["dataset"] if len(entries) == 1 else "each run's ID set"
    out.append(
        "The choices the explorer makes on its server stay as they were when the page was made: per-class "
        f"changes and the gallery on {where}, counted from α = {p['ref_alpha']:.2f}, "
        f"{'class ' + p['class_filter'] if p['class_filter'] else 'over all classes'}; the scatter's y axis "
        f"{p['scatter']['y_label'] if p['scatter'] else '(no OOD set)'}."
    )
    if cfg.thumbs <= 0:
        out.append("The gallery of examples that changed (made with --thumbs 0).")
    else:
        missing = sorted({n for e, ra in zip(entries, runs) for n in ra.sets if n not in e["gallery"]["sets"]})
        out.append(
            f"Gallery: the first {cfg.thumbs} fixed and {cfg.thumbs} broken examples per eval set and swept α "
            "(the app shows up to 48)."
            + (
                f" No images for {', '.join(missing)}: they cannot be opened on the machine that made the page."
                if missing
                else ""
            )
        )
    others = ["the Choosing α table (the jump-to buttons go to the same alphas)", "paper mode (the published sweeps)"]
    if not any(e["payload"]["overlay"] for e in entries):
        others.append("Compare (another path drawn dashed)")
    others.append(
        "the LMC lab's SWA table (its numbers are in the SWA chart and sentences)" if lab_shown else "the LMC lab"
    )
    out.append("Also " + ", ".join(others) + ".")
    return out


def page_html(
    entries: list[dict], images: dict, lab_secs: list[dict], title: str, notes: list[str], steps: list[dict] = ()
) -> tuple[str, dict[str, int]]:
    """The page's HTML and the bytes of each part. `steps` (the lesson's, when given): {run, alpha, title, text_md}."""
    data = {
        "order": [e["key"] for e in entries],
        "start": entries[0]["key"],
        "runs": {e["key"]: e for e in entries},
        "lab": lab_secs,
        "gallery_tab": GALLERY_TAB,
        "steps": [{**s, "text": md_html(s.get("text_md", ""))} for s in steps],
    }
    shown = {
        k: v for k, v in images.items() if v
    }  # last in the file: the parser reaches it after the first tiles' code
    parts = {
        "title": html.escape(title),
        "gallery_tab": GALLERY_TAB,
        "css": (LIVE_DIR / "live.css").read_text() + "\n" + (SHARE_DIR / "share.css").read_text(),
        "left_out": "\n".join(f"<li>{md_inline(n)}</li>" for n in notes),
        "data": _json(data),
        "images": _json(shown),
        "plotly": _script(PLOTLY_JS),
        "host": _script(SHARE_DIR / "host.js"),
        "live": _script(LIVE_DIR / "live.js"),
    }
    out = re.sub(r"\{\{(\w+)\}\}", lambda m: parts[m.group(1)], (SHARE_DIR / "page.html").read_text())
    sizes = {
        "plotly.js": len(parts["plotly"]),
        "live view code": len(parts["live"] + parts["host"] + parts["css"]),
        "payloads": sum(len(json.dumps(e["payload"])) for e in entries),
        "gallery images": len(parts["images"]),
        "gallery tables": sum(len(json.dumps(e["gallery"])) for e in entries),
        "lab charts": len(json.dumps(lab_secs)),
    }
    return out, sizes


def build(
    runs: list[state.RunArrays],
    payloads: list[RunPayload | None] | None = None,
    cfg: ShareConfig = ShareConfig(),
    title: str | None = None,
    steps: list[dict] = (),
) -> Page:
    """The page of some prepared runs (the first shown first); `payloads` the app's view of each, else the defaults."""
    images: dict[str, str | None] = {}
    entries = [run_entry(ra, p, cfg, images) for ra, p in zip(runs, payloads or [None] * len(runs))]
    lab_secs = lab_sections() if cfg.lab else []
    notes = left_out(entries, runs, cfg, bool(lab_secs))
    text, sizes = page_html(
        entries, images, lab_secs, title or f"WiSE-FT Explorer: {runs[0].run.path.name}", notes, steps
    )
    return Page(text, sizes, notes)


def run_page(ra: state.RunArrays, payload: RunPayload | None = None, cfg: ShareConfig = ShareConfig()) -> Page:
    """One run's page: the app's download button passes its payload (this view), the CLI the defaults."""
    return build([ra], [payload], cfg)


# Where each lesson step (explorer/lesson.py) opens in the offline page: a run of the switcher and an alpha, and
# what the page cannot show of it (it has no server: no four-panel paths view, no loss plane).
LESSON_VIEWS = {
    "shift": ("world-e2e", 0.0, ""),
    "wiseft": ("world-e2e", 0.5, ""),
    "baselines": ("world-e2e", 0.5, "The baselines scatter is the last section of the LMC lab tab below."),
    "paths": (
        "lmc-scratch",
        0.5,
        "Offline, the four paths are the run switcher's lmc-scratch, lmc-shared-start, "
        "lmc-finetunes and world-e2e, one at a time (the app shows them side by side).",
    ),
    "swa-soups": ("world-e2e", 0.5, "The SWA and soups charts are in the LMC lab tab below."),
    "plane": ("world-e2e", 0.5, "The loss plane is drawn by the app's server: open the app for it."),
    "choosing": ("world-e2e", 0.5, ""),
}


def lesson_steps() -> list[dict]:
    """The lesson's steps (explorer/lesson.py) as the page's Back/Next bar: each {run, alpha, title, text_md}."""
    from explorer import lesson

    out = []
    for step in lesson.list_steps():
        run, alpha, note = LESSON_VIEWS.get(step.id, ("world-e2e", 0.5, ""))
        out.append(
            {"run": run, "alpha": alpha, "title": step.title, "text_md": step.prompt + (f" *{note}*" if note else "")}
        )
    return out


def lesson_page(
    roots: list[Path] | None = None,
    names: tuple[str, ...] = LESSON_RUNS,
    cfg: ShareConfig = ShareConfig(),
    steps: list[dict] = (),
    alpha: float = 0.5,
) -> Page:
    """The lesson's runs in one page, with a run switcher. `steps` (hook for explorer/lesson.py): each
    {run, alpha, title, text_md} becomes a step of a Back/Next bar that switches run and alpha."""
    found = {p.name: p for p in state.list_runs(roots)}
    missing = [n for n in names if n not in found]
    if missing:
        raise ValueError(f"the lesson needs the runs {', '.join(missing)}; `make world` builds them into data/runs/")
    runs = [state.load_run(found[n]) for n in names]
    return build(
        runs, [default_payload(ra, alpha) for ra in runs], cfg, "WiSE-FT Explorer: the lesson's runs", list(steps)
    )
