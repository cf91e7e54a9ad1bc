"""Pick the broker for ``spark up``: one already answering, else Mosquitto, else the embedded one.

``broker.mode``:
  * ``auto``: a broker answering MQTT at mqtt.host:mqtt.port is used as it is; otherwise, if that
    address is this machine, start Mosquitto (when installed) or the embedded amqtt broker;
  * ``external`` / ``mosquitto`` / ``embedded``: force one (``external`` fails when none answers).

``handle = await choose_broker(settings)`` (then ``await handle.stop()``), or
``async with choose_broker(settings) as handle:`` which stops what it started on exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass, field
from typing import Literal

from pydantic import SecretStr

from spark.core.config.mqtt import MqttConfig
from spark.core.errors import BrokerError
from spark.hub.broker.accounts import resolve_passwords
from spark.hub.broker.config import BrokerSettings
from spark.hub.broker.mosquitto import mosquitto_process
from spark.hub.broker.probe import Answer, probe_mqtt
from spark.hub.broker.process import find_mosquitto
from spark.hub.broker.saver import DiscoverySaver, run_saver
from spark.hub.broker.secrets import password_path, secrets_dir

log = logging.getLogger(__name__)

Kind = Literal["external", "mosquitto", "embedded"]
Stopper = Callable[[], Awaitable[object]]


@dataclass(slots=True)
class BrokerHandle:
    """The chosen broker. ``passwords`` is set when we started it with auth (then every account's
    login is known); for an external or anonymous broker the config's own logins apply.

    ``mqtt`` is the connection to run with: for a broker we started with auth it logs in as the
    hub (``username`` = ``hub.id``); otherwise it is ``settings.mqtt``.
    """

    kind: Kind
    reason: str
    host: str
    port: int
    settings: BrokerSettings
    passwords: dict[str, str] | None = None
    _stop: Stopper | None = field(default=None, repr=False)
    mqtt: MqttConfig = field(init=False)

    def __post_init__(self) -> None:
        self.mqtt = self.mqtt_config()

    def __str__(self) -> str:
        return f"broker: {self.describe()}"

    def describe(self) -> str:
        """One line for the user: which broker, where, and why."""
        return f"{self.kind} at {self.host}:{self.port} ({self.reason})"

    def password_for(self, username: str) -> str | None:
        """The password of ``username`` on a broker we started with auth; None otherwise (then
        the caller uses the password the config names)."""
        creds = self.login(username)
        return creds[1] if creds is not None else None

    def sub_auth_hint(self) -> str:
        """Login arguments for ``mosquitto_sub`` as the hub (no password printed), or ''."""
        user = self.mqtt.username
        if not user:
            return ""
        path = password_path(secrets_dir(self.settings.broker), user)
        if self.passwords is not None and path.exists():
            return f' -u {user} -P "$(cat {path})"'
        return f" -u {user} -P <password>"

    def login(self, username: str) -> tuple[str, str] | None:
        """(username, password) for an account of a broker we started; None otherwise."""
        if self.passwords is None or username not in self.passwords:
            return None
        return username, self.passwords[username]

    def hub_login(self) -> tuple[str, str] | None:
        return self.login(self.settings.hub_id)

    def node_login(self, node_id: str) -> tuple[str, str] | None:
        node = next((n for n in self.settings.nodes if n.id == node_id), None)
        return self.login(node.username or node.id if node is not None else node_id)

    def mqtt_config(self, username: str | None = None) -> MqttConfig:
        """``settings.mqtt`` with the login of ``username`` (default: the hub) filled in, when
        known; unchanged otherwise."""
        creds = self.login(username or self.settings.hub_id)
        if creds is None:
            return self.settings.mqtt
        return self.settings.mqtt.model_copy(
            update={"username": creds[0], "password": SecretStr(creds[1]), "password_file": None}
        )

    async def stop(self) -> None:
        """Stop what we started (nothing for an external broker). Idempotent."""
        stop, self._stop = self._stop, None
        if stop is not None:
            await stop()

    async def __aenter__(self) -> BrokerHandle:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def _is_local_address(host: str) -> bool:
    """True when ``host`` names this machine (we can bind a socket to it)."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return False
    for family, _type, _proto, _name, addr in infos:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((addr[0], 0))
                return True
            except OSError:
                continue
    return False


ANY_ADDRESS = ("0.0.0.0", "::", "", "*")


def _addresses(host: str) -> set[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return {ipaddress.ip_address(str(info[4][0]).split("%")[0])
                for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)}
    except (OSError, ValueError):
        return set()


