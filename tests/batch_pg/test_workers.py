"""Four worker processes on one PostgreSQL batch, two SIGKILLed mid-run: everyone paid once."""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
from pathlib import Path

import asyncpg

from kasha_async.sandbox import Sandbox
from tests.batch._chaos import add_faults, assert_each_paid_once, cli, write_items

ITEMS = int(os.environ.get("KASHA_PG_TEST_ITEMS", "5000"))
WORKERS = 4
KILLED = 2
LEASE = 2.0  # seconds: how long the dead workers' items wait before being taken over


async def _settled_items(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        sql = "SELECT count(*) FROM kasha_batch.items WHERE state <> 'planned'"
        return int(await conn.fetchval(sql))
    finally:
        await conn.close()


async def _kill_when_busy(proc: asyncio.subprocess.Process, dsn: str, after: int) -> None:
    """SIGKILL ``proc`` once the batch has started ``after`` items (mid-run, mid-call)."""
    while proc.returncode is None:
        if await _settled_items(dsn) >= after:
            proc.kill()  # SIGKILL: no cleanup, leases left to expire
            return
        await asyncio.sleep(0.05)


async def test_four_workers_two_killed_pay_everyone_exactly_once(
    kasha_sandbox: Sandbox, pg_dsn: str, tmp_path: Path
) -> None:
    """Two of four workers SIGKILLed mid-batch: the ledger has one final payout per reference."""
    refs = write_items(tmp_path / "items.json", ITEMS, prefix="pg")
    submit = await cli(kasha_sandbox, "submit", str(tmp_path / "items.json"), "--journal", pg_dsn)
    out, err = await submit.communicate()
    assert submit.returncode == 0, err.decode()
    assert json.loads(out)["items"] == ITEMS
    add_faults(kasha_sandbox)

    worker = ["worker", "--journal", pg_dsn, "--concurrency", "50", "--lease", str(LEASE)]
    procs = [await cli(kasha_sandbox, *worker) for _ in range(WORKERS)]
    rng = random.Random(os.environ.get("KASHA_PG_TEST_SEED", "11"))
    kills = [
        _kill_when_busy(proc, pg_dsn, int(ITEMS * rng.uniform(0.15, 0.6)))
        for proc in procs[:KILLED]
    ]
    outputs, _ = await asyncio.gather(
        asyncio.gather(*(p.communicate() for p in procs)), asyncio.gather(*kills)
    )
    codes = [p.returncode for p in procs]
    stderr = [err.decode() for _, err in outputs]

    assert codes[:KILLED] == [-9] * KILLED, stderr
    assert codes[KILLED:] == [1] * (WORKERS - KILLED), stderr  # 1: all final, some declined
    taken_over = [int(n) for e in stderr[KILLED:] for n in re.findall(r"took over (\d+)", e)]
    assert sum(taken_over) > 0, stderr  # the survivors finished the dead workers' items

    assert_each_paid_once(kasha_sandbox, refs)


async def test_run_with_a_postgres_journal_submits_and_drains_and_report_reads_it(
    kasha_sandbox: Sandbox, pg_dsn: str, tmp_path: Path
) -> None:
    """`payouts run FILE --journal postgresql://` pays the file; `payouts report URL` sums it up."""
    refs = write_items(tmp_path / "items.json", 300, prefix="pg")
    run = await cli(kasha_sandbox, "run", str(tmp_path / "items.json"), "--journal", pg_dsn)
    _, err = await run.communicate()
    assert run.returncode == 1, err.decode()  # all final; the trigger amounts declined
    report = await cli(kasha_sandbox, "report", pg_dsn, "-o", str(tmp_path / "report.json"))
    await report.communicate()
    assert report.returncode == 0  # the journal was read; the declines are in the report
    items = json.loads((tmp_path / "report.json").read_text())["items"]
    assert [item["reference"] for item in items] == refs
    assert all(item["final"] for item in items)
