"""Time the world build's loss-plane step (core.worlds.build.world_plane -> core.lmc.plane.write_plane).

Copies world-e2e (and the weight files it and the plane point at) from DATA into a temporary folder,
runs the step there with the shipped PlaneConfig, and prints its seconds, the grid, the images used
and the loss range of each surface. DATA itself is not changed.

    python bench/loss_plane.py [--data data] [--threads 2]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core.lmc import plane  # noqa: E402
from core.worlds.build.config import WorldBuild  # noqa: E402
from core.worlds.build.recipes import world_plane  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=REPO / "data")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "data"
        shutil.copytree(args.data / "runs" / "world-e2e", out / "runs" / "world-e2e")
        shutil.copytree(args.data / "world", out / "world", ignore=shutil.ignore_patterns("model"))
        (out / "runs" / "world-e2e" / "plane.safetensors").unlink(missing_ok=True)  # world_plane recomputes it
        b = WorldBuild(out=out)
        t0 = time.perf_counter()
        world_plane(b, b.runs / "world-e2e", out / "world" / "weights" / "finetune-seed1.safetensors")
        seconds = time.perf_counter() - t0
        stored = plane.read_plane(b.runs / "world-e2e")
    sizes = {g: sum(s["n"] for s in sets) for g, sets in stored.meta["sets"].items()}
    print(
        f"world_plane: {seconds:.1f} s with {args.threads} threads; grid {len(stored.xs)} x {len(stored.ys)} "
        f"= {len(stored.xs) * len(stored.ys)} models; images {sizes}; theta_c at "
        f"({stored.meta['c'][0]:.3f}, {stored.meta['c'][1]:.3f})"
    )
    for group, s in stored.surfaces.items():
        loss = s["loss"]
        print(
            f"  {group}: loss {np.nanmin(loss):.4f}-{np.nanmax(loss):.4f} nats, accuracy "
            f"{100 * np.nanmin(s['accuracy']):.1f}-{100 * np.nanmax(s['accuracy']):.1f}%, "
            f"undefined at {int(np.isnan(loss).sum())} of {loss.size} points"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
