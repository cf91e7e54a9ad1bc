"""Services (``turn_on``, ``select_option``, ``press``, ...: each platform's, see
``core/platforms/``) called on entities.

The entity's platform module validates the call against its discovery config and builds the
command payload (``payload_on``, JSON for JSON-schema lights, ...); here the ``command_template``
is applied and the command published. With ``wait=True`` the call returns only when the device
confirms the new state.

Every call names its caller and passes ``hub.policy`` first, and every command topic passes the
protected-topic check (``spark.hub.policy``): the hub publishes with rights no node has, so a
discovery config must not be able to point it at availability, state or discovery topics.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from spark.core.errors import ServiceError, SparkError, TemplateError
from spark.core.events import EventBus, HubEvent, StateChanged
from spark.core.platforms import platform_for, service_names
from spark.core.topics import TopicLayout
from spark.hub.entity import EntityRecord
from spark.hub.policy import HUB, Caller, Policy, PolicyError, command_target
from spark.hub.registry import Registry

__all__ = ["Caller", "Command", "PolicyError", "ServiceError", "Services"]  # and SERVICES

log = logging.getLogger(__name__)

PublishFn = Callable[[str, Any, int, bool], None]
HIDDEN = "(hidden: it carries a code)"  # a secret payload as a caller sees it


def __getattr__(name: str) -> Any:
    """``SERVICES``: every platform's services (computed on first use, not at import)."""
    if name == "SERVICES":
        return service_names()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True, slots=True)
class Command:
    """What a call publishes: the first message (``topic``, ``payload``) and, for platforms
    with several command topics, the ``extra`` ones after it, in Home Assistant's order."""

    topic: str
    payload: str
    expect: str | None  # state that confirms it; None: nothing to wait for
    qos: int
    retain: bool
    extra: tuple[tuple[str, str], ...] = ()
    assume: dict[str, Any] | None = None  # optimistic: the attributes taken at once
    optimistic: bool = False
    state: str | None = None  # the state the call sets (taken at once when optimistic)
    memo: dict[str, Any] | None = None  # the platform's memory the call sets (Order.memo)
    secret: bool = False  # the payloads carry a secret (an alarm code): never shown to callers

    @property
    def messages(self) -> tuple[tuple[str, str], ...]:
        return ((self.topic, self.payload), *self.extra)


