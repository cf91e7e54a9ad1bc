"""scripts/summarise_junit.py: the one summary line of scripts/test, from JUnit reports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "summarise_junit.py"


def _report(path: Path, tests: int, failures: int = 0, errors: int = 0, skipped: int = 0) -> None:
    path.write_text(
        f'<?xml version="1.0"?><testsuites><testsuite name="pytest" tests="{tests}" '
        f'failures="{failures}" errors="{errors}" skipped="{skipped}"/></testsuites>')


def _run(folder: Path, *failed_parts: str) -> tuple[int, list[str]]:
    out = subprocess.run([sys.executable, str(SCRIPT), str(folder), *failed_parts],
                         capture_output=True, text=True, check=False)
    return out.returncode, out.stdout.splitlines()


def test_all_parts_are_added_up(tmp_path: Path) -> None:
    _report(tmp_path / "main.xml", tests=10, skipped=2)
    _report(tmp_path / "test_ui.xml", tests=5)
    rc, lines = _run(tmp_path)
    assert rc == 0
    assert lines[-1] == "summary: 13 passed, 0 failed, 2 skipped"


def test_a_failing_part_fails_the_run_and_its_tests_are_counted_once(tmp_path: Path) -> None:
    _report(tmp_path / "main.xml", tests=10, failures=1, errors=1)
    _report(tmp_path / "test_ui.xml", tests=5)
    rc, lines = _run(tmp_path, "pytest-main (exit 1)")
    assert rc == 1
    assert lines[-1] == "summary: 13 passed, 2 failed, 0 skipped"


def test_a_part_without_failing_tests_still_counts_as_a_failure(tmp_path: Path) -> None:
    _report(tmp_path / "main.xml", tests=3)
    rc, lines = _run(tmp_path, "lint (exit 1)", "pytest-test_ui (exit 3)")  # ui crashed: no xml
    assert rc == 1
    assert "failed part: lint (exit 1)" in lines
    assert lines[-1] == "summary: 3 passed, 2 failed, 0 skipped"


def test_an_unreadable_report_is_a_failure(tmp_path: Path) -> None:
    (tmp_path / "main.xml").write_text("<testsuites")
    rc, lines = _run(tmp_path)
    assert rc == 1
    assert lines[-1] == "summary: 0 passed, 1 failed, 0 skipped"
