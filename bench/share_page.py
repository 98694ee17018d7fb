"""The offline page of a view (issue 27, explorer/share.py): its size against the budget, what it leaves out,
and the time from opening the file to the first tiles in Chromium.

    PYTHONPATH=. python bench/share_page.py [--opens 5] [--tabs 5,10] [--fraction 0.1] [--keep]

Three pages: world-e2e's (`python -m core share --run data/runs/world-e2e`), the lesson's five runs
(`--lesson`), and an ImageNet-sized synthetic run (bench/scale.py's: 6 sets, 1000 classes, 21 alphas; its
images do not exist, so its page has no gallery). The page's size depends on the classes and alphas (the
per-class table) and the gallery, not on the number of examples, so the synthetic run is written at
`--fraction` of the real example counts (1 writes the full ~5 GB). Each page is opened `--opens` times in a
fresh Chromium context from file:// with every request refused, at 1024x768 and at 390x844 (touch), and
the live view's own clock (window.__wiseft, explorer/components/live/live.js) gives the time from
navigation start to the first tiles and to all charts drawn. `--tabs` also opens world-e2e's page in that
many tabs at once on this machine (the issue's measure of one Streamlit server: 5.7 s for one tab, a median
of 27.6 s for five and 69 s for ten on a 2-core laptop).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SIZES = ((1024, 768), (390, 844))


def imagenet_run(root: Path, fraction: float) -> Path:
    """bench/scale.py's synthetic ImageNet-sized run, at `fraction` of its example counts."""
    os.environ["WISEFT_SCALE_FRACTION"] = str(fraction)
    sys.path.insert(0, str(REPO / "bench"))
    import scale  # reads the fraction when imported

    run = root / "imagenet-scale"
    scale.write_partial(run)
    scale.step_finish(run)
    return run


def first_tiles(page_file: Path, opens: int) -> dict[tuple[int, int], tuple[list[float], list[float]]]:
    """{size: ([ms to first tiles], [ms to every chart drawn])} over `opens` fresh opens of the file."""
    from playwright.sync_api import sync_playwright

    out = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for w, h in SIZES:
            tiles, charts = [], []
            for _ in range(opens):
                ctx = browser.new_context(
                    viewport={"width": w, "height": h}, is_mobile=w < 500, has_touch=w < 500, offline=True
                )
                ctx.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file:") else r.abort())
                page = ctx.new_page()
                page.goto(page_file.as_uri())
                page.wait_for_function("window.__wiseft && window.__wiseft.drawnSeq >= 1", timeout=120_000)
                t = page.evaluate("({...window.__wiseft})")
                tiles.append(t["tileAt"])
                charts.append(t["chartsAt"])
                ctx.close()
            out[(w, h)] = (tiles, charts)
        browser.close()
    return out


def tabs_at_once(page_file: Path, n: int) -> list[float]:
    """ms from navigation start to first tiles in each of `n` tabs opening the file at once (one browser, this
    machine's cores shared, as the issue measured N tabs against one Streamlit server)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        pages = [
            browser.new_context(viewport={"width": 1024, "height": 768}, offline=True).new_page() for _ in range(n)
        ]
        for page in pages:
            page.goto(page_file.as_uri(), wait_until="commit")
        for page in pages:
            page.wait_for_function("window.__wiseft && window.__wiseft.drawnSeq >= 1", timeout=300_000)
        out = [page.evaluate("window.__wiseft.tileAt") for page in pages]
        browser.close()
    return out


def report(label: str, page, path: Path, budget_mb: float, build_s: float, opens: int) -> None:
    size = path.stat().st_size / 1e6
    print(
        f"\n== {label}: {size:.2f} MB (budget {budget_mb:g} MB: {'ok' if size <= budget_mb else 'OVER'}), "
        f"made in {build_s:.1f} s"
    )
    print("   " + page.summary().replace("\n", "\n   "))
    for (w, h), (tiles, charts) in first_tiles(path, opens).items():
        print(
            f"   {w}x{h}: first tiles {statistics.median(tiles):.0f} ms median (max {max(tiles):.0f}), "
            f"all charts {statistics.median(charts):.0f} ms median, over {opens} opens from file://",
            flush=True,
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--opens", type=int, default=5, help="fresh opens of each page per screen size")
    p.add_argument("--tabs", default="5,10", help="also open world-e2e's page in this many tabs at once")
    p.add_argument("--fraction", type=float, default=0.1, help="of the ImageNet-sized run's example counts")
    p.add_argument("--out", type=Path, default=None, help="folder for the pages (default: a temporary one)")
    p.add_argument("--keep", action="store_true", help="keep the synthetic run (and the pages, in a temporary folder)")
    args = p.parse_args()
    from explorer import share, state

    out = args.out or Path(tempfile.mkdtemp(prefix="wiseft-share-"))
    out.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        ra = state.load_run(REPO / "data" / "runs" / "world-e2e")
        page = share.run_page(ra, share.default_payload(ra, 0.5))
        (out / "world-e2e.html").write_text(page.html)
        report("world-e2e", page, out / "world-e2e.html", share.BUDGET_MB["run"], time.perf_counter() - t0, args.opens)
        for n in [int(t) for t in args.tabs.split(",") if t]:
            ms = tabs_at_once(out / "world-e2e.html", n)
            print(
                f"   {n} tabs at once: first tiles {statistics.median(ms):.0f} ms median (max {max(ms):.0f})",
                flush=True,
            )

        t0 = time.perf_counter()
        page = share.lesson_page()
        (out / "lesson.html").write_text(page.html)
        report(
            "the lesson (5 runs)",
            page,
            out / "lesson.html",
            share.BUDGET_MB["lesson"],
            time.perf_counter() - t0,
            args.opens,
        )

        t0 = time.perf_counter()
        print(f"\nwriting the ImageNet-sized run at fraction {args.fraction} under {out} ...", flush=True)
        run = imagenet_run(out, args.fraction)
        print(f"   {time.perf_counter() - t0:.0f} s", flush=True)
        t0 = time.perf_counter()
        ra = state.load_run(run)
        page = share.run_page(ra, share.default_payload(ra, 0.5))
        (out / "imagenet-scale.html").write_text(page.html)
        n = sum(len(s.labels) for s in ra.sets.values())
        report(
            f"ImageNet-sized ({len(ra.sets)} sets, {n:,} examples, {len(ra.classnames)} classes, {len(ra.alphas)} alphas)",
            page,
            out / "imagenet-scale.html",
            share.BUDGET_MB["imagenet"],
            time.perf_counter() - t0,
            args.opens,
        )
    finally:
        if args.keep:
            print(f"\nkept {out}")
        else:
            shutil.rmtree(out / "imagenet-scale", ignore_errors=True)
            if args.out is None:
                shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
