"""The node kinds: one table, one entry per kind (its config model, its agent class, its help).

Adding a kind: write ``nodes/<kind>/config.py`` (a :class:`NodeConfigBase` subclass whose
``kind`` is a Literal), ``nodes/<kind>/agent.py`` (a ``NodeAgent[<its config>]``) and
``nodes/<kind>/about.py`` (``SUMMARY``, one line, and ``DESCRIPTION``: what ``spark node <kind>
--help`` says), then add one :class:`NodeKind` to ``KINDS`` below. The config union
:data:`NodeConfig` (keyed by ``kind``) is built from this table.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Union

from pydantic import Field

from spark.core.agent.config import NodeConfigBase
from spark.core.registry import TypeRegistry
from spark.nodes.nas.config import NasNodeConfig
from spark.nodes.power.config import PowerNodeConfig
from spark.nodes.simulated.config import SimulatedNodeConfig
from spark.nodes.system.config import SystemNodeConfig
from spark.nodes.vision.config import VisionNodeConfig
from spark.nodes.voice.config import VoiceNodeConfig

if TYPE_CHECKING:
    from spark.core.agent.agent import NodeAgent


@dataclass(frozen=True, slots=True)
class KindAbout:
    summary: str  # one line, for ``spark node --help``
    description: str  # ``spark node <kind> --help``


@dataclass(frozen=True, slots=True)
class NodeKind:
    config: type[NodeConfigBase]  # the node's own config section; its ``kind`` Literal names it
    agent: str  # "module:Class", imported when the kind runs (hardware libraries load then)
    about: str  # module with SUMMARY and DESCRIPTION (plain text, imports nothing)

    @property
    def name(self) -> str:
        return str(self.config.model_fields["kind"].default)

    def agent_class(self) -> type[NodeAgent[Any]]:
        module, _, name = self.agent.partition(":")
        cls: type[NodeAgent[Any]] = getattr(importlib.import_module(module), name)
        return cls

    def help(self) -> KindAbout:
        module = importlib.import_module(self.about)
        return KindAbout(module.SUMMARY, module.DESCRIPTION)


KINDS: TypeRegistry[NodeKind] = TypeRegistry("node kind", {k.name: k for k in (
    NodeKind(SimulatedNodeConfig, "spark.nodes.simulated.agent:SimulatedNode",
             "spark.nodes.simulated.about"),
    NodeKind(PowerNodeConfig, "spark.nodes.power.agent:PowerNode", "spark.nodes.power.about"),
    NodeKind(SystemNodeConfig, "spark.nodes.system.agent:SystemNode", "spark.nodes.system.about"),
    NodeKind(NasNodeConfig, "spark.nodes.nas.agent:NasNode", "spark.nodes.nas.about"),
    NodeKind(VisionNodeConfig, "spark.nodes.vision.agent:VisionNode", "spark.nodes.vision.about"),
    NodeKind(VoiceNodeConfig, "spark.nodes.voice.agent:VoiceNode", "spark.nodes.voice.about"),
)})

if TYPE_CHECKING:  # a union built at run time is no type to mypy: every kind's common base
    NodeConfig = NodeConfigBase
else:
    NodeConfig = Annotated[Union[tuple(KINDS.get(k).config for k in KINDS)],  # noqa: UP007
                           Field(discriminator="kind")]


def kinds() -> list[str]:
    return KINDS.keys()


def node_kind(kind: str) -> NodeKind:
    """The table entry of ``kind``; an unknown kind is an error naming the known ones."""
    return KINDS.get(kind)


def node_config_model(kind: str) -> type[NodeConfigBase] | None:
    return KINDS.get(kind).config if kind in KINDS else None


def agent_class(kind: str) -> type[NodeAgent[Any]]:
    """Import the agent for ``kind`` lazily (hardware libraries load only when used)."""
    return KINDS.get(kind).agent_class()


def kind_about(kind: str) -> KindAbout:
    """What a kind says about itself (``nodes/<kind>/about.py``)."""
    return KINDS.get(kind).help()
