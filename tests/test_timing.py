"""The one backoff and the one poll helper of the package."""

from __future__ import annotations

import asyncio
import random

import pytest

from kasha_async._timing import backoff, poll


def test_backoff_is_full_jitter_under_a_capped_doubling_ceiling() -> None:
    """Waits are uniform in [0, min(cap, base * 2**(n-1))]; without jitter, the ceiling."""
    assert [backoff(n, jitter=False) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert backoff(3, base=0.1, cap=10.0, jitter=False) == pytest.approx(0.4)
    rng = random.Random(7)
    waits = [backoff(n, rng=rng) for n in range(1, 200)]
    assert all(0.0 <= w <= min(8.0, 0.5 * 2 ** (n - 1)) for n, w in enumerate(waits, 1))
    assert len(set(waits)) > 100  # jittered, not a fixed ladder


def test_backoff_replays_with_a_seeded_rng() -> None:
    """The same seed gives the same waits (the sandbox's replayable chaos)."""
    first = [backoff(n, rng=random.Random(3)) for n in range(1, 5)]
    again = [backoff(n, rng=random.Random(3)) for n in range(1, 5)]
    assert first == again


async def test_poll_returns_the_first_result_that_is_done() -> None:
    """poll() calls fetch until the predicate holds and returns that result."""
    seen: list[int] = []

    async def fetch() -> int:
        seen.append(len(seen))
        return seen[-1]

    assert await poll(fetch, lambda n: n == 3, interval=0.0, max_interval=0.0) == 3
    assert seen == [0, 1, 2, 3]


async def test_poll_returns_the_last_result_at_its_timeout() -> None:
    """With a timeout, the last result comes back undone once the time is up."""
    calls = 0

    async def fetch() -> str:
        nonlocal calls
        calls += 1
        return "PENDING"

    assert await poll(
        fetch, lambda s: s == "DONE", interval=0.001, max_interval=0.002, timeout=0.02
    )
    assert calls >= 2


async def test_poll_is_woken_early_by_its_event() -> None:
    """A set wake event ends a long wait at once; the next fetch sees the news."""
    wake = asyncio.Event()
    state = ["PENDING"]

    async def fetch() -> str:
        return state[0]

    async def finish() -> None:
        await asyncio.sleep(0)
        state[0] = "DONE"
        wake.set()

    finisher = asyncio.create_task(finish())
    async with asyncio.timeout(30):  # a guard only: without the wake, poll waits 60 s
        result = await poll(fetch, lambda s: s == "DONE", interval=60, max_interval=60, wake=wake)
    await finisher
    assert result == "DONE"
