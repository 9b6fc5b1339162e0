"""Four worker processes on one PostgreSQL batch, two SIGKILLed mid-run: everyone paid once."""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import sys
from collections import Counter
from pathlib import Path

import asyncpg

from kasha_async.sandbox import Sandbox

ITEMS = int(os.environ.get("KASHA_PG_TEST_ITEMS", "5000"))
WORKERS = 4
KILLED = 2
LEASE = 2.0  # seconds: how long the dead workers' items wait before being taken over
DECLINE_EVERY = 250  # amount 3001.31: approved, then declined by the processor (code 3001)
_FAULTS = [
    ("*", "status_503", 0.02),
    ("*", "reset_before", 0.01),
    ("payouts.create", "reset_after_commit", 0.03),
    ("payouts.settle", "truncated_body", 0.03),
    ("transactions.get", "non_json_body", 0.01),
]


def _write_items(path: Path) -> list[str]:
    rows, refs = [], []
    for i in range(ITEMS):
        ref = f"pg-{i:06d}"
        rows.append(
            {
                "reference": ref,
                "country": "BR",
                "currency": "BRL",
                "amount": "3001.31" if i % DECLINE_EVERY == 7 else f"{10 + i % 90}.25",
                "customer": {"name": "Jane Roe", "email": "jane@example.com"},
                "option_id": "d_316",
                "extra_data": {"name": "Jane Roe", "account": "1234567"},
            }
        )
        refs.append(ref)
    path.write_text(json.dumps(rows), encoding="utf-8")
    return refs


async def _cli(sandbox: Sandbox, *args: str) -> asyncio.subprocess.Process:
    env = {**os.environ, "KASHA_BASE_URL": sandbox.base_url, "KASHA_API_KEY": sandbox.api_key}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kasha_async.cli",
        "payouts",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


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
    refs = _write_items(tmp_path / "items.json")
    submit = await _cli(kasha_sandbox, "submit", str(tmp_path / "items.json"), "--journal", pg_dsn)
    out, err = await submit.communicate()
    assert submit.returncode == 0, err.decode()
    assert json.loads(out)["items"] == ITEMS
    for endpoint, kind, probability in _FAULTS:
        kasha_sandbox.faults.add(endpoint, kind, probability=probability)

    worker = ["worker", "--journal", pg_dsn, "--concurrency", "50", "--lease", str(LEASE)]
    procs = [await _cli(kasha_sandbox, *worker) for _ in range(WORKERS)]
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

    ledger = kasha_sandbox.ledger()
    payouts = [
        tx
        for tx_id, tx in ledger.transactions.items()
        if ledger.kinds[tx_id] == "payout" and tx.status.value not in ("CREATED", "EXPIRED")
    ]
    per_reference = Counter(tx.merchant_reference for tx in payouts)
    assert len(payouts) == ITEMS
    assert set(per_reference) == set(refs)
    assert set(per_reference.values()) == {1}
    assert {tx.status.value for tx in payouts} == {"COMPLETED", "DECLINED"}
    declined = sorted(
        tx.merchant_reference or "" for tx in payouts if tx.status.value == "DECLINED"
    )
    assert declined == [r for i, r in enumerate(refs) if i % DECLINE_EVERY == 7]
    assert max(ledger.approvals_per_payout.values()) == 1


async def test_run_with_a_postgres_journal_submits_and_drains_and_report_reads_it(
    kasha_sandbox: Sandbox, pg_dsn: str, tmp_path: Path
) -> None:
    """`payouts run FILE --journal postgresql://` pays the file; `payouts report URL` sums it up."""
    refs = _write_items(tmp_path / "items.json")[:300]
    rows = json.loads((tmp_path / "items.json").read_text())[:300]
    (tmp_path / "items.json").write_text(json.dumps(rows), encoding="utf-8")
    run = await _cli(kasha_sandbox, "run", str(tmp_path / "items.json"), "--journal", pg_dsn)
    _, err = await run.communicate()
    assert run.returncode == 1, err.decode()  # all final; the trigger amounts declined
    report = await _cli(kasha_sandbox, "report", pg_dsn, "-o", str(tmp_path / "report.json"))
    await report.communicate()
    assert report.returncode == 1
    items = json.loads((tmp_path / "report.json").read_text())["items"]
    assert [item["reference"] for item in items] == refs
    assert all(item["final"] for item in items)
