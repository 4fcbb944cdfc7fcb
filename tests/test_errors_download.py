"""docs/errors.md, "Downloads and data commands": `ge4rec data download` against a local HTTP
server on 127.0.0.1 (tests/test_download.py's), and `ge4rec data prepare|info` with bad overrides."""

from __future__ import annotations

import socket

import pytest
from test_download import Server, assert_whole, make_zip, sha256

from conftest import assert_clean_failure, run_cli


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


def download(args: list[str], dest, cwd):
    return run_cli(["data", "download", *args, "--dir", str(dest)], cwd)


@pytest.mark.errors_row("download-connection-refused")
def test_nothing_listening_is_one_line_and_writes_nothing(tmp_path):
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens on it
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/Tiny_x1.zip"
    dest = tmp_path / "data"
    result = download(["--url", url, "--sha256", "0" * 64], dest, tmp_path)
    assert_clean_failure(result, tmp_path, url, "connection refused")
    assert not dest.exists()


@pytest.mark.errors_row("download-http-error")
def test_http_404_is_one_line_and_writes_nothing(server, tmp_path):
    url = server.url("/missing.zip")
    result = download(["--url", url], tmp_path / "data", tmp_path)
    assert_clean_failure(result, tmp_path, url, "HTTP 404", "no file at that address")
    assert not (tmp_path / "data").exists()


