"""How ``run_payouts``'s memory grows with the batch size: the tracemalloc peak per cell.

Run ``python -m benchmarks.batch_memory``; prints a table and writes
``benchmarks/results-batch-memory.json``. Each cell runs in a fresh child process
(two at a time): ``run_payouts`` with the fake driver of ``tests/batch``,
concurrency 200, ``include_items=False``, ``approve="auto"``, over 10,000 and
100,000 items, with

- a *generator*: a one-shot iterator, which the runner materializes into a list
  (it reads the input twice: duplicate check, then run), and
- a *re-iterable*: an object whose ``__iter__`` returns a new generator, as
  ``load_items`` returns, which the runner really streams;

and ``MemoryJournal`` or ``SQLiteJournal`` (temp dir, ``synchronous="NORMAL"``:
fsyncs cost time, not memory). The fake forgets a payout once it is final, so
only the runner, the input and the journal are measured. ``peak`` is the
tracemalloc peak over the whole call, above what was allocated before it,
split at the first finished item into ``check peak`` (the duplicate check, which
holds every reference, and the run's start) and ``run peak`` (the rest);
``held after`` is what is still allocated once the report is dropped (the
journal's records); ``slope`` is ``(peak(100k) - peak(10k)) / 90,000``, the
marginal bytes per item. The reference set of the duplicate check is measured
alone too. tracemalloc makes Python about 4x slower: the run takes about 2 minutes.
"""

from __future__ import annotations

import asyncio
import gc
import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

from kasha_async import Customer, KashaClient, Transaction
from kasha_async.batch import (
    BatchProgress,
    Journal,
    MemoryJournal,
    OpenedSession,
    PayoutItem,
    SQLiteJournal,
    run_payouts,
)
from tests.batch._fake import FakeDriver

RESULTS = Path(__file__).with_name("results-batch-memory.json")
SIZES = (10_000, 100_000)
CONCURRENCY = 200
#: (journal, input) pairs; a one-shot generator costs the same list with either journal.
CELLS = (("sqlite", "reiterable"), ("memory", "generator"), ("memory", "reiterable"))


def generate(count: int) -> Iterator[PayoutItem]:
    """``count`` payouts of 10.50 BRL, built one at a time."""
    for i in range(count):
        yield PayoutItem(
            reference=f"aff-{i:07d}",
            country="BR",
            currency="BRL",
            amount=Decimal("10.50"),
            customer=Customer(name="Jane Roe"),
            option_id="d_316",
            extra_data={"name": "Jane Roe"},
        )


class Reiterable:
    """An input that holds no item: each iteration generates them again (like a PayoutFile)."""

    def __init__(self, count: int) -> None:
        self.count = count

    def __iter__(self) -> Iterator[PayoutItem]:
        return generate(self.count)


class ForgetfulDriver(FakeDriver):
    """The fake provider, minus its bookkeeping of payouts already final."""

    async def lookup(self, session: OpenedSession) -> Transaction:
        """As the fake, then forget the transaction if it is final."""
        tx = await super().lookup(session)
        if tx.is_final:
            self.created_refs.pop(self.ref_of.pop(session.transaction_id), None)
            del self.status[session.transaction_id]
        return tx


