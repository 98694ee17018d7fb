"""Handouts: each notebook executed and exported to one self-contained HTML file, figures drawn offline.

    python notebooks/handouts.py [--quick] [--out build/handouts] [--check] [NOTEBOOK ...]     (`make handouts`)

Each notebook runs top to bottom (full mode; `--quick` sets WISEFT_QUICK=1) with WISEFT_HANDOUT=1, and is
written to OUT/<name>.html without the cells tagged `solution`. OUT/handouts.json records, per notebook, the
figures it shows (plotly outputs of the executed notebook) and the seconds it took. `--check` opens every
file in headless Chromium with the network refused and fails unless each figure is drawn (`drawn_plots`).

Why each step (read in nbconvert 7.17 and plotly 7.1, then measured with `--check`):
- plotly's default renderer in a Jupyter kernel is "plotly_mimetype": a figure's output is only
  application/vnd.plotly.v1+json, which nbconvert's HTML does not draw (0 figures in notebook 04's export).
  `PlotlyOffline` turns each into plotly.io.to_html's div, with plotly.js inlined once per file, in the
  first figure. Rejected: PLOTLY_RENDERER=notebook, whose figures each load MathJax from a CDN.
- nbtools.alpha_slider's widgets need a live kernel and a widget manager from a CDN; under WISEFT_HANDOUT=1
  it displays its figure at the slider's starting value as a plain figure (nbtools.Snapshot).
- handout.html.j2 is nbconvert's lab template without require.js, which it loads from a CDN and which
  nothing in a handout uses once the widgets are gone (plotly.js 4.1's bundle does not go through AMD).
- MathJax: nbconvert loads it from a CDN; the handouts load OUT/mathjax/ instead, MathJax 2.7 copied from the
  jupyter-server-mathjax package (`MATHJAX_URL`; 9.5 MB once per folder, not per file), so equations render offline;
  handout.html.j2 picks the STIX-Web fonts the package ships (`--check` fails on any request for a missing file).
- Progress bars: tqdm writes them to stderr, which the export drew as pink blocks; the kernel runs with
  TQDM_DISABLE=1 and `QuietStderr` drops what progress bars still print.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.parse
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
NOTEBOOKS = sorted(HERE.glob("[0-9][0-9]_*.ipynb"))
PLOTLY_MIME = "application/vnd.plotly.v1+json"
CELL_TIMEOUT = 1800  # seconds per cell: full mode fine-tunes and evaluates on a laptop CPU
MATHJAX_DIR = "mathjax"  # OUT/mathjax/: the MathJax files every handout in OUT loads (relative: works from file://)
MATHJAX_URL = f"{MATHJAX_DIR}/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe"  # the config the package ships
CHROMIUM = "/usr/bin/chromium"  # Debian's chromium (playwright drives it; no browser download)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebooks to export (default: notebooks/NN_*.ipynb)")
    parser.add_argument("--quick", action="store_true", help="run in quick mode (WISEFT_QUICK=1): small subsets")
    parser.add_argument("--out", type=Path, default=REPO / "build" / "handouts", help="output folder")
    parser.add_argument("--check", action="store_true", help="count the drawn figures in headless Chromium")
    return parser.parse_args(argv)


@contextmanager
def kernel_env(quick: bool):
    """The environment the notebook kernel inherits: handout (and quick) mode, offline, the repo importable."""
    saved = dict(os.environ)
    os.environ.update(
        WISEFT_HANDOUT="1",
        WISEFT_QUICK="1" if quick else "0",
        HF_HUB_OFFLINE="1",
        TQDM_DISABLE="1",
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    )
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def execute(path: Path, quick: bool):
    """The notebook at `path`, executed top to bottom in a fresh kernel (raises on a cell's error)."""
    import nbclient
    import nbformat

    book = nbformat.read(path, as_version=4)
    with kernel_env(quick):
        nbclient.NotebookClient(
            book, timeout=CELL_TIMEOUT, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
        ).execute()
    return book


def count_figures(book) -> int:
    """Plotly figures the executed notebook shows: outputs that carry a figure."""
    return sum(PLOTLY_MIME in out.get("data", {}) for cell in book.cells for out in cell.get("outputs", []))


def _plotly_offline():
    from nbconvert.preprocessors import Preprocessor

    class PlotlyOffline(Preprocessor):
        """Each plotly figure output becomes HTML that draws it without a network; plotly.js is inlined once."""

        def preprocess(self, nb, resources):
            import plotly.io as pio

            first = True
            for cell in nb.cells:
                for out in cell.get("outputs", []):
                    fig = out.get("data", {}).pop(PLOTLY_MIME, None)
                    if fig is None:
                        continue
                    fig = dict(fig)
                    config = fig.pop("config", None) or {}
                    out["data"]["text/html"] = pio.to_html(
                        fig,
                        config=config,
                        include_plotlyjs=first,
                        include_mathjax=False,
                        full_html=False,
                        default_width="100%",
                        validate=False,
                    )
                    first = False
            nb.metadata.pop("widgets", None)  # no widget views are left to draw
            return nb, resources

    return PlotlyOffline


def is_progress(out: dict) -> bool:
    """A stderr stream that only draws progress bars (tqdm's '\r', '%|' and 'it/s')."""
    text = out.get("text", "")
    return (
        out.get("output_type") == "stream"
        and out.get("name") == "stderr"
        and ("\r" in text or "%|" in text or "it/s]" in text)
    )


def _quiet_stderr():
    from nbconvert.preprocessors import Preprocessor

    class QuietStderr(Preprocessor):
        """Progress bars are not part of a handout: their stderr outputs are dropped."""

        def preprocess(self, nb, resources):
            for cell in nb.cells:
                if "outputs" in cell:
                    cell.outputs = [out for out in cell.outputs if not is_progress(out)]
            return nb, resources

    return QuietStderr


def to_html(book) -> str:
    """The executed notebook as one HTML page: solutions removed, every figure drawn offline."""
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor

    exporter = HTMLExporter(
        template_name="lab", extra_template_paths=[str(HERE)], template_file="handout.html.j2", mathjax_url=MATHJAX_URL
    )
    exporter.register_preprocessor(TagRemovePreprocessor(remove_cell_tags={"solution"}, enabled=True), enabled=True)
    exporter.register_preprocessor(_plotly_offline()(), enabled=True)
    exporter.register_preprocessor(_quiet_stderr()(), enabled=True)
    html, _ = exporter.from_notebook_node(book)
    return html


def drawn_plots(html: Path, timeout_ms: int = 30_000) -> dict:
    """Open `html` in headless Chromium with every non-file request refused.

    Returns {"drawn": plots with an svg main layer, "plots": .js-plotly-plot elements, "blocked": refused URLs,
    "missing": files requested and not there, "errors": page errors}. Needs the playwright package and Chromium at
    CHROMIUM.
    """
    from playwright.sync_api import sync_playwright

    blocked, errors, missing = [], [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})

            def offline(route) -> None:
                if route.request.url.startswith("file:"):
                    route.continue_()
                else:
                    blocked.append(route.request.url)
                    route.abort()

            page.route("**/*", offline)
            page.on("pageerror", lambda err: errors.append(str(err)))
            page.on("requestfailed", lambda r: missing.append(r.url) if r.url.startswith("file:") else None)
            page.goto(html.resolve().as_uri(), wait_until="load", timeout=timeout_ms)
            count = (
                "() => { const plots = [...document.querySelectorAll('.js-plotly-plot')];"
                " return [plots.length, plots.filter(p => p.querySelector('svg.main-svg')).length]; }"
            )
            plots, drawn = page.evaluate(count)
            deadline = time.monotonic() + timeout_ms / 1000
            while drawn < plots and time.monotonic() < deadline:  # plotly draws asynchronously
                page.wait_for_timeout(200)
                plots, drawn = page.evaluate(count)
            math = page.evaluate(MATH_JS)
            while not math["ready"] and time.monotonic() < deadline:  # MathJax loads and typesets after the page
                page.wait_for_timeout(200)
                math = page.evaluate(MATH_JS)
            page.wait_for_timeout(500)
            math = page.evaluate(MATH_JS)
        finally:
            browser.close()
    return {
        "drawn": drawn,
        "plots": plots,
        "equations": math["typeset"],
        "blocked": sorted(set(blocked)),
        "missing": sorted({Path(urllib.parse.unquote(u.split("?")[0])).name for u in missing}),
        "errors": errors,
    }


