"""Home Assistant compatible value / command templates, sandboxed and fast.

Third-party discovery configs carry Jinja templates (``value_template``, ``command_template``,
availability ``value_template``). They run in an ``ImmutableSandboxedEnvironment`` with the HA
filters real devices use, and every render has a budget (loop iterations and calls, characters
built, source and output size), so a hostile or broken config costs a ``TemplateError``, never the
hub. The most common forms -- ``{{ value }}`` and ``{{ value_json.a.b }}`` /
``{{ value_json['a'] }}`` followed by simple filters (``float``, ``int``, ``round(n)``,
``lower``, ``upper``, ``default(x)`` ...) -- take a fast path of plain dict lookups that prints
exactly what Jinja would (``str()`` of the value: ``True``, ``None``, ``21.5``) and falls back to
Jinja whenever a lookup misses.
"""

from __future__ import annotations

import contextvars
import json
import math
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from functools import lru_cache, update_wrapper
from typing import Any, Final, cast

import jinja2
import orjson
from jinja2 import filters as jf
from jinja2 import meta, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

from hub.errors import TemplateError

MAX_SOURCE = 8 * 1024  # characters of template source
MAX_OUTPUT = 64 * 1024  # characters a render may return
MAX_WORK = 4 * 1024 * 1024  # characters a render may build (output, joins, concatenations ...)
MAX_OPS = 50_000  # loop iterations + calls per render
MAX_COUNT = 10_000  # widths, ranges, batch sizes
MAX_REGEX_INPUT = 4096
_NO_DEFAULT: Final = object()
_AUTO: Final = object()


class _NotJson:
    def __repr__(self) -> str:
        return "NOT_JSON"


NOT_JSON: Final = _NotJson()
"""``value_json`` of a payload that is not JSON (templates see it as undefined)."""


def load_value_json(payload: bytes | bytearray | memoryview | str) -> Any:
    """Parse a payload once (orjson) for every template applied to it; ``NOT_JSON`` if it isn't."""
    try:
        return orjson.loads(payload)
    except (orjson.JSONDecodeError, TypeError):
        return NOT_JSON


# ---- per-render budget -----------------------------------------------------------------------
class _Budget:
    __slots__ = ("chars", "ops")

    def __init__(self) -> None:
        self.ops = MAX_OPS
        self.chars = MAX_WORK


_BUDGET: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar(
    "spark_budget", default=None
)


def _charge(chars: int = 0, ops: int = 0) -> None:
    budget = _BUDGET.get()
    if budget is not None:
        budget.chars -= chars
        budget.ops -= ops
        if budget.chars < 0 or budget.ops < 0:
            raise SecurityError("template exceeds its work budget (loops, calls or text built)")


def _size(obj: Any) -> int:
    """Characters needed to print ``obj``; the walk stops once past the remaining budget."""
    budget = _BUDGET.get()
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


def _count(value: Any) -> int:
    number = value if isinstance(value, int) and not isinstance(value, bool) else 0
    if number > MAX_COUNT:
        raise SecurityError(f"width or count {number} is larger than {MAX_COUNT}")
    return max(number, 0)


_PCT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0 +-]*(\*|\d+)?(?:\.(\*|\d+))?")
_FORMAT_SPEC = re.compile(r"\{[^{}]*:[^{}]*(?:\{|\d{5,})")


def _check_percent(fmt: str) -> None:
    for match in _PCT_SPEC.finditer(fmt):
        for part in match.groups():
            if part == "*" or (part and int(part) > MAX_COUNT):
                raise SecurityError("format width or precision too large")


# ---- Home Assistant filters and functions ----------------------------------------------------
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
    _charge(2 * _size(value))
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


def _regex_input(value: Any, find: str, ignorecase: bool) -> tuple[re.Pattern[str], str]:
    regex, limit = _regex(find, bool(ignorecase))
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        raise SecurityError(f"input of {len(text)} characters too long for regex {find!r}")
    return regex, text


def regex_match(value: Any, find: str = "", ignorecase: bool = False) -> bool:
    regex, text = _regex_input(value, find, ignorecase)
    return bool(regex.match(text))


