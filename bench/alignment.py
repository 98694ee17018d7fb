"""Time the world build's alignment step (core.worlds.build.lab.align_step) and print its barriers.

Runs core.lmc.align.write_alignment with the shipped AlignConfig on the lab's width-24 scratch pair,
writing into a temporary folder (so it is computed, not skipped; DATA is not changed), and prints the
step's seconds, each method's solver and path seconds, and the loss (nats) and error (pp) barriers with
the BatchNorm statistics interpolated and recomputed, all from that one run. The pair is the one
`make world` left in build/world; with --train it is trained afresh in a temporary work folder first,
and that time is printed too (the whole step, as `make world` runs it). --run aligns another path run
(e.g. data/runs/lmc-scratch, the world's width-12 pair) on its own ID set.

    python bench/alignment.py [--data data] [--work build/world] [--train] [--run RUN] [--threads 1] [--quick]
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

import torch  # noqa: E402

from core.lmc.align import AlignConfig, write_alignment  # noqa: E402
from core.worlds.build.config import WorldBuild  # noqa: E402
from core.worlds.build.lab_steps import align_pair  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=REPO / "data")
    p.add_argument("--work", type=Path, default=REPO / "build" / "world", help="where `make world` left the pair")
    p.add_argument("--train", action="store_true", help="train the pair afresh in a temporary work folder (timed)")
    p.add_argument("--run", type=Path, default=None, help="align this path run instead of the lab's pair")
    p.add_argument("--threads", type=int, default=AlignConfig.threads, help="the step's torch threads (AlignConfig)")
    p.add_argument("--quick", action="store_true", help="AlignConfig.quick(): seconds, not the shipped measurement")
    args = p.parse_args(argv)
    cfg = replace(AlignConfig.quick() if args.quick else AlignConfig(), threads=args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        eval_set, pair = None, None
        if args.run is None:
            b = replace(WorldBuild(), out=args.data, work=Path(tmp) / "work" if args.train else args.work)
            if not args.train and not (b.work / f"lab-align-w{b.lab.align_width}-path").is_dir():
                raise SystemExit(f"no lab pair in {b.work}: run `make world` first, or pass --train")
            t0 = time.perf_counter()
            torch.set_num_threads(b.lab.threads)
            args.run, pair = align_pair(b)
            print(
                f"the width-{b.lab.align_width} pair: {time.perf_counter() - t0:.1f} s "
                f"({'trained' if args.train else 'found in ' + str(b.work)})"
            )
            eval_set = f"world:id_test:{b.n_test}"
        t0 = time.perf_counter()
        path = write_alignment(Path(tmp), args.run, cfg, eval_set=eval_set, pair=pair)
        seconds = time.perf_counter() - t0
        stored = json.loads(path.read_text())
    print(
        f"write_alignment: {seconds:.1f} s with {args.threads} threads; {stored['sets']['eval']['n']} eval images, "
        f"{len(stored['alphas'])} alphas"
    )
    print(
        f"{'method':<34}{'align s':>8}{'path s':>8}  loss barrier interp / recomp   error barrier interp / recomp"
        f"   ratio recomp"
    )
    base = stored["methods"]["unaligned"]["barriers"]
    for method, entry in stored["methods"].items():
        b = entry["barriers"]
        ratio = b["recomputed"]["loss"] / base["recomputed"]["loss"]
        print(
            f"{method:<34}{entry.get('align_seconds', 0.0):>8.1f}{entry['path_seconds']:>8.1f}"
            f"  {b['interpolated']['loss']:>12.3f} / {b['recomputed']['loss']:<6.3f}"
            f"   {b['interpolated']['error']:>13.1f} / {b['recomputed']['error']:<6.1f}   {ratio:>11.0%}"
        )
    print("best:", json.dumps(stored["best"]), "holds:", json.dumps(stored["holds"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
