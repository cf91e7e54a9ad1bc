"""Adding a platform is adding one module (issue 14): a throwaway ``gadget`` module, put beside
the platform modules for this test only, is taken by discovery parsing, the hub's services (and
the cloud allow-list and the policy that read their names), the panel's control, the history's
chart, the conversation agent's confirmation and voice (its words, its verbs, the services the
voice account may call, HA's sentence domains), without an edit anywhere else."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from ha_cases import Offline

import spark.core.platforms as platforms_package
from spark.core.discovery import DiscoveredEntity, parse_discovery
from spark.core.platforms import catalogue, platform_for, service_names, voice_services
from spark.core.topics import DiscoveryTopic

GADGET = '''
"""``gadget``: a device that zaps (a throwaway platform of tests/test_platform_added.py)."""

from __future__ import annotations

from typing import Any

from spark.core.discovery.models import DiscoveredEntity, Str
from spark.core.platforms.base import Control, Entity, Order, Platform, Words


class GadgetSchema(DiscoveredEntity):
    REQUIRED = ("command_topic",)

    payload_zap: Str = "ZAP"


class Gadget(Platform):
    name = "gadget"
    Schema = GadgetSchema
    services = ("zap",)
    control = Control("button", service="zap", label="Zap")
    words = Words(listed=True, on_verbs=("zap",), on_service="zap", ha_domains=("switch",))
    confirm_calls = True
    numeric = "always"

    def parse(self, entity: Entity, value: str) -> Any:
        return value.lower()

    def command(self, entity: Entity, service: str, data: dict[str, Any]) -> Order:
        if service != "zap":
            raise self.refuse(entity, service)
        spec = entity.spec
        assert isinstance(spec, GadgetSchema)
        return Order(spec.payload_zap, None)
'''
MODULE = f"{platforms_package.__name__}.gadget"


def _forget() -> None:
    """Clear every cache that holds what the package scan found."""
    from spark.nodes.voice import intents

    for cached in (catalogue, platform_for, service_names, intents.platform_verbs,
                   intents._verb_patterns):
        cached.cache_clear()


@pytest.fixture
def gadget(tmp_path: Path) -> Iterator[None]:
    """The package's search path gets a folder holding ``gadget.py`` (the source tree is not
    touched); everything is as before afterwards."""
    (tmp_path / "gadget.py").write_text(textwrap.dedent(GADGET))
    path = platforms_package.__path__
    path.append(str(tmp_path))
    _forget()
    try:
        yield
    finally:
        path.remove(str(tmp_path))
        sys.modules.pop(MODULE, None)
        _forget()
    assert "gadget" not in catalogue()


async def test_a_new_platform_module_is_all_it_takes(gadget: None) -> None:
    # the scan finds it; discovery parses its configs with its schema (and its rules)
    assert "gadget" in catalogue()
    topic = DiscoveryTopic("gadget", "dev", "obj")
    (spec,) = parse_discovery(topic, orjson.dumps({"unique_id": "g1", "command_topic": "g/c",
                                                   "state_topic": "g/s"}))
    assert isinstance(spec, DiscoveredEntity) and type(spec).__name__ == "GadgetSchema"
    with pytest.raises(ValueError, match="command_topic"):
        parse_discovery(topic, orjson.dumps({"unique_id": "g2", "state_topic": "g/s"}))

    # the hub: discovery, state through the module, its service published
    hub = Offline()
    await hub.discover("homeassistant/gadget/dev/obj/config",
                       orjson.dumps({"unique_id": "g1", "object_id": "bench",
                                     "command_topic": "g/c", "state_topic": "g/s",
                                     "payload_zap": "BZZT"}))
    record = hub.registry.get("gadget.bench")
    assert record is not None, hub.registry.stats.last_error
    hub.registry.on_message(_message("g/s", b"READY"))
    assert record.state == "ready"
    assert "zap" in service_names()
    await hub.services.call("zap", record.entity_id, {})
    assert hub.sent == [("g/c", "BZZT")]

    # who may call it: the cloud's allow-list, the policy, the voice account's grant
    from spark.bridges.sinks.kafka.config import CloudSourceConfig

    assert CloudSourceConfig(allow_services=["zap"]).allow_services == ["zap"]
    assert "zap" in voice_services()

    # the panel: a control kind it has a widget for; the history: a line
    from spark.hub.recorder.models import EntityMeta
    from spark.ui.controls import WIDGETS

    control = platform_for("gadget").control
    assert control is not None and control.kind in WIDGETS
    assert control.call(None) == ("zap", {})
    assert EntityMeta("gadget.bench", "gadget").chart == "line"

    # the conversation agent asks first
    assert platform_for("gadget").confirm_calls

    # voice: its name is in the vocabulary, its verb is understood, its service is called
    from spark.nodes.voice.actions import call_for
    from spark.nodes.voice.intents import recognize
    from spark.nodes.voice.phrases import extra_domains
    from spark.nodes.voice.vocab import build_vocabulary

    vocab = build_vocabulary([{"entity_id": record.entity_id, "platform": "gadget",
                               "name": "Bench", "commandable": True}])
    intent = recognize("zap the bench", vocab)
    assert intent.target is not None and intent.target.entity_id == record.entity_id
    assert call_for(intent) == ("zap", {})
    assert "gadget" in extra_domains()["switch"]


def _message(topic: str, payload: bytes) -> object:
    import paho.mqtt.client as paho

    msg = paho.MQTTMessage(topic=topic.encode())
    msg.payload = payload
    return msg
