"""FastAPI dependencies: the caller's principal from its bearer token, and role guards."""

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from spark.ui.api.auth import AuthError, AuthService, Principal

CHALLENGE = {"WWW-Authenticate": "Bearer"}
Guard = Callable[..., Principal]


def http_error(exc: AuthError) -> HTTPException:
    headers = dict(CHALLENGE) if exc.status == 401 else {}
    if exc.retry_after is not None:
        headers["Retry-After"] = str(max(1, round(exc.retry_after)))
    return HTTPException(exc.status, str(exc), headers=headers or None)


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def guards(auth: AuthService) -> Callable[..., Guard]:
    """``require(role)``: a dependency giving the principal, 401 without a valid token,
    403 when its role is below ``role`` or the user must change a generated password first
    (``require(role, pending_ok=True)``: the routes that stay open to such a user)."""
    bearer = HTTPBearer(auto_error=False, description="Access token from /api/auth/login.")

    def token(creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> str:
        if creds is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing bearer token",
                                headers=CHALLENGE)
        return creds.credentials

    def require(role: str, pending_ok: bool = False) -> Guard:
        def guard(access: Annotated[str, Depends(token)]) -> Principal:
            try:
                principal = auth.verify(access, pending_ok=pending_ok)
            except AuthError as exc:
                raise http_error(exc) from None
            if not principal.can(role):
                raise HTTPException(status.HTTP_403_FORBIDDEN, f"needs the {role} role")
            return principal

        return guard

    return require
