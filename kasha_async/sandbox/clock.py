"""The sandbox's controllable clock: session expiry and timestamps read it, tests move it."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime


class ManualClock:
    """Seconds since the epoch that tests can move forward.

    With ``start=None`` (the default) it follows real time plus the offset that
    :meth:`advance` accumulates; with a ``start`` it stays frozen there until advanced.
    """

    def __init__(self, start: float | None = None) -> None:
        self._start = start
        self._offset = 0.0

    def now(self) -> float:
        """The current sandbox time in epoch seconds."""
        base = time.time() if self._start is None else self._start
        return base + self._offset

    def now_datetime(self) -> datetime:
        """The current sandbox time as an aware UTC datetime."""
        return datetime.fromtimestamp(self.now(), tz=UTC)

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds`` (e.g. ``31 * 60`` to expire sessions)."""
        if not math.isfinite(seconds) or seconds < 0:  # NaN would poison every later timestamp
            raise ValueError("the sandbox clock only moves forward, by a finite number of seconds")
        self._offset += seconds

    @property
    def offset(self) -> float:
        """How far the clock has been advanced in total, in seconds."""
        return self._offset