def regex_search(value: Any, find: str = "", ignorecase: bool = False) -> bool:
    regex, text = _regex_input(value, find, ignorecase)
    return bool(regex.search(text))


def regex_replace(value: Any = "", find: str = "", replace: str = "", ignorecase: bool = False):
    regex, text = _regex_input(value, find, ignorecase)
    _charge(len(text) + (len(text) + 1) * len(str(replace)))
    return regex.sub(str(replace), text)


def regex_findall(value: Any, find: str = "", ignorecase: bool = False) -> list[Any]:
    regex, text = _regex_input(value, find, ignorecase)
    return regex.findall(text)


def regex_findall_index(value: Any, find: str = "", index: int = 0, ignorecase=False) -> Any:
    return regex_findall(value, find, ignorecase)[index]


def _min_max(builtin: Callable[..., Any], name: str) -> Callable[..., Any]:
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


def _safe_range(*args: int) -> range:
    numbers = range(*args)
    _count(len(numbers))
    return numbers


def _guarded(func: Callable[..., Any], cost: Callable[..., int]) -> Callable[..., Any]:
    """Wrap a Jinja filter so its output size is charged before it is built."""
    if getattr(func, "jinja_pass_arg", None) is None:

        def plain(value: Any, *args: Any, **kwargs: Any) -> Any:
            _charge(cost(value, *args, **kwargs))
            return func(value, *args, **kwargs)

        return update_wrapper(plain, func)

    def passing(first: Any, value: Any, *args: Any, **kwargs: Any) -> Any:
        _charge(cost(value, *args, **kwargs))
        return func(first, value, *args, **kwargs)

    return update_wrapper(passing, func)  # copies jinja_pass_arg along with __dict__


def _replace_cost(s: Any, old: Any = "", new: Any = "", count: Any = None, *_: Any) -> int:
    text, old, new = str(s), str(old), str(new)
    hits = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    return len(text) + hits * len(new)


def _format_cost(fmt: Any, *args: Any, **kwargs: Any) -> int:
    fmt = str(fmt)
    _check_percent(fmt)
    widest = max((_size(a) for a in (*args, *kwargs.values())), default=0)
    return len(fmt) + fmt.count("%") * widest


@jinja2.pass_eval_context
def _join(eval_ctx: Any, value: Iterable[Any], d: str = "", attribute: Any = None) -> str:
    items = list(value)
    _charge(_size(items) + len(str(d)) * len(items))
    return jf.do_join(eval_ctx, items, d, attribute)


_GUARDED_FILTERS: dict[str, Callable[..., int]] = {
    "center": lambda v, width=80, *a: len(str(v)) + _count(width),
    "indent": lambda s, width=4, *a, **k: (
        _size(s)
        + (str(s).count("\n") + 1) * (len(width) if isinstance(width, str) else _count(width))
    ),
    "batch": lambda v, linecount, *a: _count(linecount),
    "slice": lambda v, slices, *a: _count(slices),
    "replace": _replace_cost,
    "format": _format_cost,
    **dict.fromkeys(
        ("tojson", "string", "pprint", "urlencode", "xmlattr", "wordwrap", "urlize", "list"),
        lambda v, *a, **k: 2 * _size(v),
    ),
    **dict.fromkeys(("e", "escape", "forceescape"), lambda v, *a, **k: 6 * _size(v)),
}
_STR_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})


