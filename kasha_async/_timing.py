"""Waiting between tries: the one backoff and the one poll loop of the package.

* :func:`backoff` — how long to wait before try ``attempt + 1``: exponential,
  capped, with full jitter by default (uniform in ``[0, ceiling]``).
* :func:`poll` — call a coroutine until a predicate holds, waiting
  :func:`backoff` between calls (or until an event wakes it), up to a deadline.

The retry core, the flows' ``wait_final``, the batch and the sandbox's webhook
redelivery wait through these two; nothing else computes a backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from ._constants import RETRY_BACKOFF_INITIAL, RETRY_BACKOFF_MAX

__all__ = ["backoff", "poll"]

T = TypeVar("T")


class _Uniform(Protocol):
    def uniform(self, a: float, b: float, /) -> float: ...


def backoff(
    attempt: int,
    *,
    base: float = RETRY_BACKOFF_INITIAL,
    cap: float = RETRY_BACKOFF_MAX,
    jitter: bool = True,
    rng: _Uniform = random,
) -> float:
    """Seconds to wait after failed try ``attempt`` (counting from 1).

    The ceiling is ``min(cap, base * 2**(attempt - 1))``; with ``jitter`` (full
    jitter) the wait is uniform in ``[0, ceiling]``, without it the ceiling itself.
    ``rng`` lets a seeded ``random.Random`` make the waits replayable.
    """
    ceiling = min(cap, base * 2.0 ** (max(attempt, 1) - 1))
    return rng.uniform(0.0, ceiling) if jitter else ceiling


async def poll(
    fetch: Callable[[], Awaitable[T]],
    done: Callable[[T], bool],
    *,
    interval: float,
    max_interval: float,
    timeout: float | None = None,
    jitter: bool = False,
    wake: asyncio.Event | None = None,
) -> T:
    """Await ``fetch()`` until ``done(result)``; return that result.

    Between calls it waits ``backoff(n, base=interval, cap=max_interval,
    jitter=jitter)`` — ``interval``, then twice that, up to ``max_interval`` — or
    until ``wake`` is set, whichever comes first (an event already set when a wait
    begins does not shorten it: it bought its early call, and is never cleared
    here, since other waiters may share it). With ``timeout``,
    the last result is returned once that many seconds have passed even if not
    ``done`` (the caller tells the two apart with ``done``); without it, polling
    goes on until the caller's own deadline (``asyncio.timeout``) cancels it.
    """
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    tries = 0
    while True:
        result = await fetch()
        tries += 1
        if done(result):
            return result
        delay = backoff(tries, base=interval, cap=max_interval, jitter=jitter)
        if deadline is not None:
            left = deadline - loop.time()
            if left <= 0:
                return result
            delay = min(delay, left)
        if wake is None or wake.is_set():
            await asyncio.sleep(delay)
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), delay)
