"""The on-disk cache of encoded data sets.

An entry is a folder `<name>-<key>` under the cache root. The key is a hash of everything that
can change the encoded arrays: the entry layout, the preprocessing code version, the data set
options and the sources (file contents, or the built-in generator's version). Every entry holds
`manifest.json` with the size and checksum of each of its files; an entry that does not match its
manifest is discarded and built again, never read.

An entry is built in a hidden temporary folder `.<name>-<key>.<random>` and renamed into place
when complete, while the builder holds an exclusive lock (fcntl) on `<name>-<key>.lock`. Other
processes needing the same entry wait on that lock and then reuse what was built. A temporary
folder whose lock nobody holds was left by an interrupted build and is removed by the next run.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import xxhash

from ge4rec.errors import DataError
from ge4rec.io import write_json

log = logging.getLogger("ge4rec.data")

# bump when the files of an entry or their meaning change
CACHE_FORMAT = 3
MANIFEST = "manifest.json"
HASH_NAME = "xxh3_128"
# a temporary build (or discard) folder: "." + entry name (NAME-<20 hex digits>) + "." + random
_BUILD_FOLDER = re.compile(r"^\.(.+-[0-9a-f]{20})\.[A-Za-z0-9_]+$")
# read in 64 KiB pieces, which stay in the CPU's cache between the copy and the hash: with 4 MiB
# ones a process's first pass over an 11.8 GB file took 3.6x as long here (scripts/bench_hash.py)
_CHUNK = 1 << 16


# ----------------------------------------------------------------------------- keys and checksums


def file_checksum(path: Path) -> str:
    """XXH3-128 of a file's bytes, read in chunks: a non-cryptographic hash that runs at memory
    speed (about 11 GB/s on one core), so hashing is bounded by reading the file, not by the hash.
    It guards against edits, truncation and damage, not against an adversary."""
    digest = xxhash.xxh3_128()
    buffer = bytearray(_CHUNK)  # read into one buffer, used again for every piece
    view = memoryview(buffer)
    try:
        with open(path, "rb", buffering=0) as fh:
            while n := fh.readinto(buffer):
                digest.update(view[:n])
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or type(exc).__name__})") from None
    return digest.hexdigest()


def fingerprint_sources(
    files: dict[str, Path], memo_file: Path | None = None, trust_mtime: bool = False
) -> dict[str, str]:
    """The content checksum of each source file, by role (train/valid/test).

    With `trust_mtime` (dataset.fingerprint=mtime) a file whose size and modification time match
    the memo in `memo_file` keeps its remembered checksum instead of being read again.
    """
    memo: dict[str, Any] = {}
    if trust_mtime and memo_file is not None and memo_file.is_file():
        try:
            memo = json.loads(memo_file.read_text())
        except (OSError, ValueError):
            memo = {}
    checksums: dict[str, str] = {}  # by resolved path: one file split by ratios is read once
    changed = False
    for path in files.values():
        key = str(path.resolve())
        if key in checksums:
            continue
        try:
            stat = path.stat()
        except OSError as exc:
            raise DataError(f"{path}: cannot read ({exc.strerror or type(exc).__name__})") from None
        known = memo.get(key) if trust_mtime else None
        if (
            known
            and known.get("hash") == HASH_NAME
            and known.get("size") == stat.st_size
            and known.get("mtime_ns") == stat.st_mtime_ns
        ):
            checksums[key] = known["checksum"]
            continue
        checksums[key] = file_checksum(path)
        if trust_mtime:
            memo[key] = {
                "hash": HASH_NAME,
                "size": stat.st_size,
                "mtime_ns": stat.st_mtime_ns,
                "checksum": checksums[key],
            }
            changed = True
    if changed and memo_file is not None:
        write_json(memo_file, memo, indent=None)
    return {role: checksums[str(path.resolve())] for role, path in files.items()}


def cache_key(material: dict[str, Any]) -> str:
    """A short hash of JSON-able key material (sorted keys, so dict order does not matter)."""
    text = json.dumps({"format": CACHE_FORMAT, **material}, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=10).hexdigest()


# ----------------------------------------------------------------------------- manifest


def write_manifest(folder: Path) -> None:
    """Record the size and checksum of every file in `folder` (the manifest itself excluded)."""
    files = {
        p.name: {"size": p.stat().st_size, HASH_NAME: file_checksum(p)}
        for p in sorted(folder.iterdir())
        if p.is_file() and p.name != MANIFEST
    }
    (folder / MANIFEST).write_text(json.dumps({"format": CACHE_FORMAT, "files": files}, indent=1))


def entry_problem(entry: Path) -> str | None:
    """None when the entry is complete and matches its manifest; otherwise what is wrong with it
    ("missing" when there is no entry at all)."""
    if not entry.is_dir():
        return "missing"
    try:
        manifest = json.loads((entry / MANIFEST).read_text())
        files = manifest["files"]
        if manifest.get("format") != CACHE_FORMAT or not isinstance(files, dict) or not files:
            return "its manifest is not of this version"
    except FileNotFoundError:
        return "it has no manifest"
    except (OSError, ValueError, KeyError, TypeError):
        return "its manifest is damaged"
    for name, expected in files.items():
        path = entry / name
        try:
            size = path.stat().st_size
        except OSError:
            return f"{name} is missing"
        if size != expected.get("size"):
            return f"{name} has {size} bytes, the manifest says {expected.get('size')}"
        try:
            checksum = file_checksum(path)
        except DataError:
            return f"{name} cannot be read"
        if checksum != expected.get(HASH_NAME):
            return f"{name} does not match its checksum"
    return None


# ----------------------------------------------------------------------------- locking


def _lock_path(entry: Path) -> Path:
    return entry.with_name(entry.name + ".lock")


@contextlib.contextmanager
def entry_lock(entry: Path, wait: bool = True) -> Iterator[bool]:
    """Hold the exclusive lock of `entry`. Yields True when held; with wait=False, yields False
    at once when another process holds it.

    The lock file is removed on release. A process that was waiting on a lock file removed
    meanwhile notices (the path no longer names the file it locked) and locks the new one.
    """
    path = _lock_path(entry)
    path.parent.mkdir(parents=True, exist_ok=True)
    announced = False
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                os.close(fd)
                raise
            if not wait:
                os.close(fd)
                yield False
                return
            if not announced:
                log.warning("cache entry %s is being built by another process: waiting for it", entry.name)
                announced = True
            fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the holder removed this lock file on release: lock the current one
    try:
        yield True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        os.close(fd)


# ----------------------------------------------------------------------------- building


def remove_interrupted_builds(cache_root: Path) -> None:
    """Delete temporary build folders left by builds that were killed (their lock is free)."""
    if not cache_root.is_dir():
        return
    for path in cache_root.iterdir():
        match = _BUILD_FOLDER.match(path.name)
        if not (match and path.is_dir()):
            continue
        entry = cache_root / match.group(1)
        with entry_lock(entry, wait=False) as held:
            if held and path.exists():
                shutil.rmtree(path, ignore_errors=True)
                log.warning("cache: removed %s, left by an interrupted build", path.name)


def ensure_entry(entry: Path, build: Callable[[Path], None]) -> bool:
    """Make sure `entry` exists and matches its manifest, building it with `build(folder)` if not.

    Returns True when an existing entry was reused. A damaged entry is logged, discarded and
    rebuilt. `build` fills a temporary folder; the manifest is written and the folder renamed
    into place only when it returns, so an error or an interruption leaves no entry behind.
    """
    cache_root = entry.parent
    cache_root.mkdir(parents=True, exist_ok=True)
    remove_interrupted_builds(cache_root)
    if entry_problem(entry) is None:
        return True
    with entry_lock(entry):
        problem = entry_problem(entry)  # again, under the lock: another process may have built it
        if problem is None:
            return True
        if problem != "missing":
            log.warning(
                "cache entry %s is damaged (%s): discarding it and building it again", entry.name, problem
            )
            _discard(entry)
        tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", dir=cache_root))
        try:
            build(tmp)
            write_manifest(tmp)
            os.rename(tmp, entry)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return False


def _discard(entry: Path) -> None:
    """Move a damaged entry aside (one rename, so no reader sees it half-deleted), then delete it."""
    trash = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", dir=entry.parent))
    os.rename(entry, trash / "old")
    shutil.rmtree(trash, ignore_errors=True)
