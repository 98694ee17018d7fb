"""Server-side latency of one slider change in the explorer.

Writes a synthetic run folder (21 alphas x 6 eval sets x 10,000 examples, float16 logits, with
core.runs.artifacts, laid out like core.wiseft.sweep writes it), prepares it once with explorer.state.load_run
(what the app caches), then times the explorer.state calls the app makes per slider change:

    trend -> on_alpha_change (metrics, losses, effective robustness, flips, per-class) -> barriers,
    baseline_points -> flips + top_predictions at both alphas for the gallery's 12 examples

for an end-to-end run (grid alphas) and a linear-classifier run (any alpha, here off its sweep grid).
Also reported, separately: building the five plotly figures, and a whole AppTest rerun.

    python bench/app_latency.py [--n 10000] [--classes 10] [--repeats 100] [--no-apptest]
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core.runs import artifacts  # noqa: E402
from explorer import charts, state  # noqa: E402

ALPHAS = tuple(round(a, 4) for a in np.linspace(0, 1, 21))
SETS = (("id_test", "id"), ("v2", "ood"), ("sketch", "ood"), ("rendition", "ood"), ("objectnet", "ood"),
        ("hard", "ood"))


def write_run(root: Path, linear: bool, n: int, classes: int, seed: int = 0) -> Path:
    """A run folder whose accuracy rises in alpha on 'id' and peaks mid-path on the OOD sets."""
    rng = np.random.default_rng(seed)
    names = [f"class {c}" for c in range(classes)]
    artifacts.update_manifest(root, {"name": root.name, "model": {"name": "synthetic"}, "classnames": names,
                                     "templates": ["{}"], "seed": seed})
    for s, (name, role) in enumerate(SETS):
        labels = rng.integers(0, classes, n)
        onehot = np.eye(classes, dtype=np.float32)[labels]  # (N, C)
        shift = 0.0 if role == "id" else 0.3 + 0.1 * s
        l0 = rng.normal(size=(n, classes)).astype(np.float32) + (1.5 - shift) * onehot  # zero-shot
        l1 = rng.normal(size=(n, classes)).astype(np.float32) + (3.0 - 4 * shift) * onehot  # fine-tuned
        if linear:
            arrays = {"logits_0": l0.astype(np.float16), "logits_1": l1.astype(np.float16)}
        else:
            a = np.asarray(ALPHAS, dtype=np.float32)[:, None, None]
            arrays = {"logits": ((1 - a) * l0 + a * l1 + (a * (1 - a)) * onehot).astype(np.float16)}  # (A, N, C)
        arrays["labels"] = labels.astype(np.int64)
        artifacts.atomic_save_arrays(root / "sweep" / f"{name}.safetensors", arrays, {"alphas": ALPHAS})
        artifacts.atomic_write_json(root / "sweep" / f"{name}.ids.json", [f"synthetic:{name}/{i}" for i in range(n)])
    datasets = [{"name": name, "role": role, "spec": "synthetic", "n": n, "classnames": names} for name, role in SETS]
    artifacts.update_manifest(root, {"sweep": {"alphas": list(ALPHAS), "logits_linear_in_alpha": linear,
                                               "logits_dtype": "float16", "datasets": datasets}})
    artifacts.write_metrics_csv(root / "metrics.csv", artifacts.Run(root).recompute_metrics())
    write_baselines(root, rng)
    return root


def write_baselines(root: Path, rng: np.random.Generator, models: int = 8) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["model", "dataset", "accuracy"])
    for m in range(models):
        id_acc = rng.uniform(0.4, 0.9)
        for name, role in SETS:
            acc = id_acc if role == "id" else id_acc * rng.uniform(0.5, 0.8)
            writer.writerow([f"baseline {m}", name, f"{acc:.4f}"])
    artifacts.atomic_write_bytes(root / "baselines.csv", buf.getvalue().encode())


def one_change(ra: state.RunArrays, alpha: float, ref_alpha: float = 0.0, y_name: str = state.AVG_OOD):
    """The explorer.state calls of one rerun of the app after the slider moved (changes tab open)."""
    fit = state.trend(ra, y_name)
    snap = state.on_alpha_change(ra, alpha, ref_alpha, ra.id_name, y_name, fit)
    extras = state.barriers(ra), state.baseline_points(ra, y_name)
    shown = state.flips(ra, ra.id_name, ref_alpha, alpha)["fixed"][:12]
    tops = [state.top_predictions(ra, ra.id_name, shown, a) for a in (ref_alpha, alpha)]
    return snap, fit, extras, tops


def figures(ra: state.RunArrays, snap: state.Snapshot, fit) -> list:
    """The five plotly figures the page draws per change (accuracy, scatter, loss, flips, per-class)."""
    curves = ra.accuracy_curves()
    acc = {r["name"]: r["accuracy"] for r in snap.rows}
    path = {"name": "run", "alphas": ra.alphas, "x": curves[ra.id_name], "y": curves[state.AVG_OOD]}
    current = {"alpha": snap.alpha, "x": acc[ra.id_name], "y": acc[state.AVG_OOD], "er": snap.effective_robustness}
    return [charts.accuracy_vs_alpha(ra.alphas, curves, snap.alpha, ra.id_name),
            charts.robustness_scatter([path], state.baseline_points(ra, state.AVG_OOD), fit, current),
            charts.loss_path(ra.alphas, ra.loss_curves(), snap.alpha, ra.id_name, state.barriers(ra)),
            charts.flip_bars(snap.flip_counts, snap.ref_alpha, snap.alpha),
            charts.per_class_change(ra.classnames, *snap.per_class, snap.ref_alpha, snap.alpha, snap.dataset)]


def timed(fn, repeats: int) -> np.ndarray:
    """Milliseconds of each call fn(i)."""
    out = []
    for i in range(repeats):
        t0 = time.perf_counter()
        fn(i)
        out.append(1e3 * (time.perf_counter() - t0))
    return np.asarray(out)


def apptest_rerun_ms(root: Path, run: Path, alphas: list[float], repeats: int) -> np.ndarray:
    """Whole-script reruns of the app (AppTest, no browser) after each slider move."""
    from streamlit.testing.v1 import AppTest

    os.environ[state.RUNS_ENV] = str(root)
    at = AppTest.from_file(str(REPO / "explorer" / "app.py"), default_timeout=120)
    at.run()
    at.selectbox(key="run").set_value(run).run()
    slider = (lambda: at.slider[0]) if state.load_run(run).linear else (lambda: at.select_slider[0])
    return timed(lambda i: slider().set_value(alphas[i % len(alphas)]).run(), repeats)


def report(label: str, ms: np.ndarray) -> None:
    print(f"{label:<58} median {np.median(ms):7.2f} ms   p90 {np.percentile(ms, 90):7.2f} ms   (n={len(ms)})")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=10_000, help="examples per eval set")
    p.add_argument("--classes", type=int, default=10, help="classes (the embedded world has 10)")
    p.add_argument("--repeats", type=int, default=100)
    p.add_argument("--no-apptest", action="store_true", help="skip the whole-rerun measurement")
    args = p.parse_args(argv)
    print(f"synthetic runs: {len(ALPHAS)} alphas x {len(SETS)} sets x {args.n} examples x {args.classes} classes")
    with tempfile.TemporaryDirectory() as tmp:
        for kind, linear in (("end-to-end", False), ("linear-classifier", True)):
            run = write_run(Path(tmp) / kind, linear, args.n, args.classes)
            t0 = time.perf_counter()
            ra = state.load_run(run)
            print(f"\n{kind}: load_run (once per run, cached by the app) {time.perf_counter() - t0:.2f} s, "
                  f"view grid {len(ra.alphas)} alphas")
            rng = np.random.default_rng(1)
            alphas = [float(a) for a in ALPHAS] if not linear else list(rng.uniform(0, 1, 50).round(4))
            ms = timed(lambda i: one_change(ra, alphas[i % len(alphas)]), args.repeats)
            report(f"  state calls per slider change{' (off-grid alphas)' if linear else ''}", ms)
            if linear:
                grid = [float(a) for a in np.round(np.arange(0, 1.001, 0.01), 2)]
                report("  state calls per slider change (slider steps of 0.01)",
                       timed(lambda i: one_change(ra, grid[i % len(grid)]), args.repeats))
            snap, fit, _, _ = one_change(ra, 0.5)
            report("  + building the 5 plotly figures",
                   timed(lambda i: figures(ra, snap, fit), max(10, args.repeats // 5)))
            if not args.no_apptest:
                slider_alphas = [float(a) for a in (ALPHAS if not linear else np.round(np.arange(0, 1.001, 0.05), 2))]
                report("  whole app rerun (AppTest: script + figures + protobuf)",
                       apptest_rerun_ms(Path(tmp), run, slider_alphas[::-1], 10))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
