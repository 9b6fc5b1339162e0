"""The PostgreSQL journal: schema migration, exclusive claims, leases, write-ahead, takeover."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import asyncpg
import attrs
import pytest

from kasha_async import ConfigError, KashaClient, OutcomeUnknownError, TransactionStatus
from kasha_async.batch import (
    InputMismatchError,
    ItemState,
    LeaseLostError,
    OpenedSession,
    PayoutItem,
    PostgresJournal,
    approve_held,
    run_payouts,
    run_worker,
    submit_payouts,
)
from kasha_async.batch._postgres import migrate
from tests.batch._fake import Crash, FakeDriver, make_items


@pytest.fixture
async def db(pg_dsn: str) -> AsyncIterator[Any]:
    """A plain connection to the test database, for looking at the tables."""
    conn = await asyncpg.connect(pg_dsn)
    yield conn
    await conn.close()


async def _versions(db: Any) -> list[int]:
    return [r["version"] for r in await db.fetch("SELECT version FROM kasha_batch.schema_version")]


async def test_migration_runs_once_however_often_and_concurrently_it_is_applied(
    pg_dsn: str, db: Any
) -> None:
    """Four journals opening at once plus two more migrations leave one schema, each step once."""
    journals = [PostgresJournal(pg_dsn) for _ in range(4)]
    await asyncio.gather(*(j.open() for j in journals))
    assert await migrate(db) == 2
    assert await migrate(db) == 2
    for journal in journals:
        await journal.close()
    assert await _versions(db) == [1, 2]
    tables = await db.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'kasha_batch'"
    )
    assert {t["table_name"] for t in tables} == {"schema_version", "batches", "items", "inputs"}


async def test_a_newer_schema_than_the_package_knows_is_refused(pg_dsn: str, db: Any) -> None:
    """A journal written by a newer kasha-async is not touched by an older one."""
    async with PostgresJournal(pg_dsn):
        pass
    await db.execute("INSERT INTO kasha_batch.schema_version (version) VALUES (99)")
    with pytest.raises(ConfigError, match="version 99"):
        await PostgresJournal(pg_dsn).open()


async def test_two_claimers_never_get_the_same_item(pg_dsn: str) -> None:
    """Concurrent claims by two workers split the batch: disjoint, and together complete."""
    async with (
        PostgresJournal(pg_dsn, worker_id="a") as a,
        PostgresJournal(pg_dsn, worker_id="b") as b,
    ):
        await submit_payouts(a, make_items(300))

        async def drain(journal: PostgresJournal) -> list[str]:
            got: list[str] = []
            while claims := await journal.claim(7, hold=False):
                got += [c.record.reference for c in claims]
            return got

        got_a, got_b = await asyncio.gather(drain(a), drain(b))
    assert not set(got_a) & set(got_b)
    assert sorted(got_a + got_b) == [item.reference for item in make_items(300)]
    assert got_a
    assert got_b


async def test_an_expired_lease_is_taken_over_and_its_old_owner_fenced_off(pg_dsn: str) -> None:
    """Once a's lease runs out, b claims the item; a's late write is refused with LeaseLostError."""
    async with (
        PostgresJournal(pg_dsn, worker_id="a", lease=0.3) as a,
        PostgresJournal(pg_dsn, worker_id="b") as b,
    ):
        await submit_payouts(a, make_items(3))
        mine = await a.claim(10, hold=False)
        assert len(mine) == 3
        assert await b.claim(10, hold=False) == []  # a holds them
        taken = []
        for _ in range(100):
            if taken := await b.claim(10, hold=False):
                break
            await asyncio.sleep(0.05)
        assert [c.taken_over_from for c in taken] == ["a"] * 3
        with pytest.raises(LeaseLostError):
            await a.put(mine[0].record.evolve(state=ItemState.FAILED))
        await b.put(taken[0].record.evolve(state=ItemState.FAILED))
        assert (await b.get(taken[0].record.reference)) == taken[0].record.evolve(
            state=ItemState.FAILED
        )


async def test_heartbeat_renews_every_lease_a_worker_holds(pg_dsn: str, db: Any) -> None:
    """renew() pushes the expiry of each of the worker's leases forward, and only theirs."""
    async with PostgresJournal(pg_dsn, worker_id="a", lease=60) as a:
        await submit_payouts(a, make_items(5))
        await a.claim(3, hold=False)
        before = await db.fetchval("SELECT max(lease_expires_at) FROM kasha_batch.items")
        await asyncio.sleep(0.01)
        assert await a.renew() == 3
        after = await db.fetchval("SELECT min(lease_expires_at) FROM kasha_batch.items")
        assert after > before
        owners = await db.fetch("SELECT lease_owner FROM kasha_batch.items ORDER BY seq")
        assert [o["lease_owner"] for o in owners] == ["a"] * 3 + [None] * 2


