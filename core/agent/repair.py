"""How often a node puts back what someone else overwrote on its topics (its discovery
configs): a few times a minute per topic, so two publishers fighting over one topic (a second
process with our id, a hostile account) never loop for ever."""

from __future__ import annotations

import logging
import time

log = logging.getLogger(__name__)

REPAIRS_PER_MINUTE = 5  # per topic
MAX_TOPICS = 4096  # remembered at once; more (a flood of planted configs) starts over


class RepairBudget:
    def __init__(self, node_id: str, per_minute: int = REPAIRS_PER_MINUTE) -> None:
        self.node_id = node_id
        self.per_minute = per_minute
        self._spent: dict[str, tuple[float, int]] = {}  # topic -> (window start, repairs)

    def allow(self, topic: str) -> bool:
        """True when ``topic`` may be repaired now (and count it)."""
        now = time.monotonic()
        window, count = self._spent.get(topic, (now, 0))
        if now - window > 60.0:
            window, count = now, 0
        if count >= self.per_minute:
            if count == self.per_minute:
                log.error("%s: %s keeps being overwritten; not repairing it again for a minute",
                          self.node_id, topic)
                self._spent[topic] = (window, count + 1)
            return False
        if len(self._spent) >= MAX_TOPICS:
            self._spent.clear()
        self._spent[topic] = (window, count + 1)
        return True