# ---- sandbox ---------------------------------------------------------------------------------
class _Guard(NodeTransformer):
    """Route loops, ``~`` and every printed value through budget-charging helpers."""

    @staticmethod
    def _call(helper: str, args: list[nodes.Expr], lineno: int) -> nodes.Call:
        return nodes.Call(nodes.EnvironmentAttribute(helper), args, [], None, None, lineno=lineno)

    # generic_visit rewrites the children in place and returns the same node

    def visit_For(self, node: nodes.For) -> nodes.For:
        self.generic_visit(node)
        node.iter = self._call("spark_iter", [cast(nodes.Expr, node.iter)], node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Call:
        self.generic_visit(node)
        return self._call("spark_concat", list(node.nodes), node.lineno)

    def visit_Output(self, node: nodes.Output) -> nodes.Output:
        self.generic_visit(node)
        node.nodes = [
            self._call(
                "spark_text",
                [nodes.Const(child.data) if isinstance(child, nodes.TemplateData) else child],
                child.lineno,
            )
            for child in node.nodes
        ]
        return node


class _Environment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "+", "%", "**"})

    def __init__(self) -> None:
        super().__init__(extensions=["jinja2.ext.loopcontrols"], autoescape=False)
        for name, cost in _GUARDED_FILTERS.items():
            self.filters[name] = _guarded(self.filters[name], cost)
        self.filters["join"] = _join
        functions = {
            "float": ha_float,
            "int": ha_int,
            "bool": ha_bool,
            "iif": iif,
            "as_timestamp": as_timestamp,
            "is_number": is_number,
        }
        self.filters.update(functions)
        self.filters.update(
            round=ha_round,
            multiply=multiply,
            is_defined=is_defined,
            from_json=from_json,
            to_json=to_json,
            regex_match=regex_match,
            regex_search=regex_search,
            regex_replace=regex_replace,
            regex_findall=regex_findall,
            regex_findall_index=regex_findall_index,
        )
        self.globals.pop("lipsum", None)
        self.globals.update(functions)
        self.globals.update(
            range=_safe_range,
            min=_min_max(jf.do_min, "min"),
            max=_min_max(jf.do_max, "max"),
        )
        self.tests.update(match=regex_match, search=regex_search, is_number=is_number)

    # helpers referenced by the _Guard rewrite (as environment attributes: not shadowable)
    @staticmethod
    def spark_iter(iterable: Iterable[Any]) -> Iterator[Any]:
        for item in iterable:
            _charge(ops=1)
            yield item

    @staticmethod
    def spark_concat(*parts: Any) -> str:
        _charge(sum(_size(part) for part in parts))
        return "".join(str(part) for part in parts)

    @staticmethod
    def spark_text(value: Any) -> Any:
        _charge(_size(value))
        return value

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _charge(ops=1)
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str):
            name = getattr(__obj, "__name__", "")
            if name in _STR_WIDTH_METHODS:
                width = args[0] if args else next(iter(kwargs.values()), 8)
                _charge(
                    len(owner) + _count(width) * (owner.count("\t") if name == "expandtabs" else 1)
                )
            elif name == "join" and args:
                items = list(args[0])
                _charge(_size(items) + len(owner) * len(items))
                args = (items, *args[1:])
            elif name == "replace":
                _charge(_replace_cost(owner, *args))
            elif name == "translate":
                raise SecurityError("str.translate is not allowed in templates")
        return super().call(__context, __obj, *args, **kwargs)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        seqs = str | list | tuple
        if operator == "*":
            if isinstance(left, seqs) and isinstance(right, int):
                _charge(_size(left) * max(right, 0))
            elif isinstance(right, seqs) and isinstance(left, int):
                _charge(_size(right) * max(left, 0))
            elif isinstance(left, int) and isinstance(right, int):
                if left.bit_length() + right.bit_length() > 100_000:
                    raise SecurityError("integer too large")
        elif operator == "+" and isinstance(left, seqs) and isinstance(right, seqs):
            _charge(_size(left) + _size(right))
        elif operator == "%" and isinstance(left, str):
            _charge(_format_cost(left, right))
        elif operator == "**" and isinstance(left, int) and isinstance(right, int):
            if abs(left) > 1 and left.bit_length() * right > 100_000:
                raise SecurityError("integer power too large")
        return super().call_binop(context, operator, left, right)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapper = super().wrap_str_format(value)
        if wrapper is None:
            return None
        fmt: str = value.__self__

        def guarded(*args: Any, **kwargs: Any) -> str:
            if _FORMAT_SPEC.search(fmt):
                raise SecurityError("format width or precision too large")
            widest = max((_size(a) for a in (*args, *kwargs.values())), default=0)
            _charge(len(fmt) + fmt.count("{") * widest)
            return wrapper(*args, **kwargs)

        return guarded

    def unsafe_undefined(self, obj: Any, attribute: str) -> jinja2.Undefined:
        raise SecurityError(f"access to {attribute!r} of a {type(obj).__name__} is not allowed")