# MathJax loaded (from OUT/mathjax/) and the equations it typeset (HTML-CSS or SVG output)
MATH_JS = (
    "() => ({ ready: !!(window.MathJax && window.MathJax.isReady),"
    " typeset: document.querySelectorAll('span.MathJax, span.MathJax_SVG').length })"
)


def copy_mathjax(out: Path) -> None:
    """OUT/mathjax/: MathJax 2.7 from the jupyter-server-mathjax package, copied once (whole or not at all)."""
    import shutil
    import tempfile

    import jupyter_server_mathjax

    target = out / MATHJAX_DIR
    if (target / "MathJax.js").exists():
        return
    tmp = Path(tempfile.mkdtemp(dir=out, prefix=".mathjax-"))
    shutil.copytree(Path(jupyter_server_mathjax.__file__).parent / "static", tmp / "m")
    (tmp / "m").rename(target)
    tmp.rmdir()


def export(path: Path, out: Path, quick: bool) -> dict:
    """Execute one notebook and write OUT/<name>.html; returns {"figures", "seconds", "html"}."""
    from core.runs.files import atomic_write_bytes

    start = time.perf_counter()
    book = execute(path, quick)
    figures = count_figures(book)
    html = out / f"{path.stem}.html"
    atomic_write_bytes(html, to_html(book).encode())
    return {"figures": figures, "seconds": round(time.perf_counter() - start, 1), "html": html.name}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))  # core (atomic writes) from a plain checkout
    from core.runs.files import atomic_write_bytes

    paths = args.notebooks or NOTEBOOKS
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        print(f"error: no notebook at {', '.join(missing)}; give paths like notebooks/01_*.ipynb", file=sys.stderr)
        return 2
    if args.check and not Path(CHROMIUM).exists():
        print(
            f"error: --check needs Chromium at {CHROMIUM} (apt-get install chromium); leave --check out",
            file=sys.stderr,
        )
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    copy_mathjax(args.out)
    summary, failed = {"quick": args.quick, "notebooks": {}}, []
    for path in paths:
        row = summary["notebooks"][path.stem] = export(path, args.out, args.quick)
        if args.check:
            row.update(drawn_plots(args.out / row["html"]))
            if row["drawn"] != row["figures"] or row["errors"] or row["missing"]:
                failed.append(path.stem)
        print(
            f"{path.stem}: {row['figures']} figures"
            + (f", {row['drawn']} drawn offline" if args.check else "")
            + f", {row['seconds']:.0f} s -> {args.out / row['html']}",
            flush=True,
        )
    atomic_write_bytes(args.out / "handouts.json", json.dumps(summary, indent=1).encode())
    if failed:
        print(
            f"error: figures not all drawn (or page errors) in {', '.join(failed)}; see {args.out / 'handouts.json'}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
