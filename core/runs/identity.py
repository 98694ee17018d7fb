"""Content digests: one place for every "has this input changed?" check.

A stored result records the digests of what it was computed from; reuse needs them all equal.
Each function returns sha256 hex, cut to `length` characters when given.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch


def _cut(h, length: int | None) -> str:
    return h.hexdigest()[:length] if length else h.hexdigest()


def file_digest(path: Path, length: int | None = None) -> str:
    """A file's bytes: the same weights file, whatever its name."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return _cut(h, length)


def stat_digest(paths: Iterable[str], length: int | None = 16) -> str:
    """Each file's size and modification time: a file replaced in place changes it, without reading it."""
    h = hashlib.sha256()
    for path in paths:
        st = os.stat(path)
        h.update(f"{st.st_size}:{st.st_mtime_ns};".encode())
    return _cut(h, length)


def bytes_digest(data: bytes, length: int | None = 16) -> str:
    """Raw bytes (a world split's pixels)."""
    return _cut(hashlib.sha256(data), length)


def json_digest(*parts, length: int | None = None) -> str:
    """JSON-able parts (sorted keys) and raw bytes, in order: a config, a recipe, an identity dict."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part if isinstance(part, bytes) else json.dumps(part, sort_keys=True, default=str).encode())
    return _cut(h, length)


def state_digest(state: dict[str, torch.Tensor], length: int | None = 16) -> str:
    """A state dict's names and tensor bytes: the same weights give the same digest whatever file held them."""
    h = hashlib.sha256()
    for k in sorted(state):
        h.update(k.encode())
        h.update(state[k].contiguous().numpy().tobytes())
    return _cut(h, length)


def examples_digest(ids: list[str], labels: np.ndarray, length: int | None = 16) -> str:
    """A training set's ids and labels, in order."""
    h = hashlib.sha256()
    for i in ids:
        h.update(i.encode() + b"\0")
    h.update(np.ascontiguousarray(labels, dtype=np.int64).tobytes())
    return _cut(h, length)
