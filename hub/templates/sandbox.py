"""The sandboxed Jinja environment: HA filters installed, every costly operation charged.

:class:`BudgetGuard` rewrites a parsed template so loops, ``~`` and every printed value pass
through the environment's ``spark_*`` helpers; :class:`SandboxEnvironment` charges calls,
operators, ``str`` methods and the filters that can outgrow their input against the render's
budget (:mod:`hub.templates.limits`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from functools import update_wrapper
from typing import Any, cast

import jinja2
from jinja2 import filters as jf
from jinja2 import nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

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
    min_max,
    multiply,
    regex_findall,
    regex_findall_index,
    regex_match,
    regex_replace,
    regex_search,
    safe_range,
    to_json,
)
from spark.hub.templates.limits import (
    FORMAT_SPEC,
    GUARDED_FILTERS,
    STR_WIDTH_METHODS,
    charge,
    check_count,
    format_cost,
    replace_cost,
    size_of,
)


def _guarded(func: Callable[..., Any], cost: Callable[..., int]) -> Callable[..., Any]:
    """Wrap a Jinja filter so its output size is charged before it is built."""
    if getattr(func, "jinja_pass_arg", None) is None:

        def plain(value: Any, *args: Any, **kwargs: Any) -> Any:
            charge(cost(value, *args, **kwargs))
            return func(value, *args, **kwargs)

        return update_wrapper(plain, func)

    def passing(first: Any, value: Any, *args: Any, **kwargs: Any) -> Any:
        charge(cost(value, *args, **kwargs))
        return func(first, value, *args, **kwargs)

    return update_wrapper(passing, func)  # copies jinja_pass_arg along with __dict__


@jinja2.pass_eval_context
def _join(eval_ctx: Any, value: Iterable[Any], d: str = "", attribute: Any = None) -> str:
    items = list(value)
    charge(size_of(items) + len(str(d)) * len(items))
    return jf.do_join(eval_ctx, items, d, attribute)


class BudgetGuard(NodeTransformer):
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


class SandboxEnvironment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "+", "%", "**"})

    def __init__(self) -> None:
        super().__init__(extensions=["jinja2.ext.loopcontrols"], autoescape=False)
        for name, cost in GUARDED_FILTERS.items():
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
            range=safe_range,
            min=min_max(jf.do_min, "min"),
            max=min_max(jf.do_max, "max"),
        )
        self.tests.update(match=regex_match, search=regex_search, is_number=is_number)

    # helpers referenced by the BudgetGuard rewrite (as environment attributes: not shadowable)
    @staticmethod
    def spark_iter(iterable: Iterable[Any]) -> Iterator[Any]:
        for item in iterable:
            charge(ops=1)
            yield item

    @staticmethod
    def spark_concat(*parts: Any) -> str:
        charge(sum(size_of(part) for part in parts))
        return "".join(str(part) for part in parts)

    @staticmethod
    def spark_text(value: Any) -> Any:
        charge(size_of(value))
        return value

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        charge(ops=1)
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str):
            name = getattr(__obj, "__name__", "")
            if name in STR_WIDTH_METHODS:
                width = args[0] if args else next(iter(kwargs.values()), 8)
                charge(
                    len(owner)
                    + check_count(width) * (owner.count("\t") if name == "expandtabs" else 1)
                )
            elif name == "join" and args:
                items = list(args[0])
                charge(size_of(items) + len(owner) * len(items))
                args = (items, *args[1:])
            elif name == "replace":
                charge(replace_cost(owner, *args))
            elif name == "translate":
                raise SecurityError("str.translate is not allowed in templates")
        return super().call(__context, __obj, *args, **kwargs)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        seqs = str | list | tuple
        if operator == "*":
            if isinstance(left, seqs) and isinstance(right, int):
                charge(size_of(left) * max(right, 0))
            elif isinstance(right, seqs) and isinstance(left, int):
                charge(size_of(right) * max(left, 0))
            elif isinstance(left, int) and isinstance(right, int):
                if left.bit_length() + right.bit_length() > 100_000:
                    raise SecurityError("integer too large")
        elif operator == "+" and isinstance(left, seqs) and isinstance(right, seqs):
            charge(size_of(left) + size_of(right))
        elif operator == "%" and isinstance(left, str):
            charge(format_cost(left, right))
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
            if FORMAT_SPEC.search(fmt):
                raise SecurityError("format width or precision too large")
            widest = max((size_of(a) for a in (*args, *kwargs.values())), default=0)
            charge(len(fmt) + fmt.count("{") * widest)
            return wrapper(*args, **kwargs)

        return guarded

    def unsafe_undefined(self, obj: Any, attribute: str) -> jinja2.Undefined:
        raise SecurityError(f"access to {attribute!r} of a {type(obj).__name__} is not allowed")
