"""What produced a number: ge4rec's version and commit, torch's version (recorded with every run)."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

import torch

import ge4rec


@functools.lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The commit of the ge4rec checkout this code runs from (with `+dirty` when it has
    uncommitted changes); None for an installed wheel or when git is unavailable."""
    root = Path(ge4rec.__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return None
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        )
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def provenance() -> dict[str, str | None]:
    return {
        "ge4rec_version": ge4rec.__version__,
        "git_commit": git_commit(),
        "torch_version": torch.__version__,
    }
