"""The broker side: accounts, password and ACL files and ``mosquitto.conf`` generated from config;
running Mosquitto; choosing (or starting) the broker for ``spark up``.

The embedded amqtt broker lives in :mod:`hub.broker.embedded` and is imported only when used.
"""

from spark.hub.broker.accounts import Account, Role, accounts, resolve_passwords
from spark.hub.broker.acl import build_acl, render_acl
from spark.hub.broker.mosquitto import (
    broker_paths,
    generate_files,
    mosquitto_process,
    reload_running,
    render_conf,
    run_mosquitto_foreground,
)
from spark.hub.broker.passwd import hash_password, verify_password, write_password_file
from spark.hub.broker.probe import Answer, ProbeResult, probe_mqtt
from spark.hub.broker.process import MosquittoProcess, find_mosquitto
from spark.hub.broker.secrets import ensure_password
from spark.hub.broker.select import BrokerHandle, choose_broker

__all__ = [
    "Account",
    "Answer",
    "BrokerHandle",
    "MosquittoProcess",
    "ProbeResult",
    "Role",
    "accounts",
    "broker_paths",
    "build_acl",
    "choose_broker",
    "ensure_password",
    "find_mosquitto",
    "generate_files",
    "hash_password",
    "mosquitto_process",
    "probe_mqtt",
    "reload_running",
    "render_acl",
    "render_conf",
    "resolve_passwords",
    "run_mosquitto_foreground",
    "verify_password",
    "write_password_file",
]
