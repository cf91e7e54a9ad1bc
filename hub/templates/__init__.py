"""Home Assistant compatible value / command templates, sandboxed and fast.

Third-party discovery configs carry Jinja templates (``value_template``, ``command_template``,
availability ``value_template``). They run in an ``ImmutableSandboxedEnvironment`` with the HA
filters real devices use, and every render has a budget (loop iterations and calls, characters
built, source and output size, and wall time: 20 ms, checked at every step, with regular
expressions on the ``regex`` package under a timeout), so a hostile or broken config costs a
``TemplateError``, never the hub; ``TemplateBudgetError`` says the template itself ran out (the
registry disables its entity).

The most common forms -- ``{{ value }}`` and ``{{ value_json.a.b }}`` /
``{{ value_json['a'] }}`` followed by simple filters (``float``, ``int``, ``round(n)``,
``lower``, ``upper``, ``default(x)`` ...) -- take a fast path of plain dict lookups that prints
exactly what Jinja would (``str()`` of the value: ``True``, ``None``, ``21.5``) and falls back to
Jinja whenever a lookup misses.

Modules: ``limits`` (per-render budget, size and regex guards), ``functions`` (HA filters, tests
and functions), ``sandbox`` (the guarded Jinja environment), ``fastpath`` (recognising the common
forms) and ``engine`` (``TemplateEngine``, ``CompiledTemplate``, ``load_value_json``).
"""

from __future__ import annotations

from spark.hub.templates.engine import NOT_JSON, CompiledTemplate, TemplateEngine, load_value_json
from spark.hub.templates.functions import (
    as_timestamp,
    from_json,
    ha_bool,
    ha_float,
    ha_int,
    ha_round,
    iif,
    is_defined,
    is_number,
    multiply,
    regex_findall,
    regex_findall_index,
    regex_match,
    regex_replace,
    regex_search,
    to_json,
)
from spark.hub.templates.limits import (
    MAX_COUNT,
    MAX_OPS,
    MAX_OUTPUT,
    MAX_PAYLOAD,
    MAX_REGEX_INPUT,
    MAX_SOURCE,
    MAX_WORK,
    RENDER_SECONDS,
    TemplateBudgetError,
    TemplateBusyError,
    TimeShare,
)

__all__ = [
    "MAX_COUNT",
    "MAX_OPS",
    "MAX_OUTPUT",
    "MAX_PAYLOAD",
    "MAX_REGEX_INPUT",
    "MAX_SOURCE",
    "MAX_WORK",
    "NOT_JSON",
    "RENDER_SECONDS",
    "CompiledTemplate",
    "TemplateBudgetError",
    "TemplateBusyError",
    "TemplateEngine",
    "TimeShare",
    "as_timestamp",
    "from_json",
    "ha_bool",
    "ha_float",
    "ha_int",
    "ha_round",
    "iif",
    "is_defined",
    "is_number",
    "load_value_json",
    "multiply",
    "regex_findall",
    "regex_findall_index",
    "regex_match",
    "regex_replace",
    "regex_search",
    "to_json",
]
