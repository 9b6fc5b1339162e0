"""The batch report: one :class:`ItemResult` per item and a :class:`Summary`, as CSV or JSON.

A report is built from the journal alone (:func:`build_report`), so
``kasha payouts report payouts.db`` shows the same thing as the run that wrote it.
"""

from __future__ import annotations

import csv
import enum
import json
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs

from ._journal import ItemState, Journal, JournalRecord


class ItemStatus(enum.StrEnum):
    """How an item stands in a report."""

    COMPLETED = "COMPLETED"
    DECLINED = "DECLINED"
    FAILED = "FAILED"
    #: Created and held for approval (``approve="hold"``).
    PENDING = "PENDING"
    #: Approved; the processor has not answered yet.
    PROCESSING = "PROCESSING"
    #: A create or settle was sent and not confirmed; a resume reconciles it.
    OUTCOME_UNKNOWN = "OUTCOME_UNKNOWN"
    NOT_STARTED = "NOT_STARTED"


_BY_STATE = {
    ItemState.COMPLETED: ItemStatus.COMPLETED,
    ItemState.DECLINED: ItemStatus.DECLINED,
    ItemState.FAILED: ItemStatus.FAILED,
    ItemState.PENDING: ItemStatus.PENDING,
    ItemState.PROCESSING: ItemStatus.PROCESSING,
    ItemState.CREATE_SENT: ItemStatus.OUTCOME_UNKNOWN,
    ItemState.SETTLE_SENT: ItemStatus.OUTCOME_UNKNOWN,
}


def status_of(record: JournalRecord) -> ItemStatus:
    """The report status of a journal record.

    A planned item is NOT_STARTED even when opening its session failed: a resume runs it,
    so it is unresolved (exit 3), never FAILED (exit 1, "done, look at the failures").
    """
    if record.state is ItemState.PLANNED:
        return ItemStatus.NOT_STARTED
    return _BY_STATE[record.state]


