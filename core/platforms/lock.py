"""``lock``, with Home Assistant's MQTT lock semantics (HA 2025.4; checked against its
``test_lock.py`` in tests/test_platform_devices.py).

- State: the rendered payload is matched against ``state_locked`` / ``state_unlocked`` /
  ``state_locking`` / ``state_unlocking`` / ``state_jammed`` / ``state_open`` /
  ``state_opening`` (defaults ``LOCKED``, ``UNLOCKED``, ..., ``OPENING``) and becomes
  ``locked``, ``unlocked``, ``locking``, ``unlocking``, ``jammed``, ``open``, ``opening``;
  ``payload_reset`` (default ``None``) makes it unknown; anything else is rejected.
- Services: ``lock`` / ``unlock`` publish ``payload_lock`` / ``payload_unlock`` (defaults
  ``LOCK`` / ``UNLOCK``); ``open`` publishes ``payload_open`` and exists only when the config
  sets it (HA's ``LockEntityFeature.OPEN``). ``command_template`` applies to each, with the
  variables ``value`` (the payload) and ``code`` (the call's ``code``; None without one).
- Codes (HA's ``LockEntity.add_default_code``): with a ``code_format`` (a regular expression,
  attribute ``code_format``) a call's code (``""`` without one) must match it from its start
  (``re.match``, as HA: anchor the pattern with ``$`` to match it whole), else the call is
  refused ("needs a code" without one) and nothing is published. HA's entity option
  ``lock.default_code`` (the code used when a call has none) has no place here: the hub keeps
  no per-entity options. The pattern comes from the network: it is refused at
  discovery unless ``_regex.safe_regex`` finds it cheap to run, and a code is at most
  :data:`MAX_CODE` characters. The code is a secret: never in an error message, and the call's
  result hides what was published.
- Optimistic (no ``state_topic``, or ``optimistic: true``): a call does not wait for the device
  to confirm; otherwise ``wait=True`` waits for ``locked`` / ``unlocked`` / ``open`` (passing
  through ``locking`` ...).
- Panel: a toggle, on = ``locked``; with a ``code_format`` a code field beside it whose code
  goes with the call (as HA's more-info dialog). Voice: the lock can be asked about ("what is
  the front door").
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import field_validator

from spark.core.discovery.models import DiscoveredEntity, OptStr, Str
from spark.core.errors import CodeError, PayloadError, ServiceError
from spark.core.platforms._families import spec_of
from spark.core.platforms._regex import MAX_TEXT, safe_regex
from spark.core.platforms.base import Control, Entity, Order, Platform, Publish, Words

MAX_CODE = MAX_TEXT  # characters of a code a caller may send (what safe_regex bounds)

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
    code_format: OptStr = None

    @field_validator("code_format")
    @classmethod
    def _code_format(cls, value: str | None) -> str | None:
        if value is not None:
            safe_regex(value, "code_format")  # refused at discovery, as HA's cv.is_regex
        return value

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


def _pattern(entity: Entity, source: str) -> re.Pattern[str]:
    """The entity's ``code_format`` compiled, once per config (kept in its memo)."""
    kept = entity.memo.get("code_format")
    if isinstance(kept, re.Pattern) and kept.pattern == source:
        return kept
    compiled = safe_regex(source, "code_format")
    entity.memo["code_format"] = compiled
    return compiled


class Lock(Platform):
    name = "lock"
    Schema = LockSchema
    services = tuple(COMMANDS)
    state_attributes = True
    # HA's MQTT_LOCK_ATTRIBUTES_BLOCKED: json_attributes may not set these
    blocked_attributes = frozenset({"changed_by", "code_format"})
    # with a code_format the panel asks for a code (HA's more-info dialog), sent with each call
    control = Control("toggle", on="lock", off="unlock", on_state="locked", code="code_format")
    # HA's "lock the front door" / "unlock the front door": always asked back (a "yes" acts)
    confirm_calls = True  # the agent asks first
    words = Words(listed=True, on_verbs=("lock",), off_verbs=("unlock",), on_service="lock",
                  off_service="unlock", confirm=True)

    def initial(self, entity: Entity) -> str | None:
        """HA's state attribute ``code_format`` (only when the config has one)."""
        code_format = _schema(entity).code_format
        if code_format is None:
            entity.attributes.pop("code_format", None)
        else:
            entity.attributes["code_format"] = code_format
        return None

    def arguments(self, entity: Entity, service: str) -> dict[str, dict[str, Any]]:
        if _schema(entity).code_format is None:
            return {}
        return {"code": {"type": "string", "maxLength": MAX_CODE}}

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
        spec = _schema(entity)
        payload = getattr(spec, key)
        if payload is None:
            raise ServiceError(f"{entity.entity_id} cannot open: its config has no payload_open")
        code = _code(entity, spec, data.get("code"), service)
        if entity.template("command_template") is None:
            return Order(str(payload), confirms, secret=code is not None)
        return Order(str(payload), confirms, publishes=(Publish(
            "command_topic", payload, "command_template", {"code": code}),),
            secret=code is not None)


def _code(entity: Entity, spec: LockSchema, value: Any, service: str) -> str | None:
    """The call's code (None without one), checked against ``code_format`` as HA's
    ``add_default_code``: the code, or ``""`` without one, must ``re.match`` the pattern.
    Refusals are :class:`CodeError` and never say which code was given."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, str | int)):
        raise CodeError("code must be text or a number", "form")
    code = "" if value is None else str(value)
    if len(code) > MAX_CODE:
        raise CodeError(f"code longer than {MAX_CODE} characters", "form")
    fmt = spec.code_format
    if fmt is not None and _pattern(entity, fmt).match(code) is None:
        if not code:
            raise CodeError(f"{service} on {entity.entity_id} needs a code (its code_format is "
                            f"{_shown(fmt)})", "missing")
        raise CodeError(f"{service} on {entity.entity_id}: the code does not match its "
                        f"code_format {_shown(fmt)}", "form")
    return code or None


def _shown(pattern: str) -> str:
    """A pattern from the network in a message: quoted, what is not printable as ``?``."""
    return "'" + "".join(c if c.isprintable() else "?" for c in pattern) + "'"
