"""The ``spark`` command line: up, hub, node, broker, config check, llm check, user, apikey."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from spark.app.config import SparkConfig, load_config
from spark.core import __version__
from spark.core.errors import SparkError

log = logging.getLogger("spark")


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level, logging.INFO),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )


def _load(args: argparse.Namespace) -> SparkConfig:
    path = args.config or os.environ.get("SPARK_CONFIG")
    return load_config(Path(path) if path else None)


def _run(main: Callable[[], Coroutine[Any, Any, int | None]]) -> int:
    """Run ``main`` until it returns or SIGINT/SIGTERM cancels it; exit code 0 on signal."""

    async def runner() -> int:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, task.cancel)
        try:
            return int(await main() or 0)
        except asyncio.CancelledError:
            return 0

    return asyncio.run(runner())


# ---- commands ---------------------------------------------------------------------------
def cmd_config_check(args: argparse.Namespace) -> int:
    try:
        cfg = load_config(Path(args.file))
    except SparkError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"{args.file}: OK")
    print(f"  broker   {cfg.mqtt.host}:{cfg.mqtt.port} (mode {cfg.broker.mode}), "
          f"base topic {cfg.mqtt.base_topic!r}, discovery prefix {cfg.mqtt.discovery_prefix!r}")
    print(f"  hub      id {cfg.hub.id!r}, discovery mode {cfg.hub.discovery_mode}")
    for node in cfg.nodes:
        print(f"  node     {node.id!r} kind {node.kind}")
    sinks = ", ".join(cfg.bridges.sink_names())
    print(f"  bridges  bridges.sinks: {sinks}, outbox {cfg.bridges.outbox.path}" if sinks else
          "  bridges  bridges.sinks is empty: no cloud bridge (edge only)")
    llm = ", ".join(f"{b.name} ({b.type}, {b.tier})" for b in cfg.llm.backends)
    print(f"  llm      llm.backends: {llm}" if llm else
          "  llm      llm.backends is empty: the LLM router is off")
    return 0


def cmd_llm_check(args: argparse.Namespace) -> int:
    from spark.app.runtime import check_llm

    cfg = _load(args)
    return _run(lambda: check_llm(cfg, timeout=args.timeout))


def cmd_hub(args: argparse.Namespace) -> int:
    from spark.app.runtime import run_hub

    cfg = _load(args)
    _setup_logging(cfg.log_level)
    return _run(lambda: run_hub(cfg))


def cmd_node(args: argparse.Namespace) -> int:
    from spark.app.runtime import node_config_for, run_node

    cfg = _load(args)
    _setup_logging(cfg.log_level)
    node_cfg = node_config_for(cfg, args.kind, args.id)
    return _run(lambda: run_node(cfg, node_cfg))


def cmd_up(args: argparse.Namespace) -> int:
    from spark.app.runtime import run_up

    cfg = _load(args)
    _setup_logging(cfg.log_level)
    return _run(lambda: run_up(cfg, duration=args.duration))


def cmd_bridge(args: argparse.Namespace) -> int:
    from spark.app.runtime import hub_password

    cfg = _load(args)
    _setup_logging(cfg.log_level)
    if args.bridge_command == "sync":
        from spark.bridges.runtime import run_sync

        async def sync() -> int:
            async with asyncio.timeout(args.timeout):
                gaps = await run_sync(cfg.bridge_settings())
            for gap in gaps:
                print(f"{gap.sink}: {gap.kind} hour {gap.hour}: {gap.found} of {gap.delivered} "
                      f"held, {gap.resent} re-sent")
            print(f"{len(gaps)} gap(s) re-sent" if gaps else "no gaps")
            return 0

        return _run(sync)
    from spark.bridges.runtime import run_bridge

    role = args.bridge_command
    pumps = None if role == "run" else [] if role == "ingest" else [role]
    return _run(lambda: run_bridge(cfg.bridge_settings(), hub_password(cfg), pumps=pumps,
                                   ingest=role in ("run", "ingest")))


def cmd_broker(args: argparse.Namespace) -> int:
    from spark.hub.broker import generate_files, run_mosquitto_foreground

    cfg = _load(args)
    _setup_logging(cfg.log_level)
    paths = generate_files(cfg.broker_settings())
    for name, path in paths.items():
        print(f"wrote {name}: {path}")
    if args.generate:
        return 0
    return run_mosquitto_foreground(cfg.broker_settings())


def cmd_user(args: argparse.Namespace) -> int:
    from spark.ui.api.auth import AuthError
    from spark.ui.api.useradmin import UserAdmin

    cfg = _load(args)
    admin = UserAdmin(cfg.ui.auth, cfg.recorder.url, cfg.ui.data_dir)
    try:
        with admin:
            if args.user_command == "list":
                print(f"{'user':<24} {'role':<9} {'active':<7} password")
                for u in admin.users():
                    state = "generated: change at next log-in" if u.must_change_password \
                        else "set by the user"
                    print(f"{u.username:<24} {u.role:<9} {'yes' if u.active else 'no':<7} "
                          f"{state}")
                return 0
            if args.user_command == "remove":
                admin.remove(args.name)
                print(f"removed user {args.name!r}; its sessions end at their next refresh")
                return 0
            if args.user_command == "add":
                new = admin.add(args.name, args.role, args.password_file)
                print(f"added user {new.username!r} ({args.role})")
            else:
                new = admin.reset_password(args.name, args.password_file)
                print(f"new password for {new.username!r}; its sessions are signed out")
            if new.file is not None:
                print(f"  password  in {new.file.resolve()} (readable by you only): "
                      f"cat {new.file.resolve()}")
                print("  it must be changed at the first log-in (the panel asks for it)")
    except AuthError as exc:
        print(f"spark: {exc}", file=sys.stderr)
        return 1
    return 0


def _add_user_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    from spark.ui.api.store import ROLES

    p = sub.add_parser("user", help="panel and API users: add, list, reset-password, remove",
                       description="Manage the users of the panel and the REST API (the hub "
                       "may be running). A generated password goes to a file only you can "
                       "read, and must be changed at the first log-in.")
    usub = p.add_subparsers(dest="user_command", metavar="ACTION", required=True)
    pu = usub.add_parser("list", parents=[common], help="list the users")
    pu.set_defaults(func=cmd_user)
    for name, what in (("add", "add a user"),
                       ("reset-password", "set a new password (a lost one, a locked-out admin)")):
        pu = usub.add_parser(name, parents=[common], help=what, description=what)
        pu.add_argument("name", help="username")
        if name == "add":
            pu.add_argument("--role", choices=ROLES, default="viewer", help="default: viewer")
        pu.add_argument("--password-file", type=Path, help="take the password from this file "
                        "(default: generate one into <ui.data_dir>/<name>.password)")
        pu.set_defaults(func=cmd_user)
    pu = usub.add_parser("remove", parents=[common], help="remove a user")
    pu.add_argument("name", help="username")
    pu.set_defaults(func=cmd_user)


def cmd_apikey(args: argparse.Namespace) -> int:
    import time

    from spark.hub.broker.passwd import write_private
    from spark.ui.api.apikeys import ApiKeys
    from spark.ui.api.auth import default_users_url
    from spark.ui.api.store import StoreError, UserStore

    cfg = _load(args)
    store = UserStore(cfg.ui.auth.users_url or default_users_url(cfg.recorder.url,
                                                                 cfg.ui.data_dir))
    try:
        store.open()
        keys = ApiKeys(store)
        if args.apikey_command == "list":
            print(f"{'id':>4} {'name':<24} {'role':<9} {'prefix':<11} state")
            for k in keys.all():
                state = "revoked" if k.revoked_at else (
                    "never used" if k.last_used_at is None else
                    "used " + time.strftime("%Y-%m-%d %H:%M", time.localtime(k.last_used_at)))
                print(f"{k.id:>4} {k.name:<24} {k.role:<9} {k.prefix:<11} {state}")
        elif args.apikey_command == "revoke":
            row = keys.revoke(args.key)
            print(f"revoked API key {row.name!r} (id {row.id}); refused from now on")
        else:
            row, key = keys.add(args.name, args.role, "cli")
            if args.key_file is not None:
                write_private(args.key_file, key + "\n")
                print(f"added API key {row.name!r} ({row.role}, id {row.id}); the key is in "
                      f"{args.key_file} (readable by you only); it is not shown again")
            else:
                print(key)
                print(f"added API key {row.name!r} ({row.role}, id {row.id}); send it as "
                      "'Authorization: Bearer <key>'; it is not shown again", file=sys.stderr)
    except StoreError as exc:
        print(f"spark: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    return 0


def _add_apikey_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    from spark.ui.api.store import ROLES

    p = sub.add_parser("apikey", help="API keys for scripts and devices: add, list, revoke",
                       description="API keys act with a role (viewer, operator, admin), are "
                       "kept hashed, and are revoked at once (the hub may be running).")
    asub = p.add_subparsers(dest="apikey_command", metavar="ACTION", required=True)
    pa = asub.add_parser("list", parents=[common], help="list the keys (never the keys)")
    pa.set_defaults(func=cmd_apikey)
    pa = asub.add_parser("add", parents=[common], help="make a key; printed once")
    pa.add_argument("name", help="what the key is for")
    pa.add_argument("--role", choices=ROLES, default="viewer", help="default: viewer")
    pa.add_argument("--key-file", type=Path, help="write the key to this file (mode 0600) "
                    "instead of printing it")
    pa.set_defaults(func=cmd_apikey)
    pa = asub.add_parser("revoke", parents=[common], help="revoke a key by id or name")
    pa.add_argument("key", help="id or name (see `spark apikey list`)")
    pa.set_defaults(func=cmd_apikey)


def build_parser() -> argparse.ArgumentParser:
    from spark.nodes.kinds import kind_about, kinds

    parser = argparse.ArgumentParser(
        prog="spark", description="Prime Spark: MQTT edge hub for a home lab.")
    parser.add_argument("--version", action="version", version=f"prime-spark {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-c", "--config", help="YAML config file (default: $SPARK_CONFIG, "
                        "else embedded defaults)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("up", parents=[common], help="broker + hub + nodes in one command",
                       description="Run everything on this machine: choose or start a broker, "
                       "then the hub and every node in the config (embedded defaults: a "
                       "simulated lab).")
    p.add_argument("--duration", type=float, default=None,
                   help="stop this many seconds after the start-up summary (demos, smoke tests)")
    p.set_defaults(func=cmd_up)

    p = sub.add_parser("hub", parents=[common], help="run the hub only",
                       description="Run the hub: registry, state, services, RPC.")
    p.set_defaults(func=cmd_hub)

    p = sub.add_parser("node", parents=[common], help="run one node agent",
                       description="Run one node agent process. `spark node KIND --help` says "
                       "what that kind does and how to configure it.")
    nsub = p.add_subparsers(dest="kind", metavar="KIND", required=True)
    for kind in kinds():
        about = kind_about(kind)
        pk = nsub.add_parser(kind, help=about.summary, description=about.description,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
        # -c before or after the kind; SUPPRESS: not given here keeps the one given before
        pk.add_argument("-c", "--config", default=argparse.SUPPRESS,
                        help="YAML config file (default: $SPARK_CONFIG, else embedded defaults)")
        pk.add_argument("--id", help="node id (default: the config's node of this kind, else "
                        "the kind)")
        pk.set_defaults(func=cmd_node)

    p = sub.add_parser("broker", parents=[common], help="generate Mosquitto files and run it",
                       description="Write mosquitto.conf, the password file and the ACL file "
                       "from the config, then run Mosquitto in the foreground.")
    p.add_argument("--generate", action="store_true", help="only write the files")
    p.set_defaults(func=cmd_broker)

    p = sub.add_parser("bridge", help="cloud bridges: MQTT -> outbox -> TimescaleDB / Kafka",
                       description="Run the cloud bridge (bridges.sinks in the config).")
    bsub = p.add_subparsers(dest="bridge_command", metavar="ACTION", required=True)
    for name, what in (
        ("run", "ingest, and every configured sink in its child process"),
        ("ingest", "only MQTT -> outbox (pair with one process per sink)"),
        ("timescale", "only drain the outbox into the TimescaleDB sink"),
        ("kafka", "only drain the outbox into the Kafka sink"),
    ):
        bsub.add_parser(name, parents=[common], help=what, description=what).set_defaults(
            func=cmd_bridge)
    ps = bsub.add_parser("sync", parents=[common], help="reconcile every sink now",
                         description="Compare per-hour counts of every sink with the outbox, "
                         "re-send the gaps and wait until they are delivered.")
    ps.add_argument("--timeout", type=float, default=600.0, help="give up after this many s")
    ps.set_defaults(func=cmd_bridge)

    p = sub.add_parser("config", help="config tools", description="Config tools.")
    csub = p.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    pc = csub.add_parser("check", help="validate a config file and explain errors",
                         description="Validate FILE against the schema; errors name the key "
                         "and the fix.")
    pc.add_argument("file", help="YAML config file")
    pc.set_defaults(func=cmd_config_check)

    p = sub.add_parser("llm", help="LLM router tools", description="LLM router tools.")
    lsub = p.add_subparsers(dest="llm_command", metavar="ACTION", required=True)
    pl = lsub.add_parser("check", parents=[common], help="probe every configured LLM backend",
                         description="List each backend's models and generate one token; "
                         "exit 0 when all work, 1 when one failed.")
    pl.add_argument("--timeout", type=float, default=30.0, help="seconds per backend")
    pl.set_defaults(func=cmd_llm_check)
    _add_user_parser(sub, common)
    _add_apikey_parser(sub, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except SparkError as exc:
        print(f"spark: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
