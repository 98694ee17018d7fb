"""Files of a run: atomic writes, and safetensors read by memory map or written by streaming.

Atomic: every file is written to a hidden `.NAME.PID.RANDOM.tmp` in its folder, fsynced and renamed
into place, so a reader sees the old file or the new one, never a half-written one. Temporary files
are created with mode 0o666 minus the umask (mkstemp's 0600 made runs unreadable to other users),
and leftovers of killed writers (their PID no longer alive on this host) are removed on the next
write into the same folder.

safetensors: `open_arrays` maps a file's tensors as read-only numpy memmaps after checking its
header against the file size (a truncated file is refused, not read past its end); `write_arrays`
streams tensors block by block, so a writer never holds a whole (alphas x examples x classes)
array. Measured on a 2.1 GB (21, 50000, 1000) float16 file: opening it and reading one alpha of one
example touches a few pages; safetensors' own `load_file` read all 2.1 GB.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import struct
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

DTYPES = {
    "F16": np.float16,
    "F32": np.float32,
    "F64": np.float64,
    "I64": np.int64,
    "I32": np.int32,
    "I16": np.int16,
    "I8": np.int8,
    "U8": np.uint8,
    "BOOL": np.bool_,
}
CODES = {np.dtype(v): k for k, v in DTYPES.items()}
MAX_HEADER = 100 << 20  # a header larger than this is not one safetensors would write


class TensorFileError(ValueError):
    """A safetensors file that is truncated, malformed or not safetensors at all."""


# ----------------------------------------------------------------------------- atomic writing


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_leftovers(folder: Path) -> None:
    """Remove `.NAME.PID.RANDOM.tmp` files in `folder` whose writing process is gone."""
    for tmp in Path(folder).glob(".*.tmp"):
        parts = tmp.name.rsplit(".", 3)  # ['.NAME', 'PID', 'RANDOM', 'tmp']
        if len(parts) == 4 and parts[1].isdigit() and not _alive(int(parts[1])):
            tmp.unlink(missing_ok=True)


def check_writable(target: Path, flag: str = "--out") -> None:
    """Refuse, before any work, a target file or folder that cannot be written: its nearest existing
    ancestor is a file, or creating a file there fails (no permission, a read-only file system). The
    probe file is removed again; OSError names the target, never a temp path."""
    target = Path(target)
    existing = next(p for p in (target, *target.parents) if p.exists() or p == p.parent)
    if existing.exists() and not existing.is_dir() and existing != target:
        raise OSError(f"cannot write {target}: {existing} is a file; give a {flag} in a folder you can write")
    folder = existing if existing.is_dir() else existing.parent
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-probe.")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise OSError(
            f"cannot write {target}: {folder} is not writable ({err.strerror or err}); "
            f"give a {flag} in a folder you can write"
        ) from None


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[Any]:
    """Open a binary file that replaces `path` atomically when the block ends without error."""
    path = Path(path)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        clean_leftovers(path.parent)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies
    except OSError as err:  # name the file asked for, not the temp file
        raise OSError(f"cannot write {path} ({err.strerror or err}); choose a folder you can write") from None
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` via a temp file in the same folder, fsync, then rename."""
    with atomic_file(path) as f:
        f.write(data)


# ----------------------------------------------------------------------------- safetensors


def read_header(path: Path) -> tuple[dict, int, dict]:
    """(tensor entries, offset of the data, JSON-decoded metadata); TensorFileError when damaged."""
    path = Path(path)
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise TensorFileError(f"{path} is truncated ({size} bytes)")
        (n,) = struct.unpack("<Q", head)
        if n > min(size - 8, MAX_HEADER):
            raise TensorFileError(f"{path} is truncated or not a safetensors file (header of {n} bytes, file {size})")
        try:
            header = json.loads(f.read(n))
        except ValueError as err:
            raise TensorFileError(f"{path} has an unreadable header ({err})") from err
    if not isinstance(header, dict):
        raise TensorFileError(f"{path} has an unreadable header")
    raw_meta = header.pop("__metadata__", None) or {}
    try:
        meta = {k: json.loads(v) for k, v in raw_meta.items()}
    except (ValueError, TypeError, AttributeError):
        meta = {}
    _check_entries(path, header, size - 8 - n)
    return header, 8 + n, meta


