"""The explorer in a real browser: Debian's Chromium, driven by playwright, against `streamlit run`.

Starts the app on 127.0.0.1 (the shipped world runs when built, else the tiny test runs), waits for
the charts, moves the alpha slider with the keyboard, checks that the metrics change and that no
Streamlit exception shows, and saves screenshots under artifacts/screenshots/ (gitignored).
CI installs chromium with apt (.ci/run); the test skips, saying why, where it is absent.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import REPO
from explorer import state
from test_app import runs_root  # noqa: F401  (the fixture: tiny runs with baselines)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
SHOTS = REPO / "artifacts" / "screenshots"
VIEWPORT = {"width": 1600, "height": 1000}  # a projector's worth
WAIT_MS = 90_000  # first page load imports torch and prepares the run

pytestmark = [
    pytest.mark.browser,
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


@pytest.fixture
def app_url(runs_root, tmp_path):  # noqa: F811
    """`streamlit run explorer/app.py` on 127.0.0.1; the shipped runs when present, else the test runs."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop(state.RUNS_ENV, None)
    if not state.list_runs(list(state.DEFAULT_ROOTS)):
        env[state.RUNS_ENV] = str(runs_root)
    port = free_port()
    log = (tmp_path / "streamlit.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "explorer/app.py", "--server.address", "127.0.0.1",
         "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
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


def settle(page) -> None:
    """Wait until the script run is over and at least three plotly charts are drawn."""
    page.wait_for_selector('[data-testid="stMetricValue"]', timeout=WAIT_MS)
    page.wait_for_function("document.querySelectorAll('.js-plotly-plot .main-svg').length >= 3", timeout=WAIT_MS)
    page.wait_for_function("!document.querySelector('[data-testid=\"stStatusWidget\"] button')", timeout=WAIT_MS)
    page.wait_for_timeout(500)  # plotly's redraw


def assert_no_exception(page) -> None:
    errors = page.locator('[data-testid="stException"]')
    assert errors.count() == 0, "the page shows a Streamlit exception:\n" + "\n".join(errors.all_inner_texts())


def metric_text(page) -> str:
    return "\n".join(page.locator('[data-testid="stMetric"]').all_inner_texts())


def test_the_slider_moves_the_metrics_in_a_real_browser(app_url):
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(app_url)
            settle(page)
            assert_no_exception(page)
            before = metric_text(page)
            slider = page.get_by_role("slider").first  # the alpha slider, first on the page
            slider.focus()
            page.keyboard.press("ArrowLeft")  # one grid step towards zero-shot
            page.wait_for_function("t => [...document.querySelectorAll('[data-testid=\"stMetric\"]')]"
                                   ".map(e => e.innerText).join('\\n') !== t", arg=before, timeout=WAIT_MS)
            settle(page)
            assert_no_exception(page)
            assert metric_text(page) != before
            page.screenshot(path=str(SHOTS / "explorer.png"))
            page.set_viewport_size({"width": VIEWPORT["width"], "height": 2600})
            settle(page)
            page.screenshot(path=str(SHOTS / "explorer-full.png"))
        finally:
            browser.close()
