"""``lock``, with Home Assistant's MQTT lock semantics (HA 2025.4; checked against its
``test_lock.py`` in tests/test_platform_devices.py).

- State: the rendered payload is matched against ``state_locked`` / ``state_unlocked`` /
  ``state_locking`` / ``state_unlocking`` / ``state_jammed`` / ``state_open`` /
  ``state_opening`` (defaults ``LOCKED``, ``UNLOCKED``, ..., ``OPENING``) and becomes
  ``locked``, ``unlocked``, ``locking``, ``unlocking``, ``jammed``, ``open``, ``opening``;
  ``payload_reset`` (default ``None``) makes it unknown; anything else is rejected.
- Services: ``lock`` / ``unlock`` publish ``payload_lock`` / ``payload_unlock`` (defaults
  ``LOCK`` / ``UNLOCK``); ``open`` publishes ``payload_open`` and exists only when the config
  sets it (HA's ``LockEntityFeature.OPEN``). ``command_template`` applies to each.
- Optimistic (no ``state_topic``, or ``optimistic: true``): a call does not wait for the device
  to confirm; otherwise ``wait=True`` waits for ``locked`` / ``unlocked`` / ``open`` (passing
  through ``locking`` ...).
- Panel: a toggle, on = ``locked``. Voice: the lock can be asked about ("what is the front door").
"""

from __future__ import annotations

from typing import Any

from spark.core.discovery.models import DiscoveredEntity, OptStr, Str
from spark.core.errors import PayloadError, ServiceError
from spark.core.platforms._families import spec_of
from spark.core.platforms.base import Control, Entity, Order, Platform, Words

# config key -> (HA's default payload, our state)
STATES: dict[str, tuple[str, str]] = {
    "state_locked": ("LOCKED", "locked"),
    "state_unlocked": ("UNLOCKED", "unlocked"),
    "state_locking": ("LOCKING", "locking"),
    "state_unlocking": ("UNLOCKING", "unlocking"),
    "state_jammed": ("JAMMED", "jammed"),
    "state_open": ("OPEN", "open"),
    "state_opening": ("OPENING", "opening"),
}
# service -> (config key of its payload, the state that confirms it)
COMMANDS: dict[str, tuple[str, str]] = {
    "lock": ("payload_lock", "locked"),
    "unlock": ("payload_unlock", "unlocked"),
    "open": ("payload_open", "open"),
}


class LockSchema(DiscoveredEntity):
    REQUIRED = ("command_topic",)

    payload_lock: Str = "LOCK"
    payload_unlock: Str = "UNLOCK"
    payload_open: OptStr = None  # set: the lock can open (unlatch)
    payload_reset: Str = "None"
    state_locked: Str = "LOCKED"
    state_unlocked: Str = "UNLOCKED"
    state_locking: Str = "LOCKING"
    state_unlocking: Str = "UNLOCKING"
    state_jammed: Str = "JAMMED"
    state_open: Str = "OPEN"
    state_opening: Str = "OPENING"

    def lock_state(self, value: str) -> str | None:
        """Our state for a rendered payload; ``KeyError`` when it names none."""
        if value == self.payload_reset:
            return None
        for key, (_, state) in STATES.items():
            if value == getattr(self, key):
                return state
        raise KeyError(value)


def _schema(entity: Entity) -> LockSchema:
    return spec_of(entity, LockSchema)


class Lock(Platform):
    name = "lock"
    Schema = LockSchema
    services = tuple(COMMANDS)
    control = Control("toggle", on="lock", off="unlock", on_state="locked")
    # HA's "lock the front door" / "unlock the front door": always asked back (a "yes" acts)
    confirm_calls = True  # the agent asks first
    words = Words(listed=True, on_verbs=("lock",), off_verbs=("unlock",), on_service="lock",
                  off_service="unlock", confirm=True)

    def state(self, entity: Entity, payload: bytes) -> Any:
        # "None" is HA's default payload_reset, so it is matched here, not by Platform.state.
        return self._state(entity, self.render(entity, payload))

    @staticmethod
    def _state(entity: Entity, value: str) -> str | None:
        try:
            return _schema(entity).lock_state(value)
        except KeyError:
            raise PayloadError(
                f"{entity.entity_id}: {value[:40]!r} is not a lock state") from None

    def command(self, entity: Entity, service: str, data: dict[str, Any]) -> Order:
        if service not in COMMANDS:
            raise self.refuse(entity, service)
        key, confirms = COMMANDS[service]
        payload = getattr(_schema(entity), key)
        if payload is None:
            raise ServiceError(f"{entity.entity_id} cannot open: its config has no payload_open")
        return Order(str(payload), confirms)
