"""Entity ids as HA's entity registry makes them: slug of device and name, ``_2`` ... for
repeats, never longer than 255 characters (HA's ``MAX_LENGTH_STATE_ENTITY_ID``)."""

from __future__ import annotations

import orjson
import pytest
from discovery_samples import parse_one

from spark.hub.entity_ids import MAX_ENTITY_ID, EntityIds


def spec(name: str, **extra: object):  # type: ignore[no-untyped-def]
    config = {"name": name, "state_topic": "t/s", "unique_id": f"u{len(name)}", **extra}
    return parse_one("homeassistant/sensor/x/y/config", orjson.dumps(config))


@pytest.mark.parametrize("length", [10, 250, 251, 300, 5_000])
def test_ids_stay_within_255_characters_and_unique(length: int) -> None:
    ids, taken = EntityIds(), set()
    for _ in range(12):
        entity_id = ids.allocate(spec("a" * length), None, taken)
        assert len(entity_id) <= MAX_ENTITY_ID
        assert entity_id not in taken
        taken.add(entity_id)
    wanted = f"sensor.{'a' * length}"[:MAX_ENTITY_ID]
    assert wanted in taken
    # HA's registry: the wanted part cut so that "_<n>" fits
    assert f"{wanted[:MAX_ENTITY_ID - 3]}_12" in taken


def test_a_long_default_entity_id_is_cut_too() -> None:
    entity_id = EntityIds().allocate(spec("x", default_entity_id="sensor." + "b" * 400), None,
                                     set())
    assert entity_id == ("sensor." + "b" * 400)[:MAX_ENTITY_ID]
