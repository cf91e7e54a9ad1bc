"""Hub bench (issue 2, point 10): ingest rate vs a bare paho subscriber, service-call round trip,
idle RSS.

One run, on a throwaway Mosquitto started from our generated config (auth, ACLs, queue limits),
with the hub as configured by default (its SQLite recorder on, in the temp dir; ``--recorder
off`` isolates the registry):

1. **Bare baseline.** A separate process with a bare paho-mqtt 2.x subscriber doing only
   ``json.loads`` subscribes to the 1,000 topics ``spark/plain/load_<i>/state`` (one SUBSCRIBE,
   as the hub does), is paused (SIGSTOP) while N readings (~120-byte JSON) are published and
   acknowledged, then resumed (SIGCONT); it times its 1st to N-th message. QoS 0 and 1.
2. **Hub ingest.** The real :class:`hub.app.Hub` in its own process learns 1,000 power sensors
   from retained discovery (published as the ``bench`` node would, Zigbee2MQTT style:
   ``value_template: '{{ value_json.power }}'``, unit W, so the hub validates numbers), is paused
   while the same stream goes to ``spark/bench/load_<i>/state``, resumed, and times the 1st to
   N-th message applied to its registry; then it checks the count and every entity's final
   state against the last reading. An entity whose retained state never reached the hub (it is
   not subscribed to the topic) is reported as a hub defect and left out of the timing.
3. **Service calls.** ``hub.services.call("toggle", "switch.sim_lamp", wait=True)`` against a
   :class:`SimulatedNode` in another process (hub -> command -> node -> state echo -> hub).
4. **Idle RSS** of the hub process holding the 1,000 entities plus the simulated node's.

Throughput figures are medians of ``--reps`` runs (figures drift ~10%, compare within a run);
loss is checked three ways: counts, final states, and Mosquitto's ``$SYS`` dropped counter.
The orchestrator (this process) publishes; consumers are paused meanwhile, so what is timed is
only how fast each consumer drains what the broker holds for it. CPU us/msg is the consumer
process's CPU time per message (all its threads), less sensitive to a busy machine than msg/s.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import sys
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

import paho.mqtt
import psutil

from bench.common import (
    RESULTS,
    BenchError,
    Broker,
    RawPublisher,
    SysObserver,
    encode,
    median,
    pause,
    percentile,
    publish,
    resume,
    throwaway_broker,
)
from bench.hub_report import ACCEPT_P99_MS, ACCEPT_RATIO, ACCEPT_RSS_MB, table
from bench.hub_stream import (
    HUB_NODE,
    discovery,
    entity_id,
    initial_states,
    key,
    last_states,
    stream,
)
from bench.workers import WHATIFS, bare_consumer, hub_process, sim_node_process
from spark.core.topics import TopicLayout

BARE_NODE = "plain"  # same topic lengths, topics the hub does not follow
SIM_NODE = "sim"
LAMP = f"switch.{SIM_NODE}_lamp"


# ---- processes ---------------------------------------------------------------------------------
def expect(conn: Connection, kind: str, timeout: float, what: str) -> tuple[Any, ...]:
    if not conn.poll(timeout):
        raise BenchError(f"{what}: no {kind!r} within {timeout:.0f}s")
    msg = conn.recv()
    if msg[0] == "error":
        raise BenchError(f"{what}: {msg[1]}")
    if msg[0] != kind:
        raise BenchError(f"{what}: expected {kind!r}, got {msg[0]!r}")
    return tuple(msg)


def spawn(ctx: Any, target: Callable[..., None], *args: Any) -> tuple[BaseProcess, Connection]:
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=target, args=(child, *args), daemon=True)
    proc.start()
    child.close()
    return proc, parent


def end(proc: BaseProcess | None, grace: float = 5.0) -> None:
    if proc is None or not proc.is_alive():
        return
    assert proc.pid is not None
    resume(proc.pid)  # a paused process would not act on SIGTERM
    proc.terminate()
    proc.join(grace)
    if proc.is_alive():
        proc.kill()
        proc.join()


def rate(n: int, res: dict[str, Any]) -> dict[str, Any]:
    if res.get("t_first") is None or res.get("t_last") is None:
        return {"msg_s": 0.0, "count": res.get("count", 0), "lost": n - res.get("count", 0)}
    secs = res["t_last"] - res["t_first"]
    cpu = res["cpu_last"] - res["cpu_first"]
    return {"msg_s": (n - 1) / secs, "seconds": secs, "count": res["count"],
            "lost": n - res["count"], "cpu_us_per_msg": cpu / (n - 1) * 1e6}


def _brief(r: dict[str, Any]) -> str:
    text = (f"{r['msg_s']:>8,.0f} msg/s in {r.get('seconds', 0):.1f}s, lost {r['lost']}, "
            f"publish {r['publish_s']:.1f}s, other load {r['background_cores']:.2f} cores")
    if "n_wrong" in r:
        text += f", wrong states {r['n_wrong']}"
    return text


def _busy() -> float:
    """CPU seconds all processes have run (user + system; the loopback traffic's softirq time
    belongs to no process and is left out)."""
    t = psutil.cpu_times()
    return t.user + t.nice + t.system


def _cpu(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return t.user + t.system


# ---- the runs ----------------------------------------------------------------------------------
class HubBench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.n: int = args.messages
        self.entities: int = args.entities
        self.ctx = mp.get_context("spawn")
        self.hub: BaseProcess | None = None
        self.hub_conn: Connection | None = None
        self.sim: BaseProcess | None = None
        self.broker: Broker | None = None
        self.stuck: list[str] = []
        self.call_errors: tuple[int, str | None] = (0, None)
        self.n_hub = self.n  # messages the hub should apply (less if it missed topics)

    def log(self, text: str) -> None:
        print(f"[bench hub] {text}", file=sys.stderr, flush=True)

    def run(self) -> dict[str, Any]:
        nodes = [{"kind": "simulated", "id": SIM_NODE, "state_interval": 3600}]
        with throwaway_broker([HUB_NODE, BARE_NODE], nodes,
                              recorder=self.args.recorder == "on") as broker:
            self.broker = broker
            try:
                return self._run(broker)
            finally:
                end(self.hub)
                end(self.sim)

    def _child_args(self, broker: Broker) -> tuple[Any, ...]:
        nodes = [n.model_dump(mode="json") for n in broker.config.nodes]
        return (broker.port, str(broker.data_dir), [HUB_NODE, BARE_NODE], nodes,
                self.args.recorder == "on", list(self.args.whatif))

    def _run(self, broker: Broker) -> dict[str, Any]:
        layout = broker.config.mqtt.layout()
        self.log(f"mosquitto on 127.0.0.1:{broker.port}; preparing {self.n:,} readings "
                 f"over {self.entities:,} topics")
        hub_msgs = stream(layout, HUB_NODE, self.n, self.entities)
        bare_msgs = stream(layout, BARE_NODE, self.n, self.entities)
        expected = last_states(hub_msgs, self.entities)
        bursts = {(node, qos): b"".join(encode(msgs, qos))
                  for node, msgs in ((HUB_NODE, hub_msgs), (BARE_NODE, bare_msgs))
                  for qos in (0, 1)}
        payload_bytes = sum(len(p) for _t, p, _r in hub_msgs) / self.n
        del hub_msgs, bare_msgs

        publish(broker.port, broker.login(HUB_NODE), discovery(layout, self.entities))
        publish(broker.port, broker.login(BARE_NODE),
                initial_states(layout, BARE_NODE, self.entities))
        observer = SysObserver(broker.port, broker.login("observer"))
        try:
            return self._measure(broker, layout, bursts, expected, payload_bytes, observer)
        finally:
            observer.close()

    def _measure(self, broker: Broker, layout: TopicLayout, bursts: dict[tuple[str, int], bytes],
                 expected: dict[str, str], payload_bytes: float, observer: SysObserver
                 ) -> dict[str, Any]:
        args = self.args
        dropped0 = observer.wait_fresh(rounds=1)

        t0 = time.monotonic()
        self.sim, sim_conn = spawn(self.ctx, sim_node_process, *self._child_args(broker),
                                   SIM_NODE, broker.passwords[SIM_NODE])
        expect(sim_conn, "ready", 30, "simulated node")
        wanted = [entity_id(i) for i in range(self.entities)] + [LAMP]
        self.hub, self.hub_conn = spawn(self.ctx, hub_process, *self._child_args(broker),
                                        broker.passwords["hub"], wanted)
        ready = expect(self.hub_conn, "ready", 90, "hub")[1]
        stuck: list[str] = ready["stuck"]
        self.log(f"hub registry has {ready['entities']} entities "
                 f"({time.monotonic() - t0:.1f}s)")
        if LAMP in stuck:
            raise BenchError(f"the hub never saw {LAMP} available with a state")
        if stuck:
            # A hub defect, not the bench's: report it, and time the ingest on the topics the
            # hub does follow, so the figures stay comparable.
            self.log(f"HUB DEFECT: {len(stuck)} entities never got their retained state (the "
                     f"hub is not subscribed to their topics), e.g. {stuck[:3]}")
        self.stuck = stuck
        self.n_hub = self.n - sum(self._messages_to(entity) for entity in stuck)
        expected = {k: v for k, v in expected.items() if k not in stuck}
        assert self.hub.pid is not None
        hub_ps = psutil.Process(self.hub.pid)
        rss_loaded = hub_ps.memory_info().rss

        bare: dict[int, list[dict[str, Any]]] = {0: [], 1: []}
        hub: dict[int, list[dict[str, Any]]] = {0: [], 1: []}
        for rep in range(args.reps):
            for qos in (0, 1):
                bare[qos].append(self.bare_burst(bursts[BARE_NODE, qos], qos))
                self.log(f"run {rep + 1}/{args.reps} bare QoS {qos}: {_brief(bare[qos][-1])}")
            for qos in (0, 1):
                hub[qos].append(self.hub_burst(bursts[HUB_NODE, qos], qos, expected))
                self.log(f"run {rep + 1}/{args.reps} hub  QoS {qos}: {_brief(hub[qos][-1])}")
        profile = None
        if args.profile:
            prof_run = self.hub_burst(bursts[HUB_NODE, 1], 1, expected, profile=True)
            profile = prof_run.pop("profile", None)
            self.log(f"profiled hub QoS 1 run: {prof_run['msg_s']:,.0f} msg/s (not in medians)")

        self.log(f"service calls: {args.calls} x toggle {LAMP} (wait=True)")
        assert self.hub_conn is not None
        self.hub_conn.send(("calls", "toggle", LAMP, args.calls, args.warmup_calls))
        calls_res = expect(self.hub_conn, "calls", 60 + args.calls * 0.5, "service calls")[1]
        calls = calls_res["latencies_ms"]
        self.call_errors = (calls_res.get("errors", 0), calls_res.get("first_error"))
        if self.call_errors[0]:
            self.log(f"{self.call_errors[0]} service calls failed, e.g. {self.call_errors[1]}")
        rss_after = hub_ps.memory_info().rss
        dropped = observer.wait_fresh() - dropped0
        return self.summary(bare, hub, calls, rss_loaded, rss_after, dropped, payload_bytes,
                            profile)

    def bare_burst(self, data: bytes, qos: int) -> dict[str, Any]:
        assert self.broker is not None
        broker = self.broker
        layout = broker.config.mqtt.layout()
        topics = [layout.state(BARE_NODE, key(i)) for i in range(self.entities)]
        proc, conn = spawn(self.ctx, bare_consumer, broker.port, broker.login("homeassistant"),
                           topics, qos, self.entities, self.n, self.args.stall)
        try:
            expect(conn, "ready", 30, "bare consumer")
            assert proc.pid is not None
            res = self._paused_publish(proc.pid, data, qos, BARE_NODE,
                                       lambda: expect(conn, "done", self._timeout(),
                                                      "bare consumer")[1])
            return rate(self.n, res) | {"publish_s": res["publish_s"],
                                        "background_cores": res["background_cores"]}
        finally:
            end(proc)

    def _messages_to(self, entity: str) -> int:
        i = int(entity.rsplit("_", 1)[1])
        return self.n // self.entities + (1 if i < self.n % self.entities else 0)

    def hub_burst(self, data: bytes, qos: int, expected: dict[str, str],
                  profile: bool = False) -> dict[str, Any]:
        assert self.hub is not None and self.hub.pid is not None and self.hub_conn is not None
        conn = self.hub_conn
        prefix = self.broker_layout().state(HUB_NODE, "x").removesuffix("x/state")
        conn.send(("ingest", self.n_hub, prefix, expected, self.args.stall, profile))
        expect(conn, "armed", 10, "hub")
        res = self._paused_publish(self.hub.pid, data, qos, HUB_NODE,
                                   lambda: expect(conn, "ingest", self._timeout(), "hub")[1])
        out = rate(self.n_hub, res) | {"publish_s": res["publish_s"], "n_wrong": res["n_wrong"],
                                   "rejected": res["rejected"], "wrong": res["wrong"],
                                   "background_cores": res["background_cores"],
                                   "recorder": res.get("recorder")}
        if "profile" in res:
            out["profile"] = res["profile"]
        return out

    def _paused_publish(self, pid: int, data: bytes, qos: int, node: str,
                        result: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Pause the consumer, publish the burst (all acknowledged), resume it, wait for its
        figures. Also notes how busy the rest of the machine was while it drained the burst."""
        assert self.broker is not None and self.broker.process.pid is not None
        pub = RawPublisher(self.broker.port, *self.broker.login(node))
        pause(pid)
        try:
            publish_s = pub.send(data, self.n, qos)
        finally:
            ours = [psutil.Process(p) for p in (pid, self.broker.process.pid, os.getpid())]
            before = (_busy(), [_cpu(p) for p in ours], time.monotonic())
            resume(pid)
            pub.close()
        res = dict(result())
        after = (_busy(), [_cpu(p) for p in ours], time.monotonic())
        others = (after[0] - before[0]) - sum(a - b for a, b in zip(after[1], before[1],
                                                                    strict=True))
        return res | {"publish_s": publish_s,
                      "background_cores": max(0.0, others) / (after[2] - before[2])}

    def broker_layout(self) -> TopicLayout:
        assert self.broker is not None
        return self.broker.config.mqtt.layout()

    def _timeout(self) -> float:
        return 60.0 + self.n / 2000  # generous: a 200k burst at 5k msg/s would still finish

    def summary(self, bare: dict[int, list[dict[str, Any]]], hub: dict[int, list[dict[str, Any]]],
                calls: list[float], rss_loaded: int, rss_after: int, dropped: int,
                payload_bytes: float, profile: str | None) -> dict[str, Any]:
        lat = sorted(calls)
        figures: dict[str, Any] = {}
        for qos in (0, 1):
            b = median([r["msg_s"] for r in bare[qos]])
            h = median([r["msg_s"] for r in hub[qos]])
            figures[f"qos{qos}"] = {
                "bare_msg_s": b, "hub_msg_s": h, "ratio": h / b if b else 0.0,
                "bare_runs": [round(r["msg_s"]) for r in bare[qos]],
                "hub_runs": [round(r["msg_s"]) for r in hub[qos]],
                "bare_lost": sum(r["lost"] for r in bare[qos]),
                "hub_lost": sum(r["lost"] for r in hub[qos]),
                "hub_wrong_states": sum(r["n_wrong"] for r in hub[qos]),
                "hub_rejected": sum(r["rejected"] for r in hub[qos]),
                "bare_cpu_us_per_msg": median([r.get("cpu_us_per_msg", 0.0) for r in bare[qos]]),
                "hub_cpu_us_per_msg": median([r.get("cpu_us_per_msg", 0.0) for r in hub[qos]]),
                "publish_s": median([r["publish_s"] for r in bare[qos] + hub[qos]]),
                "background_cores_max": max(r["background_cores"] for r in bare[qos] + hub[qos]),
            }
        q1 = figures["qos1"]
        last = [r.get("recorder") for r in hub[0] + hub[1] if r.get("recorder")]
        recorder = last[-1] if last else None  # cumulative counters after the last run
        p99 = percentile(lat, 99)
        rtt: dict[str, Any] = {
            "n": len(lat), "errors": self.call_errors[0], "first_error": self.call_errors[1],
            "p50_ms": percentile(lat, 50), "p90_ms": percentile(lat, 90), "p99_ms": p99,
            "max_ms": lat[-1] if lat else float("nan"),
            "mean_ms": sum(lat) / len(lat) if lat else float("nan")}
        mb = 1024 * 1024
        checks = {
            "ingest_ratio_qos1": q1["ratio"] >= ACCEPT_RATIO,
            "no_loss_qos1": (q1["hub_lost"] == 0 and q1["hub_wrong_states"] == 0
                             and dropped == 0 and not self.stuck),
            "rtt_p99": p99 < ACCEPT_P99_MS and not self.call_errors[0],
            "idle_rss": max(rss_loaded, rss_after) / mb < ACCEPT_RSS_MB,
        }
        return {
            "bench": "hub",
            "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                        "paho_mqtt": paho.mqtt.__version__, "platform": platform.platform()},
            "setup": {"messages": self.n, "entities": self.entities, "reps": self.args.reps,
                      "payload_bytes_mean": round(payload_bytes, 1),
                      "value_template": "{{ value_json.power }}",
                      "broker": "mosquitto, generated config (auth, ACLs, queue limits)",
                      "whatif": {k: WHATIFS[k] for k in self.args.whatif},
                      "recorder": (f"{self.args.recorder} (hub default: on, SQLite; here in "
                                   "the bench's temp dir)"),
                      "load_average_at_end": os.getloadavg()},
            "ingest": figures,
            "broker_dropped": dropped,
            "hub_entities_never_subscribed": self.stuck,
            "recorder_after_ingest": recorder,
            "hub_messages_expected_per_run": self.n_hub,
            "service_call_rtt": rtt | {"service": "toggle", "entity_id": LAMP},
            "hub_rss_mb": {"loaded_idle": rss_loaded / mb, "after_benches_idle": rss_after / mb},
            "acceptance": {"thresholds": {"ratio_qos1_min": ACCEPT_RATIO,
                                          "rtt_p99_ms_max": ACCEPT_P99_MS,
                                          "idle_rss_mb_max": ACCEPT_RSS_MB},
                           "checks": checks, "pass": all(checks.values())},
            "profile_top": profile,
        }


