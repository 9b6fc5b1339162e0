"""Batch payouts/s with and without the SQLite journal, on asyncio's loop and on uvloop.

Run ``python -m benchmarks.batch_bench [items] [concurrency] [rounds]``; prints a
table and writes ``benchmarks/results-batch.json``. The "memory" rows use
MemoryJournal (no durability): sqlite ÷ memory is what the journal leaves of the
throughput (target ≥ 0.85). Each round runs one memory and one sqlite batch back
to back (alternating which goes first), so each round's ratio compares runs made
under the same machine conditions; the headline is the median of those ratios,
with their spread. Best-of-rounds is printed too, but it pairs each side's
luckiest round and moves with a single outlier. Each loop is measured in turn,
with the same rounds: uvloop is what ``kasha payouts run`` uses when the
``[speed]`` extra is installed (``kasha_async._loop``), so uvloop ÷ asyncio is the
CLI's gain from it.

``--instructions [items]`` counts instead, under valgrind, what one payout costs
the client process (the journal's writer thread included) with each journal:
memory ÷ sqlite is the throughput ratio the journal leaves when the client's CPU
is the limit, and it does not move with the machine's load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
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

from .instructions import need_valgrind, valgrind_instructions

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


async def _pair(
    base_url: str, count: int, concurrency: int, tag: str, sqlite_first: bool
) -> dict[str, float]:
    """One round: a memory-journal batch and a SQLite-journal batch, back to back."""
    order = ("sqlite", "memory") if sqlite_first else ("memory", "sqlite")
    rates: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for journal in order:
            chosen: Journal = (
                SQLiteJournal(Path(tmp) / "journal.db") if journal == "sqlite" else MemoryJournal()
            )
            items = make_items(count, f"{tag}{journal[0]}")
            rates[journal] = await _one(base_url, chosen, items, concurrency)
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


def _summary(rounds: list[dict[str, float]]) -> dict[str, Any]:
    """Rates per journal, each round's ratio, their median and spread, and best-of."""
    rates = {journal: [r[journal] for r in rounds] for journal in ("memory", "sqlite")}
    ratios = [r["sqlite"] / r["memory"] for r in rounds]
    return {
        "rates": rates,
        "round_ratios": ratios,
        "journal_ratio": statistics.median(ratios),
        "journal_ratio_spread": [min(ratios), max(ratios)],
        "best": {journal: max(values) for journal, values in rates.items()},
        "best_of_ratio": max(rates["sqlite"]) / max(rates["memory"]),
    }


def measure(count: int, concurrency: int, rounds: int) -> dict[str, Any]:
    """Measure, print the table, write the JSON results."""
    loops = {"asyncio": None, "uvloop": loop_factory()}
    if loops["uvloop"] is None:
        del loops["uvloop"]
        print("uvloop is not installed (pip install 'kasha-async[speed]'): asyncio only")
    proc, base_url = serve_sandbox()
    results: dict[str, Any] = {"items": count, "concurrency": concurrency, "loops": {}}
    by_loop: dict[str, list[dict[str, float]]] = {name: [] for name in loops}
    try:
        for n in range(rounds):  # interleaved: asyncio, uvloop, asyncio, uvloop, ...
            for name, factory in loops.items():
                with asyncio.Runner(loop_factory=factory) as runner:
                    pair = _pair(base_url, count, concurrency, f"{name}{n}", n % 2 == 1)
                    by_loop[name].append(runner.run(pair))
    finally:
        proc.terminate()
        proc.wait()
    for name, pairs in by_loop.items():
        results["loops"][name] = _summary(pairs)
    print(f"{'loop':<9}{'journal':<9}{'median payouts/s':>18}{'best':>8}   all rounds")
    for name, figures in results["loops"].items():
        for journal, values in figures["rates"].items():
            runs = "  ".join(f"{v:.0f}" for v in values)
            median, best = statistics.median(values), figures["best"][journal]
            print(f"{name:<9}{journal:<9}{median:>18.0f}{best:>8.0f}   {runs}")
        low, high = figures["journal_ratio_spread"]
        print(
            f"{name:<9}journal on ÷ off: {figures['journal_ratio']:.2f} median of the rounds "
            f"({low:.2f} to {high:.2f}), best-of {figures['best_of_ratio']:.2f} (target >= 0.85)"
        )
    if "uvloop" in results["loops"]:
        on = {
            name: statistics.median(figures["rates"]["sqlite"])
            for name, figures in results["loops"].items()
        }
        results["uvloop_gain"] = on["uvloop"] / on["asyncio"]
        print(f"uvloop ÷ asyncio, journal on (medians): {results['uvloop_gain']:.2f}")
    print(f"{count} items, concurrency {concurrency}, load average {os.getloadavg()[0]:.1f}")
    results["loadavg_1_5_15"] = os.getloadavg()
    return results


_WARM_UP = 100


def _child(journal: str, count: int, concurrency: int) -> None:
    """Under valgrind: a warm-up batch, then ``count`` payouts, with one kind of journal."""
    proc, base_url = serve_sandbox()  # not traced: valgrind follows no child process

    async def run() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            for tag, items in (("warm", _WARM_UP), ("measured", count)):
                if items:
                    chosen: Journal = (
                        SQLiteJournal(Path(tmp) / f"{tag}.db")
                        if journal == "sqlite"
                        else MemoryJournal()
                    )
                    await _one(base_url, chosen, make_items(items, tag), concurrency)

    try:
        asyncio.run(run())
    finally:
        proc.terminate()
        proc.wait()


def count_instructions(count: int, concurrency: int) -> dict[str, Any]:
    """Thousands of client instructions per payout with each journal, and their ratio."""
    need_valgrind("benchmarks.batch_bench --instructions")
    per_payout: dict[str, float] = {}
    for journal in ("memory", "sqlite"):
        runs = [
            valgrind_instructions(
                ["-m", "benchmarks.batch_bench", "--child", journal, str(n), str(concurrency)]
            )
            for n in (0, count)
        ]
        per_payout[journal] = (runs[1] - runs[0]) / count / 1000
        print(f"{journal:<8}{per_payout[journal]:8.0f} k instructions per payout", flush=True)
    ratio = per_payout["memory"] / per_payout["sqlite"]
    print(f"memory ÷ sqlite: {ratio:.3f} (journal on ÷ off when the client's CPU is the limit)")
    return {"items": count, "concurrency": concurrency, "k_per_payout": per_payout, "ratio": ratio}


def main() -> None:
    """Throughput rounds (default) or instruction counts (``--instructions``)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.batch_bench")
    parser.add_argument("items", nargs="?", type=int, help="2000, or 300 with --instructions")
    parser.add_argument("concurrency", nargs="?", type=int, default=200)
    parser.add_argument("rounds", nargs="?", type=int, default=3)
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="count the client's instructions per payout under valgrind",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        journal, count, concurrency = args.child
        _child(journal, int(count), int(concurrency))
        return
    if args.instructions:
        results = {"instructions": count_instructions(args.items or 300, args.concurrency)}
    else:
        results = measure(args.items or 2000, args.concurrency, args.rounds)
    args.out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
