"""SIGKILL the batch runner at random moments against a faulty sandbox; nothing paid twice."""

from __future__ import annotations

import asyncio
import json
import os
import random
from pathlib import Path

from kasha_async.sandbox import Sandbox

from ._chaos import add_faults, assert_each_paid_once, cli, write_items

ITEMS = int(os.environ.get("KASHA_BATCH_TEST_ITEMS", "2000"))
KILLS = int(os.environ.get("KASHA_BATCH_TEST_KILLS", "3" if ITEMS >= 1000 else "1"))


async def _runner(sandbox: Sandbox, tmp: Path, *, resume: bool, kill_after: float | None) -> int:
    args = ["run", str(tmp / "items.json"), "--journal", str(tmp / "payouts.db")]
    args += ["--concurrency", "200", *["--resume"] * resume]
    proc = await cli(sandbox, *args, stdout=asyncio.subprocess.DEVNULL)
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
    refs = write_items(tmp_path / "items.json", ITEMS, prefix="chaos")
    add_faults(kasha_sandbox)
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
    assert_each_paid_once(kasha_sandbox, refs)

    report_path = tmp_path / "report.json"
    report = await cli(
        kasha_sandbox, "report", str(tmp_path / "payouts.db"), "-o", str(report_path)
    )
    await report.communicate()
    assert report.returncode == 0  # the report read the journal; failures are in it
    items = json.loads(report_path.read_text())["items"]
    assert len(items) == ITEMS
    assert all(item["final"] for item in items)
