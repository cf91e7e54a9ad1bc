"""Sum up the parts of ``scripts/test``: one line, ``summary: N passed, N failed, N skipped``.

Usage: summarise_junit.py REPORT_DIR [FAILED_PART ...]

Every ``*.xml`` JUnit report in REPORT_DIR is counted (pytest's ``--junitxml``). A part that
failed without a failing test (lint, a pytest run that crashed or never wrote its report) adds
one failure of its own, so the line can never read "0 failed" when something went wrong.
Exit status: 1 if anything failed, else 0.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def count(report: Path) -> tuple[int, int, int]:
    """(passed, failed, skipped) of one JUnit report; errors count as failures."""
    root = ET.parse(report).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    passed = failed = skipped = 0
    for suite in suites:
        tests = int(suite.get("tests", 0))
        bad = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        skip = int(suite.get("skipped", 0))
        passed += tests - bad - skip
        failed += bad
        skipped += skip
    return passed, failed, skipped


def main(argv: list[str]) -> int:
    reports = sorted(Path(argv[1]).glob("*.xml"))
    failed_parts = argv[2:]
    passed = failed = skipped = 0
    test_failures_in: set[str] = set()
    for report in reports:
        try:
            p, f, s = count(report)
        except (ET.ParseError, ValueError) as exc:
            print(f"unreadable test report {report.name}: {exc}")
            failed += 1
            continue
        passed, failed, skipped = passed + p, failed + f, skipped + s
        if f:
            test_failures_in.add(report.stem)
    for part in failed_parts:
        print(f"failed part: {part}")
        name = part.split(" ")[0].removeprefix("pytest-")
        if name not in test_failures_in:  # its failing tests are not already counted
            failed += 1
    print(f"summary: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed or failed_parts else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
