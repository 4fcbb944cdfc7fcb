"""`ge4rec data download` against a local HTTP server on 127.0.0.1 that serves a small archive,
honours (or ignores) Range requests and can break a transfer off after N bytes."""

from __future__ import annotations

import errno
import hashlib
import io
import socket
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from omegaconf import OmegaConf
from rich.console import Console

from ge4rec.cli import config_dir
from ge4rec.data import download as dl
from ge4rec.data import load_dataset
from ge4rec.data.download import DownloadError, archive_from_preset, archive_from_url, fetch
from ge4rec.run import config_hash

from conftest import compose_config, write_csv_folder

SPLITS = {
    split: "label,user,item\n"
    + "".join(f"{(i * 7 + k) % 2},u{i % 97},i{(i * 13 + k) % 211}\n" for i in range(n))
    for k, (split, n) in enumerate((("train", 3000), ("valid", 800), ("test", 800)))
}


def make_zip(top: str | None = "Tiny_x1") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        for split, text in SPLITS.items():
            zf.writestr(f"{top}/{split}.csv" if top else f"{split}.csv", text)
    return buffer.getvalue()


def make_tgz() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tf:
        for split, text in SPLITS.items():
            data = text.encode()
            info = tarfile.TarInfo(f"Tiny_x1/{split}.csv")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Server:
    """Files by path; `cut_after` breaks the next transfer off after that many body bytes;
    `ignore_range` answers every request with the whole file (200)."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.cut_after: int | None = None
        self.ignore_range = False
        self.requests: list[dict[str, str]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                owner.requests.append({k: v for k, v in self.headers.items()})
                data = owner.files.get(self.path)
                if data is None:
                    self.send_error(404, "Not Found")
                    return
                start = 0
                ranged = self.headers.get("Range")
                if ranged and not owner.ignore_range:
                    start = int(ranged.removeprefix("bytes=").rstrip("-"))
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if owner.cut_after is not None:
                    body, owner.cut_after = body[: owner.cut_after], None
                    self.wfile.write(body)
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


def quiet() -> Console:
    return Console(file=io.StringIO(), width=200)


def output(console: Console) -> str:
    return console.file.getvalue()


def unpacked(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(folder.iterdir())}


def assert_whole(dest: Path, folder: str = "Tiny_x1") -> None:
    """dest holds exactly the unpacked folder: no partial download, no half-unpacked folder."""
    assert sorted(p.name for p in dest.iterdir()) == [folder]
    assert unpacked(dest / folder) == {f"{split}.csv": text for split, text in SPLITS.items()}


# ----------------------------------------------------------------------------------- downloads


def test_download_checks_the_sha256_and_unpacks_into_the_folder(server, tmp_path):
    data = make_zip()
    server.files["/Tiny_x1.zip"] = data
    console = quiet()
    target = fetch(archive_from_url(server.url("/Tiny_x1.zip"), sha256(data)), tmp_path / "data", console)
    assert target == tmp_path / "data" / "Tiny_x1"
    assert_whole(tmp_path / "data")
    assert "sha256 verified" in output(console)
    # a folder that is already there is not downloaded again
    again = quiet()
    fetch(archive_from_url(server.url("/Tiny_x1.zip"), sha256(data)), tmp_path / "data", again)
    assert len(server.requests) == 1
    assert "already there" in output(again)


def test_files_at_the_archive_root_and_tar_gz_land_in_the_same_layout(server, tmp_path):
    server.files["/Tiny_x1.zip"] = make_zip(top=None)
    server.files["/Tiny_x1.tar.gz"] = make_tgz()
    fetch(archive_from_url(server.url("/Tiny_x1.zip")), tmp_path / "a", quiet())
    fetch(archive_from_url(server.url("/Tiny_x1.tar.gz")), tmp_path / "b", quiet())
    assert_whole(tmp_path / "a")
    assert_whole(tmp_path / "b")


def test_without_a_checksum_the_computed_sha256_is_printed(server, tmp_path):
    data = make_zip()
    server.files["/Tiny_x1.zip"] = data
    console = quiet()
    fetch(archive_from_url(server.url("/Tiny_x1.zip")), tmp_path, console)
    text = output(console)
    assert "no published sha256" in text and sha256(data) in text


def test_a_server_that_ignores_range_restarts_from_zero(server, tmp_path):
    data = make_zip()
    server.files["/Tiny_x1.zip"] = data
    server.ignore_range = True
    (tmp_path / ".Tiny_x1.zip.part").write_bytes(data[:5000])
    console = quiet()
    fetch(archive_from_url(server.url("/Tiny_x1.zip"), sha256(data)), tmp_path, console)
    assert server.requests[0]["Range"] == "bytes=5000-"
    assert "starting from zero" in output(console)
    assert_whole(tmp_path)


def test_disk_full_while_downloading_removes_the_partial_file(server, tmp_path, monkeypatch):
    server.files["/Tiny_x1.zip"] = make_zip()

    def full(out, chunk):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(dl, "_write", full)
    with pytest.raises(DownloadError, match="no space left.*partial download was deleted"):
        fetch(archive_from_url(server.url("/Tiny_x1.zip")), tmp_path, quiet())
    assert list(tmp_path.iterdir()) == []


def test_disk_full_while_unpacking_keeps_the_verified_archive_for_the_next_run(server, tmp_path, monkeypatch):
    data = make_zip()
    server.files["/Tiny_x1.zip"] = data
    archive = archive_from_url(server.url("/Tiny_x1.zip"), sha256(data))
    real_write = dl._write

    def full_when_unpacking(out, chunk):
        if not out.name.endswith(".part"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(out, chunk)

    monkeypatch.setattr(dl, "_write", full_when_unpacking)
    with pytest.raises(DownloadError, match="no space left.*verified archive is kept"):
        fetch(archive, tmp_path, quiet())
    assert [p.name for p in tmp_path.iterdir()] == [".Tiny_x1.zip.part"]  # no half-unpacked folder

    monkeypatch.setattr(dl, "_write", real_write)
    fetch(archive, tmp_path, quiet())  # the server answers 416: the archive is whole, only unpacked
    assert server.requests[-1]["Range"] == f"bytes={len(data)}-"
    assert_whole(tmp_path)


def test_an_archive_reaching_outside_its_folder_is_refused(server, tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("../escape.csv", "label\n1\n")
    server.files["/Evil.zip"] = buffer.getvalue()
    with pytest.raises(DownloadError, match="outside the folder"):
        fetch(archive_from_url(server.url("/Evil.zip")), tmp_path / "data", quiet())
    assert not (tmp_path / "data").exists()  # made for the download, removed with it
    assert not (tmp_path / "escape.csv").exists()


# ------------------------------------------------------------------------------------- presets


@pytest.mark.parametrize(
    ("name", "size", "digest"),
    [
        ("criteo_x1", 2_892_380_492, "ad87602d1a0c855a234da10f4510ba058990247380e961083f7d60b8bff62608"),
        ("avazu_x4", 1_306_331_539, "4ba8bf46eada70abbe068e4e5bfb3b3d879e6fbd2f2fcf51760cd1388b789b65"),
    ],
)
def test_presets_name_their_archive_and_unpack_where_their_path_looks(name, size, digest, monkeypatch):
    archive = archive_from_preset(name, Path(config_dir()))
    folder = name.split("_")[0].capitalize() + "_" + name.split("_")[1]  # criteo_x1 -> Criteo_x1
    assert archive.url == f"https://huggingface.co/datasets/reczoo/{folder}/resolve/main/{folder}.zip"
    assert (archive.size, archive.sha256, archive.format, archive.folder) == (size, digest, "zip", folder)
    monkeypatch.setenv("GE4REC_DATA", "/somewhere")
    preset = OmegaConf.load(Path(config_dir()) / "dataset" / f"{name}.yaml")
    assert preset.path == f"/somewhere/{archive.folder}"
    assert dl.default_dir() == Path("/somewhere")


def test_the_download_block_changes_neither_the_cache_nor_the_config_hash(tmp_path):
    from ge4rec.config.schema import DownloadSource

    folder = write_csv_folder(tmp_path / "csvs", {s: t for s, t in SPLITS.items()})
    plain = compose_config(["dataset=csv", f"dataset.path={folder}"], tmp_path)
    with_block = compose_config(["dataset=csv", f"dataset.path={folder}"], tmp_path)
    block = {"url": "https://example.org/x.zip", "sha256": None, "size": 1, "format": "zip", "folder": "x"}
    with_block.dataset.download = DownloadSource(**block)  # as a preset's download: block composes
    assert with_block.dataset.download.url == block["url"]
    assert config_hash(plain) == config_hash(with_block)
    first = load_dataset(plain.dataset, plain.cache_dir)
    second = load_dataset(with_block.dataset, with_block.cache_dir)
    assert second.cache_dir == first.cache_dir and second.reused_cache
