"""Issue 15, finding 3: one discovery template must not freeze the hub.

The attacker is a third-party publisher (the ``zigbee2mqtt`` account) that announces a
Zigbee2MQTT-like device whose ``value_template`` is hostile (catastrophic regular expressions,
nested loops, huge strings, recursive macros) beside an honest sensor on the same state topic.
Promised: no render blocks the event loop for long (20 ms per render, checked at every step;
regular expressions under a timeout), the hostile entity is disabled with a visible error
(unavailable, ``template_error`` in its attributes, the hub's "Entities disabled" sensor), the
honest one keeps updating, ``/health`` answers throughout, and a retained hostile state does not
freeze a restart.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from broker_fixture import RunningBroker, free_port
from e2e.harness import Api, Lab, running_lab, wait_until
from helpers import Recorder, wait_for
from lab import running_hub

from spark.core.errors import TemplateError
from spark.hub.templates import TemplateBudgetError, TemplateBusyError, TemplateEngine

DEVICE = "0x00158d00deadbeef"
STATE_TOPIC = "zigbee2mqtt/evil_plug"
ACTION = "a" * 1024  # today's main: 2-5 s for one regex_search('a*?a*?b') on it

# name -> a value_template that runs out of its budget (time or work) on the state below
HOSTILE = {
    "regex_backtracking": "{% for i in range(10) %}"
                          "{{ value_json.action | regex_search('a*?a*?(?:b|c)') }}{% endfor %}",
    "regex_nested": "{{ value_json.action | regex_findall('(a|aa)+(a|aa)+c') }}",
    "nested_loops": "{% for i in range(10000) %}{% for j in range(10000) %}{{ i }}{% endfor %}"
                    "{% endfor %}",
    "string_multiply": "{{ (value_json.action * 1000000) | length }}",
    "deep_recursion": "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
    "exponential_macro": "{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}"
                         "{% endmacro %}{{ f(40) }}",
}
NEUTRALISED = {  # the example: the regex package sees no 'b' and answers at once
    "regex_issue_example": "{% for i in range(20) %}"
                           "{{ value_json.action | regex_search('a*?a*?b') }}{% endfor %}",
}
REFUSED = {  # refused at once (a plain error, nothing to disable)
    "huge_range": "{{ range(10 ** 9) | list | length }}",
    "too_many_tokens": "{{ [" + ",".join(["value_json.a"] * 200) + "] }}",
    "regex_compile_cost": "{{ value_json.action | regex_match('(((((a{9}){9}){9}){9}){9})') }}",
}


def state(temperature: float) -> bytes:
    return orjson.dumps({"temperature": temperature, "action": ACTION, "linkquality": 120})


def sensor_config(name: str, template: str) -> dict[str, Any]:
    return {
        "name": name.replace("_", " ").title(), "state_topic": STATE_TOPIC,
        "value_template": template, "unique_id": f"{DEVICE}_{name}_zigbee2mqtt",
        "object_id": f"evil_{name}", "default_entity_id": f"sensor.evil_{name}",
        "device": {"identifiers": [f"zigbee2mqtt_{DEVICE}"], "name": "evil_plug",
                   "manufacturer": "Xiaomi", "model": "Smart plug (ZNCZ02LM)"},
        "origin": {"name": "Zigbee2MQTT", "sw": "1.40.2"},
    }


def configs(hostile: dict[str, str]) -> list[tuple[str, bytes]]:
    honest = sensor_config("temperature", "{{ value_json.temperature }}")
    honest["unit_of_measurement"] = "°C"
    out = [(f"homeassistant/sensor/{DEVICE}/temperature/config", orjson.dumps(honest))]
    for name, template in hostile.items():
        out.append((f"homeassistant/sensor/{DEVICE}/{name}/config",
                    orjson.dumps(sensor_config(name, template))))
    return out


@pytest.fixture
def z2m(fresh_broker: RunningBroker) -> Iterator[Recorder]:
    with Recorder(fresh_broker.host, fresh_broker.port, "zigbee2mqtt",
                  fresh_broker.passwords["zigbee2mqtt"]) as client:
        client.connect()
        yield client


# ---- the template engine itself ----------------------------------------------------------------
@pytest.mark.parametrize("name", [*HOSTILE, *REFUSED, *NEUTRALISED])
def test_a_hostile_template_is_cut_short(name: str) -> None:
    engine = TemplateEngine()
    source = {**HOSTILE, **REFUSED, **NEUTRALISED}[name]
    start = time.perf_counter()
    try:
        engine.compile(source).render(state(21.5))
        error: TemplateError | None = None
    except TemplateError as exc:
        error = exc
    took = time.perf_counter() - start
    # 20 ms budget; the bound is loose for a loaded CI machine (today's main: 5 s and more)
    assert took < 1.0, f"{name}: {took * 1000:.0f} ms"
    if name in NEUTRALISED:
        assert error is None
    else:
        assert error is not None
        if name in HOSTILE:
            # Out of its budget; or, when the machine preempted the render (wall time gone, CPU
            # time not), cut short all the same and not held against it (TemplateBusyError).
            assert isinstance(error, TemplateBudgetError | TemplateBusyError), error
        else:
            assert not isinstance(error, TemplateBudgetError | TemplateBusyError), error


# The audit's bombs (none of them in the issue): other backtracking shapes, through every
# regex filter and test, recursion, fuzzy matching, 500 groups, a bomb per character. Each is
# cut short or answers within its budget of CPU (20 ms; today's main: 8 s and more).
REVIEW = {
    "alternation_star": "{{ value_json.action | regex_findall('(a|aa)*c') }}",
    "nested_plus": "{{ value_json.action | replace('a', 'x') | regex_search('(x+x+)+y') }}",
    "replace_nested": "{{ value_json.action | regex_replace('(a|aa)+(a|aa)+c', 'z') }}",
    "findall_nested": "{{ value_json.action | regex_findall('((a+)+)+$x') }}",
    "findall_index": "{{ value_json.action | regex_findall_index('(a*)*b') }}",
    "is_search": "{{ value_json.action is search('(a+)+b') }}",
    "is_match": "{{ value_json.action is match('(a|a)*b') }}",
    "select_search": "{{ [value_json.action, value_json.action] | select('search', '(a|aa)+b')"
                     " | list }}",
    "lookahead": "{{ value_json.action | regex_search('(?=(a+)+b)') }}",
    "recursion": "{{ value_json.action | regex_search('(?R)?a') }}",
    "fuzzy": "{{ value_json.action | regex_search('(?:a+){e<=5}b') }}",
    "ignorecase": "{{ value_json.action | regex_search('(A|a)*?(A|a)*?b', ignorecase=True) }}",
    "many_groups": "{{ value_json.action | regex_findall('" + "()" * 500 + "') | length }}",
    "bomb_per_character": "{% for c in value_json.action %}"
                          "{{ (value_json.action ~ c) | regex_search('(a|aa)*c') }}{% endfor %}",
}


@pytest.mark.parametrize("name", sorted(REVIEW))
def test_other_regex_bombs_stay_within_the_render_budget(name: str) -> None:
    engine = TemplateEngine()
    engine.compile("{{ 'a' | regex_search('a') }}").render(state(1))  # the regex module loaded
    template = engine.compile(REVIEW[name])
    cpu, wall = time.thread_time(), time.perf_counter()
    try:
        template.render(state(21.5))
    except TemplateError:
        pass
    cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
    # CPU time: the render's own cost whatever the machine's load (20 ms budget, 50 ms promise)
    assert cpu < 0.075, f"{name}: {cpu * 1000:.0f} ms of CPU"
    assert wall < 1.0, f"{name}: {wall * 1000:.0f} ms"


# ---- the hub's event loop, in-process: how long one pass is blocked ------------------------------
class LoopLag:
    """The worst delay of a 2 ms sleep on the event loop (how long one pass was blocked)."""

    def __init__(self) -> None:
        self.worst = 0.0

    async def run(self) -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(0.002)
            self.worst = max(self.worst, time.perf_counter() - start - 0.002)


async def test_hostile_templates_do_not_block_the_hub_loop(
    fresh_broker: RunningBroker, z2m: Recorder
) -> None:
    cfg = fresh_broker.spark_config()
    async with running_hub(cfg, fresh_broker.passwords["hub"]) as hub:
        reg = hub.registry
        assert reg is not None
        lag = LoopLag()
        ticker = asyncio.create_task(lag.run(), name="test-loop-lag")
        try:
            for topic, payload in configs(HOSTILE):
                await asyncio.to_thread(z2m.publish, topic, payload, 1, True)
            await wait_for(lambda: all(reg.get(f"sensor.evil_{n}") is not None
                                       for n in [*HOSTILE, "temperature"]), 15,
                           what="every announced entity is registered")
            evil = [reg.get(f"sensor.evil_{n}") for n in HOSTILE]
            honest = reg.get("sensor.evil_temperature")
            assert honest is not None
            # One state message per step (retained, as Zigbee2MQTT does): the honest sensor
            # follows each one; each hostile template is judged once there is time to run it.
            # (The time share lets one full render through per ~40 ms: a deadline, not a count.)
            deadline, step = time.monotonic() + 30, 0
            while time.monotonic() < deadline:
                step += 1
                value = 20 + step / 10
                await asyncio.to_thread(z2m.publish, STATE_TOPIC, state(value), 1, True)
                await wait_for(lambda v=value: honest.state == str(v), 10,
                               what=f"the honest sensor shows {value}")
                if all(e is not None and e.entity_id in reg.stats.disabled for e in evil):
                    break
            for record in evil:
                assert record is not None
                assert record.entity_id in reg.stats.disabled, (
                    record.entity_id, list(reg.stats.disabled), reg.stats.errors_by_entity)
                assert not record.available and record.as_dict()["state"] == "unavailable"
                assert "budget" in record.attributes["template_error"] or \
                    "RecursionError" in record.attributes["template_error"]
            assert honest.available and honest.attributes.get("template_error") is None
        finally:
            ticker.cancel()
        print(f"\nworst event-loop pass while {len(HOSTILE)} hostile templates were judged "
              f"({step} state messages): {lag.worst * 1000:.1f} ms")
        # The promise is 50 ms per template; the bound here is loose for a loaded CI machine.
        # Today's main: the first regex_backtracking render alone blocks for ~50 s.
        assert lag.worst < 0.5, f"the hub's event loop was blocked for {lag.worst:.2f} s"


async def test_a_flood_of_costly_templates_does_not_stall_discovery(
    fresh_broker: RunningBroker, z2m: Recorder
) -> None:
    """300 configs, each with its own template of ~490 tokens, just under the 500-token limit
    (~12 ms to compile each: 3.6 s in one pass of the event loop on today's main). Discovery
    takes at most 20 ms of a pass, the rest waits for the next passes; every entity is
    registered and renders, none is disabled."""
    count = 300
    flood = []
    for k in range(count):
        template = "{{ [" + ",".join([f"value_json.a{k}"] * 120) + "] | length }}"
        config = sensor_config(f"costly_{k}", template)
        flood.append((f"homeassistant/sensor/{DEVICE}/costly_{k}/config", orjson.dumps(config)))
    reading = orjson.dumps({f"a{k}": k for k in range(count)})
    cfg = fresh_broker.spark_config()
    async with running_hub(cfg, fresh_broker.passwords["hub"]) as hub:
        reg = hub.registry
        assert reg is not None
        lag = LoopLag()
        ticker = asyncio.create_task(lag.run(), name="test-loop-lag")
        try:
            def publish_flood() -> None:
                last = None
                for topic, payload in flood:
                    last = z2m.client.publish(topic, payload, 1, True)
                assert last is not None
                last.wait_for_publish(60)

            await asyncio.to_thread(publish_flood)
            ids = [f"sensor.evil_costly_{k}" for k in range(count)]
            await wait_for(lambda: all(reg.get(e) is not None for e in ids), 60,
                           what="every costly entity is registered")
            registered_lag = lag.worst

            async def all_rendered() -> bool:
                await asyncio.to_thread(z2m.publish, STATE_TOPIC, reading, 1, True)
                return all(reg.entities[e].state == "120" for e in ids)

            await wait_for(all_rendered, 90, interval=0.2, what="every costly entity rendered")
        finally:
            ticker.cancel()
        print(f"\n{count} costly templates: worst event-loop pass while registering "
              f"{registered_lag * 1000:.0f} ms, while rendering {lag.worst * 1000:.0f} ms")
        assert not reg.stats.disabled
        # loose for a loaded CI machine (a full GC over the registry alone can take 0.3 s)
        assert lag.worst < 1.5, f"the hub's event loop was blocked for {lag.worst:.2f} s"


# ---- the real hub process: /health during the attack, then a restart on the retained state ------
class HealthProbe:
    """GET /health in a thread until stopped; the slowest answer (a timeout counts as 10 s)."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.worst = 0.0
        self.answered = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="health-probe", daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self.lab.url, timeout=10) as http:
            while not self._stop.is_set():
                start = time.perf_counter()
                try:
                    ok = http.get("/health").status_code == 200
                except httpx.TimeoutException:
                    self.worst = 10.0
                    continue
                except httpx.TransportError:  # not listening yet (a restart)
                    self._stop.wait(0.05)
                    continue
                if ok:
                    self.answered += 1
                    self.worst = max(self.worst, time.perf_counter() - start)
                self._stop.wait(0.02)

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        return self

    def live(self) -> HealthProbe:
        """Wait for the first answer: the probe is measuring before the attack starts."""
        wait_until(lambda: self.answered > 0, 30, "the hub answers /health before the attack")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(15)


