"""The panel's Assistant and LLM routing pages in a real headless Chromium against a real
``spark hub`` whose router has three backends: ``edge`` and ``cloud`` (private llama.cpp
engines this module stops at the end) and ``api`` (tests/openai_standin.py, an
OpenAI-compatible stand-in scripted to answer hostile text, stream slowly, or break).

One lab and one browser for the module; the tests run in file order (the last two stop the
edge, then everything).
Every wait has a deadline. Screenshots: test-artifacts/pages/assistant.png, routing.png.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from broker_fixture import RunningBroker, free_port
from e2e.harness import (
    ADMIN_PASSWORD,
    Api,
    Lab,
    chromium,
    chromium_available,
    wait_until,
    write_config,
)
from llm_fixture import RunningEngine, start_engine, stop_engine
from openai_standin import HOSTILE_ANSWER, HOSTILE_ERROR, HOSTILE_MODEL, StandIn

from spark.hub.ask import SYSTEM_PROMPT, AskConfig

pytestmark = pytest.mark.slow
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "pages"
QUESTION = "Hello, how are you today?"
VIEWER = ("vic", "vic password!")


def _css(driver: Any, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(driver.find_elements(By.CSS_SELECTOR, selector))


@pytest.fixture(scope="module")
def edge(llm_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEngine]:
    engine = start_engine(llm_model, "edge", tmp_path_factory.mktemp("assistant-edge"))
    try:
        yield engine
    finally:
        stop_engine(engine)


@pytest.fixture(scope="module")
def cloud(llm_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEngine]:
    engine = start_engine(llm_model, "cloud", tmp_path_factory.mktemp("assistant-cloud"))
    try:
        yield engine
    finally:
        stop_engine(engine)


@pytest.fixture(scope="module")
def standin() -> Iterator[StandIn]:
    with StandIn() as running:
        yield running


@pytest.fixture(scope="module")
def lab(broker: RunningBroker, edge: RunningEngine, cloud: RunningEngine,
        standin: StandIn, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    root = tmp_path_factory.mktemp("assistant")
    port = free_port()
    config = write_config(root, broker, port, [])
    data = yaml.safe_load(config.read_text())

    def engine(name: str, tier: str, url: str, model: str) -> dict[str, Any]:
        return {"name": name, "tier": tier, "type": "openai", "url": url,
                "models": {"default": model}}
    data["llm"] = {"backends": [engine("edge", "edge", edge.url, edge.chat_model),
                                engine("cloud", "cloud", cloud.url, cloud.chat_model),
                                engine("api", "api", standin.url, "anything")],
                   "cache": {"url": None}, "probe_interval": 1, "power_node": "power",
                   "vpn_entity": "system/wireguard",
                   # a one-thread engine busy answering may keep a probe waiting: not a fault
                   "probe_timeout": 10}
    config.write_text(yaml.safe_dump(data))
    running = Lab(root, config, port)
    try:
        running.start("hub", "hub")
        with running.api() as api:
            running.wait_ready("hub",
                lambda: api.http.get("/health", timeout=2).status_code == 200,
                "the panel answers /health")
            api.login()
            r = api.post("/api/auth/register", json={"username": VIEWER[0],
                                                     "password": VIEWER[1], "role": "viewer"})
            assert r.status_code == 201, r.text
            wait_until(lambda: all(b["healthy"] for b in
                                   api.get("/api/routing/stats").json()["backends"]), 30,
                       "every backend probed healthy")
        yield running
    finally:
        running.stop("hub")


@pytest.fixture(scope="module")
def admin(lab: Lab) -> Iterator[Api]:
    with lab.api() as api:
        api.login()
        yield api


@pytest.fixture(scope="module")
def driver(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    missing = chromium_available()
    if missing:
        pytest.fail(missing, pytrace=False)
    with chromium(tmp_path_factory.mktemp("assistant-profile")) as browser:
        sign_in(browser, lab.url, "admin", ADMIN_PASSWORD)
        yield browser


def sign_in(driver: Any, url: str, user: str, password: str) -> None:
    driver.get(url + "/logout")
    wait_until(lambda: _css(driver, 'input[data-testid="username"]'), 15, "the login form")
    _css(driver, 'input[data-testid="username"]')[0].send_keys(user)
    _css(driver, 'input[data-testid="password"]')[0].send_keys(password)
    _css(driver, '[data-testid="sign-in"]')[0].click()
    wait_until(lambda: _css(driver, '[data-page="Dashboard"]'), 15, f"{user}'s dashboard")


def open_assistant(driver: Any, url: str) -> None:
    driver.get(url + "/assistant")
    wait_until(lambda: _css(driver, '[data-testid="chat"]'), 15, "the assistant page")


def choose_tier(driver: Any, label: str) -> None:
    _css(driver, '[data-testid="tier"]')[0].click()
    item = wait_until(lambda: [e for e in _css(driver, ".q-menu .q-item")
                               if e.text.strip() == label], 10, f"the {label!r} option")
    item[0].click()
    wait_until(lambda: not _css(driver, ".q-menu"), 10, "the menu closed")


def set_repeatable(driver: Any, on: bool) -> None:
    toggle = _css(driver, '[data-testid="repeatable"]')[0]
    if (toggle.get_attribute("aria-checked") == "true") != on:
        toggle.click()
        wait_until(lambda: (_css(driver, '[data-testid="repeatable"]')[0]
                            .get_attribute("aria-checked") == "true") == on, 5,
                   "the repeatable switch")


def ask(driver: Any, question: str, enter: bool = False) -> int:
    """Type and send ``question`` (the send button, or the Enter key); the number of answers
    on the page before it."""
    from selenium.webdriver.common.keys import Keys

    before = len(_css(driver, '[data-testid="answer"]'))
    box = _css(driver, 'textarea[data-testid="question-input"]')[0]
    box.send_keys(question)
    if enter:
        box.send_keys(Keys.ENTER)
    else:
        _css(driver, '[data-testid="send"]')[0].click()
    wait_until(lambda: len(_css(driver, '[data-testid="answer"]')) == before + 1, 10,
               "the answer's bubble")
    return before


def last_answer(driver: Any) -> Any:
    return _css(driver, '[data-testid="answer"]')[-1]


def finished(driver: Any, state: str = "done", timeout: float = 60) -> Any:
    wait_until(lambda: last_answer(driver).get_attribute("data-state") in
               (state, "error" if state == "done" else state), timeout,
               f"the answer is {state}")
    answer = last_answer(driver)
    assert answer.get_attribute("data-state") == state, answer.text
    return answer


def part(answer: Any, testid: str) -> Any:
    from selenium.webdriver.common.by import By

    return answer.find_element(By.CSS_SELECTOR, f'[data-testid="{testid}"]')


def not_run(driver: Any) -> None:
    """Nothing of a hostile text ran or became markup in the chat."""
    assert driver.execute_script("return window.__pwned === undefined")
    assert not _css(driver, '[data-testid="chat"] img, [data-testid="chat"] script, '
                            '[data-testid="chat"] b, [data-testid="chat"] i')


def test_a_question_streams_from_the_edge_with_its_source(driver: Any, lab: Lab,
                                                           admin: Api) -> None:
    open_assistant(driver, lab.url)
    set_repeatable(driver, True)
    ask(driver, QUESTION)
    answer = finished(driver)
    source = part(answer, "source")
    assert source.get_attribute("data-tier") == "edge"
    assert source.get_attribute("data-cached") == "False"
    line = source.text
    for piece in ("edge (edge tier)", "edge-chat", "not cached", "first token ", "total ",
                  " in / "):
        assert piece in line, line
    # the page asked through the hub's agent: the same request over REST is now a cache hit
    # with the same text
    config = AskConfig()
    r = admin.post("/api/llm/generate", json={
        "messages": [{"role": "system", "content": SYSTEM_PROMPT},
                     {"role": "user", "content": QUESTION}],
        "options": {"temperature": 0, "num_predict": config.max_tokens}})
    assert r.status_code == 200, r.text
    assert r.json()["source"]["cached"] is True
    assert part(answer, "text").get_attribute("textContent") == r.json()["text"].strip()


def test_the_same_question_again_is_cached_and_the_session_keeps_the_chat(driver: Any,
                                                                          lab: Lab) -> None:
    conversation = _css(driver, '[data-testid="conversation"]')[0].text
    _css(driver, '[data-testid="new-conversation"]')[0].click()
    wait_until(lambda: not _css(driver, '[data-testid="answer"]'), 10, "an empty chat")
    assert _css(driver, '[data-testid="conversation"]')[0].text != conversation
    ask(driver, QUESTION, enter=True)
    source = part(finished(driver), "source")
    assert source.get_attribute("data-cached") == "True"
    assert "cached" in source.text and "not cached" not in source.text
    shown = last_answer(driver).text
    conversation = _css(driver, '[data-testid="conversation"]')[0].text
    open_assistant(driver, lab.url)  # a reload: the browser session keeps the conversation
    wait_until(lambda: _css(driver, '[data-testid="answer"]'), 10, "the kept answer")
    assert _css(driver, '[data-testid="conversation"]')[0].text == conversation
    assert last_answer(driver).text == shown
    assert len(_css(driver, '[data-testid="question"]')) == 1


def test_a_hostile_answer_and_model_name_are_text(driver: Any, lab: Lab) -> None:
    open_assistant(driver, lab.url)
    choose_tier(driver, "Prefer api")
    ask(driver, "say something")
    answer = finished(driver)
    assert part(answer, "text").get_attribute("textContent") == HOSTILE_ANSWER.strip()
    source = part(answer, "source")
    assert source.get_attribute("data-tier") == "api"
    assert HOSTILE_MODEL in source.text
    not_run(driver)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / "assistant.png"))
    size = driver.get_window_size()
    driver.set_window_size(390, 844)
    wait_until(lambda: driver.execute_script("return window.innerWidth") <= 390, 5,
               "the phone-sized window")
    open_assistant(driver, lab.url)
    wait_until(lambda: _css(driver, '[data-testid="answer"]'), 10, "the kept answers")
    driver.save_screenshot(str(ARTIFACTS / "assistant_390.png"))
    driver.set_window_size(size["width"], size["height"])


def test_stop_cancels_a_running_stream(driver: Any, lab: Lab, standin: StandIn) -> None:
    open_assistant(driver, lab.url)
    choose_tier(driver, "Prefer api")
    ask(driver, "be slow")
    seen: set[int] = set()

    def grew() -> bool:  # the text is seen at several lengths while it streams
        text = part(last_answer(driver), "text").get_attribute("textContent")
        seen.add(text.count("tick"))
        return len({n for n in seen if n > 0}) >= 3
    wait_until(grew, 30, "the answer streaming, piece by piece", interval=0.02)
    assert last_answer(driver).get_attribute("data-state") == "streaming"
    assert _css(driver, '[data-testid="stop"]')[0].is_displayed()
    _css(driver, '[data-testid="stop"]')[0].click()
    answer = finished(driver, "stopped", 15)
    assert "Stopped." in answer.text and "tick" in answer.text
    assert standin.disconnected.wait(15), "the backend's connection was not closed"
    assert _css(driver, '[data-testid="send"]')[0].is_enabled()


def test_an_error_mid_stream_is_shown_as_text(driver: Any, lab: Lab) -> None:
    open_assistant(driver, lab.url)
    choose_tier(driver, "Prefer api")
    ask(driver, "break please")
    answer = finished(driver, "error")
    error = part(answer, "error").text
    assert "api failed mid-stream" in error and HOSTILE_ERROR in error, error
    assert part(answer, "text").get_attribute("textContent") == "half an answer "
    not_run(driver)


def test_the_routing_page_follows_requests(driver: Any, lab: Lab, admin: Api) -> None:
    driver.get(lab.url + "/routing")

    def stat(key: str) -> str:
        found = _css(driver, f'[data-stat="{key}"]')
        return str(found[0].text) if found else ""
    wait_until(lambda: stat("edge:served"), 15, "the routing page")
    assert stat("route") == "edge → cloud → api"
    assert stat("strategy") == "edge-first (from power node power)"
    assert stat("vpn") == "unknown (treated as up) (from system/wireguard)"
    wait_until(lambda: stat("edge:health").startswith("connected, probe "), 15,
               "the edge connected (a probe under load may time out once)")
    assert stat("edge:breaker") == "closed"
    assert stat("cache").startswith("memory: ") and "hit rate" in stat("cache")
    served, tokens = stat("edge:served"), stat("edge:tokens")
    r = admin.post("/api/llm/generate", json={"prompt": "The hub answers", "cache": False,
                                              "options": {"num_predict": 4}})
    assert r.status_code == 200 and r.json()["source"]["backend"] == "edge", r.text
    wait_until(lambda: stat("edge:served") == str(int(served) + 1), 10,
               f"served goes up from {served} without a reload")
    assert stat("edge:tokens") != tokens
    assert stat("edge:latency") != "– / –" and stat("edge:ttft") != "– / –"
    assert int(stat("api:served")) >= 1 and int(stat("api:failures")) >= 1
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / "routing.png"))


def test_the_routing_page_follows_the_power_strategy_and_the_vpn(driver: Any, lab: Lab,
                                                                broker: RunningBroker) -> None:
    from helpers import Recorder

    def stat(key: str) -> str:
        found = _css(driver, f'[data-stat="{key}"]')
        return str(found[0].text) if found else ""
    driver.get(lab.url + "/routing")
    wait_until(lambda: stat("route") == "edge → cloud → api", 15, "the routing page")
    with Recorder(broker.host, broker.port, "admin", broker.passwords["admin"]) as mqtt:
        mqtt.connect()
        try:
            mqtt.publish("spark/power/power", '{"strategy": "cloud-first"}', retain=True)
            wait_until(lambda: stat("route") == "cloud → api → edge", 10,
                       f"the cloud-first order (shown: {stat('route')!r})")
            assert stat("strategy") == "cloud-first (from power node power)"
            mqtt.publish("spark/system/wireguard/state", "OFF", retain=True)
            wait_until(lambda: stat("route") == "edge (VPN down: edge only)", 10,
                       f"the VPN down: edge only (shown: {stat('route')!r})")
            assert stat("vpn") == "down (from system/wireguard)"
        finally:
            mqtt.publish("spark/power/power", '{"strategy": "edge-first"}', retain=True)
            mqtt.publish("spark/system/wireguard/state", "ON", retain=True)
    wait_until(lambda: stat("route") == "edge → cloud → api"
               and stat("vpn") == "up (from system/wireguard)", 10, "back to edge-first")


def test_a_viewer_without_the_ask_right_sees_why(driver: Any, lab: Lab) -> None:
    sign_in(driver, lab.url, *VIEWER)
    driver.get(lab.url + "/assistant")
    refused = wait_until(lambda: _css(driver, '[data-testid="refused"]'), 15, "the refusal")
    text = refused[0].text
    assert "'ask' to 'llm' under hub.policy.roles.viewer" in text, text
    assert not _css(driver, 'textarea[data-testid="question-input"]')
    driver.get(lab.url + "/routing")  # viewers read the stats
    wait_until(lambda: _css(driver, '[data-stat="edge:served"]'), 15, "the routing page")
    sign_in(driver, lab.url, "admin", ADMIN_PASSWORD)


def test_with_the_edge_down_the_cloud_answers(driver: Any, lab: Lab, edge: RunningEngine
                                              ) -> None:
    stop_engine(edge)
    open_assistant(driver, lab.url)
    choose_tier(driver, "Route: automatic")
    set_repeatable(driver, False)
    ask(driver, "What is the battery level?")
    source = part(finished(driver), "source")
    assert source.get_attribute("data-tier") == "cloud", source.text
    assert "cloud (cloud tier)" in source.text
    driver.get(lab.url + "/routing")
    wait_until(lambda: _css(driver, '[data-stat="edge:breaker"]'), 15, "the routing page")
    wait_until(lambda: _css(driver, '[data-stat="edge:breaker"]')[0].text.startswith("open")
               and _css(driver, '[data-stat="route"]')[0].text.startswith("cloud"), 15,
               "the edge's breaker open and the route starting at the cloud")


def test_with_every_tier_down_the_page_says_so(driver: Any, lab: Lab, cloud: RunningEngine,
                                               standin: StandIn) -> None:
    stop_engine(cloud)
    standin.close()  # its port refuses from now on
    open_assistant(driver, lab.url)
    ask(driver, "Is anybody there?")
    answer = finished(driver, "error")
    error = part(answer, "error").text
    assert error.startswith("no LLM backend"), error
    for name in ("edge", "cloud", "api"):
        assert f"{name}: " in error, error
    assert part(answer, "text").get_attribute("textContent") == ""
    assert _css(driver, '[data-testid="send"]')[0].is_enabled()


def test_the_acting_agent_shows_what_it_did(broker: RunningBroker, driver: Any,
                                            tmp_path: Path) -> None:
    """Another hub with a simulated node whose lamp is exposed; the scripted stand-in calls
    turn_on, then answers: the page shows the action under the answer, and the lamp is on."""
    from scripted_llm import call, running_script, say

    lamp = "switch.sim1_lamp"
    port = free_port()
    nodes = [{"id": "sim1", "kind": "simulated", "state_interval": 3600}]
    with running_script() as scripted:
        config = write_config(tmp_path, broker, port, nodes)
        data = yaml.safe_load(config.read_text())
        data["llm"] = {"backends": [{"name": "scripted", "tier": "edge", "type": "openai",
                                     "url": scripted.url}],
                       "cache": {"url": None}, "power_node": None}
        data["hub"].update(id="hub2",  # the module's hub still serves "hub" on this broker
                           ask={"expose": {"entities": [lamp]}})
        config.write_text(yaml.safe_dump(data))
        acting = Lab(tmp_path, config, port)
        try:
            acting.start("hub", "hub")
            with acting.api() as api:
                acting.wait_ready("hub",
                    lambda: api.http.get("/health", timeout=2).status_code == 200,
                    "the second panel answers /health")
                acting.start("sim1", "node", "simulated", "--id", "sim1")
                api.login()
                acting.wait_ready("sim1", lambda: (api.entity(lamp) or {}).get("state") == "off",
                           "sim1's lamp, off")
                scripted.script.load(call(("turn_on", {"entity_id": lamp})),
                                     say("The lamp is on."))
                sign_in(driver, acting.url, "admin", ADMIN_PASSWORD)
                open_assistant(driver, acting.url)
                ask(driver, "Turn on the lamp")
                answer = finished(driver)
                assert part(answer, "text").get_attribute("textContent") == "The lamp is on."
                tools = [e.text for e in answer.find_elements("css selector",
                                                              '[data-testid="tool"]')]
                assert tools == [f"tool: turn_on {lamp}: ok, state on"], tools
                assert "scripted (edge tier)" in part(answer, "source").text
                wait_until(lambda: (api.entity(lamp) or {}).get("state") == "on", 10,
                           "the lamp on")
        finally:
            for name in list(acting.procs)[::-1]:
                acting.stop(name)
