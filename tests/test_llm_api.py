"""The LLM router in a real ``spark hub`` process: ``/api/llm/*`` and ``/api/routing/stats``
over HTTP against the real llama.cpp engines (tests/llm_fixture.py), the hub's health entities
in Home Assistant discovery, and ``spark llm check`` against the engines and a dead URL."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from broker_fixture import ADMIN, RunningBroker, free_port
from e2e.harness import SPARK, Api, Lab, wait_until, write_config
from helpers import Recorder
from llm_fixture import RunningEngine
from ollama_fixture import RunningFront

HELLO = [{"role": "user", "content": "Hello, how are you today?"}]
GEN = {"messages": HELLO, "options": {"temperature": 0, "num_predict": 6}}


def llm_section(edge: RunningEngine, cloud: RunningEngine) -> dict[str, Any]:
    def one(name: str, tier: str, engine: RunningEngine) -> dict[str, Any]:
        return {"name": name, "tier": tier, "type": "openai", "url": engine.url,
                "models": {"default": f"{engine.name}-chat", "embed": f"{engine.name}-embed"}}
    return {"backends": [one("edge", "edge", edge), one("cloud", "cloud", cloud)],
            "cache": {"url": None}, "probe_interval": 1, "power_node": None}


@contextlib.contextmanager
def hub_lab(root: Path, broker: RunningBroker, extra: dict[str, Any]) -> Iterator[Lab]:
    """``spark hub`` (no nodes) on the test broker, ``extra`` merged into its config, with a
    viewer (vic) and an operator (olga)."""
    port = free_port()
    config = write_config(root, broker, port, [])
    data = yaml.safe_load(config.read_text())
    for key, value in extra.items():
        data[key] = {**data.get(key, {}), **value}
    config.write_text(yaml.safe_dump(data))
    lab = Lab(root, config, port)
    try:
        lab.start("hub", "hub")
        with lab.api() as api:
            lab.wait_ready("hub",
                lambda: api.http.get("/health", timeout=2).status_code == 200,
                "the panel answers /health")
            api.login()
            users(api)
        yield lab
    finally:
        lab.stop("hub")


def users(api: Api) -> None:
    for name, role in (("vic", "viewer"), ("olga", "operator")):
        r = api.post("/api/auth/register",
                     json={"username": name, "password": f"{name} password!", "role": role})
        assert r.status_code == 201, r.text


def as_user(lab: Lab, name: str) -> Api:
    api = lab.api()
    api.login(name, f"{name} password!")
    return api


def test_unconfigured_router_answers_503_naming_the_key(broker: RunningBroker,
                                                         tmp_path: Path) -> None:
    # and the policy first: this lab's operators may ask but not generate
    every = {"read": True, "services": ["*"], "entities": ["*"]}
    policy = {"policy": {"roles": {"viewer": {"read": True}, "operator": {**every, "llm": ["ask"]},
                                   "admin": {**every, "llm": ["ask", "generate"]}}}}
    with hub_lab(tmp_path, broker, {"hub": policy}) as lab, lab.api() as admin:
        admin.login()
        for method, path, body in (("post", "/api/llm/generate", GEN),
                                   ("post", "/api/llm/generate/stream", GEN),
                                   ("get", "/api/llm/models", None),
                                   ("post", "/api/llm/embeddings", {"input": ["x"]}),
                                   ("get", "/api/routing/stats", None)):
            r = getattr(admin, method)(path, **({"json": body} if body else {}))
            assert r.status_code == 503, (path, r.text)
            assert "llm.backends" in r.json()["detail"]
        with as_user(lab, "olga") as operator:
            r = operator.post("/api/llm/generate", json=GEN)
            assert r.status_code == 403
            assert "'generate' to 'llm' under hub.policy.roles.operator" in r.json()["detail"]


@pytest.fixture(scope="module")
def lab(broker: RunningBroker, edge_engine: RunningEngine, cloud_engine: RunningEngine,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """``spark hub`` with both engines as its LLM backends."""
    root = tmp_path_factory.mktemp("llm-api")
    with hub_lab(root, broker, {"llm": llm_section(edge_engine, cloud_engine)}) as running:
        yield running


@pytest.fixture(scope="module")
def admin(lab: Lab) -> Iterator[Api]:
    with lab.api() as api:
        api.login()
        wait_until(lambda: all(b["healthy"] for b in
                               api.get("/api/routing/stats").json()["backends"]), 30,
                   "both backends probed healthy")
        yield api


def test_routes_need_a_token_and_generate_needs_an_operator(lab: Lab, admin: Api) -> None:
    with lab.api() as anon:
        for path in ("/api/llm/generate", "/api/llm/generate/stream", "/api/llm/embeddings"):
            r = anon.post(path, json=GEN)
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        for path in ("/api/llm/models", "/api/routing/stats"):
            assert anon.get(path).status_code == 401
    with as_user(lab, "vic") as viewer:
        assert viewer.post("/api/llm/generate", json=GEN).status_code == 403
        assert viewer.post("/api/llm/generate/stream", json=GEN).status_code == 403
        assert viewer.post("/api/llm/embeddings", json={"input": ["x"]}).status_code == 403
        assert viewer.get("/api/llm/models").status_code == 200
        assert viewer.get("/api/routing/stats").status_code == 200
    with as_user(lab, "olga") as operator:
        r = operator.post("/api/llm/generate", json=GEN)
        assert r.status_code == 200, r.text


def test_an_api_key_works_like_its_role(lab: Lab, admin: Api) -> None:
    r = admin.post("/api/auth/keys", json={"name": "llm-script", "role": "operator"})
    assert r.status_code == 201, r.text
    key = r.json()["key"]
    with lab.api() as script:
        r = script.http.post("/api/llm/generate", json=GEN, headers={"X-API-Key": key})
        assert r.status_code == 200, r.text
        assert r.json()["source"]["tier"] in ("edge", "cloud")


def test_generate_answers_with_its_source(admin: Api) -> None:
    r = admin.post("/api/llm/generate", json={**GEN, "cache": False})
    assert r.status_code == 200, r.text
    body = r.json()
    source = body["source"]
    assert body["kind"] == "result" and isinstance(body["text"], str)
    assert source["backend"] == "edge" and source["tier"] == "edge"
    assert source["model"] and source["cached"] is False and source["route"] == ["edge"]
    assert source["output_tokens"] >= 1 and source["total_ms"] > 0


def test_bodies_are_bounded(admin: Api) -> None:
    too_many = {"messages": HELLO * 65}
    too_long = {"messages": [{"role": "user", "content": "x" * 32_001}]}
    too_many_tokens = {**GEN, "options": {"num_predict": 100_000}}
    both = {**GEN, "prompt": "hi"}
    extra = {**GEN, "temperature": 0}
    for body in (too_many, too_long, too_many_tokens, both, extra):
        assert admin.post("/api/llm/generate", json=body).status_code == 422, body
    assert admin.post("/api/llm/embeddings", json={"input": []}).status_code == 422
    assert admin.post("/api/llm/embeddings",
                      json={"input": ["x"] * 65}).status_code == 422


def test_stream_is_ndjson_chunks_then_the_source(admin: Api) -> None:
    with admin.http.stream("POST", "/api/llm/generate/stream", headers=admin.headers,
                           json={**GEN, "cache": False}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/x-ndjson")
        lines = [orjson.loads(line) for line in r.iter_lines() if line]
    *chunks, last = lines
    assert chunks and all(c["kind"] == "chunk" for c in chunks)
    assert [c["index"] for c in chunks] == list(range(len(chunks)))
    assert last["kind"] == "result" and last["text"] == "".join(c["text"] for c in chunks)
    assert last["source"]["tier"] == "edge" and last["source"]["ttft_ms"] is not None


def test_prefer_cloud_and_the_stats_after_requests(admin: Api) -> None:
    before = {b["name"]: b for b in admin.get("/api/routing/stats").json()["backends"]}
    r = admin.post("/api/llm/generate", json={**GEN, "prefer": "cloud", "cache": False})
    assert r.json()["source"]["backend"] == "cloud"
    cached = {**GEN, "messages": [{"role": "user", "content": "cache me"}]}
    first = admin.post("/api/llm/generate", json=cached).json()["source"]
    again = admin.post("/api/llm/generate", json=cached).json()["source"]
    assert first["cached"] is False and again["cached"] is True
    stats = admin.get("/api/routing/stats").json()
    after = {b["name"]: b for b in stats["backends"]}
    assert after["cloud"]["served"] == before["cloud"]["served"] + 1
    assert after["edge"]["served"] == before["edge"]["served"] + 1
    for b in after.values():
        assert b["breaker"] == "closed" and b["failures"] == 0 and b["healthy"] is True
        assert b["latency_p50_ms"] <= b["latency_p95_ms"]
        assert b["ttft_p50_ms"] is not None and b["output_tokens"] > 0
    assert stats["cache_hits"] >= 1 and 0 < stats["cache_hit_rate"] <= 1
    assert stats["cache_backend"] == "memory" and stats["route"] == ["edge", "cloud"]


def test_models_per_backend_with_health(admin: Api) -> None:
    models = {m["backend"]: m for m in admin.get("/api/llm/models").json()}
    assert set(models) == {"edge", "cloud"}
    for name, m in models.items():
        assert m["healthy"] is True and m["breaker"] == "closed" and m["error"] is None
        assert f"{name}-chat" in m["models"] and m["tier"] == name and m["type"] == "openai"


def test_embeddings(admin: Api) -> None:
    r = admin.post("/api/llm/embeddings", json={"input": ["hello", "world"]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["backend"] == "edge" and body["model"] == "edge-embed"
    assert len(body["embeddings"]) == 2 and len(body["embeddings"][0]) > 0


def test_health_entities_in_ha_discovery(lab: Lab, admin: Api, broker: RunningBroker) -> None:
    admin.post("/api/llm/generate", json={**GEN, "prefer": "cloud", "cache": False})
    with Recorder(broker.host, broker.port, **broker.login(ADMIN)) as mqtt:
        mqtt.connect()
        mqtt.subscribe("homeassistant/+/hub/+/config", "spark/hub/+/state")
        conn = orjson.loads(mqtt.wait_topic(
            "homeassistant/binary_sensor/hub/llm_edge_connected/config").payload)
        assert conn["device_class"] == "connectivity"
        assert conn["state_topic"] == "spark/hub/llm_edge_connected/state"
        latency = orjson.loads(mqtt.wait_topic(
            "homeassistant/sensor/hub/llm_cloud_latency/config").payload)
        assert latency["unit_of_measurement"] == "ms"
        tier = orjson.loads(mqtt.wait_topic("homeassistant/sensor/hub/llm_tier/config").payload)
        assert tier["options"] == ["edge", "cloud", "api"]
        # "None" (HA's unknown) until the first probe of the edge answers; then ON
        mqtt.wait(lambda: any(m.payload == b"ON" for m in
                              mqtt.received("spark/hub/llm_edge_connected/state")), 15,
                  "the edge connectivity sensor says ON")
        assert all(m.payload in (b"ON", b"None") for m in
                   mqtt.received("spark/hub/llm_edge_connected/state"))
        mqtt.wait(lambda: any(m.payload == b"cloud" for m in
                              mqtt.received("spark/hub/llm_tier/state")), 15,
                  "the tier sensor says cloud")


def run_check(tmp_path: Path, llm: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "spark.yaml"
    config.write_text(yaml.safe_dump({"llm": llm}))
    return subprocess.run([*SPARK, "llm", "check", "-c", str(config), "--timeout", "60"],
                          capture_output=True, text=True, timeout=180)


def test_llm_check_against_the_engines_and_a_dead_url(
        tmp_path: Path, edge_engine: RunningEngine, cloud_engine: RunningEngine,
        ollama_edge: RunningFront) -> None:
    llm = llm_section(edge_engine, cloud_engine)
    llm["backends"].append({"name": "ollama", "tier": "edge", "type": "ollama",
                            "url": ollama_edge.url, "models": {"default": "tiny:edge"}})
    good = run_check(tmp_path, llm)
    assert good.returncode == 0, good.stdout + good.stderr
    assert good.stdout.count("generate OK") == 3 and "3 of 3 LLM backends work" in good.stdout
    llm["backends"].append({"name": "dead", "tier": "api", "type": "openai",
                            "url": f"http://127.0.0.1:{free_port()}", "connect_timeout": 1})
    bad = run_check(tmp_path, llm)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "dead (openai, api" in bad.stdout and "FAILED" in bad.stdout
    assert "3 of 4 LLM backends work" in bad.stdout
