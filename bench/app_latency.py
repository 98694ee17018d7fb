"""Server-side latency of the explorer: what the server computes per run and per slider rest.

Writes a synthetic run folder (21 alphas x 6 eval sets x 10,000 examples, float16 logits, with
core.runs.artifacts, laid out like core.wiseft.sweep writes it), prepares it once with
explorer.state.load_run (what the app caches), then times what explorer/app.py does now:

    per run, and per change of the eval set, the compared alpha or the class filter:
        explorer.live.run_payload (the per-alpha tables the live view draws from; cached by the app)
    per slider rest while the gallery tab is open (the live view sends the alpha; one rerun):
        the cached payload's copy (st.cache_data unpickles it), its id (client.payload_id), its JSON
        for the component, and the gallery's flips and top-3 of 12 examples at both alphas

for an end-to-end run and a linear-classifier run (a 0.01 view grid). Also reported: the same two
reruns whole, through AppTest (script, widgets, protobuf; no browser). Moving the slider costs the
server nothing: the browser redraws (bench/browser_latency.py times that).

    python bench/app_latency.py [--n 10000] [--classes 10] [--repeats 100] [--no-apptest]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import os
import pickle
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core.runs import artifacts  # noqa: E402
from explorer import client, live, state  # noqa: E402

ALPHAS = tuple(round(a, 4) for a in np.linspace(0, 1, 21))
SETS = (
    ("id_test", "id"),
    ("v2", "ood"),
    ("sketch", "ood"),
    ("rendition", "ood"),
    ("objectnet", "ood"),
    ("hard", "ood"),
)


def write_run(root: Path, linear: bool, n: int, classes: int, seed: int = 0) -> Path:
    """A run folder whose accuracy rises in alpha on 'id' and peaks mid-path on the OOD sets."""
    rng = np.random.default_rng(seed)
    names = [f"class {c}" for c in range(classes)]
    artifacts.update_manifest(
        root,
        {"name": root.name, "model": {"name": "synthetic"}, "classnames": names, "templates": ["{}"], "seed": seed},
    )
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
    artifacts.update_manifest(
        root,
        {
            "sweep": {
                "alphas": list(ALPHAS),
                "logits_linear_in_alpha": linear,
                "logits_dtype": "float16",
                "datasets": datasets,
            }
        },
    )
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


def payload_ms(ra: state.RunArrays, repeats: int) -> np.ndarray:
    """explorer.live.run_payload with each compared alpha of the sweep grid in turn (the app's cache misses)."""
    refs = [float(a) for a in ra.run.alphas]
    return timed(lambda i: live.run_payload(ra, ra.id_name, refs[i % len(refs)]), repeats)


def gallery(ra: state.RunArrays, alpha: float, ref_alpha: float = 0.0, limit: int = 12) -> list:
    """explorer.gallery.changes_ui's computations: the examples fixed from the compared alpha to the nearest
    swept alpha, and the top-3 of the first `limit` of them at both alphas."""
    grid = np.asarray(ra.run.alphas, dtype=float)
    b = float(grid[int(np.argmin(np.abs(grid - alpha)))])
    idx = state.flips(ra, ra.id_name, ref_alpha, b)["fixed"][:limit]
    return [state.top_predictions(ra, ra.id_name, idx, a) for a in (ref_alpha, b)]


def slider_rest(ra: state.RunArrays, cached: bytes, alpha: float) -> None:
    """The server's work in the rerun a slider rest causes on the gallery tab (besides drawing widgets)."""
    payload = pickle.loads(cached)  # st.cache_data hands each rerun a copy of the stored payload
    payload["alpha"] = alpha
    client.payload_id(payload, False, str(ra.run.path))
    json.dumps(payload)  # the component's arguments go to the browser as JSON
    gallery(ra, alpha)


def timed(fn, repeats: int) -> np.ndarray:
    """Milliseconds of each call fn(i)."""
    out = []
    for i in range(repeats):
        t0 = time.perf_counter()
        fn(i)
        out.append(1e3 * (time.perf_counter() - t0))
    return np.asarray(out)


def apptest_rerun_ms(
    root: Path, run: Path, alphas: list[float], refs: list[float], repeats: int
) -> tuple[np.ndarray, np.ndarray]:
    """Whole-script reruns of the app (AppTest, no browser, gallery tab open): after a slider rest (the
    alpha the live view sends) and after a change of the compared alpha (a new payload)."""
    from streamlit.testing.v1 import AppTest

    os.environ[state.RUNS_ENV] = str(root)
    at = AppTest.from_file(str(REPO / "explorer" / "app.py"), default_timeout=120)
    at.run()  # configures streamlit's loggers: quieten one after it
    # setting session state from outside a script run warns once per rerun ("missing ScriptRunContext")
    logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").setLevel(logging.ERROR)
    at.selectbox(key="run").set_value(run).run()

    def rest(i: int) -> None:
        at.session_state["live"] = alphas[i % len(alphas)]
        at.run()

    rests = timed(rest, repeats)
    ref = f"ref:{artifacts.Run(run).path}"
    compares = timed(lambda i: at.select_slider(key=ref).set_value(refs[(i + 1) % len(refs)]).run(), repeats)
    if at.exception or not any("Examples at" in m.value for m in at.markdown):
        raise SystemExit(f"the app did not show the gallery: {at.exception}")
    return rests, compares


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
            print(
                f"\n{kind}: load_run (once per run, cached by the app) {time.perf_counter() - t0:.2f} s, "
                f"view grid {len(ra.alphas)} alphas"
            )
            payload = live.run_payload(ra)
            report(
                "  live.run_payload (per run, set, compared α, class filter)",
                payload_ms(ra, max(10, args.repeats // 5)),
            )
            print(f"  payload: {len(json.dumps(payload)) / 1e3:.0f} kB of JSON")
            cached, grid = pickle.dumps(payload), [float(a) for a in ra.alphas]  # the slider's positions
            report(
                "  server work per slider rest (gallery tab open)",
                timed(lambda i: slider_rest(ra, cached, grid[7 * i % len(grid)]), args.repeats),
            )
            report(
                "    of which the gallery's flips and top-3",
                timed(lambda i: gallery(ra, grid[7 * i % len(grid)]), args.repeats),
            )
            if not args.no_apptest:
                rests, compares = apptest_rerun_ms(
                    Path(tmp), run, grid[::-1][::5], [float(a) for a in ra.run.alphas], 10
                )
                report("  whole rerun after a slider rest (AppTest)", rests)
                report("  whole rerun after a compared-α change (AppTest)", compares)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
