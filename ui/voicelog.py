"""The voice pipeline log in words: what was heard, understood and answered, never Python
reprs of the event's data."""

from __future__ import annotations

from typing import Any

from spark.ui.feeds import PipelineLine

TITLES = {"wake": "Wake word", "speech-start": "Listening", "speech-end": "Speech ended",
          "transcript": "Heard", "intent": "Understood", "handled": "Answered",
          "error": "Error", "timeout": "Timed out"}
COLOURS = {"handled": "positive", "error": "negative", "timeout": "warning"}
SHOWN = {  # the keys each type says in its headline; the rest are listed as details
    "wake": ("phrase",), "transcript": ("text",), "intent": ("intent", "entity_id", "text"),
    "handled": ("reply", "success", "executed"), "error": ("code", "message"),
    "timeout": ("after",),
}


def value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, dict):
        return ", ".join(f"{k.replace('_', ' ')} {value_text(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(value_text(v) for v in value)
    return str(value)


def headline(line: PipelineLine) -> str:
    d = line.data
    if line.type == "wake":
        return f"“{d['phrase']}”" if d.get("phrase") else "wake word heard"
    if line.type == "transcript":
        return f"“{d.get('text', '')}”" if d.get("text") else "nothing recognised"
    if line.type == "intent":
        what = str(d.get("intent") or "not understood")
        return f"{what} → {d['entity_id']}" if d.get("entity_id") else what
    if line.type == "handled":
        reply = str(d.get("reply") or "—")
        if d.get("success") is False:
            return f"{reply} (failed)"
        return reply + (" (done)" if d.get("executed") else "")
    if line.type == "error":
        return ": ".join(str(d[k]) for k in ("code", "message") if d.get(k)) or "error"
    if line.type == "timeout":
        return f"no speech after {d['after']}" if d.get("after") else "no speech"
    return ""


def details(line: PipelineLine) -> list[str]:
    """``key: value`` of the data the headline did not say, then the stage timings."""
    shown = SHOWN.get(line.type, ())
    out = [f"{k.replace('_', ' ')}: {value_text(v)}" for k, v in line.data.items()
           if k not in shown and v not in (None, "", [], {})]
    if line.timings:
        out.append(" · ".join(f"{k.removesuffix('_ms')} {v:.0f} ms"
                              for k, v in line.timings.items()))
    return out
