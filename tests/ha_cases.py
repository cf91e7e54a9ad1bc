"""Home Assistant's MQTT cases as data, and the two ways they run.

A :class:`Case` is one fact from HA's ``tests/components/mqtt/test_<platform>.py`` (or
``test_common.py``) in our own words: a discovery config, messages on its topics, maybe a service
call, and what must follow (state, attributes, availability, the messages published in order, or
the error that refuses the call before anything is published).

Topics are named by config key (``"state_topic"``, ``"activity_state_topic"``,
``"availability.1"`` for the second entry of an ``availability`` list); each case's topic values
are put under ``zigbee2mqtt/c<n>/`` so that cases never share a topic, and its entity is
``<platform>.case_<n>``.

- :func:`run_offline`: the hub's own :class:`Registry` and :class:`Services`, fed in the test
  (every case; the fast way to see which one fails);
- :func:`run_through_hub`: every case of a table in one real hub against Mosquitto, discovery and
  device messages from a Zigbee2MQTT client, commands seen on the broker by an observer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
import paho.mqtt.client as paho
import pytest
from helpers import wait_for
from lab import publish_as, recorder, running_hub

from spark.core.discovery.abbreviations import ABBREVIATIONS
from spark.core.errors import ServiceError
from spark.core.events import EventBus
from spark.core.topics import TopicLayout
from spark.hub.entity import EntityRecord
from spark.hub.registry import Registry
from spark.hub.services import Services

ABSENT = object()  # the attribute must not be there
SAME = object()  # not checked


@dataclass(frozen=True)
class Case:
    name: str
    config: dict[str, Any]
    messages: list[tuple[str, str | bytes]] = field(default_factory=list)
    call: tuple[str, dict[str, Any]] | None = None
    published: list[tuple[str, str]] | None = None  # (config key of the topic, payload)
    state: Any = SAME
    attrs: dict[str, Any] = field(default_factory=dict)
    available: bool | None = None
    error: str | None = None  # the call is refused with a ServiceError matching this
    refused: bool = False  # discovery refuses the config (no entity)
    offline_only: bool = False  # needs the test's clock or hooks (expire_after ...)


def ids(cases: list[Case]) -> list[str]:
    return [c.name for c in cases]


def prefix(n: int) -> str:
    return f"zigbee2mqtt/c{n}/"


def config_of(component: str, n: int, config: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"unique_id": f"{component}-case-{n}", "object_id": f"case_{n}",
                           "name": f"Case {n}"}
    for key, value in config.items():
        if ABBREVIATIONS.get(key, key).endswith("topic") and isinstance(value, str):
            value = prefix(n) + value
        elif key == "availability" and isinstance(value, list):
            value = [{**a, "topic": prefix(n) + a["topic"]} if isinstance(a, dict) else a
                     for a in value]
        out[key] = value
    return out


def topic_of(component: str, n: int, config: dict[str, Any], key: str) -> str:
    full = config_of(component, n, config)
    if key.startswith("availability."):
        value = full["availability"][int(key.split(".")[1])]["topic"]
    else:
        value = {ABBREVIATIONS.get(k, k): v for k, v in full.items()}.get(key)
    assert isinstance(value, str), f"case config has no {key}"
    return value


def _message(topic: str, payload: str | bytes) -> paho.MQTTMessage:
    msg = paho.MQTTMessage(topic=topic.encode())
    msg.payload = payload.encode() if isinstance(payload, str) else payload
    return msg


def discovery(component: str, n: int) -> str:
    return f"homeassistant/{component}/c{n}/x/config"


def problems(record: EntityRecord | None, case: Case) -> list[str]:
    """What about ``record`` differs from the case (empty: it matches)."""
    if record is None:
        return ["no entity"]
    out = []
    if case.state is not SAME and record.state != case.state:
        out.append(f"state {record.state!r}, expected {case.state!r}")
    if case.available is not None and record.available != case.available:
        out.append(f"available {record.available}, expected {case.available}")
    for key, want in case.attrs.items():
        got = record.attributes.get(key, ABSENT)
        if got != want if want is not ABSENT else got is not ABSENT:
            out.append(f"{key} = {got!r}, expected {'absent' if want is ABSENT else want!r}")
    return out


class Offline:
    """The hub's registry and services, fed in the test (no broker)."""

    def __init__(self) -> None:
        self.bus = EventBus()
        self.registry = Registry(TopicLayout(), self.bus, lambda t: None, lambda t: None)
        self.sent: list[tuple[str, str]] = []
        self.services = Services(self.registry, self.bus,
                                 lambda t, p, q, r: self.sent.append((t, p)), TopicLayout())

    async def announce(self, component: str, n: int, config: dict[str, Any] | None) -> None:
        payload = b"" if config is None else orjson.dumps(config_of(component, n, config))
        await self.discover(discovery(component, n), payload)

    async def discover(self, topic: str, payload: bytes) -> None:
        """A discovery message, taken once the registry's intake (which defers configs to a
        later pass of the event loop when a pass has spent its slice) has drained."""
        self.registry.on_discovery(_message(topic, payload))
        await wait_for(lambda: self.registry.discovery_backlog == 0, 10,
                       what="discovery intake drained")

    def get(self, component: str, n: int = 0) -> EntityRecord | None:
        return self.registry.get(f"{component}.case_{n}")

    def feed(self, component: str, n: int, config: dict[str, Any],
             messages: list[tuple[str, str | bytes]]) -> None:
        for key, payload in messages:
            self.registry.on_message(_message(topic_of(component, n, config, key), payload))


