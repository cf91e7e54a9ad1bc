"""Recognise the common template forms that need no Jinja at render time.

``{{ value }}``, ``{{ value_json.a.b }}``, ``{{ value_json['a'][0] }}`` followed by simple
filters with constant arguments (``float``, ``int``, ``round(n)``, ``lower``, ``default(x)`` ...)
compile to a :data:`Plan`: the root variable, the lookup steps and the filter chain.
:class:`hub.templates.engine.CompiledTemplate` runs it as plain dict / list lookups and falls back
to Jinja whenever a lookup misses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import jinja2
from jinja2 import nodes

FAST_FILTERS = frozenset(
    {"abs", "bool", "d", "default", "float", "int", "is_defined", "lower", "round", "trim", "upper"}
)
Plan = tuple[str, tuple[str | int, ...], tuple[tuple[Callable[..., Any], tuple[Any, ...]], ...]]


def fast_plan(tree: nodes.Template, env: jinja2.Environment) -> Plan | None:
    """``{{ value[_json]<.a / ['a'] / [0] ...> <| filter(const, ...) ...> }}`` or None."""
    body = tree.body
    if len(body) != 1 or not isinstance(body[0], nodes.Output) or len(body[0].nodes) != 1:
        return None
    expr = body[0].nodes[0]
    chain: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []
    while isinstance(expr, nodes.Filter) and expr.node is not None:
        func = env.filters.get(expr.name)
        if (
            expr.name not in FAST_FILTERS
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
