"""core.backoff: the one backoff of every link supervisor; core.link: the one link vocabulary."""

from __future__ import annotations

import asyncio

import pytest

from spark.core.backoff import Backoff
from spark.core.link import LinkState


async def test_delays_double_up_to_the_maximum_and_reset_on_success() -> None:
    backoff = Backoff(0.001, 0.004, jitter=0.0)
    seen = []
    for _ in range(4):
        seen.append(backoff.delay)
        assert await backoff.wait() is False
        assert backoff.current == seen[-1]
    assert seen == [0.001, 0.002, 0.004, 0.004]
    backoff.reset()
    assert (backoff.delay, backoff.current) == (0.001, 0.0)


async def test_a_probe_that_saw_the_link_down_then_up_ends_the_wait() -> None:
    answers = iter([False, False, True])
    calls = 0

    async def probe() -> bool:
        nonlocal calls
        calls += 1
        return next(answers, True)

    backoff = Backoff(60.0, 60.0, probe_every=0.01)
    async with asyncio.timeout(30):
        assert await backoff.wait(probe) is True
    assert calls == 3


async def test_a_link_that_probes_up_but_fails_waits_out_its_delay() -> None:
    """Probes that find the link up (never down: the failure is not the link's) do not end the
    wait. Counted, not timed: the third probe sets ``until``, so a wait that an up probe had
    ended would show one call. (It was ``calls >= 1`` after a 50 ms delay probed every 10 ms:
    under load the first 10 ms sleep overshot the whole delay and nothing was probed.)"""
    calls = 0
    third = asyncio.Event()

    async def probe() -> bool:
        nonlocal calls
        calls += 1
        if calls == 3:
            third.set()
        return True

    backoff = Backoff(60.0, 60.0, jitter=0.0, probe_every=0.01)
    async with asyncio.timeout(30):
        assert await backoff.wait(probe, until=third) is True  # ended by until, not a probe
    assert calls == 3
    short = Backoff(0.05, 0.05, jitter=0.0, probe_every=0.01)
    assert await short.wait(probe) is False  # the delay ran out, whatever was probed


async def test_a_failing_or_silent_probe() -> None:
    async def broken() -> bool:
        raise OSError("no route")

    async def cannot_tell() -> None:
        return None

    backoff = Backoff(0.03, 0.03, probe_every=0.01)
    assert await backoff.wait(broken) is False  # counted as down, never as up
    assert await backoff.wait(cannot_tell) is False  # waits out the rest


async def test_until_ends_the_wait_and_cancel_leaves_the_delay() -> None:
    backoff = Backoff(60.0, 120.0)
    stop = asyncio.Event()
    stop.set()
    async with asyncio.timeout(30):
        assert await backoff.wait(until=stop) is True
    assert backoff.delay == 120.0
    task = asyncio.create_task(backoff.wait())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert backoff.delay == 120.0


def test_bad_settings_are_refused_and_a_maximum_below_the_minimum_wins() -> None:
    with pytest.raises(ValueError):
        Backoff(0.0, 1.0)
    with pytest.raises(ValueError):
        Backoff(1.0, 2.0, jitter=1.5)
    assert Backoff(5.0, 1.0).delay == 1.0


def test_one_link_vocabulary_and_its_health() -> None:
    assert [s.value for s in LinkState] == ["idle", "connecting", "up", "down", "backoff",
                                             "closed"]
    assert LinkState.health_of("up") == "healthy"
    assert LinkState.health_of("backoff") == "degraded"
    assert LinkState.health_of("closed") == LinkState.health_of(None) == "unhealthy"
    assert LinkState.health_of("gibberish") == "unhealthy"
