"""The end-to-end harness: ``spark hub`` and ``spark node`` as real processes on the test
broker, an API client, and a headless Chromium (Debian's ``chromium`` + ``chromium-driver``).

Used by the browser and API tests and by ``bench/ui_latency.py``. Every wait has a deadline.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import yaml

ADMIN_PASSWORD = "e2e admin password"
SPARK = [sys.executable, "-m", "spark.app.cli"]
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-dev-shm-usage")


def _attempt(check: Callable[[], Any], last: BaseException | None
             ) -> tuple[Any, BaseException | None]:
    """One call of a wait's ``check``: its result, and the latest connection error seen."""
    try:
        return check(), last
    except (httpx.HTTPError, OSError) as exc:
        return None, exc


def wait_until(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.05
               ) -> Any:
    """Call ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        result, last = _attempt(check, last)
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"not true within {timeout:g}s: {what}" + (f" ({last})" if last else ""))


# What a start may take: CPU-seconds of the process (and its children), and wall seconds for a
# start that hangs without using the CPU. `spark hub` needs ~3 CPU-seconds to answer /health.
START_CPU_SECONDS = 30.0
START_WALL_SECONDS = 600.0


def cpu_seconds(process: psutil.Process) -> float:
    """CPU time (user + system) of ``process`` and its live children; 0 when it is gone."""
    total = 0.0
    try:
        for each in [process, *process.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                times = each.cpu_times()
                total += times.user + times.system
    except psutil.Error:
        return total
    return total


@dataclass
class Lab:
    """A hub process with the panel on ``port`` and node processes, under ``root``."""

    root: Path
    config: Path
    port: int
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        with (self.root / f"{name}.log").open("wb") as log:  # the child keeps its own copy
            proc = subprocess.Popen([*SPARK, *args, "-c", str(self.config)], cwd=self.root,
                                    stdout=log, stderr=subprocess.STDOUT,
                                    env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.procs[name] = proc
        return proc

    def wait_ready(self, name: str, check: Callable[[], Any], what: str,
                   cpu: float = START_CPU_SECONDS) -> Any:
        """``wait_until`` for something a starting process ``name`` brings about.

        A start is bounded by the CPU time the process may spend, not the wall clock: on a
        machine whose cores are shared (CI under load) a start that needs ~3 CPU-seconds can take
        half a minute of wall time and is still no hang. Fails at once when the process exits,
        after ``cpu`` CPU-seconds of the process and its children without ``check`` coming true
        (a busy hang), and after ``START_WALL_SECONDS`` in any case (a hang that sleeps).
        """
        proc = self.procs[name]
        watched = psutil.Process(proc.pid)
        deadline = time.monotonic() + START_WALL_SECONDS
        last: BaseException | None = None
        while True:
            result, last = _attempt(check, last)
            if result:
                return result
            why = ""
            if proc.poll() is not None:
                why = f"{name} exited with {proc.returncode}"
            elif (used := cpu_seconds(watched)) > cpu:
                why = f"{name} spent {used:.1f} CPU-seconds"
            elif time.monotonic() > deadline:
                why = f"{name} still not ready after {START_WALL_SECONDS:g} s"
            if why:
                raise AssertionError(f"not true: {what}: {why}" + (f" ({last})" if last else "")
                                     + f"\n--- {name}.log (tail) ---\n{self.log(name)[-3000:]}")
            time.sleep(0.05)

    def stop(self, name: str, timeout: float = 15) -> None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def log(self, name: str) -> str:
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def api(self) -> Api:
        return Api(httpx.Client(base_url=self.url, timeout=15))


class Api:
    def __init__(self, client: httpx.Client) -> None:
        self.http = client
        self.headers: dict[str, str] = {}

    def login(self, username: str = "admin", password: str = ADMIN_PASSWORD) -> dict[str, Any]:
        r = self.http.post("/api/auth/login", json={"username": username, "password": password})
        r.raise_for_status()
        tokens: dict[str, Any] = r.json()
        self.headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        return tokens

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.get(path, headers=self.headers, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.post(path, headers=self.headers, **kw)

    def entity(self, entity_id: str) -> dict[str, Any] | None:
        r = self.get(f"/api/entities/{entity_id}")
        return r.json() if r.status_code == 200 else None

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_config(root: Path, broker: Any, port: int, nodes: list[dict[str, Any]],
                 ui: dict[str, Any] | None = None, hub: dict[str, Any] | None = None,
                 mqtt: dict[str, Any] | None = None) -> Path:
    """A config for the test broker (``broker``: tests' RunningBroker); secrets in files;
    ``hub`` / ``mqtt``: further keys of those sections (a test's limits)."""
    secrets = root / "secrets"
    secrets.mkdir(parents=True, exist_ok=True)

    def secret(name: str, value: str) -> str:
        path = secrets / name
        path.write_text(value)
        path.chmod(0o600)
        return str(path)

    node_list = [{**n, "password_file": secret(f"{n['id']}.pw", broker.passwords[n["id"]])}
                 for n in nodes]
    data = {
        "mqtt": {"host": broker.host, "port": broker.port, "username": "hub",
                 "password_file": secret("hub.pw", broker.passwords["hub"]), **(mqtt or {})},
        "hub": {"id": "hub", **(hub or {})},
        "broker": {"mode": "external"},
        "nodes": node_list,
        "recorder": {"url": f"sqlite:///{root / 'history.db'}", "commit_interval": 0.2},
        # the suites poll the API: a high general limit unless a test sets its own
        "ui": {"host": "127.0.0.1", "port": port, "data_dir": str(root / "ui"),
               "rate_limit": {"requests": 100_000, "window": 60},
               **(ui or {}),
               "auth": {"admin_password_file": secret("admin.pw", ADMIN_PASSWORD),
                        **(ui or {}).get("auth", {})}},
        "log_level": "WARNING",
    }
    path = root / "spark.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@contextlib.contextmanager
def running_lab(root: Path, broker: Any, port: int, nodes: list[dict[str, Any]],
                ui: dict[str, Any] | None = None, hub: dict[str, Any] | None = None,
                mqtt: dict[str, Any] | None = None) -> Iterator[Lab]:
    """``spark hub`` + one ``spark node`` per entry of ``nodes``; yields once the panel
    answers and every node's entities are in the hub registry."""
    lab = Lab(root, write_config(root, broker, port, nodes, ui, hub, mqtt), port)
    try:
        lab.start("hub", "hub")
        with lab.api() as probe:
            lab.wait_ready("hub",
                lambda: probe.http.get("/health", timeout=2).status_code == 200,
                "the panel answers /health")
        for node in nodes:
            lab.start(node["id"], "node", node["kind"], "--id", node["id"])
        with lab.api() as api:
            api.login()
            for node in nodes:
                lab.wait_ready(node["id"], lambda n=node: any(
                    c["name"] == n["id"] and c["status"] == "healthy"
                    for c in api.get("/api/health/detailed").json()["components"]),
                    f"node {node['id']} is healthy")
        yield lab
    finally:
        for name in list(lab.procs)[::-1]:
            lab.stop(name)


def chromium_available() -> str | None:
    """Why a browser test cannot run here, or None."""
    for tool in ("chromium", "chromedriver"):
        if shutil.which(tool) is None and not Path(f"/usr/bin/{tool}").exists():
            return (f"{tool} is not installed: scripts/bootstrap.sh test installs Debian's "
                    "chromium and chromium-driver")
    return None


@contextlib.contextmanager
def chromium(profile: Path, width: int = 1280, height: int = 900) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={width},{height}")
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    service = Service(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    driver = webdriver.Chrome(options=options, service=service)
    try:
        yield driver
    finally:
        driver.quit()


# ---- browser steps and measurements ------------------------------------------------------
OBSERVE = """
const sel = arguments[0];
window.__seen = [];
new MutationObserver(() => {
  const el = document.querySelector(sel);
  if (el) window.__seen.push([el.textContent, performance.timeOrigin + performance.now()]);
}).observe(document.body, {childList: true, characterData: true, subtree: true});
"""


def text_of(driver: Any, selector: str) -> str:
    from selenium.webdriver.common.by import By

    found = driver.find_elements(By.CSS_SELECTOR, selector)
    return str(found[0].text) if found else ""


def wait_text(driver: Any, selector: str, wanted: str, timeout: float = 10) -> None:
    wait_until(lambda: text_of(driver, selector).strip() == wanted, timeout,
               f"{selector} shows {wanted!r} (it shows {text_of(driver, selector)!r})")


def sign_in(driver: Any, url: str, ready: str = '[data-availability="sim1"]',
            what: str = "the dashboard after signing in") -> None:
    """Sign in as the lab's admin; done once an element matching ``ready`` is there."""
    from selenium.webdriver.common.by import By

    driver.get(url + "/")
    wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, 'input[data-testid="username"]'),
               15, "the login form")
    driver.find_element(By.CSS_SELECTOR, 'input[data-testid="username"]').send_keys("admin")
    driver.find_element(By.CSS_SELECTOR, 'input[data-testid="password"]').send_keys(
        ADMIN_PASSWORD)
    driver.find_element(By.CSS_SELECTOR, '[data-testid="sign-in"]').click()
    wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, ready), 15, what)


