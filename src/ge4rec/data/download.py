"""`ge4rec data download`: fetch a data set's public archive over HTTP(S), continue an interrupted
transfer, check its sha256 and size, and unpack it into DIR/<folder>.

On disk, while it runs:
- DIR/.<file>.part is the archive being downloaded. It stays after an interrupted transfer (the
  next run continues it with an HTTP Range request) and after a verified archive could not be
  unpacked (the next run unpacks it without downloading again); any other failure removes it,
  and removes DIR again if the download made it and it is left empty;
- DIR/.<folder>.unpacking-XXXX is the archive being unpacked; renamed to DIR/<folder> once whole.
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import os
import re
import secrets
import shutil
import socket
import ssl
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from rich.console import Console
from rich.filesize import decimal
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from ge4rec import __version__
from ge4rec.errors import Ge4recError
from ge4rec.io import nearest_existing

if TYPE_CHECKING:
    from omegaconf import DictConfig

FORMATS = ("zip", "tar", "tar.gz")
_SUFFIXES = ((".tar.gz", "tar.gz"), (".tgz", "tar.gz"), (".tar", "tar"), (".zip", "zip"))
_BLOCK_KEYS = {"url", "sha256", "size", "format", "folder"}
_SKIPPED = {"__MACOSX", ".DS_Store"}  # archive clutter that is never data
CHUNK = 1 << 20
TIMEOUT_S = 60
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


class DownloadError(Ge4recError):
    """A download or unpack that could not complete: one line, exit code 2."""


class _NothingPastOffset(Exception):
    """HTTP 416 to a range request: the server's file has no byte at the requested offset."""

    def __init__(self, total: int | None):
        super().__init__(total)
        self.total = total


class _BadArchive(Exception):
    """An archive member that must not be unpacked."""


@dataclass(frozen=True)
class Archive:
    """Where an archive is and what it must be."""

    url: str
    sha256: str | None  # None: no published checksum; the size (if known) is checked instead
    size: int | None  # bytes, None if unknown
    format: str  # zip | tar | tar.gz
    folder: str  # unpacked into DIR/<folder>
    source: str  # what the facts came from, for messages: "dataset preset 'x'" or "--url"

    @property
    def file(self) -> str:
        return Path(urllib.parse.unquote(urllib.parse.urlsplit(self.url).path)).name


def default_dir() -> Path:
    """$GE4REC_DATA, or ~/data: where the dataset presets look for their folders."""
    return Path(os.path.expanduser(os.environ.get("GE4REC_DATA") or "~/data"))


def presets_with_download(config_root: Path) -> list[str]:
    from omegaconf import OmegaConf

    names = []
    for path in sorted((config_root / "dataset").glob("*.yaml")):
        if (
            not path.name.startswith("_")
            and cast("DictConfig", OmegaConf.load(path)).get("download") is not None
        ):
            names.append(path.stem)
    return names


