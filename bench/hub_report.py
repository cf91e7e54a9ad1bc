"""The hub bench's report: its results as a Markdown table with the acceptance verdicts."""

from __future__ import annotations

from typing import Any

# Issue 2's acceptance: hub ingest at least half the bare rate at QoS 1, service round trip
# p99 under 10 ms, idle RSS under 100 MB.
ACCEPT_RATIO = 0.5
ACCEPT_P99_MS = 10.0
ACCEPT_RSS_MB = 100.0


def table(res: dict[str, Any]) -> str:
    ok = {True: "PASS", False: "FAIL"}
    checks = res["acceptance"]["checks"]
    s = res["setup"]
    q0, q1 = res["ingest"]["qos0"], res["ingest"]["qos1"]
    rtt, rss = res["service_call_rtt"], res["hub_rss_mb"]
    lines = [
        f"Hub bench: {s['messages']:,} readings (~{s['payload_bytes_mean']:.0f} B JSON) over "
        f"{s['entities']:,} entities, median of {s['reps']} runs, {res['machine']['cpus']} CPUs, "
        f"hub recorder {s['recorder'].split()[0]}",
    ]
    lines += [f"WHAT-IF (hub code patched in the bench processes only): {k}: {v}"
              for k, v in s["whatif"].items()]
    lines += ["", f"{'ingest':<36}{'QoS 0':>21}{'QoS 1':>21}"]

    def row(label: str, a: str, b: str) -> None:
        lines.append(f"{label:<36}{a:>21}{b:>21}")

    def runs(values: list[int]) -> str:
        return " ".join(f"{v / 1000:.1f}k" for v in values)

    row("bare paho + json.loads, msg/s", f"{q0['bare_msg_s']:,.0f}", f"{q1['bare_msg_s']:,.0f}")
    row("hub registry, msg/s", f"{q0['hub_msg_s']:,.0f}", f"{q1['hub_msg_s']:,.0f}")
    row("ratio hub / bare", f"{q0['ratio']:.2f}", f"{q1['ratio']:.2f}")
    row("  bare runs", runs(q0["bare_runs"]), runs(q1["bare_runs"]))
    row("  hub runs", runs(q0["hub_runs"]), runs(q1["hub_runs"]))
    def cpu(q: dict[str, Any]) -> str:
        return f"{q['bare_cpu_us_per_msg']:.1f} / {q['hub_cpu_us_per_msg']:.1f}"

    row("CPU us/msg, bare / hub", cpu(q0), cpu(q1))
    row("lost, bare / hub (all runs)", f"{q0['bare_lost']} / {q0['hub_lost']}",
        f"{q1['bare_lost']} / {q1['hub_lost']}")
    row("hub final states wrong", str(q0["hub_wrong_states"]), str(q1["hub_wrong_states"]))
    row("other processes, cores busy (max)", f"{q0['background_cores_max']:.2f}",
        f"{q1['background_cores_max']:.2f}")
    busy = max(q0["background_cores_max"], q1["background_cores_max"])
    if busy > 0.25:
        lines.append(f"  NOTE: other processes kept up to {busy:.1f} of the "
                     f"{res['machine']['cpus']} cores busy during the runs: rates are low and "
                     "noisy; compare the ratio, or rerun on a quiet machine.")
    lines.append(f"broker dropped ($SYS, whole run): {res['broker_dropped']}")
    stuck = res["hub_entities_never_subscribed"]
    if stuck:
        lines.append(f"HUB DEFECT: {len(stuck)} entit{'y' if len(stuck) == 1 else 'ies'} never "
                     f"got a retained state (not subscribed), e.g. {', '.join(stuck[:3])}: "
                     f"their {s['messages'] - res['hub_messages_expected_per_run']:,} messages "
                     "per run never reach the hub; hub rates and loss cover the other topics")
    rec = res["recorder_after_ingest"]
    if rec:
        lines.append(f"hub recorder after the ingest runs: {rec['received']:,} events taken, "
                     f"{rec['states_written']:,} states written, dropped {rec['dropped']} rows "
                     f"+ {rec['bus_dropped']} events, backlog {rec['backlog']}")
    lines += [
        "",
        f"service call round trip, {rtt['n']} x toggle {rtt['entity_id']} (wait=True): "
        f"p50 {rtt['p50_ms']:.2f}  p90 {rtt['p90_ms']:.2f}  p99 {rtt['p99_ms']:.2f}  "
        f"max {rtt['max_ms']:.2f} ms" + (f", {rtt['errors']} FAILED" if rtt["errors"] else ""),
        f"hub RSS, idle: {rss['loaded_idle']:.1f} MB with the entities loaded, "
        f"{rss['after_benches_idle']:.1f} MB after the runs",
        "",
        "acceptance:",
        f"  hub/bare ratio at QoS 1 >= {ACCEPT_RATIO}: {q1['ratio']:.2f}"
        f"  {ok[checks['ingest_ratio_qos1']]}",
        "  no loss at QoS 1 (every message applied, final states right, nothing dropped by "
        f"the broker, every entity subscribed): {ok[checks['no_loss_qos1']]}",
        f"  service call p99 < {ACCEPT_P99_MS:g} ms: {rtt['p99_ms']:.2f} ms"
        f"  {ok[checks['rtt_p99']]}",
        f"  idle hub RSS < {ACCEPT_RSS_MB:g} MB: "
        f"{max(rss['loaded_idle'], rss['after_benches_idle']):.1f} MB  {ok[checks['idle_rss']]}",
    ]
    return "\n".join(lines)
