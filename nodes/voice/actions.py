"""Intent -> hub -> reply. Every action goes through the hub's services over MQTT
request/response (``call_service`` with ``wait``: the hub answers once the device confirmed,
or with the reason it could not); the reply says which.

Hub methods used: ``list_entities``, ``get_state``, ``call_service``; ``list_devices`` (device
names and areas) and ``ask`` (free-form questions, answered by the hub's LLM router; follow-ups
share a conversation) when the hub offers them; a hub without them: names come from entity ids
and questions get "I can't answer questions yet". A failed or late answer is a spoken error.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from spark.core.rpc import RpcClient, RpcError
from spark.nodes.voice.intents import Intent
from spark.nodes.voice.numbers import number_to_words
from spark.nodes.voice.vocab import Target

log = logging.getLogger(__name__)

UNIT_WORDS = {"%": "percent", "°C": "degrees", "°F": "degrees", "W": "watts", "kW": "kilowatts",
              "V": "volts", "A": "amps", "min": "minutes", "s": "seconds", "h": "hours",
              "Wh": "watt hours", "kWh": "kilowatt hours", "°": "degrees"}
NOT_UNDERSTOOD = "Sorry, I didn't understand that."
VERBS = {"turn_on": ("turn on", "Turned on"), "turn_off": ("turn off", "Turned off"),
         "toggle": ("toggle", "Toggled"), "press": ("press", "Pressed"),
         "set_value": ("set", "Set"), "select_option": ("set", "Set")}


class HubLink:
    """The hub's RPC methods, as the voice node uses them."""

    def __init__(self, rpc: RpcClient, hub_id: str, timeout: float = 5.0,
                 ask_timeout: float = 30.0) -> None:
        self.rpc = rpc
        self.hub_id = hub_id
        self.timeout = timeout
        self.ask_timeout = ask_timeout
        self.conversation_id: str | None = None
        self._has_devices: bool | None = None
        self._has_ask: bool | None = None

    async def entities(self) -> list[dict[str, Any]]:
        data = await self.rpc.call(self.hub_id, "list_entities", timeout=self.timeout)
        return list(data or [])

    async def devices(self) -> dict[str, dict[str, Any]] | None:
        if self._has_devices is False:
            return None
        try:
            data = await self.rpc.call(self.hub_id, "list_devices", timeout=self.timeout)
        except RpcError as exc:
            if "unknown method" in str(exc):
                self._has_devices = False
                return None
            raise
        self._has_devices = True
        return {str(d.get("id")): d for d in data or []}

    async def call(self, service: str, entity_id: str, data: dict[str, Any] | None = None
                   ) -> dict[str, Any]:
        params = {"service": service, "entity_id": entity_id, "data": data or {}, "wait": True}
        result = await self.rpc.call(self.hub_id, "call_service", params,
                                     timeout=self.timeout + 1.0)
        return dict(result or {})

    async def state(self, entity_id: str) -> dict[str, Any]:
        data = await self.rpc.call(self.hub_id, "get_state", {"entity_id": entity_id},
                                   timeout=self.timeout)
        return dict(data or {})

    async def ask(self, question: str) -> dict[str, Any] | None:
        """The hub's answer (``answer``, ``source``, ``conversation_id``), or None while the
        hub has no ``ask`` method. Follow-ups share one conversation (the hub forgets it once
        idle); an error or no answer within ``ask_timeout`` raises :class:`RpcError`."""
        if self._has_ask is False:
            return None
        params = {"question": question}
        if self.conversation_id is not None:
            params["conversation_id"] = self.conversation_id
        try:
            data = await self.rpc.call(self.hub_id, "ask", params, timeout=self.ask_timeout)
        except RpcError as exc:
            if "unknown method" in str(exc):
                self._has_ask = False
                return None
            raise
        self._has_ask = True
        if not isinstance(data, dict) or not isinstance(data.get("answer"), str):
            raise RpcError("the hub's answer has no text")
        self.conversation_id = str(data.get("conversation_id") or "") or None
        return data


@dataclass(slots=True)
class Outcome:
    reply: str
    success: bool
    executed: bool = False  # a command was sent to a device
    detail: dict[str, Any] = field(default_factory=dict)


