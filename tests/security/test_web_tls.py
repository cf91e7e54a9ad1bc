"""HTTPS for the panel and the API (issue 15, "Also"): the certificate and key from
``ui.tls``; HSTS and a Secure session cookie; no plain HTTP on that port.

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
from e2e.harness import ADMIN_PASSWORD, Lab, write_config


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
