"""ARCHITECTURE.md matches the tree: every top-level folder and every package has its line, and
every package says its purpose in its own docstring."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("core", "nodes", "bridges", "hub", "ui", "app")
DOC = (ROOT / "ARCHITECTURE.md").read_text()


def _packages() -> list[Path]:
    return sorted(init.parent for layer in LAYERS for init in (ROOT / layer).rglob("__init__.py"))


def _dotted(package: Path) -> str:
    return ".".join(package.relative_to(ROOT).parts)


def test_every_tracked_top_level_folder_has_its_line() -> None:
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.splitlines()
    folders = {p.split("/", 1)[0] for p in tracked if "/" in p and not p.startswith(".")}
    section = DOC.split("## Top-level folders", 1)[1].split("\n## ", 1)[0]
    missing = [f for f in sorted(folders) if f"`{f}/`" not in section]
    assert not missing, f"ARCHITECTURE.md 'Top-level folders' lacks: {missing}"


def test_every_package_has_its_line_and_a_docstring() -> None:
    section = DOC.split("## Packages", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"`(?:spark\.)?([a-z_.]+)`", section))
    missing = [p for p in map(_dotted, _packages())
               if p not in listed and p.count(".") <= 1]  # layers and their direct packages
    assert not missing, f"ARCHITECTURE.md 'Packages' lacks: {missing}"
    undocumented = [_dotted(p) for p in _packages()
                    if not ast.get_docstring(ast.parse((p / "__init__.py").read_text()))]
    assert not undocumented, f"packages without a one-line purpose (docstring): {undocumented}"
