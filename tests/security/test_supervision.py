"""Finding 5, second half (issue 15): a component of the hub process that dies is logged with
its traceback at once, makes ``/health`` answer 503 naming it, and is restarted with backoff
while the rest of the hub goes on.

The faults are real: the hub is the real one, built the way ``spark hub`` builds it (config,
broker, recorder, panel) in its own process, with one extra part handed in at a factory seam —
a command source (the seam app/runtime uses for the Kafka cloud source) that dies while a flag
file exists, or a web server subclass whose uvicorn stops under it once. Runs on a fresh broker.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from broker_fixture import free_port
from e2e.harness import (
    Api,
    chromium,
    chromium_available,
    wait_until,
    write_config,
)
from e2e.harness import sign_in as harness_sign_in

HUB = '''
import asyncio, sys
from pathlib import Path

from spark.app.cli import _run, _setup_logging
from spark.app.config import load_config
from spark.app.runtime import build_web, hub_node_config, hub_password, serve
from spark.core.agent.agent import NodeContext
from spark.hub.app import Hub
from spark.ui.server import WebServer

cfg = load_config(Path(sys.argv[1]))
flag = Path(sys.argv[2])
_setup_logging("INFO")


class FaultySource:
    """A command source (core.services.CommandSource) that dies while ``flag`` exists."""

    async def run(self) -> None:
        if flag.exists():
            raise RuntimeError(f"injected fault: {flag.name} exists")
        await asyncio.Event().wait()


class StoppingWeb(WebServer):
    """Its uvicorn stops under it once, after it served (the web component dies)."""

    died = False

    def _serving(self) -> None:
        super()._serving()
        if flag.exists() and not StoppingWeb.died:
            StoppingWeb.died = True
            assert self._server is not None
            self._server.should_exit = True

    async def run(self) -> None:
        await super().run()
        if StoppingWeb.died and flag.exists():
            flag.unlink()
            raise RuntimeError("injected fault: the web server stopped under the hub")


async def main() -> int:
    ctx = NodeContext(cfg.agent_settings(), hub_node_config(cfg), password=hub_password(cfg))
    sources = {"faulty": FaultySource()} if sys.argv[3] == "source" else {}
    hub = Hub(ctx, cfg.recorder, cloud=lambda services, publish: sources,
              policy=cfg.hub.policy)
    web = build_web(cfg, hub)
    if sys.argv[3] == "web":
        web = StoppingWeb(hub, web.site, web.config, recorder_url=web.recorder_url)
    await serve(hub, web)
    return 0

sys.exit(_run(main))
'''


def start_hub(root: Path, broker: Any, fault: str) -> tuple[subprocess.Popen[bytes], Api, Path]:
    port = free_port()
    config = write_config(root, broker, port, [])
    flag = root / "fault.flag"
    flag.write_text("on")
    script = root / "faulty_hub.py"
    script.write_text(HUB)
    log = (root / "hub.log").open("wb")
    proc = subprocess.Popen([sys.executable, str(script), str(config), str(flag), fault],
                            cwd=root, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    log.close()
    return proc, Api(httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=15)), flag


def stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise


def signed_in(driver: Any, url: str) -> None:
    harness_sign_in(driver, url, '[data-page="Dashboard"]', "the dashboard of the restarted panel")


def health(api: Api) -> tuple[int, dict[str, Any]]:
    r = api.http.get("/health", timeout=2)
    return r.status_code, r.json()


def component(api: Api, name: str) -> dict[str, Any] | None:
    body = api.get("/api/health/detailed").json()
    return next((c for c in body["components"] if c["name"] == name), None)


def test_a_dying_component_is_logged_unhealthy_and_restarted(fresh_broker: Any,
                                                             tmp_path: Path) -> None:
    proc, api, flag = start_hub(tmp_path, fresh_broker, "source")
    log = tmp_path / "hub.log"
    try:
        # dead: 503 naming it, the traceback in the log at once; the rest of the hub serves
        def dead() -> bool:
            code, body = health(api)
            return code == 503 and body["status"] == "unhealthy" \
                and "hub-cloud-faulty" in body["failed"]

        wait_until(dead, 30, "/health answers 503 naming hub-cloud-faulty")
        text = log.read_text()
        assert "component hub-cloud-faulty died (RuntimeError: injected fault" in text, text
        assert "Traceback" in text and "raise RuntimeError" in text, text
        api.login()
        faulty = component(api, "hub-cloud-faulty")
        assert faulty is not None and faulty["status"] == "unhealthy", faulty
        assert "injected fault" in faulty["detail"]
        assert component(api, "broker")["status"] == "healthy"  # type: ignore[index]
        assert component(api, "hub-housekeeping")["status"] == "healthy"  # type: ignore[index]
        # the fault is gone: the next restart takes, and the process is healthy again
        flag.unlink()
        wait_until(lambda: health(api)[0] == 200, 60, "/health is 200 after the restart")
        faulty = component(api, "hub-cloud-faulty")
        assert faulty is not None and faulty["status"] == "healthy", faulty
        assert faulty["data"]["restarts"] >= 1, faulty
        assert "component hub-cloud-faulty: restart" in log.read_text()
        assert proc.poll() is None, "the hub process kept running"
    finally:
        assert stop(proc) == 0, log.read_text()
        api.close()
    # a clean stop is no death: nothing else was reported dead, nothing left running
    text = log.read_text()
    assert text.count(" died (") == text.count("component hub-cloud-faulty died ("), text


def test_the_web_server_dying_is_restarted(fresh_broker: Any, tmp_path: Path) -> None:
    proc, api, flag = start_hub(tmp_path, fresh_broker, "web")
    log = tmp_path / "hub.log"
    try:
        wait_until(lambda: "component hub-web died" in log.read_text(), 30,
                   "the web component died (its uvicorn stopped under it)")
        assert "Traceback" in log.read_text()
        # restarted on its own: the panel and API answer again, the death is remembered
        wait_until(lambda: health(api)[0] == 200, 60, "/health answers 200 after the restart")
        api.login()
        web = component(api, "hub-web")
        assert web is not None and web["status"] == "healthy", web
        assert web["data"]["restarts"] == 1 and "stopped under the hub" in web["detail"], web
        assert not flag.exists()
        # the restarted panel's pages work in a browser
        missing = chromium_available()
        assert missing is None, missing
        with chromium(tmp_path / "profile") as driver:
            signed_in(driver, str(api.http.base_url).rstrip("/"))
    finally:
        assert stop(proc) == 0, log.read_text()
        api.close()
