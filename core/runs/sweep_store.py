"""Where a sweep's results go, and how a run stays whole while they are written.

A sweep writes a new generation folder `sweep/gen-NNNN/` (one file per eval set with labels,
reductions and logits; the ids; metrics.csv), then switches the run to it with one atomic rewrite
of the manifest. Until that rewrite, readers see the previous generation, which is never touched;
a kill at any point leaves the old run whole, and rerunning the sweep finishes the new one. After
the switch, the previous generation is kept (a reader that read the old manifest can still finish)
and older ones are deleted. A schema-1 layout (sweep/<set>.* and RUN/metrics.csv) counts as a
generation too.

Reuse is by identity only: each partial chunk and each final file stores the sha256 of everything
it was computed from (see `sweep.identity`); a chunk or file is reused only when that identity is
equal and the file is readable to its end, else it is recomputed.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np

from core.runs import artifacts
from core.runs.files import DTYPES, TensorFileError, open_arrays, read_header, read_slab, write_arrays

PER_ALPHA = ("logits", "pred", "loss", "topk", "topk_prob")  # (A, n, ...): concatenated along examples


def generation_number(manifest: dict) -> int:
    gen = (manifest.get("sweep") or {}).get("generation")
    return int(gen.split("-")[1]) if gen else 0


def new_generation(run: artifacts.Run, is_main: bool) -> Path:
    """The folder of the next generation, cleared of what a killed sweep left on the main rank. It is
    created by its first file, so a sweep that fails before any result leaves the run as it was."""
    sweep = run.path / "sweep"
    current = generation_number(run.manifest)
    folder = sweep / f"gen-{current + 1:04d}"
    if is_main:
        for old in sweep.glob("gen-*"):
            if _number(old) > current:  # orphans of killed sweeps: never named by a manifest
                shutil.rmtree(old)
    return folder


def discard_generation(run: artifacts.Run, folder: Path) -> None:
    """Remove an unfinished generation (never the one the manifest names); its finished chunks stay
    in sweep/.partial/ for a resume."""
    if _number(folder) > generation_number(run.manifest):
        shutil.rmtree(folder, ignore_errors=True)


def _number(folder: Path) -> int:
    m = re.fullmatch(r"gen-(\d+)", folder.name)
    return int(m.group(1)) if m else -1


# ----------------------------------------------------------------------------- chunks


def chunk_path(run: artifacts.Run, name: str, i: int) -> Path:
    return run.path / "sweep" / ".partial" / name / f"chunk_{i:05d}.safetensors"


def chunk_done(path: Path, meta: dict) -> bool:
    """A partial chunk is reused only when its stored identity and position equal `meta` and the
    file is whole; junk, truncated or foreign chunks count as not done (and are overwritten)."""
    try:
        return path.exists() and read_header(path)[2] == meta
    except (TensorFileError, OSError):
        return False


def reuse(run: artifacts.Run, folder: Path, entry: dict, is_main: bool = True) -> bool:
    """Link the current generation's file of this set into `folder` when its identity is the same
    (every rank decides alike; only the main rank links)."""
    try:
        old = run.dataset_info(entry["name"]) if run.has_sweep else {}
    except KeyError:
        return False
    src = run.folder / f"{entry['name']}.safetensors"
    if old.get("identity") != entry["identity"]:
        return False
    try:
        if read_header(src)[2].get("identity") != entry["identity"]:
            return False
    except (TensorFileError, OSError):
        return False  # a damaged final file is recomputed, not reused
    for suffix in (".safetensors", ".ids.json") if is_main else ():
        _link(run.folder / f"{entry['name']}{suffix}", folder / f"{entry['name']}{suffix}")
    return True


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


# ----------------------------------------------------------------------------- final files


def consolidate(
    folder: Path, name: str, n_chunks: int, run: artifacts.Run, labels: np.ndarray, ids: list[str], meta: dict
) -> None:
    """Stream the chunks of a set into folder/<name>.safetensors: one chunk's slab of one alpha in
    memory at a time (pread, not memmaps, so the resident set stays flat over gigabytes)."""
    paths = [chunk_path(run, name, i) for i in range(n_chunks)]
    heads = [read_header(p) for p in paths]
    n = len(labels)
    specs: dict[str, tuple] = {"labels": (np.int64, (n,), [np.asarray(labels, np.int64)])}
    for key, e in heads[0][0].items():
        dtype, shape = DTYPES[e["dtype"]], tuple(e["shape"])
        if key in PER_ALPHA:  # (A, n_chunk, ...) -> (A, N, ...)
            specs[key] = (dtype, (shape[0], n, *shape[2:]), _per_alpha_blocks(paths, heads, key, shape[0]))
        elif key == "class_hits":  # (A, C): summed over chunks
            specs[key] = (dtype, shape, [sum(read_slab(p, h, key) for p, h in zip(paths, heads))])
        else:  # logits_0, logits_1: (n_chunk, C) -> (N, C)
            specs[key] = (dtype, (n, *shape[1:]), _chunk_blocks(paths, heads, key))
    write_arrays(folder / f"{name}.safetensors", specs, meta)
    artifacts.atomic_write_json(folder / f"{name}.ids.json", list(ids))


def _chunk_blocks(paths: list[Path], heads: list, key: str):
    for p, h in zip(paths, heads):
        yield read_slab(p, h, key)


def _per_alpha_blocks(paths: list[Path], heads: list, key: str, n_alphas: int):
    """(A, N, ...) in C order: for each alpha, every chunk's rows."""
    for a in range(n_alphas):
        for p, h in zip(paths, heads):
            yield read_slab(p, h, key, a)


def switch(run: artifacts.Run, folder: Path, sweep_info: dict) -> None:
    """Write the generation's metrics.csv, switch the manifest to it, then delete what no reader
    can still need: generations before the previous one, and the .partial chunks."""
    rows = []
    for d in sweep_info["datasets"]:
        arrays = open_arrays(folder / f"{d['name']}.safetensors")
        rows += artifacts.rows_from_reductions(
            d["name"], d["role"], np.asarray(sweep_info["alphas"]), arrays, np.asarray(arrays["labels"])
        )
    artifacts.write_metrics_csv(folder / artifacts.METRICS_CSV, rows)
    previous = generation_number(run.manifest)
    legacy = run.has_sweep and previous == 0
    artifacts.update_manifest(run.path, {"sweep": {**sweep_info, "generation": folder.name}})
    for old in (run.path / "sweep").glob("gen-*"):
        if _number(old) < previous:
            shutil.rmtree(old)
    if not legacy:  # schema-1 files were the previous generation until now
        for old in [
            *(run.path / "sweep").glob("*.safetensors"),
            *(run.path / "sweep").glob("*.ids.json"),
            run.path / artifacts.METRICS_CSV,
        ]:
            old.unlink(missing_ok=True)
    shutil.rmtree(run.path / "sweep" / ".partial", ignore_errors=True)