@pytest.mark.errors_row("download-checksum-mismatch")
def test_a_corrupted_archive_is_deleted_with_the_folder_made_for_it(server, tmp_path):
    data = make_zip()
    corrupted = bytearray(data)
    corrupted[len(data) // 2] ^= 0xFF
    server.files["/Tiny_x1.zip"] = bytes(corrupted)
    url = server.url("/Tiny_x1.zip")
    dest = tmp_path / "new" / "data"
    result = download(["--url", url, "--sha256", sha256(data)], dest, tmp_path)
    message = assert_clean_failure(result, tmp_path, "Tiny_x1.zip", sha256(data), "deleted")
    assert sha256(bytes(corrupted)) in message
    assert not (tmp_path / "new").exists()

    existing = tmp_path / "existing"  # a folder the user made stays, empty
    existing.mkdir()
    result = download(["--url", url, "--sha256", sha256(data)], existing, tmp_path)
    assert_clean_failure(result, tmp_path, "does not match")
    assert list(existing.iterdir()) == []


@pytest.mark.errors_row("download-interrupted")
def test_an_interrupted_download_is_kept_and_continued_by_the_next_run(server, tmp_path):
    data = make_zip()
    server.files["/Tiny_x1.zip"] = data
    server.cut_after = 20_000
    args = ["--url", server.url("/Tiny_x1.zip"), "--sha256", sha256(data)]
    first = download(args, tmp_path / "data", tmp_path)
    message = assert_clean_failure(
        first,
        tmp_path,
        server.url("/Tiny_x1.zip"),
        "interrupted after 20000 of",
        "run the same command again",
    )
    part = tmp_path / "data" / ".Tiny_x1.zip.part"
    assert str(part) in message
    assert part.read_bytes() == data[:20_000]
    assert "Range" not in server.requests[0]

    second = download(args, tmp_path / "data", tmp_path)
    assert second.returncode == 0, second.stderr
    assert server.requests[-1]["Range"] == "bytes=20000-"
    assert "sha256 verified" in second.stdout
    assert_whole(tmp_path / "data")


@pytest.mark.errors_row("download-unknown-preset")
@pytest.mark.parametrize(
    ("name", "mentions"),
    [
        ("nope", ["no dataset preset 'nope'"]),
        ("movielens100k", ["'movielens100k'", "has no download: block"]),
        ("_base", ["no dataset preset '_base'"]),
    ],
)
def test_a_preset_that_cannot_be_downloaded_lists_those_that_can(tmp_path, name, mentions):
    result = download([name], tmp_path / "data", tmp_path)
    message = assert_clean_failure(result, tmp_path, *mentions, "--url URL")
    listed = message.split("presets that can be downloaded: ", 1)[1].split(";")[0]
    assert listed.split(", ") == ["avazu_x4", "criteo_x1"]
    assert not (tmp_path / "data").exists()


@pytest.mark.errors_row("download-bad-arguments")
@pytest.mark.parametrize(
    ("args", "mentions"),
    [
        ([], ["NAME", "--url", "not both or neither"]),
        (["criteo_x1", "--url", "http://127.0.0.1:9/x.zip"], ["not both or neither"]),
        (["--url", "http://127.0.0.1:9/x.zip", "--sha256", "abc"], ["--sha256", "64 hexadecimal", "'abc'"]),
        (["--url", "http://127.0.0.1:9/x.rar"], ["--url", "x.rar", ".tar.gz"]),
        (["--url", "ftp://example.org/x.zip"], ["--url", "http://", "ftp://example.org/x.zip"]),
        (["criteo_x1", "--sha256", "0" * 64], ["--sha256 goes with --url"]),
        (["criteo_x1", "--bogus"], ["data download", "--bogus"]),
    ],
)
def test_bad_arguments_are_one_line_before_any_network(tmp_path, args, mentions):
    result = download(args, tmp_path / "data", tmp_path)
    assert_clean_failure(result, tmp_path, *mentions)
    assert not (tmp_path / "data").exists()


@pytest.mark.errors_row("download-dir-is-a-file")
@pytest.mark.parametrize("under", [False, True])
def test_a_dir_that_is_a_file_is_refused_before_any_network(server, tmp_path, under):
    server.files["/Tiny_x1.zip"] = make_zip()
    file = tmp_path / "notes.txt"
    file.write_text("mine\n")
    dest = file / "sub" if under else file
    result = download(["--url", server.url("/Tiny_x1.zip")], dest, tmp_path)
    assert_clean_failure(result, tmp_path, f"--dir {dest}", f"'{file}' is not a folder", "expected a folder")
    assert server.requests == []
    assert file.read_text() == "mine\n"


# ------------------------------------------------------------------------------ prepare and info


@pytest.mark.errors_row("data-prepare-bad-override")
@pytest.mark.parametrize(
    ("args", "mentions"),
    [
        (["prepare", "dataset=nope"], ["unknown dataset 'nope'", "criteo_x1", "movielens100k"]),
        (["info", "dataset.nokey=1"], ["unknown config key 'dataset.nokey'", "keys of dataset: name"]),
        (["prepare", "dataset=synthetic,csv"], ["'dataset=synthetic,csv' is a sweep", "one value"]),
        (["info", "--bogus"], ["data info", "--bogus"]),
    ],
)
def test_bad_overrides_of_prepare_and_info_are_one_line(tmp_path, args, mentions):
    result = run_cli(["data", *args], tmp_path)
    assert_clean_failure(result, tmp_path, *mentions)
    assert not (tmp_path / "cache").exists()


@pytest.mark.errors_row("data-info-csv-without-path")
def test_info_on_csv_without_a_path_asks_for_one(tmp_path):
    result = run_cli(["data", "info", "dataset=csv"], tmp_path)
    assert_clean_failure(result, tmp_path, "dataset 'csv'", "dataset.path=DIR", "train/valid/test")
    assert not (tmp_path / "cache").exists()


@pytest.mark.errors_row("data-prepare-cache-dir-is-a-file")
def test_a_cache_dir_that_is_a_file_is_refused_before_any_data_is_read(tmp_path):
    file = tmp_path / "cache.txt"
    file.write_text("mine\n")
    result = run_cli(["data", "prepare", "dataset=synthetic", f"cache_dir={file}"], tmp_path)
    assert_clean_failure(result, tmp_path, f"cache_dir: '{file}'", "is a file", "expected a folder")
    assert file.read_text() == "mine\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache.txt"]
