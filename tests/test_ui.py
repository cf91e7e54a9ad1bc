"""Panel page logic with NiceGUI's simulated user, against a real hub, node and Mosquitto:
sign-in, role rules (a viewer sees no controls), controls calling services and waiting for
the device, the dashboard following availability."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import wait_for
from lab import publish_as, running_hub, running_node
from nicegui import core, ui
from nicegui.functions.download import download
from nicegui.functions.navigate import Navigate
from nicegui.functions.notify import notify
from nicegui.storage import Storage
from nicegui.testing.general import nicegui_reset_globals, prepare_simulation
from nicegui.testing.user import User

from spark.app.runtime import web_site
from spark.ui.api.auth import AuthService
from spark.ui.pages import register
from spark.ui.panel import Panel

ADMIN_PW = "admin password 1"
LAMP = "switch.sim1_lamp"
SLOW = 60  # should_see retries (0.1 s apart): a deadline of 6 s


@contextlib.asynccontextmanager
async def simulated_panel(cfg: Any, hub: Any, tmp: Path
                          ) -> AsyncIterator[tuple[Panel, Callable[[], User]]]:
    """The panel's pages on NiceGUI's in-process test app; yields a factory of users."""
    with nicegui_reset_globals():
        os.environ["NICEGUI_USER_SIMULATION"] = "true"
        Storage.path = tmp / "sessions"
        auth = AuthService(cfg.ui.auth, f"sqlite:///{tmp / 'users.db'}", tmp / "ui")
        await auth.start()
        panel = Panel(hub, web_site(cfg), cfg.ui, auth)
        clients: list[httpx.AsyncClient] = []

        def new_user() -> User:
            client = httpx.AsyncClient(transport=httpx.ASGITransport(core.app),
                                       base_url="http://test")
            clients.append(client)
            return User(client)

        try:
            prepare_simulation()
            register(panel)
            ui.run(storage_secret=panel.storage_secret)
            async with core.app.router.lifespan_context(core.app):
                yield panel, new_user
        finally:
            for client in clients:
                await client.aclose()
            panel.close()
            auth.close()
            os.environ.pop("NICEGUI_USER_SIMULATION", None)
            ui.navigate, ui.notify, ui.download = Navigate(), notify, download


@pytest.fixture
async def lab(broker: Any, tmp_path: Path) -> AsyncIterator[tuple[Any, Any, Any]]:
    cfg = broker.spark_config(
        nodes=[{"id": "sim1", "kind": "simulated", "state_interval": 3600, "area": "Lab"}],
        ui={"control_timeout": 1.0, "auth": {"admin_password": ADMIN_PW,
                                             "jwt_secret": "k" * 40}})
    async with running_hub(cfg, broker.passwords["hub"]) as hub, \
            running_node(cfg, "sim1", None) as node:
        await wait_for(lambda: hub.registry is not None and hub.registry.get(LAMP) is not None
                       and hub.registry.get(LAMP).state == "off", 10, what="sim1's lamp")
        yield cfg, hub, node


async def sign_in(user: User, name: str, password: str) -> None:
    await user.open("/")
    await user.should_see(marker="sign-in")
    user.find(marker="username").type(name)
    user.find(marker="password").type(password)
    user.find(marker="sign-in").click()
    await user.should_see(marker="whoami", retries=SLOW)


async def test_sign_in_and_out(lab: tuple[Any, Any, Any], tmp_path: Path) -> None:
    cfg, hub, _node = lab
    async with simulated_panel(cfg, hub, tmp_path) as (_panel, new_user):
        user = new_user()
        await user.open("/entities")
        await user.should_see(marker="sign-in")  # not signed in: the login page
        user.find(marker="username").type("admin")
        user.find(marker="password").type("wrong password")
        user.find(marker="sign-in").click()
        await user.should_see("wrong username or password", retries=SLOW)
        await sign_in(user, "admin", ADMIN_PW)
        await user.should_see("admin · admin")
        await user.should_see(marker="node:sim1")
        await user.should_see("Users")  # admins manage users
        user.find(marker="sign-out").click()
        await user.should_see(marker="sign-in", retries=SLOW)
        await user.open("/")
        await user.should_see(marker="sign-in")  # the session is gone


async def test_a_viewer_sees_states_but_no_controls(lab: tuple[Any, Any, Any], tmp_path: Path
                                                    ) -> None:
    cfg, hub, _node = lab
    async with simulated_panel(cfg, hub, tmp_path) as (panel, new_user):
        await panel.auth.register("vera", "viewer password", "viewer")
        user = new_user()
        await sign_in(user, "vera", "viewer password")
        await user.should_not_see("Users")
        for path in ("/entities", f"/entity/{LAMP}", "/power"):
            await user.open(path)
            await user.should_not_see(marker=f"control:{LAMP}")
        await user.open(f"/entity/{LAMP}")
        await user.should_see(marker=f"state:{LAMP}")
        # filtered: the session broker holds other tests' entities, the lamp may be on page 2
        await user.open("/entities?q=sim1")
        await user.should_see(marker=f"state:{LAMP}")
        await user.should_not_see(kind=ui.switch)
        await user.should_not_see(kind=ui.select, marker="control:select.sim1_mode")
        await user.open("/users")
        await user.should_see("This page needs the admin role.")


async def test_without_llm_backends_the_assistant_pages_name_the_key(
        lab: tuple[Any, Any, Any], tmp_path: Path) -> None:
    cfg, hub, _node = lab
    async with simulated_panel(cfg, hub, tmp_path) as (_panel, new_user):
        user = new_user()
        await sign_in(user, "admin", ADMIN_PW)
        await user.should_not_see("LLM routing")  # not in the menu without a router
        for path in ("/assistant", "/routing"):
            await user.open(path)
            await user.should_see("No LLM backend is configured: add at least one under "
                                  "llm.backends")


async def test_controls_wait_for_the_device(lab: tuple[Any, Any, Any], tmp_path: Path,
                                            broker: Any) -> None:
    cfg, hub, node = lab
    async with simulated_panel(cfg, hub, tmp_path) as (panel, new_user):
        await panel.auth.register("otto", "operator password", "operator")
        user = new_user()
        await sign_in(user, "otto", "operator password")
        await user.open(f"/entity/{LAMP}")
        user.find(marker=f"control:{LAMP}").click()  # the switch
        await wait_for(lambda: node.state("lamp") is True, 5, what="the node got turn_on")
        await user.should_see(marker=f"state:{LAMP}", content="on", retries=SLOW)
        assert hub.registry.get(LAMP).state == "on"
        await user.should_not_see(marker=f"error:{LAMP}")

        await user.open("/entities?q=sim1_mode")
        with user:
            select = next(iter(user.find(marker="control:select.sim1_mode").elements))
            select.value = "away"
        await user.should_see(marker="state:select.sim1_mode", content="away", retries=SLOW)
        assert node.state("mode") == "away"

        # a plug that never answers: pending, then an error when control_timeout passes
        await publish_as(cfg, "admin", broker.passwords["admin"], [(
            "homeassistant/switch/mute_plug/config",
            '{"name": "Mute plug", "unique_id": "mute_plug", "state_topic": "mute/state",'
            ' "command_topic": "mute/set", "default_entity_id": "switch.mute_plug"}', True)])
        await wait_for(lambda: hub.registry.get("switch.mute_plug") is not None, 5)
        await user.open("/entity/switch.mute_plug")
        user.find(marker="control:switch.mute_plug").click()
        await user.should_see(marker="pending:switch.mute_plug")
        await user.should_see(marker="error:switch.mute_plug", content="did not confirm",
                              retries=SLOW)
        await user.should_not_see(marker="pending:switch.mute_plug")
        await publish_as(cfg, "admin", broker.passwords["admin"],
                         [("homeassistant/switch/mute_plug/config", "", True)])


async def test_the_dashboard_follows_node_availability(broker: Any, tmp_path: Path) -> None:
    cfg = broker.spark_config(nodes=[{"id": "sim2", "kind": "simulated", "state_interval": 3600}],
                              ui={"auth": {"admin_password": ADMIN_PW}})
    async with running_hub(cfg, broker.passwords["hub"]) as hub:
        async with simulated_panel(cfg, hub, tmp_path) as (_panel, new_user):
            user = new_user()
            async with running_node(cfg, "sim2", None):
                await sign_in(user, "admin", ADMIN_PW)
                await user.should_see(marker="node:sim2", content="online", retries=SLOW)
            await user.should_see(marker="node:sim2", content="offline", retries=SLOW)
            await user.should_see("node sim2 is offline", retries=SLOW)


async def test_the_dashboard_coalesces_repeated_events(lab: tuple[Any, Any, Any], tmp_path: Path
                                                       ) -> None:
    """A device firing the same event again and again (a camera's detections) is one line
    with a count, kept live on an open dashboard."""
    cfg, hub, node = lab
    async with simulated_panel(cfg, hub, tmp_path) as (panel, new_user):
        user = new_user()
        await sign_in(user, "admin", ADMIN_PW)
        for i in range(1, 4):
            node.fire_event("doorbell", "press", source="test")
            await user.should_see(f"×{i}" if i > 1 else "Sim1 Doorbell: press", retries=SLOW)
        doorbell = [line for line in panel.recent.lines if line.key.endswith("doorbell press")]
        assert [line.count for line in doorbell] == [3]
        node.fire_event("doorbell", "double_press")  # another event type: its own line
        await user.should_see("Sim1 Doorbell: double_press", retries=SLOW)
        assert [line.count for line in panel.recent.lines if "doorbell" in line.key] == [1, 3]


async def test_the_voice_page_hints_then_logs_in_words(broker: Any, tmp_path: Path) -> None:
    from spark.core.messages.voice import PipelineEvent

    (tmp_path / "in").mkdir()
    cfg = broker.spark_config(
        nodes=[{"id": "voice", "kind": "voice", "array": {"type": "none"},
                "source": {"type": "wav", "path": str(tmp_path / "in")},
                "output": {"type": "file", "directory": str(tmp_path / "out")}}],
        ui={"auth": {"admin_password": ADMIN_PW}})
    async with running_hub(cfg, broker.passwords["hub"]) as hub, \
            simulated_panel(cfg, hub, tmp_path) as (_panel, new_user):
        user = new_user()
        await sign_in(user, "admin", ADMIN_PW)
        await user.open("/voice")
        await user.should_see(marker="voice-hint")  # not an empty card
        events = [PipelineEvent(run="r1", type="transcript", node="voice",
                                data={"text": "turn on the lamp"}),
                  PipelineEvent(run="r1", type="handled", node="voice",
                                data={"reply": "Turned on the lamp.", "success": True,
                                      "executed": True, "result": {"state": "on"}},
                                timings={"stt_ms": 31.4, "action_ms": 12.0})]
        await publish_as(cfg, "admin", broker.passwords["admin"],
                         [("spark/voice/pipeline", e.to_payload(), False) for e in events])
        await user.should_see("“turn on the lamp”", retries=SLOW)
        await user.should_see("Turned on the lamp. (done)", retries=SLOW)
        await user.should_see("result: state on")
        await user.should_see("stt 31 ms · action 12 ms")
        await user.should_not_see(marker="voice-hint")
        await user.should_not_see("success=True")


def test_history_chart_holds_each_state_until_the_next() -> None:
    from spark.hub.recorder import StatePoint
    from spark.ui.chart import MIN_WINDOW, chart_options

    now = 10_000.0
    points = [StatePoint(1_000.0, "off"), StatePoint(5_000.0, "on"), StatePoint(9_000.0, "off")]
    opts = chart_options(False, points, None, start=2_000.0, now=now)
    assert opts["series"][0]["step"] is False
    assert opts["series"][0]["data"] == [  # the initial state clamped to the range start
        [2_000_000.0, "off"], [5_000_000.0, "off"], [5_000_000.0, "on"], [9_000_000.0, "on"],
        [9_000_000.0, "off"], [10_000_000.0, "off"]]
    assert opts["xAxis"]["min"] == 2_000_000.0 and opts["xAxis"]["max"] == now * 1000
    assert opts["tooltip"]["renderMode"] == "richText"  # never HTML from device text
    assert opts["xAxis"]["axisLabel"]["hideOverlap"] is True  # a phone-wide time axis

    single = chart_options(False, [StatePoint(now - 5, "comfort")], None, now - 86_400, now)
    assert single["xAxis"]["max"] - single["xAxis"]["min"] == MIN_WINDOW * 1000
    assert single["series"][0]["data"] == [[(now - 5) * 1000, "comfort"], [now * 1000, "comfort"]]

    numbers = chart_options(True, [StatePoint(9_000.0, "21.5", 21.5),
                                   StatePoint(9_500.0, "unavailable")], "°C", 0.0, now)
    assert numbers["series"][0]["data"] == [[9_000_000.0, 21.5], [9_500_000.0, None]]


def test_times_are_local_and_relative() -> None:
    from datetime import datetime

    from spark.ui.timefmt import ago, humanize, parse_time

    now = 1_800_000_000.0
    assert ago(now - 1, now) == "just now" and ago(now - 75, now) == "1 min ago"
    assert ago(now - 7_300, now) == "2 h ago" and ago(now + 90, now) == "in 1 min"
    iso = "2027-01-15T08:00:00+00:00"
    t = parse_time(iso)
    assert t == 1_800_000_000.0
    local = datetime.fromtimestamp(t).strftime("%H:%M:%S")
    assert humanize(iso, now) == f"{local} · just now"
    assert humanize("2027-01-15", now) == "2027-01-15"  # a date stays a date
    assert humanize("on", now) == "on" and parse_time("12345678901234567") is None


def test_the_simulated_snapshot_is_a_scene_not_a_grey_square() -> None:
    import struct
    import zlib

    from spark.nodes.simulated.scene import HEIGHT, WIDTH, room

    def pixels(png: bytes) -> set[bytes]:
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        width, height = struct.unpack(">II", png[16:24])
        assert (width, height) == (WIDTH, HEIGHT) and width >= 160
        idat = png.index(b"IDAT")
        raw = zlib.decompress(png[idat + 4: idat + 4 + struct.unpack(">I", png[idat - 4:idat])[0]])
        stride = 1 + width * 3
        return {raw[y * stride + 1 + x * 3: y * stride + 4 + x * 3]
                for y in range(height) for x in range(width)}

    lit, dark = pixels(room(lamp_on=True)), pixels(room(lamp_on=False))
    assert len(lit) > 50 and len(dark) > 10  # a picture, not one colour
    assert lit != dark
