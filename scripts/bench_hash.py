"""The cost of fingerprinting a large source file: ge4rec's content hash (XXH3-128, what
`dataset.fingerprint=content` computes before every run) against a plain read of the same bytes
and against BLAKE2b, on one file of `--gib` GiB (default 11, the size of Criteo's train.txt).

    python scripts/bench_hash.py                 # writes .bench/hash/big.bin once, then measures
    python scripts/bench_hash.py --gib 2 --rounds 3
    python scripts/bench_hash.py --write-docs

The file holds random bytes (written once, not timed). Each round reads it three ways in turn:
`read` (the same 16 MiB chunks, no hashing: the floor any content check pays), ge4rec's
`file_checksum`, and BLAKE2b. Whether the file is in the page cache depends on the machine's free
memory; both are reported as measured, and the ratios compare the three on equal terms.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import time
from pathlib import Path

from _bench_common import command_line, machine_line, markdown_table, write_docs_section

from ge4rec.data.cache import file_checksum

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=11.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--file", type=Path, default=REPO / ".bench" / "hash" / "big.bin")
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    size = int(args.gib * 2**30)
    make_file(args.file, size)
    ways = {"read": read_only, "ge4rec (XXH3-128)": file_checksum, "BLAKE2b": blake2b}
    times: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(args.rounds):
        for name, fn in ways.items():
            start = time.perf_counter()
            fn(args.file)
            times[name].append(time.perf_counter() - start)
            print(f"{name}: {times[name][-1]:.1f} s", flush=True)
    floor = statistics.median(times["read"])
    rows = [
        [
            name,
            f"{statistics.median(t):.1f} s",
            f"{size / statistics.median(t) / 1e9:.2f} GB/s",
            f"{statistics.median(t) / floor:.2f}",
        ]
        for name, t in times.items()
    ]
    body = (
        f"{machine_line(1)}. `{command_line()}`: one file of {size / 1e9:.1f} GB, medians of "
        f"{args.rounds} rounds.\n\n"
        + markdown_table(["reading the file", "time", "throughput", "x plain read"], rows, "lrrr")
        + "\n"
    )
    print(body)
    if args.write_docs:
        write_docs_section(TITLE, body)


if __name__ == "__main__":
    main()
