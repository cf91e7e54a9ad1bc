"""Per-render work budget, and the size and regex guards that charge it.

Every Jinja render runs with a :class:`Budget` (loop iterations and calls, characters built) in a
context variable. Guarded filters, operators and ``str`` methods :func:`charge` it with the size
of what they are about to build, so running out raises ``SecurityError`` before the memory is
spent. Regular expressions are refused when they could backtrack exponentially, and the input a
pattern may scan shrinks as its quantifier count grows.
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from jinja2.exceptions import SecurityError

MAX_SOURCE = 8 * 1024  # characters of template source
MAX_OUTPUT = 64 * 1024  # characters a render may return
MAX_WORK = 4 * 1024 * 1024  # characters a render may build (output, joins, concatenations ...)
MAX_OPS = 50_000  # loop iterations + calls per render
MAX_COUNT = 10_000  # widths, ranges, batch sizes
MAX_REGEX_INPUT = 4096


# ---- per-render budget -----------------------------------------------------------------------
class Budget:
    __slots__ = ("chars", "ops")

    def __init__(self) -> None:
        self.ops = MAX_OPS
        self.chars = MAX_WORK


BUDGET: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("spark_budget", default=None)


def charge(chars: int = 0, ops: int = 0) -> None:
    budget = BUDGET.get()
    if budget is not None:
        budget.chars -= chars
        budget.ops -= ops
        if budget.chars < 0 or budget.ops < 0:
            raise SecurityError("template exceeds its work budget (loops, calls or text built)")


def size_of(obj: Any) -> int:
    """Characters needed to print ``obj``; the walk stops once past the remaining budget."""
    budget = BUDGET.get()
    limit = budget.chars + 1 if budget is not None else MAX_WORK
    total, stack = 0, [obj]
    while stack and total <= limit:
        item = stack.pop()
        if isinstance(item, str | bytes):
            total += len(item)
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 1
        elif isinstance(item, dict | list | tuple | set | frozenset):
            total += 2 + 4 * len(item)
            if total <= limit:
                stack.extend(item.items() if isinstance(item, dict) else item)
        else:
            total += 8
    return total


def check_count(value: Any) -> int:
    number = value if isinstance(value, int) and not isinstance(value, bool) else 0
    if number > MAX_COUNT:
        raise SecurityError(f"width or count {number} is larger than {MAX_COUNT}")
    return max(number, 0)


# ---- size guards -----------------------------------------------------------------------------
_PCT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0 +-]*(\*|\d+)?(?:\.(\*|\d+))?")
FORMAT_SPEC = re.compile(r"\{[^{}]*:[^{}]*(?:\{|\d{5,})")


def _check_percent(fmt: str) -> None:
    for match in _PCT_SPEC.finditer(fmt):
        for part in match.groups():
            if part == "*" or (part and int(part) > MAX_COUNT):
                raise SecurityError("format width or precision too large")


def replace_cost(s: Any, old: Any = "", new: Any = "", count: Any = None, *_: Any) -> int:
    text, old, new = str(s), str(old), str(new)
    hits = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    return len(text) + hits * len(new)


def format_cost(fmt: Any, *args: Any, **kwargs: Any) -> int:
    fmt = str(fmt)
    _check_percent(fmt)
    widest = max((size_of(a) for a in (*args, *kwargs.values())), default=0)
    return len(fmt) + fmt.count("%") * widest


GUARDED_FILTERS: dict[str, Callable[..., int]] = {
    "center": lambda v, width=80, *a: len(str(v)) + check_count(width),
    "indent": lambda s, width=4, *a, **k: (
        size_of(s)
        + (str(s).count("\n") + 1) * (len(width) if isinstance(width, str) else check_count(width))
    ),
    "batch": lambda v, linecount, *a: check_count(linecount),
    "slice": lambda v, slices, *a: check_count(slices),
    "replace": replace_cost,
    "format": format_cost,
    **dict.fromkeys(
        ("tojson", "string", "pprint", "urlencode", "xmlattr", "wordwrap", "urlize", "list"),
        lambda v, *a, **k: 2 * size_of(v),
    ),
    **dict.fromkeys(("e", "escape", "forceescape"), lambda v, *a, **k: 6 * size_of(v)),
}
"""Built-in Jinja filters whose output can outgrow their input: filter name -> cost of a call."""
STR_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})


# ---- regex guards ----------------------------------------------------------------------------
def _quantifiers(pattern: str) -> int | None:
    """Count quantifiers; None for a repeated group that itself repeats or alternates
    (``(a+)+``, ``(a|aa)*``: exponential backtracking)."""
    stack, count, i = [False], 0, 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 1
        elif char == "[":
            i += 2 if pattern[i + 1 : i + 2] == "^" else 1
            i += 1 if pattern[i : i + 1] == "]" else 0
            while i < len(pattern) and pattern[i] != "]":
                i += 2 if pattern[i] == "\\" else 1
        elif char == "(":
            stack.append(False)
        elif char == ")" and len(stack) > 1:
            inner = stack.pop()
            if inner and pattern[i + 1 : i + 2] in ("*", "+", "{"):
                return None
            stack[-1] = stack[-1] or inner
        elif char == "|":
            stack[-1] = True
        elif char in "*+{" or (char == "?" and pattern[i - 1 : i] not in ("(", "*", "+", "?", "}")):
            stack[-1] = True
            count += 1
        i += 1
    return count


# Backtracking grows like len(input) ** (quantifiers + 1): the more quantifiers, the shorter the
# input a pattern may scan (Python's re has no timeout). Patterns with more are refused.
_REGEX_INPUT_LIMITS = (MAX_REGEX_INPUT, MAX_REGEX_INPUT, 1024, 256, 64, 32, 32)


@lru_cache(maxsize=256)
def _regex(pattern: str, ignorecase: bool) -> tuple[re.Pattern[str], int]:
    count = _quantifiers(pattern) if isinstance(pattern, str) and len(pattern) <= 256 else None
    if count is None or count >= len(_REGEX_INPUT_LIMITS):
        raise SecurityError(
            "regular expression refused: longer than 256 characters, nested repetition "
            f"or more than {len(_REGEX_INPUT_LIMITS) - 1} quantifiers"
        )
    return re.compile(pattern, re.IGNORECASE if ignorecase else 0), _REGEX_INPUT_LIMITS[count]


def regex_input(value: Any, find: str, ignorecase: bool) -> tuple[re.Pattern[str], str]:
    """The compiled ``find`` and ``value`` as text, once both pass the regex guards."""
    regex, limit = _regex(find, bool(ignorecase))
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        raise SecurityError(f"input of {len(text)} characters too long for regex {find!r}")
    return regex, text
