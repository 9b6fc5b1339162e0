"""The SQLite journal's group commit: the jobs of one commit succeed or fail one by one."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Awaitable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kasha_async import JournalError
from kasha_async.batch import ItemState, JournalRecord, SQLiteJournal


def _record(ref: str, seq: int = 0, **kw: Any) -> JournalRecord:
    return JournalRecord(
        reference=ref, seq=seq, country="AR", currency="ARS", amount=Decimal("2.50"), **kw
    )


def _unstorable(ref: str, seq: int = 0) -> JournalRecord:
    """A record SQLite cannot bind (a list where a text belongs)."""
    return _record(ref, seq, last_error=["not", "text"])


@pytest.fixture
async def journal(tmp_path: Path) -> AsyncIterator[SQLiteJournal]:
    """An open SQLite journal."""
    async with SQLiteJournal(tmp_path / "j.db") as opened:
        yield opened


async def _in_one_commit(journal: SQLiteJournal, *calls: Awaitable[Any]) -> list[Any]:
    """Run ``calls`` so that their jobs wait together and ride one commit; each outcome."""
    started, release = threading.Event(), threading.Event()

    def hold(conn: sqlite3.Connection) -> None:
        started.set()
        release.wait()

    held = asyncio.ensure_future(journal._submit(hold))
    await asyncio.to_thread(started.wait)  # the writer is busy: the next jobs queue up
    tasks = [asyncio.ensure_future(call) for call in calls]
    await asyncio.sleep(0)  # each call has queued its job
    commits = journal.stats.commits
    release.set()
    await held
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert journal.stats.commits == commits + 2  # the held batch, then all of ``calls``
    return outcomes


async def test_a_failing_put_leaves_the_other_puts_of_its_commit_stored(
    journal: SQLiteJournal,
) -> None:
    """One put SQLite refuses raises JournalError; the puts committed with it are durable."""
    await journal.register([_record("a", 0), _record("b", 1), _record("c", 2)])
    outcomes = await _in_one_commit(
        journal,
        journal.put(_record("a", 0, state=ItemState.CREATE_SENT)),
        journal.put(_unstorable("b", 1)),
        journal.put(_record("c", 2, state=ItemState.CREATE_SENT)),
    )
    assert outcomes[0] is None
    assert outcomes[2] is None
    assert isinstance(outcomes[1], JournalError)
    states = {r.reference: r.state async for r in journal.scan()}
    assert states == {
        "a": ItemState.CREATE_SENT,
        "b": ItemState.PLANNED,
        "c": ItemState.CREATE_SENT,
    }


async def test_a_failing_register_is_undone_whole_and_spares_its_commit(
    journal: SQLiteJournal,
) -> None:
    """A register whose second row fails stores none of its rows; a put beside it is stored."""
    outcomes = await _in_one_commit(
        journal,
        journal.register([_record("new", 0), _unstorable("bad", 1)]),
        journal.put(_record("other", 2, state=ItemState.CREATE_SENT)),
    )
    assert isinstance(outcomes[0], JournalError)
    assert outcomes[1] is None
    assert [r.reference async for r in journal.scan()] == ["other"]


async def test_a_put_replaces_every_column_of_the_stored_row(journal: SQLiteJournal) -> None:
    """A later put's empty fields overwrite what an earlier put stored (a restart forgets ids)."""
    await journal.put(
        _record("a", state=ItemState.CREATE_SENT, transaction_id="tx-1", flow="{}", attempts=1)
    )
    await journal.put(_record("a", state=ItemState.PLANNED, attempts=1))
    assert await journal.get("a") == _record("a", state=ItemState.PLANNED, attempts=1)


async def test_a_record_reads_back_as_it_was_put(journal: SQLiteJournal) -> None:
    """Every field, amounts and state included, survives the row and comes back equal."""
    record = _record(
        "a",
        7,
        state=ItemState.MISMATCH,
        session_id="s",
        transaction_id="t",
        payment_option_id="po",
        option_id="d_316",
        status="ERROR",
        attempts=3,
        last_error="set aside",
        decline_code=1100,
        decline_reason="unknown",
        started_at=1.5,
        updated_at=2.25,
        finished_at=3.125,
        flow='{"state": "pending"}',
        reported_amount=Decimal("2.49"),
        reported_currency="ARS",
    )
    await journal.put(record)
    assert await journal.get("a") == record
    assert [r async for r in journal.scan()] == [record]


async def test_a_records_none_fields_are_stored_as_sql_null(
    journal: SQLiteJournal, tmp_path: Path
) -> None:
    """The NULL adapter the journal registers stores None as NULL, read back as None."""
    await journal.put(_record("r1", state=ItemState.CREATE_SENT, last_error=None))
    assert await journal.get("r1") == _record("r1", state=ItemState.CREATE_SENT)
    await journal.close()
    with sqlite3.connect(tmp_path / "j.db") as conn:
        kinds = conn.execute(
            "SELECT typeof(last_error), typeof(session_id), typeof(flow) FROM items"
        ).fetchone()
    assert kinds == ("null", "null", "null")


def test_the_null_adapter_binds_none_without_sqlites_failing_lookup() -> None:
    """None has an adapter (the journal's, unless the application registered its own)."""
    adapter = sqlite3.adapters[(type(None), sqlite3.PrepareProtocol)]
    assert adapter(None) is None
