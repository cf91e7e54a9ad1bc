"""``POST /api/llm/ask`` in a real ``spark hub`` process with a real simulated node: the
conversation agent acting for the signed-in user (their role's ``hub.policy`` grant), the LLM
being tests/scripted_llm.py (an OpenAI-compatible stand-in playing back a script)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from broker_fixture import RunningBroker, free_port
from e2e.harness import Api, Lab, wait_until, write_config
from scripted_llm import MODEL, RunningScript, call, running_script, say

LAMP = "switch.sim1_lamp"


@pytest.fixture(scope="module")
def script() -> Iterator[RunningScript]:
    with running_script() as running:
        yield running


@pytest.fixture(scope="module")
def lab(broker: RunningBroker, script: RunningScript,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    root = tmp_path_factory.mktemp("ask-api")
    port = free_port()
    config = write_config(root, broker, port, [
        {"id": "sim1", "kind": "simulated", "state_interval": 3600, "area": "Lab"}])
    data = yaml.safe_load(config.read_text())
    every = {"read": True, "services": ["*"], "entities": ["*"]}
    data["hub"]["policy"] = {"roles": {"viewer": {"read": True, "llm": ["ask"]},  # no services
                                       "operator": {**every, "llm": ["ask"]},
                                       "admin": {**every, "llm": ["generate"]}}}  # no ask
    data["hub"]["ask"] = {"expose": {"entities": ["switch.*"]}}
    data["llm"] = {"backends": [{"name": "edge", "tier": "edge", "type": "openai",
                                 "url": script.url, "models": {"default": MODEL}}],
                   "cache": {"url": None}, "probe_interval": 60, "power_node": None}
    config.write_text(yaml.safe_dump(data))
    running = Lab(root, config, port)
    try:
        running.start("hub", "hub")
        with running.api() as probe:
            running.wait_ready("hub",
                lambda: probe.http.get("/health", timeout=2).status_code == 200,
                "the panel answers /health")
        running.start("sim1", "node", "simulated", "--id", "sim1")
        with running.api() as admin:
            admin.login()
            running.wait_ready("sim1", lambda: (admin.entity(LAMP) or {}).get("state") == "off",
                       "the lamp is known and off")
            for name, role in (("vic", "viewer"), ("olga", "operator")):
                r = admin.post("/api/auth/register", json={
                    "username": name, "password": f"{name} password!", "role": role})
                assert r.status_code == 201, r.text
        yield running
    finally:
        for name in list(running.procs)[::-1]:
            running.stop(name)


def as_user(lab: Lab, name: str) -> Api:
    api = lab.api()
    api.login(name, f"{name} password!")
    return api


def ask(api: Api, question: str, conversation: str | None = None) -> Any:
    body: dict[str, Any] = {"question": question}
    if conversation:
        body["conversation_id"] = conversation
    return api.post("/api/llm/ask", json=body)


def test_an_operator_asks_and_the_agent_acts(lab: Lab, script: RunningScript) -> None:
    with as_user(lab, "olga") as olga:
        script.script.load(call(("turn_on", {"entity_id": LAMP})), say("The lamp is on."))
        r = ask(olga, "turn on the lamp")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["answer"] == "The lamp is on."
        assert body["actions"][0] | {"state": None} == {
            "tool": "turn_on", "entity_id": LAMP, "data": {}, "ok": True, "state": None}
        assert body["source"]["backend"] == "edge" and body["pending"] == []
        wait_until(lambda: (olga.entity(LAMP) or {}).get("state") == "on", 10, "lamp on")
        # the conversation goes on, with the tool turn in its history
        script.script.load(say("Still on."))
        again = ask(olga, "is it on?", body["conversation_id"]).json()
        assert again["conversation_id"] == body["conversation_id"]
        roles = [m["role"] for m in script.script.requests[0]["messages"]]
        assert roles == ["system", "user", "assistant", "tool", "assistant", "user"]


def test_a_viewer_may_ask_but_its_actions_are_refused(lab: Lab, script: RunningScript) -> None:
    with as_user(lab, "vic") as vic:
        before = (vic.entity(LAMP) or {}).get("state")
        script.script.load(call(("toggle", {"entity_id": LAMP})), say("I may not."))
        r = ask(vic, "toggle the lamp")
        assert r.status_code == 200, r.text
        action = r.json()["actions"][0]
        assert action["ok"] is False
        assert "user 'vic' (viewer) may not call toggle" in action["error"]
        assert (vic.entity(LAMP) or {}).get("state") == before


def test_a_role_whose_grant_lacks_ask_gets_403(lab: Lab) -> None:
    with lab.api() as admin:
        admin.login()
        r = ask(admin, "hello")
        assert r.status_code == 403
        assert "add 'ask' to 'llm' under hub.policy.roles.admin" in r.json()["detail"]


def test_bad_bodies_and_no_token(lab: Lab) -> None:
    with lab.api() as anon:
        assert ask(anon, "hi").status_code == 401
    with as_user(lab, "olga") as olga:
        assert ask(olga, "").status_code == 422
        assert olga.post("/api/llm/ask", json={"question": "hi", "x": 1}).status_code == 422
        assert ask(olga, "x" * 40_000).status_code == 422
