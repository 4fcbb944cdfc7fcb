"""`ge4rec data download|prepare|info`: get a data set onto disk, build its encoded cache, and
describe it, without training anything."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from ge4rec.errors import CommandParser, Ge4recError

USAGE = """usage: ge4rec data SUBCOMMAND [ARGS]

subcommands:
  download NAME [--dir DIR]                      fetch a dataset preset's public archive, check its
                                                 sha256 and unpack it into DIR/<folder>; NAME: {names}
  download --url URL [--sha256 HEX] [--dir DIR]  the same for any .zip, .tar or .tar.gz address
  prepare [dataset=NAME] [overrides]             build the encoded cache without training
  info [dataset=NAME] [overrides]                rows per split, positive rate, fields, the cache

DIR defaults to $GE4REC_DATA or ~/data, where the presets look for their folders. An interrupted
download continues where it stopped when the same command is run again.

examples:
  ge4rec data download criteo_x1
  ge4rec data prepare dataset=criteo_x1
  ge4rec data info dataset=movielens100k
"""


# each subcommand's handler, "module:function"
SUBCOMMANDS = {
    "download": "ge4rec.data_commands:download_command",
    "prepare": "ge4rec.data_commands:prepare_command",
    "info": "ge4rec.data_commands:info_command",
}


def data_command(args: list[str]) -> None:
    if not args or args[0] in ("-h", "--help", "help"):
        from ge4rec.cli import config_dir
        from ge4rec.data.download import presets_with_download

        print(USAGE.format(names=", ".join(presets_with_download(Path(config_dir()))) or "none yet"))
        return
    from ge4rec.cli import dispatch

    dispatch(SUBCOMMANDS, args, "data: unknown subcommand '{name}' (choose from: {names})")


# ------------------------------------------------------------------------------------- download


def download_command(args: list[str]) -> None:
    from rich.console import Console

    from ge4rec.cli import config_dir
    from ge4rec.data import download as dl

    parser = CommandParser(
        prog="ge4rec data download",
        description="Fetch a data set's public archive, check it and unpack it into DIR/<folder>.",
    )
    parser.add_argument("name", nargs="?", metavar="NAME", help="a dataset preset with a download: block")
    parser.add_argument("--url", help="an archive's address (.zip, .tar, .tar.gz or .tgz) instead of NAME")
    parser.add_argument("--sha256", metavar="HEX", help="with --url: the archive's expected SHA-256")
    parser.add_argument("--dir", default=None, help="where to unpack (default: $GE4REC_DATA or ~/data)")
    options = parser.parse_args(args)
    if (options.name is None) == (options.url is None):
        available = ", ".join(dl.presets_with_download(Path(config_dir())))
        raise Ge4recError(
            f"data download: give a preset NAME ({available}) or --url URL, not both or neither"
        )
    if options.sha256 is not None and options.url is None:
        raise Ge4recError(
            f"data download: --sha256 goes with --url (the checksum of '{options.name}' is in its download: block)"
        )
    if options.url is not None:
        archive = dl.archive_from_url(options.url, options.sha256)
    else:
        archive = dl.archive_from_preset(options.name, Path(config_dir()))
    dest = Path(os.path.expanduser(options.dir)) if options.dir else dl.default_dir()
    console = Console()
    try:
        target = dl.fetch(archive, dest, console)
    except KeyboardInterrupt:
        part = dest / f".{archive.file}.part"
        kept = f"; {part} is kept: run the same command again to continue" if part.is_file() else ""
        print(f"ge4rec: data download: interrupted{kept}", file=sys.stderr)
        sys.exit(130)
    if options.name is not None:
        if target.resolve() == (dl.default_dir() / archive.folder).resolve():
            console.print(f"use it with: ge4rec train dataset={options.name}")
        else:
            console.print(f"use it with: ge4rec train dataset={options.name} dataset.path={target}")


# ------------------------------------------------------------------------------ prepare and info


def _overrides(prog: str, description: str, args: list[str]) -> list[str]:
    parser = CommandParser(prog=prog, description=description)
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="OVERRIDE",
        help="config overrides as for ge4rec train: dataset=NAME, dataset.path=DIR, cache_dir=DIR, ...",
    )
    return parser.parse_args(args).overrides


def _prepared(overrides: list[str], console):
    """Compose the train config with these overrides (checked as `ge4rec train` checks them) and
    return (config, CacheEntry, seconds spent)."""
    from hydra import compose
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from ge4rec.cli import _one_line, shipped_configs, validate_overrides
    from ge4rec.config.checks import check_dataset_config
    from ge4rec.data import prepare_entry
    from ge4rec.io import check_writable_folder

    cfg = validate_overrides(overrides, check_dataset_config)
    for override, text in zip(OverridesParser.create().parse_overrides(overrides), overrides):
        if override.is_sweep_override():
            raise Ge4recError(
                f"data: '{text}' is a sweep; expected one value (one data set at a time: run the "
                "command once per value)"
            )
    if cfg is None:  # not composed as given by the checks (a hydra.* override)
        try:
            with shipped_configs("data"):
                cfg = compose(config_name="train", overrides=overrides)
        except Exception as exc:
            raise Ge4recError(f"data: {_one_line(exc)}") from None
    check_writable_folder(cfg.cache_dir, "cache_dir")  # as ge4rec train checks it
    start = time.perf_counter()
    with console.status(f"preparing {cfg.dataset.name} ..."):
        data = prepare_entry(cfg.dataset, cfg.cache_dir)
    return cfg, data, time.perf_counter() - start


def _cache_line(data, seconds: float) -> str:
    from rich.filesize import decimal

    size = sum(p.stat().st_size for p in Path(data.cache_dir).rglob("*") if p.is_file())
    how = "reused (already built)" if data.reused_cache else f"built now in {seconds:.1f} s"
    return f"cache: {data.cache_dir} ({decimal(size)}), {how}"


def prepare_command(args: list[str]) -> None:
    from rich.console import Console

    overrides = _overrides(
        "ge4rec data prepare",
        "Build a data set's encoded cache (what ge4rec train reads) without training.",
        args,
    )
    console = Console()
    _, data, seconds = _prepared(overrides, console)
    rows = ", ".join(f"{split} {n:,}" for split, n in data.meta["rows"].items())
    console.print(f"{data.name}: {rows} rows, {data.schema.num_fields} fields")
    console.print(_cache_line(data, seconds))


def info_command(args: list[str]) -> None:
    import numpy as np
    from rich.console import Console
    from rich.table import Table

    from ge4rec.data import NUMERIC, SEQUENCE

    overrides = _overrides(
        "ge4rec data info",
        "Rows per split, positive rate, each field's type and vocabulary size, and the cache "
        "(built first if missing).",
        args,
    )
    console = Console()
    _, data, seconds = _prepared(overrides, console)
    splits = Table(title=f"{data.name}: splits")
    splits.add_column("split")
    splits.add_column("rows", justify="right")
    splits.add_column("positive rate", justify="right")
    for split, n in data.meta["rows"].items():
        rate = f"{float(data.labels(split).mean(dtype=np.float64)):.4f}" if n else "-"
        splits.add_row(split, f"{n:,}", rate)
    fields = Table(
        title=f"{data.name}: {data.schema.num_fields} fields, {data.schema.num_embeddings:,} embedding rows",
        caption="vocabulary: the field's embedding rows, its OOV and missing ids included",
    )
    fields.add_column("field")
    fields.add_column("type")
    fields.add_column("vocabulary", justify="right")
    fields.add_column("max length", justify="right")
    for field in data.schema.fields:
        vocabulary = "-" if field.type == NUMERIC else f"{field.vocab_size:,}"
        fields.add_row(
            field.name, field.type, vocabulary, str(field.max_len) if field.type == SEQUENCE else ""
        )
    console.print(splits)
    console.print(fields)
    console.print(_cache_line(data, seconds))
