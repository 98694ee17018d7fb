"""Issue 16 in a real browser: a run with a metric beyond top-1 (the fake-FMoW run: worst-region accuracy on
its OOD test) shows a tile of it at every alpha, with the payload's value, and a dashed curve of it on the
accuracy chart; nothing is cut at a projector's size. Same harness as tests/test_browser.py."""

from __future__ import annotations

import os

import pytest

from conftest import copy_run
from explorer import state
from test_browser import CHROMIUM, CHROMIUM_ARGS, OVERFLOW_JS, SHOTS, SIZES, live_frame, streamlit_server
from test_live_extra_metrics import fmow_run  # noqa: F401  (fixture: a run whose worst-region accuracy varies)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} not installed (CI: apt-get install chromium)"),
]


@pytest.fixture
def fmow_url(fmow_run, tmp_path):  # noqa: F811
    copy_run(fmow_run, tmp_path / "runs" / "fmow")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", state.RUNS_ENV: str(tmp_path / "runs")}
    with streamlit_server(env, tmp_path) as url:
        yield url


TILE_AT_EVERY_ALPHA = """() => {
  const i0 = cur, out = [];
  for (let i = 0; i < P.alphas.length; i++) {
    cur = i; drawTiles();
    const t = document.querySelector('.tile[data-set="extra:wilds-fmow-ood-test"]');
    out.push([t.querySelector('.tl').innerText, t.querySelector('.tv').innerText, P.extra[0].values[i]]);
  }
  cur = i0; drawTiles(); return out;
}"""


def test_the_extra_metric_has_a_tile_and_a_dashed_curve(fmow_url):
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": SIZES[0][0], "height": SIZES[0][1]})
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(fmow_url)
            frame = live_frame(page)
            page.wait_for_timeout(800)
            assert frame.evaluate(OVERFLOW_JS) == {"cut": [], "out": []}
            tiles = frame.evaluate(TILE_AT_EVERY_ALPHA)
            assert len(tiles) == 101  # the linear run's dense grid
            for label, value, want in tiles:
                assert label == "wilds-fmow-ood-test: worst-region acc" and value == f"{100 * want:.1f}%"
            curve = frame.evaluate(
                "() => document.getElementById('pAcc').data"
                ".filter(t => t.name === 'wilds-fmow-ood-test: worst-region accuracy')"
                ".map(t => [t.line.dash, t.y.length])"
            )
            assert curve == [["dash", 101]]
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / "explorer-extra-metric-1024x768.png"), full_page=True)
            page.close()
        finally:
            browser.close()
    assert errors == [], errors
