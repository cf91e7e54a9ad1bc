"""The operations benches' own arithmetic (issue 18): the soak's memory slope and the latency's
per-stage breakdown."""

from __future__ import annotations

from bench.voice_generalisation import STAGES, Played, stages
from bench.voice_soak import slope_mb_per_hour
from spark.core.messages.voice import PipelineEvent


def sample(minute: int, node: float, worker: float | None) -> dict[str, float | int | None]:
    return {"minute": minute, "rss_node_mb": node, "rss_worker_mb": worker}


def test_soak_slope_is_per_hour_and_skips_the_warm_up() -> None:
    samples = [sample(m, 100.0 if m <= 5 else 200.0 + m / 60, 50.0) for m in range(1, 61)]
    assert slope_mb_per_hour(samples, "rss_node_mb") == 1.0  # +1 MB an hour after minute 5
    assert slope_mb_per_hour(samples, "rss_worker_mb") == 0.0
    assert slope_mb_per_hour(samples[:1], "rss_node_mb") is None  # one point: no slope
    no_worker = [sample(m, 1.0, None) for m in range(1, 20)]
    assert slope_mb_per_hour(no_worker, "rss_worker_mb") is None


def test_latency_stages_add_up_to_the_total() -> None:
    events = [PipelineEvent(run="r", type="speech-end", node="voice",
                            data={"silence_s": 0.15, "ended": 1.0}),
              PipelineEvent(run="r", type="handled", node="voice", data={},
                            timings={"stt_ms": 40.0, "intent_ms": 2.0, "action_ms": 20.0})]
    out = stages(Played(events, [(2.0, "t", "ON")], "x.wav"), lag=0.08, total_s=0.35)
    assert set(out) == set(STAGES)
    assert out["vad_lag"] == 80.0 and out["silence_waited"] == 150.0 and out["stt"] == 40.0
    assert out["other"] == 350.0 - 80.0 - 150.0 - 40.0 - 2.0 - 20.0
    assert abs(sum(out.values()) - 350.0) < 0.5
