"""Data-driven platform cases (Home Assistant's ``tests/components/mqtt/test_<platform>.py``
facts, in our own tables), run two ways: through the hub's own registry and services fed in the
test (fast, every case), and through a real hub and Mosquitto (the same tables, all cases of a
platform in one hub).

A case names topics by config key (``"state_topic"``, ``"position_topic"``): each case's topic
values are put under ``zigbee2mqtt/c<n>/`` so the cases do not share topics, and its entity is
``<platform>.case_<n>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
import paho.mqtt.client as paho
import pytest
from helpers import wait_for
from lab import publish_as, recorder, running_hub

from spark.core.discovery import DiscoveredEntity, parse_discovery
from spark.core.errors import ServiceError
from spark.core.events import EventBus
from spark.core.topics import DiscoveryTopic, TopicLayout
from spark.hub.entity import EntityRecord
from spark.hub.registry import Registry
from spark.hub.services import Services

ABSENT = object()  # an attribute the entity must not have
SAME = object()  # the state is not checked


@dataclass(frozen=True)
class StateCase:
    """Config, then messages (config key of the topic, payload) -> state and attributes."""

    name: str
    config: dict[str, Any]
    messages: list[tuple[str, str]]
    state: Any = SAME
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CommandCase:
    """Config and messages first, then a service call -> the messages published (config key
    of the topic, payload), in order, and the state / attributes after it (optimistic)."""

    name: str
    config: dict[str, Any]
    service: str
    data: dict[str, Any]
    published: list[tuple[str, str]] = field(default_factory=list)
    before: list[tuple[str, str]] = field(default_factory=list)
    state: Any = SAME
    attrs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # a ServiceError matching this (nothing published)


@dataclass(frozen=True)
class Call:
    """A step of a :class:`SequenceCase`: a service call and what it publishes (config key of
    the topic, payload), in order."""

    service: str
    published: list[tuple[str, str]]
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SequenceCase:
    """Config, then steps in order: a device message (config key of the topic, payload) or a
    :class:`Call` -> what each call publishes (a platform's memory of earlier states and calls,
    as a cover's toggle direction)."""

    name: str
    config: dict[str, Any]
    steps: list[tuple[str, str] | Call]


def ids(cases: list[Any]) -> list[str]:
    return [c.name for c in cases]


def _config(component: str, n: int, config: dict[str, Any]) -> dict[str, Any]:
    out = {"unique_id": f"{component}-case-{n}", "object_id": f"case_{n}",
           "name": f"Case {n}"}
    for key, value in config.items():
        out[key] = (f"zigbee2mqtt/c{n}/{value}" if key.endswith("topic") and isinstance(
            value, str) else value)
    return out


def _topic(component: str, n: int, config: dict[str, Any], key: str) -> str:
    value = _config(component, n, config)[key]
    assert isinstance(value, str), f"case config has no {key}"
    return value


def _message(topic: str, payload: str | bytes, retain: bool = False) -> paho.MQTTMessage:
    msg = paho.MQTTMessage(topic=topic.encode())
    msg.payload = payload.encode() if isinstance(payload, str) else payload
    msg.retain = retain
    return msg


def check(record: EntityRecord, state: Any, attrs: dict[str, Any], name: str) -> None:
    if state is not SAME:
        assert record.state == state, f"{name}: state {record.state!r}, expected {state!r}"
    for key, want in attrs.items():
        if want is ABSENT:
            assert key not in record.attributes, f"{name}: {key} should be absent"
        else:
            got = record.attributes.get(key, ABSENT)
            assert got == want, f"{name}: {key} = {got!r}, expected {want!r}"


def matches(record: EntityRecord | None, state: Any, attrs: dict[str, Any]) -> bool:
    if record is None:
        return False
    try:
        check(record, state, attrs, "")
    except AssertionError:
        return False
    return True


class Offline:
    """The hub's registry and services, fed in the test (no broker)."""

    def __init__(self) -> None:
        self.bus = EventBus()
        self.registry = Registry(TopicLayout(), self.bus, lambda t: None, lambda t: None)
        self.sent: list[tuple[str, str]] = []
        self.services = Services(self.registry, self.bus,
                                 lambda t, p, q, r: self.sent.append((t, p)), TopicLayout())

    @staticmethod
    def parse(component: str, config: dict[str, Any]) -> DiscoveredEntity:
        """The discovery schema's verdict on a config (``PayloadError`` when refused)."""
        (spec,) = parse_discovery(DiscoveryTopic(component, "c", "x"),
                                  orjson.dumps({"unique_id": "x", **config}))
        assert isinstance(spec, DiscoveredEntity)
        return spec

    def add(self, component: str, n: int, config: dict[str, Any]) -> EntityRecord:
        topic = f"homeassistant/{component}/c{n}/x/config"
        self.registry.on_discovery(_message(topic, orjson.dumps(_config(component, n, config))))
        record = self.registry.get(f"{component}.case_{n}")
        assert record is not None, f"case {n}: {self.registry.stats.last_error}"
        return record

    def remove(self, component: str, n: int) -> None:
        """The empty retained config: the case's entity is removed."""
        self.registry.on_discovery(_message(f"homeassistant/{component}/c{n}/x/config", b""))

    def feed(self, component: str, n: int, config: dict[str, Any],
             messages: list[tuple[str, str]]) -> None:
        for key, payload in messages:
            self.registry.on_message(_message(_topic(component, n, config, key), payload))


def run_state_offline(component: str, case: StateCase) -> None:
    hub = Offline()
    record = hub.add(component, 0, case.config)
    hub.feed(component, 0, case.config, case.messages)
    check(record, case.state, case.attrs, case.name)


async def run_command_offline(component: str, case: CommandCase) -> None:
    hub = Offline()
    record = hub.add(component, 0, case.config)
    hub.feed(component, 0, case.config, case.before)
    if case.error is not None:
        with pytest.raises(ServiceError, match=case.error):
            await hub.services.call(case.service, record.entity_id, dict(case.data))
        assert hub.sent == []
        return
    await hub.services.call(case.service, record.entity_id, dict(case.data))
    want = [(_topic(component, 0, case.config, key), payload) for key, payload in case.published]
    assert hub.sent == want, f"{case.name}: published {hub.sent}, expected {want}"
    check(record, case.state, case.attrs, case.name)


async def run_sequence_offline(component: str, case: SequenceCase) -> None:
    hub = Offline()
    record = hub.add(component, 0, case.config)
    for n, step in enumerate(case.steps):
        if isinstance(step, Call):
            hub.sent.clear()
            await hub.services.call(step.service, record.entity_id, dict(step.data))
            want = [(_topic(component, 0, case.config, key), payload)
                    for key, payload in step.published]
            assert hub.sent == want, f"{case.name}, step {n}: published {hub.sent}, " \
                                     f"expected {want}"
        else:
            hub.feed(component, 0, case.config, [step])


async def _discover(cfg: Any, pw: dict[str, str], reg: Any, component: str,
                    configs: list[dict[str, Any]]) -> None:
    """Announce each case's config as case_<n> (from a Zigbee2MQTT client); wait for all."""
    await publish_as(cfg, "zigbee2mqtt", pw["zigbee2mqtt"], [
        (f"homeassistant/{component}/c{n}/x/config",
         orjson.dumps(_config(component, n, config)), False)
        for n, config in enumerate(configs)])
    await wait_for(lambda: all(reg.get(f"{component}.case_{n}") is not None
                               for n in range(len(configs))), 10, what="every case discovered")


async def run_sequences_through_hub(broker: Any, component: str,
                                    cases: list[SequenceCase]) -> None:
    """Every sequence through one real hub and Mosquitto, steps in order: a device message is
    routed before the next step runs; a call's messages are seen on the broker."""
    cfg = broker.spark_config(nodes=[])
    pw = broker.passwords
    async with running_hub(cfg, pw["hub"]) as hub, \
            recorder(cfg, "admin", pw["admin"], "zigbee2mqtt/#") as rec:
        reg, services = hub.registry, hub.services
        assert reg is not None and services is not None
        await _discover(cfg, pw, reg, component, [case.config for case in cases])
        for n, case in enumerate(cases):
            entity_id = f"{component}.case_{n}"
            sent: list[tuple[str, bytes]] = []
            for i, step in enumerate(case.steps):
                if isinstance(step, Call):
                    sent += [(_topic(component, n, case.config, key), payload.encode())
                             for key, payload in step.published]
                    await services.call(step.service, entity_id, dict(step.data))
                    await _published(rec, list(sent), f"{case.name}, step {i}")
                else:
                    start = reg.stats.messages
                    key, payload = step
                    await publish_as(cfg, "zigbee2mqtt", pw["zigbee2mqtt"], [
                        (_topic(component, n, case.config, key), payload.encode(), False)])
                    await wait_for(lambda s=start: reg.stats.messages > s, 5,
                                   what=f"{case.name}, step {i} routed")


async def run_through_hub(broker: Any, component: str, states: list[StateCase],
                          commands: list[CommandCase]) -> None:
    """Every case of a platform through one real hub and Mosquitto: discovery and device
    messages from a Zigbee2MQTT client, commands seen on the broker by an observer."""
    cfg = broker.spark_config(nodes=[])
    pw = broker.passwords
    commands = [c for c in commands if c.error is None]
    cases: list[StateCase | CommandCase] = [*states, *commands]
    async with running_hub(cfg, pw["hub"]) as hub, \
            recorder(cfg, "admin", pw["admin"], "zigbee2mqtt/#") as rec:
        reg, services = hub.registry, hub.services
        assert reg is not None and services is not None
        await _discover(cfg, pw, reg, component, [case.config for case in cases])
        start = reg.stats.messages
        feed = [(_topic(component, n, case.config, key), payload.encode(), False)
                for n, case in enumerate(cases)
                for key, payload in (case.messages if isinstance(case, StateCase)
                                     else case.before)]
        await publish_as(cfg, "zigbee2mqtt", pw["zigbee2mqtt"], feed)
        await wait_for(lambda: reg.stats.messages >= start + len(feed), 10,
                       what="every case's messages routed")
        for n, case in enumerate(states):
            await _settled(reg.get(f"{component}.case_{n}"), case.state, case.attrs, case.name)
        for n, case in enumerate(commands, start=len(states)):
            entity_id = f"{component}.case_{n}"
            want = [(_topic(component, n, case.config, key), payload.encode())
                    for key, payload in case.published]
            await services.call(case.service, entity_id, dict(case.data))
            await _published(rec, want, case.name)
            await _settled(reg.get(entity_id), case.state, case.attrs, case.name)


async def _settled(record: EntityRecord | None, state: Any, attrs: dict[str, Any],
                   name: str) -> None:
    await wait_for(lambda: matches(record, state, attrs), 5, what=name)


async def _published(rec: Any, want: list[tuple[str, bytes]], name: str) -> None:
    topics = {t for t, _ in want}

    def seen() -> list[tuple[str, bytes]]:
        return [(m.topic, m.payload) for m in rec.messages if m.topic in topics]

    await wait_for(lambda: seen() == want, 5, what=f"{name}: {want}")
