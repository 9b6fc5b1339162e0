"""Input files, the SQLite journal and the report: validation before sending, durability, totals."""

from __future__ import annotations

import csv
import json
import sqlite3
from decimal import Decimal
from pathlib import Path

import attrs
import pytest
from click.testing import CliRunner

from kasha_async import IllegalTransitionError
from kasha_async.batch import (
    InputFileError,
    ItemState,
    JournalRecord,
    SQLiteJournal,
    build_report,
    load_items,
)
from kasha_async.batch._journal import item_transition
from kasha_async.batch._report import Summary
from kasha_async.batch.cli import _timing
from kasha_async.cli import main

_HEADER = "reference,country,currency,amount,option_id,customer_name,extra.name\n"


def test_csv_rows_become_items(tmp_path: Path) -> None:
    """CSV columns map to items: customer_* to the customer, extra.* to extra_data."""
    path = tmp_path / "in.csv"
    path.write_text(_HEADER + "a-1,AR,ARS,200,d_317,Jane Roe,Jane Roe\n", encoding="utf-8")
    [item] = list(load_items(path))
    assert item.amount == Decimal("200")
    assert item.customer.name == "Jane Roe"
    assert dict(item.extra_data) == {"name": "Jane Roe"}
    assert item.option == "Bank Transfer"


def test_malformed_rows_are_reported_with_line_numbers(tmp_path: Path) -> None:
    """Every bad row and duplicate is named by its line; the file is rejected as a whole."""
    path = tmp_path / "in.csv"
    body = "a-1,AR,ARS,200,,,\na-2,ar,ARS,1.234,,,\na-1,AR,ARS,5,,,\n"
    path.write_text(_HEADER + body, encoding="utf-8")
    with pytest.raises(InputFileError) as info:
        load_items(path)
    problems = info.value.problems
    assert problems[0].startswith("line 3:")
    assert "country" in problems[0]
    assert "decimal places" in problems[0]
    assert problems[1] == "line 4: duplicate reference 'a-1' (line 2)"


def test_json_errors_name_the_line_of_the_element(tmp_path: Path) -> None:
    """In a JSON array the line an element starts on is reported."""
    path = tmp_path / "in.json"
    good = {"reference": "a", "country": "BR", "currency": "BRL", "amount": "1"}
    path.write_text(
        "[\n"
        + json.dumps(good)
        + ",\n"
        + json.dumps({**good, "reference": "b", "amount": -1})
        + "\n]",
        encoding="utf-8",
    )
    with pytest.raises(InputFileError) as info:
        load_items(path)
    assert info.value.problems == ("line 3: amount must be positive, got -1",)


def test_cli_sends_nothing_for_a_malformed_file(tmp_path: Path) -> None:
    """``kasha payouts run`` on a bad file exits 2 and creates no journal."""
    path = tmp_path / "in.csv"
    path.write_text(_HEADER + "a-1,AR,ARS,oops,,,\n", encoding="utf-8")
    result = CliRunner().invoke(
        main,
        ["payouts", "run", str(path), "--journal", str(tmp_path / "j.db")],
        env={"KASHA_BASE_URL": "http://127.0.0.1:9", "KASHA_API_KEY": "k"},
    )
    assert result.exit_code == 2
    assert "line 2" in result.output
    assert not (tmp_path / "j.db").exists()


def _record(ref: str, seq: int, **kw: object) -> JournalRecord:
    return JournalRecord(
        reference=ref,
        seq=seq,
        country="AR",
        currency="ARS",
        amount=Decimal("2.50"),
        **kw,  # type: ignore[arg-type]
    )


async def test_sqlite_journal_is_wal_and_keeps_what_was_put(tmp_path: Path) -> None:
    """A put is on disk (WAL mode) when it returns, and register keeps existing rows as they are."""
    path = tmp_path / "j.db"
    async with SQLiteJournal(path) as journal:
        await journal.register([_record("a", 0), _record("b", 1)])
        await journal.put(_record("a", 0, state=ItemState.CREATE_SENT, transaction_id="tx-1"))
        again = await journal.register([_record("a", 0), _record("c", 2)])
        assert [r.state for r in again] == [ItemState.CREATE_SENT, ItemState.PLANNED]
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        row = conn.execute("SELECT state, transaction_id FROM items WHERE reference='a'").fetchone()
    finally:
        conn.close()
    assert row == ("create_sent", "tx-1")


