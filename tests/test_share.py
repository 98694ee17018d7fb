"""Issue 27: any view as one offline HTML page (explorer/share.py, `python -m core share`).

The page carries the live view's own code and the payload the app builds; opened in Debian's Chromium from
file:// with the network off and every request refused, at a laptop's and a phone's size, its tiles equal
core.results.metrics on the run's stored logits at three alphas (moved there with the keyboard), its gallery
equals core's flips, and nothing is logged as an error and no request is made. Firefox is not tested: playwright's
Firefox build cannot be installed offline here, and Debian's firefox-esr does not speak playwright's protocol.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO
from core import cli
from core.lmc.sections import baseline_points
from core.results import metrics
from core.runs.artifacts import Run
from explorer import live, share, state
from test_browser import CHROMIUM, CHROMIUM_ARGS, OVERFLOW_JS, SHOTS

WORLD = REPO / "data" / "runs" / "world-e2e"
MB = 1e6

pytestmark = pytest.mark.skipif(
    not (WORLD / "manifest.json").exists(), reason="needs the shipped world runs (make world)"
)
no_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"{CHROMIUM} not installed (CI: apt-get install chromium)"
)


@pytest.fixture(scope="module")
def world_page(tmp_path_factory) -> Path:
    """world-e2e's page, written by the command line."""
    out = tmp_path_factory.mktemp("share") / "world-e2e.html"
    assert cli.main(["share", "--run", str(WORLD), "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def lesson_page(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("share") / "lesson.html"
    assert cli.main(["share", "--lesson", "--out", str(out)]) == 0
    return out


def embedded(page: Path, part: str = "wiseft-data") -> dict:
    """The data the page draws from (#wiseft-data), or its images (#wiseft-images: example id -> data: URI)."""
    blob = re.search(rf'<script type="application/json" id="{part}">(.*?)</script>', page.read_text(), re.DOTALL)
    return json.loads(blob.group(1))


def as_json(obj):
    return json.loads(json.dumps(obj))


# ----------------------------------------------------------------------------- the file


def test_the_page_is_the_apps_view_in_one_file(world_page):
    """The app's payload, live.js and live.css verbatim, plotly.js once, nothing fetched, within 8 MB."""
    text, data = world_page.read_text(), embedded(world_page)
    ra = state.load_run(WORLD)
    assert data["runs"]["world-e2e"]["payload"] == as_json({**live.run_payload(ra, ra.id_name, 0.0), "alpha": 0.5})
    for name in ("live.js", "live.css"):
        assert (share.LIVE_DIR / name).read_text() in text, f"{name} is inlined unchanged"
    assert text.count("* plotly.js v") == 1
    markup = re.sub(r"<script\b[^>]*>.*?</script>", "", text, flags=re.DOTALL)  # the tags, not the code
    links = re.findall(r"""\b(?:src|href)\s*=\s*["']?([^"'\s>]*)""", markup)
    assert all(u.startswith(("data:", "#")) for u in links), links
    assert "@import" not in markup and "url(http" not in markup
    assert world_page.stat().st_size <= share.BUDGET_MB["run"] * MB


def test_the_gallery_is_cores_flips(world_page):
    """Every set, every swept alpha: the counts and the first 12 examples shown are core.results.metrics.flips from
    the compared alpha (0) on the stored logits, as in the app's gallery."""
    gallery, run = embedded(world_page)["runs"]["world-e2e"]["gallery"], Run(WORLD)
    assert set(gallery["sets"]) == set(run.dataset_names)
    for name, g in gallery["sets"].items():
        labels, ref = run.labels(name), run.logits(name, gallery["ref_alpha"])
        for i, b in enumerate(gallery["alphas"]):
            flips = metrics.flips(ref, run.logits(name, b), labels)
            assert g["counts"][i] == [len(flips["fixed"]), len(flips["broken"])], (name, b)
            for kind in ("fixed", "broken"):
                assert [g["items"][j][0] for j in g[kind][i]] == flips[kind][:12].tolist(), (name, b, kind)
    shown = {item[2] for g in gallery["sets"].values() for item in g["items"]}
    assert shown <= set(embedded(world_page, "wiseft-images"))  # every example shown has its image


@pytest.mark.slow
def test_core_imports_no_presentation_and_the_page_needs_no_streamlit():
    """`python -m core` stays free of plotting (share imports explorer.share only when it runs); the page is made
    without streamlit."""
    code = (
        "import sys, core.cli; core.cli.build_parser(); bad = [m for m in ('streamlit', 'plotly', 'explorer') "
        "if m in sys.modules]; import explorer.share; print(bad, 'streamlit' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["[]", "False"], out


def test_the_markdown_of_the_texts():
    assert share.md_html("**ID.** *a* `data/runs/lmc-*/` <x>  \nnext\n\nsecond") == (
        "<p><b>ID.</b> <i>a</i> <code>data/runs/lmc-*/</code> &lt;x&gt;<br>next</p>\n<p>second</p>"
    )


def test_one_of_run_or_lesson(capsys):
    assert cli.main(["share"]) == 2
    assert "give one of --run RUN" in capsys.readouterr().err


@pytest.mark.slow
def test_the_lesson_bundles_its_runs_within_15_mb(lesson_page):
    data = embedded(lesson_page)
    assert data["order"] == list(share.LESSON_RUNS)
    assert lesson_page.stat().st_size <= share.BUDGET_MB["lesson"] * MB
    assert lesson_page.read_text().count("* plotly.js v") == 1
    for name in share.LESSON_RUNS:
        ra = state.load_run(WORLD.parent / name)
        assert data["runs"][name]["payload"]["acc"] == as_json(live.run_payload(ra)["acc"]), name


@pytest.mark.slow
def test_the_apps_button_offers_this_view(monkeypatch):
    """The explorer's "Download this view as a page" makes the page when clicked (deferred: no cost per rerun),
    from the payload the live view draws, so the page starts where the app's view is."""
    from test_app import live_payload, open_app

    at = open_app(monkeypatch, None)
    (button,) = [b for b in at.get("download_button") if b.proto.label == "Download this view as a page"]
    assert button.proto.HasField("deferred_file_id") and button.proto.ignore_rerun
    payload = live_payload(at)
    page = share.run_page(state.load_run(WORLD), payload, share.ShareConfig(thumbs=0, lab=False))
    data = json.loads(re.search(r'id="wiseft-data">(.*?)</script>', page.html, re.DOTALL).group(1))
    assert data["runs"]["world-e2e"]["payload"] == payload


# ----------------------------------------------------------------------------- in a browser


def tile_text(acc: float) -> str:
    """What a tile shows for an accuracy: live.js's (100 * v).toFixed(1) of the payload's v (6 digits), which rounds
    the exact double half up (Python's format rounds half to even: 71.25 -> '71.2', toFixed -> '71.3')."""
    from explorer.numbers import pct  # the product's one rounding, the tiles' and the tables' alike

    return pct(round(acc, 6))


def expected_tiles(run: Run, alpha: float) -> dict[str, str]:
    """Each set's accuracy, their OOD average and the effective robustness at alpha, from core on the stored logits."""
    acc = {n: metrics.accuracy(run.logits(n, alpha), run.labels(n)) for n in run.dataset_names}
    ood = [n for n in run.dataset_names if n != run.id_dataset]
    acc[state.AVG_OOD] = float(np.mean([acc[n] for n in ood]))
    points = baseline_points(run)
    fit = metrics.fit_linear_trend([p[1] for p in points], [p[2] for p in points])
    out = {n: tile_text(a) for n, a in acc.items()}
    out["er"] = float(metrics.effective_robustness(acc[run.id_dataset], acc[state.AVG_OOD], fit))
    return out


def info_accuracy(run: Run, alpha: float) -> dict[str, float]:
    """What `python -m core info` prints (metrics.csv), in %."""
    return {r["dataset"]: 100 * r["accuracy"] for r in run.metrics_rows() if abs(r["alpha"] - alpha) < 1e-9}


def open_offline(browser, page_file: Path, size: tuple[int, int], log: dict):
    """A fresh page at `size` with the network off: every request that is not for the file is refused and recorded;
    console errors and uncaught exceptions are recorded."""
    phone = size[0] < 500
    context = browser.new_context(
        viewport={"width": size[0], "height": size[1]}, is_mobile=phone, has_touch=phone, offline=True
    )

    def refuse(route):
        if route.request.url.startswith(("file:", "data:")):
            return route.continue_()
        log["requests"].append(route.request.url)
        return route.abort()

    context.route("**/*", refuse)
    page = context.new_page()
    page.on("request", lambda r: None if r.url.startswith(("file:", "data:")) else log["requests"].append(r.url))
    page.on("console", lambda m: log["errors"].append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: log["errors"].append(str(e)))
    page.goto(page_file.as_uri())
    page.wait_for_function("window.__wiseft && window.__wiseft.drawnSeq >= 1", timeout=60_000)
    return page


def press(page, key: str, times: int = 1) -> None:
    """Key presses on the focused slider; waits until the charts have drawn the last one."""
    for _ in range(times):
        seq = page.evaluate("window.__wiseft.seq")
        page.keyboard.press(key)
        page.wait_for_function(f"window.__wiseft.drawnSeq > {seq}", timeout=10_000)


TILES_JS = "() => Object.fromEntries([...document.querySelectorAll('#tiles .tile')].map(t => [t.dataset.set, t.querySelector('.tv').textContent]))"


@pytest.mark.slow
@pytest.mark.browser
@no_chromium
@pytest.mark.parametrize("size", [(1024, 768), (390, 844)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_offline_page_tiles_equal_core_at_three_alphas(world_page, size):
    """Keyboard to alpha 0, 0.35 and 1 (and a jump-to button to 0.5): every tile equals core's metrics on the
    stored logits and `info`'s table; nothing cut or scrolling sideways; the gallery follows the slider; the lab
    draws; no console error and no request."""
    from playwright.sync_api import sync_playwright

    run, log = Run(WORLD), {"requests": [], "errors": []}
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = open_offline(chromium, world_page, size, log)
            for key, times, alpha in (("Home", 1, 0.0), ("ArrowRight", 7, 0.35), ("jump", 1, 0.5), ("End", 1, 1.0)):
                if key == "jump":  # a jump-to button, then back to the slider
                    page.click("button:text-is('α = 0.5')")
                else:
                    page.focus("#alpha")
                    press(page, key, times)
                page.wait_for_function(f"document.getElementById('alphaOut').textContent === '{alpha:.2f}'")
                shown, want = page.evaluate(TILES_JS), expected_tiles(run, alpha)
                shown = {k: v.split(" ±")[0] for k, v in shown.items()}  # the value, without its 95% half-width
                er = want.pop("er")
                assert {k: shown[k] for k in want} == want, alpha
                assert abs(float(shown["er"].replace("−", "-").split()[0]) - 100 * er) <= 0.05 + 1e-9
                for name, pct in info_accuracy(run, alpha).items():  # `info` prints 2 decimals, the tiles 1
                    assert abs(float(shown[name].rstrip("%")) - pct) <= 0.05 + 1e-9, (name, alpha)
            overflow = page.evaluate(
                "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"the page scrolls sideways by {overflow} px at {size}"
            assert page.evaluate(OVERFLOW_JS) == {"cut": [], "out": []}  # no tile text or chart title cut
            page.click("#t-gallery")
            page.locator("#gallery").scroll_into_view_if_needed()
            page.wait_for_function("document.getElementById('gHead').textContent.includes('to α=1.00')", timeout=10_000)
            fixed = metrics.flips(
                run.logits(run.id_dataset, 0.0), run.logits(run.id_dataset, 1.0), run.labels(run.id_dataset)
            )["fixed"]
            assert page.inner_text("#gHead").startswith(f"{len(fixed)} fixed")
            assert page.locator("#gallery img").count() == min(12, len(fixed))
            page.click("#t-lab")
            figures = page.evaluate("JSON.parse(document.getElementById('wiseft-data').textContent).lab")
            assert [s["name"] for s in figures][-1] == "baselines"  # the Baselines view, after the lab's sections
            n = sum(len(s["figures"]) for s in figures)
            page.wait_for_function(f"document.querySelectorAll('#lab .js-plotly-plot').length === {n}", timeout=20_000)
            assert "Tuning the fine-tune." in page.inner_text("#lab")
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / f"share_{size[0]}x{size[1]}.png"), full_page=True)
            assert page.evaluate("window.__wiseft.errors") == []
        finally:
            chromium.close()
    assert log["errors"] == [] and log["requests"] == [], log


@pytest.mark.slow
@pytest.mark.browser
@no_chromium
def test_the_lesson_page_switches_runs(lesson_page):
    from playwright.sync_api import sync_playwright

    log = {"requests": [], "errors": []}
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = open_offline(chromium, lesson_page, (1024, 768), log)
            for name in reversed(share.LESSON_RUNS):
                seq = page.evaluate("window.__wiseft.seq")
                page.select_option("#runPick", name)
                page.wait_for_function(f"window.__wiseft.drawnSeq > {seq}", timeout=30_000)
                run = Run(WORLD.parent / name)
                want = tile_text(metrics.accuracy(run.logits(run.id_dataset, 0.5), run.labels(run.id_dataset)))
                assert page.evaluate(TILES_JS)[run.id_dataset].split(" ±")[0] == want, name
            page.set_viewport_size({"width": 390, "height": 844})  # the charts of runs shown before are gone
            page.wait_for_timeout(500)
        finally:
            chromium.close()
    assert log["errors"] == [] and log["requests"] == [], log


@pytest.mark.slow
@pytest.mark.browser
@no_chromium
def test_lesson_steps_switch_run_and_alpha(tmp_path):
    """The hook for explorer/lesson.py: each step names a run and an alpha; Next goes there."""
    from playwright.sync_api import sync_playwright

    steps = [
        {"run": "world-e2e", "alpha": 0.2, "title": "Zero-shot first", "text_md": "Look at **v2**."},
        {"run": "world-e2e", "alpha": 0.6, "title": "Mix", "text_md": "Now *mix*."},
        {"run": "world-lc", "alpha": 0.8, "title": "A linear classifier", "text_md": "Another run."},
    ]
    runs = [state.load_run(WORLD.parent / n) for n in ("world-e2e", "world-lc")]
    page_file = tmp_path / "steps.html"
    page_file.write_text(share.build(runs, cfg=share.ShareConfig(thumbs=0, lab=False), steps=steps).html)
    log = {"requests": [], "errors": []}
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = open_offline(chromium, page_file, (1024, 768), log)
            for i, step in enumerate(steps):
                if i:
                    seq = page.evaluate("window.__wiseft.seq")
                    page.click("#stepNext")
                    page.wait_for_function(f"window.__wiseft.drawnSeq > {seq}", timeout=30_000)
                assert page.inner_text("#stepTitle") == f"Step {i + 1} of 3: {step['title']}"
                assert page.inner_text("#alphaOut") == f"{step['alpha']:.2f}"
                run = Run(WORLD.parent / step["run"])
                want = tile_text(
                    metrics.accuracy(run.logits(run.id_dataset, step["alpha"]), run.labels(run.id_dataset))
                )
                assert page.evaluate(TILES_JS)[run.id_dataset].split(" ±")[0] == want
            assert page.is_disabled("#stepNext") and "<b>v2</b>" not in page.inner_html("#stepText")
        finally:
            chromium.close()
    assert log["errors"] == [] and log["requests"] == [], log


def test_the_lesson_page_carries_the_lessons_steps():
    """`share --lesson`: every step of explorer/lesson.py, in order, on a run the page bundles."""
    from explorer import lesson

    steps = share.lesson_steps()
    assert [s["title"] for s in steps] == [s.title for s in lesson.list_steps()]
    assert all(s["run"] in share.LESSON_RUNS and 0 <= s["alpha"] <= 1 for s in steps)
    assert all(s["text_md"].startswith(step.prompt) for s, step in zip(steps, lesson.list_steps()))
