"""Service calls as the hub's neighbours see them: what a caller asks of the hub's services
(:class:`ServiceCaller`, implemented by ``hub.services.Services``) and what the hub runs for a
consumer of commands from elsewhere (:class:`CommandSource`, e.g. the Kafka cloud source that
app/runtime builds). Layers below the hub type against these, never against the hub."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from spark.core.errors import ServiceError

__all__ = ["CommandSource", "CommandSources", "PublishConfirmed", "ServiceCaller",
           "ServiceCommand", "ServiceError"]

# topic, payload, qos, retain -> returns once the broker acknowledged the publish
PublishConfirmed = Callable[[str, str | bytes, int, bool], Awaitable[None]]


class ServiceCommand(Protocol):
    """The MQTT command a service call publishes."""

    @property
    def topic(self) -> str: ...
    @property
    def payload(self) -> str: ...
    @property
    def qos(self) -> int: ...
    @property
    def retain(self) -> bool: ...
    @property
    def secret(self) -> bool:
        """The payloads carry a secret (an alarm code): log and report them hidden."""
        ...
    @property
    def messages(self) -> tuple[tuple[str, str], ...]:
        """Every message, in order: (``topic``, ``payload``) first, then the others (a light's
        brightness topic, a climate's mode topic ...)."""
        ...


class ServiceCaller(Protocol):
    """Calls ``turn_on``, ``select_option``, ... on an entity the hub knows. Both raise
    :class:`ServiceError` saying why a call cannot be carried out."""

    def check(self, service: str, entity_id: str, data: dict[str, Any]) -> ServiceCommand:
        """The command a call would publish, without publishing it: the entity is known and
        available and the call valid for it."""
        ...

    async def call(self, service: str, entity_id: str, data: dict[str, Any] | None = None,
                   *, wait: bool = False, timeout: float = 5.0) -> dict[str, Any]:
        """Publish the command; with ``wait``, return once the device confirms."""
        ...

    def published(self, entity_id: str, command: ServiceCommand) -> None:
        """The caller published a command from :meth:`check`: an optimistic entity takes the
        state it sets (Home Assistant's ``optimistic``), as after :meth:`call`."""
        ...


class CommandSource(Protocol):
    """A consumer of commands from outside MQTT, run by the hub as a task until it stops; it
    supervises its own link (an outage never stops the hub)."""

    async def run(self) -> None: ...


# Built by app/runtime, called by the hub once its services and MQTT client exist: the
# command sources to run, by name.
CommandSources = Callable[[ServiceCaller, PublishConfirmed], Mapping[str, CommandSource]]
