"""The explorer in a real browser: Debian's Chromium, driven by playwright, against `streamlit run`.

Starts the app on 127.0.0.1 (the shipped world runs when built, else the tiny test runs), waits for
the charts, moves the alpha slider with the keyboard, checks that the metrics change and that no
Streamlit exception shows, and saves screenshots under artifacts/screenshots/ (gitignored).
CI installs chromium with apt (.ci/run); the test skips, saying why, where it is absent.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from conftest import REPO
from explorer import state
from test_app import runs_root  # noqa: F401  (the fixture: tiny runs with baselines)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = REPO / "artifacts" / "screenshots"
VIEWPORT = {"width": 1600, "height": 1000}  # a projector's worth
WAIT_MS = 90_000  # first page load imports torch and prepares the run

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} not installed (CI: apt-get install chromium)"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"streamlit did not answer at {url} within {seconds} s")


@contextlib.contextmanager
def streamlit_server(env: dict, tmp_path: Path):
    """`streamlit run explorer/app.py` on a free 127.0.0.1 port with `env`; yields its URL."""
    port = free_port()
    log = (tmp_path / "streamlit.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "explorer/app.py",
            "--server.address",
            "127.0.0.1",
            "--server.port",
            str(port),
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture
def app_url(runs_root, tmp_path):  # noqa: F811
    """The app on the shipped runs when present, else the test runs."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop(state.RUNS_ENV, None)
    if not state.list_runs(list(state.DEFAULT_ROOTS)):
        env[state.RUNS_ENV] = str(runs_root)
    with streamlit_server(env, tmp_path) as url:
        yield url


SIZES = [(1024, 768), (1280, 720), (1440, 900)]  # projectors
OVERFLOW_JS = """() => {
  const cut = [...document.querySelectorAll('.tile, .tile *, .head h4, .head .sub')]
    .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.textContent);
  const out = [...document.querySelectorAll('.plot')].flatMap(p => {
    const box = p.getBoundingClientRect();
    const card = p.closest('.card').getBoundingClientRect();
    const heads = [...p.closest('.card').querySelectorAll('.head h4, .head .sub')].filter(h => {
      const r = h.getBoundingClientRect();
      return r.left < card.left - 1 || r.right > card.right + 1 || r.top < card.top - 1 || r.bottom > box.top + 1;
    }).map(h => h.textContent);
    return heads.concat([...p.querySelectorAll('.gtitle, .g-xtitle text, .g-ytitle text')].filter(t => {
      const r = t.getBoundingClientRect();
      return r.width && (r.left < box.left - 1 || r.right > box.right + 1 || r.top < box.top - 1 || r.bottom > box.bottom + 1);
    }).map(t => t.textContent));
  });
  return {cut, out};
}"""


# The live view draws the alpha marks itself (drawShapes); Plotly, handed what an export hands it (toExport: the
# shapes, their labels as annotations), is the reference: every line, dot and bar within 1 px of Plotly's, every
# label with the same text and its centre within 3 px.
MARKS_VS_PLOTLY_JS = """async () => {
  const box = (e) => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
  const mid = (b) => [(b[0] + b[2]) / 2, (b[1] + b[3]) / 2];
  const far = (a, b, tol) => a.some((v, i) => Math.abs(v - b[i]) > tol);
  const bad = [];
  for (const c of charts()) {
    const gd = document.getElementById(c.id), n = gd.__marks.length;
    const ours = [...gd.querySelectorAll('svg.marks line, svg.marks circle, svg.marks rect')].map(box);
    const ourText = [...gd.querySelectorAll('svg.marks text')].map((t) => [t.textContent, mid(box(t))]);
    await Plotly.relayout(gd, toExport(gd));
    const theirs = [...gd.querySelectorAll('.layer-above .shapelayer path')].map(box);
    const theirText = [...gd.querySelectorAll('.annotation-text')].map((t) => [t.textContent, mid(box(t))]);
    await Plotly.relayout(gd, { shapes: [], annotations: [] });
    if (n === 0 || ours.length !== n || theirs.length !== n || ourText.length !== theirText.length)
      { bad.push([c.id, 'counts', n, ours.length, theirs.length, ourText.length, theirText.length]); continue; }
    ours.forEach((b, i) => { if (far(b, theirs[i], 1)) bad.push([c.id, i, b, theirs[i]]); });
    ourText.forEach(([t, m], i) => {
      if (t !== theirText[i][0] || far(m, theirText[i][1], 3)) bad.push([c.id, 'label', i, t, m, theirText[i]]);
    });
  }
  return bad;
}"""


def live_frame(page):
    page.wait_for_selector("iframe[title*='wiseft_live']", timeout=WAIT_MS)
    frame = next(f for f in page.frames if "wiseft_live" in f.url)
    frame.wait_for_function("window.__wiseft && window.__wiseft.drawnSeq >= 1", timeout=WAIT_MS)
    return frame


