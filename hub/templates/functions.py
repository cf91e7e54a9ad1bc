"""The Home Assistant filters, tests and functions templates from real devices use.

``float``, ``int``, ``round``, ``bool`` ... behave as in HA: an input they cannot convert raises
unless a default is given. The ``regex_*`` family runs on the ``regex`` package behind the guards
in :mod:`hub.templates.limits` (pattern size and compile cost, input size, a timeout);
``range``, ``min`` and ``max`` replace Jinja's globals.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Final

import jinja2
import orjson
from jinja2 import filters as jf

from spark.hub.templates.limits import (
    charge,
    check_count,
    regex_extended,
    regex_input,
    regex_timed_out,
    regex_timeout,
    size_of,
)

_NO_DEFAULT: Final = object()


def _no_default(name: str, value: Any) -> Any:
    raise ValueError(f"{name} got invalid input {value!r} and no default was specified")


def ha_float(value: Any, default: Any = _NO_DEFAULT) -> Any:
    try:
        return float(value)
    except (ValueError, TypeError):
        return _no_default("float", value) if default is _NO_DEFAULT else default


def ha_int(value: Any, default: Any = _NO_DEFAULT, base: int = 10) -> Any:
    result = jf.do_int(value, default=default, base=base)
    return _no_default("int", value) if result is _NO_DEFAULT else result


def ha_round(value: Any, precision: int = 0, method: str = "common", default: Any = _NO_DEFAULT):
    try:
        if abs(int(precision)) > 100:
            raise ValueError("precision out of range")
        multiplier = float(10**precision)
        if method == "ceil":
            value = math.ceil(float(value) * multiplier) / multiplier
        elif method == "floor":
            value = math.floor(float(value) * multiplier) / multiplier
        elif method == "half":
            value = round(float(value) * 2) / 2
        else:
            value = round(float(value), precision)
        return int(value) if precision == 0 else value
    except (ValueError, TypeError):
        return _no_default("round", value) if default is _NO_DEFAULT else default


def ha_bool(value: Any, default: Any = _NO_DEFAULT) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.lower().strip()
        if text in ("1", "true", "yes", "on", "enable"):
            return True
        if text in ("0", "false", "no", "off", "disable"):
            return False
    elif isinstance(value, int | float):
        return value != 0
    return _no_default("bool", value) if default is _NO_DEFAULT else default


def multiply(value: Any, amount: Any, default: Any = _NO_DEFAULT) -> Any:
    try:
        return float(value) * amount
    except (ValueError, TypeError):
        return _no_default("multiply", value) if default is _NO_DEFAULT else default


def iif(value: Any, if_true: Any = True, if_false: Any = False, if_none: Any = _NO_DEFAULT):
    if value is None and if_none is not _NO_DEFAULT:
        return if_none
    return if_true if value else if_false


def is_defined(value: Any) -> Any:
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()
    return value


def is_number(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (ValueError, TypeError):
        return False


def from_json(value: Any, default: Any = _NO_DEFAULT) -> Any:
    try:
        return orjson.loads(value)
    except (orjson.JSONDecodeError, TypeError):
        return _no_default("from_json", value) if default is _NO_DEFAULT else default


def to_json(value: Any, ensure_ascii: bool = False, pretty_print: bool = False, sort_keys=False):
    charge(2 * size_of(value))
    if ensure_ascii:
        return json.dumps(
            value, ensure_ascii=True, indent=2 if pretty_print else None, sort_keys=sort_keys
        )
    option = orjson.OPT_NON_STR_KEYS | (orjson.OPT_INDENT_2 if pretty_print else 0)
    return orjson.dumps(value, option=option | (orjson.OPT_SORT_KEYS if sort_keys else 0)).decode()


def as_timestamp(value: Any, default: Any = _NO_DEFAULT) -> Any:
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        return moment.timestamp()
    except (ValueError, TypeError, OverflowError, OSError):
        return _no_default("as_timestamp", value) if default is _NO_DEFAULT else default


# ---- regular expressions (the ``regex`` package, with the render's time left as timeout) ----
def _timed(run: Callable[[float | None], Any]) -> Any:
    """Run a regex with the render's time left as its timeout. A timeout that came from
    preemption (the render had under half its budget on the CPU) runs it again with the
    extended deadline (``Budget.out_of_time``), so a pattern is judged on the CPU it got."""
    while True:
        try:
            return run(regex_timeout())
        except TimeoutError:
            if not regex_extended():
                raise regex_timed_out() from None


def regex_match(value: Any, find: str = "", ignorecase: bool = False) -> bool:
    compiled, text = regex_input(value, find, ignorecase)
    return bool(_timed(lambda t: compiled.match(text, timeout=t)))


def regex_search(value: Any, find: str = "", ignorecase: bool = False) -> bool:
    compiled, text = regex_input(value, find, ignorecase)
    return bool(_timed(lambda t: compiled.search(text, timeout=t)))


def regex_replace(value: Any = "", find: str = "", replace: str = "", ignorecase: bool = False):
    compiled, text = regex_input(value, find, ignorecase)
    charge(len(text) + (len(text) + 1) * len(str(replace)))
    return _timed(lambda t: compiled.sub(str(replace), text, timeout=t))


def regex_findall(value: Any, find: str = "", ignorecase: bool = False) -> list[Any]:
    compiled, text = regex_input(value, find, ignorecase)
    found: list[Any] = _timed(lambda t: compiled.findall(text, timeout=t))
    return found


def regex_findall_index(value: Any, find: str = "", index: int = 0, ignorecase=False) -> Any:
    return regex_findall(value, find, ignorecase)[index]


# ---- globals replacing Jinja's ---------------------------------------------------------------
def min_max(builtin: Callable[..., Any], name: str) -> Callable[..., Any]:
    """HA's ``min`` / ``max``: several arguments or one iterable, over Jinja's filter."""

    @jinja2.pass_environment
    def wrapper(environment: jinja2.Environment, *args: Any, **kwargs: Any) -> Any:
        if not args:
            raise TypeError(f"{name} expected at least 1 argument, got 0")
        if len(args) == 1:
            if isinstance(args[0], Iterable):
                return builtin(environment, args[0], **kwargs)
            raise TypeError(f"'{type(args[0]).__name__}' object is not iterable")
        return builtin(environment, args, **kwargs)

    return wrapper


def safe_range(*args: int) -> range:
    numbers = range(*args)
    check_count(len(numbers))
    return numbers
