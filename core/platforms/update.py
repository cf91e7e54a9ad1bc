"""``update``, with Home Assistant's MQTT update semantics (HA 2025.4).

- ``state_topic`` (through ``value_template``): a JSON object with any of ``installed_version``,
  ``latest_version``, ``title``, ``release_summary``, ``release_url``, ``entity_picture``,
  ``in_progress`` (bool), ``update_percentage`` (0..100 or null); any other payload is the
  installed version. An empty payload is ignored, a JSON object with a field of the wrong type is
  ignored whole. ``latest_version_topic`` (through ``latest_version_template``) sets the latest
  version on its own.
- State: unknown until both versions are known; ``off`` when they are equal or the installed one
  is newer, ``on`` when the latest is newer, and ``on`` when they differ but cannot be compared
  (HA's rule). Attributes: ``installed_version``, ``latest_version``, ``title``,
  ``release_summary``, ``release_url``, ``in_progress``, ``update_percentage``, ``skipped_version``,
  ``auto_update``, ``entity_picture``, ``display_precision``; ``in_progress`` is also true while
  an ``update_percentage`` is known (as HA's).
- ``install`` publishes ``payload_install`` to ``command_topic`` (only when both are set).
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from pydantic import Field

from spark.core.discovery.models import DiscoveredEntity, OptStr, SubTopic
from spark.core.errors import ServiceError
from spark.core.platforms._families import spec_of
from spark.core.platforms.base import IGNORE, Control, Entity, Order, Platform, Words

TEXT_FIELDS = ("installed_version", "latest_version", "title", "release_summary", "release_url",
               "entity_picture")
MAX_FIELD = 4096  # characters of a text field kept (release notes can be long)
_VERSION = re.compile(r"v?(\d+(?:\.\d+){0,5})")


class UpdateSchema(DiscoveredEntity):
    latest_version_topic: SubTopic = None
    latest_version_template: OptStr = None
    payload_install: OptStr = None
    title: OptStr = None
    release_summary: OptStr = None
    release_url: OptStr = None
    entity_picture: OptStr = None
    display_precision: int | None = Field(default=None, ge=0, le=10)


def _schema(entity: Entity) -> UpdateSchema:
    return spec_of(entity, UpdateSchema)


def newer(latest: str, installed: str) -> bool | None:
    """Whether ``latest`` is newer than ``installed``; None when they cannot be compared."""
    a, b = _VERSION.fullmatch(latest), _VERSION.fullmatch(installed)
    if a is None or b is None:
        return None
    return tuple(map(int, a.group(1).split("."))) > tuple(map(int, b.group(1).split(".")))


def update_state(attrs: dict[str, Any]) -> str | None:
    installed, latest = attrs.get("installed_version"), attrs.get("latest_version")
    if installed is None or latest is None:
        return None
    if latest == installed:
        return "off"
    verdict = newer(str(latest), str(installed))
    return "on" if verdict is None or verdict else "off"


class Update(Platform):
    name = "update"
    Schema = UpdateSchema
    services = ("install",)
    state_topics = ("latest_version_topic",)
    state_attributes = True
    control = Control("group", parts=(
        Control("button", service="install", label="Install", needs="payload_install"),))
    words = Words(listed=True)

    @staticmethod
    def _defaults(entity: Entity) -> None:
        spec = _schema(entity)
        attrs = entity.attributes
        for key in ("title", "release_summary", "release_url", "entity_picture"):
            attrs.setdefault(key, getattr(spec, key))
        for key in ("installed_version", "latest_version", "update_percentage",
                    "skipped_version"):
            attrs.setdefault(key, None)
        attrs.setdefault("in_progress", False)
        attrs.setdefault("auto_update", False)
        attrs.setdefault("display_precision", spec.display_precision)

    def state(self, entity: Entity, payload: bytes) -> Any:
        self._defaults(entity)
        value = self.render(entity, payload)
        if not value:
            return IGNORE
        try:
            data = orjson.loads(value)
        except orjson.JSONDecodeError:
            data = None
        if not isinstance(data, dict):
            data = {"installed_version": value}
        changes: dict[str, Any] = {}
        for key in TEXT_FIELDS:
            if key in data:
                got = data[key]
                if got is not None and not isinstance(got, str):
                    return IGNORE  # HA: the payload does not validate, ignored whole
                changes[key] = got if got is None else got[:MAX_FIELD]
        if "in_progress" in data:
            if not isinstance(data["in_progress"], bool):
                return IGNORE
            entity.memo["in_progress"] = data["in_progress"]
        if "update_percentage" in data:
            pct = data["update_percentage"]
            if pct is not None and (isinstance(pct, bool) or not isinstance(pct, int | float)
                                    or not 0 <= pct <= 100):
                return IGNORE
            changes["update_percentage"] = pct
        entity.attributes.update(changes)
        # HA: a known percentage means an install is under way
        entity.attributes["in_progress"] = bool(entity.memo.get("in_progress")) or \
            entity.attributes.get("update_percentage") is not None
        return update_state(entity.attributes)

    def topic_state(self, entity: Entity, key: str, payload: bytes) -> Any:
        self._defaults(entity)
        value = self.render_key(entity, "latest_version_template", payload)
        if not value:
            return IGNORE
        entity.attributes["latest_version"] = value[:MAX_FIELD]
        return update_state(entity.attributes)

    def optimistic(self, entity: Entity) -> bool:
        return False  # an install is confirmed by the versions the device reports

    def command(self, entity: Entity, service: str, data: dict[str, Any]) -> Order:
        if service != "install":
            raise self.refuse(entity, service)
        payload = _schema(entity).payload_install
        if payload is None:
            raise ServiceError(f"{entity.entity_id} cannot install: its config has no "
                               "payload_install")
        return Order(payload, None)
