"""Batch payouts/s with and without the SQLite journal, against a sandbox subprocess.

Run ``python -m benchmarks.batch_bench [items] [concurrency]``; prints a table and
writes ``benchmarks/results-batch.json``. The "memory" row uses MemoryJournal
(no durability): the difference is the journal's cost.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from kasha_async import Customer, KashaClient
from kasha_async.batch import Journal, MemoryJournal, PayoutItem, SQLiteJournal, run_payouts

RESULTS = Path(__file__).with_name("results-batch.json")


def make_items(count: int, prefix: str) -> list[PayoutItem]:
    """``count`` payouts of 10.00 BRL with distinct references starting with ``prefix``."""
    return [
        PayoutItem(
            reference=f"{prefix}-{i}",
            country="BR",
            currency="BRL",
            amount=Decimal("10.00"),
            customer=Customer(name="Jane Roe"),
            option_id="d_316",
            extra_data={"name": "Jane Roe"},
        )
        for i in range(count)
    ]


async def _one(base_url: str, journal: Journal, items: list[PayoutItem], concurrency: int) -> float:
    async with KashaClient(base_url=base_url, api_key="sk_test_sandbox") as kasha:
        started = time.perf_counter()
        report = await run_payouts(
            kasha,
            items,
            journal=journal,
            concurrency=concurrency,
            progress=False,
            include_items=False,
        )
        elapsed = time.perf_counter() - started
    assert report.summary.counts.get("COMPLETED") == len(items), report.summary.counts
    return len(items) / elapsed


async def _bench(
    base_url: str, count: int, concurrency: int, rounds: int
) -> dict[str, list[float]]:
    rates: dict[str, list[float]] = {"memory": [], "sqlite": []}
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(rounds):
            mem = await _one(base_url, MemoryJournal(), make_items(count, f"m{n}"), concurrency)
            rates["memory"].append(mem)
            sql = SQLiteJournal(Path(tmp) / f"j{n}.db")
            rates["sqlite"].append(
                await _one(base_url, sql, make_items(count, f"s{n}"), concurrency)
            )
    return rates


def serve_sandbox() -> tuple[subprocess.Popen[str], str]:
    """Start ``kasha sandbox serve`` on a free port; the process and its base URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "kasha_async.cli", "sandbox", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    return proc, line.rsplit(" ", 1)[-1].strip()


def main() -> None:
    """Measure, print the table, write the JSON results."""
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    concurrency = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    proc, base_url = serve_sandbox()
    try:
        rates = asyncio.run(_bench(base_url, count, concurrency, rounds=3))
    finally:
        proc.terminate()
        proc.wait()
    best = {name: max(values) for name, values in rates.items()}
    cost = 1 - best["sqlite"] / best["memory"]
    print(f"{'journal':<10}{'payouts/s (best of 3)':>24}{'all rounds':>30}")
    for name, values in rates.items():
        print(f"{name:<10}{best[name]:>24.1f}{'  '.join(f'{v:.0f}' for v in values):>30}")
    print(f"journal cost: {cost:.1%} (target <= 25%); {count} items, concurrency {concurrency}")
    RESULTS.write_text(
        json.dumps(
            {"items": count, "concurrency": concurrency, "rates": rates, "cost": cost}, indent=1
        )
    )


if __name__ == "__main__":
    main()
