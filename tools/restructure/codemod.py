"""The engine: git mv per ``plan.MOVES``, definitions moved per ``plan.EXTRACTS``, then every
import, module path (``hub.cli``) and file path (``hub/api/view.py``) rewritten.

Python files: import statements are rewritten from their AST (so ``from a import x, y`` can split
when x moved); module and file paths only inside strings and comments, never in code, where
``hub.registry`` may be a variable's attribute. Other text files: module and file paths anywhere.
A dotted name is rewritten only when it names a module that exists in the old tree.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

from tools.restructure import plan

ROOTS = "|".join(plan.OLD_ROOTS)
DOTTED = re.compile(rf"(?<![\w.])(?:{ROOTS})(?:\.[A-Za-z_]\w*)+")
BARE = re.compile(rf"(?<![\w.])(?:{ROOTS})(?=\.{{)")  # f"nodes.{kind}.about": a module path
PATH = re.compile(rf"(?<![\w./-])(?:{ROOTS})/[\w./-]*\w")
WIDTH = 100


def top_level_names(text: str) -> set[str]:
    names = set()
    for node in ast.parse(text).body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names


def module_of(path: str) -> str:
    parts = list(Path(path).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@dataclass
class Mapping:
    """Old names to new ones: modules (dotted), files (paths), moved definitions."""

    old_modules: set[str]
    defined: dict[str, set[str]]  # old module -> its top-level names
    packages: set[str]
    moves: list[tuple[str, str]] = field(default_factory=list)  # (old module, new module)
    paths: list[tuple[str, str]] = field(default_factory=list)  # (old path, new path)
    symbols: dict[tuple[str, str], str] = field(default_factory=dict)  # (new module, name) -> new

    @classmethod
    def build(cls, root: Path, old_files: list[str],
              moves: tuple[tuple[str, str], ...]) -> Mapping:
        py = [f for f in old_files if f.endswith(".py") and f.split("/")[0] in plan.OLD_ROOTS]
        defined = {module_of(f): top_level_names((root / f).read_text()) for f in py}
        mods = set(defined) | {m.rpartition(".")[0] for m in defined if "." in m}
        packages = {module_of(f) for f in py if f.endswith("__init__.py")}
        m = cls(mods, defined, packages)
        for old, new in sorted(moves, key=lambda mv: -len(mv[0])):
            m.moves.append((module_of(old), module_of(new)))
            m.paths.append((old.removesuffix(".py"), new.removesuffix(".py")))
        for src, names, dst, _doc in plan.EXTRACTS:
            for name in names:
                m.symbols[(f"{plan.PACKAGE}.{module_of(src)}", name)] = \
                    f"{plan.PACKAGE}.{module_of(dst)}"
        return m

    def module(self, old: str) -> str:
        for src, dst in self.moves:
            if old == src or old.startswith(src + "."):
                return f"{plan.PACKAGE}.{dst}{old[len(src):]}"
        return f"{plan.PACKAGE}.{old}"

    def name(self, module: str, name: str) -> tuple[str, str]:
        """Where ``from <old module> import <name>`` now imports from, and the name there."""
        full = f"{module}.{name}"
        if full in self.old_modules:
            new = self.module(full)
            return new.rpartition(".")[0], new.rpartition(".")[2]
        new = self.module(module)
        return self.symbols.get((new, name), new), name

    def dotted(self, text: str, prefix: bool = True) -> str:
        """Module paths in text; ``prefix=False`` writes them as in the repository (prose)."""
        def one(m: re.Match[str]) -> str:
            parts = m.group(0).split(".")
            for n in range(len(parts), 0, -1):
                head = ".".join(parts[:n])
                if head not in self.old_modules:
                    continue
                if n == len(parts):
                    same = self.module(head) == f"{plan.PACKAGE}.{head}"
                    tail = m.string[m.end():m.end() + 1]
                    # a package that stays put, named alone: `bridges.sinks` is also a config key
                    code = m.string[max(0, m.start() - 8):m.start()].endswith(
                        ("from ", "import ", "-m ", "module '"))  # code, not a config key
                    key = same and head in self.packages and tail != "." and not code
                    new = self.module(head) if n > 1 and not key else m.group(0)
                elif parts[n] in self.defined.get(head, ()):  # a name of that module
                    target, name = self.name(head, parts[n])
                    new = ".".join([target, name, *parts[n + 1:]])
                else:  # `hub.id`, `bridges.ingest.client_id`: config keys, not code
                    new = m.group(0)
                return new if prefix else new.removeprefix(plan.PACKAGE + ".")
            return m.group(0)
        return DOTTED.sub(one, text)

    def path(self, text: str) -> str:
        def one(m: re.Match[str]) -> str:
            old = m.group(0)
            for src, dst in self.paths:
                if old == src or old.startswith((src + "/", src + ".py")):
                    return dst + old[len(src):]
            return old
        return PATH.sub(one, text)

    def prose(self, text: str, prefix: bool = True) -> str:
        return self.path(self.dotted(text, prefix))


def _format_from(indent: str, module: str, names: list[str]) -> str:
    line = f"{indent}from {module} import {', '.join(names)}"
    if len(line) <= WIDTH:
        return line
    inner = indent + "    "
    body, row = [], inner
    for n in names:
        piece = f"{n},"
        if len(row) + len(piece) + 1 > WIDTH and row.strip():
            body.append(row.rstrip())
            row = inner
        row += piece + " "
    body.append(row.rstrip())
    return f"{indent}from {module} import (\n" + "\n".join(body) + f"\n{indent})"


def _rewrite_import(node: ast.stmt, indent: str, m: Mapping) -> str | None:
    roots = plan.OLD_ROOTS
    if isinstance(node, ast.Import):
        if not any(a.name.split(".")[0] in roots for a in node.names):
            return None
        names = []
        for a in node.names:
            if a.name.split(".")[0] not in roots:
                names.append(a.name + (f" as {a.asname}" if a.asname else ""))
            else:
                names.append(m.module(a.name) + (f" as {a.asname}" if a.asname else ""))
        return f"{indent}import {', '.join(names)}"
    if isinstance(node, ast.ImportFrom) and not node.level and node.module \
            and node.module.split(".")[0] in roots:
        groups: dict[str, list[str]] = {}
        for a in node.names:
            target, name = m.name(node.module, a.name)
            alias = a.asname or (a.name if name != a.name else None)
            groups.setdefault(target, []).append(name + (f" as {alias}" if alias else ""))
        return "\n".join(_format_from(indent, mod, names) for mod, names in groups.items())
    return None


def _outside_braces(text: str, fn) -> str:
    """Apply ``fn`` to the literal parts of an f-string token, not to its {expressions}."""
    out, depth, start = [], 0, 0
    i = 0
    while i < len(text):
        c = text[i]
        if c in "{}" and text[i:i + 2] in ("{{", "}}") and depth == 0:
            i += 2
            continue
        if c == "{":
            if depth == 0:
                out.append(fn(text[start:i]))
                start = i
            depth += 1
        elif c == "}" and depth:
            depth -= 1
            if depth == 0:
                out.append(text[start:i + 1])
                start = i + 1
        i += 1
    out.append(fn(text[start:]) if depth == 0 else text[start:])
    return "".join(out)


def rewrite_python(text: str, m: Mapping) -> str:
    lines = text.splitlines(keepends=True)
    tree = ast.parse(text)
    for node in sorted((n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)),
                       key=lambda n: -n.lineno):
        indent = re.match(r"\s*", lines[node.lineno - 1]).group(0)
        new = _rewrite_import(node, indent, m)
        if new is None:
            continue
        first, last = node.lineno - 1, node.end_lineno - 1
        tail = lines[last][node.end_col_offset:]  # a trailing comment, the newline
        head = lines[first][:node.col_offset]
        if head.strip():  # `if x: import y` on one line: keep it simple, leave it
            continue
        lines[first:last + 1] = [new + tail]
    text = "".join(lines)
    # strings and comments: module and file paths
    offsets = [0]
    for line in text.splitlines(keepends=True):
        offsets.append(offsets[-1] + len(line))
    edits = []
    tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    skip = {tokenize.NL, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT}
    for i, tok in enumerate(tokens):
        if tok.type not in (tokenize.STRING, tokenize.COMMENT):
            continue
        start = offsets[tok.start[0] - 1] + tok.start[1]
        end = offsets[tok.end[0] - 1] + tok.end[1]
        # comments and docstrings name modules as the repository does (core.topics); strings
        # the code uses (importlib, `-m`, entry points, logger names) get the installed name
        before = next((t for t in reversed(tokens[:i]) if t.type not in skip), None)
        after = next((t for t in tokens[i + 1:] if t.type not in skip), None)
        prose = tok.type == tokenize.COMMENT or (
            (before is None or before.type == tokenize.NEWLINE)
            and (after is None or after.type in (tokenize.NEWLINE, tokenize.ENDMARKER)))
        if tok.type == tokenize.COMMENT:
            new = m.prose(tok.string, prefix=False)
        elif "f" in re.match(r"[A-Za-z]*", tok.string).group(0).lower():
            new = tok.string if prose else BARE.sub(rf"{plan.PACKAGE}.\g<0>", tok.string)
            new = _outside_braces(new, lambda s, p=not prose: m.prose(s, p))
        else:
            new = m.prose(tok.string if prose else BARE.sub(rf"{plan.PACKAGE}.\g<0>", tok.string),
                          prefix=not prose)
        if new != tok.string:
            edits.append((start, end, new))
    for start, end, new in reversed(edits):
        text = text[:start] + new + text[end:]
    return text


def extract(root: Path, src: str, names: tuple[str, ...], dst: str, doc: str) -> None:
    """Move top-level definitions of ``names`` from ``src`` into ``dst`` (created or appended),
    with a copy of ``src``'s top-level imports (the caller's ruff F401 pass drops the unused)."""
    src_path, dst_path = root / src, root / dst
    text = src_path.read_text()
    lines = text.splitlines(keepends=True)
    tree = ast.parse(text)
    picked, imports, found = [], [], set()
    for node in tree.body:
        defined = set()
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            defined = {node.name}
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            defined = {t.id for t in targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.Import | ast.ImportFrom):
            imports.append("".join(lines[node.lineno - 1:node.end_lineno]))
        if defined & set(names):
            found |= defined & set(names)
            first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
            picked.append((first - 1, node.end_lineno))
    missing = set(names) - found
    if missing:
        raise SystemExit(f"extract: {sorted(missing)} not defined at the top of {src}")
    block = "\n\n".join("".join(lines[a:b]).rstrip() + "\n" for a, b in picked)
    for a, b in reversed(picked):
        del lines[a:b]
    rest = re.sub(r"\n{4,}", "\n\n\n", "".join(lines))
    used = {n.id for n in ast.walk(ast.parse(rest)) if isinstance(n, ast.Name)}
    back = [n for n in names if n in used]
    if back:
        module = f"{plan.PACKAGE}.{module_of(dst)}"
        last = max(n.end_lineno for n in ast.parse(rest).body
                   if isinstance(n, ast.Import | ast.ImportFrom))
        rest_lines = rest.splitlines(keepends=True)
        rest_lines.insert(last, f"from {module} import {', '.join(back)}\n")
        rest = "".join(rest_lines)
    src_path.write_text(rest)
    if dst_path.exists():
        old = dst_path.read_text().rstrip() + "\n"
        dst_path.write_text(old + "".join("\n" + i for i in imports) + "\n\n" + block)
    else:
        dst_path.parent.mkdir(parents=True, exist_ok=True)
        dst_path.write_text(f'"""{doc}"""\n\n' + "".join(imports) + "\n\n" + block)


def set_docstring(path: Path, doc: str) -> None:
    text = path.read_text()
    tree = ast.parse(text)
    new = f'"""{doc}"""\n'
    first = tree.body[0] if tree.body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
            and isinstance(first.value.value, str):
        lines = text.splitlines(keepends=True)
        text = new + "".join(lines[first.end_lineno:])
    else:
        text = new + ("\n" + text if text.strip() else "")
    path.write_text(text)
