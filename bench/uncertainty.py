"""The cost of every interval a reader sees, on an ImageNet-sized run (issue 24).

    PYTHONPATH=. python bench/uncertainty.py [--root /tmp/wiseft-uncertainty] [--keep]

It writes a synthetic run of bench/scale.py's real sizes (ImageNet and its five shifts: 166,963
examples, 21 alphas) with the sweep's per-example reductions only (`sweep --reductions-only`: the
intervals never read logits), then, in one fresh process, times each step and reports its peak
resident memory (/usr/bin/time's %M):

- Wilson intervals of every (set, alpha) and the average OOD's, from metrics.csv (what `info` shows);
- reading every set's stored predictions (the (A, N) correctness the paired intervals need);
- the paired difference against each end (alpha 0 and 1) for every set and alpha, and for the average OOD;
- effective robustness with its interval for every OOD set, their average, and every alpha
  (tables.robustness_frame: pandas import included);
and `info --json` in a process of its own. The run is deleted at the end unless --keep.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from scale import ALPHAS, SETS, timed  # noqa: E402  (bench/scale.py, after sys.path: the paper's sizes)

TOPK = 5


def _reductions(rng: np.random.Generator, labels: np.ndarray, c: int, accuracy: np.ndarray) -> dict:
    """Synthetic sweep reductions (A, N, ...): example i is right at alpha a when its difficulty u_i is below
    accuracy[a] (plus a little per-alpha noise), so examples flip between alphas as along a real path."""
    u = rng.random(len(labels))  # (N,)
    right = u[None, :] + 0.05 * rng.standard_normal((len(ALPHAS), len(labels))) < accuracy[:, None]  # (A, N)
    wrong = (labels[None, :] + rng.integers(1, c, size=right.shape)) % c
    pred = np.where(right, labels[None, :], wrong).astype(np.int32)  # (A, N)
    topk = np.stack([pred, *[(pred + k) % c for k in range(1, TOPK)]], axis=-1).astype(np.int32)  # (A, N, k)
    prob = np.broadcast_to(np.linspace(0.6, 0.05, TOPK, dtype=np.float16), topk.shape)
    hits = np.stack([np.bincount(labels[row == labels], minlength=c) for row in pred])  # (A, C)
    loss = (-np.log(np.where(right, 0.6, 0.05)) + 0.1 * rng.random(right.shape)).astype(np.float32)
    return {"pred": pred, "loss": loss, "topk": topk, "topk_prob": np.ascontiguousarray(prob), "class_hits": hits}


def write_run(root: Path) -> None:
    """A finished sweep of SETS (reductions only) written through the run format's own writers."""
    from core.runs import artifacts, sweep_store

    artifacts.update_manifest(
        root,
        {
            "name": root.name,
            "model": {"name": "synthetic ImageNet-sized"},
            "classnames": [f"class {i}" for i in range(1000)],
            "templates": ["{}"],
            "seed": 0,
        },
    )
    run = artifacts.Run(root)
    a = np.asarray(ALPHAS)
    folder, entries = sweep_store.new_generation(run, True), []
    for s, (name, role, n, c) in enumerate(SETS):
        rng = np.random.default_rng(s)
        labels = rng.integers(0, c, n)
        base = 0.75 if role == "id" else 0.45 + 0.05 * s
        accuracy = base + (0.10 * a if role == "id" else 0.12 * a * (1 - a) - 0.03 * a)  # (A,)
        meta = {"identity": name, "chunk": 0, "start": 0, "stop": n}
        artifacts.atomic_save_arrays(sweep_store.chunk_path(run, name, 0), _reductions(rng, labels, c, accuracy), meta)
        sweep_store.consolidate(
            folder,
            name,
            1,
            run,
            labels,
            [f"synthetic:{name}/{i}" for i in range(n)],
            {"identity": name, "alphas": list(ALPHAS)},
        )
        entries.append(
            {
                "name": name,
                "role": role,
                "spec": "synthetic",
                "n": n,
                "storage": "reductions",
                "classnames": [f"class {i}" for i in range(c)],
                "projection": "none",
                "identity": name,
            }
        )
    sweep_store.switch(
        run,
        folder,
        {"alphas": list(ALPHAS), "logits_dtype": "float16", "keep_logits": False, "topk": TOPK, "datasets": entries},
    )
    rows = [
        (f"baseline {m}", name, 0.3 + 0.08 * m - (0.15 if role == "ood" else 0))
        for m in range(6)
        for name, role, _, _ in SETS
    ]
    (root / "baselines.csv").write_text("model,dataset,accuracy\n" + "".join(f"{m},{d},{v:.3f}\n" for m, d, v in rows))


