"""One detected object: what the vision node publishes and the bridges store."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Box = tuple[int, int, int, int]  # x_min, y_min, x_max, y_max in source pixels


@dataclass(frozen=True, slots=True)
class Detection:
    label: str
    score: float
    box: Box

    @property
    def anchor(self) -> tuple[float, float]:
        """Bottom centre: where an object stands (what zones test)."""
        x0, _y0, x1, y1 = self.box
        return (x0 + x1) / 2.0, float(y1)

    def as_dict(self) -> dict[str, Any]:
        return {"label": self.label, "score": round(self.score, 3), "box": list(self.box)}