def say_state(target: Target, record: dict[str, Any]) -> str:
    state = record.get("state")
    if state in (None, "unknown", "None"):
        return f"The {target.spoken} is unknown."
    if state == "unavailable":
        return f"The {target.spoken} is unavailable."
    unit = record.get("unit_of_measurement") or target.unit
    try:
        value = float(state)
    except (TypeError, ValueError):
        return f"The {target.spoken} is {str(state).replace('_', ' ').replace('-', ' ')}."
    words = number_to_words(value)
    unit_words = UNIT_WORDS.get(unit or "", unit or "")
    return f"The {target.spoken} is {words} {unit_words}".rstrip() + "."


async def execute(intent: Intent, hub: HubLink) -> Outcome:
    target = intent.target
    name = intent.name
    if name == "unknown":
        return Outcome(NOT_UNDERSTOOD, False)
    if name == "unknown_entity":
        return Outcome(f"Sorry, I don't know anything called {intent.heard_name}.", False)
    if name == "ambiguous":
        names = " or ".join(t.spoken for t in intent.candidates[:3])
        return Outcome(f"Which {intent.heard_name}? I know {names}.", False)
    if name == "nevermind":
        return Outcome("Okay, I did nothing.", False)
    if name == "unsupported":
        assert target is not None
        if intent.data.get("problem"):
            low, high = target.min, target.max
            step = (f" in steps of {number_to_words(target.step, 3)}" if target.step else "")
            span = (f" It goes from {number_to_words(low)} to {number_to_words(high)}{step}."
                    if low is not None and high is not None else "")
            value = number_to_words(float(intent.data["value"]), 3)
            return Outcome(f"Sorry, {value} is not a value of the {target.spoken}.{span}",
                           False)
        return Outcome(f"Sorry, the {target.spoken} can't do that.", False)
    try:
        if name == "system_status":
            return await _status(hub)
        if name == "ask":
            return await _ask(hub, str(intent.data.get("question", "")))
        assert target is not None
        if name == "get_state":
            record = await hub.state(target.entity_id)
            return Outcome(say_state(target, record), True, detail={"state": record.get("state")})
        service = "press" if name == "press" else name
        done = VERBS[name][1]
        data = dict(intent.data)
        result = await hub.call(service, target.entity_id, data)
    except RpcError as exc:
        log.info("voice intent %s failed: %s", intent.name, exc)
        what = f"{VERBS[name][0]} the {target.spoken}" if target and name in VERBS else "do that"
        return Outcome(f"Sorry, I couldn't {what}: {exc}.", False, detail={"error": str(exc)})
    if name == "set_value":
        value = number_to_words(float(data["value"]))
        reply = f"{done} the {target.spoken} to {value}."
    elif name == "select_option":
        reply = f"{done} the {target.spoken} to {str(data['option']).replace('-', ' ')}."
    else:
        reply = f"{done} the {target.spoken}."
    return Outcome(reply, True, executed=True, detail={"result": result})


async def _ask(hub: HubLink, question: str) -> Outcome:
    """The free-form path: the hub's LLM answers (the grammar handled everything it knows).
    What is spoken is the answer's printable text, whitespace collapsed."""
    if not question:
        return Outcome("What would you like to ask?", False, detail={"question": question})
    try:
        data = await hub.ask(question)
    except RpcError as exc:
        log.info("voice ask failed: %s", exc)
        return Outcome(f"Sorry, I couldn't get an answer: {exc}.", False,
                       detail={"question": question, "error": str(exc)})
    if data is None:
        return Outcome("Sorry, I can't answer questions yet.", False,
                       detail={"question": question})
    answer = " ".join("".join(c if c.isprintable() else " " for c in data["answer"]).split())
    detail = {"question": question, "answer": answer, "source": data.get("source"),
              "conversation_id": data.get("conversation_id")}
    if not answer:
        return Outcome("Sorry, I have no answer to that.", False, detail=detail)
    return Outcome(answer, True, detail=detail)


async def _status(hub: HubLink) -> Outcome:
    entities = await hub.entities()
    devices = {e.get("device_id") for e in entities if e.get("device_id")}
    down = sum(1 for e in entities if not e.get("available", True))
    reply = (f"The hub knows {number_to_words(len(entities))} entities on "
             f"{number_to_words(len(devices))} devices; "
             + ("all are available." if not down else
                f"{number_to_words(down)} {'is' if down == 1 else 'are'} unavailable."))
    return Outcome(reply, True, detail={"entities": len(entities), "devices": len(devices),
                                        "unavailable": down})
