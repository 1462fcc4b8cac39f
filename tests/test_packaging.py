"""Packaging metadata of the package and its bundled plugins, as setuptools reads it.

``make run`` installs the package and every plugin in editable mode; a deprecated form in any
``pyproject.toml`` prints a screenful of warnings per project before the daemon starts, which
is the first thing a new user sees.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECTS = [ROOT, *sorted(p.parent for p in ROOT.glob("plugins/*/pyproject.toml"))]

# Applies the project's pyproject.toml the way a PEP 517 build does and prints every warning.
_APPLY = """
import warnings
from setuptools.config.pyprojecttoml import apply_configuration
from setuptools.dist import Distribution
with warnings.catch_warnings(record=True) as seen:
    warnings.simplefilter("always")
    apply_configuration(Distribution(), "pyproject.toml")
for w in seen:
    print(f"{w.category.__name__}: {str(w.message).splitlines()[0]}")
"""


@pytest.mark.parametrize("project", PROJECTS, ids=lambda p: p.name)
def test_pyproject_reads_without_setuptools_warnings(project: Path) -> None:
    meta = tomllib.loads((project / "pyproject.toml").read_text())
    assert meta["project"]["license"] == "MIT"  # an SPDX expression, not a table
    requires = meta["build-system"]["requires"]
    assert requires == ["setuptools>=77"], "PEP 639 license strings need setuptools 77"
    out = subprocess.run(
        [sys.executable, "-c", _APPLY],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout == "", out.stdout
    assert "Warning" not in out.stderr, out.stderr


def test_the_browser_is_installed_without_recommended_desktop_packages() -> None:
    """``make browser`` on a fresh machine installs the headless browser and one font family,
    not the printer, notification and power packages Debian's chromium recommends."""
    out = subprocess.run(
        ["make", "-n", "browser", "CHROMIUM=/nonexistent/chromium"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    installs = [line for line in out.replace("\\\n", " ").splitlines() if "apt-get install" in line]
    assert len(installs) == 1, out
    words = installs[0].split()
    assert "--no-install-recommends" in words, installs
    assert words[words.index("--no-install-recommends") + 1 :] == ["chromium", "fonts-liberation"]


# Builds the project's editable wheel as `pip install -e` does (PEP 660) and prints what
# setuptools says.
_EDITABLE = """
import sys
from setuptools import build_meta
build_meta.build_editable(sys.argv[1])
"""


@pytest.mark.parametrize("project", PROJECTS, ids=lambda p: p.name)
def test_an_editable_install_prints_no_warning(project: Path, tmp_path: Path) -> None:
    """setuptools' import-finder mode warns about same-named folders on every editable
    install; a package directory mapped as ``{"" = "."}`` installs as a plain path entry.
    Built from a copy: workers building one source tree at once would trip over each other."""
    copy = tmp_path / project.name
    copy.mkdir()
    for item in project.iterdir():
        if item.is_file():
            shutil.copy2(item, copy / item.name)
        elif item.name.startswith("xbtcpay") and not item.name.endswith(".egg-info"):
            shutil.copytree(item, copy / item.name, ignore=shutil.ignore_patterns("__pycache__"))
    out = subprocess.run(
        [sys.executable, "-W", "always", "-c", _EDITABLE, str(tmp_path / "wheel")],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    said = out.stderr + out.stdout
    assert "Warning" not in said and "Please be careful" not in said, out.stderr
    assert list((tmp_path / "wheel").glob("*.whl"))
