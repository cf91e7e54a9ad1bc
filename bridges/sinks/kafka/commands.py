"""What the edge does with one cloud command: check it, then publish the entity's command.

Checks, in order: well-formed (:class:`CloudCommand`), not expired (``expires_at``) nor older
than ``source.max_age``, allowed (``source.allow_entities`` globs and ``allow_services``), the
entity known to the hub registry and available, and the call valid for it
(:meth:`~core.services.ServiceCaller.check`). Then the command is published with
``publish_confirmed``, which returns once the MQTT broker acknowledged it. Command ids are
remembered, so a replayed message is answered ("duplicate") without running twice.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime

from spark.bridges.sinks.kafka.config import CloudSourceConfig
from spark.bridges.sinks.kafka.messages import CloudCommand, CommandResult, command_id_of
from spark.core.errors import PayloadError
from spark.core.services import PublishConfirmed, ServiceCaller, ServiceError

log = logging.getLogger(__name__)

REMEMBERED = 10_000  # command ids kept to answer replays without re-executing


@dataclass(slots=True)
class SourceStats:
    executed: int = 0
    rejected: int = 0
    duplicates: int = 0
    models: int = 0
    committed: int = 0
    restarts: int = 0


class CommandExecutor:
    def __init__(self, config: CloudSourceConfig, services: ServiceCaller,
                 publish: PublishConfirmed, stats: SourceStats) -> None:
        self.config = config
        self.services = services
        self.stats = stats
        self._publish = publish
        self._done: OrderedDict[str, CommandResult] = OrderedDict()

    async def execute(self, payload: bytes | None, sent_at: float | None,
                      where: str) -> CommandResult:
        """Run one command; ``sent_at`` is the Kafka timestamp (epoch s), ``where`` names the
        message (topic/partition@offset) in logs and in the result."""
        try:
            cmd = CloudCommand.from_payload(payload)
        except PayloadError as exc:
            return self._reject(command_id_of(payload), None, None, str(exc), where)
        previous = self._done.get(cmd.id)
        if previous is not None:
            self.stats.duplicates += 1
            log.info("cloud command %s from %s already handled (%s); not repeated", cmd.id,
                     where, previous.status)
            return previous.model_copy(update={"status": "duplicate", "source": where})
        reason = self._refuse(cmd, sent_at)
        if reason is None:
            try:  # unknown entity, unavailable, or a call not valid for it
                command = self.services.check(cmd.service, cmd.entity_id, cmd.data)
            except ServiceError as exc:
                reason = str(exc)
        if reason is not None:
            result = self._reject(cmd.id, cmd.entity_id, cmd.service, reason, where)
        else:
            # The caller commits the offset once this returns: the broker has the command.
            for out_topic, out_payload in command.messages:
                await self._publish(out_topic, out_payload, max(1, command.qos), command.retain)
            self.services.published(cmd.entity_id, command)
            self.stats.executed += 1
            shown = "(hidden: it carries a code)" if command.secret else command.payload
            log.info("cloud command %s: %s %s -> %s %r", cmd.id, cmd.service, cmd.entity_id,
                     command.topic, shown)
            result = CommandResult(id=cmd.id, status="ok", entity_id=cmd.entity_id,
                                   service=cmd.service, topic=command.topic,
                                   payload=shown, source=where)
        self._done[cmd.id] = result
        while len(self._done) > REMEMBERED:
            self._done.popitem(last=False)
        return result

    def _refuse(self, cmd: CloudCommand, sent_at: float | None) -> str | None:
        cfg, now = self.config, datetime.now(UTC)
        if cmd.expires_at is not None and cmd.expires_at.astimezone(UTC) <= now:
            return f"expired at {cmd.expires_at.isoformat()}"
        if cfg.max_age is not None:
            issued = cmd.issued_at.timestamp() if cmd.issued_at is not None else sent_at
            age = now.timestamp() - issued if issued is not None else 0.0
            if age > cfg.max_age:
                return f"stale: issued {age:.0f}s ago (max_age {cfg.max_age:g}s)"
        if not cfg.allows(cmd.entity_id, cmd.service):
            return (f"{cmd.service} on {cmd.entity_id} is not allowed from the cloud "
                    "(bridges kafka source.allow_entities / allow_services)")
        return None

    def _reject(self, cmd_id: str | None, entity_id: str | None, service: str | None,
                reason: str, where: str) -> CommandResult:
        self.stats.rejected += 1
        log.warning("cloud command %s from %s rejected: %s", cmd_id or "(no id)", where, reason)
        return CommandResult(id=cmd_id, status="rejected", entity_id=entity_id, service=service,
                             reason=reason, source=where)
