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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from spark.core.errors import ServiceError
from spark.core.events import EventBus, HubEvent, StateChanged
from spark.core.platforms import platform_for, service_names
from spark.core.topics import TopicLayout
from spark.hub.entity import EntityRecord
from spark.hub.policy import HUB, Caller, Policy, PolicyError, command_target
from spark.hub.registry import Registry

__all__ = ["Caller", "Command", "PolicyError", "ServiceError", "Services"]  # and SERVICES

PublishFn = Callable[[str, Any, int, bool], None]


def __getattr__(name: str) -> Any:
    """``SERVICES``: every platform's services (computed on first use, not at import)."""
    if name == "SERVICES":
        return service_names()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True, slots=True)
class Command:
    topic: str
    payload: str
    expect: str | None  # state that confirms it; None: nothing to wait for
    qos: int
    retain: bool


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
        if not spec.command_topic:
            raise ServiceError(f"{entity.entity_id} has no command topic (read-only)")
        order = platform_for(spec.component).command(entity, service, data)
        payload, expect = order.payload, order.expect
        if spec.command_template:
            payload = self.registry.templates.compile(spec.command_template).render_command(payload)
        if not spec.state_topic or spec.optimistic:
            expect = None
        own = (spec.state_topic, spec.json_attributes_topic, *(a.topic for a in spec.availability))
        target = command_target(self._layout, entity.entity_id, spec.command_topic, spec.node_id,
                                own, bool(spec.retain))
        return Command(target.topic, payload, expect, spec.qos or 0, target.retain)

    def check(self, service: str, entity_id: str, data: dict[str, Any]) -> Command:
        """The command :meth:`call` would publish, unpublished (``core.services.ServiceCaller``:
        the cloud source publishes it itself, confirmed)."""
        entity = self.registry.get(entity_id)
        if entity is None:
            raise ServiceError(f"unknown entity {entity_id}")
        if not entity.available:
            raise ServiceError(f"{entity_id} is unavailable")
        return self.build(service, entity, data)

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
        cmd = self.build(service, entity, data or {})
        fut: asyncio.Future[str] | None = None
        if wait and cmd.expect is not None and not _same(entity.state, cmd.expect):
            fut = asyncio.get_running_loop().create_future()
            self._waiters.setdefault(entity_id, []).append((cmd.expect, fut))
        self._publish(cmd.topic, cmd.payload, cmd.qos, cmd.retain)
        result: dict[str, Any] = {"entity_id": entity_id, "service": service,
                                  "topic": cmd.topic, "payload": cmd.payload}
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
