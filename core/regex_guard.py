"""Bounds for regular expressions that come from the network (a template's ``regex_*`` filter,
a text entity's ``pattern``): a pattern of at most ``MAX_REGEX_SOURCE`` characters whose counted
repeats expand to at most ``MAX_REGEX_COST`` nodes (compile time ~3 ms at most), run by the
``regex`` package with a timeout (:func:`bounded_match`). ``hub.templates.limits`` builds the
template guards on these.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import regex

MAX_REGEX_SOURCE = 1024  # characters of a pattern
MAX_REGEX_COST = 4096  # counted repeats, nested ones multiplied (compile time ~3 ms at most)
MATCH_SECONDS = 0.05  # one match of a short text (a text entity's value, <= 255 characters)


def regex_cost(pattern: str) -> int:
    """Nodes the compiled pattern may expand to: a counted repeat multiplies what it repeats
    (``a{10}`` 10, ``(a{10}b){10}`` 110); unbounded ones (``*``, ``+``) count once."""
    stack, i, n = [0], 0, len(pattern)
    last = 0  # cost of the item a quantifier would apply to
    while i < n:
        char = pattern[i]
        if char == "\\":
            i += 2
            last = 1
            stack[-1] += 1
            continue
        if char == "[":
            i += 2 if pattern[i + 1 : i + 2] == "^" else 1
            i += 1 if pattern[i : i + 1] == "]" else 0
            while i < n and pattern[i] != "]":
                i += 2 if pattern[i] == "\\" else 1
            last = 1
            stack[-1] += 1
        elif char == "(":
            stack.append(0)
            last = 0
        elif char == ")" and len(stack) > 1:
            last = max(stack.pop(), 1)
            stack[-1] += last
        elif char == "{":
            match = _COUNTED.match(pattern, i)
            if match is not None:
                times = max(int(part) for part in match.groups() if part) if any(
                    match.groups()) else 1
                stack[-1] += last * (max(times, 1) - 1)  # the item itself is counted already
                last *= max(times, 1)
                i = match.end()
                continue
            last = 1
            stack[-1] += 1
        elif char not in "*+?|":
            last = 1
            stack[-1] += 1
        i += 1
    return sum(stack)


_COUNTED = re.compile(r"\{(\d{0,6}),?(\d{0,6})\}")


@lru_cache(maxsize=256)
def bounded_pattern(pattern: str) -> regex.Pattern[str]:
    """``pattern`` compiled once it passes the bounds; ``ValueError`` saying why not."""
    if len(pattern) > MAX_REGEX_SOURCE:
        raise ValueError(f"pattern longer than {MAX_REGEX_SOURCE} characters")
    cost = regex_cost(pattern)
    if cost > MAX_REGEX_COST:
        raise ValueError(f"pattern's counted repeats expand to {cost} nodes "
                         f"(at most {MAX_REGEX_COST})")
    import regex  # on first use only (the module costs ~2 MB)

    try:
        return regex.compile(pattern)
    except regex.error as exc:
        raise ValueError(f"invalid pattern: {exc}") from None


def bounded_match(pattern: str, text: str) -> bool:
    """Whether ``pattern`` matches at the start of ``text`` (as ``re.match``); a match that
    runs out of ``MATCH_SECONDS`` counts as no match."""
    try:
        return bounded_pattern(pattern).match(text, timeout=MATCH_SECONDS) is not None
    except TimeoutError:
        return False