def archive_from_preset(name: str, config_root: Path) -> Archive:
    """The `download:` block of configs/dataset/NAME.yaml."""
    from omegaconf import OmegaConf

    path = config_root / "dataset" / f"{name}.yaml"
    available = presets_with_download(config_root)
    if name.startswith("_") or not path.is_file():
        raise DownloadError(
            f"data download: no dataset preset '{name}' (presets that can be downloaded: "
            f"{', '.join(available) or 'none'}; or --url URL)"
        )
    block = cast("DictConfig", OmegaConf.load(path)).get("download")
    if block is None:
        raise DownloadError(
            f"data download: dataset preset '{name}' ({path}) has no download: block (presets that can "
            f"be downloaded: {', '.join(available) or 'none'}; or --url URL)"
        )
    data: dict[str, Any] = (
        cast("dict[str, Any]", OmegaConf.to_container(block, resolve=True))
        if OmegaConf.is_dict(block)
        else {}
    )
    where = f"{path}: download"
    if (
        not OmegaConf.is_dict(block)
        or set(data) - _BLOCK_KEYS
        or not {"url", "format", "folder"} <= set(data)
    ):
        raise DownloadError(f"{where}: expected a mapping with keys {', '.join(sorted(_BLOCK_KEYS))}")
    url = _check_url(data["url"], f"{where}.url")
    fmt = data["format"]
    if fmt not in FORMATS:
        raise DownloadError(f"{where}.format: '{fmt}' (expected one of {', '.join(FORMATS)})")
    size = data.get("size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size <= 0):
        raise DownloadError(f"{where}.size: expected a number of bytes or null, got {size!r}")
    return Archive(
        url=url,
        sha256=_check_sha256(data.get("sha256"), f"{where}.sha256"),
        size=size,
        format=fmt,
        folder=_check_folder(data["folder"], f"{where}.folder"),
        source=f"dataset preset '{name}'",
    )


def archive_from_url(url: str, sha256: str | None = None) -> Archive:
    """An archive named by its address: the format and folder follow from the file name
    (`.../Frappe_x1.zip` unpacks into DIR/Frappe_x1)."""
    url = _check_url(url, "--url")
    file = Path(urllib.parse.unquote(urllib.parse.urlsplit(url).path)).name
    for suffix, fmt in _SUFFIXES:
        if file.lower().endswith(suffix) and len(file) > len(suffix):
            folder = _check_folder(file[: -len(suffix)], "--url")
            return Archive(url, _check_sha256(sha256, "--sha256"), None, fmt, folder, "--url")
    raise DownloadError(
        f"--url: cannot tell the archive format of '{file or url}' (expected a file ending in "
        ".zip, .tar, .tar.gz or .tgz)"
    )


def _check_url(url: Any, where: str) -> str:
    parts = urllib.parse.urlsplit(str(url))
    if not isinstance(url, str) or parts.scheme not in ("http", "https") or not parts.hostname:
        raise DownloadError(f"{where}: expected an http:// or https:// address, got {url!r}")
    return url


def _check_sha256(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _HEX64.match(value):
        raise DownloadError(f"{where}: expected 64 hexadecimal digits (a SHA-256), got {value!r}")
    return value.lower()


def _check_folder(value: Any, where: str) -> str:
    if not isinstance(value, str) or value in ("", ".", "..") or "/" in value or "\\" in value:
        raise DownloadError(f"{where}: expected a folder name (no slashes), got {value!r}")
    return value


# ------------------------------------------------------------------------------------- download


def fetch(archive: Archive, dest: str | os.PathLike, console: Console | None = None) -> Path:
    """Download, verify and unpack `archive` into dest/<folder>; returns that folder. A folder
    that is already there and not empty is left as it is."""
    console = console or Console()
    dest = Path(os.path.expanduser(str(dest)))
    target = dest / archive.folder
    if target.is_dir() and any(target.iterdir()):
        console.print(f"{target} is already there: nothing downloaded (remove it to download again)")
        return target
    if target.exists() and not target.is_dir():
        raise DownloadError(f"--dir {dest}: '{target}' exists and is not a folder")
    existing = check_writable(dest, "--dir")
    part = dest / f".{archive.file}.part"
    try:
        _download(archive, dest, part, console)
        return _unpack(archive, part, dest, console)
    except BaseException:
        _remove_empty_folders(dest, existing)
        raise


def check_writable(dest: Path, option: str) -> Path:
    """Fail before any network traffic or data reading if the folder dest (given by `option`)
    cannot be made or written; it is made only when something is written into it. Returns dest's
    nearest existing folder."""
    existing = nearest_existing(dest)
    if not existing.is_dir():
        raise DownloadError(
            f"{option} {dest}: '{existing}' is not a folder (expected a folder to write into)"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise DownloadError(f"{option} {dest}: '{existing}' is not writable")
    return existing


def _remove_empty_folders(dest: Path, existing: Path) -> None:
    """After a failed download: remove the folders made for dest, up to `existing`, that were
    left empty (a kept partial download keeps them)."""
    folder = dest
    while folder != existing and folder.is_relative_to(existing):
        try:
            folder.rmdir()
        except OSError:  # not empty, or already gone
            return
        folder = folder.parent


def _download(archive: Archive, dest: Path, part: Path, console: Console) -> None:
    have = part.stat().st_size if part.is_file() else 0
    if archive.size is not None and have > archive.size:  # not a prefix of this archive
        part.unlink()
        have = 0
    if have and have == archive.size:
        console.print(f"{archive.file}: already downloaded ({decimal(have)}), checking it")
        digest = _hash_file(part, console)
    else:
        digest = _transfer(archive, dest, part, have, console)
    _verify(archive, part, digest, console)


def _transfer(archive: Archive, dest: Path, part: Path, have: int, console: Console) -> str:
    """GET the archive into `part`, continuing from `have` bytes; returns the sha256 of the whole."""
    try:
        response = _open(archive.url, have)
    except _NothingPastOffset as nothing:
        return _range_not_satisfiable(archive, dest, part, have, nothing.total, console)
    with response:
        start = _start_of(response, have, archive.url)
        if start is None:  # a 206 for another range than asked: the partial file cannot be trusted
            response.close()
            part.unlink(missing_ok=True)
            console.print(f"{archive.file}: the server sent another range than asked; starting from zero")
            return _transfer(archive, dest, part, 0, console)
        offset, total = start
        if have and offset == 0:
            console.print(f"{archive.file}: the server sent the whole file again; starting from zero")
        if offset:
            console.print(f"{archive.file}: continuing from {decimal(offset)}")
        if total is not None and archive.size is not None and total != archive.size:
            part.unlink(missing_ok=True)
            raise DownloadError(
                f"{archive.url}: the server offers {total} bytes but {archive.source} expects "
                f"{archive.size}: the file has changed; nothing kept"
            )
        dest.mkdir(parents=True, exist_ok=True)
        if total is not None:
            free = shutil.disk_usage(dest).free
            if free < total - offset:
                raise DownloadError(
                    f"--dir {dest}: {decimal(total - offset)} still to download but only "
                    f"{decimal(free)} free; free some space or choose another --dir"
                )
        hasher = hashlib.sha256()
        if offset:
            _hash_file(part, console, hasher, limit=offset)
        received = offset
        try:
            with open(part, "r+b" if offset else "wb") as out, _progress(console) as progress:
                out.seek(offset)
                out.truncate()
                task = progress.add_task(archive.file, total=total, completed=offset)
                while True:
                    try:
                        chunk = response.read(CHUNK)
                    except (OSError, http.client.HTTPException) as exc:
                        raise _interrupted(archive, part, received, total, _reason(exc)) from None
                    if not chunk:
                        break
                    _write(out, chunk)
                    hasher.update(chunk)
                    received += len(chunk)
                    progress.update(task, completed=received)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                part.unlink(missing_ok=True)
                raise DownloadError(
                    f"--dir {dest}: no space left on the device while downloading {archive.file} "
                    f"({decimal(received)} of {decimal(total) if total else 'unknown size'}); the "
                    "partial download was deleted: free some space or choose another --dir"
                ) from None
            part.unlink(missing_ok=True)
            raise DownloadError(f"--dir {dest}: cannot write {part.name}: {exc.strerror or exc}") from None
    if total is not None and received < total:
        raise _interrupted(archive, part, received, total, "the connection closed early")
    if total is not None and received > total:
        part.unlink(missing_ok=True)
        raise DownloadError(
            f"{archive.url}: the server sent {received} bytes, more than the {total} it announced"
        )
    return hasher.hexdigest()


def _write(out, chunk: bytes) -> None:
    out.write(chunk)


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


def _open(url: str, offset: int):
    """The response to a GET from `offset` (_NothingPastOffset on a 416). Failures before any
    byte arrives raise DownloadError and write nothing."""
    headers = {"User-Agent": f"ge4rec/{__version__}", "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        return urllib.request.urlopen(request, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and offset:
            raise _NothingPastOffset(_content_range_total(exc.headers.get("Content-Range"))) from None
        hint = {
            401: " (the server wants a login)",
            403: " (the server refuses this download)",
            404: " (no file at that address)",
            429: " (too many requests: wait a while and run the same command again)",
        }.get(exc.code, "")
        raise DownloadError(f"cannot download {url}: HTTP {exc.code} {exc.reason}{hint}") from None
    except urllib.error.URLError as exc:
        raise DownloadError(f"cannot download {url}: {_reason(exc.reason, url)}") from None
    except (OSError, http.client.HTTPException) as exc:
        raise DownloadError(f"cannot download {url}: {_reason(exc, url)}") from None


def _range_not_satisfiable(
    archive: Archive, dest: Path, part: Path, have: int, total: int | None, console: Console
) -> str:
    """416 to `Range: bytes=have-`: the partial file is whole if the server's size equals it;
    otherwise it is not a prefix of this file, so start again from zero."""
    if total == have:
        console.print(f"{archive.file}: already downloaded ({decimal(have)}), checking it")
        return _hash_file(part, console)
    part.unlink(missing_ok=True)
    console.print(f"{archive.file}: the partial download does not fit the server's file; starting from zero")
    return _transfer(archive, dest, part, 0, console)


def _content_range_total(value: str | None) -> int | None:
    match = re.match(r"^\s*bytes\s+(?:\d+-\d+|\*)/(\d+)\s*$", value or "")
    return int(match.group(1)) if match else None


def _start_of(response, have: int, url: str) -> tuple[int, int | None] | None:
    """(offset the body starts at, total size of the file or None); None for a 206 that does not
    start at `have`."""
    length = response.headers.get("Content-Length")
    length = int(length) if length and length.isdigit() else None
    if response.status == 206:
        match = re.match(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", response.headers.get("Content-Range") or "")
        if not match or int(match.group(1)) != have:
            if have:
                return None
            raise DownloadError(
                f"cannot download {url}: HTTP 206 with Content-Range "
                f"'{response.headers.get('Content-Range')}' to a request for the whole file"
            )
        total = None if match.group(3) == "*" else int(match.group(3))
        return have, total
    if response.status != 200:
        raise DownloadError(f"cannot download {url}: HTTP {response.status} {response.reason}")
    return 0, length


def _interrupted(archive: Archive, part: Path, received: int, total: int | None, why: str) -> DownloadError:
    of = f" of {total}" if total is not None else ""
    return DownloadError(
        f"download of {archive.url} interrupted after {received}{of} bytes ({why}); {part} is kept: "
        "run the same command again to continue it"
    )


def _reason(exc: BaseException | str, url: str | None = None) -> str:
    host = ""
    if url:
        parts = urllib.parse.urlsplit(url)
        host = f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)
    if isinstance(exc, ConnectionRefusedError):
        return f"connection refused by {host or 'the server'} (nothing listening there)"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host name {host.split(':')[0] or ''} (no network, or a misspelt address)"
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return f"no answer within {TIMEOUT_S} s"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error: {exc.reason or exc}"
    if isinstance(exc, http.client.IncompleteRead):
        return "the connection closed early"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc) or type(exc).__name__
    return str(exc) or type(exc).__name__


def _hash_file(path: Path, console: Console, hasher=None, limit: int | None = None) -> str:
    """The sha256 of the first `limit` bytes of path (all of it by default), with a progress bar."""
    hasher = hasher or hashlib.sha256()
    size = path.stat().st_size if limit is None else limit
    done = 0
    with open(path, "rb") as f, _progress(console) as progress:
        task = progress.add_task(f"checking {path.name}", total=size)
        while done < size:
            block = f.read(min(CHUNK, size - done))
            if not block:
                break
            hasher.update(block)
            done += len(block)
            progress.update(task, completed=done)
    return hasher.hexdigest()


def _verify(archive: Archive, part: Path, digest: str, console: Console) -> None:
    size = part.stat().st_size
    if archive.size is not None and size != archive.size:
        part.unlink()
        raise DownloadError(
            f"{archive.file}: {size} bytes, {archive.source} expects {archive.size}; the download was deleted"
        )
    if archive.sha256 is not None:
        if digest != archive.sha256:
            part.unlink()
            raise DownloadError(
                f"{archive.file}: sha256 {digest} does not match {archive.sha256} ({archive.source}); "
                "the download was deleted: run the same command again to fetch it anew"
            )
        console.print(f"{archive.file}: {decimal(size)}, sha256 verified")
    else:
        checked = (
            f"checked the size only ({size} bytes)"
            if archive.size is not None
            else "nothing to check it against"
        )
        console.print(
            f"{archive.file}: no published sha256, {checked}; sha256 of what was downloaded: {digest}"
        )


# --------------------------------------------------------------------------------------- unpack


def _unpack(archive: Archive, part: Path, dest: Path, console: Console) -> Path:
    """Unpack into a hidden folder next to the target, then rename it: dest/<folder> either holds
    the whole archive or does not exist. An archive holding one top folder is unpacked from inside
    it, so dest/<folder> holds the files either way."""
    target = dest / archive.folder
    tmp = dest / f".{archive.folder}.unpacking-{secrets.token_hex(4)}"
    tmp.mkdir()
    try:
        if archive.format == "zip":
            _unzip(part, tmp, dest, archive, console)
        else:
            _untar(part, tmp, archive, console)
        root = _content_root(tmp)
        if root is None:
            part.unlink(missing_ok=True)
            raise DownloadError(f"{archive.file}: the archive holds no files; the download was deleted")
        if target.is_dir():
            target.rmdir()  # empty (fetch returns early otherwise)
        os.rename(root, target)
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        tarfile.TarError,
        EOFError,
        zlib.error,
        _BadArchive,
    ) as exc:
        part.unlink(missing_ok=True)
        raise DownloadError(
            f"{archive.file}: not a readable {archive.format} archive ({exc}); the download was deleted"
        ) from None
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DownloadError(
                f"--dir {dest}: no space left on the device while unpacking {archive.file}; the verified "
                f"archive is kept as {part}: free some space and run the same command again"
            ) from None
        raise DownloadError(
            f"--dir {dest}: cannot unpack {archive.file}: {exc.strerror or exc}; the verified archive is "
            f"kept as {part}"
        ) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    part.unlink()
    files = sorted(p.name for p in target.iterdir())
    shown = ", ".join(files[:8]) + (f", ... ({len(files)} entries)" if len(files) > 8 else "")
    console.print(f"unpacked into {target}: {shown} ({decimal(_tree_size(target))})")
    return target


def _safe_member(name: str) -> Path | None:
    """The relative path of an archive member, None for clutter; unsafe names are refused."""
    path = Path(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or re.match(r"^[A-Za-z]:", name):
        raise _BadArchive(f"member '{name}' would land outside the folder")
    if not path.parts or path.parts[0] in _SKIPPED or path.name in _SKIPPED:
        return None
    return path


def _unzip(part: Path, tmp: Path, dest: Path, archive: Archive, console: Console) -> None:
    with zipfile.ZipFile(part) as zf:
        named = [(info, _safe_member(info.filename)) for info in zf.infolist()]
        members = [(info, rel) for info, rel in named if rel is not None]
        total = sum(info.file_size for info, _ in members)
        free = shutil.disk_usage(dest).free
        if free < total:
            raise DownloadError(
                f"--dir {dest}: unpacking {archive.file} needs {decimal(total)} but {decimal(free)} is free; "
                f"the verified archive is kept as {part}: free some space and run the same command again"
            )
        with _progress(console) as progress:
            task = progress.add_task(f"unpacking {archive.file}", total=total)
            for info, rel in members:
                out_path = tmp / rel
                if info.is_dir():
                    out_path.mkdir(parents=True, exist_ok=True)
                    continue
                out_path.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(out_path, "wb") as out:
                    while block := src.read(CHUNK):
                        _write(out, block)
                        progress.advance(task, len(block))


def _untar(part: Path, tmp: Path, archive: Archive, console: Console) -> None:
    mode: Literal["r:gz", "r:"] = "r:gz" if archive.format == "tar.gz" else "r:"
    with tarfile.open(part, mode) as tf, _progress(console) as progress:
        task = progress.add_task(f"unpacking {archive.file}", total=None)
        for member in tf:
            rel = _safe_member(member.name)
            if rel is None:
                continue
            if not (member.isfile() or member.isdir()):
                raise _BadArchive(f"member '{member.name}' is neither a file nor a folder")
            out_path = tmp / rel
            if member.isdir():
                out_path.mkdir(parents=True, exist_ok=True)
                continue
            out_path.parent.mkdir(parents=True, exist_ok=True)
            src = tf.extractfile(member)
            assert src is not None  # a regular file
            with src, open(out_path, "wb") as out:
                while block := src.read(CHUNK):
                    _write(out, block)
                    progress.advance(task, len(block))


def _content_root(tmp: Path) -> Path | None:
    entries = list(tmp.iterdir())
    if not entries:
        return None
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0] if any(entries[0].iterdir()) else None
    return tmp


def _tree_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
