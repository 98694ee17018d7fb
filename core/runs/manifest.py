"""A run's manifest: read and checked (a damaged one is refused with the reason), written atomically
with provenance, and the paths it decides (weights, the current sweep generation, metrics.csv)."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.runs.files import atomic_write_bytes

SCHEMA_VERSION = 2
READABLE_SCHEMAS = (1, 2)
MANIFEST = "manifest.json"
METRICS_CSV = "metrics.csv"
SET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_+\-.]{0,99}")
RESERVED_SUFFIXES = (".ids", ".tmp")


class RunFormatError(ValueError):
    """A run folder is missing, incomplete, damaged, or of a schema this version cannot read."""


def check_set_name(name: str) -> str:
    """An eval set name usable as a file name inside the run: letters, digits, _ + - ., no leading
    dot or path separator. ValueError with the fix otherwise."""
    if not SET_NAME.fullmatch(name or "") or name.endswith(RESERVED_SUFFIXES):
        raise ValueError(
            f"eval set name {name!r} is not allowed: use letters, digits, _ + - . (no path "
            "separators, no leading dot, at most 100 characters), e.g. --ood sketch=folder:PATH"
        )
    return name


# ----------------------------------------------------------------------------- provenance


def git_commit() -> str | None:
    """The commit of the code that produced a run (None outside a git checkout)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
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
    """Read-modify-write the manifest atomically; creates it (with provenance) when absent.
    The written manifest is of the current schema."""
    path = Path(run_dir) / MANIFEST
    manifest = load_json(path) if path.exists() else {}
    if not isinstance(manifest, dict):
        raise RunFormatError(f"{path} is not a JSON object; the run folder is damaged")
    if callable(update):
        update(manifest)
    else:
        manifest.update(update)
    manifest["schema_version"] = SCHEMA_VERSION
    manifest["versions"] = package_versions()
    manifest["git_commit"] = git_commit()
    atomic_write_bytes(path, (json.dumps(manifest, indent=2) + "\n").encode())
    return manifest


def load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RunFormatError(f"{path} is not valid JSON ({err}); the run folder is damaged") from err


def read_manifest(run_dir: Path) -> dict:
    """The run's manifest, checked: RunFormatError naming what is wrong when it is damaged."""
    run_dir = Path(run_dir)
    path = run_dir / MANIFEST
    if not run_dir.is_dir():
        raise RunFormatError(f"run folder {run_dir} does not exist")
    if not path.exists():
        raise RunFormatError(
            f"{run_dir} is not a run folder: no {MANIFEST}. Create one with "
            "`python -m core zeroshot --out RUN ...` or pick a folder listed by `python -m core info`."
        )
    manifest = load_json(path)
    if not isinstance(manifest, dict):
        raise RunFormatError(f"{path} is damaged: it holds a JSON {type(manifest).__name__}, not an object")
    version = manifest.get("schema_version")
    if version not in READABLE_SCHEMAS:
        raise RunFormatError(
            f"{run_dir} uses run schema version {version!r}; this version of WiSE-FT Explorer reads "
            f"versions {', '.join(map(str, READABLE_SCHEMAS))}. Re-run its sweep with this version (`python -m core "
            f"sweep --run {run_dir} ...`) or install the version that wrote it."
        )
    _check_manifest(path, manifest)
    return manifest


def _check_manifest(path: Path, m: dict) -> None:
    def bad(what: str) -> RunFormatError:
        return RunFormatError(f"{path} is damaged: {what}; restore it from a copy or recreate the run")

    names = m.get("classnames")
    if not isinstance(names, list) or not names or not all(isinstance(c, str) for c in names):
        raise bad("'classnames' (the list of class names) is missing or not a list of strings")
    sweep = m.get("sweep")
    if not sweep:
        return
    alphas = sweep.get("alphas") if isinstance(sweep, dict) else None
    if not isinstance(alphas, list) or not alphas or not all(isinstance(a, (int, float)) for a in alphas):
        raise bad("'sweep.alphas' is missing or not a list of numbers")
    sets = sweep.get("datasets")
    if not isinstance(sets, list) or not sets:
        raise bad("'sweep.datasets' is missing or empty")
    for d in sets:
        if not isinstance(d, dict) or not {"name", "role", "n"} <= set(d) or d["role"] not in ("id", "ood"):
            raise bad(f"'sweep.datasets' entry {d!r} lacks name, role ('id' or 'ood') or n")
        try:
            check_set_name(d["name"])
        except ValueError as err:
            raise bad(str(err)) from err
    gen = sweep.get("generation")
    if gen is not None and not re.fullmatch(r"gen-\d{4,}", str(gen)):
        raise bad(f"'sweep.generation' {gen!r} is not a generation folder name")


def weights_file(run_dir: Path, which: str, manifest: dict | None = None) -> Path:
    """Where a run keeps theta_0 ('zeroshot') or theta_1 ('finetuned'): weights/<which>.safetensors,
    or the run-relative path its manifest names under "weights" (runs that share weight files)."""
    run_dir = Path(run_dir)
    manifest = manifest if manifest is not None else read_manifest(run_dir)
    return run_dir / manifest.get("weights", {}).get(which, f"weights/{which}.safetensors")


def sweep_dir(run_dir: Path, manifest: dict) -> Path:
    """The folder of the run's current sweep: sweep/gen-NNNN, or sweep/ for schema-1 layouts."""
    gen = (manifest.get("sweep") or {}).get("generation")
    return Path(run_dir) / "sweep" / gen if gen else Path(run_dir) / "sweep"


def metrics_file(run_dir: Path, manifest: dict) -> Path:
    gen = (manifest.get("sweep") or {}).get("generation")
    return sweep_dir(run_dir, manifest) / METRICS_CSV if gen else Path(run_dir) / METRICS_CSV


def plane_file(run_dir: Path, manifest: dict) -> Path:
    """Where a run keeps its stored loss plane (core.lmc.plane.write_plane): the manifest's `plane.file`, else
    plane.safetensors (found by that name in schema-1 runs, whose manifest is not rewritten)."""
    return Path(run_dir) / (manifest.get("plane") or {}).get("file", "plane.safetensors")
