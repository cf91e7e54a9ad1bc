"""Regular expressions that come from the network (a lock's ``code_format``), made safe to run.

Python's ``re`` has no timeout, and a pattern a discovery config sends runs on the hub's event
loop, so a pattern is refused unless its worst case is small on the inputs it will see:

- at most :data:`MAX_PATTERN` characters, and it must compile;
- no backreferences (matching them is exponential in general);
- no repeat (``*``, ``+``, ``{2,}``, ``{3}`` ...) around a part that can itself match in
  several ways: a variable repeat (``(a+)+``, ``(\\d{1,3}){4}``) or an alternation
  (``(a|ab)*``), the shapes of catastrophic backtracking;
- at most :data:`MAX_VARIABLE` variable repeats in all (``\\d*\\d*\\d*\\d*x`` backtracks in
  n to the power of their count), and nested repeats that run their innermost part at most
  :data:`MAX_RUNS` times (``((a{64}){64}){64}`` is refused).

The text matched is bounded by its caller (:data:`MAX_TEXT`: a code of at most 64
characters), so what is left costs at most about 64 ** 3 steps. The pattern is read by the
standard library's own parser (``re._parser``), so what is checked is what ``re`` compiles.
"""

from __future__ import annotations

import re
from typing import Any

MAX_PATTERN = 100  # characters of a pattern from the network
MAX_VARIABLE = 3  # variable repeats in one pattern
MAX_TEXT = 64  # characters of the text matched (the caller bounds it)
MAX_RUNS = 4096  # times nested repeats may run their innermost part

try:  # the parser ``re.compile`` uses (Python 3.11+; not in the typing stubs)
    from re import _constants as _c  # type: ignore[attr-defined]
    from re import _parser  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - another Python: every pattern is refused
    _parser = _c = None


def safe_regex(pattern: str, what: str = "pattern") -> re.Pattern[str]:
    """``pattern`` compiled, or a ``ValueError`` saying why it is refused."""
    if len(pattern) > MAX_PATTERN:
        raise ValueError(f"{what} longer than {MAX_PATTERN} characters")
    try:
        compiled = re.compile(pattern)
    except (re.error, OverflowError, RecursionError) as exc:
        raise ValueError(f"{what} is not a valid regular expression: {exc}") from None
    if _parser is None:  # pragma: no cover
        raise ValueError(f"{what}: regular expressions cannot be checked on this Python")
    variable = _walk(_parser.parse(pattern).data, inside_repeat=False, what=what)
    if variable > MAX_VARIABLE:
        raise ValueError(f"{what} has {variable} variable repeats; at most {MAX_VARIABLE}")
    return compiled


def _walk(items: list[tuple[Any, Any]], *, inside_repeat: bool, what: str,
          outer: int = 1) -> int:
    """The variable repeats in ``items`` (a parsed pattern); refuses the unsafe shapes.
    ``outer``: how many times the enclosing repeats may run ``items`` at most."""
    count = 0
    for op, arg in items:
        if op in (_c.GROUPREF, _c.GROUPREF_EXISTS):
            raise ValueError(f"{what} may not use backreferences")
        if op in (_c.MAX_REPEAT, _c.MIN_REPEAT, _c.POSSESSIVE_REPEAT):
            low, high, body = arg
            variable = low != high
            if inside_repeat and variable:
                raise ValueError(f"{what} has a repeat inside a repeat (catastrophic "
                                 "backtracking)")
            # an unbounded repeat runs at most once per character (an empty pass ends it)
            times = outer * (MAX_TEXT if high == _c.MAXREPEAT else high)
            if times > MAX_RUNS:
                raise ValueError(f"{what} repeats more than {MAX_RUNS} times")
            count += variable + _walk(list(body), inside_repeat=inside_repeat or high > 1,
                                      what=what, outer=max(times, 1))
        elif op == _c.BRANCH:
            if inside_repeat:
                raise ValueError(f"{what} has an alternation inside a repeat (catastrophic "
                                 "backtracking)")
            for branch in arg[1]:
                count += _walk(list(branch), inside_repeat=False, what=what, outer=outer)
        elif op == _c.SUBPATTERN:
            count += _walk(list(arg[3]), inside_repeat=inside_repeat, what=what, outer=outer)
        elif op in (_c.ASSERT, _c.ASSERT_NOT):
            count += _walk(list(arg[1]), inside_repeat=inside_repeat, what=what, outer=outer)
        elif op == _c.ATOMIC_GROUP:
            count += _walk(list(arg), inside_repeat=inside_repeat, what=what, outer=outer)
    return count
