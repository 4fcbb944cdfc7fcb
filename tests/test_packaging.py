"""pyproject.toml against the code and the environment: every third-party package that ge4rec
imports is declared, and each declared floor is the release the suite runs on (`make install`
pins the floors), so a floor never claims support for a version no test has seen."""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import re
import sys

import pytest

from conftest import ROOT

spec = importlib.util.spec_from_file_location("floors", ROOT / "scripts" / "floors.py")
floors = importlib.util.module_from_spec(spec)
spec.loader.exec_module(floors)


def imported_top_level_modules() -> dict[str, str]:
    """Every absolute import in src/ (top-level module name -> a file that imports it)."""
    found: dict[str, str] = {}
    for path in sorted((ROOT / "src").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], str(path.relative_to(ROOT)))
    return found


def release(version: str) -> tuple[int, int]:
    """(major, minor) of an installed version such as '2.13.0+cpu'."""
    major, minor = re.match(r"(\d+)\.(\d+)", version).groups()
    return int(major), int(minor)


def test_every_third_party_import_is_a_declared_dependency():
    declared = set(floors.dependency_floors())
    distributions = importlib.metadata.packages_distributions()
    third_party = {
        module: where
        for module, where in imported_top_level_modules().items()
        # _typeshed: the standard library's type stubs, imported only under TYPE_CHECKING
        if module not in sys.stdlib_module_names and module not in ("ge4rec", "_typeshed")
    }
    assert {"torch", "polars", "PIL"} <= set(third_party)  # the scan does see ge4rec's imports
    undeclared = {
        module: where
        for module, where in third_party.items()
        if not {floors.normalize(d) for d in distributions.get(module, [module])} & declared
    }
    assert undeclared == {}, "imported in src/ but not in [project.dependencies]"


def test_every_dependency_has_a_floor():
    assert [name for name, floor in floors.dependency_floors().items() if floor is None] == []


@pytest.mark.parametrize("name", sorted(floors.dependency_floors()))
def test_the_floor_is_the_installed_release(name):
    installed = importlib.metadata.version(name)
    floor = floors.dependency_floors()[name]
    assert release(installed) == floor, (
        f"{name} {installed} is installed, pyproject.toml declares {name}>={floor[0]}.{floor[1]}: "
        "the suite does not run on the floor (`make install` pins the floors)"
    )


def test_the_python_floor_is_the_running_interpreter():
    assert floors.python_floor() == sys.version_info[:2], "requires-python names an untested release"


def test_the_makefile_installs_a_release_of_the_torch_floor():
    version = re.search(r"^TORCH_VERSION \?= (\S+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert version, "Makefile: no TORCH_VERSION"
    assert release(version.group(1)) == floors.dependency_floors()["torch"]


def test_make_install_pins_each_floor_but_torch():
    lines = floors.constraints()
    pinned = {name: (major, minor) for name, (major, minor) in floors.dependency_floors().items()}
    pinned.pop("torch")  # the Makefile's own TORCH_VERSION, never swapped for another build
    assert lines == [f"{name}=={major}.{minor}.*" for name, (major, minor) in pinned.items()]


def test_requirement_parsing():
    assert floors.parse("hydra-core>=1.3,<1.4") == ("hydra-core", (1, 3))
    assert floors.parse("Pillow >= 13") == ("pillow", (13, 0))
    assert floors.parse("typing_extensions") == ("typing-extensions", None)
    assert floors.parse("numpy<3") == ("numpy", None)
