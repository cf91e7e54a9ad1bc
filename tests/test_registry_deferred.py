"""A state whose template render was skipped for the time share is applied later, not lost.

The hub shares template time between entities (``TimeShare``): when slow templates (a burst
of compiles from hundreds of devices announced at once, or a hostile template) have used it,
other renders are skipped with ``TemplateBusyError``. A CI run under CPU load caught retained
light states dropped that way. Now the registry keeps such a message (the latest per entity
and route) and applies it again shortly; a newer message on the route replaces it."""

from __future__ import annotations

import time
from typing import Any

import orjson
import paho.mqtt.client as paho
from helpers import wait_for

from spark.core.events import EventBus, StateChanged
from spark.core.topics import TopicLayout
from spark.hub.entity import EntityRecord
from spark.hub.registry import Registry
from spark.hub.templates import TemplateEngine
from spark.hub.templates.limits import TimeShare
from spark.hub.timers import Deferred

STATE = "z2m/kitchen/state"


def message(topic: str, payload: bytes) -> paho.MQTTMessage:
    msg = paho.MQTTMessage(topic=topic.encode())
    msg.payload = payload
    return msg


def hub_registry() -> tuple[Registry, TemplateEngine, list[StateChanged]]:
    bus = EventBus()
    changes: list[StateChanged] = []
    bus.listen(lambda e: changes.append(e) if isinstance(e, StateChanged) else None,
               (StateChanged,))
    engine = TemplateEngine(share=TimeShare(burst=0.02, rate=0.5))
    registry = Registry(TopicLayout(), bus, lambda t: None, lambda t: None, templates=engine)
    config = {"name": "Temperature", "unique_id": "kitchen_t", "state_topic": STATE,
              # (a statement: not the fast path that simple lookups take without a render)
              "value_template": "{% if value_json.t is defined %}{{ value_json.t }}{% endif %}"}
    registry.on_discovery(message("homeassistant/sensor/kitchen/t/config",
                                  orjson.dumps(config)))
    return registry, engine, changes


def record_of(registry: Registry) -> EntityRecord:
    record = registry.get("sensor.temperature")
    assert record is not None, registry.stats.last_error
    return record


async def test_a_skipped_render_is_applied_once_the_share_has_time() -> None:
    registry, engine, _ = hub_registry()
    record = record_of(registry)
    engine.share.spend(0.1)  # slow templates took the share: ~0.2 s until it has time again
    registry.on_message(message(STATE, b'{"t": 21.5}'))
    assert record.state != "21.5" and registry.pending(record)
    await wait_for(lambda: record.state == "21.5", 5, what="the deferred state applied")
    assert not registry.pending(record)
    assert registry.stats.rejected == 0 and not registry.stats.errors_by_entity


async def test_a_newer_message_replaces_the_one_waiting() -> None:
    registry, engine, changes = hub_registry()
    record = record_of(registry)
    engine.share.spend(0.1)
    registry.on_message(message(STATE, b'{"t": 1}'))
    registry.on_message(message(STATE, b'{"t": 2}'))
    await wait_for(lambda: record.state == "2", 5, what="the newest state applied")
    assert [c.new_state for c in changes if c.entity_id == record.entity_id] == ["2"]


async def test_a_removed_entity_is_not_brought_back() -> None:
    registry, engine, _ = hub_registry()
    record = record_of(registry)
    engine.share.spend(0.1)
    registry.on_message(message(STATE, b'{"t": 3}'))
    registry.on_discovery(message("homeassistant/sensor/kitchen/t/config", b""))
    assert registry.get("sensor.temperature") is None
    await wait_for(lambda: not len(registry._deferred), 5, what="the retry ran")
    assert registry.get("sensor.temperature") is None and record.state != "3"


def test_what_is_kept_is_bounded() -> None:
    applied: list[Any] = []
    deferred = Deferred(applied.extend, limit=3, max_bytes=100)
    keys = [f"k{n}" for n in range(5)]

    class Rec:  # what Deferred reads of a record: its key
        def __init__(self, key: str) -> None:
            self.key = key

    for key in keys:
        deferred.add(Rec(key), 0, 0, "t", b"x" * 10)  # type: ignore[arg-type]
    assert len(deferred) == 3 and deferred.dropped == 2 and deferred.bytes == 30
    deferred.add(Rec("big"), 0, 0, "t", b"y" * 90)  # type: ignore[arg-type]
    assert deferred.bytes <= 100 and deferred.holds(Rec("big"))  # type: ignore[arg-type]
    deferred.add(Rec("k9"), 0, 0, "t", b"z" * 101)  # type: ignore[arg-type]
    assert deferred.bytes <= 100  # larger than the bound: not kept at all


async def test_retries_take_a_slice_of_a_pass_the_rest_go_on_in_the_next() -> None:
    """Renders may take their whole budget (longer on a loaded machine): one pass of retries
    stops after ``SLICE`` and leaves the rest to the next passes of the event loop."""
    applied: list[str] = []

    class Rec:
        def __init__(self, key: str) -> None:
            self.key = key

    def slow_due(items: list[Any]) -> None:  # each apply costs 15 ms of CPU
        end = time.perf_counter() + 0.015
        while time.perf_counter() < end:
            pass
        applied.extend(item[0].key for item in items)

    deferred = Deferred(slow_due)
    for n in range(5):
        deferred.add(Rec(f"k{n}"), 0, 0, "t", b"x")  # type: ignore[arg-type]
    deferred.cancel()
    deferred._fire()  # one pass: 15 ms, then 30 ms >= the 20 ms slice: stop (sooner when
    # the machine is loaded; at least one is always applied)
    assert 1 <= len(applied) <= 2 and len(deferred) == 5 - len(applied)
    await wait_for(lambda: len(applied) == 5, 5, what="the rest applied in later passes")
    assert applied == [f"k{n}" for n in range(5)]