# ---- fast path -------------------------------------------------------------------------------
_FAST_FILTERS = frozenset(
    {"abs", "bool", "d", "default", "float", "int", "is_defined", "lower", "round", "trim", "upper"}
)
_Plan = tuple[str, tuple[str | int, ...], tuple[tuple[Callable[..., Any], tuple[Any, ...]], ...]]


def _fast_plan(tree: nodes.Template, env: jinja2.Environment) -> _Plan | None:
    """``{{ value[_json]<.a / ['a'] / [0] ...> <| filter(const, ...) ...> }}`` or None."""
    body = tree.body
    if len(body) != 1 or not isinstance(body[0], nodes.Output) or len(body[0].nodes) != 1:
        return None
    expr = body[0].nodes[0]
    chain: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []
    while isinstance(expr, nodes.Filter) and expr.node is not None:
        func = env.filters.get(expr.name)
        if (
            expr.name not in _FAST_FILTERS
            or func is None
            or getattr(func, "jinja_pass_arg", None) is not None
            or expr.kwargs
            or expr.dyn_args
            or expr.dyn_kwargs
            or not all(isinstance(arg, nodes.Const) for arg in expr.args)
        ):
            return None
        chain.append((func, tuple(cast(nodes.Const, arg).value for arg in expr.args)))
        expr = expr.node
    steps: list[str | int] = []
    while isinstance(expr, nodes.Getattr | nodes.Getitem):
        if isinstance(expr, nodes.Getattr):
            if hasattr(dict, expr.attr):  # Jinja would return the dict method, not the key
                return None
            steps.append(expr.attr)
        elif isinstance(expr.arg, nodes.Const) and type(expr.arg.value) in (str, int):
            steps.append(expr.arg.value)
        else:
            return None
        expr = expr.node
    if not isinstance(expr, nodes.Name) or expr.name not in ("value", "value_json"):
        return None
    return expr.name, tuple(reversed(steps)), tuple(reversed(chain))


def _decode(payload: Any) -> str:
    if isinstance(payload, str):
        return payload
    if isinstance(payload, bytes | bytearray | memoryview):
        try:
            return bytes(payload).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise TemplateError(f"payload is not valid UTF-8: {exc}") from exc
    raise TemplateError(f"payload must be bytes or str, got {type(payload).__name__}")


