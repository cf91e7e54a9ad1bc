"""The ``ui:`` config section: where the panel and REST API listen, and their auth."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import Field, field_validator, model_validator

from spark.core.config.base import StrictModel
from spark.ui.api.config import AuthConfig


class RateLimitConfig(StrictModel):
    requests: int = Field(100, ge=1, description="API requests allowed per client IP within "
                          "window; more get 429 with Retry-After.")
    window: float = Field(60.0, gt=0, le=86_400, description="Seconds the requests are counted.")


class TlsConfig(StrictModel):
    cert_file: Path = Field(description="PEM certificate (chain) of the panel and the API.")
    key_file: Path = Field(description="PEM private key of that certificate.")

    @model_validator(mode="after")
    def _readable(self) -> TlsConfig:
        for key, path in (("cert_file", self.cert_file), ("key_file", self.key_file)):
            if not path.is_file():
                raise ValueError(f"ui.tls.{key}: {path} is not a file; give the PEM file "
                                 "(or remove ui.tls to serve plain HTTP)")
        return self


class UiConfig(StrictModel):
    enabled: bool = Field(True, description="Serve the panel and REST API from the hub process.")
    host: str = Field("0.0.0.0", description="Address to listen on (0.0.0.0: every interface).")
    port: int = Field(8000, ge=1, le=65535, description="HTTP port of the panel and the API.")
    data_dir: Path = Field(Path(".spark/ui"),
                           description="Generated secrets and panel sessions (mode 0700).")
    control_timeout: float = Field(
        5.0, gt=0, le=120, description="Seconds a control waits for the device to confirm.")
    recent_events: int = Field(50, ge=1, le=10_000, description="Events kept for the dashboard.")
    page_size: int = Field(60, ge=10, le=1000, description="Entities per page of the list.")
    tls: TlsConfig | None = Field(
        None, description="Serve HTTPS with this certificate and key (session cookies are then "
        "Secure and HSTS is sent). None: plain HTTP (behind a TLS reverse proxy, or a lab).")
    secure_cookies: bool | None = Field(
        None, description="Mark the session cookie Secure (sent over HTTPS only). Default: "
        "when ui.tls is set; set true behind a TLS reverse proxy.")
    trusted_proxies: list[str] = Field(
        default_factory=list, description="Addresses or networks of reverse proxies whose "
        "X-Forwarded-For / X-Forwarded-Proto are believed. Default none: the client address "
        "is the connection's.")
    cors_origins: list[str] = Field(
        default_factory=list, description="Origins (scheme://host[:port]) whose pages may call "
        "the REST API from a browser. Default none.")
    rate_limit: RateLimitConfig = RateLimitConfig()
    auth: AuthConfig = AuthConfig()

    @property
    def https_cookies(self) -> bool:
        return self.tls is not None if self.secure_cookies is None else self.secure_cookies

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"ui.trusted_proxies: {item!r} is not an IP address or "
                                 "network (e.g. 10.0.0.5 or 10.0.0.0/24)") from None
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for item in value:
            scheme, _, rest = item.partition("://")
            if scheme not in ("http", "https") or not rest or "/" in rest or item == "*":
                raise ValueError(f"ui.cors_origins: {item!r} is not an origin; write "
                                 "scheme://host[:port], e.g. https://dash.example.org")
        return value