def _check_reachable(cfg: BrokerSettings) -> None:
    """A broker we start listens on broker.listen_host; our clients dial mqtt.host."""
    listen, host = cfg.broker.listen_host, cfg.mqtt.host
    if listen in ANY_ADDRESS or listen == host:
        return
    a, b = _addresses(listen), _addresses(host)
    if a & b or (a and b and all(x.is_loopback for x in a | b)):
        return
    raise BrokerError(
        f"a broker started here listens on broker.listen_host={listen!r}, but clients connect "
        f"to mqtt.host={host!r}; set broker.listen_host to 0.0.0.0 (all interfaces) or {host!r}"
    )


async def _start_mosquitto(cfg: BrokerSettings, why: str) -> BrokerHandle:
    if find_mosquitto() is None:
        raise BrokerError("broker.mode is 'mosquitto' but mosquitto is not installed "
                          "(apt install mosquitto), or use broker.mode: embedded")
    await asyncio.to_thread(_check_reachable, cfg)
    proc = mosquitto_process(cfg)
    passwords = resolve_passwords(cfg) if cfg.broker.auth else None
    await proc.start()
    assert proc.pid is not None
    log.info("started mosquitto (pid %s) from %s", proc.pid, proc.conf)
    handle = BrokerHandle("mosquitto", why, cfg.mqtt.host, cfg.mqtt.port, cfg, passwords)
    saver = asyncio.create_task(run_saver(DiscoverySaver(handle.mqtt, proc.pid)),
                                name="broker-saver")

    async def stop() -> None:
        saver.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await saver
        await proc.stop()

    handle._stop = stop
    return handle


async def _start_embedded(cfg: BrokerSettings, why: str) -> BrokerHandle:
    try:
        from spark.hub.broker.embedded import EmbeddedBroker
    except ImportError as exc:
        raise BrokerError(
            f"the embedded broker needs amqtt ({exc}): pip install 'prime-spark[embedded-broker]', "
            "or install Mosquitto (apt install mosquitto)"
        ) from exc
    await asyncio.to_thread(_check_reachable, cfg)
    broker = EmbeddedBroker(cfg)
    await broker.start()
    passwords = resolve_passwords(cfg) if cfg.broker.auth else None
    return BrokerHandle("embedded", why, cfg.mqtt.host, cfg.mqtt.port, cfg, passwords, broker.stop)


class _Choice:
    """What :func:`choose_broker` returns: await it for the handle, or ``async with`` it."""

    def __init__(self, cfg: BrokerSettings) -> None:
        self._cfg = cfg
        self._handle: BrokerHandle | None = None

    def __await__(self) -> Generator[object, None, BrokerHandle]:
        return _choose(self._cfg).__await__()

    async def __aenter__(self) -> BrokerHandle:
        self._handle = await _choose(self._cfg)
        return self._handle

    async def __aexit__(self, *exc: object) -> None:
        if self._handle is not None:
            await self._handle.stop()


def choose_broker(cfg: BrokerSettings) -> _Choice:
    """Find or start the broker per ``broker.mode``; the handle says which and why.
    ``await choose_broker(cfg)`` or ``async with choose_broker(cfg) as handle``."""
    return _Choice(cfg)


async def _choose(cfg: BrokerSettings) -> BrokerHandle:
    mode = cfg.broker.mode
    host, port = cfg.mqtt.host, cfg.mqtt.port
    if mode == "mosquitto":
        return await _start_mosquitto(cfg, "broker.mode is 'mosquitto'")
    if mode == "embedded":
        return await _start_embedded(cfg, "broker.mode is 'embedded'")

    probe = await probe_mqtt(host, port, within=1.0, use_tls=cfg.mqtt.tls.enabled)
    if probe.is_broker:
        why = "a broker already answers there" if mode == "auto" else "broker.mode is 'external'"
        return BrokerHandle("external", why, host, port, cfg)
    if mode == "external":
        raise BrokerError(f"broker.mode is 'external' but {probe.detail}; start that broker, "
                          "fix mqtt.host/mqtt.port, or set broker.mode: auto")
    if probe.answer is Answer.OTHER:
        raise BrokerError(f"{probe.detail}: another program uses that port; "
                          "stop it or choose another mqtt.port")
    if not await asyncio.to_thread(_is_local_address, host):
        raise BrokerError(f"{probe.detail}, and {host} is not this machine, so no broker can be "
                          "started for it; start the broker there or point mqtt.host here")
    if find_mosquitto() is not None:
        return await _start_mosquitto(cfg, f"nothing answered at {host}:{port}; started Mosquitto")
    return await _start_embedded(
        cfg, f"nothing answered at {host}:{port} and Mosquitto is not installed; "
        "started the embedded amqtt broker"
    )
