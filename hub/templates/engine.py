"""The public API: :class:`TemplateEngine` compiles and caches, :class:`CompiledTemplate` renders.

A render takes the fast path (:mod:`hub.templates.fastpath`) when the template has one and its
lookups hit; otherwise Jinja renders it in the sandbox under a fresh per-render budget (work,
and wall time: ``render_seconds``; it starts only while the engine's :class:`TimeShare` has time
left), and any failure comes out as a ``TemplateError``: ``TemplateBudgetError`` when the
template ran out of its own budget, ``TemplateBusyError`` when the time share was short.

Compiling is bounded too: at most ``MAX_TOKENS`` tokens (counted by the lexer, which stops at the
limit; Jinja compiles ~25 us a token).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any, Final

import jinja2
import orjson
from jinja2 import meta

from spark.core.errors import TemplateError
from spark.hub.templates.fastpath import Plan, fast_plan
from spark.hub.templates.limits import (
    BUDGET,
    MAX_OUTPUT,
    MAX_PAYLOAD,
    MAX_SOURCE,
    MAX_TOKENS,
    RENDER_SECONDS,
    Budget,
    TemplateBudgetError,
    TemplateBusyError,
    TimeShare,
)
from spark.hub.templates.sandbox import BudgetGuard, SandboxEnvironment

_AUTO: Final = object()
Built = tuple[jinja2.Template, Plan | None, bool]  # compiled template, fast plan, uses value_json


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


def _decode(payload: Any) -> str:
    # Hot path (every state message with a template): exact type first, one size check.
    kind = type(payload)
    if kind is bytes or kind is str:
        if len(payload) > MAX_PAYLOAD:
            raise TemplateError(f"payload of {len(payload)} bytes is larger than {MAX_PAYLOAD}")
        if kind is str:
            return payload
        try:
            return payload.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise TemplateError(f"payload is not valid UTF-8: {exc}") from exc
    if isinstance(payload, str | bytes | bytearray | memoryview):
        return _decode(payload[:] if isinstance(payload, str) else bytes(payload))
    raise TemplateError(f"payload must be bytes or str, got {type(payload).__name__}")


class _Preempted(TemplateBusyError):
    """A render out of wall time but not of CPU time: retried once (see ``_render``)."""


class CompiledTemplate:
    """A compiled template; immutable and shareable. Get one from :meth:`TemplateEngine.compile`."""

    __slots__ = ("_fast", "_max_output", "_seconds", "_share", "_template", "source",
                 "uses_value_json")

    def __init__(
        self,
        source: str,
        template: jinja2.Template,
        fast: Plan | None,
        uses_value_json: bool,
        max_output: int,
        seconds: float = RENDER_SECONDS,
        share: TimeShare | None = None,
    ) -> None:
        self.source = source
        self.uses_value_json = uses_value_json
        self._template = template
        self._fast = fast
        self._max_output = max_output
        self._seconds = seconds
        self._share = share

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
        value = _decode(payload)  # (checks the size before anything parses it)
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
            text = str(obj).strip()  # as a Jinja render (HA strips every rendered template)
        except Exception:
            return None  # Jinja raises the same error with its own message
        if len(text) > self._max_output:
            raise TemplateError(f"template output longer than {self._max_output} characters")
        return text

    def _render(self, context: dict[str, Any]) -> str:
        share = self._share
        if share is not None and share.available(time.perf_counter()) <= 0:
            # slow templates used the time: skipped (its own budget is whole once it starts)
            raise TemplateBusyError(
                "render skipped: templates used their share of time (others are over budget)"
            )
        try:
            return self._render_once(context)
        except _Preempted:
            # The process was preempted (a loaded machine), not the template slow: once more
            # with a fresh budget before the message is given up.
            try:
                return self._render_once(context)
            except _Preempted as exc:
                raise TemplateBusyError(str(exc)) from exc

    def _render_once(self, context: dict[str, Any]) -> str:
        share = self._share
        budget = Budget(self._seconds)
        cpu = time.thread_time()
        token = BUDGET.set(budget)
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
            return "".join(parts).strip()  # HA strips every rendered template
        except TemplateError:
            raise
        except Exception as exc:  # sandbox, undefined, type, arithmetic, recursion ...
            why = f"cannot render template {self.source[:80]!r}: {type(exc).__name__}: {exc}"
            if budget.exceeded == "time" and time.thread_time() - cpu < self._seconds / 2:
                # out of wall time but not of CPU: the process was preempted (a loaded machine),
                # the template is not to blame
                raise _Preempted(f"{why} (preempted: not counted against it)") from exc
            if budget.exceeded is not None or isinstance(exc, RecursionError):
                raise TemplateBudgetError(why) from exc
            raise TemplateError(why) from exc
        finally:
            BUDGET.reset(token)
            if share is not None:  # the CPU the render used: time others took is not its
                share.spend(time.thread_time() - cpu)


class TemplateEngine:
    """Compiles and caches templates by source. One per process; thread-safe enough to share."""

    def __init__(
        self,
        *,
        fast_path: bool = True,
        max_source: int = MAX_SOURCE,
        max_output: int = MAX_OUTPUT,
        cache_size: int = 4096,
        render_seconds: float = RENDER_SECONDS,
        share: TimeShare | None = None,
    ) -> None:
        self.fast_path = fast_path
        self.max_source = max_source
        self.max_output = max_output
        self.render_seconds = render_seconds
        self.share = share if share is not None else TimeShare()
        self._cache_size = cache_size
        self._cache: OrderedDict[str, CompiledTemplate] = OrderedDict()
        self._env = SandboxEnvironment()

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
        if "regex" in source:
            # the regex filters' module loads on first use (~2 MB); loading it inside a render
            # (tens of ms of CPU on a Pi) would count against that render's budget
            import regex  # noqa: F401
        self._check_tokens(source)
        template, fast, uses_json = self._compile(source)
        compiled = CompiledTemplate(source, template, fast, uses_json, self.max_output,
                                    self.render_seconds, self.share)
        self._cache[source] = compiled
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return compiled

    def _check_tokens(self, source: str) -> None:
        """Refuse a template of more than ``MAX_TOKENS`` tokens (Jinja compiles ~25 us each);
        the count stops at the limit."""
        try:
            for count, _token in enumerate(self._env.lex(source.strip())):
                if count >= MAX_TOKENS:
                    raise TemplateError(
                        f"template {source[:80]!r} has more than {MAX_TOKENS} tokens"
                    )
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"invalid template {source[:80]!r}: {exc}") from exc

    def _compile(self, source: str) -> Built:
        """Parse, plan the fast path, guard and compile (bounded by ``MAX_TOKENS``)."""
        env = self._env
        try:
            tree = env.parse(source.strip())  # HA strips templates too
            fast = fast_plan(tree, env) if self.fast_path else None
            uses_json = "value_json" in meta.find_undeclared_variables(tree)
            tree = BudgetGuard().visit(tree)
            tree.set_environment(env)
            code = env.compile(tree)
            template = env.template_class.from_code(env, code, env.make_globals(None), None)
        except Exception as exc:
            raise TemplateError(f"invalid template {source[:80]!r}: {exc}") from exc
        return template, fast, uses_json

    def render(
        self, source: str, payload: bytes | str, value_json: Any = _AUTO, **variables: Any
    ) -> str:
        """Shorthand for ``compile(source).render(payload, value_json, **variables)``."""
        return self.compile(source).render(payload, value_json, **variables)

    def render_command(self, template: str | CompiledTemplate, value: Any, **variables: Any) -> str:
        """Render a ``command_template`` with ``value`` (the command) as is."""
        compiled = template if isinstance(template, CompiledTemplate) else self.compile(template)
        return compiled.render_command(value, **variables)
