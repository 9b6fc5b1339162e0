"""Batch payouts/s with and without the SQLite journal, on asyncio's loop and on uvloop.

Run ``python -m benchmarks.batch_bench [items] [concurrency]``; prints a table and
writes ``benchmarks/results-batch.json``. The "memory" row uses MemoryJournal
(no durability): the ratio sqlite ÷ memory is what the journal leaves of the
throughput (target ≥ 0.85). Each loop is measured in turn, with the same rounds:
uvloop is what ``kasha payouts run`` uses when the ``[speed]`` extra is installed
(``kasha_async._loop``), so uvloop ÷ asyncio is the CLI's gain from it.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from kasha_async import Customer, KashaClient
from kasha_async._loop import loop_factory
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
    base_url: str, count: int, concurrency: int, rounds: int, tag: str = ""
) -> dict[str, list[float]]:
    rates: dict[str, list[float]] = {"memory": [], "sqlite": []}
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(rounds):
            mem = await _one(
                base_url, MemoryJournal(), make_items(count, f"{tag}m{n}"), concurrency
            )
            rates["memory"].append(mem)
            sql = SQLiteJournal(Path(tmp) / f"j{n}.db")
            rates["sqlite"].append(
                await _one(base_url, sql, make_items(count, f"{tag}s{n}"), concurrency)
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
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    loops = {"asyncio": None, "uvloop": loop_factory()}
    if loops["uvloop"] is None:
        del loops["uvloop"]
        print("uvloop is not installed (pip install 'kasha-async[speed]'): asyncio only")
    proc, base_url = serve_sandbox()
    results: dict[str, Any] = {"items": count, "concurrency": concurrency, "loops": {}}
    rates: dict[str, dict[str, list[float]]] = {name: {} for name in loops}
    try:
        for n in range(rounds):  # interleaved: asyncio, uvloop, asyncio, uvloop, ...
            for name, factory in loops.items():
                with asyncio.Runner(loop_factory=factory) as runner:
                    one = runner.run(_bench(base_url, count, concurrency, 1, f"{name}{n}"))
                for journal, values in one.items():
                    rates[name].setdefault(journal, []).extend(values)
        for name, by_journal in rates.items():
            best = {journal: max(values) for journal, values in by_journal.items()}
            results["loops"][name] = {
                "rates": by_journal,
                "best": best,
                "journal_ratio": best["sqlite"] / best["memory"],
            }
    finally:
        proc.terminate()
        proc.wait()
    print(f"{'loop':<9}{'journal':<9}{f'payouts/s (best of {rounds})':>24}{'all rounds':>24}")
    for name, figures in results["loops"].items():
        for journal, values in figures["rates"].items():
            runs = "  ".join(f"{v:.0f}" for v in values)
            print(f"{name:<9}{journal:<9}{figures['best'][journal]:>24.1f}{runs:>24}")
        print(f"{name:<9}journal on ÷ off: {figures['journal_ratio']:.2f} (target >= 0.85)")
    if "uvloop" in results["loops"]:
        on = {name: figures["best"]["sqlite"] for name, figures in results["loops"].items()}
        results["uvloop_gain"] = on["uvloop"] / on["asyncio"]
        print(f"uvloop ÷ asyncio, journal on: {results['uvloop_gain']:.2f}")
    print(f"{count} items, concurrency {concurrency}, load average {os.getloadavg()[0]:.1f}")
    results["loadavg_1_5_15"] = os.getloadavg()
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
