"""Batch payouts/s with 1, 2 and 4 worker processes sharing one PostgreSQL journal.

Run ``python -m benchmarks.workers_bench [items] [concurrency per worker]``; it
starts a throwaway PostgreSQL (fsync on: the durability a deployment would
have) and a sandbox subprocess, then for each worker count submits a fresh batch
and starts that many ``kasha payouts worker`` processes. The rate is the items
over the span from the first item's start to the last one's finish (process
start-up excluded). Prints a table and writes ``benchmarks/results-workers.json``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

import asyncpg

from benchmarks.batch_bench import make_items, serve_sandbox
from kasha_async.batch import submit_payouts
from tests.batch_pg import _cluster

RESULTS = Path(__file__).with_name("results-workers.json")
WORKER_COUNTS = (1, 2, 4)


async def _fresh_database(cluster: _cluster.Cluster, name: str) -> str:
    conn = await asyncpg.connect(cluster.dsn())
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return cluster.dsn(name)


async def _one(
    cluster: _cluster.Cluster, base_url: str, workers: int, count: int, concurrency: int
) -> dict[str, float]:
    dsn = await _fresh_database(cluster, f"bench_{workers}_{time.monotonic_ns()}")
    await submit_payouts(dsn, make_items(count, dsn.rsplit("/", 1)[-1]))
    env = {**os.environ, "KASHA_BASE_URL": base_url, "KASHA_API_KEY": "sk_test_sandbox"}
    args = ["payouts", "worker", "--journal", dsn, "--concurrency", str(concurrency)]
    started = time.perf_counter()
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "kasha_async.cli",
            *args,
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        for _ in range(workers)
    ]
    codes = [await proc.wait() for proc in procs]
    wall = time.perf_counter() - started
    assert codes == [0] * workers, codes
    conn = await asyncpg.connect(dsn)
    try:
        first, last, completed = await conn.fetchrow(  # the items' own time span
            "SELECT min(started_at), max(finished_at), count(*) FILTER "
            "(WHERE state = 'completed') FROM kasha_batch.items"
        )
    finally:
        await conn.close()
    assert completed == count, completed
    return {"rate": count / (last - first), "wall_rate": count / wall, "wall": wall}


async def _bench(base_url: str, count: int, concurrency: int) -> dict[str, dict[str, float]]:
    with _cluster.running(fsync=True) as cluster:
        await _one(cluster, base_url, 1, min(count, 200), concurrency)  # warm-up
        return {str(n): await _one(cluster, base_url, n, count, concurrency) for n in WORKER_COUNTS}


def main() -> None:
    """Measure, print the table, write the JSON results."""
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    concurrency = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    proc, base_url = serve_sandbox()
    try:
        results = asyncio.run(_bench(base_url, count, concurrency))
    finally:
        proc.terminate()
        proc.wait()
    print(f"{'workers':<9}{'payouts/s':>11}{'incl. start-up':>16}{'wall s':>9}")
    for workers, row in results.items():
        print(f"{workers:<9}{row['rate']:>11.1f}{row['wall_rate']:>16.1f}{row['wall']:>9.1f}")
    print(f"{count} items, concurrency {concurrency} per worker, {os.cpu_count()} CPUs")
    RESULTS.write_text(
        json.dumps(
            {"items": count, "concurrency": concurrency, "cpus": os.cpu_count(), **results},
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