def assert_no_exception(page) -> None:
    errors = page.locator('[data-testid="stException"]')
    assert errors.count() == 0, "the page shows a Streamlit exception:\n" + "\n".join(errors.all_inner_texts())


def open_page(browser, url: str, size: tuple[int, int], errors: list[str]):
    page = browser.new_page(viewport={"width": size[0], "height": size[1]})
    page.on("console", lambda m: errors.append(f"{size}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"{size}: {e}"))
    page.goto(url)
    return page, live_frame(page)


def test_projector_sizes_instant_alpha_and_a_shareable_url(app_url):
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            for size in SIZES:
                page, frame = open_page(browser, app_url, size, errors)
                assert_no_exception(page)
                page.wait_for_timeout(800)  # the narrow-screen sidebar collapse and plotly's resize
                bad = frame.evaluate(OVERFLOW_JS)
                assert bad == {"cut": [], "out": []}, (size, bad)
                page.screenshot(path=str(SHOTS / f"explorer-{size[0]}x{size[1]}.png"))
                if size[0] < 1300:
                    assert page.locator('button[aria-label="Collapse sidebar"]').count() == 0, "sidebar open at " + str(
                        size
                    )
                page.close()
            page, frame = open_page(browser, app_url, SIZES[-1], errors)
            before = frame.inner_text("#tiles")
            frame.locator("#alpha").focus()
            page.keyboard.press("ArrowLeft")
            frame.wait_for_function("t => document.getElementById('tiles').innerText !== t", arg=before, timeout=5000)
            assert page.locator('[data-testid="stStatusWidget"] button').count() == 0  # no script rerun
            text = frame.inner_text("#tiles")
            every = frame.evaluate(
                "() => { const i0 = cur, out = []; for (let i = 0; i < P.alphas.length; i++) "
                "{ cur = i; drawTiles(); out.push(document.getElementById('tiles').innerText); } "
                "cur = i0; drawTiles(); return out.join('\\n'); }"
            )  # the tiles at every alpha
            assert not re.search(r"nan|NaN|[-−]0\.0 pp", every), every
            for fmt in ("PNG", "SVG"):  # each chart's toolbar exports it, offline
                with page.expect_download(timeout=20_000) as download:
                    frame.locator(f'#pScatter [data-title="Download as {fmt}"]').click()
                assert download.value.suggested_filename == f"robustness_scatter.{fmt.lower()}"
            mismatch = frame.evaluate(MARKS_VS_PLOTLY_JS)  # the fast marks against Plotly drawing the same shapes
            assert mismatch == [], mismatch
            tab = page.get_by_role("tab", name="Examples that changed")
            tab.click()  # the gallery follows the slider: at rest even off screen, while it moves when on screen
            frame.locator("#alpha").focus()
            page.keyboard.press("ArrowRight")
            alpha = frame.inner_text("#alphaOut")
            page.get_by_text(f"Examples at α = {alpha}").wait_for(timeout=30_000)  # caught up at rest, off screen
            tab.scroll_into_view_if_needed()
            text = frame.inner_text("#tiles")
            page.wait_for_function(
                "a => new URL(location.href).searchParams.get('alpha') === a", arg=alpha, timeout=5000
            )
            url = page.url
            page.close()
            page, frame = open_page(browser, url, SIZES[-1], errors)  # the link opens the same view
            assert frame.inner_text("#alphaOut") == alpha and frame.inner_text("#tiles") == text
            page.set_viewport_size({"width": SIZES[-1][0], "height": 2400})
            page.wait_for_timeout(1000)
            page.screenshot(path=str(SHOTS / "explorer-full.png"))
            page.close()
            page, frame = open_page(browser, app_url, SIZES[-1], errors)  # presenter mode: larger type
            page.get_by_text("Presenter mode", exact=True).click()
            frame.wait_for_selector(".live.presenter", timeout=WAIT_MS)
            frame.wait_for_function("window.__wiseft.drawnSeq >= 1", timeout=WAIT_MS)
            for size in (SIZES[-1], SIZES[0]):  # at 1024 with the sidebar still open: the hardest case
                page.set_viewport_size({"width": size[0], "height": size[1]})
                page.wait_for_timeout(1000)
                bad = frame.evaluate(OVERFLOW_JS)
                assert bad == {"cut": [], "out": []}, ("presenter", size, bad)
                page.screenshot(path=str(SHOTS / f"explorer-presenter-{size[0]}x{size[1]}.png"))
            page.close()
            sweep = urllib.parse.quote("ALIGN, linear-classifier (Table 9)")
            page, frame = open_page(browser, f"{app_url}/?mode=paper&sweep={sweep}&alpha=1.0", SIZES[1], errors)
            tiles = frame.inner_text("#tiles")  # Table 9 leaves four alpha = 1 cells blank
            assert "n/a" in tiles and "nan" not in tiles and "NaN" not in tiles, tiles
            page.screenshot(path=str(SHOTS / "explorer-paper-1280x720.png"))
            page.close()
        finally:
            browser.close()
    assert errors == [], errors
