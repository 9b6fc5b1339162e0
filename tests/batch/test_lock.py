"""One live runner per SQLite journal: an OS lock that a killed process gives back."""

from __future__ import annotations

import asyncio
import stat
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from kasha_async import Customer, JournalLockedError, KashaClient
from kasha_async.batch import PayoutItem, SQLiteJournal, run_payouts
from kasha_async.sandbox import Sandbox

from ._chaos import cli, write_items

_HOLD = """
import asyncio, sys
from kasha_async.batch import SQLiteJournal

async def main():
    journal = SQLiteJournal(sys.argv[1])
    await journal.open()
    print("locked", flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


def _payouts(sandbox: Sandbox) -> int:
    ledger = sandbox.ledger()
    return sum(1 for tx_id in ledger.transactions if ledger.kinds[tx_id] == "payout")


def _item(reference: str) -> PayoutItem:
    return PayoutItem(
        reference=reference,
        country="BR",
        currency="BRL",
        amount=Decimal("10.00"),
        customer=Customer(name="Jane Roe"),
        option_id="d_316",
        extra_data={"name": "Jane Roe", "account": "1234567"},
    )


async def test_a_second_opener_is_refused_until_the_first_closes(tmp_path: Path) -> None:
    """Two journals on one file in one process: the second open raises JournalLockedError."""
    first = SQLiteJournal(tmp_path / "j.db")
    await first.open()
    second = SQLiteJournal(tmp_path / "j.db")
    with pytest.raises(JournalLockedError, match="in use by another live run"):
        await second.open()
    await first.close()
    await second.open()
    await second.close()


async def test_a_killed_holder_never_blocks_the_resume(tmp_path: Path) -> None:
    """A live holder in another process locks the journal; once SIGKILLed, it opens again."""
    path = tmp_path / "j.db"
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _HOLD, str(path), stdout=asyncio.subprocess.PIPE
    )
    assert holder.stdout is not None
    assert await holder.stdout.readline() == b"locked\n"
    with pytest.raises(JournalLockedError):
        await SQLiteJournal(path).open()
    holder.kill()
    await holder.wait()
    async with SQLiteJournal(path) as journal:
        assert await journal.count() == 0


async def test_run_payouts_on_a_held_journal_sends_nothing(
    kasha_sandbox: Sandbox, kasha_client: KashaClient, tmp_path: Path
) -> None:
    """run_payouts on a journal another runner holds raises at once; the ledger gets nothing."""
    async with SQLiteJournal(tmp_path / "j.db"):
        with pytest.raises(JournalLockedError):
            await run_payouts(
                kasha_client, [_item("lock-1")], journal=tmp_path / "j.db", progress=False
            )
    assert _payouts(kasha_sandbox) == 0


@pytest.mark.parametrize("command", ["run", "approve"])
async def test_cli_on_a_held_journal_exits_2_and_sends_nothing(
    kasha_sandbox: Sandbox, tmp_path: Path, command: str
) -> None:
    """`kasha payouts run --resume` / `approve` on a held journal: exit 2, a clear line, no call."""
    write_items(tmp_path / "items.json", 5, prefix="held")
    journal = tmp_path / "j.db"
    args = (
        ["run", str(tmp_path / "items.json"), "--journal", str(journal), "--resume"]
        if command == "run"
        else ["approve", str(journal)]
    )
    async with SQLiteJournal(journal):
        proc = await cli(kasha_sandbox, *args)
        _, err = await proc.communicate()
    assert proc.returncode == 2, err
    assert b"in use by another live run" in err
    assert b"Traceback" not in err
    assert _payouts(kasha_sandbox) == 0


def _modes(folder: Path) -> dict[str, int]:
    return {p.name: stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()}


async def test_journal_and_lock_files_are_private(tmp_path: Path) -> None:
    """The journal, its WAL and its lock file are created 0600 whatever the umask."""
    async with SQLiteJournal(tmp_path / "j.db") as journal:
        await journal.count()
        modes = _modes(tmp_path)
    assert modes["j.db"] == 0o600
    assert modes["j.db.lock"] == 0o600
    assert all(mode == 0o600 for mode in modes.values()), modes