class _WatchingDriver(FakeDriver):
    """Records the journaled row (read from another connection) at each money-moving call."""

    def __init__(self, db: Any) -> None:
        super().__init__()
        self.db = db
        self.seen: list[tuple[str, str, bool]] = []

    async def _look(self, step: str, reference: str, transaction_id: str) -> None:
        row = await self.db.fetchrow(
            "SELECT state, transaction_id FROM kasha_batch.items WHERE reference = $1", reference
        )
        self.seen.append((step, row["state"], row["transaction_id"] == transaction_id))

    async def create(self, item: PayoutItem, session: OpenedSession) -> None:
        """Look at the journal, then create."""
        await self._look("create", item.reference, session.transaction_id)
        await super().create(item, session)

    async def approve(self, session: OpenedSession) -> TransactionStatus:
        """Look at the journal, then approve."""
        tx = session.transaction_id
        await self._look("approve", self.ref_of[tx], tx)
        return await super().approve(session)


async def test_each_intent_is_committed_before_its_money_moving_call(
    kasha: KashaClient, pg_dsn: str, db: Any
) -> None:
    """At every create and approve, another connection already sees the *_SENT intent and tx id."""
    driver = _WatchingDriver(db)
    report = await run_payouts(
        kasha, make_items(10), journal=pg_dsn, driver=driver, concurrency=1, progress=False
    )
    assert report.summary.counts == {"COMPLETED": 10}
    assert driver.seen == [("create", "create_sent", True), ("approve", "settle_sent", True)] * 10


async def test_a_dead_workers_in_doubt_items_are_reconciled_not_resent(
    kasha: KashaClient, pg_dsn: str
) -> None:
    """A worker dying right after a create landed: the taker looks it up and pays nobody twice."""
    items = make_items(40)

    def crash_after_create(step: str, ref: str) -> None:
        if step == "created" and ref == items[10].reference:
            raise Crash

    driver = FakeDriver(crash_after_create)
    dead = PostgresJournal(pg_dsn, worker_id="dead", lease=0.5)
    await dead.open()
    await submit_payouts(dead, items)
    with pytest.raises(Crash):
        await run_worker(kasha, journal=dead, driver=driver, concurrency=8, progress=False)
    await dead.close(release=False)  # its leases stay until they expire
    driver.hook = None

    async with PostgresJournal(pg_dsn, worker_id="taker", lease=0.5) as taker:
        report = await run_worker(
            kasha, journal=taker, driver=driver, concurrency=8, retry_delay=0, progress=False
        )
    assert report.summary.counts == {"COMPLETED": 40}
    assert driver.payouts() == {item.reference: 1 for item in items}
    assert taker.taken_over >= 1
    assert driver.calls["lookup"] >= 1  # the in-doubt create was looked up, not resent blindly


async def test_submit_is_idempotent_and_refuses_changed_or_foreign_items(pg_dsn: str) -> None:
    """Submitting again changes nothing; a changed amount or a foreign reference is refused."""
    items = make_items(5)
    assert await submit_payouts(pg_dsn, items) == 5
    assert await submit_payouts(pg_dsn, items) == 5
    changed = [*items[:4], attrs.evolve(items[4], amount=Decimal("99.00"))]
    with pytest.raises(InputMismatchError):
        await submit_payouts(pg_dsn, changed)
    async with PostgresJournal(pg_dsn, batch="other") as other:
        with pytest.raises(ConfigError, match="belongs to batch 'default'"):
            await submit_payouts(other, items[:1])
    with pytest.raises(ConfigError, match="approve='auto'"):
        await submit_payouts(pg_dsn, items, approve="hold")
    async with PostgresJournal(pg_dsn) as journal:
        assert await journal.count() == 5
        with pytest.raises(ConfigError):
            await journal.register([])


async def test_bank_details_are_deleted_once_the_payout_exists(
    kasha: KashaClient, pg_dsn: str, db: Any
) -> None:
    """extra_data is stored for the workers at submit and gone from the database after the run."""
    await submit_payouts(pg_dsn, make_items(20))
    stored = await db.fetch("SELECT extra_data FROM kasha_batch.inputs")
    assert len(stored) == 20
    assert '"Jane Roe"' in stored[0]["extra_data"]
    report = await run_worker(kasha, journal=pg_dsn, driver=FakeDriver(), progress=False)
    assert report.summary.counts == {"COMPLETED": 20}
    assert await db.fetchval("SELECT count(*) FROM kasha_batch.inputs") == 0
    leased = "SELECT count(*) FROM kasha_batch.items WHERE lease_owner IS NOT NULL"
    assert await db.fetchval(leased) == 0


