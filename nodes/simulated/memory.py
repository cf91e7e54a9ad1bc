"""What a simulated device keeps across a power cut, as the real one keeps it in its flash or
its mechanics: one small JSON file per node, written atomically on every change."""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger(__name__)
MAX_BYTES = 64 * 1024  # a larger file is not ours: start fresh rather than parse it


class DeviceMemory:
    """``get(key)`` / ``put(key, values)`` per device; without a path it is in memory only."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._data: dict[str, dict[str, Any]] = self._load()

    def _load(self) -> dict[str, dict[str, Any]]:
        if self.path is None or not self.path.exists():
            return {}
        try:
            if self.path.stat().st_size > MAX_BYTES:
                raise ValueError(f"larger than {MAX_BYTES} bytes")
            data = orjson.loads(self.path.read_bytes())
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as exc:
            log.warning("%s: unreadable device memory (%s); the devices start fresh (delete "
                        "the file to silence this)", self.path, exc)
            return {}
        return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, dict)}

    def get(self, key: str) -> dict[str, Any]:
        return dict(self._data.get(key, {}))

    def put(self, key: str, values: dict[str, Any]) -> None:
        if self._data.get(key) == values:
            return
        self._data[key] = dict(values)
        self._save()

    def _save(self) -> None:
        if self.path is None:
            return
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(orjson.dumps(self._data))
            os.replace(tmp, self.path)
        except OSError as exc:
            log.warning("%s: cannot save device memory: %s", self.path, exc)
            with contextlib.suppress(OSError):
                tmp.unlink()
