"""Child processes of the hub bench; each talks to the orchestrator over a ``multiprocessing``
pipe and is paused/resumed by it with SIGSTOP/SIGCONT.

* :func:`bare_consumer`: a bare paho-mqtt 2.x subscriber doing only ``json.loads`` (the baseline).
* :func:`hub_process`: the real :class:`hub.app.Hub`; measures messages applied to its registry and
  runs service calls on request.
* :func:`sim_node_process`: a :class:`SimulatedNode` answering those service calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import io
import json
import logging
import pstats
import signal
import threading
import time
import uuid
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from bench.common import HOST, bench_config

log = logging.getLogger("bench.hub")
FAST_ANNOUNCE = (0.0, 0.05)
WHATIFS = {
    "nodelay": "TCP_NODELAY on MqttClient sockets (hub and node)",
    "direct-write": "MqttClient writes queued packets (PUBACKs) at once on the loop thread, as "
                    "paho does without an external loop, instead of add_writer/remove_writer "
                    "per packet",
}


def apply_whatif(names: list[str]) -> None:
    """Patch hub code in this child process only, to measure a proposed change. Never on by
    default: the bench measures the code as it is."""
    if "nodelay" in names:
        import socket

        from spark.core.mqtt.client import MqttClient

        original = MqttClient._on_socket_open

        def on_socket_open(self: Any, client: Any, userdata: Any, sock: Any) -> None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            original(self, client, userdata, sock)

        MqttClient._on_socket_open = on_socket_open  # type: ignore[method-assign,assignment]
    if "direct-write" in names:
        from spark.core.mqtt.client import MqttClient

        register = MqttClient._on_socket_register_write

        def on_register_write(self: Any, client: Any, userdata: Any, sock: Any) -> None:
            # paho's own rule (Client._packet_queue): write now unless inside a callback.
            if (threading.get_ident() == self._loop_thread
                    and client._in_callback_mutex.acquire(False)):
                client._in_callback_mutex.release()
                client.loop_write()
                if not client.want_write():
                    return
            register(self, client, userdata, sock)

        MqttClient._on_socket_register_write = on_register_write  # type: ignore[method-assign,assignment]


# ---- baseline -----------------------------------------------------------------------------------
def bare_consumer(conn: Connection, port: int, login: tuple[str, str], topics: list[str],
                  qos: int, retained: int, n: int, stall: float) -> None:
    """Subscribe to ``topics`` (one packet, as the hub does), take their ``retained`` states (so
    the subscription is live), say ``ready``; once resumed, ``json.loads`` every message and time
    the 1st to the ``n``-th."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2,
                         client_id=f"bench-bare-{uuid.uuid4().hex[:8]}",
                         protocol=paho.MQTTv311, clean_session=True)
    client.username_pw_set(*login)
    loads = json.loads
    perf, cpu = time.perf_counter, time.process_time
    seen = [0]
    out: dict[str, Any] = {"count": 0, "t_first": None, "t_last": None, "cpu_first": None,
                           "cpu_last": None}

    def measure(c: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        loads(msg.payload)
        count = out["count"] = out["count"] + 1
        if count == 1:
            out["t_first"], out["cpu_first"] = perf(), cpu()
        elif count == n:
            out["t_last"], out["cpu_last"] = perf(), cpu()
            c.disconnect()

    def warmup(c: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        seen[0] += 1
        if seen[0] == retained:
            c.on_message = measure
            conn.send(("ready",))

    def on_connect(c: paho.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            conn.send(("error", f"bare consumer refused: {rc}"))
            c.disconnect()
            return
        c.subscribe([(t, qos) for t in topics])

    stop = threading.Event()

    def watchdog() -> None:  # ends the run if messages stop coming (loss)
        last, since = -1, time.monotonic()
        while not stop.wait(0.25):
            count = out["count"]
            if count != last:
                last, since = count, time.monotonic()
            elif count and time.monotonic() - since > stall:
                client.disconnect()
                return

    client.on_connect = on_connect
    client.on_message = warmup
    client.connect(HOST, port, 60)
    guard = threading.Thread(target=watchdog, daemon=True)
    guard.start()
    try:
        client.loop_forever()
    finally:
        stop.set()
    conn.send(("done", out))


# ---- the hub ------------------------------------------------------------------------------------
def hub_process(conn: Connection, port: int, data_dir: str, node_accounts: list[str],
                nodes: list[dict[str, Any]], recorder: bool, whatif: list[str], password: str,
                expect: list[str]) -> None:
    """Run the real Hub; say ``ready`` once every entity id in ``expect`` has a state."""
    apply_whatif(whatif)
    logging.basicConfig(level=logging.WARNING, format="hub: %(levelname)s %(name)s %(message)s")
    cfg = bench_config(Path(data_dir), port, node_accounts, nodes, recorder)
    asyncio.run(_HubWorker(conn, cfg, password).run(expect))


class _HubWorker:
    def __init__(self, conn: Connection, cfg: Any, password: str) -> None:
        from spark.app.runtime import build_hub

        self.conn = conn
        self.hub = build_hub(cfg, password=password, announce_delay=FAST_ANNOUNCE)
        self.commands: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()

    async def run(self, expect: list[str]) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.hub.stop)
        loop.add_reader(self.conn.fileno(), lambda: self.commands.put_nowait(self.conn.recv()))
        ready = asyncio.Event()
        task = asyncio.create_task(self.hub.run(ready), name="bench-hub")
        try:
            async with asyncio.timeout(60):
                await ready.wait()
                stuck = await self._registry_has(expect)
            self.conn.send(("ready", {"entities": len(self._reg().entities), "stuck": stuck}))
            await self._serve(task)
        except Exception as exc:
            self.conn.send(("error", f"{type(exc).__name__}: {exc}"))
            raise
        finally:
            loop.remove_reader(self.conn.fileno())
            self.hub.stop()
            await task

    def _reg(self) -> Any:
        assert self.hub.registry is not None
        return self.hub.registry

    async def _registry_has(self, entity_ids: list[str], quiet: float = 3.0) -> list[str]:
        """Wait (event-driven, on the hub's bus) until every entity exists, is available and has
        a state: its retained state arrived, so the hub's subscription to it is live. Gives up
        on the rest once nothing arrived for ``quiet`` seconds and returns what is missing."""
        from spark.core.events import AvailabilityChanged, EntityAdded, StateChanged

        reg = self._reg()
        missing = set(entity_ids)
        progress = asyncio.Event()

        def check(entity_id: str) -> None:
            record = reg.get(entity_id)
            if record is not None and record.state is not None and record.available:
                missing.discard(entity_id)
                progress.set()

        def on_event(event: Any) -> None:
            if event.entity_id in missing:
                check(event.entity_id)

        unlisten = self.hub.bus.listen(on_event, (EntityAdded, StateChanged, AvailabilityChanged))
        try:
            for entity_id in list(missing):
                check(entity_id)
            while missing:
                progress.clear()
                try:
                    async with asyncio.timeout(quiet):
                        await progress.wait()
                except TimeoutError:
                    break
        finally:
            unlisten()
        return sorted(missing)

    async def _serve(self, task: asyncio.Task[None]) -> None:
        while not task.done():
            cmd = await self.commands.get()
            if cmd[0] == "ingest":
                self.conn.send(("ingest", await self._ingest(*cmd[1:])))
            elif cmd[0] == "calls":
                self.conn.send(("calls", await self._calls(*cmd[1:])))
            elif cmd[0] == "stop":
                return

    async def _ingest(self, n: int, prefix: str, expected: dict[str, str], stall: float,
                      profile: bool) -> dict[str, Any]:
        """Time the 1st to ``n``-th message under ``prefix`` applied to the registry from now
        on, then check the count and the final states. (Other messages -- the hub's own stats
        every 10 s -- are applied too, just not counted.)"""
        reg, client = self._reg(), self.hub.client
        assert client is not None
        apply, stats = reg.on_message, reg.stats
        perf, cpu = time.perf_counter, time.process_time
        out: dict[str, Any] = {"count": 0, "t_first": None, "t_last": None, "cpu_first": None,
                               "cpu_last": None}
        finished = asyncio.Event()
        prof = cProfile.Profile() if profile else None

        def measured(msg: Any) -> None:  # the registry's handler + a prefix test and a count
            apply(msg)
            if msg.topic.startswith(prefix):
                count = out["count"] = out["count"] + 1
                if count == 1:
                    out["t_first"], out["cpu_first"] = perf(), cpu()
                elif count == n:
                    out["t_last"], out["cpu_last"] = perf(), cpu()
                    finished.set()

        rejected0 = stats.rejected
        client.set_default_handler(measured)
        self.conn.send(("armed",))  # the orchestrator pauses us now and publishes
        if prof is not None:
            prof.enable()
        try:
            last, since = 0, time.monotonic()
            while not finished.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.25):
                        await finished.wait()
                if out["count"] != last:
                    last, since = out["count"], time.monotonic()
                elif last and time.monotonic() - since > stall:
                    break  # messages stopped coming: some were lost
        finally:
            if prof is not None:
                prof.disable()
            client.set_default_handler(apply)
        wrong = {}
        for entity_id, want in expected.items():
            record = reg.get(entity_id)
            got = record.state if record is not None else None
            if got != want:
                wrong[entity_id] = (got, want)
        out["recorder"] = self._recorder_stats()
        out |= {"rejected": stats.rejected - rejected0,
                "checked": len(expected), "wrong": dict(list(wrong.items())[:5]),
                "n_wrong": len(wrong)}
        if prof is not None:
            text = io.StringIO()
            pstats.Stats(prof, stream=text).sort_stats("tottime").print_stats(25)
            out["profile"] = text.getvalue()
        return out

    def _recorder_stats(self) -> dict[str, Any] | None:
        recorder = getattr(self.hub, "recorder", None)
        if recorder is None:
            return None
        stats = getattr(recorder, "stats", None)
        out = {k: getattr(stats, k, None) for k in ("received", "states_written", "dropped",
                                                     "lost", "commits")}
        out["bus_dropped"] = getattr(recorder, "bus_dropped", None)
        out["backlog"] = getattr(recorder, "backlog", None)
        return out

    async def _calls(self, service: str, entity_id: str, n: int, warmup: int) -> dict[str, Any]:
        """``n`` sequential ``services.call(service, entity_id, wait=True)``; ms each."""
        from spark.core.errors import SparkError

        services = self.hub.services
        assert services is not None
        perf = time.perf_counter
        latencies: list[float] = []
        errors: list[str] = []
        for i in range(warmup + n):
            t0 = perf()
            try:
                await services.call(service, entity_id, wait=True, timeout=5.0)
            except SparkError as exc:  # counted, and the acceptance fails; the run goes on
                errors.append(str(exc))
                continue
            if i >= warmup:
                latencies.append((perf() - t0) * 1000.0)
        return {"latencies_ms": latencies, "errors": len(errors), "first_error": next(
            iter(errors), None)}


# ---- the node that answers service calls --------------------------------------------------------
def sim_node_process(conn: Connection, port: int, data_dir: str, node_accounts: list[str],
                     nodes: list[dict[str, Any]], recorder: bool, whatif: list[str],
                     node_id: str, password: str) -> None:
    apply_whatif(whatif)
    logging.basicConfig(level=logging.WARNING, format="node: %(levelname)s %(name)s %(message)s")
    cfg = bench_config(Path(data_dir), port, node_accounts, nodes, recorder)
    asyncio.run(_run_node(conn, cfg, node_id, password))


async def _run_node(conn: Connection, cfg: Any, node_id: str, password: str) -> None:
    from spark.app.runtime import make_agent

    agent = make_agent(cfg, cfg.node(node_id), password, announce_delay=FAST_ANNOUNCE)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, agent.stop)
    ready = asyncio.Event()
    task = asyncio.create_task(agent.run(ready), name=f"bench-node-{node_id}")
    async with asyncio.timeout(30):
        await ready.wait()
    conn.send(("ready",))
    await task
