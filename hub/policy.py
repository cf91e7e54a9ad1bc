"""Who may make the hub act, and where the hub may publish on someone else's behalf.

Two policies, both checked in the hub (the broker only knows topics):

* **Callers.** Every service call names its caller: a broker account (an RPC request; the
  account is the ``<caller>`` level of the request topic, which the broker's ACL lets an
  account write only under its own name), a panel / API user with a role, or the hub itself
  (its own code, the command line, the cloud source with its own allow lists). A broker
  account may do what ``hub.policy.accounts`` grants it and nothing else: nodes call nothing by
  default, the ``voice`` account (the voice node) the services it speaks on every entity and
  the LLM's ``ask`` (a grant's ``llm`` list: ``ask``, ``generate``). A user may do what
  ``hub.policy.roles`` grants the role (viewer reads, operator and admin call every service
  and the LLM). A refusal is a :class:`PolicyError` (the RPC answers it on the
  caller's response topic) and a log line.
* **Command topics.** A discovery config names the topic a service call publishes to, and the
  hub publishes with rights no node has (``readwrite #``). So a command topic is refused when
  it is a wildcard, a ``$`` topic, anything under the discovery prefix, anything under the base
  topic but an entity's ``<base>/<node>/<object>/set`` (availability, states, attributes,
  requests, responses, telemetry are not commands), a ``set`` topic of another node than the
  one whose discovery topic announced the entity, or the entity's own state / attributes /
  availability topic. Commands under the base topic are never retained; elsewhere only when
  the config says ``retain`` (Home Assistant's semantics).
"""

from __future__ import annotations

import enum
import fnmatch
import logging
import re
from dataclasses import dataclass
from typing import Literal

from pydantic import Field, field_validator

from spark.core.config.base import StrictModel
from spark.core.errors import ServiceError, TopicError
from spark.core.platforms import service_names, voice_services
from spark.core.topics import TopicLayout, valid_publish_topic, valid_segment

log = logging.getLogger(__name__)

READ_METHODS = frozenset({"get_state", "list_entities", "list_devices"})
LLM_METHODS = ("ask", "generate")  # the hub's LLM (hub.ask): a grant's ``llm`` list
OPEN_METHODS = frozenset({"ping"})  # "is anybody there": answered for every caller
ENTITY_PATTERN = re.compile(r"^[a-z0-9_.*?\[\]-]{1,255}$")
Role = Literal["viewer", "operator", "admin"]


class PolicyError(ServiceError):
    """The caller may not do this (or the hub may not publish there for anybody)."""


class Grant(StrictModel):
    """What one caller (a broker account, or a panel / API role) may make the hub do."""

    read: bool = Field(False, description="May read the registry over RPC: get_state, "
                       "list_entities, list_devices.")
    services: list[str] = Field(default_factory=list, description="Services it may call "
                                "(turn_on, select_option, ...); '*' for every service.")
    entities: list[str] = Field(default_factory=list, description="Entity ids it may call them "
                                "on; shell patterns such as 'switch.*' or 'light.kitchen_?'; "
                                "'*' for every entity.")
    llm: list[Literal["ask", "generate"]] = Field(
        default_factory=list, description="The hub's LLM methods it may call: 'ask' (a question, "
        "answered with conversation memory), 'generate' (a raw LLM request).")

    @field_validator("services")
    @classmethod
    def _services(cls, value: list[str]) -> list[str]:
        known = service_names()
        for name in value:
            if name != "*" and name not in known:
                raise ValueError(f"unknown service {name!r}; use '*' or one of: "
                                 f"{', '.join(known)}")
        return value

    @field_validator("entities")
    @classmethod
    def _entities(cls, value: list[str]) -> list[str]:
        for pattern in value:
            if not ENTITY_PATTERN.match(pattern):
                raise ValueError(f"bad entity pattern {pattern!r}: an entity id such as "
                                 "'switch.lamp', with '*', '?' or [...] as wildcards")
        return value

    def allows(self, service: str, entity_id: str) -> bool:
        return ("*" in self.services or service in self.services) and any(
            fnmatch.fnmatchcase(entity_id, pattern) for pattern in self.entities)


def _default_accounts() -> dict[str, Grant]:
    # the services voice speaks: each platform's words say which (core/platforms)
    return {"voice": Grant(read=True, services=list(voice_services()), entities=["*"],
                           llm=["ask"])}


def _default_roles() -> dict[Role, Grant]:
    every = Grant(read=True, services=["*"], entities=["*"], llm=["ask", "generate"])
    return {"viewer": Grant(read=True), "operator": every, "admin": every}


class PolicyConfig(StrictModel):
    """``hub.policy``: what each caller may make the hub do (see spark.hub.policy)."""

    accounts: dict[str, Grant] = Field(
        default_factory=_default_accounts,
        description="Broker accounts (node ids or usernames) and what they may call through the "
        "hub's RPC. An account not listed may only ping. Default: the voice node (account "
        "'voice') may read, call the services it speaks on every entity and ask the LLM; "
        "listing accounts replaces that default, so list your voice node's account too.")
    roles: dict[Role, Grant] = Field(
        default_factory=_default_roles,
        description="Panel and REST API roles. A role not listed may do nothing. Default: "
        "viewer reads; operator and admin call every service and the LLM (ask, generate).")

    @field_validator("accounts")
    @classmethod
    def _accounts(cls, value: dict[str, Grant]) -> dict[str, Grant]:
        for name in value:
            try:
                valid_segment(name, "account")
            except TopicError as exc:
                raise ValueError(str(exc)) from None
        return value


