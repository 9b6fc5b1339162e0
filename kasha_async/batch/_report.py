"""The batch report: one :class:`ItemResult` per item and a :class:`Summary`, as CSV or JSON.

A report is built from the journal alone (:func:`build_report`), so
``kasha payouts report payouts.db`` shows the same thing as the run that wrote it.
"""

from __future__ import annotations

import csv
import enum
import json
import os
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import UTC, datetime
from decimal import Context, Decimal
from pathlib import Path
from typing import Any, TextIO

import attrs

from .._models import currency_places
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
    #: The provider reports another amount or currency, or ends the payout in ERROR (1100):
    #: set aside, never approved; a person must look (unresolved, a resume leaves it alone).
    MISMATCH = "MISMATCH"


_BY_STATE = {
    ItemState.COMPLETED: ItemStatus.COMPLETED,
    ItemState.DECLINED: ItemStatus.DECLINED,
    ItemState.FAILED: ItemStatus.FAILED,
    ItemState.PENDING: ItemStatus.PENDING,
    ItemState.PROCESSING: ItemStatus.PROCESSING,
    ItemState.CREATE_SENT: ItemStatus.OUTCOME_UNKNOWN,
    ItemState.SETTLE_SENT: ItemStatus.OUTCOME_UNKNOWN,
    ItemState.MISMATCH: ItemStatus.MISMATCH,
}
#: Report statuses a run leaves for later (a resume, or a person for MISMATCH): exit 3.
UNRESOLVED = frozenset(
    {
        ItemStatus.OUTCOME_UNKNOWN,
        ItemStatus.PROCESSING,
        ItemStatus.NOT_STARTED,
        ItemStatus.MISMATCH,
    }
)


def in_places(amount: Decimal, currency: str | None) -> Decimal:
    """``amount`` with the currency's places (2; 8 for crypto) when that keeps its value.

    A provider's JSON number loses its trailing zeros (435.50 arrives as 435.5); the
    report shows it as 435.50. An amount with more places, or too large to quantize, is
    shown as it is: the value is never changed.
    """
    places = currency_places(currency)
    exponent = amount.as_tuple().exponent
    if not isinstance(exponent, int) or -exponent >= places or amount.adjusted() > 40:
        return amount
    quantized = amount.quantize(Decimal(1).scaleb(-places), context=_WIDE)
    return quantized if quantized == amount else amount


