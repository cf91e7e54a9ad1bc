"""A picture flood against a real ``spark hub`` process on the test Mosquitto.

Finding: each camera / image entity kept its latest picture (up to 8 MB each) with no total, so
a third-party publisher (the ``zigbee2mqtt`` account, allowed to publish discovery) could
announce hundreds of cameras and send each a picture: the hub grew by gigabytes (with
``mqtt.max_payload`` at its 256 KiB default, 20,000 entities x 256 KiB is 5 GB). Now the
pictures share ``hub.max_picture_bytes``: the least recently updated are dropped first (the API
then answers "no image", as before the first picture; one log line per burst), a picture
larger than the budget is rejected, a removed entity frees its bytes.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from broker_fixture import free_port
from e2e.harness import ADMIN_PASSWORD, Lab, running_lab, wait_until
from helpers import Recorder

Z2M = "zigbee2mqtt"
KIB = 1024
BUDGET = 1024 * KIB  # the hub's hub.max_picture_bytes here (the default is 64 MiB)
SIZE = 200 * KIB  # each attacker picture: 5 fit the budget
CAMERAS = 40  # 8 MB of pictures sent, 8x the budget


@pytest.fixture(scope="module")
def lab(broker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    root = tmp_path_factory.mktemp("picture-flood")
    with running_lab(root, broker, free_port(), [], hub={"max_picture_bytes": BUDGET},
                     mqtt={"max_payload": 2 * BUDGET}) as running:
        yield running


@pytest.fixture
def api(lab: Lab) -> Iterator[Any]:
    with lab.api() as api:
        api.login("admin", ADMIN_PASSWORD)
        yield api


def picture(n: int, size: int = SIZE) -> bytes:
    head = b"\xff\xd8\xff" + f"cam{n}".encode()
    return head + bytes([n % 251]) * (size - len(head))


def served(api: Any, entity_id: str) -> tuple[int, bytes]:
    r = api.get(f"/api/entities/{entity_id}/image")
    return r.status_code, r.content


def hub_sensor(api: Any) -> dict[str, Any]:
    found = api.entity("sensor.hub_entities_refused") or {}
    return dict(found.get("attributes") or {})


def test_a_camera_flood_keeps_the_hub_within_its_picture_budget(lab: Lab, broker: Any,
                                                                 api: Any) -> None:
    tag = uuid.uuid4().hex[:6]
    ids = [f"camera.flood_{tag}_{n}" for n in range(CAMERAS)]
    with Recorder(broker.host, broker.port, Z2M, broker.passwords[Z2M]) as z2m:
        z2m.connect()
        for n in range(CAMERAS):
            z2m.publish(f"homeassistant/camera/flood{tag}/c{n}/config", json.dumps({
                "name": f"Flood {n}", "unique_id": f"flood_{tag}_{n}",
                "object_id": f"flood_{tag}_{n}", "topic": f"zigbee2mqtt/flood{tag}/{n}"}))
        wait_until(lambda: api.entity(ids[-1]), 15, "the last flood camera")
        for n in range(CAMERAS):  # in order: the last five are the newest
            z2m.publish(f"zigbee2mqtt/flood{tag}/{n}", picture(n), timeout=15)
        newest = ids[-5:]
        wait_until(lambda: all(served(api, e)[0] == 200 for e in newest), 15,
                   "the newest pictures")
        # The newest five are kept and served whole; the older ones were dropped: the API
        # answers "no image" for them, as for a camera that never sent one.
        for n, entity_id in enumerate(ids):
            code, body = served(api, entity_id)
            entity = api.entity(entity_id)
            if entity_id in newest:
                assert (code, body) == (200, picture(n)), entity_id
                assert entity["has_image"] is True
            else:
                assert code == 404, (entity_id, code)
                assert entity["has_image"] is False and entity["state"] == "idle"
        # The hub's diagnostics: the bytes held stay within the budget, 35 pictures dropped
        # (and any older picture another test left retained on the shared broker).
        wait_until(lambda: hub_sensor(api).get("picture_bytes") == 5 * SIZE, 30,
                   "the hub sensor's picture_bytes")
        stats = hub_sensor(api)
        assert stats["max_picture_bytes"] == BUDGET
        dropped = stats["pictures_dropped"]
        assert dropped >= CAMERAS - 5
        # One log line for the whole burst, not one per dropped picture.
        assert lab.log("hub").count("picture budget full") == 1, lab.log("hub")[-2000:]

        # A picture larger than the whole budget is rejected; the camera keeps its last one.
        z2m.publish(f"zigbee2mqtt/flood{tag}/{CAMERAS - 1}", picture(99, BUDGET + 1),
                    timeout=15)
        wait_until(lambda: "larger than the hub's picture budget" in lab.log("hub"), 15,
                   "the rejected picture's log line")
        assert served(api, ids[-1]) == (200, picture(CAMERAS - 1))

        # Removing a camera frees its bytes: a dropped camera's next picture then fits
        # without dropping another.
        z2m.publish(f"homeassistant/camera/flood{tag}/c{CAMERAS - 1}/config", b"")
        wait_until(lambda: api.entity(ids[-1]) is None, 15, "the removed camera")
        z2m.publish(f"zigbee2mqtt/flood{tag}/0", picture(0))
        wait_until(lambda: served(api, ids[0])[0] == 200, 15, "camera 0's new picture")
        assert all(served(api, e)[0] == 200 for e in ids[-5:-1])
        wait_until(lambda: hub_sensor(api).get("picture_bytes") == 5 * SIZE
                   and api.entity(ids[-1]) is None, 30, "the hub sensor after the removal")
        assert hub_sensor(api)["pictures_dropped"] == dropped
