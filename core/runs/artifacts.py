"""Run folders: the one format that compute writes and the explorer and notebooks read.

A run folder is self-describing (see docs/run-format.md):

    RUN/manifest.json                  schema version, model, classes, templates, configs, versions
    RUN/model/                         custom model config (+ vocabulary) when not a named open_clip model
    RUN/weights/zeroshot.safetensors   theta_0: the zero-shot ImageClassifier
    RUN/weights/finetuned.safetensors  theta_1: the fine-tuned ImageClassifier
    RUN/checkpoints/step_*.safetensors fine-tuning train states (resume, trajectory)
    RUN/sweep/gen-NNNN/                one sweep generation: the one the manifest names is the run's
        <dataset>.safetensors          labels, reductions (pred, loss, top-k, per-class hits) and logits
        <dataset>.ids.json             per-example ids (image path for folder datasets)
        metrics.csv                    one row per (dataset, alpha): accuracy, loss, n
    RUN/baselines.csv                  optional: standard models' accuracies (model, dataset, accuracy)
    RUN/finetunes.{json,safetensors}   optional: other fine-tunes of theta_0 and their predictions
                                       (core.results.robustness)

Every file is written atomically (core.runs.files); a sweep writes a whole new generation and switches
to it by the manifest's atomic rewrite, so a reader sees the old run or the new one, never a mix.
Runs of schema 1 (sweep/<dataset>.* and RUN/metrics.csv, no reductions) are read as they are:
their reductions are computed on read, nothing is written. Nothing is pickled.
"""

from __future__ import annotations

import csv
import io
import json
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from core.results import metrics
from core.runs.files import TensorFileError, atomic_write_bytes, open_arrays, read_header, save_arrays
from core.runs.manifest import (  # noqa: F401  (re-exported: callers use artifacts.read_manifest etc.)
    MANIFEST,
    METRICS_CSV,
    READABLE_SCHEMAS,
    SCHEMA_VERSION,
    RunFormatError,
    check_set_name,
    git_commit,
    load_json,
    metrics_file,
    package_versions,
    read_manifest,
    sweep_dir,
    update_manifest,
    weights_file,
)

METRICS_FIELDS = ("dataset", "role", "alpha", "accuracy", "loss", "n")
REDUCTIONS = ("pred", "loss", "topk", "topk_prob", "class_hits")
CORE_REDUCTIONS = ("pred", "loss", "class_hits")  # always stored; top-k only where smaller than the logits


# ----------------------------------------------------------------------------- writing helpers


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def atomic_save_arrays(path: Path, arrays: dict[str, np.ndarray], meta: dict | None = None) -> None:
    """Save numpy arrays as safetensors, atomically; `meta` values are stored as JSON strings."""
    save_arrays(path, arrays, meta)


def read_arrays_meta(path: Path) -> dict[str, Any]:
    """The JSON metadata stored with atomic_save_arrays (TensorFileError when the file is damaged)."""
    return read_header(path)[2]


def write_metrics_csv(path: Path, rows: list[dict]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=METRICS_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row[k] for k in METRICS_FIELDS})
    atomic_write_bytes(path, buf.getvalue().encode())


def rows_from_reductions(name: str, role: str, alphas: np.ndarray, reductions: dict, labels: np.ndarray) -> list[dict]:
    """metrics.csv rows of one eval set, through the one reducer (`metrics.summarize`)."""
    acc, loss = metrics.summarize(reductions, labels)
    return [
        {
            "dataset": name,
            "role": role,
            "alpha": float(a),
            "accuracy": float(c),
            "loss": float(l_),
            "n": int(len(labels)),
        }
        for a, c, l_ in zip(alphas, acc, loss)
    ]


# ----------------------------------------------------------------------------- reader