class CallerKind(enum.Enum):
    HUB = "hub"  # the hub's own code, the command line, the cloud source
    ACCOUNT = "account"  # a broker account, over RPC
    USER = "user"  # a panel / REST API user


@dataclass(frozen=True, slots=True)
class Caller:
    kind: CallerKind
    name: str
    role: str | None = None

    @classmethod
    def account(cls, name: str) -> Caller:
        return cls(CallerKind.ACCOUNT, name)

    @classmethod
    def user(cls, name: str, role: str) -> Caller:
        return cls(CallerKind.USER, name, role)

    def __str__(self) -> str:
        if self.kind is CallerKind.HUB:
            return "the hub"
        if self.kind is CallerKind.USER:
            return f"user {self.name!r} ({self.role})"
        return f"account {self.name!r}"


HUB = Caller(CallerKind.HUB, "hub")


class Policy:
    """Checks callers against :class:`PolicyConfig`. ``hub_account`` (the hub's own broker
    account) is trusted like the hub."""

    def __init__(self, config: PolicyConfig | None = None, hub_account: str | None = None
                 ) -> None:
        self.config = config or PolicyConfig()
        self.hub_account = hub_account
        self.refused = 0

    def _grant(self, caller: Caller) -> Grant | None:
        if caller.kind is CallerKind.ACCOUNT:
            return self.config.accounts.get(caller.name)
        return next((g for role, g in self.config.roles.items() if role == caller.role), None)

    def _trusted(self, caller: Caller) -> bool:
        return caller.kind is CallerKind.HUB or (
            caller.kind is CallerKind.ACCOUNT and caller.name == self.hub_account)

    def _refuse(self, caller: Caller, what: str, how: str) -> PolicyError:
        self.refused += 1
        log.warning("policy: refused %s for %s (%s)", what, caller, how)
        return PolicyError(f"{caller} may not {what}; {how}")

    def check_method(self, caller: Caller, method: str) -> None:
        """Before an RPC method runs (``call_service`` is checked per entity by
        :meth:`check_call`)."""
        if self._trusted(caller) or method in OPEN_METHODS or method == "call_service":
            return
        grant = self._grant(caller)
        if method in READ_METHODS and grant is not None and grant.read:
            return
        if method in LLM_METHODS and grant is not None and method in grant.llm:
            return
        where = (f"hub.policy.accounts.{caller.name}" if caller.kind is CallerKind.ACCOUNT
                 else f"hub.policy.roles.{caller.role}")
        how = (f"grant it 'read: true' under {where}" if method in READ_METHODS
               else f"add {method!r} to 'llm' under {where}" if method in LLM_METHODS
               else "the hub offers it to nobody")
        raise self._refuse(caller, f"call {method!r}", how)

    def check_call(self, caller: Caller, service: str, entity_id: str) -> None:
        if self._trusted(caller):
            return
        grant = self._grant(caller)
        if grant is not None and grant.allows(service, entity_id):
            return
        where = (f"hub.policy.accounts.{caller.name}" if caller.kind is CallerKind.ACCOUNT
                 else f"hub.policy.roles.{caller.role}")
        raise self._refuse(caller, f"call {service} on {entity_id}",
                           f"allowed by {where} (services / entities) only")


@dataclass(frozen=True, slots=True)
class Target:
    """Where a service call publishes, once checked."""

    topic: str
    retain: bool


def command_target(layout: TopicLayout, entity_id: str, spec_topic: str,
                   discovery_node: str | None, own_topics: tuple[str | None, ...],
                   retain: bool) -> Target:
    """Check a discovery config's command topic before the hub publishes to it (see the
    module docstring); raises :class:`PolicyError` with the reason."""

    def refuse(why: str) -> PolicyError:
        log.warning("policy: %s: not publishing to command_topic %r: %s", entity_id,
                    spec_topic[:200], why)
        return PolicyError(f"{entity_id}: its command_topic {spec_topic[:200]!r} {why}; the "
                           "hub publishes commands only to command topics")

    try:
        topic = valid_publish_topic(spec_topic)
    except TopicError as exc:
        raise refuse(f"is not a topic one may publish to ({exc})") from None
    if topic.startswith("$"):
        raise refuse("is a broker topic ($...)")
    if topic == layout.prefix or topic.startswith(layout.prefix + "/"):
        raise refuse(f"is under the discovery prefix {layout.prefix!r}")
    if topic in own_topics:
        raise refuse("is the entity's own state, attributes or availability topic")
    if topic == layout.base or topic.startswith(layout.base + "/"):
        command = layout.parse_command(topic)
        if command is None or not all(
                re.match(r"^[a-zA-Z0-9_-]+$", p) for p in (command.node_id, command.object_id)):
            raise refuse(f"is under {layout.base!r} but not a command topic "
                         f"({layout.base}/<node>/<entity>/set)")
        if command.node_id != discovery_node:
            raise refuse(f"belongs to node {command.node_id!r} but the config was announced "
                         f"for {discovery_node!r}")
        return Target(topic, False)  # our nodes' commands are never retained
    return Target(topic, retain)