class Services:
    def __init__(self, registry: Registry, bus: EventBus, publish: PublishFn,
                 layout: TopicLayout, policy: Policy | None = None) -> None:
        self.registry = registry
        self.bus = bus
        self._publish = publish
        self._layout = layout
        self.policy = policy or Policy()
        self._waiters: dict[str, list[tuple[str, asyncio.Future[str]]]] = {}
        bus.listen(self._on_event, (StateChanged,))

    def build(self, service: str, entity: EntityRecord, data: dict[str, Any]) -> Command:
        spec = entity.spec
        known = service_names()
        if service not in known:
            raise ServiceError(f"unknown service {service!r}; known: {', '.join(known)}")
        if not spec.command_topic and not platform_for(spec.component).state_topics:
            raise ServiceError(f"{entity.entity_id} has no command topic (read-only)")
        platform = platform_for(spec.component)
        try:
            order = platform.command(entity, service, data)
        except SparkError:
            raise
        except (ArithmeticError, LookupError, TypeError, ValueError) as exc:
            # service data reach here from the REST API, the panel, Kafka and the LLM's tool
            # calls: a number a platform's checks missed is a refusal, never a 500 / a dead
            # tool loop (and a log line with the traceback: a check to add)
            log.exception("%s on %s: the platform failed on data keys %s", service,
                          entity.entity_id, sorted(str(k)[:40] for k in data)[:20])
            raise ServiceError(f"{entity.entity_id}: cannot {service} with these values "
                               f"({type(exc).__name__})") from None
        expect = order.expect
        own = (spec.state_topic, spec.json_attributes_topic, *(a.topic for a in spec.availability),
               *(getattr(spec, key, None) for key in platform.state_topics))
        messages: list[tuple[str, str]] = []
        retain = False
        if order.publishes:
            for pub in order.publishes:
                topic = getattr(spec, pub.topic_key, None)
                if not isinstance(topic, str) or not topic:
                    raise ServiceError(f"{entity.entity_id} has no {pub.topic_key}: cannot "
                                       f"{service} with {sorted(data)}")
                tpl = entity.template(pub.template_key) if pub.template_key else None
                try:
                    payload = (tpl.render_command(pub.value, **(pub.variables or {}))
                               if tpl is not None else _text(pub.value))
                except TemplateError as exc:  # nothing is published yet: the caller may retry
                    raise ServiceError(f"{entity.entity_id}: {pub.template_key}: {exc}") from exc
                target = command_target(self._layout, entity.entity_id, topic, spec.node_id,
                                        own, bool(spec.retain))
                messages.append((target.topic, payload))
                retain = target.retain
        else:
            if not spec.command_topic:
                raise ServiceError(f"{entity.entity_id} has no command topic (read-only)")
            payload = order.payload
            if spec.command_template:
                try:
                    payload = self.registry.templates.compile(
                        spec.command_template).render_command(payload)
                except TemplateError as exc:
                    raise ServiceError(f"{entity.entity_id}: command_template: {exc}") from exc
            target = command_target(self._layout, entity.entity_id, spec.command_topic,
                                    spec.node_id, own, bool(spec.retain))
            messages.append((target.topic, payload))
            retain = target.retain
        optimistic = (order.optimistic if order.optimistic is not None
                      else platform.optimistic(entity))
        if not messages:
            raise ServiceError(f"{entity.entity_id}: {service} publishes nothing")
        (topic, payload), *extra = messages
        assume = order.assume if optimistic or order.assume_always else None
        return Command(topic, payload, None if optimistic else expect, spec.qos or 0, retain,
                       tuple(extra), assume, optimistic, expect, order.memo, order.secret)

    def check(self, service: str, entity_id: str, data: dict[str, Any]) -> Command:
        """The command :meth:`call` would publish, unpublished (``core.services.ServiceCaller``:
        the cloud source publishes it itself, confirmed)."""
        entity = self.registry.get(entity_id)
        if entity is None:
            raise ServiceError(f"unknown entity {entity_id}")
        if not entity.available:
            raise ServiceError(f"{entity_id} is unavailable")
        if entity.disabled_by_default:
            raise ServiceError(f"{entity_id} is disabled (enabled_by_default: false)")
        return self.build(service, entity, data)

    def published(self, entity_id: str, command: Any) -> None:
        """A command from :meth:`check` was published by its caller (the cloud source): an
        optimistic entity takes its state now, as after :meth:`call`."""
        entity = self.registry.get(entity_id)
        if entity is not None and isinstance(command, Command):
            self._applied(entity, command)

    def _applied(self, entity: EntityRecord, cmd: Command) -> None:
        if cmd.optimistic or cmd.assume or cmd.memo:
            self.registry.assume(entity, cmd.state if cmd.optimistic else None, cmd.assume or {},
                                 cmd.memo)

    async def call(
        self, service: str, entity_id: str, data: dict[str, Any] | None = None,
        *, wait: bool = False, timeout: float = 5.0, caller: Caller = HUB,
    ) -> dict[str, Any]:
        """Call ``service`` on ``entity_id`` for ``caller`` (default: the hub itself; RPC, the
        panel and the API pass theirs): :class:`PolicyError` when the caller may not."""
        self.policy.check_call(caller, service, entity_id)
        entity = self.registry.get(entity_id)
        if entity is None:
            raise ServiceError(f"unknown entity {entity_id!r}")
        if not entity.available:
            raise ServiceError(f"{entity_id} is unavailable")
        if entity.disabled_by_default:
            raise ServiceError(f"{entity_id} is disabled (its config says enabled_by_default: "
                               "false)")
        cmd = self.build(service, entity, data or {})
        fut: asyncio.Future[str] | None = None
        if wait and cmd.expect is not None and not _same(entity.state, cmd.expect):
            fut = asyncio.get_running_loop().create_future()
            self._waiters.setdefault(entity_id, []).append((cmd.expect, fut))
        for topic, payload in cmd.messages:
            self._publish(topic, payload, cmd.qos, cmd.retain)
        self._applied(entity, cmd)
        shown = (lambda p: HIDDEN) if cmd.secret else (lambda p: p)
        result: dict[str, Any] = {"entity_id": entity_id, "service": service,
                                  "topic": cmd.topic, "payload": shown(cmd.payload)}
        if cmd.extra:
            result["messages"] = [{"topic": t, "payload": shown(p)} for t, p in cmd.messages]
        if fut is not None:
            try:
                async with asyncio.timeout(timeout):
                    result["state"] = await fut
            except TimeoutError:
                raise ServiceError(
                    f"{entity_id} did not confirm {cmd.expect!r} within {timeout}s"
                ) from None
            finally:
                waiters = self._waiters.get(entity_id, [])
                self._waiters[entity_id] = [w for w in waiters if w[1] is not fut]
        else:
            result["state"] = entity.state
        return result

    def _on_event(self, event: HubEvent) -> None:
        assert isinstance(event, StateChanged)
        waiters = self._waiters.get(event.entity_id)
        if not waiters:
            return
        for expect, fut in waiters:
            if _same(event.new_state, expect) and not fut.done():
                fut.set_result(event.new_state or "")


def _same(state: str | None, expect: str) -> bool:
    if state == expect:
        return True
    try:
        return state is not None and float(state) == float(expect)
    except ValueError:
        return False


def _text(value: Any) -> str:
    """A command value as HA publishes it without a template (``str()``; floats that are
    whole numbers keep their ``.0`` as in Python, booleans as ``True``/``False``)."""
    return value if isinstance(value, str) else str(value)
