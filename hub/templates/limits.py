"""Per-render work budget, and the size and regex guards that charge it.

Every Jinja render runs with a :class:`Budget` (loop iterations and calls, characters built) in a
context variable. Guarded filters, operators and ``str`` methods :func:`charge` it with the size
of what they are about to build, so running out raises ``SecurityError`` before the memory is
spent.

Time is bounded too, cooperatively (a thread cannot be killed in CPython): every render has a
wall-time deadline (:data:`RENDER_SECONDS`, a render starts only when the :class:`TimeShare` allows)
checked at each loop step, call, operator and printed value, and regular expressions run on the
``regex`` package with a timeout of the time left. A pattern's compile cost (counted repeats,
nested: ``(a{100}){100}`` is 10,000) is checked before it is compiled.

A render that runs out of its own budget raises :class:`TemplateBudgetError` (the template is at
fault: the hub disables the entity; a render out of wall time but not of CPU time was
preempted and is not counted against it). A render starts only while the process-wide
:class:`TimeShare` has time left, else it raises :class:`TemplateBusyError` (slow templates
used the time: that message is dropped for that entity, nothing is disabled). So however many
entities share a topic, slow renders block one pass of the event loop for at most
:data:`SHARE_BURST` + one render budget, and every render that runs can finish or be judged.
"""

from __future__ import annotations

import contextvars
import re
import time
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from jinja2.exceptions import SecurityError

from spark.core.errors import TemplateLimitError
from spark.core.regex_guard import MAX_REGEX_COST, MAX_REGEX_SOURCE, regex_cost

if TYPE_CHECKING:
    import regex

MAX_SOURCE = 8 * 1024  # characters of template source
PREEMPT_EXTENSIONS = 4  # a preempted render's deadline moves on at most this often (5x wall)
MAX_TOKENS = 500  # Jinja tokens of a template (compiling costs ~25 us each: <= ~15-30 ms)
MAX_OUTPUT = 64 * 1024  # characters a render may return
MAX_WORK = 4 * 1024 * 1024  # characters a render may build (output, joins, concatenations ...)
MAX_OPS = 50_000  # loop iterations + calls per render
MAX_COUNT = 10_000  # widths, ranges, batch sizes
MAX_PAYLOAD = 1024 * 1024  # bytes of a payload a template reads (orjson parses it in ~1 ms)
MAX_REGEX_INPUT = 64 * 1024  # characters a regular expression may scan
RENDER_SECONDS = 0.020  # wall time of one render (the event loop's bound is 50 ms)
SHARE_BURST = 0.020  # seconds of slow template time the process may spend at once ...
SHARE_RATE = 0.5  # ... and per second of wall time after that
SHARE_FREE = 0.0005  # the first 0.5 ms of a render is free (typical: 20 us)


class TemplateBudgetError(TemplateLimitError):
    """The render ran out of its own budget (time, loop steps and calls, or text built)."""


class TemplateBusyError(TemplateLimitError):
    """The render was skipped because templates used their share of time (not its fault)."""


# ---- per-render budget -----------------------------------------------------------------------
class TimeShare:
    """A token bucket of slow template time: the part of each render or compile beyond ``free``
    is charged, and renders and compiles start only while time is left (then with their whole
    own budget), so slow templates together take at most ``burst`` + one budget at once and
    ``rate`` of wall time after that, however many entities and messages arrive in one pass of
    the event loop. Typical renders and compiles (well under ``free``) cost it nothing. One per
    :class:`~hub.templates.engine.TemplateEngine`."""

    __slots__ = ("_at", "_tokens", "burst", "free", "rate")

    def __init__(self, burst: float = SHARE_BURST, rate: float = SHARE_RATE,
                 free: float = SHARE_FREE) -> None:
        self.burst, self.rate, self.free = burst, rate, free
        self._tokens, self._at = burst, time.perf_counter()

    def available(self, now: float) -> float:
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        return self._tokens

    def spend(self, seconds: float) -> None:
        if seconds > self.free:
            self._tokens -= seconds - self.free


