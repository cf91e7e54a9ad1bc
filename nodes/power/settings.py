"""The power node's own settings, kept across restarts like a UPS keeps its mode in NVRAM.

The power mode chosen at run time (the select entity) is written to
``<data_dir>/<node id>.json``; at start the node comes back in that mode. The file also records
the config's ``mode`` it was chosen under: when the config's mode has changed since, the config
wins (an edited config is the newer decision). Written atomically and fsynced: a power node is
the one most likely to lose power right after a change.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from spark.nodes.power.messages import PowerMode

log = logging.getLogger(__name__)


class PowerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: PowerMode
    config_mode: PowerMode  # the config's mode when ``mode`` was chosen


def settings_path(data_dir: Path, node_id: str) -> Path:
    return data_dir / f"{node_id}.json"


def load_mode(path: Path, config_mode: PowerMode) -> PowerMode:
    """The mode to start in: the saved one, unless the config's mode changed since."""
    try:
        saved = PowerSettings.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        return config_mode
    except (OSError, ValidationError) as exc:
        log.warning("power settings %s unreadable (%s); starting in the config's mode %s",
                    path, exc, config_mode)
        return config_mode
    if saved.config_mode != config_mode:
        log.info("power mode %s from %s ignored: the config's mode changed from %s to %s",
                 saved.mode, path, saved.config_mode, config_mode)
        return config_mode
    return saved.mode


def save_mode(path: Path, mode: PowerMode, config_mode: PowerMode) -> None:
    """Replace the settings file atomically and durably (file and directory fsynced)."""
    data = PowerSettings(mode=mode, config_mode=config_mode).model_dump_json().encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        with contextlib.suppress(OSError):  # not every filesystem syncs directories
            os.fsync(fd)
    finally:
        os.close(fd)
