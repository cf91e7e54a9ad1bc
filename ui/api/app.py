"""The FastAPI app of the REST API; the panel (NiceGUI) is mounted on it (``ui/server.py``)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

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
    app.add_exception_handler(RequestValidationError, _unprocessable)
    return app


def _without_input(error: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in error.items() if k != "input"}


async def _unprocessable(_request: Request, exc: Exception) -> JSONResponse:
    """A request that fails its schema: 422 with FastAPI's errors (where, what), without the
    ``input`` FastAPI would echo: a missing field echoes the whole body, and a body carries
    secrets (a lock's or alarm panel's ``code``, a password) that never come back."""
    assert isinstance(exc, RequestValidationError)
    errors = [_without_input(e) for e in exc.errors()]
    return JSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)
