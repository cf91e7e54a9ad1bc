"""Captured smartctl samples and backup source trees for the NAS tests."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

FIX = Path(__file__).parent / "fixtures" / "nas"


def copy_smart_samples(tmp_path: Path, mapping: dict[str, str]) -> list[str]:
    """Lay captured samples out as <tmp>/smart/<disk>.json for a `cat`-based smartctl."""
    folder = tmp_path / "smart"
    folder.mkdir(exist_ok=True)
    for disk, sample in mapping.items():
        shutil.copy(FIX / f"smartctl_{sample}.json", folder / f"{disk}.json")
    return ["cat", f"{folder}/{{name}}.json"]


def make_sources(root: Path) -> list[Path]:
    hub = root / "hub-data"
    (hub / "db").mkdir(parents=True)
    (hub / "db" / "registry.sqlite").write_bytes(os.urandom(300_000))
    (hub / "config.yaml").write_text("hub:\n  id: hub\n")
    (hub / "empty.log").write_bytes(b"")
    (hub / "current").symlink_to("db/registry.sqlite")
    single = root / "secrets.env"
    single.write_text("TOKEN=abc\n")
    return [hub, single]
