"""What ``pip install .[grader]`` may install: bounded like requirements.txt."""

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def pins() -> dict[str, Version]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    return {Requirement(line).name.lower(): Version(line.split("==")[1])
            for line in lines if "==" in line and not line.startswith("#")}


def test_grader_extra_is_bounded_around_the_pins():
    """An unbounded extra pulled whatever torch was newest (and its CUDA libraries)."""
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["grader"]
    pinned = pins()
    for requirement in map(Requirement, extra):
        assert any(spec.operator in ("<", "<=", "==", "~=") for spec in requirement.specifier), requirement
        packages = [requirement.name.lower(), *sorted(requirement.extras)]
        for name in packages:
            assert requirement.specifier.contains(pinned[name]), f"{requirement} excludes {name}=={pinned[name]}"


def test_readme_says_how_to_install_torch_without_cuda():
    readme = (ROOT / "README.md").read_text()
    assert "--index-url https://download.pytorch.org/whl/cpu" in readme
