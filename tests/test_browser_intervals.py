"""Issue 24 in a real browser, on the shipped world-e2e run: at alpha 0.5 objectnet's change since zero-shot reads
"within noise" (grey) and v2's over the fine-tuned model a gain with its +-, as the payload's intervals say; the 95%
bands are off, a box turns them on and the link keeps them; nothing is cut at 1024x768. Same harness as
tests/test_browser.py."""

from __future__ import annotations

import re

import pytest

from conftest import REPO
from explorer import live, state
from test_app import runs_root  # noqa: F401  (app_url's fixture)
from test_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    OVERFLOW_JS,
    SHOTS,
    app_url,  # noqa: F401  (the fixture: the app on the shipped runs)
    open_page,
)

E2E = REPO / "data" / "runs" / "world-e2e"
pytestmark = [
    pytest.mark.slow,  # a real Chromium over the app: seconds per test
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} not installed (CI: apt-get install chromium)"),
    pytest.mark.skipif(not (E2E / "manifest.json").exists(), reason="the shipped world runs are not built"),
]

BANDS_SHOWN = "() => document.getElementById('pAcc').data.filter(t => t.legendgroup === 'band').map(t => t.visible)"


def signed(x: float) -> str:
    """As live.js fmt writes a signed value to 0.1 (no exact ties here: checked by the caller's numbers)."""
    return f"{x:+.1f}".replace("-", "−")


def test_tiles_say_within_noise_and_bands_toggle(app_url):  # noqa: F811
    from playwright.sync_api import sync_playwright

    ra = state.load_run(E2E)
    p, g = live.run_payload(ra), state.view_index(ra, 0.5)
    lo, hi = (bound[g] for bound in p["ci"]["diff"]["v2"][1])
    gain = f"{signed(100 * (p['acc']['v2'][g] - p['acc']['v2'][-1]))} ±{100 * (hi - lo) / 2:.1f} pp vs α=1"
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page, frame = open_page(browser, f"{app_url}/?run=world-e2e&alpha=0.5", (1024, 768), errors)
            page.wait_for_timeout(800)
            assert frame.inner_text("#alphaOut") == "0.50"
            assert frame.evaluate(OVERFLOW_JS) == {"cut": [], "out": []}
            objectnet = frame.locator('.tile[data-set="objectnet"] .td').first
            assert objectnet.inner_text().startswith("within noise vs α=0") and "noise" in objectnet.get_attribute(
                "class"
            )
            assert "95% interval [" in objectnet.get_attribute("title")
            v2 = frame.locator('.tile[data-set="v2"] .td').nth(1)
            assert v2.inner_text() == gain and "up" in v2.get_attribute("class")
            every = frame.evaluate(
                "() => { const i0 = cur, out = []; for (let i = 0; i < P.alphas.length; i++) "
                "{ cur = i; drawTiles(); out.push(document.getElementById('tiles').innerText); } "
                "cur = i0; drawTiles(); return out.join('\\n'); }"
            )
            assert not re.search(r"nan|NaN|undefined|[-−]0\.0\b", every), every
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / "explorer-intervals-1024x768.png"))
            assert frame.evaluate(BANDS_SHOWN) == [False] * len(p["sets"])  # off by default
            frame.locator("#bands").check()
            frame.wait_for_function(f"() => ({BANDS_SHOWN})().every(v => v === true)", timeout=5000)
            assert frame.evaluate(BANDS_SHOWN) == [True] * len(p["sets"])
            page.wait_for_function("() => new URL(location.href).searchParams.get('bands') === '1'", timeout=5000)
            url = page.url
            page.close()
            page, frame = open_page(browser, url, (1440, 900), errors)  # the link keeps the bands
            page.wait_for_timeout(800)
            assert frame.locator("#bands").is_checked() and frame.evaluate(BANDS_SHOWN) == [True] * len(p["sets"])
            page.screenshot(path=str(SHOTS / "explorer-intervals-bands-1440x900.png"))
            page.close()
        finally:
            browser.close()
    assert errors == [], errors