async def run_offline(component: str, case: Case) -> Offline:
    hub = Offline()
    await hub.announce(component, 0, case.config)
    record = hub.get(component)
    if case.refused:
        assert record is None, f"{case.name}: the config was not refused"
        return hub
    assert record is not None, f"{case.name}: {hub.registry.stats.last_error}"
    hub.feed(component, 0, case.config, case.messages)
    if case.call is not None:
        service, data = case.call
        if case.error is not None:
            with pytest.raises(ServiceError, match=case.error):
                await hub.services.call(service, record.entity_id, dict(data))
            assert hub.sent == [], f"{case.name}: published {hub.sent} before refusing"
            return hub
        await hub.services.call(service, record.entity_id, dict(data))
        want = [(topic_of(component, 0, case.config, k), p) for k, p in case.published or []]
        assert hub.sent == want, f"{case.name}: published {hub.sent}, expected {want}"
    assert not problems(record, case), f"{case.name}: {problems(record, case)}"
    return hub


async def run_through_hub(broker: Any, component: str, cases: list[Case]) -> None:
    """Every case (but the refused and offline-only ones) through one hub and Mosquitto."""
    cases = [c for c in cases if not c.refused and not c.offline_only]
    cfg = broker.spark_config(nodes=[])
    pw = broker.passwords
    async with running_hub(cfg, pw["hub"]) as hub, \
            recorder(cfg, "admin", pw["admin"], "zigbee2mqtt/#") as rec:
        reg, services = hub.registry, hub.services
        assert reg is not None and services is not None
        await publish_as(cfg, "zigbee2mqtt", pw["zigbee2mqtt"], [
            (discovery(component, n), orjson.dumps(config_of(component, n, c.config)), False)
            for n, c in enumerate(cases)])
        await wait_for(lambda: all(reg.get(f"{component}.case_{n}") is not None
                                   for n in range(len(cases))), 15, what="every case discovered")
        start = reg.stats.messages
        feed = [(topic_of(component, n, c.config, key),
                 payload if isinstance(payload, bytes) else payload.encode(), False)
                for n, c in enumerate(cases) for key, payload in c.messages]
        await publish_as(cfg, "zigbee2mqtt", pw["zigbee2mqtt"], feed)
        await wait_for(lambda: reg.stats.messages >= start + len(feed), 15,
                       what="every case's messages routed")
        for n, case in enumerate(cases):
            entity_id = f"{component}.case_{n}"
            if case.call is not None:
                service, data = case.call
                if case.error is not None:
                    with pytest.raises(ServiceError, match=case.error):
                        await services.call(service, entity_id, dict(data))
                else:
                    await services.call(service, entity_id, dict(data))
                    want = [(topic_of(component, n, case.config, k), p.encode())
                            for k, p in case.published or []]
                    await _published(rec, prefix(n), want, case.name)
            record = reg.get(entity_id)
            await wait_for(lambda r=record, c=case: not problems(r, c), 10,  # type: ignore[misc]
                           what=f"{case.name}: {problems(record, case)}")
        for n, case in enumerate(cases):  # refused calls published nothing at all
            if case.error is not None or (case.call is not None and not case.published):
                sent = [m.topic for m in rec.messages if m.topic.startswith(prefix(n))
                        and m.topic not in {t for t, _, _ in feed}]
                assert sent == [], f"{case.name}: published {sent}"


async def _published(rec: Any, start: str, want: list[tuple[str, bytes]], name: str) -> None:
    topics = {t for t, _ in want}

    def seen() -> list[tuple[str, bytes]]:
        return [(m.topic, m.payload) for m in rec.messages if m.topic in topics]

    await wait_for(lambda: seen() == want, 10, what=f"{name}: {want}, seen {seen()}")
