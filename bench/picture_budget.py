"""RSS of the hub's registry after a picture flood: ``python -m bench.picture_budget``.

200 cameras announced, then a 1 MB picture each, through the hub's own :class:`Registry` (the
part that keeps pictures; no broker: what is measured is what the hub holds, not paho's
buffers), once with no effective budget (``hub.max_picture_bytes`` = 16 GiB: main's behaviour,
every picture kept) and once with the default 64 MiB, each in a fresh process. Prints the RSS
before and after the flood and the bytes the budget counts.
"""

from __future__ import annotations

import gc
import subprocess
import sys

CAMERAS = 200
SIZE = 1_000_000
UNCAPPED = 2**34


def flood(budget: int) -> None:
    import orjson
    import paho.mqtt.client as paho
    import psutil

    from spark.core.events import EventBus
    from spark.core.topics import TopicLayout
    from spark.hub.registry import Registry, RegistryLimits
    from spark.hub.registry_guard import release_memory

    def message(topic: str, payload: bytes) -> paho.MQTTMessage:
        msg = paho.MQTTMessage(topic=topic.encode())
        msg.payload = payload
        return msg

    proc = psutil.Process()
    reg = Registry(TopicLayout(), EventBus(), lambda t: None, lambda t: None,
                   limits=RegistryLimits(max_picture_bytes=budget))
    for n in range(CAMERAS):
        reg.on_discovery(message(f"homeassistant/camera/flood/c{n}/config", orjson.dumps(
            {"name": f"Cam {n}", "unique_id": f"cam{n}", "topic": f"flood/{n}"})))
    gc.collect()
    release_memory()
    before = proc.memory_info().rss
    for n in range(CAMERAS):
        reg.on_message(message(f"flood/{n}", bytes([n % 251]) * SIZE))
    gc.collect()
    release_memory()
    after = proc.memory_info().rss
    kept = sum(1 for r in reg.entities.values() if r.image is not None)
    label = "no budget (main)" if budget == UNCAPPED else f"budget {budget / 2**20:g} MiB"
    print(f"{label:>18}: RSS {before / 2**20:6.1f} -> {after / 2**20:6.1f} MiB "
          f"(+{(after - before) / 2**20:.1f}); {kept} pictures kept, "
          f"{reg.pictures.held / 2**20:.1f} MiB counted, {reg.pictures.evicted} dropped")


def main(argv: list[str]) -> int:
    if argv:
        flood(int(argv[0]))
        return 0
    for budget in (UNCAPPED, 64 * 2**20):
        subprocess.run([sys.executable, "-m", "bench.picture_budget", str(budget)], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