async def test_a_hold_batch_stops_at_pending_until_approved(
    kasha: KashaClient, pg_dsn: str
) -> None:
    """Workers leave a hold batch PENDING; approve_held switches it to auto and settles it."""
    driver = FakeDriver()
    await submit_payouts(pg_dsn, make_items(12), approve="hold")
    held = await run_worker(kasha, journal=pg_dsn, driver=driver, progress=False)
    assert held.summary.counts == {"PENDING": 12}
    assert driver.calls["approve"] == 0
    approved = await approve_held(kasha, journal=pg_dsn, driver=driver, progress=False)
    assert approved.summary.counts == {"COMPLETED": 12}
    assert set(driver.payouts().values()) == {1}


async def test_an_item_out_of_attempts_is_parked_then_left_stuck_until_retried(
    kasha: KashaClient, pg_dsn: str, db: Any
) -> None:
    """An undecidable item is set aside max_parks times, reported unknown, and unpark() frees it."""
    items = make_items(3)
    stuck = items[1].reference

    def never_answers(step: str, ref: str) -> None:
        if ref == stuck and step in ("created", "lookup"):
            raise OutcomeUnknownError("connection reset after the request was written")

    driver = FakeDriver(never_answers)
    await submit_payouts(pg_dsn, items)
    async with PostgresJournal(pg_dsn, max_parks=2) as journal:
        report = await run_worker(
            kasha, journal=journal, driver=driver, max_attempts=2, retry_delay=0, progress=False
        )
        assert report.summary.counts == {"COMPLETED": 2, "OUTCOME_UNKNOWN": 1}
        parks = "SELECT parks FROM kasha_batch.items WHERE reference = $1"
        assert await db.fetchval(parks, stuck) == 2
        driver.hook = None
        assert await journal.unpark() == 1
        report = await run_worker(kasha, journal=journal, driver=driver, progress=False)
    assert report.summary.counts == {"COMPLETED": 3}
    assert driver.payouts()[stuck] == 1


async def test_a_stopped_worker_gives_its_leases_back_for_the_next_one(
    kasha: KashaClient, pg_dsn: str, db: Any
) -> None:
    """A stopped worker ends early with nothing leased; the next one pays the rest, once each."""
    driver = FakeDriver()
    stop = asyncio.Event()
    await submit_payouts(pg_dsn, make_items(200))
    first = await run_worker(
        kasha,
        journal=pg_dsn,
        driver=driver,
        concurrency=4,
        stop=stop,
        progress=False,
        on_progress=lambda p: stop.set() if p.done >= 20 else None,
    )
    assert first.summary.interrupted
    assert 20 <= first.summary.counts["COMPLETED"] < 200
    leased = "SELECT count(*) FROM kasha_batch.items WHERE lease_owner IS NOT NULL"
    assert await db.fetchval(leased) == 0
    second = await run_worker(kasha, journal=pg_dsn, driver=driver, progress=False)
    assert second.summary.counts == {"COMPLETED": 200}
    assert set(driver.payouts().values()) == {1}


class _NoHeartbeat(PostgresJournal):
    """A journal whose heartbeat cannot reach the database (its leases run out in flight)."""

    async def renew(self) -> int:
        """Fail like an unreachable database."""
        raise OSError("database unreachable")


class _SlowOpen(FakeDriver):
    """Opening ``reference``'s session stalls until its lease has expired and the feed polled."""

    def __init__(self, db: Any, reference: str) -> None:
        super().__init__()
        self.db = db
        self.reference = reference

    async def open(self, item: PayoutItem, *, redirect_url: str) -> OpenedSession:
        """Stall past the lease for ``reference``, then open."""
        if item.reference == self.reference and self.calls["stalled"] == 0:
            self.calls["stalled"] += 1
            expired = "SELECT lease_expires_at < now() FROM kasha_batch.items WHERE reference = $1"
            for _ in range(500):
                if await self.db.fetchval(expired, item.reference):
                    break
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.5)  # several claim polls with this slot's item claimable
        return await super().open(item, redirect_url=redirect_url)


async def test_a_worker_never_runs_an_item_twice_when_its_own_lease_ran_out(
    kasha: KashaClient, pg_dsn: str, db: Any
) -> None:
    """An item whose lease expired under its own stalled worker is not claimed again by it."""
    items = make_items(3)
    driver = _SlowOpen(db, items[0].reference)
    await submit_payouts(pg_dsn, items)
    async with _NoHeartbeat(pg_dsn, lease=0.2) as journal:
        report = await run_worker(
            kasha, journal=journal, driver=driver, concurrency=4, retry_delay=0, progress=False
        )
    assert report.summary.counts == {"COMPLETED": 3}
    assert driver.payouts() == {item.reference: 1 for item in items}
    assert driver.calls["open"] == 3
