"""``/api/auth/*``: login, refresh (rotating), logout, me, password, register (admin)."""

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status

from spark.ui.api.apikeys import KeyRow
from spark.ui.api.auth import AuthError, AuthService, Principal, TokenPair
from spark.ui.api.deps import client_ip, guards, http_error
from spark.ui.api.schemas import (
    ApiKeyOut,
    ApiKeyRequest,
    ChangePasswordRequest,
    LoginRequest,
    NewApiKeyOut,
    RefreshRequest,
    RegisterRequest,
    TokenResponse,
    UserOut,
)
from spark.ui.api.store import UserRow


def token_response(pair: TokenPair) -> TokenResponse:
    return TokenResponse(
        access_token=pair.access_token, refresh_token=pair.refresh_token,
        expires_in=max(0.0, pair.expires_at - time.time()), username=pair.principal.username,
        role=pair.principal.role,  # type: ignore[arg-type]
        must_change_password=pair.principal.must_change,
    )


def user_out(user: UserRow) -> UserOut:
    return UserOut(id=user.id, username=user.username, role=user.role,  # type: ignore[arg-type]
                   active=user.active, created_at=user.created_at,
                   must_change_password=user.must_change_password)


def key_out(row: KeyRow) -> ApiKeyOut:
    return ApiKeyOut(id=row.id, name=row.name, prefix=row.prefix,
                     role=row.role, created_at=row.created_at,  # type: ignore[arg-type]
                     created_by=row.created_by, last_used_at=row.last_used_at,
                     revoked_at=row.revoked_at)


def auth_router(auth: AuthService) -> APIRouter:
    router = APIRouter(prefix="/api/auth", tags=["auth"])
    require = guards(auth)
    Anyone = Annotated[Principal, Depends(require("viewer", pending_ok=True, user_only=True))]
    Admin = Annotated[Principal, Depends(require("admin"))]
    AdminUser = Annotated[Principal, Depends(require("admin", user_only=True))]

    @router.post("/login", response_model=TokenResponse,
                 responses={401: {"description": "Wrong username or password"},
                            429: {"description": "Too many failed logins from this address"}})
    async def login(body: LoginRequest, request: Request) -> TokenResponse:
        try:
            return token_response(await auth.login(body.username, body.password,
                                                    client_ip(request)))
        except AuthError as exc:
            raise http_error(exc) from None

    @router.post("/refresh", response_model=TokenResponse,
                 responses={401: {"description": "Unknown, expired, used or revoked token"}})
    async def refresh(body: RefreshRequest, request: Request) -> TokenResponse:
        try:
            return token_response(await auth.refresh(body.refresh_token, client_ip(request)))
        except AuthError as exc:
            raise http_error(exc) from None

    @router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
    async def logout(body: RefreshRequest) -> Response:
        await auth.logout(body.refresh_token)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.get("/me", response_model=UserOut)
    async def me(principal: Anyone) -> UserOut:
        return next(user_out(u) for u in auth.users() if u.id == principal.user_id)

    @router.post("/password", response_model=TokenResponse,
                 responses={403: {"description": "The current password is wrong"},
                            422: {"description": "The new password is too short or unchanged"}})
    async def change_password(body: ChangePasswordRequest, principal: Anyone,
                              request: Request) -> TokenResponse:
        """Set your own password (required first after a generated one). Every session of
        the user ends; the response starts a new one."""
        try:
            return token_response(await auth.change_password(
                principal.user_id, body.current_password, body.new_password,
                client_ip(request)))
        except AuthError as exc:
            raise http_error(exc) from None

    @router.post("/register", response_model=UserOut, status_code=status.HTTP_201_CREATED,
                 responses={403: {"description": "Not an admin"},
                            409: {"description": "The user exists"}})
    async def register(body: RegisterRequest, _admin: Admin) -> UserOut:
        try:
            return user_out(await auth.register(body.username, body.password, body.role))
        except AuthError as exc:
            raise http_error(exc) from None

    @router.get("/users", response_model=list[UserOut])
    async def users(_admin: Admin) -> list[UserOut]:
        return [user_out(u) for u in auth.users()]

    @router.get("/keys", response_model=list[ApiKeyOut], tags=["keys"])
    async def keys(_admin: AdminUser) -> list[ApiKeyOut]:
        """API keys (never the keys themselves: only their first characters)."""
        return [key_out(k) for k in await auth.list_keys()]

    @router.post("/keys", response_model=NewApiKeyOut, status_code=status.HTTP_201_CREATED,
                 tags=["keys"], responses={409: {"description": "The name is taken"}})
    async def add_key(body: ApiKeyRequest, admin: AdminUser) -> NewApiKeyOut:
        """A new API key with a role; the key is in this response only (kept hashed)."""
        try:
            row, key = await auth.add_key(body.name, body.role, admin.username)
        except AuthError as exc:
            raise http_error(exc) from None
        return NewApiKeyOut(**key_out(row).model_dump(), key=key)

    @router.delete("/keys/{key_id}", response_model=ApiKeyOut, tags=["keys"],
                   responses={404: {"description": "No such key"}})
    async def revoke_key(key_id: int, _admin: AdminUser) -> ApiKeyOut:
        """Revoke a key: refused from its next request on."""
        try:
            return key_out(await auth.revoke_key(key_id))
        except AuthError as exc:
            raise http_error(AuthError(str(exc), 404)) from None

    return router
