"""Mosquitto's files from :class:`BrokerSettings`: ``mosquitto.conf``, ``passwd``, ``acl``.

Everything lands in ``broker.data_dir``. :func:`generate_files` writes them;
:func:`mosquitto_process` and :func:`run_mosquitto_foreground` run Mosquitto on them, from
``data_dir`` as working directory (the latter also runs :class:`~.saver.DiscoverySaver`).

Started as root, Mosquitto switches to ``broker.run_user`` (``mosquitto``) right after reading its
config, before it opens anything else. So as root ``data_dir`` is handed to that user (it owns the
directory and the files Mosquitto reads or writes: config, passwd, acl, persistence, log, pid;
``secrets/`` with the clear passwords stays root's, mode 0700), and the config names its files
relative to ``data_dir``: Mosquitto keeps the working directory it was started in, so it needs no
right on the directories above (``/root`` or pytest's private temp directories are 0700).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pwd
import signal
from pathlib import Path

from pydantic import SecretStr

from spark.core.errors import BrokerError
from spark.hub.broker.accounts import resolve_passwords
from spark.hub.broker.acl import build_acl, render_acl
from spark.hub.broker.config import BridgeConfig, BrokerConfig, BrokerSettings
from spark.hub.broker.passwd import write_password_file, write_private
from spark.hub.broker.process import MosquittoProcess, find_mosquitto, send_reload
from spark.hub.broker.saver import DiscoverySaver, run_saver

log = logging.getLogger(__name__)
# How long a stopping Mosquitto may take to save its persistence file and exit before it is
# killed (a large retained set on an SD card takes seconds; minutes means it hangs).
STOP_S = 60.0

__all__ = [
    "MosquittoProcess",
    "broker_paths",
    "generate_files",
    "mosquitto_process",
    "reload_running",
    "render_bridge",
    "render_conf",
    "run_mosquitto_foreground",
]


# Files Mosquitto opens after it dropped root (it owns them); secrets/ is not among them.
BROKER_OWNED = ("conf", "passwd", "acl", "log", "pid", "db")


def broker_paths(broker: BrokerConfig) -> dict[str, Path]:
    d = broker.data_dir.resolve()
    return {
        "conf": d / "mosquitto.conf",
        "passwd": d / "passwd",
        "acl": d / "acl",
        "log": d / "mosquitto.log",
        "pid": d / "mosquitto.pid",
        "db": d / "mosquitto.db",
        "persistence": d,
    }


def running_as_root() -> bool:
    return os.geteuid() == 0


def broker_user(broker: BrokerConfig) -> pwd.struct_passwd:
    """The account of ``broker.run_user``; BrokerError when it is missing or is root."""
    name = broker.run_user
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise BrokerError(
            f"broker.run_user {name!r}: no such user on this machine. Mosquitto started as root "
            "switches to it; install Mosquitto (apt install mosquitto creates 'mosquitto') or "
            "set broker.run_user to an existing unprivileged user"
        ) from None
    if entry.pw_uid == 0:
        raise BrokerError(
            f"broker.run_user {name!r} is root (uid 0): Mosquitto must not run as root; "
            "set broker.run_user to an unprivileged user such as 'mosquitto'"
        )
    return entry


def hand_over(cfg: BrokerSettings, user: pwd.struct_passwd) -> None:
    """Give ``data_dir`` and the files Mosquitto opens after dropping root to ``user``."""
    paths = broker_paths(cfg.broker)
    targets = [paths["persistence"], *(paths[key] for key in BROKER_OWNED),
               paths["db"].with_name("mosquitto.db.new")]  # left by a save cut short
    for path in targets:
        try:
            os.chown(path, user.pw_uid, user.pw_gid, follow_symlinks=False)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise BrokerError(
                f"broker.data_dir: cannot hand {path} to {user.pw_name} ({exc.strerror}); "
                "put broker.data_dir on a local file system root may chown on"
            ) from exc
    os.chmod(paths["persistence"], 0o700)


def unreadable_for(path: Path, user: pwd.struct_passwd) -> Path | None:
    """The first of ``path``'s directories ``user`` cannot enter, or ``path`` itself when it
    cannot read it; None when it can (owner, group and other bits; ACLs are not consulted)."""
    groups = set(os.getgrouplist(user.pw_name, user.pw_gid))

    def allowed(target: Path, bit: int) -> bool:  # bit: 4 read, 1 enter/execute
        st = os.stat(target)
        if st.st_uid == user.pw_uid:
            return bool(st.st_mode & (bit << 6))
        if st.st_gid in groups:
            return bool(st.st_mode & (bit << 3))
        return bool(st.st_mode & bit)

    path = path.resolve()
    try:
        for parent in reversed(path.parents):
            if not allowed(parent, 1):
                return parent
        return None if allowed(path, 4) else path
    except OSError:
        return path


def check_readable(cfg: BrokerSettings, user: pwd.struct_passwd) -> None:
    """Certificates, keys and CA files are opened after Mosquitto dropped root: refuse to start
    when ``user`` could not read one, naming the key and the fix."""
    b = cfg.broker
    files = {"broker.tls_cert_file": b.tls_cert_file, "broker.tls_key_file": b.tls_key_file,
             "broker.tls_ca_file": b.tls_ca_file}
    if b.bridge.enabled:
        files["broker.bridge.ca_file"] = b.bridge.ca_file
    for key, path in files.items():
        if path is None or (key != "broker.bridge.ca_file" and b.tls_port is None):
            continue
        blocked = unreadable_for(path, user)
        if blocked is not None:
            what = "cannot enter" if blocked != path.resolve() else "cannot read"
            raise BrokerError(
                f"{key} {path}: Mosquitto runs as {user.pw_name} (started as root) and "
                f"{what} {blocked}; e.g. chgrp {user.pw_name} {blocked} && chmod g+"
                f"{'x' if what == 'cannot enter' else 'r'} {blocked}, or put the file where "
                f"{user.pw_name} can read it"
            )


def _bridge_secret(bridge: BridgeConfig) -> str | None:
    if bridge.remote_password is not None:
        return bridge.remote_password.get_secret_value()
    if bridge.remote_password_file is not None:
        try:
            return bridge.remote_password_file.read_text().strip()
        except OSError as exc:
            raise BrokerError(
                f"broker.bridge.remote_password_file {bridge.remote_password_file}: "
                f"cannot read ({exc.strerror})"
            ) from exc
    return None


def render_bridge(cfg: BrokerSettings) -> list[str]:
    """The ``connection`` section bridging ``<base>/<pattern>`` to a cloud broker."""
    bridge = cfg.broker.bridge
    base = cfg.mqtt.base_topic
    remote = f"{bridge.remote_prefix}{base}/"
    lines = [
        "",
        "# ---- bridge to the cloud broker (broker.bridge) ----",
        f"connection {bridge.name}",
        f"address {bridge.address}",
        "bridge_protocol_version mqttv311",
        "cleansession false",  # the cloud keeps our subscription and queues commands
        "try_private true",
        "restart_timeout 5 60",  # back off 5 s .. 60 s between reconnects
        # link state: 1/0 on $SYS/broker/connection/<client id>/state (the hub reads $SYS)
    ]
    if bridge.remote_username:
        lines.append(f"remote_username {bridge.remote_username}")
    secret = _bridge_secret(bridge)
    if secret:
        lines.append(f"remote_password {secret}")
    if bridge.ca_file is not None:
        lines.append(f"bridge_cafile {bridge.ca_file.resolve()}")
    for pattern in bridge.topics_out:
        lines.append(f"topic {pattern} out {bridge.qos} {base}/ {remote}")
    for pattern in bridge.topics_in:
        lines.append(f"topic {pattern} in {bridge.qos} {base}/ {remote}")
    return lines


def render_conf(
    cfg: BrokerSettings, *, log_stdout: bool | None = None, as_root: bool | None = None
) -> str:
    """The full ``mosquitto.conf`` for this config. ``as_root`` (default: whether we are root):
    Mosquitto will be started as root, so it switches to ``broker.run_user`` and names its files
    relative to ``data_dir`` (its working directory)."""
    b = cfg.broker
    root = running_as_root() if as_root is None else as_root
    absolute = broker_paths(cfg.broker)
    paths: dict[str, Path | str] = dict(absolute)
    lines = [
        "# Mosquitto config generated by Prime Spark (`spark broker --generate`); edits are lost.",
        "# Change config/*.yaml (the broker: section) instead. Checked-in reference: mosquitto/.",
        "per_listener_settings false",
    ]
    if root:
        if b.run_user == "root":
            raise BrokerError("broker.run_user is 'root': Mosquitto must not run as root; "
                              "set it to an unprivileged user such as 'mosquitto'")
        lines += [
            "# Started as root: switch to this user right after reading this file. It owns this",
            "# directory; the paths below are relative to it (Mosquitto's working directory, set",
            "# by `spark broker` / `spark up`), so it needs no right on the directories above.",
            f"user {b.run_user}",
        ]
        paths = {key: path.name for key, path in absolute.items()}
        paths["persistence"] = "."
    lines += [
        f"pid_file {paths['pid']}",
        "",
        "# ---- persistence: retained states and queued QoS 1 messages survive restarts ----",
        "persistence true",
        f"persistence_location {paths['persistence']}/",
        "persistence_file mosquitto.db",
        "# Saved every autosave_interval seconds: a crash or power cut loses the retained states",
        "# of that window (nodes re-publish theirs on reconnect). Discovery configs are saved",
        "# within about a second: `spark up` / `spark broker` send SIGUSR1 (save now) after each",
        "# change (hub/broker/saver.py). Started any other way, they have the window too.",
        f"autosave_interval {b.autosave_interval}",
        "persistent_client_expiration 7d",
        "",
        "# ---- logging ----",
        f"log_dest file {paths['log']}",
    ]
    if b.log_stdout if log_stdout is None else log_stdout:
        lines.append("log_dest stdout")
    lines += [
        "log_type error",
        "log_type warning",
        "log_type notice",
        "log_type information",
        "log_timestamp_format %Y-%m-%dT%H:%M:%S",
        "connection_messages true",
        "# $SYS/broker/publish/messages/dropped counts messages lost to full queues.",
        f"sys_interval {b.sys_interval}",
        "",
        "# ---- queues ----",
        "# A client that falls behind (the hub during a 200k-message burst) gets this many QoS 1/2",
        "# messages queued before Mosquitto drops; its default of 1000 lost 5-35% of such a burst.",
        "# Memory (measured, 2.0.11): ~600 bytes per queued 120-byte reading, so 200k queued cost",
        "# ~120 MB of heap and a full 1,000,000 queue ~600 MB. The store is shared: a second",
        "# lagging client adds only ~100 bytes per message. max_queued_bytes caps the queued",
        "# payload bytes per client (large payloads); 0 means no cap.",
        f"max_queued_messages {b.max_queued_messages}",
        f"max_queued_bytes {b.max_queued_bytes}",
        f"max_inflight_messages {b.max_inflight_messages}",
        "set_tcp_nodelay true",
        "",
        "# ---- authentication and ACLs ----",
    ]
    if b.auth:
        lines += [
            "allow_anonymous false",
            f"password_file {paths['passwd']}",
            f"acl_file {paths['acl']}",
        ]
    else:
        lines += ["# broker.auth is false: anyone may connect, read and write.",
                  "allow_anonymous true"]
    lines += ["", "# ---- listeners ----", f"listener {cfg.mqtt.port} {b.listen_host}"]
    if b.tls_port is not None:
        if b.tls_cert_file is None or b.tls_key_file is None:
            raise BrokerError("broker.tls_port is set: set broker.tls_cert_file and tls_key_file")
        lines += [
            f"listener {b.tls_port} {b.listen_host}",
            f"certfile {b.tls_cert_file.resolve()}",
            f"keyfile {b.tls_key_file.resolve()}",
        ]
        if b.tls_ca_file is not None:
            lines.append(f"cafile {b.tls_ca_file.resolve()}")
        lines.append("require_certificate false")
    if b.bridge.enabled:
        lines += render_bridge(cfg)
    return "\n".join(lines) + "\n"


def generate_files(
    cfg: BrokerSettings, *, log_stdout: bool | None = None, mosquitto: bool = True
) -> dict[str, Path]:
    """Write ``passwd`` and ``acl`` (when ``broker.auth``) and ``mosquitto.conf`` into
    ``broker.data_dir``; return their paths keyed ``passwd`` / ``acl`` / ``conf``. As root, and
    unless ``mosquitto`` is False (the embedded broker reads them in our own process), hand them
    to ``broker.run_user``."""
    paths = broker_paths(cfg.broker)
    root = mosquitto and running_as_root()
    user = broker_user(cfg.broker) if root else None
    if user is not None:
        check_readable(cfg, user)
    paths["conf"].parent.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    if cfg.broker.auth:
        out["passwd"] = write_password_file(paths["passwd"], resolve_passwords(cfg))
        write_private(paths["acl"], render_acl(build_acl(cfg)))
        out["acl"] = paths["acl"]
    write_private(paths["conf"], render_conf(cfg, log_stdout=log_stdout, as_root=root))
    out["conf"] = paths["conf"]
    if user is not None:
        hand_over(cfg, user)
    return out


def mosquitto_process(cfg: BrokerSettings, *, generate: bool = True) -> MosquittoProcess:
    """A :class:`MosquittoProcess` for this config (generating its files first)."""
    if generate:
        generate_files(cfg)
    paths = broker_paths(cfg.broker)
    host = cfg.broker.listen_host
    probe_host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "*": "127.0.0.1", "::": "::1"}.get(
        host, host
    )
    return MosquittoProcess(paths["conf"], probe_host, cfg.mqtt.port, log_file=paths["log"])


def run_mosquitto_foreground(cfg: BrokerSettings) -> int:
    """Generate the files and run Mosquitto in the foreground (logging to stdout too) until it
    exits or Ctrl-C; return its exit code. For ``spark broker``."""
    exe = find_mosquitto()
    if exe is None:
        raise BrokerError("mosquitto is not installed (apt install mosquitto)")
    paths = generate_files(cfg, log_stdout=True)
    exit_code: list[int] = []

    async def main() -> None:
        # Ctrl-C and SIGTERM (a service manager's stop) both end the run through _serve's
        # clean-up, which stops Mosquitto; set here, they work even when the process inherited
        # an ignored SIGINT (Python then installs no KeyboardInterrupt handler).
        task, loop = asyncio.current_task(), asyncio.get_running_loop()
        assert task is not None
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        await _serve(cfg, exe, paths["conf"], exit_code)

    with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
        asyncio.run(main())  # _serve stopped Mosquitto on the way out
    return exit_code[0] if exit_code else 1


async def _serve(cfg: BrokerSettings, exe: str, conf: Path, exit_code: list[int]) -> None:
    """Run Mosquitto until it exits (or we are cancelled: Ctrl-C), saving its persistence file
    after discovery changes meanwhile."""
    proc = await asyncio.create_subprocess_exec(exe, "-c", conf.name, cwd=conf.parent)
    mqtt = cfg.mqtt
    if cfg.broker.auth:
        password = resolve_passwords(cfg)[cfg.hub_id]
        mqtt = mqtt.model_copy(update={"username": cfg.hub_id, "password": SecretStr(password),
                                       "password_file": None})
    saver = asyncio.create_task(run_saver(DiscoverySaver(mqtt, proc.pid)), name="broker-saver")
    try:
        exit_code.append(await proc.wait())
    finally:
        saver.cancel()
        # Bounded: stopping Mosquitto must never wait on the saver's MQTT link.
        await asyncio.wait({saver}, timeout=5.0)
        if proc.returncode is None:
            proc.terminate()  # SIGTERM: Mosquitto saves its persistence file and exits
            try:
                exit_code.append(await asyncio.wait_for(proc.wait(), STOP_S))
            except TimeoutError:
                log.error("Mosquitto (pid %s) did not exit %.0f s after SIGTERM: killed "
                          "(its persistence file may be older than its last state)",
                          proc.pid, STOP_S)
                proc.kill()
                exit_code.append(await asyncio.wait_for(proc.wait(), STOP_S))


def reload_running(cfg: BrokerSettings) -> int:
    """Regenerate the files and SIGHUP the Mosquitto whose pid file is in data_dir."""
    generate_files(cfg)
    pid_file = broker_paths(cfg.broker)["pid"]
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError) as exc:
        raise BrokerError(f"{pid_file}: no running Mosquitto started from this config") from exc
    send_reload(pid)
    return pid