@attrs.frozen(kw_only=True, slots=True)
class ItemResult:
    """One line of the report."""

    reference: str
    status: ItemStatus
    #: Whether a resume leaves the item alone.
    final: bool
    transaction_id: str | None
    amount: Decimal
    currency: str
    country: str
    decline_code: int | None
    decline_reason: str | None
    attempts: int
    last_error: str | None
    started_at: float | None
    finished_at: float | None

    @property
    def seconds(self) -> float | None:
        """From the first send to the final status, if both are known."""
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at

    @classmethod
    def from_record(cls, record: JournalRecord) -> ItemResult:
        """The report line of a journal record."""
        return cls(
            reference=record.reference,
            status=status_of(record),
            final=record.state.is_final,
            transaction_id=record.transaction_id,
            amount=record.amount,
            currency=record.currency,
            country=record.country,
            decline_code=record.decline_code,
            decline_reason=record.decline_reason,
            attempts=record.attempts,
            last_error=record.last_error,
            started_at=record.started_at,
            finished_at=record.finished_at,
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (amount as a string)."""
        data = attrs.asdict(self, recurse=False)
        data.update(status=self.status.value, amount=str(self.amount), seconds=self.seconds)
        return data


CSV_COLUMNS = (*(f.name for f in attrs.fields(ItemResult)), "seconds")


@attrs.frozen(kw_only=True, slots=True)
class Summary:
    """Counts per status, amounts per currency, duration and rate."""

    total: int
    counts: dict[str, int]
    #: Currency -> sum of the COMPLETED payouts' amounts.
    completed_amounts: dict[str, Decimal]
    #: Currency -> sum of every item's amount.
    requested_amounts: dict[str, Decimal]
    duration: float
    interrupted: bool = False

    @property
    def payouts_per_second(self) -> float:
        """Items that reached a final status per second of ``duration``."""
        final = sum(self.counts.get(s, 0) for s in ("COMPLETED", "DECLINED", "FAILED"))
        return final / self.duration if self.duration > 0 else 0.0

    @property
    def unresolved(self) -> int:
        """Items a resume would still work on (unknown, processing, not started)."""
        return (
            self.counts.get("OUTCOME_UNKNOWN", 0)
            + self.counts.get("PROCESSING", 0)
            + (self.counts.get("NOT_STARTED", 0))
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (amounts as strings)."""
        return {
            "total": self.total,
            "counts": dict(self.counts),
            "completed_amounts": {k: str(v) for k, v in self.completed_amounts.items()},
            "requested_amounts": {k: str(v) for k, v in self.requested_amounts.items()},
            "duration": self.duration,
            "payouts_per_second": self.payouts_per_second,
            "interrupted": self.interrupted,
        }


class _Tally:
    """Accumulates a summary while results stream by."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.completed: defaultdict[str, Decimal] = defaultdict(Decimal)
        self.requested: defaultdict[str, Decimal] = defaultdict(Decimal)
        self.first: float | None = None
        self.last: float | None = None

    def add(self, result: ItemResult) -> None:
        self.counts[result.status.value] += 1
        self.requested[result.currency] += result.amount
        if result.status is ItemStatus.COMPLETED:
            self.completed[result.currency] += result.amount
        if result.started_at is not None:
            self.first = min(self.first or result.started_at, result.started_at)
        end = result.finished_at or result.started_at
        if end is not None:
            self.last = max(self.last or end, end)

    def summary(self, duration: float | None, interrupted: bool) -> Summary:
        span = (self.last - self.first) if self.first is not None and self.last else 0.0
        return Summary(
            total=sum(self.counts.values()),
            counts=dict(sorted(self.counts.items())),
            completed_amounts=dict(sorted(self.completed.items())),
            requested_amounts=dict(sorted(self.requested.items())),
            duration=span if duration is None else duration,
            interrupted=interrupted,
        )


@attrs.frozen(kw_only=True)
class Report:
    """What a batch did: a :class:`Summary` and (unless left out) every :class:`ItemResult`."""

    summary: Summary
    results: tuple[ItemResult, ...] = ()

    @property
    def ok(self) -> bool:
        """True when no item failed, was declined, or is unresolved."""
        bad = ("FAILED", "DECLINED", "OUTCOME_UNKNOWN", "PROCESSING", "NOT_STARTED")
        return not any(self.summary.counts.get(s) for s in bad)

    @property
    def unknown(self) -> tuple[ItemResult, ...]:
        """The items whose outcome is unknown (a resume reconciles them)."""
        return tuple(r for r in self.results if r.status is ItemStatus.OUTCOME_UNKNOWN)

    def to_json(self) -> dict[str, Any]:
        """The whole report as a JSON-ready dict."""
        return {
            "summary": self.summary.to_json(),
            "items": [r.to_json() for r in self.results],
        }

    def write_json(self, path: str | Path) -> None:
        """Write :meth:`to_json` to ``path``."""
        Path(path).write_text(json.dumps(self.to_json(), indent=1) + "\n", encoding="utf-8")

    def write_csv(self, path: str | Path) -> None:
        """Write one CSV row per item to ``path``."""
        write_csv(path, self.results)


def write_csv(path: str | Path, results: Iterable[ItemResult]) -> None:
    """Write ``results`` as CSV (columns :data:`CSV_COLUMNS`)."""
    with Path(path).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for result in results:
            writer.writerow(result.to_json())


async def iter_results(journal: Journal) -> AsyncIterator[ItemResult]:
    """Every item's result, streamed from the journal in input order."""
    async for record in journal.scan():
        yield ItemResult.from_record(record)


async def build_report(
    journal: Journal,
    *,
    duration: float | None = None,
    interrupted: bool = False,
    include_items: bool = True,
) -> Report:
    """Read the journal into a :class:`Report` (``duration`` defaults to the items' time span)."""
    tally = _Tally()
    results = []
    async for result in iter_results(journal):
        tally.add(result)
        if include_items:
            results.append(result)
    return Report(summary=tally.summary(duration, interrupted), results=tuple(results))
