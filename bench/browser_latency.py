"""Browser latency of the explorer: opening a link (to the first tiles, to every chart drawn, to a settled
page), then the alpha slider (input to updated tile, to all charts redrawn, ten rapid presses 50 ms apart to
settled). Starts `streamlit run explorer/app.py` on 127.0.0.1 with the shipped world-e2e run, drives Debian's
Chromium with playwright, and reads the times the live view records (window.__wiseft in
explorer/components/live/live.js: wall-clock times of the first tiles, of Plotly's load and of the first full
draw; the input event's timeStamp, the tiles' update, and the animation frame after every chart's Plotly
update resolved).

    python bench/browser_latency.py [--presses 15] [--opens 3] [--width 1440 --height 900]

Opening a link is timed from the page's navigation start (performance.timeOrigin): the first open after the
server starts ("cold": the script's first run imports the app's modules and opens every listed run once),
then --opens more in fresh pages ("warm": a teacher's second link). Settled: every chart drawn and the
script's run over (no running indicator) for 300 ms.
Targets (issues 13 and 25): tile <= 50 ms, all charts <= 150 ms, ten presses settled <= 500 ms; first tiles
<= 3 s after opening a link.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def start_app(port: int) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
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
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    for _ in range(180):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2):
                return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("streamlit did not start within 90 s")


def live_frame(page):
    page.wait_for_selector("iframe[title*='wiseft_live']", timeout=120_000)
    frame = next(f for f in page.frames if "wiseft_live" in f.url)
    frame.wait_for_function("window.__wiseft && window.__wiseft.drawnSeq >= 1", timeout=120_000)
    return frame


def press(page, frame, key: str) -> dict:
    """One key press on the slider; the live view's own times for it (ms after the input event)."""
    seq = frame.evaluate("window.__wiseft.seq")
    page.keyboard.press(key)
    frame.wait_for_function(f"window.__wiseft.drawnSeq > {seq}", timeout=10_000)
    t = frame.evaluate("({...window.__wiseft})")
    return {"tile": t["tileAt"] - t["inputAt"], "charts": t["chartsAt"] - t["inputAt"]}


def rapid(frame, step: int, n: int = 10, gap_ms: int = 50) -> tuple[float, float, float]:
    """n slider steps gap_ms apart, dispatched inside the page (as a held arrow key repeats; playwright's
    own key presses take ~70 ms each on this machine, which would stretch the gaps): ms from the first
    input event and from the last one to the last chart redraw, and the inputs' own span."""
    seq = frame.evaluate("window.__wiseft.seq")
    frame.evaluate(f"""() => {{ const s = document.getElementById('alpha'); let k = 0; window.__first = null;
        const tick = () => {{ s.value = +s.value + ({step}); const e = new Event('input');
            s.dispatchEvent(e); if (window.__first === null) window.__first = e.timeStamp;
            if (++k < {n}) setTimeout(tick, {gap_ms}); }};
        tick(); }}""")
    frame.wait_for_function(
        f"window.__wiseft.seq >= {seq + n} && window.__wiseft.drawnSeq === window.__wiseft.seq", timeout=10_000
    )
    t = frame.evaluate(
        "[window.__wiseft.chartsAt - window.__first, window.__wiseft.chartsAt - window.__wiseft.inputAt, "
        "window.__wiseft.inputAt - window.__first]"
    )
    return tuple(t)


SETTLED_JS = """() => !document.querySelector('[data-testid="stStatusWidget"]')"""
TILES_JS = "() => !!document.querySelector('#tiles .tile')"
DRAWN_JS = "() => !!(window.__wiseft && window.__wiseft.drawnSeq >= 1)"


def open_link(browser, url: str, width: int, height: int, timeout: float = 120) -> dict:
    """Open `url` in a fresh page; seconds from the request to the first tiles, to every chart drawn and to a
    settled page (drawn, and no running indicator for 300 ms), polled every 25 ms from outside the page (so that
    code without the live view's own clocks is timed the same way)."""
    page = browser.new_page(viewport={"width": width, "height": height})
    start, seen, quiet = time.monotonic(), {}, None
    page.goto(url, wait_until="commit")
    while time.monotonic() - start < timeout:
        now = time.monotonic() - start
        frame = next((f for f in page.frames if "wiseft_live" in f.url), None)
        try:
            if frame and "tiles" not in seen and frame.evaluate(TILES_JS):
                seen["tiles"] = now
            if frame and "tiles" in seen and "charts" not in seen and frame.evaluate(DRAWN_JS):
                seen["charts"] = now
        except Exception:  # noqa: BLE001  (a frame replaced while the page loads)
            pass
        if "charts" in seen:
            quiet = (quiet or now) if page.evaluate(SETTLED_JS) else None
            if quiet is not None and now - quiet >= 0.3:
                seen["settled"] = quiet
                break
        page.wait_for_timeout(25)
    page.close()
    return seen


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--presses", type=int, default=15, help="single presses timed (alternating directions)")
    ap.add_argument("--opens", type=int, default=3, help="warm opens of a link timed after the cold one")
    ap.add_argument("--width", type=int, default=1440)
    ap.add_argument("--height", type=int, default=900)
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = start_app(port)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            url = f"http://127.0.0.1:{port}/?run={REPO / 'data' / 'runs' / 'world-e2e'}&alpha=0.5"
            opens = [open_link(browser, url, args.width, args.height) for _ in range(1 + args.opens)]
            page = browser.new_page(viewport={"width": args.width, "height": args.height})
            page.goto(url)
            frame = live_frame(page)
            frame.locator("#alpha").focus()
            times = [press(page, frame, "ArrowLeft" if i % 4 < 2 else "ArrowRight") for i in range(args.presses)]
            frame.evaluate(
                "document.getElementById('alpha').value = 5; "
                "document.getElementById('alpha').dispatchEvent(new Event('input'))"
            )  # alpha 0.25
            page.wait_for_timeout(500)  # the slider rests: the open gallery tab follows it with one rerun (syncServer)
            page.wait_for_function(SETTLED_JS, timeout=60_000)  # time the slider, not that rerun's drawing
            page.wait_for_timeout(300)
            settled = [rapid(frame, step) for step in (1, -1, 1)]
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} cores) at the end")
    for name, rows in (("cold", opens[:1]), ("warm", opens[1:])):
        print(
            f"open a link ({name}, {len(rows)}x): "
            + "; ".join(
                f"first tiles {r['tiles']:.2f} s, charts {r['charts']:.2f} s, settled {r['settled']:.2f} s"
                for r in rows
            )
            + " (target: tiles <= 3 s)"
        )
    tile = statistics.median(t["tile"] for t in times)
    charts = statistics.median(t["charts"] for t in times)
    print(f"viewport {args.width}x{args.height}, world-e2e (21 alphas, 6 sets, 5 charts), {args.presses} presses")
    print(
        f"input -> updated tile:        median {tile:6.1f} ms  (max {max(t['tile'] for t in times):.1f}; target <= 50)"
    )
    print(
        f"input -> all charts redrawn:  median {charts:6.1f} ms  (max {max(t['charts'] for t in times):.1f}; target <= 150)"
    )
    first, last, span = (statistics.median(s[k] for s in settled) for k in range(3))
    print(
        f"10 presses 50 ms apart -> settled: median {first:6.1f} ms from the first input, {last:.1f} ms from the "
        f"last (the inputs themselves span {span:.0f} ms; runs from the first: "
        f"{', '.join(f'{s[0]:.0f}' for s in settled)}; target <= 500)"
    )


if __name__ == "__main__":
    main()
