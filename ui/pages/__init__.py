"""The panel's pages, registered by :func:`register` from the web server's startup."""

from __future__ import annotations

from spark.ui.pages import (
    assistant,
    dashboard,
    entities,
    entity,
    login,
    media,
    power,
    routing,
    users,
)
from spark.ui.panel import Panel


def register(panel: Panel) -> None:
    for module in (login, dashboard, entities, entity, media, power, assistant, routing,
                   users):
        module.register(panel)