_WIDE = Context(prec=60)


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
    #: What the provider reported it paid (``None`` until it said).
    reported_amount: Decimal | None
    reported_currency: str | None
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
        """The report line of a journal record (amounts in the currency's places)."""
        reported = record.reported_amount
        if reported is not None:
            reported = in_places(reported, record.reported_currency or record.currency)
        return cls(
            reference=record.reference,
            status=status_of(record),
            final=record.state.is_final,
            transaction_id=record.transaction_id,
            amount=in_places(record.amount, record.currency),
            currency=record.currency,
            country=record.country,
            reported_amount=reported,
            reported_currency=record.reported_currency,
            decline_code=record.decline_code,
            decline_reason=record.decline_reason,
            attempts=record.attempts,
            last_error=record.last_error,
            started_at=record.started_at,
            finished_at=record.finished_at,
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: amounts as strings, times as ISO 8601 (UTC), seconds rounded."""
        data = attrs.asdict(self, recurse=False)
        data.update(
            status=self.status.value,
            amount=str(self.amount),
            reported_amount=None if self.reported_amount is None else str(self.reported_amount),
            started_at=iso_time(self.started_at),
            finished_at=iso_time(self.finished_at),
            seconds=None if self.seconds is None else round(self.seconds, 3),
        )
        return data


CSV_COLUMNS = (*(f.name for f in attrs.fields(ItemResult)), "seconds")


def iso_time(moment: float | None) -> str | None:
    """An epoch time as ISO 8601 in UTC, to the millisecond."""
    if moment is None:
        return None
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds")


@attrs.frozen(kw_only=True, slots=True)
class Summary:
    """Counts per status, amounts per currency, duration and rate."""

    total: int
    counts: dict[str, int]
    #: Currency -> sum of what the provider reported for the COMPLETED payouts.
    completed_amounts: dict[str, Decimal]
    #: Currency -> sum of every item's amount.
    requested_amounts: dict[str, Decimal]
    duration: float
    #: What ``duration`` measures: ``"run"`` (this run's wall clock, and the rate counts the
    #: items it finished) or ``"items"`` (a journal read later: first item started to last
    #: finished, and the rate counts every final item).
    duration_of: str = "run"
    #: The run stopped (or was stopped) before it tried every item: run again with --resume.
    interrupted: bool = False
    #: Items this run brought to a final status (``None``: every final item in the journal).
    finished_by_run: int | None = None

    @property
    def payouts_per_second(self) -> float:
        """Items this run brought to a final status per second of ``duration``."""
        final = self.finished_by_run
        if final is None:
            final = sum(self.counts.get(s, 0) for s in ("COMPLETED", "DECLINED", "FAILED"))
        return final / self.duration if self.duration > 0 else 0.0

    @property
    def unresolved(self) -> int:
        """Items left for later: a resume (unknown, processing, not started) or a person."""
        return sum(self.counts.get(status.value, 0) for status in UNRESOLVED)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (amounts as strings, figures rounded)."""
        return {
            "total": self.total,
            "counts": dict(self.counts),
            "completed_amounts": {k: str(v) for k, v in self.completed_amounts.items()},
            "requested_amounts": {k: str(v) for k, v in self.requested_amounts.items()},
            "duration": round(self.duration, 3),
            "duration_of": self.duration_of,
            "payouts_per_second": round(self.payouts_per_second, 1),
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
        self.untried = 0

    def add(self, result: ItemResult) -> None:
        self.counts[result.status.value] += 1
        self.requested[result.currency] += result.amount
        if result.status is ItemStatus.COMPLETED and result.reported_amount is not None:
            self.completed[result.reported_currency or result.currency] += result.reported_amount
        if result.status is ItemStatus.NOT_STARTED and not result.attempts:
            self.untried += result.last_error is None
        if result.started_at is not None:
            self.first = min(self.first or result.started_at, result.started_at)
        end = result.finished_at or result.started_at
        if end is not None:
            self.last = max(self.last or end, end)

    def summary(
        self, duration: float | None, interrupted: bool, finished_by_run: int | None
    ) -> Summary:
        span = (self.last - self.first) if self.first is not None and self.last else 0.0
        return Summary(
            total=sum(self.counts.values()),
            counts=dict(sorted(self.counts.items())),
            completed_amounts=dict(sorted(self.completed.items())),
            requested_amounts=dict(sorted(self.requested.items())),
            duration=span if duration is None else duration,
            duration_of="items" if duration is None else "run",
            interrupted=interrupted or bool(self.untried),
            finished_by_run=finished_by_run,
        )


@attrs.frozen(kw_only=True)
class Report:
    """What a batch did: a :class:`Summary` and (unless left out) every :class:`ItemResult`."""

    summary: Summary
    results: tuple[ItemResult, ...] = ()

    @property
    def ok(self) -> bool:
        """True when no item failed, was declined, or is unresolved."""
        counts = self.summary.counts
        return not (counts.get("FAILED") or counts.get("DECLINED") or self.summary.unresolved)

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
        """Write :meth:`to_json` to ``path`` (created 0600)."""
        write_json(path, self.to_json())

    def write_csv(self, path: str | Path) -> None:
        """Write one CSV row per item to ``path`` (created 0600)."""
        write_csv(path, self.results)


def _private(path: str | Path) -> TextIO:
    """``path`` opened for writing text, created 0600 (an existing file is truncated)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    return os.fdopen(fd, "w", newline="", encoding="utf-8")


def write_json(path: str | Path, body: Mapping[str, Any]) -> None:
    """Write ``body`` as indented JSON to ``path`` (created 0600)."""
    with _private(path) as handle:
        handle.write(json.dumps(body, indent=1) + "\n")


#: A spreadsheet reads a cell starting with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """``value`` safe for a spreadsheet: text that could start a formula gets a leading ``'``."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def write_csv(path: str | Path, results: Iterable[ItemResult]) -> None:
    """Write ``results`` as CSV (columns :data:`CSV_COLUMNS`, formula-like cells escaped)."""
    with _private(path) as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for result in results:
            writer.writerow({k: csv_cell(v) for k, v in result.to_json().items()})


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
    finished_by_run: int | None = None,
) -> Report:
    """Read the journal into a :class:`Report` (``duration`` defaults to the items' time span).

    ``interrupted`` is also set when some item was never tried (the run was
    stopped or killed first).
    """
    tally = _Tally()
    results = []
    async for result in iter_results(journal):
        tally.add(result)
        if include_items:
            results.append(result)
    summary = tally.summary(duration, interrupted, finished_by_run)
    return Report(summary=summary, results=tuple(results))
