"""Save Mosquitto's persistence file soon after a discovery config changes.

Mosquitto saves retained messages every ``broker.autosave_interval`` seconds (60), so a retained
discovery config published less than that before a crash or power cut was lost, and a
third-party device (Zigbee2MQTT, Tasmota) that announced itself once stayed unknown after the
broker came back. Its ``autosave_on_changes`` mode cannot help: it counts every retained state
and every queued message too, and each save writes the whole database, so a save per change
would stall the broker under load.

So the code that started Mosquitto (``spark up``, ``spark broker``) watches the discovery prefix
and sends Mosquitto ``SIGUSR1`` ("save now") ``delay`` seconds after a config arrives, at most
once per ``spacing`` seconds however fast configs come. Discovery changes are rare (a burst when
a device joins or a bridge starts), so this costs a save per burst. Retained *states* keep the
``autosave_interval`` window: nodes and bridges re-publish them on reconnect.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal

from spark.core.config.mqtt import MqttConfig
from spark.core.mqtt.client import Message, MqttClient

log = logging.getLogger(__name__)


class DiscoverySaver:
    """``await saver.run()`` (until cancelled): watch ``<prefix>/#`` as ``mqtt``'s account and
    have the Mosquitto of ``pid`` save after every change of a discovery config."""

    def __init__(
        self, mqtt: MqttConfig, pid: int, *, delay: float = 0.2, spacing: float = 1.0
    ) -> None:
        self.mqtt = mqtt
        self.pid = pid
        self.delay = delay
        self.spacing = spacing
        self.saves = 0
        self._changed = asyncio.Event()

    def _on_message(self, msg: Message) -> None:
        if msg.topic.endswith("/config"):
            self._changed.set()

    def save_now(self) -> bool:
        """SIGUSR1: Mosquitto writes its persistence file. False when it is gone."""
        try:
            os.kill(self.pid, signal.SIGUSR1)
        except ProcessLookupError:
            return False
        self.saves += 1
        return True

    async def run(self) -> None:
        prefix = self.mqtt.layout().all_discovery()
        async with MqttClient(self.mqtt, "broker-saver") as client:
            client.subscribe(prefix, self._on_message, qos=0)
            loop = asyncio.get_running_loop()
            last = -self.spacing
            while True:
                await self._changed.wait()
                # Debounce: one save for a burst; never more than one per `spacing` seconds.
                wait = max(self.delay, last + self.spacing - loop.time())
                await asyncio.sleep(wait)
                self._changed.clear()
                if not self.save_now():
                    log.warning("broker saver: Mosquitto (pid %s) is gone; stopping", self.pid)
                    return
                last = loop.time()


async def run_saver(saver: DiscoverySaver) -> None:
    """:meth:`DiscoverySaver.run` as a background task: an error is logged, never raised (the
    broker goes on with its timed autosave)."""
    try:
        await saver.run()
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("broker saver stopped: discovery configs are saved every "
                      "broker.autosave_interval seconds only")
