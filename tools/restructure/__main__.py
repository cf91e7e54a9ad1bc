"""Issue 14's move into layers, re-runnable on any later tree of the project.

    python -m tools.restructure            # print the plan, change nothing
    python -m tools.restructure --apply    # git mv, rewrite, stage; refuses to run twice
    python -m tools.restructure --report   # the import-contract violations of the tree as it is

Run from the repository root with the project's virtualenv (it calls ``python -m ruff``). Then
re-install (``pip install -e .[test]``: the package layout changed) and commit the staged result.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

from tools.restructure import plan
from tools.restructure.codemod import (
    Mapping,
    extract,
    rewrite_python,
    set_docstring,
    top_level_names,
)


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True,
                          text=True).stdout


def refuse(root: Path) -> str | None:
    if (root / "core").exists() or not (root / "hub" / "topics.py").exists():
        return "already applied (core/ exists or hub/topics.py is gone): nothing to do"
    if git(root, "status", "--porcelain", "--untracked-files=no").strip():
        return "the work tree has uncommitted changes: commit or stash them first"
    return None


def moves(root: Path) -> tuple[tuple[str, str], ...]:
    return plan.MOVES + tuple(mv for mv in plan.IF_PRESENT if (root / mv[0]).exists())


def before_move(path: str) -> str:
    for old, new in plan.MOVES + plan.IF_PRESENT:
        if path == new or path.startswith(new + "/"):
            return old + path[len(new):]
    return path


def preflight(root: Path) -> list[str]:
    """Everything the plan names must exist in this tree, checked before anything changes."""
    problems = [f"move: {old} is missing" for old, _new in plan.MOVES if not (root / old).exists()]
    problems += [f"move: {new} exists already"
                 for _old, new in moves(root) if (root / new).exists()]
    for src, names, _dst, _doc in plan.EXTRACTS:
        path = root / before_move(src)
        defined = top_level_names(path.read_text()) if path.exists() else set()
        problems += [f"extract: {name} is not defined at the top of {before_move(src)}"
                     for name in names if name not in defined]
    return problems


def rewritable(path: str) -> bool:
    if path.startswith(plan.SKIP_PREFIXES) or ".egg-info/" in path:
        return False
    return path.endswith((".py", *plan.TEXT_SUFFIXES)) or path in plan.TEXT_FILES


def report(root: Path) -> int:
    spec = importlib.util.spec_from_file_location("arch", root / "tests" / "test_architecture.py")
    arch = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = arch  # dataclasses look their module up
    spec.loader.exec_module(arch)
    found = arch.check(root)
    for v in found:
        print(v)
    known = set(arch.KNOWN)
    print(f"{len(found)} violations ({sum(v.key not in known for v in found)} not in KNOWN)")
    return 0


def apply(root: Path) -> int:
    why = refuse(root)
    problems = [] if why else preflight(root)
    if why or problems:
        print(f"restructure: {why or 'the plan does not fit this tree, nothing changed:'}",
              *problems, sep="\n  ", file=sys.stderr)
        return 1
    try:
        return _apply(root)
    except BaseException:
        # the tree was clean: put it back as it was (new folders are untracked until the end)
        print("restructure: failed, restoring the tree (git reset --hard, new files removed)",
              file=sys.stderr)
        git(root, "reset", "-q", "--hard")
        git(root, "clean", "-fdq", "--", *plan.NEW_FILES, "core", "app")
        raise


def _apply(root: Path) -> int:
    old_files = git(root, "ls-files").splitlines()
    m = Mapping.build(root, old_files, moves(root))
    for old, new in moves(root):
        (root / new).parent.mkdir(parents=True, exist_ok=True)
        git(root, "mv", old, new)
        print(f"moved    {old} -> {new}")
    for path, text in plan.NEW_FILES.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
        print(f"created  {path}")
    for src, names, dst, doc in plan.EXTRACTS:
        extract(root, src, names, dst, doc)
        print(f"extract  {src}: {', '.join(names)} -> {dst}")
    for path, doc in plan.DOCSTRINGS.items():
        set_docstring(root / path, doc)
    git(root, "add", "-A", *plan.LAYERS, "setup.py")
    files = [f for f in git(root, "ls-files").splitlines() if rewritable(f)]
    changed = []
    for f in files:
        path = root / f
        try:
            text = path.read_text()
        except (UnicodeDecodeError, FileNotFoundError):
            continue
        new = rewrite_python(text, m) if f.endswith(".py") else m.prose(text)
        if f == "pyproject.toml":
            for pattern, repl in plan.PYPROJECT:
                new, n = re.subn(pattern, repl, new, count=1)
                if n != 1:
                    print(f"warning  pyproject.toml: no match for {pattern!r}", file=sys.stderr)
        if new != text:
            path.write_text(new)
            changed.append(f)
    print(f"rewrote  {len(changed)} files: {' '.join(changed)}")
    for f, old, new in plan.PATCHES:
        text = (root / f).read_text()
        if old not in text:
            print(f"warning  {f}: patch target gone: {old!r}", file=sys.stderr)
        (root / f).write_text(text.replace(old, new))
        changed += [f] if f not in changed else []
    py = [f for f in changed if f.endswith(".py")]
    extracted = sorted({f for s, _n, d, _doc in plan.EXTRACTS for f in (s, d)})
    ruff = [sys.executable, "-m", "ruff", "check", "--fix", "--quiet"]
    # the extracts copied their source's imports: drop the unused; then sort every import block
    subprocess.run([*ruff, "--select", "F401", *extracted], cwd=root, check=False)
    subprocess.run([*ruff, "--select", "I", *py, *extracted], cwd=root, check=False)
    long = subprocess.run([*ruff[:4], "--select", "E501", "--output-format", "concise", *py],
                          cwd=root, capture_output=True, text=True)
    if long.returncode:  # a longer name in a string or comment: wrap these by hand
        print(f"warning  lines now over the limit:\n{long.stdout}", file=sys.stderr)
    git(root, "add", "-A", *plan.LAYERS, "setup.py", *changed)
    print("staged   the result: review with `git diff --cached -M --stat`, then")
    print("         pip install -e .[test] (the package layout changed) and commit")
    print("\nimport contracts after the move (tests/test_architecture.py):")
    return report(root)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.restructure", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--apply", action="store_true", help="make the move (else: the plan)")
    parser.add_argument("--report", action="store_true", help="print import violations")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="repository root")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    if args.report:
        return report(root)
    if args.apply:
        return apply(root)
    for old, new in moves(root):
        print(f"move     {old} -> {new}")
    for src, names, dst, _doc in plan.EXTRACTS:
        print(f"extract  {src}: {', '.join(names)} -> {dst}")
    for path in plan.NEW_FILES:
        print(f"create   {path}")
    why = refuse(root)
    print(f"\nnot applicable: {why}" if why else "\nrun with --apply to make the move")
    return 0


if __name__ == "__main__":
    sys.exit(main())
