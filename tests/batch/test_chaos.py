"""SIGKILL the batch runner at random moments against a faulty sandbox; nothing paid twice."""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
from collections import Counter
from pathlib import Path

from kasha_async.sandbox import Sandbox

ITEMS = int(os.environ.get("KASHA_BATCH_TEST_ITEMS", "2000"))
KILLS = int(os.environ.get("KASHA_BATCH_TEST_KILLS", "3" if ITEMS >= 1000 else "1"))
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
        ref = f"chaos-{i:06d}"
        amount = "3001.31" if i % DECLINE_EVERY == 7 else f"{10 + i % 90}.25"
        rows.append(
            {
                "reference": ref,
                "country": "BR",
                "currency": "BRL",
                "amount": amount,
                "customer": {"name": "Jane Roe", "email": "jane@example.com"},
                "option_id": "d_316",
                "extra_data": {"name": "Jane Roe", "account": "1234567"},
            }
        )
        refs.append(ref)
    path.write_text(json.dumps(rows), encoding="utf-8")
    return refs


async def _runner(sandbox: Sandbox, tmp: Path, *, resume: bool, kill_after: float | None) -> int:
    args = [sys.executable, "-m", "kasha_async.cli", "payouts", "run", str(tmp / "items.json")]
    args += ["--journal", str(tmp / "payouts.db"), "--concurrency", "200"]
    args += ["--resume"] * resume
    env = {**os.environ, "KASHA_BASE_URL": sandbox.base_url, "KASHA_API_KEY": sandbox.api_key}
    proc = await asyncio.create_subprocess_exec(
        *args, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    try:
        await asyncio.wait_for(proc.wait(), kill_after)
    except TimeoutError:
        proc.kill()  # SIGKILL: no cleanup, no flush
        await proc.wait()
    if proc.stderr is not None:
        await proc.stderr.read()
    return proc.returncode if proc.returncode is not None else -1


async def test_killed_and_resumed_batch_pays_everyone_exactly_once(
    kasha_sandbox: Sandbox, tmp_path: Path
) -> None:
    """Kills and resumes under faults end with one final payout per reference in the ledger."""
    refs = _write_items(tmp_path / "items.json")
    for endpoint, kind, probability in _FAULTS:
        kasha_sandbox.faults.add(endpoint, kind, probability=probability)
    rng = random.Random(os.environ.get("KASHA_BATCH_TEST_SEED", "7"))
    codes = []
    for n in range(KILLS):
        codes.append(
            await _runner(kasha_sandbox, tmp_path, resume=n > 0, kill_after=rng.uniform(0.5, 2.5))
        )
    for _ in range(6):
        code = await _runner(kasha_sandbox, tmp_path, resume=True, kill_after=None)
        codes.append(code)
        if code in (0, 1):
            break
    assert codes[-1] == 1, codes  # 1: every item final, some (the trigger amounts) declined
    assert -9 in codes[:KILLS]  # at least one runner was really killed mid-batch

    ledger = kasha_sandbox.ledger()
    payouts = [
        tx
        for tx_id, tx in ledger.transactions.items()
        if ledger.kinds[tx_id] == "payout" and tx.status.value not in ("CREATED", "EXPIRED")
    ]
    per_reference = Counter(tx.merchant_reference for tx in payouts)
    assert set(per_reference) == set(refs)
    assert set(per_reference.values()) == {1}
    assert {tx.status.value for tx in payouts} == {"COMPLETED", "DECLINED"}
    declined = sorted(
        tx.merchant_reference or "" for tx in payouts if tx.status.value == "DECLINED"
    )
    assert declined == [r for i, r in enumerate(refs) if i % DECLINE_EVERY == 7]
    assert max(ledger.approvals_per_payout.values()) == 1

    report_path = tmp_path / "report.json"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kasha_async.cli",
        "payouts",
        "report",
        str(tmp_path / "payouts.db"),
        "-o",
        str(report_path),
    )
    assert await proc.wait() == 1
    items = json.loads(report_path.read_text())["items"]
    assert len(items) == ITEMS
    assert all(item["final"] for item in items)