def measure(root: Path) -> None:
    """Every interval a reader sees, timed step by step (this process's wall clock)."""
    t0 = time.perf_counter()
    from core.results import claims
    from core.results.report import interval_grid
    from core.runs.artifacts import Run

    run, times = Run(root), {"imports": time.perf_counter() - t0}

    def step(label, fn):
        t = time.perf_counter()
        out = fn()
        times[label] = time.perf_counter() - t
        return out

    grid = step("wilson", lambda: interval_grid(run))
    step("read predictions", lambda: [claims.correctness(run, n) for n in run.dataset_names])
    run = Run(root)  # the claims below read the predictions again, as a fresh reader would
    paired = step(
        "paired vs ends",
        lambda: {(n, ref): claims.differences_along_path(run, n, ref) for n in run.dataset_names for ref in (0.0, 1.0)},
    )
    avg = step("paired avg_ood", lambda: [claims.differences_along_path(run, "avg_ood", ref) for ref in (0.0, 1.0)])

    def robustness():
        from core.results.tables import robustness_frame

        return robustness_frame(run)

    er = step("effective robustness", robustness)
    counts = {
        "wilson": sum(len(lo) for lo, _ in grid.values()),
        "paired": sum(map(len, paired.values())),
        "avg_ood": sum(map(len, avg)),
        "er": len(er),
    }
    print("RESULT " + json.dumps({"seconds": {k: round(v, 3) for k, v in times.items()}, "intervals": counts}))


def report(root: Path) -> None:
    wall, rss, out, _ = timed([sys.executable, __file__, "--measure", "--root", str(root)])
    result = json.loads(out.rsplit("RESULT", 1)[1])
    print(f"every interval, one process: {wall:.2f} s wall, {rss:.2f} GB peak RSS")
    for label, seconds in result["seconds"].items():
        print(f"{label:>24}: {seconds:6.2f} s")
    print(f"{'intervals':>24}: " + ", ".join(f"{k} {v}" for k, v in result["intervals"].items()))
    wall, rss, _, _ = timed([sys.executable, "-m", "core", "info", "--run", str(root), "--json"])
    print(f"{'info --json':>24}: {wall:6.2f} s wall, {rss:.2f} GB peak RSS (a process of its own)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", default="/tmp/wiseft-uncertainty")
    p.add_argument("--measure", action="store_true", help="(internal) time the intervals of the run at --root")
    p.add_argument("--keep", action="store_true")
    args = p.parse_args()
    if args.measure:
        return measure(Path(args.root))
    root = Path(args.root)
    shutil.rmtree(root, ignore_errors=True)
    t0 = time.perf_counter()
    write_run(root)
    n = sum(n for _, _, n, _ in SETS)
    print(
        f"synthetic run: {len(SETS)} sets, {n:,} examples, {len(ALPHAS)} alphas, reductions only "
        f"(written in {time.perf_counter() - t0:.0f} s)"
    )
    try:
        report(root)
        print("\nreference: the embedded world's run (data/runs/world-e2e)")
        report(REPO / "data" / "runs" / "world-e2e")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
