"""One-time upgrade of a run swept before run format 2: `python -m core upgrade --run RUN`.

Such a run (schema 1, docs/run-format.md) stores logits but no reductions, so every reader
recomputes predictions and losses from all its logits on every open: at ImageNet size (6 sets,
166,963 examples, 21 alphas) the explorer took 82 s and 6.4 GB, `info` 2.1 GB. The upgrade computes
the reductions once, with the sweep's own reducer (`metrics.reduce_logits`), and writes the run's
first generation (`sweep/gen-0001/`: labels, the same logits, the reductions, metrics.csv); the
manifest switches to it in one atomic rewrite, then the schema-1 files are removed. It streams: the
logits are read with pread one block of rows of one alpha at a time and written block by block, so
memory stays about one sweep chunk plus one set's reductions (a few tens of MB) whatever the run's
size. The logits are copied bit for bit; the new reductions equal what a reader computed before.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.results import metrics
from core.runs import artifacts, sweep_store
from core.runs.files import DTYPES, read_header, read_slab, write_arrays

ROWS = 4096  # examples per block: the sweep's default chunk_size


def needs_upgrade(run: artifacts.Run) -> bool:
    """True for a swept run whose sets store no reductions (swept before run format 2)."""
    if not run.has_sweep:
        return False
    return any(
        not set(artifacts.CORE_REDUCTIONS) <= set(read_header(run.folder / f"{n}.safetensors")[0])
        for n in run.dataset_names
    )


def upgrade_note(run: artifacts.Run) -> str | None:
    """The one line readers show when they meet a run that needs the upgrade, else None."""
    if not needs_upgrade(run):
        return None
    return (
        f"{run.path} was swept before run format 2: its reductions are recomputed from every logit on each "
        f"open (minutes and gigabytes at ImageNet size); upgrade it once: python -m core upgrade --run {run.path}"
    )


def upgrade(run_dir: Path) -> Path | None:
    """Write the reductions of a schema-1 run into its first sweep generation and switch to it.

    Returns the new generation folder, or None when the run needs no upgrade. Raises RunFormatError
    when the run has no sweep or a damaged file (nothing is changed then).
    """
    run = artifacts.Run(run_dir)
    run.sweep_info  # noqa: B018  (raises with the fix when there is no sweep)
    run.check()  # every file whole before anything is written
    if not needs_upgrade(run):
        return None
    folder = sweep_store.new_generation(run, True)
    try:
        entries = [_upgrade_set(run, folder, d) for d in run.datasets]
    except BaseException:
        sweep_store.discard_generation(run, folder)
        raise
    kept = {k: v for k, v in run.sweep_info.items() if k != "logits_linear_in_alpha"}  # schema 1's run-level flag
    sweep_info = {**kept, "keep_logits": True, "topk": metrics.TOPK, "datasets": entries}
    sweep_store.switch(run, folder, sweep_info)
    for old in [
        *(run.path / "sweep").glob("*.safetensors"),
        *(run.path / "sweep").glob("*.ids.json"),
        run.path / artifacts.METRICS_CSV,
    ]:
        old.unlink(missing_ok=True)  # the schema-1 files: a reader that opens the manifest now reads gen-0001
    return folder


def _upgrade_set(run: artifacts.Run, folder: Path, info: dict) -> dict:
    """Write folder/<set>.safetensors (labels, logits as stored, reductions) and its ids; the entry."""
    name = info["name"]
    src = run.folder / f"{name}.safetensors"
    header = read_header(src)
    labels = np.asarray(read_slab(src, header, "labels"), np.int64)  # (N,)
    closed = "logits_0" in header[0]
    keys = ("logits_0", "logits_1") if closed else ("logits",)
    first = header[0][keys[0]]
    dtype = np.dtype(DTYPES[first["dtype"]])
    reductions = _reductions(src, header, labels, run.alphas, closed)
    if not metrics.topk_worth_storing(first["shape"][-1], dtype.itemsize):
        reductions = {k: v for k, v in reductions.items() if not k.startswith("topk")}
    specs = {"labels": (np.int64, labels.shape, [labels])}
    for key in keys:
        shape = tuple(header[0][key]["shape"])  # (A, N, C) or (N, C)
        specs[key] = (dtype, shape, _blocks(src, header, key, shape[0] if key == "logits" else None, len(labels)))
    specs.update({k: (v.dtype, v.shape, [v]) for k, v in reductions.items()})
    write_arrays(
        folder / f"{name}.safetensors",
        specs,
        {"identity": f"upgraded from schema 1: {name}", "alphas": run.alphas.tolist()},
    )
    artifacts.atomic_write_json(folder / f"{name}.ids.json", run.ids(name))
    return {**info, "storage": "closed_form" if closed else "grid"}


def _blocks(src: Path, header: tuple, key: str, n_alphas: int | None, n: int):
    """A logit tensor in C order, ROWS examples of one alpha at a time (pread: no pages stay mapped)."""
    for a in range(n_alphas) if n_alphas is not None else [None]:
        for start in range(0, n, ROWS):
            yield read_slab(src, header, key, a, rows=(start, min(start + ROWS, n)))


def _reductions(src: Path, header: tuple, labels: np.ndarray, alphas: np.ndarray, closed: bool) -> dict:
    """`metrics.reduce_logits` of every grid alpha, block by block: pred, loss, topk, topk_prob (A, N, ...),
    class_hits (A, C)."""
    n = len(labels)
    out: dict[str, np.ndarray] = {}
    for a, alpha in enumerate(alphas):
        for start in range(0, n, ROWS):
            rows = (start, min(start + ROWS, n))
            if closed:
                ends = [read_slab(src, header, k, rows=rows) for k in ("logits_0", "logits_1")]  # (n, C) each
                logits = metrics.closed_form(*ends, [alpha])  # (1, n, C)
            else:
                logits = read_slab(src, header, "logits", a, rows=rows)[None]  # (1, n, C)
            part = metrics.reduce_logits(logits, labels[rows[0] : rows[1]])
            for key, value in part.items():
                if key not in out:
                    shape = (
                        (len(alphas), *value.shape[1:]) if key == "class_hits" else (len(alphas), n, *value.shape[2:])
                    )
                    out[key] = np.zeros(shape, value.dtype)
                if key == "class_hits":
                    out[key][a] += value[0]
                else:
                    out[key][a, rows[0] : rows[1]] = value[0]
    return out
