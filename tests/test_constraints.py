"""``constraints.txt`` locks the installed versions: the environment the tests run in is exactly
the locked one, every dependency of ``pyproject.toml`` is locked within its range, and every way
of installing (``make install``, so ``make up`` and ``.ci/run``; the Docker image) uses it."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "pushflow"


def _locked() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"not an exact pin: {line!r}"
            pins[canonicalize_name(name)] = version
    return pins


def test_the_environment_is_the_locked_one() -> None:
    locked = _locked()
    installed: dict[str, str] = {canonicalize_name(d.metadata["Name"]): d.version
                                 for d in metadata.distributions()}
    installed = {name: version for name, version in installed.items()
                 if name not in {PROJECT, "pip", "setuptools", "wheel"}}
    assert installed == {name: locked.get(name) for name in installed}, (
        "the environment differs from constraints.txt: make clean install, or regenerate it "
        "(docs/operations.md)")


def test_every_dependency_is_locked_within_its_range() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    locked = _locked()
    for line in [*project["dependencies"], *project["optional-dependencies"]["dev"]]:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{name} is not in constraints.txt"
        assert requirement.specifier.contains(locked[name], prereleases=True), (
            f"{name}=={locked[name]} is outside {requirement.specifier}")


def test_every_install_uses_the_constraints() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"pip install .*-c constraints\.txt -e '\.\[dev\]'", makefile)
    assert re.search(r"^\$\(STAMP\): .*constraints\.txt", makefile, re.M)
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip wheel --no-cache-dir --wheel-dir /wheels -c constraints.txt ." in dockerfile
    assert "-c /wheels/constraints.txt /wheels/*.whl" in dockerfile
