"""FastAPI dependencies: the caller's principal from its bearer token or API key, and role
guards."""

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from spark.ui.api.auth import AuthError, AuthService, Principal

CHALLENGE = {"WWW-Authenticate": "Bearer"}
Guard = Callable[..., Awaitable[Principal]]


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
    bearer = HTTPBearer(auto_error=False, description="Access token from /api/auth/login, "
                        "or an API key (spk_...).")
    api_key = APIKeyHeader(name="X-API-Key", auto_error=False,
                           description="An API key (spk_...), instead of a bearer token.")

    def token(creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
              key: Annotated[str | None, Depends(api_key)]) -> str:
        if creds is not None:
            return creds.credentials
        if key:
            return key
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing bearer token",
                            headers=CHALLENGE)

    def require(role: str, pending_ok: bool = False, user_only: bool = False) -> Guard:
        """``user_only``: a signed-in user, not an API key (managing keys)."""
        async def guard(access: Annotated[str, Depends(token)]) -> Principal:
            try:
                principal = await auth.authenticate(access, pending_ok=pending_ok)
            except AuthError as exc:
                raise http_error(exc) from None
            if not principal.can(role):
                raise HTTPException(status.HTTP_403_FORBIDDEN, f"needs the {role} role")
            if user_only and principal.key_id is not None:
                raise HTTPException(status.HTTP_403_FORBIDDEN, "needs a signed-in user, not an "
                                    "API key")
            return principal

        return guard

    return require