class Budget:
    """One render's budget. Time is wall time, but a render that reaches its deadline having
    had less than half of it on the CPU was preempted (a loaded machine), not slow: its deadline
    moves on by one budget, at most ``PREEMPT_EXTENSIONS`` times, so a hostile template is judged
    on the CPU it got and an honest one is not cut short because other processes ran."""

    __slots__ = ("chars", "cpu0", "deadline", "exceeded", "extensions", "ops", "seconds")

    def __init__(self, seconds: float = RENDER_SECONDS) -> None:
        self.ops = MAX_OPS
        self.chars = MAX_WORK
        self.seconds = seconds
        self.deadline = time.perf_counter() + seconds
        self.cpu0 = time.thread_time()
        self.extensions = 0
        self.exceeded: str | None = None  # what ran out: "time" or "work"

    def time_left(self) -> float:
        left = self.deadline - time.perf_counter()
        if left <= 0:
            self.out_of_time()
            left = self.deadline - time.perf_counter()  # extended: preempted, not slow
        return max(left, 0.0)

    def out_of_time(self) -> None:
        if (self.extensions < PREEMPT_EXTENSIONS
                and time.thread_time() - self.cpu0 < self.seconds / 2):
            self.extensions += 1
            self.deadline = time.perf_counter() + self.seconds
            return
        self.exceeded = "time"
        raise SecurityError(f"template exceeds its time budget ({self.seconds * 1000:g} ms)")


BUDGET: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("spark_budget", default=None)


def charge(chars: int = 0, ops: int = 0) -> None:
    budget = BUDGET.get()
    if budget is not None:
        budget.chars -= chars
        budget.ops -= ops
        if budget.chars < 0 or budget.ops < 0:
            budget.exceeded = "work"
            raise SecurityError("template exceeds its work budget (loops, calls or text built)")
        if time.perf_counter() > budget.deadline:
            budget.out_of_time()


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
@lru_cache(maxsize=256)
def _regex(pattern: str, ignorecase: bool) -> regex.Pattern[str]:
    if not isinstance(pattern, str) or len(pattern) > MAX_REGEX_SOURCE:
        raise SecurityError(f"regular expression refused: longer than {MAX_REGEX_SOURCE} "
                            "characters")
    cost = regex_cost(pattern)
    if cost > MAX_REGEX_COST:
        raise SecurityError(
            f"regular expression refused: its counted repeats expand to {cost} nodes "
            f"(at most {MAX_REGEX_COST})"
        )
    import regex  # only when a template uses a regex filter (the module costs ~2 MB)

    try:
        return regex.compile(pattern, regex.IGNORECASE if ignorecase else 0)
    except regex.error as exc:
        raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None


def regex_input(value: Any, find: str, ignorecase: bool) -> tuple[regex.Pattern[str], str]:
    """The compiled ``find`` and ``value`` as text, once both pass the regex guards."""
    compiled = _regex(find, bool(ignorecase))
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_REGEX_INPUT:
        raise SecurityError(f"input of {len(text)} characters too long for regex {find!r}")
    return compiled, text


def regex_timeout() -> float | None:
    """Seconds a regular expression may run now: what is left of the render's time budget."""
    budget = BUDGET.get()
    return budget.time_left() if budget is not None else RENDER_SECONDS


def regex_extended() -> bool:
    """After a regex timed out: True when the render was preempted and its deadline moved on
    (run the regex again), False when its time is really up."""
    budget = BUDGET.get()
    if budget is None or budget.extensions >= PREEMPT_EXTENSIONS:
        return False
    before = budget.extensions
    try:
        budget.out_of_time()
    except SecurityError:
        return False
    return budget.extensions > before


def regex_timed_out() -> SecurityError:
    """The error for a regex that hit :func:`regex_timeout` (records what ran out)."""
    budget = BUDGET.get()
    if budget is not None:
        budget.exceeded = "time"
    return SecurityError("regular expression exceeds the template's time budget")
