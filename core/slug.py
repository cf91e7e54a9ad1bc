"""Object ids from display names (the hub's registry and the voice vocabulary)."""

from __future__ import annotations

import re

_SLUG_RE = re.compile(r"[^a-z0-9_]+")


def slugify(text: str) -> str:
    slug = _SLUG_RE.sub("_", text.lower()).strip("_")
    return re.sub(r"_+", "_", slug) or "unnamed"