def _check_entries(path: Path, header: dict, data_size: int) -> None:
    for name, e in header.items():
        try:
            start, stop = e["data_offsets"]
            want = int(np.prod(e["shape"], dtype=np.int64)) * np.dtype(DTYPES[e["dtype"]]).itemsize
        except (KeyError, TypeError, ValueError) as err:
            raise TensorFileError(f"{path}: tensor {name!r} has a malformed header entry") from err
        if stop - start != want or not 0 <= start <= stop <= data_size:
            raise TensorFileError(f"{path} is truncated: tensor {name!r} ends past the end of the file")


def open_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every tensor of a safetensors file as a read-only memmap (nothing read until indexed)."""
    header, offset, _ = read_header(path)
    out = {}
    for name, e in header.items():
        dtype, shape = np.dtype(DTYPES[e["dtype"]]), tuple(e["shape"])
        if int(np.prod(shape, dtype=np.int64)) == 0:
            out[name] = np.zeros(shape, dtype)
        else:
            out[name] = np.memmap(path, dtype=dtype, mode="r", offset=offset + e["data_offsets"][0], shape=shape)
    return out


def read_slab(
    path: Path, header: tuple[dict, int, dict], name: str, index: int | None = None, rows: tuple[int, int] | None = None
) -> np.ndarray:
    """Tensor `name` (index None) or its slab `index` along the first axis, and of that only the rows
    [start, stop) along the next axis when `rows` is given, read with pread into fresh memory: unlike a
    memmap, the pages read do not stay mapped into the reader (the sweep's consolidation reads
    gigabytes this way with a flat resident set)."""
    entries, data_start, _ = header
    e = entries[name]
    dtype, shape = np.dtype(DTYPES[e["dtype"]]), tuple(e["shape"])
    start = data_start + e["data_offsets"][0]
    if index is not None:
        rest = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize
        start, shape = start + index * rest, shape[1:]
    if rows is not None:
        row = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize
        start, shape = start + rows[0] * row, (rows[1] - rows[0], *shape[1:])
    count = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    with open(path, "rb") as f:
        data = os.pread(f.fileno(), count, start)
    if len(data) != count:
        raise TensorFileError(f"{path} is truncated: tensor {name!r}")
    return np.frombuffer(data, dtype=dtype).reshape(shape)


def write_arrays(
    path: Path, specs: dict[str, tuple[np.dtype, tuple[int, ...], Iterable[np.ndarray]]], meta: dict | None = None
) -> None:
    """Stream tensors into a safetensors file, atomically.

    Args:
        specs: name -> (dtype, shape, blocks); the blocks, concatenated in C order, are the tensor.
        meta: stored as JSON strings in the file's metadata.
    """
    header, start = {}, 0
    for name, (dtype, shape, _) in specs.items():
        nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        header[name] = {"dtype": CODES[np.dtype(dtype)], "shape": list(shape), "data_offsets": [start, start + nbytes]}
        start += nbytes
    header["__metadata__"] = {k: json.dumps(v) for k, v in (meta or {}).items()}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # data aligned to 8 bytes, as safetensors writes it
    with atomic_file(path) as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for name, (dtype, _, blocks) in specs.items():
            written = 0
            for block in blocks:
                data = np.ascontiguousarray(block, dtype=dtype)
                f.write(data.reshape(-1).view(np.uint8))
                written += data.nbytes
            want = header[name]["data_offsets"][1] - header[name]["data_offsets"][0]
            if written != want:
                raise ValueError(f"tensor {name!r}: {written} bytes written, {want} declared")


def save_arrays(path: Path, arrays: dict[str, np.ndarray], meta: dict | None = None) -> None:
    """Arrays held in memory as a safetensors file, atomically."""
    write_arrays(path, {k: (np.asarray(v).dtype, np.shape(v), [v]) for k, v in arrays.items()}, meta)