async def test_journal_stores_no_customer_or_bank_data(tmp_path: Path) -> None:
    """The journal's columns hold ids, states and amounts only."""
    async with SQLiteJournal(tmp_path / "j.db") as journal:
        await journal.register([_record("a", 0)])
    conn = sqlite3.connect(tmp_path / "j.db")
    try:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(items)")}
    finally:
        conn.close()
    assert not columns & {"customer", "extra_data", "api_key", "name", "account"}


async def test_report_counts_amounts_and_files(tmp_path: Path) -> None:
    """The summary counts statuses and sums completed amounts per currency; CSV and JSON follow."""
    async with SQLiteJournal(tmp_path / "j.db") as journal:
        await journal.register([_record(f"r{i}", i) for i in range(4)])
        await journal.put(
            _record(
                "r0",
                0,
                state=ItemState.COMPLETED,
                started_at=1.0,
                finished_at=3.0,
                reported_amount=Decimal("2.50"),
                reported_currency="ARS",
            )
        )
        await journal.put(_record("r1", 1, state=ItemState.DECLINED, decline_code=3001))
        await journal.put(_record("r2", 2, state=ItemState.SETTLE_SENT, transaction_id="t2"))
        report = await build_report(journal)
    assert report.summary.counts == {
        "COMPLETED": 1,
        "DECLINED": 1,
        "NOT_STARTED": 1,
        "OUTCOME_UNKNOWN": 1,
    }
    assert report.summary.completed_amounts == {"ARS": Decimal("2.50")}
    assert [r.reference for r in report.unknown] == ["r2"]
    report.write_csv(tmp_path / "r.csv")
    report.write_json(tmp_path / "r.json")
    assert (tmp_path / "r.csv").read_text().count("\n") == 5
    assert json.loads((tmp_path / "r.json").read_text())["items"][0]["seconds"] == 2.0


async def test_completed_totals_are_what_the_provider_reported(tmp_path: Path) -> None:
    """Completed totals sum the provider's reported amounts, not the input's."""
    async with SQLiteJournal(tmp_path / "j.db") as journal:
        await journal.register([_record("r0", 0)])
        paid = _record("r0", 0, state=ItemState.COMPLETED, reported_amount=Decimal("2.49"))
        await journal.put(paid.evolve(reported_currency="ARS"))
        report = await build_report(journal)
    assert report.summary.completed_amounts == {"ARS": Decimal("2.49")}
    assert report.summary.requested_amounts == {"ARS": Decimal("2.50")}


async def test_report_amounts_show_the_currencys_places_without_changing_them(
    tmp_path: Path,
) -> None:
    """Reported 2000.0 ARS shows 2000.00 (table, JSON, CSV), 0.5 USDT 0.50000000, 1.234 as is."""
    rows = [
        ("r0", "ARS", "2000", "2000.0"),
        ("r1", "USDT", "0.5", "0.5"),
        ("r2", "ARS", "1", "1.234"),
    ]
    async with SQLiteJournal(tmp_path / "j.db") as journal:
        await journal.register(
            [
                _record(ref, i).evolve(currency=cur, amount=Decimal(amount))
                for i, (ref, cur, amount, _) in enumerate(rows)
            ]
        )
        for i, (ref, cur, amount, reported) in enumerate(rows):
            done = _record(ref, i, state=ItemState.COMPLETED, reported_amount=Decimal(reported))
            await journal.put(done.evolve(currency=cur, amount=Decimal(amount)))
        report = await build_report(journal)
    body = report.to_json()
    assert [i["reported_amount"] for i in body["items"]] == ["2000.00", "0.50000000", "1.234"]
    assert [i["amount"] for i in body["items"]] == ["2000.00", "0.50000000", "1.00"]
    assert body["summary"]["completed_amounts"] == {"ARS": "2001.234", "USDT": "0.50000000"}
    assert body["summary"]["requested_amounts"] == {"ARS": "2001.00", "USDT": "0.50000000"}
    report.write_csv(tmp_path / "r.csv")
    with (tmp_path / "r.csv").open(encoding="utf-8") as handle:
        assert next(row["reported_amount"] for row in csv.DictReader(handle)) == "2000.00"


