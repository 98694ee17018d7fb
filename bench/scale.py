"""An ImageNet-sized run: the end of its sweep, `info`, the explorer's first render and a slider
rest, each timed in a fresh process with its peak resident memory (issue 12's targets).

    PYTHONPATH=. python bench/scale.py [--root /tmp/wiseft-scale] [--keep]

It writes a synthetic run of the real sizes in the run format (ImageNet 50,000 x 1000, ImageNetV2
10,000 x 1000, ImageNet-R 30,000 x 200, ImageNet-Sketch 50,889 x 1000, ObjectNet 18,574 x 113,
ImageNet-A 7,500 x 200; 21 alphas; float16 logits, about 5 GB): the sweep's partial chunks (logits
plus `metrics.reduce_logits` reductions, as `core.wiseft.sweep` saves them), then, in a fresh process, the
end-of-sweep step (`sweep_store.consolidate` of every set and `sweep_store.switch`: metrics.csv and
the manifest). The same measurements on data/runs/world-e2e are printed as the small reference.
The run is deleted at the end unless --keep. Peak memory: /usr/bin/time's %M of each child.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SETS = (
    ("imagenet", "id", 50_000, 1000),
    ("imagenetv2", "ood", 10_000, 1000),
    ("imagenet-r", "ood", 30_000, 200),
    ("imagenet-sketch", "ood", 50_889, 1000),
    ("objectnet", "ood", 18_574, 113),
    ("imagenet-a", "ood", 7_500, 200),
)
FRACTION = float(os.environ.get("WISEFT_SCALE_FRACTION", "1"))  # < 1: a quick smoke run of the bench itself
SETS = tuple((name, role, max(1, int(n * FRACTION)), c) for name, role, n, c in SETS)
ALPHAS = tuple(round(a, 4) for a in np.linspace(0, 1, 21))
CHUNK = 4096  # the sweep's default chunk_size
HEAD = 1000
TARGETS = {"info": (5.0, 1.0), "app": (10.0, 2.0)}  # seconds, GB
SLIDER_MS = 50.0


def _labels_ids(name: str, n: int, c: int, seed: int) -> tuple[np.ndarray, list[str]]:
    labels = np.random.default_rng(seed).integers(0, c, n)
    return labels, [f"synthetic:{name}/{i}" for i in range(n)]


def _chunk_logits(rng, labels: np.ndarray, c: int, shift: float) -> np.ndarray:
    """(A, n, C) float16: ID accuracy rises in alpha, OOD accuracy peaks mid-path (WiSE-FT's shape)."""
    base = rng.standard_normal((len(labels), c), dtype=np.float32)  # (n, C)
    out = np.empty((len(ALPHAS), len(labels), c), np.float16)
    rows = np.arange(len(labels))
    for a, alpha in enumerate(ALPHAS):
        boost = 1.5 + (2.0 - 3 * shift) * alpha + 2 * shift * alpha * (1 - alpha)
        out[a] = base
        out[a, rows, labels] += boost
    return out


def write_partial(root: Path) -> None:
    """The run with its sweep's chunks saved, as an interrupted-at-the-end `sweep` leaves it."""
    from core.results import metrics
    from core.runs import artifacts, sweep_store

    artifacts.update_manifest(
        root,
        {
            "name": root.name,
            "model": {"name": "synthetic ImageNet-sized"},
            "classnames": [f"class {i}" for i in range(HEAD)],
            "templates": ["{}"],
            "seed": 0,
        },
    )
    run = artifacts.Run(root)
    for s, (name, role, n, c) in enumerate(SETS):
        labels, _ = _labels_ids(name, n, c, s)
        shift = 0.0 if role == "id" else 0.15 + 0.05 * s
        for i, start in enumerate(range(0, n, CHUNK)):
            lab = labels[start : start + CHUNK]
            logits = _chunk_logits(np.random.default_rng([s, i]), lab, c, shift)  # (A, n, C)
            arrays = {"logits": logits, **metrics.reduce_logits(logits, lab)}
            meta = {"identity": name, "chunk": i, "start": start, "stop": start + len(lab)}
            artifacts.atomic_save_arrays(sweep_store.chunk_path(run, name, i), arrays, meta)
        print(f"  wrote {name}: {n} x {c} x {len(ALPHAS)}", flush=True)
    rows = [
        {"model": f"baseline {m}", "dataset": name, "accuracy": 0.3 + 0.05 * m - (0.1 if role == "ood" else 0)}
        for m in range(6)
        for name, role, _, _ in SETS
    ]
    artifacts.atomic_write_bytes(
        root / "baselines.csv",
        (
            "model,dataset,accuracy\n" + "".join(f"{r['model']},{r['dataset']},{r['accuracy']:.3f}\n" for r in rows)
        ).encode(),
    )


def step_finish(root: Path) -> None:
    """The end of `sweep`: consolidate every set into a new generation, metrics.csv, manifest."""
    from core.runs import artifacts, sweep_store

    run = artifacts.Run(root)
    folder = sweep_store.new_generation(run, True)
    entries = []
    for s, (name, role, n, c) in enumerate(SETS):
        labels, ids = _labels_ids(name, n, c, s)
        chunks = len(range(0, n, CHUNK))
        sweep_store.consolidate(folder, name, chunks, run, labels, ids, {"identity": name, "alphas": list(ALPHAS)})
        entries.append(
            {
                "name": name,
                "role": role,
                "spec": "synthetic",
                "n": n,
                "classnames": [f"class {i}" for i in range(c)],
                "storage": "grid",
                "projection": "none" if c == HEAD else "subset",
                "identity": name,
            }
        )
    sweep_store.switch(
        run,
        folder,
        {"alphas": list(ALPHAS), "logits_dtype": "float16", "keep_logits": True, "topk": 5, "datasets": entries},
    )


def step_metrics_ref(root: Path) -> None:
    """The small reference's metrics step: its table through the one reducer."""
    from core.runs.artifacts import Run

    Run(root).recompute_metrics()


def step_app(root: Path) -> None:
    from streamlit.testing.v1 import AppTest

    os.environ["WISEFT_RUNS"] = str(root.parent)
    t0 = time.perf_counter()
    at = AppTest.from_file(str(REPO / "explorer" / "app.py")).run(timeout=120)
    live = [e for e in at.get("component_instance") if e.proto.component_name.endswith("wiseft_live")]
    title = json.loads(live[0].proto.json_args)["payload"]["title"] if live else None  # the run the page shows
    print(f"RESULT render_s={time.perf_counter() - t0:.2f} exception={bool(at.exception)} shown={title}")
    if at.exception:
        print(at.exception, file=sys.stderr)


def step_slider(root: Path) -> None:
    """What the server computes for a run (the live view's payload, once per run and compared alpha) and
    per slider rest on the gallery tab (flips, and the top-3 of 12 examples at both alphas)."""
    from explorer import live, state

    t0 = time.perf_counter()
    ra = state.load_run(root)
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    live.run_payload(ra)
    payload_s = time.perf_counter() - t0
    times = []
    for alpha in ra.alphas[::-1]:
        t0 = time.perf_counter()
        shown = state.flips(ra, ra.id_name, 0.0, float(alpha))["fixed"][:12]
        for a in (0.0, float(alpha)):
            state.top_predictions(ra, ra.id_name, shown, a)
        times.append(1000 * (time.perf_counter() - t0))
    print(
        f"RESULT load_s={load_s:.2f} payload_s={payload_s:.2f} slider_ms_median={np.median(times):.2f} "
        f"slider_ms_max={max(times):.2f}"
    )


STEPS = {"finish": step_finish, "metrics-ref": step_metrics_ref, "app": step_app, "slider": step_slider}


def run_step(step: str, root: Path) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (GB) and stdout of one step in a fresh python process."""
    cmd = (
        [sys.executable, __file__, "--step", step, "--root", str(root)]
        if step in STEPS
        else [sys.executable, "-m", "core", "info", "--run", str(root), "--json"]
    )
    wall, rss, out, _ = timed(cmd)
    return wall, rss, out


def timed(cmd: list[str]) -> tuple[float, float, str, str]:
    """Wall seconds, peak RSS (GB), stdout and stderr of a command in a fresh process (/usr/bin/time); the
    benches' one way to measure a step (bench/upgrade.py and bench/uncertainty.py use it too)."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        ["/usr/bin/time", "-f", "MAXRSS_KB %M", *cmd],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed:\n{proc.stderr[-3000:]}")
    err, rss_kb = proc.stderr.rsplit("MAXRSS_KB", 1)
    return wall, int(rss_kb.split()[0]) / 2**20, proc.stdout, err


def report(label: str, root: Path, finish_step: str) -> None:
    print(f"\n== {label}: {root}")
    for step, what in (
        (finish_step, "end-of-sweep metrics step"),
        ("info", "info --json"),
        ("app", "explorer first render (AppTest)"),
        ("slider", "load_run, payload + slider rests"),
    ):
        wall, rss, out = run_step(step, root)
        result = out.rsplit("RESULT", 1)[1].strip() if "RESULT" in out else ""
        target = TARGETS.get(step)
        bar = f"  (target <= {target[0]:g} s, <= {target[1]:g} GB)" if target else ""
        if step == "finish":
            chunk_gb = len(ALPHAS) * CHUNK * HEAD * 2 / 2**30
            bar = f"  (target <= chunk {chunk_gb:.2f} GB + 1 GB)"
        if step == "slider":
            bar = f"  (target <= {SLIDER_MS:g} ms per rest)"
        print(f"{what:>34}: {wall:6.2f} s wall, {rss:5.2f} GB peak RSS  {result}{bar}", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", default="/tmp/wiseft-scale")
    p.add_argument("--step", choices=sorted(STEPS))
    p.add_argument("--keep", action="store_true")
    args = p.parse_args()
    root = Path(args.root)
    if args.step:
        return STEPS[args.step](root)
    run = root / "imagenet-scale"
    shutil.rmtree(root, ignore_errors=True)
    t0 = time.perf_counter()
    print(f"writing the synthetic run's sweep chunks under {run} ...", flush=True)
    write_partial(run)
    print(f"  {time.perf_counter() - t0:.0f} s", flush=True)
    try:
        report(
            f"ImageNet-sized run ({len(SETS)} sets, {sum(n for _, _, n, _ in SETS):,} examples, {len(ALPHAS)} alphas)",
            run,
            "finish",
        )
        size = sum(f.stat().st_size for f in run.rglob("*") if f.is_file()) / 2**30
        print(f"{'run size on disk':>34}: {size:.2f} GB")
        report("reference: the embedded world's run", REPO / "data" / "runs" / "world-e2e", "metrics-ref")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
