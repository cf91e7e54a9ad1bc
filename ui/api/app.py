"""The FastAPI app of the REST API; the panel (NiceGUI) is mounted on it (``ui/server.py``)."""

from __future__ import annotations

from fastapi import FastAPI

from spark.ui.api.auth import AuthService
from spark.ui.api.routes_auth import auth_router
from spark.ui.api.routes_hub import health_router, hub_router
from spark.ui.api.routes_llm import llm_router
from spark.ui.api.view import HubQueries


def build_api(view: HubQueries, auth: AuthService) -> FastAPI:
    app = FastAPI(title="Prime Spark", version="0.1.0",
                  description="REST API of the Prime Spark hub: auth, entities, devices, history,"
                  " services, health and the LLM router (/api/llm/*, /api/routing/stats). Send"
                  " `Authorization: Bearer <access token>`.",
                  docs_url="/api/docs", redoc_url=None, openapi_url="/api/openapi.json")
    app.include_router(health_router(view, auth))
    app.include_router(auth_router(auth))
    app.include_router(hub_router(view, auth))
    app.include_router(llm_router(view, auth))
    return app