def measure_latency(driver: Any, url: str, broker: Any, samples: int = 30) -> list[float]:
    """MQTT state publish -> text changed in the page, in ms (the page stamps each change)."""
    entity = "sensor.sim1_temperature"
    selector = f'[data-entity="{entity}"]'
    driver.get(f"{url}/entity/{entity}")
    wait_until(lambda: text_of(driver, selector), 15, "the temperature on its page")
    driver.execute_script(OBSERVE, selector)
    out: list[float] = []
    from helpers import Recorder  # tests/helpers.py: a paho client that waits for acks

    with Recorder(broker.host, broker.port, "admin", broker.passwords["admin"]) as mqtt:
        mqtt.connect()
        for i in range(samples):
            value = f"{30 + i / 100:.2f}"
            sent = time.time()
            mqtt.publish("spark/sim1/temperature/state", value)
            seen = wait_until(lambda v=value: driver.execute_script(
                "return (window.__seen.find(s => s[0].trim().startsWith(arguments[0])) "
                "|| [null, 0])[1]", v), 10, f"the page shows {value}", interval=0.005)
            out.append(float(seen) - sent * 1000)
    return out


def measure_first_load(driver: Any, url: str, rounds: int = 5) -> dict[str, float]:
    from selenium.webdriver.common.by import By

    walls, loads = [], []
    for _ in range(rounds):
        driver.get("about:blank")
        start = time.perf_counter()
        driver.get(url + "/")
        wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, '[data-availability="sim1"]'),
                   15, "the dashboard", interval=0.005)
        walls.append((time.perf_counter() - start) * 1000)
        nav = driver.execute_script(
            "const n = performance.getEntriesByType('navigation')[0];"
            "return n ? n.loadEventEnd : 0")
        loads.append(float(nav))
    return {"wall_ms_median": statistics.median(walls), "wall_ms_max": max(walls),
            "load_event_ms_median": statistics.median(loads)}
