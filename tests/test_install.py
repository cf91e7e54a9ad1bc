"""Installing Prime Spark: the wheel builds without setuptools warnings and ships its data files;
scripts/bootstrap.sh (run by scripts/up and scripts/test) skips pip when nothing changed."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_wheel_builds_without_setuptools_warnings_and_holds_its_data(tmp_path: Path) -> None:
    # pip's isolated build, as `pip install` runs it (setuptools from pyproject's build-system),
    # of a copy: setuptools writes build/ and *.egg-info beside the sources
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".venv", ".git", "build", "dist", ".spark", "__pycache__", "*.egg-info", ".*_cache",
        "test-artifacts"))
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                          "-w", str(tmp_path), str(src)],
                         capture_output=True, text=True, check=False, timeout=600)
    assert out.returncode == 0, out.stderr
    backend = [line for line in (out.stdout + out.stderr).splitlines()
               if not line.startswith("WARNING: Location")]  # the machine's pip index config
    text = "\n".join(backend)
    assert "absent from the `packages` configuration" not in text
    assert "project.license" not in text and "License classifiers" not in text
    assert "Warning" not in text, text
    (wheel,) = tmp_path.glob("prime_spark-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "spark/ui/api/data/common_passwords.txt" in names
    assert "spark/nodes/vision/samples/01_astronaut.jpg" in names
    assert "spark/nodes/vision/samples/LICENSES.md" in names


def _stamp_key(python: Path) -> str:
    """The key scripts/bootstrap.sh writes into .venv/.prime-spark-installed (its 'key=' line)."""
    version = subprocess.run([str(python), "-VV"], capture_output=True, text=True,
                             check=True).stdout
    data = (ROOT / "pyproject.toml").read_bytes() + (ROOT / "setup.py").read_bytes()
    return hashlib.sha256(data + version.encode()).hexdigest()[:32]


def test_bootstrap_skips_pip_when_nothing_changed() -> None:
    python = ROOT / ".venv" / "bin" / "python"
    stamp = ROOT / ".venv" / ".prime-spark-installed"
    key = f"{_stamp_key(python)} test"
    if not stamp.is_file() or key not in stamp.read_text().splitlines():
        pytest.skip("this .venv was not installed by scripts/bootstrap.sh test against the "
                    "current pyproject.toml and setup.py (scripts/test runs it first)")
    before = os.stat(stamp)
    out = subprocess.run(["bash", str(ROOT / "scripts" / "bootstrap.sh"), "test"],
                         capture_output=True, text=True, check=False, timeout=600)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "" and out.stderr == ""  # no pip, no setuptools, no apt
    after = os.stat(stamp)  # pip's run rewrites the stamp (a new file moved into place)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