def disabled(api: Api, entity_id: str) -> bool:
    entity = api.entity(entity_id)
    return bool(entity and not entity["available"]
                and "template_error" in entity["attributes"])


def test_hub_stays_responsive_and_survives_a_restart_on_a_retained_hostile_state(
    fresh_broker: RunningBroker, z2m: Recorder, tmp_path: Any
) -> None:
    attack = {"regex_backtracking": HOSTILE["regex_backtracking"]}
    with running_lab(tmp_path / "lab", fresh_broker, free_port(), []) as lab, lab.api() as api:
        api.login()
        for topic, payload in configs(attack):
            z2m.publish(topic, payload, 1, True)
        wait_until(lambda: api.entity("sensor.evil_regex_backtracking"), 20, "the hostile entity")
        with HealthProbe(lab) as probe:
            probe.live()
            z2m.publish(STATE_TOPIC, state(21.0), 1, True)  # retained, as Zigbee2MQTT does
            wait_until(lambda: disabled(api, "sensor.evil_regex_backtracking"), 30,
                       "the hostile entity is disabled with a visible error")
            for value in (21.5, 22.0, 22.5):  # the honest sensor keeps updating
                z2m.publish(STATE_TOPIC, state(value), 1, True)
                wait_until(lambda v=value: (api.entity("sensor.evil_temperature") or {})
                           .get("state") == str(v), 20, f"the honest sensor shows {value}")
        print(f"\n/health during the attack: slowest of {probe.answered} answers "
              f"{probe.worst * 1000:.0f} ms")
        assert probe.answered > 0 and probe.worst < 2.0, probe.worst
        evil = api.entity("sensor.evil_regex_backtracking")
        assert evil is not None and evil["state"] == "unavailable"
        assert "time budget" in evil["attributes"]["template_error"]

        # A restart reads the retained hostile state again: it must not freeze the hub.
        lab.stop("hub")
        with HealthProbe(lab) as probe:
            lab.start("hub", "hub")
            wait_until(lambda: probe.answered > 0, 60, "the restarted hub answers /health")
            api.login()
            wait_until(lambda: disabled(api, "sensor.evil_regex_backtracking"), 30,
                       "the hostile entity is disabled again after the restart")
            wait_until(lambda: (api.entity("sensor.evil_temperature") or {}).get("state")
                       == "22.5", 20, "the honest sensor has the retained reading")
            # the hub's diagnostic sensor names it (published every 10 s)
            wait_until(lambda: (api.entity("sensor.hub_entities_disabled") or {})
                       .get("state") == "1", 30, "the hub's 'Entities disabled' sensor says 1")
            diag = api.entity("sensor.hub_entities_disabled")
            assert diag is not None
            assert "sensor.evil_regex_backtracking" in diag["attributes"]["entities"]
        print(f"/health across the restart: slowest of {probe.answered} answers "
              f"{probe.worst * 1000:.0f} ms")
        assert probe.worst < 2.0, probe.worst