class Run:
    """Read-only view of a run folder, opened once: the manifest is read here and every array
    is memory-mapped from the sweep generation that manifest names (so one Run object stays
    consistent while a new sweep is written beside it).

    Example:
        run = Run(path)
        acc = metrics.accuracy(run.logits("id_test", alpha=0.5), run.labels("id_test"))
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.manifest = read_manifest(self.path)
        self._arrays: dict[str, dict[str, np.ndarray]] = {}
        self._reductions: dict[str, dict[str, np.ndarray]] = {}

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

    @property
    def folder(self) -> Path:
        """Where this run's sweep files are (the generation its manifest names)."""
        return sweep_dir(self.path, self.manifest)

    @cached_property
    def alphas(self) -> np.ndarray:
        return np.asarray(self.sweep_info["alphas"], dtype=np.float64)

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
        """The set's arrays, memory-mapped and checked against the manifest (RunFormatError)."""
        if name not in self._arrays:
            info = self.dataset_info(name)
            path = self.folder / f"{name}.safetensors"
            if not path.exists():
                raise RunFormatError(f"{path} is missing: the sweep of {name!r} did not finish; re-run the sweep")
            try:
                arrays = open_arrays(path)
            except (TensorFileError, OSError) as err:
                raise RunFormatError(f"{err}; re-run the sweep to rewrite it") from err
            self._check_shapes(path, arrays, int(info["n"]))
            self._arrays[name] = arrays
        return self._arrays[name]

    def _check_shapes(self, path: Path, arrays: dict, n: int) -> None:
        a = len(self.alphas)
        want = {
            "labels": (n,),
            "logits": (a, n),
            "logits_0": (n,),
            "logits_1": (n,),
            "pred": (a, n),
            "loss": (a, n),
            "topk": (a, n),
            "topk_prob": (a, n),
            "class_hits": (a,),
        }
        for key, shape in want.items():
            if key in arrays and arrays[key].shape[: len(shape)] != shape:
                raise RunFormatError(
                    f"{path}: {key} has shape {arrays[key].shape}, but the manifest says "
                    f"{a} alphas and {n} examples; the run is damaged: re-run the sweep"
                )
        if "labels" not in arrays or not ({"logits", "logits_0"} & set(arrays) or set(REDUCTIONS) <= set(arrays)):
            raise RunFormatError(f"{path} lacks labels, logits or reductions; re-run the sweep")

    def storage(self, name: str) -> str:
        """How a set's logits are kept: 'closed_form' (logits_0, logits_1: exact at any alpha),
        'grid' (logits at each grid alpha) or 'reductions' (no logits, only their reductions)."""
        stored = self.dataset_info(name).get("storage")
        if stored:
            return stored
        arrays = self._load(name)
        return "closed_form" if "logits_0" in arrays else "grid" if "logits" in arrays else "reductions"

    def exact_any_alpha(self, name: str) -> bool:
        """True when the set's logits are exactly linear in alpha (closed form): any alpha is exact."""
        return self.storage(name) == "closed_form"

    @property
    def linear_in_alpha(self) -> bool:
        """True when every set is stored in closed form (head-only fine-tunes without max-projections)."""
        return all(self.exact_any_alpha(n) for n in self.dataset_names)

    def labels(self, name: str) -> np.ndarray:
        return np.asarray(self._load(name)["labels"])

    def ids(self, name: str) -> list[str]:
        path = self.folder / f"{name}.ids.json"
        if not path.exists():
            raise RunFormatError(f"{path} is missing; re-run the sweep")
        ids = load_json(path)
        if not isinstance(ids, list) or len(ids) != int(self.dataset_info(name)["n"]):
            raise RunFormatError(f"{path} does not list one id per example; re-run the sweep")
        return ids

    def reductions(self, name: str) -> dict[str, np.ndarray]:
        """pred, loss, topk, topk_prob (A, N, ...) and class_hits (A, C) at each grid alpha: stored by
        the sweep, or (schema-1 runs) computed here from the logits by `metrics.reduce_logits`.
        The sweep leaves top-k out where it is larger than the logits (heads of <= 3k classes)."""
        if name not in self._reductions:
            arrays = self._load(name)
            if set(CORE_REDUCTIONS) <= set(arrays):  # top-k may be absent (small heads): see top_k()
                self._reductions[name] = {k: arrays[k] for k in REDUCTIONS if k in arrays}
            else:
                labels = self.labels(name)
                parts = [metrics.reduce_logits(self.logits(name, np.array([a])), labels) for a in self.alphas]
                self._reductions[name] = {k: np.concatenate([p[k] for p in parts]) for k in REDUCTIONS}
        return self._reductions[name]

    def has_logits(self, name: str) -> bool:
        return self.storage(name) != "reductions"

    def _logit_arrays(self, name: str) -> dict[str, np.ndarray]:
        arrays = self._load(name)
        if not ({"logits", "logits_0"} & set(arrays)):
            raise RunFormatError(
                f"{self.path} keeps only reductions for {name!r} (swept with keep_logits=False): "
                "its logits are not stored; re-sweep without that option to get them"
            )
        return arrays

    def grid_logits(self, name: str) -> np.ndarray:
        """Logits at every grid alpha, (A, N, C) float32 (small runs: this loads them all)."""
        return self.logits(name, self.alphas)

    def logits(self, name: str, alpha: float | np.ndarray) -> np.ndarray:
        """Logits at one alpha (N, C) or at several (A, N, C), float32.

        Exact at any alpha for closed-form sets; otherwise alpha must be a grid point.
        """
        return self.logits_rows(name, slice(None), alpha)

    def logits_rows(self, name: str, idx: np.ndarray | slice, alpha: float | np.ndarray) -> np.ndarray:
        """Logits of some examples only, (n, C) or (A, n, C) float32: reads just those rows."""
        arrays = self._logit_arrays(name)
        alpha_arr = np.atleast_1d(np.asarray(alpha, dtype=np.float64))
        if "logits_0" in arrays:  # exact closed form: (1 - a) * L0 + a * L1
            out = metrics.closed_form(arrays["logits_0"][idx], arrays["logits_1"][idx], alpha_arr)  # (A, n, C)
        else:
            grid = np.atleast_1d(self.grid_index(alpha_arr))
            out = np.stack([np.asarray(arrays["logits"][g][idx], dtype=np.float32) for g in grid])  # (A, n, C)
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
                "runs stored per alpha have logits only at grid points (re-sweep with that alpha)"
            )
        return int(idx[0]) if np.ndim(alpha) == 0 else idx

    def metrics_rows(self) -> list[dict]:
        """The tidy table (metrics.csv) as dicts with typed values, checked against the manifest."""
        path = metrics_file(self.path, self.manifest)
        if not path.exists():
            raise RunFormatError(f"{path} is missing: the sweep did not finish; re-run it")
        try:
            with path.open() as f:
                rows = [
                    {
                        **r,
                        "alpha": float(r["alpha"]),
                        "accuracy": float(r["accuracy"]),
                        "loss": float(r["loss"]),
                        "n": int(r["n"]),
                    }
                    for r in csv.DictReader(f)
                ]
        except (KeyError, TypeError, ValueError, UnicodeDecodeError) as err:
            raise RunFormatError(f"{path} is damaged ({type(err).__name__}: {err}); re-run the sweep") from err
        for name in self.dataset_names:
            alphas = [r["alpha"] for r in rows if r["dataset"] == name]
            if len(alphas) != len(self.alphas) or not np.allclose(alphas, self.alphas, atol=1e-6):
                raise RunFormatError(
                    f"{path} does not match the manifest's alpha grid for {name!r}; "
                    "the run is damaged: re-run the sweep"
                )
        return rows

    def metric_grid(self, metric: str = "accuracy") -> dict[str, np.ndarray]:
        """{set: (A,)} of 'accuracy' or 'loss' over the grid, from metrics.csv (no arrays read)."""
        rows = self.metrics_rows()
        return {n: np.array([r[metric] for r in rows if r["dataset"] == n]) for n in self.dataset_names}

    def recompute_metrics(self) -> list[dict]:
        """The metrics table recomputed from the stored logits (or, without logits, the stored
        reductions) through `metrics.reduce_logits` / `metrics.summarize`: checks metrics.csv."""
        rows = []
        for d in self.datasets:
            name, labels = d["name"], self.labels(d["name"])
            if self.has_logits(name):
                parts = [metrics.reduce_logits(self.logits(name, np.array([a])), labels) for a in self.alphas]
                red = {k: np.concatenate([p[k] for p in parts]) for k in ("pred", "loss")}
            else:
                red = self.reductions(name)
            rows += rows_from_reductions(name, d["role"], self.alphas, red, labels)
        return rows

    def baselines(self) -> list[dict]:
        """Accuracies of baseline ("standard") models on this run's eval sets, for the effective-
        robustness fit: rows {model, dataset, accuracy in [0, 1]}; [] when the run ships none.
        Rows whose accuracy is not a number in [0, 1] are left out (see `baseline_problems`)."""
        path = self.path / self.manifest.get("baselines", "baselines.csv")
        self.baseline_problems: list[str] = []
        if not path.exists():
            return []
        rows = []
        try:
            with path.open(newline="") as f:
                for i, r in enumerate(csv.DictReader(f), start=2):
                    try:
                        acc = float(r["accuracy"])
                        if not (0 <= acc <= 1 and r["model"] and r["dataset"]):
                            raise ValueError(r["accuracy"])
                        rows.append({**r, "accuracy": acc})
                    except (KeyError, TypeError, ValueError):
                        self.baseline_problems.append(
                            f"{path.name} line {i}: {dict(r)} is not model,dataset,accuracy in [0, 1]"
                        )
        except (OSError, UnicodeDecodeError, csv.Error) as err:
            self.baseline_problems.append(f"{path.name} is unreadable ({err})")
        return rows

    def weights_path(self, which: str) -> Path:
        """Path of 'zeroshot' (theta_0) or 'finetuned' (theta_1) weights."""
        path = weights_file(self.path, which, self.manifest)
        if not path.exists():
            raise RunFormatError(f"{path} is missing")
        return path

    def check(self) -> None:
        """Open every sweep file and the metrics table: RunFormatError with the reason when damaged."""
        if self.has_sweep:
            self.id_dataset  # noqa: B018
            for name in self.dataset_names:
                self._load(name)
            self.metrics_rows()


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
