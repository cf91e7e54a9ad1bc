"""Every node kind's config model, as one discriminated union keyed by ``kind``.

Adding a kind: write ``nodes/<kind>/config.py`` with a model whose ``kind`` is a Literal, add it to
``NodeConfig`` below and its agent class to :func:`agent_class`, and ``nodes/<kind>/about.py``
(``SUMMARY``, one line, and ``DESCRIPTION``: what ``spark node <kind> --help`` says).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, Field

from spark.nodes.nas.config import NasNodeConfig
from spark.nodes.power.config import PowerNodeConfig
from spark.nodes.simulated.config import SimulatedNodeConfig
from spark.nodes.system.config import SystemNodeConfig
from spark.nodes.vision.config import VisionNodeConfig
from spark.nodes.voice.config import VoiceNodeConfig

if TYPE_CHECKING:
    from spark.core.agent.agent import NodeAgent

NodeConfig = Annotated[
    SimulatedNodeConfig | PowerNodeConfig | SystemNodeConfig | NasNodeConfig | VisionNodeConfig
    | VoiceNodeConfig,
    Field(discriminator="kind"),
]

_AGENTS: dict[str, str] = {
    "simulated": "spark.nodes.simulated.agent:SimulatedNode",
    "power": "spark.nodes.power.agent:PowerNode",
    "system": "spark.nodes.system.agent:SystemNode",
    "nas": "spark.nodes.nas.agent:NasNode",
    "vision": "spark.nodes.vision.agent:VisionNode",
    "voice": "spark.nodes.voice.agent:VoiceNode",
}
_CONFIGS: dict[str, type[BaseModel]] = {
    "simulated": SimulatedNodeConfig,
    "power": PowerNodeConfig,
    "system": SystemNodeConfig,
    "nas": NasNodeConfig,
    "vision": VisionNodeConfig,
    "voice": VoiceNodeConfig,
}


def kinds() -> list[str]:
    return sorted(_AGENTS)


def node_config_model(kind: str) -> type[BaseModel] | None:
    return _CONFIGS.get(kind)


def agent_class(kind: str) -> type[NodeAgent]:
    """Import the agent for ``kind`` lazily (hardware libraries load only when used)."""
    try:
        target = _AGENTS[kind]
    except KeyError:
        raise KeyError(f"unknown node kind {kind!r}; known: {', '.join(kinds())}") from None
    module, _, name = target.partition(":")
    cls: type[NodeAgent] = getattr(importlib.import_module(module), name)
    return cls


@dataclass(frozen=True, slots=True)
class KindAbout:
    summary: str  # one line, for ``spark node --help``
    description: str  # ``spark node <kind> --help``


def kind_about(kind: str) -> KindAbout:
    """What a kind says about itself (``nodes/<kind>/about.py``: plain text, imports nothing)."""
    if kind not in _AGENTS:
        raise KeyError(f"unknown node kind {kind!r}; known: {', '.join(kinds())}")
    module = importlib.import_module(f"spark.nodes.{kind}.about")
    return KindAbout(module.SUMMARY, module.DESCRIPTION)
