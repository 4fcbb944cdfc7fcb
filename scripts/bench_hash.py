"""The cost of fingerprinting a large source file: ge4rec's content hash (XXH3-128, what
`dataset.fingerprint=content` computes before every run) against a plain read of the same bytes
and against BLAKE2b, on one file of `--gib` GiB (default 11, the size of Criteo's train.txt).

    python scripts/bench_hash.py                 # writes .bench/hash/big.bin once, then measures
    python scripts/bench_hash.py --gib 2 --rounds 3
    python scripts/bench_hash.py --write-docs

The file holds random bytes (written once, not timed). Each round reads it four ways in turn,
each in a fresh process, as a ge4rec run hashes a source once per process: `read` (16 MiB
chunks, no hashing: the floor any content check pays), ge4rec's `file_checksum` (64 KiB pieces),
the same with 4 MiB pieces (what it read before), and BLAKE2b. Whether the file is in the page
cache depends on the machine's free memory; both are reported as measured, and the ratios
compare the ways on equal terms.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _bench_common import command_line, machine_line, markdown_table, write_docs_section

from ge4rec.data import cache

REPO = Path(__file__).resolve().parent.parent
CHUNK = 1 << 24
TITLE = "Fingerprinting an 11 GB source"


def make_file(path: Path, size: int) -> None:
    if path.is_file() and path.stat().st_size == size:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    block = os.urandom(CHUNK)
    with open(path, "wb") as fh:
        left = size
        while left > 0:
            fh.write(block[: min(left, CHUNK)])
            left -= CHUNK


def read_only(path: Path) -> None:
    with open(path, "rb") as fh:
        while fh.read(CHUNK):
            pass


def blake2b(path: Path) -> None:
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)


def checksum_4mib(path: Path) -> None:
    cache._CHUNK = 1 << 22
    cache.file_checksum(path)


WAYS = {
    "read": read_only,
    "ge4rec (XXH3-128, 64 KiB pieces)": cache.file_checksum,
    "XXH3-128, 4 MiB pieces (before)": checksum_4mib,
    "BLAKE2b": blake2b,
}


def time_in_a_process(way: str, path: Path) -> float:
    """Seconds of one pass of `way` over `path`, in a fresh Python process."""
    out = subprocess.run(
        [sys.executable, __file__, "--one", way, "--file", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return float(out.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=11.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--file", type=Path, default=REPO / ".bench" / "hash" / "big.bin")
    parser.add_argument("--write-docs", action="store_true")
    parser.add_argument("--one", choices=list(WAYS), help=argparse.SUPPRESS)  # a child's one pass
    args = parser.parse_args()
    if args.one:
        start = time.perf_counter()
        WAYS[args.one](args.file)
        print(time.perf_counter() - start)
        return
    size = int(args.gib * 2**30)
    make_file(args.file, size)
    times: dict[str, list[float]] = {name: [] for name in WAYS}
    for _ in range(args.rounds):
        for name in WAYS:
            times[name].append(time_in_a_process(name, args.file))
            print(f"{name}: {times[name][-1]:.2f} s", flush=True)
    floor = statistics.median(times["read"])
    rows = [
        [
            name,
            f"{statistics.median(t):.2f} s",
            f"{size / statistics.median(t) / 1e9:.2f} GB/s",
            f"{statistics.median(t) / floor:.2f}",
        ]
        for name, t in times.items()
    ]
    body = (
        f"{machine_line(1)}. `{command_line()}`: one file of {size / 1e9:.1f} GB, medians of "
        f"{args.rounds} rounds, each pass in a fresh process.\n\n"
        + markdown_table(["reading the file", "time", "throughput", "x plain read"], rows, "lrrr")
        + "\n"
    )
    print(body)
    if args.write_docs:
        write_docs_section(TITLE, body)


if __name__ == "__main__":
    main()
