"""The panel's pages, registered by :func:`register` from the web server's startup."""

from __future__ import annotations

from spark.ui.pages import dashboard, entities, entity, login, media, power, users
from spark.ui.panel import Panel


def register(panel: Panel) -> None:
    for module in (login, dashboard, entities, entity, media, power, users):
        module.register(panel)
