"""What the chaos tests share: the input file, the sandbox faults, the CLI in a subprocess, and
the ledger check that every reference was paid exactly once."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections import Counter
from pathlib import Path

from kasha_async.sandbox import Sandbox

#: Every this-many-th item (from the 7th) has the trigger amount 3001.31: approved, then
#: declined by the processor with code 3001.
DECLINE_EVERY = 250
FAULTS = [
    ("*", "status_503", 0.02),
    ("*", "reset_before", 0.01),
    ("payouts.create", "reset_after_commit", 0.03),
    ("payouts.settle", "truncated_body", 0.03),
    ("transactions.get", "non_json_body", 0.01),
]


def write_items(path: Path, count: int, *, prefix: str) -> list[str]:
    """Write ``count`` payout rows as a JSON input file; return their references in order."""
    refs = [f"{prefix}-{i:06d}" for i in range(count)]
    rows = [
        {
            "reference": ref,
            "country": "BR",
            "currency": "BRL",
            "amount": "3001.31" if i % DECLINE_EVERY == 7 else f"{10 + i % 90}.25",
            "customer": {"name": "Jane Roe", "email": "jane@example.com"},
            "option_id": "d_316",
            "extra_data": {"name": "Jane Roe", "account": "1234567"},
        }
        for i, ref in enumerate(refs)
    ]
    path.write_text(json.dumps(rows), encoding="utf-8")
    return refs


def add_faults(sandbox: Sandbox) -> None:
    """Turn on the :data:`FAULTS` mix."""
    for endpoint, kind, probability in FAULTS:
        sandbox.faults.add(endpoint, kind, probability=probability)


async def cli(
    sandbox: Sandbox, *args: str, stdout: int = asyncio.subprocess.PIPE
) -> asyncio.subprocess.Process:
    """Start ``kasha payouts ARGS`` in a subprocess pointed at ``sandbox``."""
    env = {**os.environ, "KASHA_BASE_URL": sandbox.base_url, "KASHA_API_KEY": sandbox.api_key}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kasha_async.cli",
        "payouts",
        *args,
        env=env,
        stdout=stdout,
        stderr=asyncio.subprocess.PIPE,
    )


def assert_each_paid_once(sandbox: Sandbox, refs: list[str]) -> None:
    """The ledger holds exactly one final payout per reference, each approved once, and the
    trigger amounts (only they) declined."""
    ledger = sandbox.ledger()
    payouts = [
        tx
        for tx_id, tx in ledger.transactions.items()
        if ledger.kinds[tx_id] == "payout" and tx.status.value not in ("CREATED", "EXPIRED")
    ]
    per_reference = Counter(tx.merchant_reference for tx in payouts)
    assert len(payouts) == len(refs)
    assert set(per_reference) == set(refs)
    assert set(per_reference.values()) == {1}
    assert {tx.status.value for tx in payouts} == {"COMPLETED", "DECLINED"}
    declined = sorted(
        tx.merchant_reference or "" for tx in payouts if tx.status.value == "DECLINED"
    )
    assert declined == [r for i, r in enumerate(refs) if i % DECLINE_EVERY == 7]
    assert max(ledger.approvals_per_payout.values()) == 1
