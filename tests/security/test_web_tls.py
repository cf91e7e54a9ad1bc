"""HTTPS for the panel and the API (issue 15, "Also"): the certificate and key from
``ui.tls``; HSTS and a Secure session cookie; no plain HTTP on that port. And the documented
reverse-proxy setup (``ui.trusted_proxies``) with the default rate limit and CORS.

Its own module: the hub here must not overlap the module-scoped lab of
test_web_attacks.py (one process per hub id on the shared broker).
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import httpx
import pytest
from broker_fixture import free_port
from e2e.harness import ADMIN_PASSWORD, Lab, wait_until, write_config


def self_signed(folder: Path) -> tuple[Path, Path]:
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = folder / "panel.crt", folder / "panel.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_file.chmod(0o600)
    return cert_file, key_file


def test_https_with_the_configured_certificate(broker: Any, tmp_path: Path) -> None:
    cert_file, key_file = self_signed(tmp_path / "tls")
    port = free_port()
    lab = Lab(tmp_path, write_config(tmp_path, broker, port, [], ui={
        "tls": {"cert_file": str(cert_file), "key_file": str(key_file)}}), port)
    try:
        lab.start("hub", "hub")
        trust = ssl.create_default_context(cafile=cert_file)
        with httpx.Client(base_url=f"https://127.0.0.1:{port}", verify=trust,
                          timeout=15) as https:
            lab.wait_ready("hub",
                lambda: https.get("/health", timeout=2).status_code == 200,
                "the panel answers /health over HTTPS")
            r = https.get("/login")
            assert r.status_code == 200
            assert r.headers["strict-transport-security"].startswith("max-age=")
            cookie = r.headers["set-cookie"].lower()
            assert "session=" in cookie and "secure" in cookie and "httponly" in cookie
            admin = {"username": "admin", "password": ADMIN_PASSWORD}
            assert https.post("/api/auth/login", json=admin).status_code == 200
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as plain:
            with pytest.raises(httpx.HTTPError):
                plain.get("/health")  # no plain HTTP on the HTTPS port
    finally:
        lab.stop("hub")


def test_forwarded_headers_only_from_the_trusted_proxy_and_the_default_limits(
        broker: Any, tmp_path: Path) -> None:
    """The documented reverse-proxy setup (``ui.trusted_proxies``), everything else at its
    default: behind the proxy each forwarded client has its own login limit; a caller that is
    not the proxy cannot pick its address with the same headers; the general API limit is 100
    requests a minute per client (429 with Retry-After); no origin gets CORS."""
    proxy, direct, script = "127.0.0.50", "127.0.0.51", "127.0.0.52"
    port = free_port()
    from spark.ui.config import RateLimitConfig, UiConfig

    defaults = UiConfig.model_fields  # (the lab's config raises the rate limit: put it back)
    assert RateLimitConfig().model_dump() == {"requests": 100, "window": 60.0}
    assert defaults["cors_origins"].get_default(call_default_factory=True) == []
    assert defaults["trusted_proxies"].get_default(call_default_factory=True) == []
    lab = Lab(tmp_path, write_config(tmp_path, broker, port, [], ui={
        "trusted_proxies": [proxy], "auth": {"login_attempts": 3},
        "rate_limit": RateLimitConfig().model_dump()}), port)

    def client(address: str) -> httpx.Client:
        return httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=15,
                            transport=httpx.HTTPTransport(local_address=address))

    def guess(http: httpx.Client, forwarded: str) -> int:
        return http.post("/api/auth/login", json={"username": "admin", "password": "nope"},
                         headers={"X-Forwarded-For": forwarded}).status_code

    try:
        lab.start("hub", "hub")
        with client(proxy) as via_proxy, client(direct) as caller, client(script) as other:
            wait_until(lambda: other.get("/health", timeout=2).status_code == 200, 30,
                       "the panel answers /health")
            # behind the proxy: the forwarded address is the client
            assert [guess(via_proxy, "203.0.113.7") for _ in range(4)] == [401] * 3 + [429]
            assert guess(via_proxy, "203.0.113.8") == 401  # another client behind the proxy
            # an IPv6 client is its /64: a new address for every guess resets nothing
            assert [guess(via_proxy, f"2001:db8:0:7::{i + 1:x}") for i in range(4)] == \
                [401] * 3 + [429]
            assert guess(via_proxy, "2001:db8:0:8::1") == 401  # another /64
            # not the proxy: the header is ignored, rotating it resets nothing
            assert [guess(caller, f"203.0.113.{20 + i}") for i in range(4)] == [401] * 3 + [429]
            # the defaults: 100 API requests a minute per client, then 429; CORS for nobody
            evil = {"Origin": "https://evil.example"}
            preflight = other.options("/api/entities", headers={
                **evil, "Access-Control-Request-Method": "GET"})
            assert preflight.status_code == 400, preflight.status_code
            assert "access-control-allow-origin" not in preflight.headers
            answers = [other.get("/api/entities", headers=evil) for _ in range(99)]
            assert {r.status_code for r in answers} == {401}
            assert not [r for r in answers if "access-control-allow-origin" in r.headers]
            r = other.get("/api/entities")
            assert r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= 60
            assert caller.get("/api/entities").status_code == 401  # its own budget
    finally:
        lab.stop("hub")