def test_the_summary_says_what_its_duration_measures() -> None:
    """A run's summary says "this run"; a journal read later says "first item ... last finished"."""
    run = Summary(
        total=1,
        counts={"COMPLETED": 1},
        completed_amounts={},
        requested_amounts={},
        duration=0.117,
        finished_by_run=5,
    )
    later = attrs.evolve(run, duration=0.055, duration_of="items", finished_by_run=None)
    assert run.to_json()["duration_of"] == "run"
    assert later.to_json()["duration_of"] == "items"
    assert _timing(run) == "0.1 s this run, 42.7 payouts/s finished by it"
    assert _timing(later) == "0.1 s first item started to last finished, 18.2 payouts/s"


async def test_report_totals_per_currency_match_the_journal(tmp_path: Path) -> None:
    """Counts, completed and requested totals per currency equal sums over the journal's rows."""
    states = [ItemState.COMPLETED, ItemState.DECLINED, ItemState.PENDING, ItemState.PLANNED]
    currencies = ["ARS", "BRL", "USDT"]
    records = [
        JournalRecord(
            reference=f"r{i}",
            seq=i,
            country="AR",
            currency=currencies[i % 3],
            amount=Decimal(f"{i}.{i % 7}1"),
            state=states[i % 4],
            reported_amount=Decimal(f"{i}.{i % 7}1")
            if states[i % 4] is ItemState.COMPLETED
            else None,
            reported_currency=currencies[i % 3] if states[i % 4] is ItemState.COMPLETED else None,
        )
        for i in range(60)
    ]
    async with SQLiteJournal(tmp_path / "j.db") as journal:
        await journal.register([r.evolve(state=ItemState.PLANNED) for r in records])
        for record in records:
            await journal.put(record)
        report = await build_report(journal)
        rows = [r async for r in journal.scan()]
    completed: dict[str, Decimal] = {}
    requested: dict[str, Decimal] = {}
    for row in rows:
        requested[row.currency] = requested.get(row.currency, Decimal(0)) + row.amount
        if row.state is ItemState.COMPLETED:
            completed[row.currency] = completed.get(row.currency, Decimal(0)) + row.amount
    assert report.summary.requested_amounts == requested
    assert report.summary.completed_amounts == completed
    assert report.summary.counts == {
        "COMPLETED": 15,
        "DECLINED": 15,
        "NOT_STARTED": 15,
        "PENDING": 15,
    }
    assert report.summary.total == len(rows) == 60


async def test_a_version_1_journal_is_migrated_in_place(tmp_path: Path) -> None:
    """A journal of schema 1 gains the flow and reported-amount columns and keeps its rows."""
    conn = sqlite3.connect(tmp_path / "j.db")
    try:
        conn.executescript(
            "CREATE TABLE items (reference TEXT PRIMARY KEY, seq INTEGER NOT NULL, country TEXT "
            "NOT NULL, currency TEXT NOT NULL, amount TEXT NOT NULL, state TEXT NOT NULL, "
            "session_id TEXT, transaction_id TEXT, payment_option_id TEXT, option_id TEXT, "
            "status TEXT, attempts INTEGER NOT NULL, last_error TEXT, decline_code INTEGER, "
            "decline_reason TEXT, started_at REAL, updated_at REAL, finished_at REAL);"
            "INSERT INTO items VALUES ('a', 0, 'AR', 'ARS', '2.50', 'completed', NULL, NULL, "
            "NULL, NULL, NULL, 1, NULL, NULL, NULL, NULL, NULL, NULL);"
            "PRAGMA user_version = 1;"
        )
    finally:
        conn.close()
    async with SQLiteJournal(tmp_path / "j.db") as journal:
        record = await journal.get("a")
    assert record is not None
    assert (record.state, record.flow, record.reported_amount) == (ItemState.COMPLETED, None, None)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (ItemState.COMPLETED, ItemState.PLANNED),
        (ItemState.MISMATCH, ItemState.SETTLE_SENT),
        (ItemState.PLANNED, ItemState.SETTLE_SENT),
        (ItemState.PROCESSING, ItemState.CREATE_SENT),
    ],
)
def test_the_item_table_refuses_moves_it_does_not_list(
    current: ItemState, target: ItemState
) -> None:
    """A final item never moves again, and no send is skipped past its intent."""
    with pytest.raises(IllegalTransitionError):
        item_transition(current, target)
    assert item_transition(current, current) is current