# ---- public API ------------------------------------------------------------------------------
class CompiledTemplate:
    """A compiled template; immutable and shareable. Get one from :meth:`TemplateEngine.compile`."""

    __slots__ = ("_fast", "_max_output", "_template", "source", "uses_value_json")

    def __init__(
        self,
        source: str,
        template: jinja2.Template,
        fast: _Plan | None,
        uses_value_json: bool,
        max_output: int,
    ) -> None:
        self.source = source
        self.uses_value_json = uses_value_json
        self._template = template
        self._fast = fast
        self._max_output = max_output

    @property
    def is_fast(self) -> bool:
        """True when renders usually skip Jinja (plain lookups on ``value`` / ``value_json``)."""
        return self._fast is not None

    def render(self, payload: bytes | str, value_json: Any = _AUTO, **variables: Any) -> str:
        """Render against an MQTT payload: ``value`` is the payload text, ``value_json`` its JSON.

        Pass ``value_json`` (from :func:`load_value_json`, possibly ``NOT_JSON``) to parse a
        message once for many templates; omit it to parse here when the template needs it.
        Extra keyword arguments (``this``, ``entity_id`` ...) become template variables.
        """
        value = _decode(payload)
        if value_json is _AUTO:
            value_json = load_value_json(payload) if self.uses_value_json else NOT_JSON
        if self._fast is not None:
            text = self._run_fast(value, value_json)
            if text is not None:
                return text
        context = dict(variables, value=value)
        if value_json is not NOT_JSON:
            context["value_json"] = value_json
        return self._render(context)

    def render_command(self, value: Any, **variables: Any) -> str:
        """Render a ``command_template``: ``value`` is passed as is (number, bool, str ...)."""
        if self._fast is not None and self._fast[0] == "value":
            text = self._run_fast(value, NOT_JSON)
            if text is not None:
                return text
        return self._render(dict(variables, value=value))

    render_value = render_command

    def _run_fast(self, value: Any, value_json: Any) -> str | None:
        root, steps, chain = self._fast  # type: ignore[misc]
        obj = value if root == "value" else value_json
        if obj is NOT_JSON:
            return None
        for key in steps:
            kind = type(obj)
            if kind is dict and key in obj:
                obj = obj[key]
            elif kind is list and type(key) is int and -len(obj) <= key < len(obj):
                obj = obj[key]
            else:
                return None  # let Jinja produce its undefined / attribute semantics
        try:
            for func, args in chain:
                obj = func(obj, *args)
            text = str(obj)
        except Exception:
            return None  # Jinja raises the same error with its own message
        if len(text) > self._max_output:
            raise TemplateError(f"template output longer than {self._max_output} characters")
        return text

    def _render(self, context: dict[str, Any]) -> str:
        token = _BUDGET.set(_Budget())
        try:
            parts: list[str] = []
            total = 0
            for chunk in self._template.generate(context):
                total += len(chunk)
                if total > self._max_output:
                    raise TemplateError(
                        f"template output longer than {self._max_output} characters"
                    )
                parts.append(chunk)
            return "".join(parts)
        except TemplateError:
            raise
        except Exception as exc:  # sandbox, undefined, type, arithmetic, recursion ...
            raise TemplateError(
                f"cannot render template {self.source[:80]!r}: {type(exc).__name__}: {exc}"
            ) from exc
        finally:
            _BUDGET.reset(token)


class TemplateEngine:
    """Compiles and caches templates by source. One per process; thread-safe enough to share."""

    def __init__(
        self,
        *,
        fast_path: bool = True,
        max_source: int = MAX_SOURCE,
        max_output: int = MAX_OUTPUT,
        cache_size: int = 4096,
    ) -> None:
        self.fast_path = fast_path
        self.max_source = max_source
        self.max_output = max_output
        self._cache_size = cache_size
        self._cache: OrderedDict[str, CompiledTemplate] = OrderedDict()
        self._env = _Environment()

    def compile(self, source: str) -> CompiledTemplate:
        """Compile (or fetch from the cache); raises ``TemplateError`` on bad or oversized input."""
        if not isinstance(source, str):
            raise TemplateError(f"template must be a string, got {type(source).__name__}")
        cached = self._cache.get(source)
        if cached is not None:
            self._cache.move_to_end(source)
            return cached
        if len(source) > self.max_source:
            raise TemplateError(f"template longer than {self.max_source} characters")
        env = self._env
        try:
            tree = env.parse(source.strip())  # HA strips templates too
            fast = _fast_plan(tree, env) if self.fast_path else None
            uses_json = "value_json" in meta.find_undeclared_variables(tree)
            tree = _Guard().visit(tree)
            tree.set_environment(env)
            code = env.compile(tree)
            template = env.template_class.from_code(env, code, env.make_globals(None), None)
        except Exception as exc:
            raise TemplateError(f"invalid template {source[:80]!r}: {exc}") from exc
        compiled = CompiledTemplate(source, template, fast, uses_json, self.max_output)
        self._cache[source] = compiled
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return compiled

    def render(
        self, source: str, payload: bytes | str, value_json: Any = _AUTO, **variables: Any
    ) -> str:
        """Shorthand for ``compile(source).render(payload, value_json, **variables)``."""
        return self.compile(source).render(payload, value_json, **variables)

    def render_command(self, template: str | CompiledTemplate, value: Any, **variables: Any) -> str:
        """Render a ``command_template`` with ``value`` (the command) as is."""
        compiled = template if isinstance(template, CompiledTemplate) else self.compile(template)
        return compiled.render_command(value, **variables)
