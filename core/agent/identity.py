"""Who a node is to Home Assistant: the prefix of its unique ids and its device identifier.

HA's entity registry keys every MQTT entity on its ``unique_id``, and its device registry on
the device ``identifiers``. A new unique id is a new entity (a ``_2`` entity id while the old
one exists, the old one orphaned with its history, area and name), so the prefix must not
change when the hardware does: it derives from the configured site and node id,
``spark_<site>_<node>``.

Installs from before this rule used ``spark_<hwid>_<node>`` (Pi serial / machine-id). Their
entities keep their unique ids: HA offers no way to re-key a registry entry over MQTT (its
``migrate_discovery`` handshake moves an entity between discovery topics, and only with the
*same* unique id), so changing them would be the duplication this module exists to prevent.
At start the agent reads its retained discovery back (:mod:`spark.core.agent.reconcile`); a
prefix found there is adopted and written to the identity file beside the config, which then
moves with the config to a new board or SD card.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import orjson

log = logging.getLogger(__name__)

PREFIX_RE = re.compile(r"^spark_[A-Za-z0-9_]{1,80}$")
MAX_FILE = 64 * 1024  # bytes read from an identity file


def normalize(part: str) -> str:
    """Ids as they appear inside unique ids: lower case, ``-`` as ``_``."""
    return part.replace("-", "_").lower()


def site_prefix(site: str, node_id: str) -> str:
    """The unique-id prefix of a node that has no adopted one: ``spark_<site>_<node>``."""
    return f"spark_{normalize(site)}_{normalize(node_id)}"


def prefix_of(unique_id: object, key: str) -> str | None:
    """The prefix of ``<prefix>_<key>`` when it looks like one of ours, else None."""
    if not isinstance(unique_id, str) or len(unique_id) > 200:
        return None
    tail = f"_{key}"
    if not unique_id.endswith(tail):
        return None
    prefix = unique_id[: -len(tail)]
    return prefix if PREFIX_RE.match(prefix) else None


def prevailing(prefixes: Iterable[str], node_id: str) -> str | None:
    """The prefix most of a node's retained configs carry (ours: ending in ``_<node>``)."""
    own = f"_{normalize(node_id)}"
    counts = Counter(p for p in prefixes if p.lower().endswith(own))
    if not counts:
        return None
    return counts.most_common(1)[0][0]


class IdentityStore:
    """Adopted prefixes by node id, in a small JSON file (``{"nodes": {"nas": "spark_..."}}``).

    A missing or unreadable file is empty (logged); a failed write is logged and the prefix
    stays in use for this run (the retained discovery still carries it next time)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def _read(self) -> dict[str, str]:
        if self.path is None:
            return {}
        try:
            with self.path.open("rb") as fh:
                raw = fh.read(MAX_FILE + 1)
        except FileNotFoundError:
            return {}
        except OSError as exc:
            log.warning("identity file %s: cannot read it (%s); using the site-based ids",
                        self.path, exc.strerror)
            return {}
        try:
            data = orjson.loads(raw) if len(raw) <= MAX_FILE else None
        except orjson.JSONDecodeError:
            data = None
        nodes = data.get("nodes") if isinstance(data, dict) else None
        if not isinstance(nodes, dict):
            log.warning("identity file %s is not {\"nodes\": {...}}; ignoring it (delete or fix "
                        "it)", self.path)
            return {}
        return {k: v for k, v in nodes.items()
                if isinstance(k, str) and isinstance(v, str) and PREFIX_RE.match(v)}

    def get(self, node_id: str) -> str | None:
        return self._read().get(node_id)

    def put(self, node_id: str, prefix: str) -> bool:
        """Record ``prefix`` for ``node_id`` (atomically); False when it could not be written."""
        if self.path is None:
            return False
        nodes = self._read()
        if nodes.get(node_id) == prefix:
            return True
        nodes[node_id] = prefix
        body = orjson.dumps({"nodes": dict(sorted(nodes.items()))}, option=orjson.OPT_INDENT_2)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".identity-", dir=self.path.parent)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(body + b"\n")
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError as exc:
            log.warning("identity file %s: cannot write it (%s); node %s keeps its unique ids "
                        "this run, but a new board without this file would need the broker's "
                        "retained discovery to find them", self.path, exc.strerror, node_id)
            return False
        return True
