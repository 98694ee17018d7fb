"""Run folders: the one format that compute writes and the explorer and notebooks read.

A run folder is self-describing (see docs/run-format.md):

    RUN/manifest.json                  schema version, model, classes, templates, configs, versions
    RUN/model/                         custom model config (+ vocabulary) when not a named open_clip model
    RUN/weights/zeroshot.safetensors   theta_0: the zero-shot ImageClassifier
    RUN/weights/finetuned.safetensors  theta_1: the fine-tuned ImageClassifier
    RUN/checkpoints/step_*.safetensors fine-tuning train states (resume, trajectory)
    RUN/sweep/<dataset>.safetensors    logits and labels of one eval set (float16 / int64)
    RUN/sweep/<dataset>.ids.json       per-example ids (image path for folder datasets)
    RUN/metrics.csv                    one row per (dataset, alpha): accuracy, loss, n
    RUN/baselines.csv                  optional: standard models' accuracies (model, dataset, accuracy)

Every file is written to a temporary name in the same folder and renamed into place, so a reader
never loads a half-written file. Nothing is pickled.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import tempfile
from functools import cached_property
from pathlib import Path
from typing import Any, Callable

import numpy as np
from safetensors.numpy import load_file as load_numpy, save as save_numpy

from . import metrics

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
METRICS_FIELDS = ("dataset", "role", "alpha", "accuracy", "loss", "n")


class RunFormatError(ValueError):
    """A run folder is missing, incomplete, or of a schema this version cannot read."""


# ----------------------------------------------------------------------------- atomic writing


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` via a temp file in the same folder, fsync, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def atomic_save_arrays(path: Path, arrays: dict[str, np.ndarray], meta: dict | None = None) -> None:
    """Save numpy arrays as safetensors, atomically; `meta` values are stored as JSON strings."""
    metadata = {k: json.dumps(v) for k, v in (meta or {}).items()}
    arrays = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    atomic_write_bytes(path, save_numpy(arrays, metadata=metadata))


def read_arrays_meta(path: Path) -> dict[str, Any]:
    """The JSON metadata stored with atomic_save_arrays."""
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as f:
        return {k: json.loads(v) for k, v in (f.metadata() or {}).items()}


def write_metrics_csv(path: Path, rows: list[dict]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=METRICS_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row[k] for k in METRICS_FIELDS})
    atomic_write_bytes(path, buf.getvalue().encode())


# ----------------------------------------------------------------------------- provenance


def git_commit() -> str | None:
    """The commit of the code that produced a run (None outside a git checkout)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent,
            capture_output=True, text=True, timeout=5,
        )
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("torch", "torchvision", "open_clip_torch", "numpy", "safetensors"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found


# ----------------------------------------------------------------------------- manifest


def update_manifest(run_dir: Path, update: Callable[[dict], None] | dict) -> dict:
    """Read-modify-write the manifest atomically; creates it (with provenance) when absent."""
    path = Path(run_dir) / MANIFEST
    if path.exists():
        manifest = json.loads(path.read_text())
    else:
        manifest = {"schema_version": SCHEMA_VERSION}
    if callable(update):
        update(manifest)
    else:
        manifest.update(update)
    manifest["versions"] = package_versions()
    manifest["git_commit"] = git_commit()
    atomic_write_json(path, manifest)
    return manifest


def read_manifest(run_dir: Path) -> dict:
    run_dir = Path(run_dir)
    path = run_dir / MANIFEST
    if not run_dir.is_dir():
        raise RunFormatError(f"run folder {run_dir} does not exist")
    if not path.exists():
        raise RunFormatError(
            f"{run_dir} is not a run folder: no {MANIFEST}. Create one with "
            "`python -m core zeroshot --out RUN ...` or pick a folder listed by `python -m core info`."
        )
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise RunFormatError(f"{path} is not valid JSON ({err}); the run folder is damaged") from err
    version = manifest.get("schema_version")
    if version != SCHEMA_VERSION:
        raise RunFormatError(
            f"{run_dir} uses run schema version {version!r}; this version of WiSE-FT Explorer reads "
            f"version {SCHEMA_VERSION}. Re-run its sweep with this version (`python -m core sweep --run "
            f"{run_dir} ...`) or install the version that wrote it."
        )
    return manifest


def weights_file(run_dir: Path, which: str, manifest: dict | None = None) -> Path:
    """Where a run keeps theta_0 ('zeroshot') or theta_1 ('finetuned'): weights/<which>.safetensors,
    or the run-relative path its manifest names under "weights" (runs that share weight files)."""
    run_dir = Path(run_dir)
    manifest = manifest if manifest is not None else read_manifest(run_dir)
    return run_dir / manifest.get("weights", {}).get(which, f"weights/{which}.safetensors")


# ----------------------------------------------------------------------------- reader


class Run:
    """Read-only view of a run folder; arrays are loaded lazily and cached.

    Example:
        run = Run(path)
        acc = metrics.accuracy(run.logits("id_test", alpha=0.5), run.labels("id_test"))
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.manifest = read_manifest(self.path)
        self._arrays: dict[str, dict[str, np.ndarray]] = {}

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    @property
    def name(self) -> str:
        return self.manifest.get("name") or self.path.name

    @property
    def endpoints(self) -> tuple[str, str]:
        """Labels of theta_0 and theta_1: zero-shot and fine-tuned unless the run says otherwise."""
        ends = self.manifest.get("endpoints", {})
        return ends.get("theta_0", "zero-shot"), ends.get("theta_1", "fine-tuned")

    @property
    def classnames(self) -> list[str]:
        return list(self.manifest["classnames"])

    @property
    def sweep_info(self) -> dict:
        sweep = self.manifest.get("sweep")
        if not sweep:
            raise RunFormatError(f"{self.path} has no sweep yet: run `python -m core sweep --run {self.path}`")
        return sweep

    @property
    def has_sweep(self) -> bool:
        return bool(self.manifest.get("sweep"))

    @cached_property
    def alphas(self) -> np.ndarray:
        return np.asarray(self.sweep_info["alphas"], dtype=np.float64)

    @property
    def linear_in_alpha(self) -> bool:
        """True when logits are exactly linear in alpha (head-only fine-tunes): any alpha is exact."""
        return bool(self.sweep_info.get("logits_linear_in_alpha", False))

    @property
    def datasets(self) -> list[dict]:
        return list(self.sweep_info["datasets"])

    @property
    def dataset_names(self) -> list[str]:
        return [d["name"] for d in self.datasets]

    @property
    def id_dataset(self) -> str:
        ids = [d["name"] for d in self.datasets if d["role"] == "id"]
        if not ids:
            raise RunFormatError(f"{self.path} has no ID evaluation set")
        return ids[0]

    @property
    def ood_datasets(self) -> list[str]:
        return [d["name"] for d in self.datasets if d["role"] == "ood"]

    def dataset_info(self, name: str) -> dict:
        for d in self.datasets:
            if d["name"] == name:
                return d
        raise KeyError(f"{self.path} has no eval set {name!r}; it has {self.dataset_names}")

    def _load(self, name: str) -> dict[str, np.ndarray]:
        if name not in self._arrays:
            self.dataset_info(name)
            path = self.path / "sweep" / f"{name}.safetensors"
            if not path.exists():
                raise RunFormatError(f"{path} is missing: the sweep of {name!r} did not finish")
            self._arrays[name] = load_numpy(str(path))
        return self._arrays[name]

    def labels(self, name: str) -> np.ndarray:
        return self._load(name)["labels"]

    def ids(self, name: str) -> list[str]:
        return json.loads((self.path / "sweep" / f"{name}.ids.json").read_text())

    def grid_logits(self, name: str) -> np.ndarray:
        """Logits at every grid alpha, (A, N, C) float32."""
        arrays = self._load(name)
        if "logits" in arrays:
            return arrays["logits"].astype(np.float32)
        return self.logits(name, self.alphas)

    def logits(self, name: str, alpha: float | np.ndarray) -> np.ndarray:
        """Logits at one alpha (N, C) or at several (A, N, C), float32.

        Exact at any alpha for runs that are linear in alpha; otherwise alpha must be a grid point.
        """
        arrays = self._load(name)
        alpha_arr = np.atleast_1d(np.asarray(alpha, dtype=np.float64))
        if "logits_0" in arrays:  # exact closed form: (1 - a) * L0 + a * L1
            l0 = arrays["logits_0"].astype(np.float32)
            l1 = arrays["logits_1"].astype(np.float32)
            a = alpha_arr.astype(np.float32)[:, None, None]
            out = (1 - a) * l0 + a * l1  # (A, N, C)
        else:
            out = arrays["logits"][self.grid_index(alpha_arr)].astype(np.float32)
        return out[0] if np.ndim(alpha) == 0 else out

    def grid_index(self, alpha: float | np.ndarray) -> np.ndarray | int:
        """Index of the grid point(s) equal to alpha (to 1e-6); a clear error off the grid."""
        alpha_arr = np.atleast_1d(np.asarray(alpha, dtype=np.float64))
        dist = np.abs(self.alphas[None, :] - alpha_arr[:, None])  # (k, A)
        idx = dist.argmin(axis=1)
        off = dist[np.arange(len(idx)), idx] > 1e-6
        if off.any():
            raise ValueError(
                f"alpha {alpha_arr[off].tolist()} is not on this run's grid {self.alphas.tolist()}; "
                "end-to-end runs store logits only at grid points (re-sweep with that alpha)"
            )
        return int(idx[0]) if np.ndim(alpha) == 0 else idx

    def metrics_rows(self) -> list[dict]:
        """The tidy table (metrics.csv) as dicts with typed values."""
        path = self.path / "metrics.csv"
        if not path.exists():
            raise RunFormatError(f"{path} is missing: the sweep did not finish")
        with path.open() as f:
            return [
                {**r, "alpha": float(r["alpha"]), "accuracy": float(r["accuracy"]),
                 "loss": float(r["loss"]), "n": int(r["n"])}
                for r in csv.DictReader(f)
            ]

    def recompute_metrics(self) -> list[dict]:
        """Recompute the metrics table from the stored logits (checks metrics.csv, feeds the app)."""
        rows = []
        for d in self.datasets:
            logits, labels = self.grid_logits(d["name"]), self.labels(d["name"])
            accs, losses = metrics.accuracy(logits, labels), metrics.cross_entropy(logits, labels)
            for a, acc, loss in zip(self.alphas, accs, losses):
                rows.append({"dataset": d["name"], "role": d["role"], "alpha": float(a),
                             "accuracy": float(acc), "loss": float(loss), "n": int(len(labels))})
        return rows

    def baselines(self) -> list[dict]:
        """Accuracies of baseline ("standard") models on this run's eval sets, for the effective-
        robustness fit: rows {model, dataset, accuracy in [0, 1]}; [] when the run ships none."""
        path = self.path / self.manifest.get("baselines", "baselines.csv")
        if not path.exists():
            return []
        with path.open() as f:
            return [{**r, "accuracy": float(r["accuracy"])} for r in csv.DictReader(f)]

    def weights_path(self, which: str) -> Path:
        """Path of 'zeroshot' (theta_0) or 'finetuned' (theta_1) weights."""
        path = weights_file(self.path, which, self.manifest)
        if not path.exists():
            raise RunFormatError(f"{path} is missing")
        return path


def find_runs(*roots: str | Path) -> list[Path]:
    """Run folders (those with a manifest) directly under, or at, each root, sorted by path."""
    found = []
    for root in map(Path, roots):
        if (root / MANIFEST).exists():
            found.append(root)
        elif root.is_dir():
            found.extend(p.parent for p in sorted(root.glob(f"*/{MANIFEST}")))
            found.extend(p.parent for p in sorted(root.glob(f"*/*/{MANIFEST}")))
    return sorted(set(found))
