"""The version floors that pyproject.toml declares for ge4rec's runtime dependencies.

`make install` pins every runtime dependency to the release line of its floor (name==X.Y.*), so
the test suite runs on exactly the versions ge4rec claims to support; tests/test_packaging.py
checks that the installed versions and the floors agree. torch is left out of the constraints:
the Makefile installs torch itself (TORCH_VERSION), keeping an existing CPU or CUDA build.

    python scripts/floors.py            # pip constraints, one line per dependency
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
# a requirement: its name, then its specifiers (extras and markers are not used by ge4rec)
REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(.*)$")
FLOOR = re.compile(r">=\s*(\d+)(?:\.(\d+))?")  # ">=2" reads as 2.0
# installed by the Makefile before the other dependencies, never through the constraints
NOT_PINNED = {"torch"}


def normalize(name: str) -> str:
    """A distribution name as pip compares them: lower case, runs of -_. as one dash."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse(requirement: str) -> tuple[str, tuple[int, int] | None]:
    """(normalised name, (major, minor) of its >= floor or None) of one requirement string."""
    match = REQUIREMENT.match(requirement)
    if match is None:
        raise ValueError(f"not a requirement: {requirement!r}")
    name, specifiers = match.groups()
    return normalize(name), _release(FLOOR.search(specifiers))


def load(pyproject: Path = PYPROJECT) -> dict:
    return tomllib.loads(pyproject.read_text())["project"]


def dependency_floors(pyproject: Path = PYPROJECT) -> dict[str, tuple[int, int] | None]:
    """Every runtime dependency with the (major, minor) of its floor."""
    return dict(parse(requirement) for requirement in load(pyproject)["dependencies"])


def python_floor(pyproject: Path = PYPROJECT) -> tuple[int, int] | None:
    return _release(FLOOR.search(load(pyproject)["requires-python"]))


def _release(floor: re.Match[str] | None) -> tuple[int, int] | None:
    return (int(floor.group(1)), int(floor.group(2) or 0)) if floor else None


def constraints(pyproject: Path = PYPROJECT) -> list[str]:
    """pip constraint lines: each floored dependency held to its floor's release line."""
    return [
        f"{name}=={major}.{minor}.*"
        for name, floor in dependency_floors(pyproject).items()
        if floor is not None and name not in NOT_PINNED
        for major, minor in [floor]
    ]


if __name__ == "__main__":
    sys.stdout.write("".join(f"{line}\n" for line in constraints()))
