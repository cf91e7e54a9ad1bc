"""The broker ACL: who may read and write which topics. Rendered as a Mosquitto ``acl_file``;
the embedded broker evaluates the same rules.

Per account (``<base>`` and ``<prefix>`` come from the ``mqtt`` section):

* hub: readwrite ``#``, read ``$SYS/#``;
* node ``<id>`` (account ``<user>``, usually the id): write ``<base>/<id>/#`` (availability,
  states, responses, telemetry), its own discovery configs ``<prefix>/+/<id>/+/config`` and
  ``<prefix>/device/<id>/config``, and requests under its own account name only,
  ``<base>/+/request/<user>/+`` (the hub reads the caller from that level: the broker is what
  makes it true); read ``<base>/#``, ``<prefix>/status`` and its own discovery configs (ghost
  cleanup);
* Home Assistant: read ``#``; write ``<prefix>/status`` and ``<base>/+/+/set`` (commands) only;
* each of ``broker.users``: its ``read`` / ``write`` / ``readwrite`` lists; unless ``trusted``,
  plus ``topic deny <prefix>/+/<node>/#`` for every node (and the hub) whose discovery configs
  one of its write rules reaches: zigbee2mqtt needs ``<prefix>/+/+/+/config`` for its own
  devices (their ids, ``0x<ieee>``, cannot be told apart from ours by a wildcard), and must
  not overwrite ours. In Mosquitto a ``deny`` wins over any grant (and denies reading too).

Every account gets its own ``user`` block with topics spelled out, not ``pattern ... %u`` lines:
Mosquitto applies pattern lines to *every* account, so a pattern would also hand Home Assistant
and third-party accounts (zigbee2mqtt, tasmota) a node namespace of their own name. The accounts
are all known when the files are generated (they are in the password file too), so nothing is lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from spark.core.errors import BrokerError, TopicError
from spark.core.topics import matches, valid_subscribe_filter
from spark.hub.broker.accounts import Account, Role, accounts
from spark.hub.broker.config import BrokerSettings
from spark.hub.broker.passwd import valid_username

Access = Literal["read", "write", "readwrite", "deny"]
ACCESS: tuple[Access, ...] = ("read", "write", "readwrite")


@dataclass(frozen=True, slots=True)
class Rule:
    access: Access
    topic: str

    def allows(self, action: Literal["read", "write"], topic: str) -> bool:
        return (self.access == "readwrite" or self.access == action) and matches(self.topic, topic)

    def denies(self, topic: str) -> bool:
        return self.access == "deny" and matches(self.topic, topic)


def overlap(a: str, b: str) -> bool:
    """True when some topic matches both filters ``a`` and ``b``."""
    pa, pb = a.split("/"), b.split("/")
    for i in range(max(len(pa), len(pb))):
        x = pa[i] if i < len(pa) else None
        y = pb[i] if i < len(pb) else None
        if x == "#" or y == "#":
            return not (i == 0 and ((x or "").startswith("$") or (y or "").startswith("$")))
        if x is None or y is None:
            return False
        if x != "+" and y != "+" and x != y:
            return False
    return True


def _protect_discovery(cfg: BrokerSettings, writes: list[str]) -> list[Rule]:
    """``deny`` rules for the discovery configs of every node (and the hub) that one of
    ``writes`` reaches."""
    layout = cfg.mqtt.layout()
    nodes = [acc.node_id for acc in accounts(cfg) if acc.node_id is not None]
    out: list[Rule] = []
    for node in dict.fromkeys(nodes):
        subtree = f"{layout.prefix}/+/{node}/#"
        if any(overlap(w, subtree) for w in writes):
            out.append(Rule("deny", subtree))
    return out


Acl = dict[str, list[Rule]]


def rules_for(cfg: BrokerSettings, account: Account) -> list[Rule]:
    layout = cfg.mqtt.layout()
    if account.role is Role.HUB:
        return [Rule("readwrite", "#"), Rule("read", "$SYS/#")]
    if account.role is Role.NODE:
        node = account.node_id
        assert node is not None
        own_discovery = [layout.node_discovery(node), layout.device_discovery(node)]
        return [
            Rule("write", layout.node_namespace(node)),
            *(Rule("readwrite", t) for t in own_discovery),
            Rule("write", layout.caller_requests(account.username)),
            Rule("read", layout.everything()),
            Rule("read", layout.ha_status()),
        ]
    if account.role is Role.HOMEASSISTANT:
        return [
            Rule("read", "#"),
            Rule("write", layout.ha_status()),
            Rule("write", layout.all_commands()),
        ]
    user = account.user
    assert user is not None
    rules: list[Rule] = []
    for access in ACCESS:
        for i, topic in enumerate(getattr(user, access)):
            try:
                valid_subscribe_filter(topic)
            except TopicError as exc:
                raise BrokerError(f"broker.users[{user.username}].{access}[{i}]: {exc}") from None
            if "\n" in topic or "\r" in topic:
                raise BrokerError(f"broker.users[{user.username}].{access}[{i}]: newline in topic")
            rules.append(Rule(access, topic))
    if not user.trusted:
        rules += _protect_discovery(cfg, [r.topic for r in rules if r.access != "read"])
    return rules


def build_acl(cfg: BrokerSettings) -> Acl:
    return {acc.username: rules_for(cfg, acc) for acc in accounts(cfg)}


def render_acl(acl: Acl, header: str = "") -> str:
    lines = [
        "# Mosquitto ACL generated by Prime Spark (`spark broker --generate`); edits are lost.",
        "# Anything not granted below is denied.",
    ]
    if header:
        lines.append(f"# {header}")
    for username, rules in acl.items():
        lines += ["", f"user {valid_username(username)}"]
        lines += [f"topic {rule.access} {rule.topic}" for rule in rules]
    return "\n".join(lines) + "\n"


def parse_acl(text: str) -> Acl:
    """Read the ``user`` / ``topic`` lines of an ACL file (the subset :func:`render_acl` writes).
    Topic lines before any ``user`` line are stored under ``""`` (anonymous clients)."""
    acl: Acl = {}
    current = ""
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        if keyword == "user":
            current = rest.strip()
            acl.setdefault(current, [])
        elif keyword == "topic":
            access, _, topic = rest.strip().partition(" ")
            if access not in (*ACCESS, "deny"):  # "topic <filter>" alone means readwrite
                access, topic = "readwrite", rest.strip()
            acl.setdefault(current, []).append(Rule(access, topic.strip()))  # type: ignore[arg-type]
        else:
            raise BrokerError(f"ACL line {lineno}: unsupported keyword {keyword!r}")
    return acl


def is_allowed(
    acl: Acl, username: str | None, action: Literal["read", "write"], topic: str
) -> bool:
    """Mosquitto's rule: allowed when any rule of the user grants ``action`` on ``topic`` and
    no ``deny`` rule matches it. As in Mosquitto, ``#`` and ``+`` never match a topic starting
    with ``$``."""
    rules = acl.get(username or "", [])
    if any(rule.denies(topic) for rule in rules):
        return False
    return any(rule.allows(action, topic) for rule in rules)