def parser() -> argparse.ArgumentParser:
    summary = " ".join((__doc__ or "").split("\n\n")[0].split())
    p = argparse.ArgumentParser(prog="python -m bench hub", description=summary)
    p.add_argument("--messages", type=int, default=100_000,
                   help="readings per run (PERF-NOTES used 200,000; 100,000 keeps the whole "
                   "bench near 3 minutes)")
    p.add_argument("--entities", type=int, default=1000, help="entities / state topics")
    p.add_argument("--reps", type=int, default=3, help="runs per throughput figure (median)")
    p.add_argument("--calls", type=int, default=1000, help="service calls timed")
    p.add_argument("--warmup-calls", type=int, default=20, help="service calls not timed")
    p.add_argument("--stall", type=float, default=3.0,
                   help="seconds without a message after which a run counts as lossy")
    p.add_argument("--profile", action="store_true",
                   help="one extra QoS 1 hub run under cProfile; print its top functions")
    p.add_argument("--quick", action="store_true",
                   help="20,000 readings, 1 run, 200 calls: a smoke test, not figures")
    p.add_argument("--recorder", choices=("on", "off"), default="on",
                   help="the hub's recorder (on by default in the hub's config; SQLite in the "
                   "bench's temp dir); 'off' isolates the registry")
    p.add_argument("--whatif", action="append", default=[], choices=sorted(WHATIFS),
                   help="measure a proposed hub change, patched into the bench's hub and node "
                   "processes only: " + "; ".join(f"{k}: {v}" for k, v in WHATIFS.items()))
    return p


def main(argv: list[str]) -> dict[str, Any]:
    args = parser().parse_args(argv)
    started = time.monotonic()
    if args.quick:
        args.messages, args.reps, args.calls = 20_000, 1, 200
    res = HubBench(args).run()
    RESULTS.mkdir(exist_ok=True)
    name = "hub" + ("-quick" if args.quick else "") + (
        "-no-recorder" if args.recorder == "off" else "") + "".join(
        f"-whatif-{w}" for w in args.whatif)  # hub.json: only the default, full run
    out = RESULTS / f"{name}.json"
    out.write_text(json.dumps(res, indent=2) + "\n")
    if res.get("profile_top"):
        print(res["profile_top"])
    print(table(res))
    print(f"\nwritten: {out.relative_to(RESULTS.parent.parent)} "
          f"({time.monotonic() - started:.0f} s)")
    return res
