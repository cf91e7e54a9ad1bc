"""Config fields every node kind shares. A kind's model subclasses this and fixes ``kind``."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator

from spark.core.config.base import StrictModel
from spark.core.topics import SEGMENT_RE


class NodeConfigBase(StrictModel):
    id: str = Field(description="Node id used in topics and discovery (letters, digits, _ -).")
    name: str | None = Field(None, description="Device name shown in Home Assistant.")
    area: str | None = Field(None, description="Suggested area in Home Assistant.")
    hardware_id: str | None = Field(
        None, description="The device's serial number in Home Assistant; default: Pi serial, "
        "/etc/machine-id or MAC. Never part of unique ids (those come from hub.site)."
    )
    username: str | None = Field(None, description="Broker login; default: the node id.")
    password: SecretStr | None = Field(None, description="Broker password; prefer password_file.")
    password_file: Path | None = Field(None, description="File holding the broker password.")
    state_interval: float = Field(30.0, gt=0, description="Seconds between periodic updates.")
    kind: str = Field("node", description="The node kind; each kind's model fixes it.")

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not SEGMENT_RE.match(v):
            raise ValueError("use only letters, digits, '_' and '-'")
        return v

    def display_name(self) -> str:
        """The configured name, else the id in words with acronyms kept upper case (``NAS``)."""
        return self.name or default_display_name(self.id)


ACRONYMS = frozenset({"ap", "cpu", "gpu", "ha", "nas", "nvr", "pc", "pdu", "ups", "usb", "vpn"})


def default_display_name(node_id: str) -> str:
    """``nas`` -> ``NAS``, ``garage_ups`` -> ``Garage UPS``, ``pi-5`` -> ``Pi 5``."""
    words = node_id.replace("_", " ").replace("-", " ").split()
    return " ".join(w.upper() if w.lower() in ACRONYMS else w.capitalize() for w in words)
