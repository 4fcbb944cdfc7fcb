"""Writing files so that a reader never sees half of one: every writer here fills a temporary file
in the destination's folder, flushes it to disk (fsync) and renames it over the destination
(os.replace, atomic on POSIX and Windows). A crash or an error leaves the old file, or none, and
no temporary file behind.

Temporary names start with a dot and end in `.tmp`, so `DIR/*.parquet` never matches one.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ge4rec.errors import ConfigError


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable; some platforms cannot open a folder, which is harmless."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside `path` for a writer that wants a file name (polars, torch,
    matplotlib): once the block ends without an error it becomes `path`; on an error it is removed.
    The temporary name has no meaningful extension: pass the format to writers that guess it."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        _fsync_file(tmp)
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_folder(final.parent)


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, value: Any, indent: int | None = 2) -> Path:
    return write_text(path, json.dumps(value, indent=indent))


def read_json(path: str | os.PathLike) -> Any:
    """The JSON value in `path`; None when the file is missing, unreadable or not JSON (a run
    folder's metrics.json, a sweep job's outcome file)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def write_parquet(path: str | os.PathLike, frame) -> Path:
    """A polars DataFrame as one Parquet file."""
    with atomic_path(path) as tmp:
        frame.write_parquet(tmp)
    return Path(path)


def save_torch(path: str | os.PathLike, value: Any) -> Path:
    """torch.save of `value` (e.g. a state dict)."""
    import torch

    with atomic_path(path) as tmp:
        torch.save(value, tmp)
    return Path(path)


def nearest_existing(path: Path) -> Path:
    """`path` itself when it exists, else its nearest existing parent (the folder under which
    making `path` would start)."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    return existing


def check_writable_folder(path: str | os.PathLike, option: str) -> Path:
    """Fail early, naming `option`, when files cannot be written to folder `path`: it is a file,
    it would sit under a file, or the nearest existing folder refuses writes. Creates nothing;
    returns the path with `~` expanded."""
    folder = Path(os.path.expanduser(str(path)))
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{option}: '{path}' is a file (expected a folder)")
    existing = nearest_existing(folder)
    if not existing.is_dir():
        raise ConfigError(f"{option}: '{path}' cannot be created: '{existing}' is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"{option}: '{path}' is not writable (no write permission on '{existing}')")
    return folder
