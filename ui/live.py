"""Hub events pushed to one open page: a bounded bus subscription per browser tab, drained by
a task that lives as long as the page's client (no polling anywhere)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from nicegui import background_tasks, context

from spark.core.events import EventBus, HubEvent

log = logging.getLogger(__name__)
Handler = Callable[[list[HubEvent]], None]


class Live:
    """Call ``handler`` with each batch of events (what queued while the last batch ran)."""

    def __init__(self, bus: EventBus, types: tuple[type[HubEvent], ...], handler: Handler,
                 maxsize: int = 5000) -> None:
        self.handler = handler
        self.client = context.client
        self.sub = bus.subscribe(types, maxsize)
        self.task = background_tasks.create(self._run(), name="panel-live")
        self.client.on_delete(self.close)

    async def _run(self) -> None:
        queue = self.sub.queue
        while True:
            batch = [await queue.get()]
            while not queue.empty():
                batch.append(queue.get_nowait())
            if self.client.is_deleted:
                return
            try:
                self.handler(batch)
            except Exception:
                log.exception("panel: live update failed")

    def close(self) -> None:
        self.sub.close()
        self.task.cancel()
