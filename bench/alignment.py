"""Time the world build's alignment step (core.lab_align.write_alignment) and print its barriers.

Runs the step with the shipped AlignConfig on the shipped scratch pair (data/runs/lmc-scratch), writing
into a temporary folder (so it is computed, not skipped; DATA is not changed), and prints the step's
seconds, each method's solver and path seconds, and the loss (nats) and error (pp) barriers with the
BatchNorm statistics interpolated and recomputed, all from that one run.

    python bench/alignment.py [--data data] [--threads 1] [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core.lab_align import AlignConfig, write_alignment  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=REPO / "data")
    p.add_argument("--threads", type=int, default=AlignConfig.threads, help="the step's torch threads (AlignConfig)")
    p.add_argument("--quick", action="store_true", help="AlignConfig.quick(): seconds, not the shipped measurement")
    args = p.parse_args(argv)
    cfg = replace(AlignConfig.quick() if args.quick else AlignConfig(), threads=args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        path = write_alignment(Path(tmp), args.data / "runs" / "lmc-scratch", cfg)
        seconds = time.perf_counter() - t0
        stored = json.loads(path.read_text())
    print(f"write_alignment: {seconds:.1f} s with {args.threads} threads; {stored['sets']['eval']['n']} eval images, "
          f"{len(stored['alphas'])} alphas")
    print(f"{'method':<34}{'align s':>8}{'path s':>8}  loss barrier interp / recomp   error barrier interp / recomp"
          f"   ratio recomp")
    base = stored["methods"]["unaligned"]["barriers"]
    for method, entry in stored["methods"].items():
        b = entry["barriers"]
        ratio = b["recomputed"]["loss"] / base["recomputed"]["loss"]
        print(f"{method:<34}{entry.get('align_seconds', 0.0):>8.1f}{entry['path_seconds']:>8.1f}"
              f"  {b['interpolated']['loss']:>12.3f} / {b['recomputed']['loss']:<6.3f}"
              f"   {b['interpolated']['error']:>13.1f} / {b['recomputed']['error']:<6.1f}   {ratio:>11.0%}")
    print("best:", json.dumps(stored["best"]), "holds:", json.dumps(stored["holds"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
