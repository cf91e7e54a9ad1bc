"""``/api/entities``, ``/api/devices``, history, services, and health."""

import re
import time
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Response, status

from spark.hub.entity import EntityRecord
from spark.hub.recorder import RecorderError
from spark.hub.recorder.models import BucketPoint, StatePoint
from spark.hub.services import SERVICES, Caller, PolicyError, ServiceError
from spark.ui.api.auth import AuthService, Principal
from spark.ui.api.deps import guards
from spark.ui.api.schemas import (
    BucketOut,
    ComponentOut,
    DeviceOut,
    EntityOut,
    HealthOut,
    HistoryOut,
    HistoryPoint,
    Liveness,
    ServiceRequest,
    ServiceResult,
)
from spark.ui.api.view import HubQueries, worst

# Raster types a browser shows as a picture and never runs (not SVG: it can hold script).
IMAGE_TYPE_RE = re.compile(r"^image/(jpeg|png|gif|webp|bmp|avif|x-icon|vnd\.microsoft\.icon)$")
IMAGE_HEADERS = {"X-Content-Type-Options": "nosniff",
                 "Content-Security-Policy": "default-src 'none'; sandbox",
                 "Content-Disposition": "inline"}


def image_type(given: object) -> str | None:
    """The Content-Type to serve an image entity's bytes with (default JPEG), or None when
    its discovery names anything but a raster image type."""
    if given is None or given == "":
        return "image/jpeg"
    kind = str(given).split(";")[0].strip().lower()
    return kind if IMAGE_TYPE_RE.match(kind) else None


def health_router(view: HubQueries, auth: AuthService) -> APIRouter:
    router = APIRouter(tags=["health"])
    Viewer = Annotated[Principal, Depends(guards(auth)("viewer"))]

    @router.get("/health", response_model=Liveness,
                responses={503: {"model": Liveness, "description": "a component died"}})
    async def health(response: Response) -> Liveness:
        """Liveness, without auth: the web server and the hub's event loop answer, and no
        component of the process is dead (503 names the dead ones while they wait for their
        restart)."""
        failed = [c.name for c in view.hub.supervisor.failed()]
        if failed:
            response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
            return Liveness(status="unhealthy", time=time.time(), failed=failed)
        return Liveness(time=time.time())

    @router.get("/api/health/detailed", response_model=HealthOut)
    async def detailed(_p: Viewer) -> HealthOut:
        parts = view.health()
        return HealthOut(status=worst([p.status for p in parts]), time=time.time(),
                         components=[ComponentOut(name=p.name, kind=p.kind, status=p.status,
                                                  detail=p.detail, data=p.data) for p in parts])

    return router


def hub_router(view: HubQueries, auth: AuthService) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["hub"])
    require = guards(auth)
    Viewer = Annotated[Principal, Depends(require("viewer"))]
    Operator = Annotated[Principal, Depends(require("operator"))]

    def record_or_404(entity_id: str) -> EntityRecord:
        record = view.get(entity_id)
        if record is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown entity {entity_id!r}")
        return record

    @router.get("/entities", response_model=list[EntityOut])
    async def entities(_p: Viewer, area: str | None = None, device_id: str | None = None,
                       platform: str | None = None,
                       q: Annotated[str | None, Query(description="Search text")] = None,
                       ) -> list[EntityOut]:
        return [EntityOut.model_validate(view.describe(r)) for r in
                view.entities(area=area, device_id=device_id, platform=platform, q=q)]

    @router.get("/entities/{entity_id}", response_model=EntityOut)
    async def entity(entity_id: str, _p: Viewer) -> EntityOut:
        return EntityOut.model_validate(view.describe(record_or_404(entity_id)))

    @router.get("/entities/{entity_id}/image", response_class=Response,
                responses={200: {"content": {"image/*": {}}}})
    async def image(entity_id: str, _p: Viewer) -> Response:
        record = record_or_404(entity_id)
        if record.image is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"{entity_id} has no image")
        kind = image_type(record.spec.raw.get("content_type"))
        if kind is None:
            raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                                f"{entity_id} names no raster image type (image/jpeg, "
                                "image/png, ...); its image is not served")
        return Response(record.image, media_type=kind, headers=IMAGE_HEADERS)

    @router.get("/entities/{entity_id}/history", response_model=HistoryOut,
                responses={503: {"description": "History is disabled or its store is down"}})
    async def history(entity_id: str, _p: Viewer,
                      start: Annotated[float | None, Query(description="Epoch s; default "
                                                           "24 h ago")] = None,
                      end: Annotated[float | None, Query(description="Epoch s; default now")]
                      = None,
                      bucket: Annotated[float | None, Query(gt=0, description="Bucket width, "
                                                            "seconds")] = None,
                      limit: Annotated[int, Query(ge=1, le=100_000)] = 5000) -> HistoryOut:
        recorder = view.hub.recorder
        if recorder is None:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "history is disabled")
        hi = end if end is not None else time.time()
        lo = start if start is not None else hi - 86_400
        try:
            if bucket is None:
                rows = await recorder.history(entity_id, lo, hi, initial=True, limit=limit)
                points = [HistoryPoint(time=p.time, state=p.state, value=p.value)
                          for p in rows if isinstance(p, StatePoint)]
                return HistoryOut(entity_id=entity_id, start=lo, end=hi, points=points)
            rows = await recorder.history(entity_id, lo, hi, timedelta(seconds=bucket))
        except RecorderError as exc:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None
        buckets = [BucketOut(start=b.start, end=b.end, count=b.count, state=b.state, avg=b.avg,
                             min=b.min, max=b.max) for b in rows if isinstance(b, BucketPoint)]
        return HistoryOut(entity_id=entity_id, start=lo, end=hi, buckets=buckets)

    @router.get("/devices", response_model=list[DeviceOut])
    async def devices(_p: Viewer) -> list[DeviceOut]:
        return [DeviceOut.model_validate(d.as_dict()) for d in view.devices()]

    @router.post("/services/{service}", response_model=ServiceResult,
                 responses={400: {"description": "The service does not apply"},
                            403: {"description": "Viewers cannot call services"},
                            404: {"description": "Unknown entity"},
                            409: {"description": "The entity is unavailable"},
                            504: {"description": "The device did not confirm in time"}})
    async def call(service: str, body: ServiceRequest, _p: Operator) -> ServiceResult:
        services = view.hub.services
        if services is None:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the hub is starting")
        if service not in SERVICES:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown service {service!r}")
        caller = Caller.user(_p.username, _p.role)
        try:  # hub.policy.roles: which services on which entities this role may call
            services.policy.check_call(caller, service, body.entity_id)
        except PolicyError as exc:
            raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from None
        record = record_or_404(body.entity_id)
        if not record.available:
            raise HTTPException(status.HTTP_409_CONFLICT, f"{body.entity_id} is unavailable")
        try:
            services.build(service, record, body.data)  # validation errors are the caller's
        except ServiceError as exc:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
        try:
            result = await services.call(service, body.entity_id, body.data, wait=body.wait,
                                         timeout=body.timeout, caller=caller)
        except ServiceError as exc:
            raise HTTPException(status.HTTP_504_GATEWAY_TIMEOUT, str(exc)) from None
        return ServiceResult.model_validate(result)

    return router
