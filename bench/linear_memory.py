"""Peak memory of linear-classifier fine-tuning against the number of training images (issue 11.5).

    python bench/linear_memory.py [--sizes 5000,20000] [--repo PATH]

Generates class folders of small PNGs (3 classes, 64x64, so decoding is real work), makes a tiny
random-init CLIP run (32 px input, the tests' model), then runs `python -m core finetune --mode
linear-classifier --epochs 1` once per size, each in a fresh process, and prints the process's
peak RSS (ru_maxrss). With streamed features the peak should not grow with the number of images;
the old in-memory path held every decoded image as float32 (N x 3 x 32 x 32 x 4 bytes) plus its
features. `--repo` runs another checkout's code (e.g. an export of the pre-streaming commit) with the
same data, for a before/after figure.

Measured once (2026-11-30, the project's 2-core CPU machine): streamed, 1,101 MB at 5,000 images and
1,126 MB at 20,000; the pre-streaming commit 723ccbc (exported with git archive, --repo), 1,124 MB
and 1,467 MB. The ~1.1 GB floor is the process (torch, open_clip, one 2,048-image chunk).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
TINY = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8, "head_width": 32},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}
CHILD = """
import resource, sys, time
from core.cli import main
t0 = time.perf_counter()
code = main(sys.argv[1:])
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"PEAK_RSS_MB {peak:.0f} SECONDS {time.perf_counter() - t0:.1f} EXIT {code}")
"""


def make_folder(root: Path, n: int) -> Path:
    from PIL import Image

    rng = np.random.default_rng(n)
    for i in range(n):
        c = i % 3
        folder = root / f"class{c}"
        folder.mkdir(parents=True, exist_ok=True)
        arr = rng.integers(0, 120, (64, 64, 3), dtype=np.uint8)
        arr[..., c] += 100
        Image.fromarray(arr).save(folder / f"{i:06d}.png")
    return root


def cli(repo: Path, *args: str, measure: bool = False) -> str:
    env = {**os.environ, "PYTHONPATH": str(repo), "HF_HUB_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": ""}
    cmd = [sys.executable, "-c", CHILD, *args] if measure else [sys.executable, "-m", "core", *args]
    done = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-2000:])
    return done.stdout


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="5000,20000")
    p.add_argument("--repo", type=Path, default=REPO)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "tiny.json").write_text(json.dumps(TINY))
        print(f"code: {args.repo}")
        for n in map(int, args.sizes.split(",")):
            t0 = time.perf_counter()
            folder = make_folder(tmp / f"images{n}", n)
            run = tmp / f"run{n}"
            cli(
                args.repo,
                "zeroshot",
                "--model",
                str(tmp / "tiny.json"),
                "--classes-from",
                f"folder:{folder}",
                "--templates",
                "simple",
                "--out",
                str(run),
            )
            made = time.perf_counter() - t0
            out = cli(
                args.repo,
                "finetune",
                "--run",
                str(run),
                "--train",
                f"folder:{folder}",
                "--mode",
                "linear-classifier",
                "--epochs",
                "1",
                "--batch-size",
                "256",
                "--warmup-steps",
                "1",
                "--device",
                "cpu",
                measure=True,
            )
            line = next(ln for ln in out.splitlines() if ln.startswith("PEAK_RSS_MB"))
            decoded = n * 3 * 32 * 32 * 4 / 2**20
            print(
                f"{n:>6} images: {line.split()[1]} MB peak RSS, fine-tune {line.split()[3]} s "
                f"(data made in {made:.0f} s; a float32 tensor of all decoded images would be {decoded:.0f} MB)"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