def test_the_audits_bombs_all_at_once_leave_health_answering(
    fresh_broker: RunningBroker, z2m: Recorder, tmp_path: Any
) -> None:
    """Every bomb of the issue and of the audit on one device of a real hub process, ten
    retained state messages: /health answers throughout, the honest sensor follows each one."""
    attack = {**HOSTILE, **{f"review_{k}": v for k, v in REVIEW.items()}}
    with running_lab(tmp_path / "lab", fresh_broker, free_port(), []) as lab, lab.api() as api:
        api.login()
        for topic, payload in configs(attack):
            z2m.publish(topic, payload, 1, True)
        wait_until(lambda: all(api.entity(f"sensor.evil_{n}") for n in attack), 30,
                   "every hostile entity")
        with HealthProbe(lab) as probe:
            probe.live()
            for step in range(10):
                value = 30 + step / 10
                z2m.publish(STATE_TOPIC, state(value), 1, True)
                wait_until(lambda v=value: (api.entity("sensor.evil_temperature") or {})
                           .get("state") == str(v), 20, f"the honest sensor shows {value}")
            # a render skipped for the time share is tried again shortly (not dropped): each
            # hostile template is judged, and taken out, as the share has time for it
            wait_until(lambda: all(disabled(api, f"sensor.evil_{n}") for n in HOSTILE), 30,
                       "every hostile template judged")
        gone = [n for n in attack if disabled(api, f"sensor.evil_{n}")]
        print(f"\n{len(attack)} hostile templates, 10 states: /health slowest of "
              f"{probe.answered} answers {probe.worst * 1000:.0f} ms; disabled: {len(gone)}")
        assert probe.answered > 0 and probe.worst < 2.0, probe.worst
        assert set(HOSTILE) <= set(gone), gone
