"""The runner against a fake provider: each item paid once, through crashes, unknowns and stops."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kasha_async import (
    ConfigError,
    KashaClient,
    ServerError,
    SessionGoneError,
    TransactionStatus,
)
from kasha_async.batch import (
    BatchProgress,
    DuplicateReferenceError,
    InputMismatchError,
    ItemState,
    ItemStatus,
    MemoryJournal,
    OpenedSession,
    PayoutItem,
    Report,
    SQLiteJournal,
    approve_held,
    run_payouts,
)
from kasha_async.batch.cli import exit_code

from ._fake import Crash, FakeDriver, make_items, unknown_once


async def _run(
    kasha: KashaClient, items: list[PayoutItem], journal: Path, driver: FakeDriver, **kw: Any
) -> Report:
    return await run_payouts(
        kasha,
        items,
        journal=journal,
        driver=driver,
        retry_delay=0,
        progress=False,
        **kw,
    )


async def test_every_item_is_paid_once_and_completes(kasha: KashaClient, tmp_path: Path) -> None:
    """A clean run creates one payout per reference and reports every item COMPLETED."""
    driver = FakeDriver()
    report = await _run(kasha, make_items(300), tmp_path / "j.db", driver, concurrency=20)
    assert report.summary.counts == {"COMPLETED": 300}
    assert set(driver.payouts().values()) == {1}
    assert len(driver.payouts()) == 300
    assert report.ok


async def test_duplicate_reference_is_rejected_before_anything_is_sent(
    kasha: KashaClient, tmp_path: Path
) -> None:
    """A repeated reference raises before any call and leaves no journal rows."""
    driver = FakeDriver()
    items = [*make_items(5), make_items(1)[0]]
    with pytest.raises(DuplicateReferenceError):
        await _run(kasha, items, tmp_path / "j.db", driver)
    assert sum(driver.calls.values()) == 0


async def test_journal_with_items_needs_resume(kasha: KashaClient, tmp_path: Path) -> None:
    """Running again on a used journal without resume=True is refused, so nobody is paid twice."""
    driver = FakeDriver()
    await _run(kasha, make_items(3), tmp_path / "j.db", driver)
    with pytest.raises(ConfigError):
        await _run(kasha, make_items(3), tmp_path / "j.db", driver)
    assert sum(driver.payouts().values()) == 3


@pytest.mark.parametrize("moment", ["create", "created", "approve", "approved"])
async def test_crash_at_any_step_then_resume_pays_each_once(
    kasha: KashaClient, tmp_path: Path, moment: str
) -> None:
    """A crash around a create or settle is resolved on resume by lookup, never a 2nd payout."""
    crashed: set[str] = set()

    def hook(step: str, ref: str) -> None:
        if step == moment and ref == "aff-000007" and not crashed:
            crashed.add(ref)
            raise Crash

    driver = FakeDriver(hook)
    with pytest.raises(Crash):
        await _run(kasha, make_items(40), tmp_path / "j.db", driver, concurrency=4)
    report = await _run(kasha, make_items(40), tmp_path / "j.db", driver, resume=True)
    assert report.summary.counts == {"COMPLETED": 40}
    assert driver.payouts()["aff-000007"] == 1
    assert set(driver.payouts().values()) == {1}


async def test_unknown_outcome_is_reconciled_not_resent(kasha: KashaClient, tmp_path: Path) -> None:
    """An unknown create that landed is confirmed by lookup; the item completes with one payout."""
    refs = {"aff-000001", "aff-000002"}
    driver = FakeDriver(unknown_once("created", refs))
    report = await _run(kasha, make_items(10), tmp_path / "j.db", driver)
    assert report.summary.counts == {"COMPLETED": 10}
    assert all(driver.payouts()[r] == 1 for r in refs)
    assert driver.calls["create"] == 10


async def test_unresolved_unknown_is_listed_and_a_resume_resolves_it(
    kasha: KashaClient, tmp_path: Path
) -> None:
    """When lookups keep failing the item ends OUTCOME_UNKNOWN; a later resume completes it once."""
    broken = {"lookups": True}

    def hook(step: str, ref: str) -> None:
        if ref == "aff-000003" and step == "created":
            unknown_once("created", {ref})(step, ref) if step not in seen else None
            seen.add(step)
        if ref == "aff-000003" and step == "lookup" and broken["lookups"]:
            from kasha_async import ServerError

            raise ServerError("HTTP 503", status_code=503)

    seen: set[str] = set()
    driver = FakeDriver(hook)
    report = await _run(kasha, make_items(5), tmp_path / "j.db", driver, max_attempts=2)
    assert [r.reference for r in report.unknown] == ["aff-000003"]
    assert not report.ok
    broken["lookups"] = False
    again = await _run(kasha, make_items(5), tmp_path / "j.db", driver, resume=True)
    assert again.summary.counts == {"COMPLETED": 5}
    assert driver.payouts()["aff-000003"] == 1


async def test_hold_stops_at_pending_and_approve_held_settles(
    kasha: KashaClient, tmp_path: Path
) -> None:
    """approve='hold' leaves PENDING payouts; approve_held settles exactly those, once each."""
    driver = FakeDriver()
    held = await _run(kasha, make_items(12), tmp_path / "j.db", driver, approve="hold")
    assert held.summary.counts == {"PENDING": 12}
    assert driver.calls["approve"] == 0
    done = await approve_held(
        kasha, journal=tmp_path / "j.db", driver=driver, retry_delay=0, progress=False
    )
    assert done.summary.counts == {"COMPLETED": 12}
    assert driver.calls["approve"] == 12


async def test_concurrency_is_bounded(kasha: KashaClient, tmp_path: Path) -> None:
    """No more than ``concurrency`` items are in flight at once."""
    driver = FakeDriver()
    await _run(kasha, make_items(200), tmp_path / "j.db", driver, concurrency=7)
    assert 1 < driver.max_in_flight <= 7


class _Stream:
    """A re-iterable input that never holds its items (like a PayoutFile)."""

    def __init__(self, count: int) -> None:
        self.count = count

    def __iter__(self) -> Iterator[PayoutItem]:
        template = make_items(1)[0]
        for i in range(self.count):
            yield PayoutItem(
                reference=f"s-{i}",
                country=template.country,
                currency=template.currency,
                amount=template.amount,
            )


async def test_a_large_batch_is_streamed_not_spawned(kasha: KashaClient) -> None:
    """20,000 items run with at most ``concurrency`` worker tasks alive (memory stays flat)."""
    driver = FakeDriver()
    peak = 0

    def watch(progress: BatchProgress) -> None:
        nonlocal peak
        if progress.done % 5000 == 0:
            peak = max(peak, len(asyncio.all_tasks()))

    journal = MemoryJournal()
    report = await run_payouts(
        kasha,
        _Stream(20_000),
        journal=journal,
        driver=driver,
        concurrency=50,
        approve="hold",
        progress=False,
        on_progress=watch,
        include_items=False,
    )
    assert report.summary.counts == {"PENDING": 20_000}
    assert peak <= 50 + 2


async def test_stop_event_interrupts_and_resume_finishes(
    kasha: KashaClient, tmp_path: Path
) -> None:
    """Setting stop ends the run early and resumably; the resume pays the rest, once each."""
    stop = asyncio.Event()

    def on_progress(progress: BatchProgress) -> None:
        if progress.done >= 20:
            stop.set()

    driver = FakeDriver()
    first = await _run(
        kasha,
        make_items(200),
        tmp_path / "j.db",
        driver,
        concurrency=5,
        stop=stop,
        on_progress=on_progress,
    )
    assert first.summary.interrupted
    assert first.summary.counts.get("COMPLETED", 0) < 200
    second = await _run(kasha, make_items(200), tmp_path / "j.db", driver, resume=True)
    assert second.summary.counts == {"COMPLETED": 200}
    assert set(driver.payouts().values()) == {1}


async def test_cancel_leaves_a_resumable_journal(kasha: KashaClient, tmp_path: Path) -> None:
    """Cancelling mid-batch leaves every created payout journaled; a resume completes each once."""
    driver = FakeDriver()
    task = asyncio.create_task(
        _run(kasha, make_items(500), tmp_path / "j.db", driver, concurrency=10)
    )
    for _ in range(10_000):  # let the batch get well under way
        if driver.calls["create"] >= 50:
            break
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with SQLiteJournal(tmp_path / "j.db") as journal:
        states = {r.reference: r.state async for r in journal.scan()}
    assert all(states[ref] is not ItemState.PLANNED for ref in driver.payouts())
    report = await _run(kasha, make_items(500), tmp_path / "j.db", driver, resume=True)
    assert report.summary.counts == {"COMPLETED": 500}
    assert set(driver.payouts().values()) == {1}


async def test_changed_amount_on_resume_is_refused(kasha: KashaClient, tmp_path: Path) -> None:
    """An item whose amount changed since it was journaled stops the resume."""
    driver = FakeDriver()
    await _run(kasha, make_items(2), tmp_path / "j.db", driver, approve="hold")
    changed = [PayoutItem(reference="aff-000000", country="BR", currency="BRL", amount="99")]
    with pytest.raises(InputMismatchError):
        await _run(kasha, changed, tmp_path / "j.db", driver, resume=True)


async def test_final_items_are_skipped_on_resume(kasha: KashaClient, tmp_path: Path) -> None:
    """A resume of a finished batch makes no call at all."""
    driver = FakeDriver()
    await _run(kasha, make_items(30), tmp_path / "j.db", driver)
    before = sum(driver.calls.values())
    report = await _run(kasha, make_items(30), tmp_path / "j.db", driver, resume=True)
    assert sum(driver.calls.values()) == before
    assert report.summary.counts == {"COMPLETED": 30}
    async with SQLiteJournal(tmp_path / "j.db") as journal:
        states = {r.state async for r in journal.scan()}
    assert states == {ItemState.COMPLETED}
    assert ItemStatus.COMPLETED.value in report.summary.counts


class _ExpiresAfterLanding(FakeDriver):
    """The first create of ``reference`` lands, then the call fails with 410 (the session ran out
    while the client was resending it); with ``lands=False`` it fails with 410 without landing."""

    def __init__(self, reference: str, *, lands: bool) -> None:
        super().__init__()
        self.reference = reference
        self.lands = lands

    async def create(self, item: PayoutItem, session: OpenedSession) -> None:
        """Create (or not), then answer 410 the first time for ``reference``."""
        if item.reference == self.reference and self.calls["gone"] == 0:
            self.calls["gone"] += 1
            if self.lands:
                await super().create(item, session)
            else:
                self.status[session.transaction_id] = TransactionStatus.EXPIRED
            raise SessionGoneError("HTTP 410: Session expired.", status_code=410)
        await super().create(item, session)


@pytest.mark.parametrize(("lands", "opens"), [(True, 5), (False, 6)], ids=["landed", "unused"])
async def test_a_410_on_a_create_is_looked_up_before_a_new_session(
    kasha: KashaClient, tmp_path: Path, lands: bool, opens: int
) -> None:
    """A 410 on a create opens a new session only if the lookup proves the old one unused."""
    driver = _ExpiresAfterLanding("aff-000002", lands=lands)
    report = await _run(kasha, make_items(5), tmp_path / "j.db", driver)
    assert report.summary.counts == {"COMPLETED": 5}
    assert driver.payouts()["aff-000002"] == 1
    assert driver.calls["open"] == opens


async def test_an_item_that_never_started_is_unresolved_not_failed(
    kasha: KashaClient, tmp_path: Path
) -> None:
    """An item whose session could never be opened is NOT_STARTED (exit 3), and a resume pays it."""
    broken = {"open": True}

    def hook(step: str, ref: str) -> None:
        if step == "open" and ref == "aff-000001" and broken["open"]:
            raise ServerError("HTTP 503", status_code=503)

    driver = FakeDriver(hook)
    report = await _run(kasha, make_items(3), tmp_path / "j.db", driver, max_attempts=2)
    assert report.summary.counts == {"COMPLETED": 2, "NOT_STARTED": 1}
    assert [r.final for r in report.results] == [True, False, True]
    assert exit_code(report) == 3
    broken["open"] = False
    again = await _run(kasha, make_items(3), tmp_path / "j.db", driver, resume=True)
    assert again.summary.counts == {"COMPLETED": 3}


async def test_a_hold_resume_records_an_unsettled_payout_as_held_and_never_settles(
    kasha: KashaClient, tmp_path: Path
) -> None:
    """A settle intent that never landed, resumed with approve='hold', is PENDING, not unknown."""

    def crash_before_approve(step: str, ref: str) -> None:
        if step == "approve" and ref == "aff-000001":
            raise Crash

    driver = FakeDriver(crash_before_approve)
    with pytest.raises(Crash):
        await _run(kasha, make_items(3), tmp_path / "j.db", driver, concurrency=1)
    driver.hook = None
    approvals = driver.calls["approve"]
    report = await _run(
        kasha, make_items(3), tmp_path / "j.db", driver, resume=True, approve="hold"
    )
    assert report.summary.counts == {"COMPLETED": 1, "PENDING": 2}
    assert driver.calls["approve"] == approvals


class _WatchingDriver(FakeDriver):
    """Reads the SQLite file from its own connection at every money-moving call."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.seen: list[tuple[str, str, bool]] = []

    def _look(self, step: str, reference: str, transaction_id: str) -> None:
        conn = sqlite3.connect(self.path)
        try:
            sql = "SELECT state, transaction_id FROM items WHERE reference = ?"
            state, journaled_tx = conn.execute(sql, (reference,)).fetchone()
        finally:
            conn.close()
        self.seen.append((step, state, journaled_tx == transaction_id))

    async def create(self, item: PayoutItem, session: OpenedSession) -> None:
        """Look at the journal, then create."""
        self._look("create", item.reference, session.transaction_id)
        await super().create(item, session)

    async def approve(self, session: OpenedSession) -> TransactionStatus:
        """Look at the journal, then approve."""
        tx = session.transaction_id
        self._look("approve", self.ref_of[tx], tx)
        return await super().approve(session)


async def test_each_intent_is_committed_before_its_money_moving_call(
    kasha: KashaClient, tmp_path: Path
) -> None:
    """At every create and approve, another connection already reads the *_SENT intent and id."""
    driver = _WatchingDriver(tmp_path / "j.db")
    report = await _run(kasha, make_items(10), tmp_path / "j.db", driver, concurrency=3)
    assert report.summary.counts == {"COMPLETED": 10}
    assert sorted(driver.seen) == sorted(
        [("create", "create_sent", True), ("approve", "settle_sent", True)] * 10
    )


async def test_approve_held_reconciles_a_settle_whose_answer_was_lost(
    kasha: KashaClient, tmp_path: Path
) -> None:
    """A held payout's settle that landed without an answer is looked up, not approved twice."""
    driver = FakeDriver()
    await _run(kasha, make_items(4), tmp_path / "j.db", driver, approve="hold")
    driver.hook = unknown_once("approved", {"aff-000002"})
    report = await approve_held(
        kasha, journal=tmp_path / "j.db", driver=driver, retry_delay=0, progress=False
    )
    assert report.summary.counts == {"COMPLETED": 4}
    assert driver.calls["approve"] == 4
