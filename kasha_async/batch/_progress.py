"""Progress of a running batch: counters, a snapshot for callbacks, and a rich bar on a TTY."""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable
from types import TracebackType

import attrs
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ._report import ItemStatus


@attrs.frozen(kw_only=True, slots=True)
class BatchProgress:
    """A snapshot handed to ``on_progress`` after every item this run finishes or skips."""

    total: int
    #: Items finished in this run or skipped as already final, by report status.
    counts: dict[str, int]
    #: Items skipped because the journal already had them final.
    skipped: int
    elapsed: float

    @property
    def done(self) -> int:
        """Items that need nothing more from this run."""
        return sum(self.counts.values())

    @property
    def failed(self) -> int:
        """Items that failed or were declined."""
        return self.counts.get(ItemStatus.FAILED, 0) + self.counts.get(ItemStatus.DECLINED, 0)

    @property
    def unknown(self) -> int:
        """Items whose outcome is unknown."""
        return self.counts.get(ItemStatus.OUTCOME_UNKNOWN, 0)

    @property
    def rate(self) -> float:
        """Items finished by this run per second (skipped ones not counted)."""
        return (self.done - self.skipped) / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left at the current rate, if there is a rate."""
        return (self.total - self.done) / self.rate if self.rate > 0 else None


ProgressCallback = Callable[[BatchProgress], None]


class ProgressTracker:
    """Counts item outcomes and tells the callback and the bar."""

    def __init__(
        self, total: int, *, callback: ProgressCallback | None = None, show: bool | None = None
    ) -> None:
        self.total = total
        self.counts: Counter[str] = Counter()
        self.skipped = 0
        self._callback = callback
        self._start = time.monotonic()
        show = sys.stderr.isatty() if show is None else show
        self._bar = _Bar(total) if show else None

    def __enter__(self) -> ProgressTracker:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.stop()

    def item_done(self, status: ItemStatus, *, skipped: bool = False) -> None:
        """Count one item."""
        self.counts[status.value] += 1
        self.skipped += skipped
        snapshot = self.snapshot()
        if self._bar is not None:
            self._bar.update(snapshot)
        if self._callback is not None:
            self._callback(snapshot)

    @property
    def finished_by_run(self) -> int:
        """Items this run brought to a final status (skipped ones not counted)."""
        final = (ItemStatus.COMPLETED, ItemStatus.DECLINED, ItemStatus.FAILED)
        return sum(self.counts.get(s.value, 0) for s in final) - self.skipped

    def snapshot(self) -> BatchProgress:
        """The counters now."""
        return BatchProgress(
            total=self.total,
            counts=dict(self.counts),
            skipped=self.skipped,
            elapsed=time.monotonic() - self._start,
        )


class _Bar:
    """A rich progress bar on stderr: done / failed / unknown, rate and ETA."""

    def __init__(self, total: int) -> None:
        self._progress = Progress(
            TextColumn("payouts"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TextColumn("[green]ok {task.fields[ok]}[/] [red]failed {task.fields[failed]}[/]"),
            TextColumn("[yellow]unknown {task.fields[unknown]}[/] {task.fields[rate]:.0f}/s"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            transient=False,
        )
        self._task = self._progress.add_task(
            "payouts", total=total, ok=0, failed=0, unknown=0, rate=0.0
        )

    def start(self) -> None:
        self._progress.start()

    def stop(self) -> None:
        self._progress.stop()

    def update(self, snap: BatchProgress) -> None:
        ok = snap.counts.get(ItemStatus.COMPLETED, 0) + snap.counts.get(ItemStatus.PENDING, 0)
        self._progress.update(
            self._task,
            completed=snap.done,
            ok=ok,
            failed=snap.failed,
            unknown=snap.unknown,
            rate=snap.rate,
        )
