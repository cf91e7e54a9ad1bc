"""Services: ``turn_on``, ``turn_off``, ``toggle``, ``select_option``, ``set_value``, ``press``.

Each call is validated against the entity's discovery config and becomes the command payload that
entity expects (``payload_on``, JSON for JSON-schema lights, ``command_template`` when given). With
``wait=True`` the call returns only when the device confirms the new state.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from spark.core.errors import ServiceError
from spark.core.events import EventBus, HubEvent, StateChanged
from spark.core.topics import TopicLayout
from spark.hub.entity import EntityRecord
from spark.hub.registry import Registry

SERVICES = ("turn_on", "turn_off", "toggle", "select_option", "set_value", "press")
ON_OFF = frozenset({"switch", "light", "fan", "siren", "humidifier"})

PublishFn = Callable[[str, Any, int, bool], None]


@dataclass(frozen=True, slots=True)
class Command:
    topic: str
    payload: str
    expect: str | None  # state that confirms it; None: nothing to wait for
    qos: int
    retain: bool


class Services:
    def __init__(self, registry: Registry, bus: EventBus, publish: PublishFn,
                 layout: TopicLayout) -> None:
        self.registry = registry
        self.bus = bus
        self._publish = publish
        self._layout = layout
        self._waiters: dict[str, list[tuple[str, asyncio.Future[str]]]] = {}
        bus.listen(self._on_event, (StateChanged,))

    def build(self, service: str, entity: EntityRecord, data: dict[str, Any]) -> Command:
        spec = entity.spec
        platform = spec.component
        if service not in SERVICES:
            raise ServiceError(f"unknown service {service!r}; known: {', '.join(SERVICES)}")
        if not spec.command_topic:
            raise ServiceError(f"{entity.entity_id} has no command topic (read-only)")
        if service == "toggle":
            service = "turn_off" if entity.state == "on" else "turn_on"
        if service in ("turn_on", "turn_off"):
            if platform not in ON_OFF:
                raise ServiceError(f"{service} does not apply to {platform} {entity.entity_id}")
            on = service == "turn_on"
            if platform == "light" and spec.raw.get("schema") == "json":
                body: dict[str, Any] = {"state": "ON" if on else "OFF"}
                if on and "brightness" in data:
                    body["brightness"] = int(data["brightness"])
                payload = orjson.dumps(body).decode()
            else:
                payload = str(spec.payload_on if on else spec.payload_off)
            expect: str | None = "on" if on else "off"
        elif service == "select_option":
            if platform != "select":
                raise ServiceError(f"select_option does not apply to {platform}")
            option = str(data.get("option", ""))
            if spec.options and option not in spec.options:
                raise ServiceError(
                    f"{option!r} is not an option of {entity.entity_id}: {', '.join(spec.options)}"
                )
            payload, expect = option, option
        elif service == "set_value":
            payload, expect = self._value(entity, data)
        else:  # press
            if platform != "button":
                raise ServiceError(f"press does not apply to {platform}")
            payload, expect = str(spec.payload_press), None
        if spec.command_template:
            payload = self.registry.templates.compile(spec.command_template).render_command(payload)
        if not spec.state_topic or spec.optimistic:
            expect = None
        return Command(spec.command_topic, payload, expect, spec.qos or 0, bool(spec.retain))

    @staticmethod
    def _value(entity: EntityRecord, data: dict[str, Any]) -> tuple[str, str | None]:
        spec = entity.spec
        if "value" not in data:
            raise ServiceError("set_value needs a 'value'")
        if spec.component == "text":
            return str(data["value"]), str(data["value"])
        if spec.component != "number":
            raise ServiceError(f"set_value does not apply to {spec.component}")
        try:
            value = float(data["value"])
        except (TypeError, ValueError):
            raise ServiceError(f"{data['value']!r} is not a number") from None
        low = spec.min if spec.min is not None else 1.0
        high = spec.max if spec.max is not None else 100.0
        if not math.isfinite(value) or not low <= value <= high:
            raise ServiceError(f"{value} is outside {low}..{high} for {entity.entity_id}")
        text = str(int(value)) if value.is_integer() else repr(value)
        return text, None if spec.value_template else text

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
        *, wait: bool = False, timeout: float = 5.0,
    ) -> dict[str, Any]:
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