async def _cell(journal_kind: str, input_kind: str, count: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        journal: Journal = (
            MemoryJournal()
            if journal_kind == "memory"
            else SQLiteJournal(Path(tmp) / "journal.db", synchronous="NORMAL")
        )
        async with KashaClient(api_key="k", base_url="http://127.0.0.1:9") as kasha:
            driver = ForgetfulDriver()
            check_peak: int | None = None

            def after_first(progress: BatchProgress) -> None:
                nonlocal check_peak
                if check_peak is None:  # the duplicate check is over: measure the run alone
                    check_peak = tracemalloc.get_traced_memory()[1] - base
                    tracemalloc.reset_peak()

            gc.collect()
            tracemalloc.start()
            base = tracemalloc.get_traced_memory()[0]
            started = time.perf_counter()
            items = generate(count) if input_kind == "generator" else Reiterable(count)
            report = await run_payouts(
                kasha,
                items,
                journal=journal,
                driver=driver,
                concurrency=CONCURRENCY,
                progress=False,
                on_progress=after_first,
                include_items=False,
            )
            seconds = time.perf_counter() - started
            completed = report.summary.counts.get("COMPLETED", 0)
            del items, report
            gc.collect()
            held, run_peak = (m - base for m in tracemalloc.get_traced_memory())
            tracemalloc.stop()
    assert check_peak is not None
    assert completed == count, f"{completed} of {count} completed"
    return {
        "journal": journal_kind,
        "input": input_kind,
        "items": count,
        "peak_bytes": max(check_peak, run_peak),
        "peak_bytes_per_item": round(max(check_peak, run_peak) / count, 1),
        "check_peak_bytes": check_peak,
        "run_peak_bytes": run_peak,
        "held_after_bytes": held,
        "seconds": round(seconds, 1),
    }


def reference_set_cost(count: int) -> float:
    """Bytes per item of the duplicate check's set of references (the strings included)."""
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    seen = {f"aff-{i:07d}" for i in range(count)}
    size = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    assert len(seen) == count
    return size / count


def _run_cell(journal_kind: str, input_kind: str, count: int) -> dict[str, Any]:
    """One cell in a fresh interpreter, so no cell inherits another's heap."""
    command = [sys.executable, "-m", "benchmarks.batch_memory", "--cell", journal_kind]
    out = subprocess.run(
        [*command, input_kind, str(count)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def main() -> None:
    """Run every cell two at a time (longest first), print the table, write the JSON."""
    if sys.argv[1:2] == ["--cell"]:
        journal_kind, input_kind, count = sys.argv[2], sys.argv[3], int(sys.argv[4])
        print(json.dumps(asyncio.run(_cell(journal_kind, input_kind, count))))
        return
    started = time.perf_counter()
    jobs = [(j, i, n) for n in sorted(SIZES, reverse=True) for j, i in CELLS]
    with ThreadPoolExecutor(2) as pool:
        cells = list(pool.map(lambda job: _run_cell(*job), jobs))
    cells.sort(key=lambda c: (c["journal"], c["input"], c["items"]))
    small, large = min(SIZES), max(SIZES)
    slopes = {}
    for journal_kind, input_kind in CELLS:
        peaks = {
            c["items"]: c["peak_bytes"]
            for c in cells
            if (c["journal"], c["input"]) == (journal_kind, input_kind)
        }
        slopes[f"{journal_kind}/{input_kind}"] = round(
            (peaks[large] - peaks[small]) / (large - small), 1
        )
    set_cost = round(reference_set_cost(large), 1)
    print(
        f"{'journal':8} {'input':11} {'items':>8} {'peak B':>12} {'B/item':>7} "
        f"{'check peak':>12} {'run peak':>12} {'held after':>12} {'s':>6}"
    )
    for c in cells:
        print(
            f"{c['journal']:8} {c['input']:11} {c['items']:>8,} {c['peak_bytes']:>12,} "
            f"{c['peak_bytes_per_item']:>7,.0f} {c['check_peak_bytes']:>12,} "
            f"{c['run_peak_bytes']:>12,} {c['held_after_bytes']:>12,} {c['seconds']:>6}"
        )
    print(f"slope, bytes per extra item ({small:,} -> {large:,}):")
    for name, slope in slopes.items():
        print(f"  {name:20} {slope:>8,.0f}")
    print(f"reference set of the duplicate check: {set_cost:,.0f} bytes per item")
    print(f"wall time: {time.perf_counter() - started:.0f} s")
    RESULTS.write_text(
        json.dumps(
            {
                "concurrency": CONCURRENCY,
                "sizes": list(SIZES),
                "cells": cells,
                "slope_bytes_per_item": slopes,
                "reference_set_bytes_per_item": set_cost,
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
