"""`python -m core upgrade` on an ImageNet-sized run swept before run format 2, then the explorer on
the upgraded run: each step timed in a fresh process with its peak resident memory (issue 26).

    PYTHONPATH=. python bench/upgrade.py [--root /tmp/wiseft-upgrade] [--skip-old-open] [--keep]

It writes bench/scale.py's synthetic run (6 sets, 166,963 examples, 21 alphas, float16 logits,
about 5 GB) in the schema-1 layout: sweep/<set>.safetensors with labels and logits only,
RUN/metrics.csv, no generation, no reductions. Then, each in a fresh process: `info` and the
explorer's load_run on the old run (reductions recomputed on read), `upgrade`, and `info`, the
explorer's first render (AppTest) and load_run + slider changes on the upgraded run. Peak memory:
/usr/bin/time's %M of each child. The run is deleted at the end unless --keep.
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
sys.path.insert(0, str(REPO / "bench"))
import scale  # noqa: E402  (the synthetic run's sets, labels and logits)

UPGRADE_TARGET_GB = 1.0  # over one sweep chunk (scale.CHUNK examples x 21 alphas x 1000 classes, float16)


def _alpha_blocks(s: int, labels: np.ndarray, c: int, shift: float, stats: dict):
    """A set's logits (A, N, C) in C order, one chunk of one alpha at a time (scale._chunk_logits'
    values, regenerated per alpha from the same seeds); accuracy and loss per alpha into stats."""
    from core.results import metrics

    for a, alpha in enumerate(scale.ALPHAS):
        for i, start in enumerate(range(0, len(labels), scale.CHUNK)):
            lab = labels[start : start + scale.CHUNK]
            base = np.random.default_rng([s, i]).standard_normal((len(lab), c), dtype=np.float32)  # (n, C)
            base[np.arange(len(lab)), lab] += 1.5 + (2.0 - 3 * shift) * alpha + 2 * shift * alpha * (1 - alpha)
            block = base.astype(np.float16)
            red = metrics.reduce_logits(block[None], lab, k=1)
            stats.setdefault(a, [0, 0.0])
            stats[a][0] += int((red["pred"][0] == lab).sum())
            stats[a][1] += float(red["loss"][0].astype(np.float64).sum())
            yield block


def write_schema_1(root: Path) -> None:
    """The synthetic ImageNet-sized run as a run swept before run format 2 leaves it on disk."""
    from core.runs.files import atomic_write_bytes, write_arrays

    (root / "sweep").mkdir(parents=True)
    entries, rows = [], ["dataset,role,alpha,accuracy,loss,n"]
    for s, (name, role, n, c) in enumerate(scale.SETS):
        labels, ids = scale._labels_ids(name, n, c, s)
        stats: dict = {}
        shift = 0.0 if role == "id" else 0.15 + 0.05 * s
        write_arrays(
            root / "sweep" / f"{name}.safetensors",
            {
                "labels": (np.int64, (n,), [labels]),
                "logits": (np.float16, (len(scale.ALPHAS), n, c), _alpha_blocks(s, labels, c, shift, stats)),
            },
            {"alphas": list(scale.ALPHAS)},
        )
        (root / "sweep" / f"{name}.ids.json").write_text(json.dumps(ids))
        rows += [
            f"{name},{role},{alpha},{stats[a][0] / n},{stats[a][1] / n},{n}" for a, alpha in enumerate(scale.ALPHAS)
        ]
        entries.append(
            {"name": name, "role": role, "spec": "synthetic", "n": n, "classnames": [f"class {i}" for i in range(c)]}
        )
        print(f"  wrote {name}: {n} x {c} x {len(scale.ALPHAS)}", flush=True)
    atomic_write_bytes(root / "metrics.csv", ("\n".join(rows) + "\n").encode())
    manifest = {
        "schema_version": 1,
        "name": root.name,
        "model": {"name": "synthetic ImageNet-sized"},
        "classnames": [f"class {i}" for i in range(scale.HEAD)],
        "templates": ["{}"],
        "seed": 0,
        "sweep": {"alphas": list(scale.ALPHAS), "logits_dtype": "float16", "datasets": entries},
    }
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2))


def measure(label: str, cmd: list[str], target: str = "") -> None:
    wall, rss, out, err = scale.timed(cmd)
    result = out.rsplit("RESULT", 1)[1].strip() if "RESULT" in out else ""
    note = next((line for line in err.splitlines() if line.startswith("note: ")), "")
    print(f"{label:>40}: {wall:7.2f} s wall, {rss:5.2f} GB peak RSS  {result}{target}", flush=True)
    if note:
        print(f"{'':>42}{note[:150]}...", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", default="/tmp/wiseft-upgrade")
    p.add_argument("--skip-old-open", action="store_true", help="do not time the explorer on the old run (slow)")
    p.add_argument("--keep", action="store_true")
    args = p.parse_args()
    root = Path(args.root)
    run = root / "imagenet-schema1"
    shutil.rmtree(root, ignore_errors=True)
    py, scale_py = sys.executable, str(REPO / "bench" / "scale.py")
    t0 = time.perf_counter()
    print(f"writing the synthetic run in the schema-1 layout under {run} ...", flush=True)
    write_schema_1(run)
    size = sum(f.stat().st_size for f in run.rglob("*") if f.is_file()) / 2**30
    print(f"  {time.perf_counter() - t0:.0f} s, {size:.2f} GB", flush=True)
    try:
        measure("info --json, old run", [py, "-m", "core", "info", "--run", str(run), "--json"])
        if not args.skip_old_open:
            measure("explorer load_run + slider, old run", [py, scale_py, "--step", "slider", "--root", str(run)])
        chunk_gb = len(scale.ALPHAS) * scale.CHUNK * scale.HEAD * 2 / 2**30
        measure(
            "python -m core upgrade",
            [py, "-m", "core", "upgrade", "--run", str(run)],
            f"  (target <= chunk {chunk_gb:.2f} GB + {UPGRADE_TARGET_GB:g} GB)",
        )
        measure(
            "info --json, upgraded",
            [py, "-m", "core", "info", "--run", str(run), "--json"],
            "  (target <= {:g} s, <= {:g} GB)".format(*scale.TARGETS["info"]),
        )
        measure(
            "explorer first render (AppTest), upgraded",
            [py, scale_py, "--step", "app", "--root", str(run)],
            "  (target <= {:g} s, <= {:g} GB)".format(*scale.TARGETS["app"]),
        )
        measure(
            "explorer load_run + slider, upgraded",
            [py, scale_py, "--step", "slider", "--root", str(run)],
            "  (target <= {:g} s, <= {:g} GB)".format(*scale.TARGETS["app"]),
        )
        size = sum(f.stat().st_size for f in run.rglob("*") if f.is_file()) / 2**30
        print(f"{'upgraded run size on disk':>40}: {size:.2f} GB")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
