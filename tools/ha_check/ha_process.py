"""The Home Assistant side of the check: a throwaway `hass` with a config dir that needs no
onboarding, its REST API and registries, and the small helpers (free port, HS256 token,
deadline wait) it needs."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.broker_fixture import HOMEASSISTANT  # noqa: E402

log = logging.getLogger("ha_check")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256_jwt(claims: dict[str, Any], key: str) -> str:
    """The access token HA's auth issues for a refresh token (PyJWT HS256, stdlib only)."""
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    body = b64url(json.dumps(claims, separators=(",", ":")).encode())
    sig = hmac.new(key.encode(), f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{b64url(sig)}"


async def wait_for(pred: Callable[[], Awaitable[Any]], timeout: float, step: float = 0.5,
                   what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await pred()
        if last:
            return last
        await asyncio.sleep(step)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


class HomeAssistant:
    def __init__(self, hass: Path, config_dir: Path, broker_port: int, ha_password: str) -> None:
        self.hass = hass
        self.dir = config_dir
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.broker_port = broker_port
        self.ha_password = ha_password
        self.proc: subprocess.Popen[bytes] | None = None
        self.token = ""
        self.starts = 0

    # The config dir: minimal configuration.yaml, an admin user with a long-lived token and the
    # MQTT config entry, all written before the first start so no onboarding is needed.
    def prepare(self) -> None:
        storage = self.dir / ".storage"
        storage.mkdir(parents=True, exist_ok=True)
        (self.dir / "configuration.yaml").write_text(
            "homeassistant:\n"
            "  name: Prime Spark check\n"
            "  latitude: 52.37\n  longitude: 4.89\n  elevation: 0\n"
            "  unit_system: metric\n  time_zone: UTC\n"
            "http:\n"
            f"  server_host: 127.0.0.1\n  server_port: {self.port}\n"
            "api:\n"
            "logger:\n"
            "  default: warning\n"
            "  logs:\n"
            "    homeassistant.components.mqtt: info\n"
            "    homeassistant.setup: info\n"
            "    homeassistant.requirements: info\n"
            "    homeassistant.util.package: info\n"
        )
        now = datetime.now(UTC).isoformat()
        user_id, token_id, jwt_key = uuid.uuid4().hex, uuid.uuid4().hex, secrets.token_hex(64)
        expiration = 10 * 365 * 86400.0
        auth = {
            "version": 1, "minor_version": 1, "key": "auth",
            "data": {
                "users": [{"id": user_id, "group_ids": ["system-admin"], "is_owner": True,
                           "is_active": True, "name": "Spark check", "system_generated": False,
                           "local_only": False}],
                "groups": [{"id": "system-admin", "name": "Administrators"},
                           {"id": "system-users", "name": "Users"},
                           {"id": "system-read-only", "name": "Read Only"}],
                "credentials": [],
                "refresh_tokens": [{
                    "id": token_id, "user_id": user_id, "client_id": None,
                    "client_name": "ha_check", "client_icon": None,
                    "token_type": "long_lived_access_token", "created_at": now,
                    "access_token_expiration": expiration, "token": secrets.token_hex(64),
                    "jwt_key": jwt_key, "last_used_at": None, "last_used_ip": None,
                    "expire_at": None, "credential_id": None, "version": None,
                }],
            },
        }
        (storage / "auth").write_text(json.dumps(auth, indent=2))
        now_ts = int(time.time())
        self.token = hs256_jwt({"iss": token_id, "iat": now_ts, "exp": now_ts + int(expiration)},
                               jwt_key)
        # Storage minor version 1: every HA version migrates it forward (created_at, subentries..)
        entries = {
            "version": 1, "minor_version": 1, "key": "core.config_entries",
            "data": {"entries": [{
                "entry_id": uuid.uuid4().hex, "version": 1, "minor_version": 1,
                "domain": "mqtt", "title": "Prime Spark broker", "source": "user",
                "unique_id": None, "disabled_by": None, "options": {},
                "pref_disable_new_entities": False, "pref_disable_polling": False,
                "data": {"broker": "127.0.0.1", "port": self.broker_port,
                         "username": HOMEASSISTANT, "password": self.ha_password,
                         "discovery": True, "discovery_prefix": "homeassistant"},
            }]},
        }
        (storage / "core.config_entries").write_text(json.dumps(entries, indent=2))
        onboarding = {"version": 4, "minor_version": 1, "key": "onboarding",
                      "data": {"done": ["user", "core_config", "analytics", "integration"]}}
        (storage / "onboarding").write_text(json.dumps(onboarding))

    @property
    def log_path(self) -> Path:
        return self.dir / "home-assistant.log"

    def start(self) -> None:
        self.starts += 1
        out = open(self.dir / f"hass-stdout-{self.starts}.txt", "wb")
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)
        env["PATH"] = f"{self.hass.parent}:{env.get('PATH', '')}"
        self.proc = subprocess.Popen(
            [str(self.hass), "-c", str(self.dir), "--log-no-color"],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )
        out.close()
        log.info("started Home Assistant (pid %s) on %s", self.proc.pid, self.base)

    def stop(self, timeout: float = 60.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("Home Assistant did not stop in %.0f s; killing it", timeout)
            self.proc.kill()
            return self.proc.wait(10)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # REST, in a thread so the in-process nodes keep running.
    def _request(self, method: str, path: str, body: Any = None, raw: bool = False) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if not path.startswith("/api/image_proxy"):
            req.add_header("Authorization", f"Bearer {self.token}")
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=20) as resp:
            content = resp.read()
        return content if raw else (json.loads(content) if content else None)

    async def api(self, method: str, path: str, body: Any = None, raw: bool = False) -> Any:
        return await asyncio.to_thread(self._request, method, path, body, raw)

    async def api_up(self) -> bool:
        if not self.alive():
            raise RuntimeError(f"Home Assistant exited with {self.proc and self.proc.returncode}; "
                               f"see {self.log_path} and {self.dir}/hass-stdout-*.txt")
        try:
            return (await self.api("GET", "/api/")).get("message") == "API running."
        except (urllib.error.URLError, OSError, ValueError):
            return False

    async def states(self) -> dict[str, dict[str, Any]]:
        return {s["entity_id"]: s for s in await self.api("GET", "/api/states")}

    async def state(self, entity_id: str) -> dict[str, Any] | None:
        try:
            return await self.api("GET", f"/api/states/{entity_id}")
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise

    async def call(self, domain: str, service: str, data: dict[str, Any]) -> Any:
        return await self.api("POST", f"/api/services/{domain}/{service}", data)

    async def version(self) -> str:
        cfg = await self.api("GET", "/api/config")
        return str(cfg.get("version"))

    def storage(self, key: str) -> dict[str, Any] | None:
        path = self.dir / ".storage" / key
        return json.loads(path.read_text())["data"] if path.exists() else None
