"""The event loop for programs the SDK starts itself (``kasha payouts run``): uvloop if installed.

uvloop comes with the optional ``[speed]`` extra and is never required. Only the
CLI's own :func:`run` uses it; an application that runs its own loop keeps it,
since nothing here sets a global event-loop policy. ``KASHA_UVLOOP=0`` turns it off.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

ENV_UVLOOP = "KASHA_UVLOOP"


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop factory when it is installed and not turned off, else ``None`` (asyncio's)."""
    if os.environ.get(ENV_UVLOOP, "1") == "0":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)``, on uvloop when :func:`loop_factory` offers it."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)
