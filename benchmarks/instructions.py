"""Instructions per flow, counted by valgrind: ``python -m benchmarks.instructions``.

CPU time moves by ±15 % on a shared machine; the number of instructions the client
process executes does not (two runs of the same tree agree within 0.1 %), so this
is the figure to A/B a change with, sockets and aiohttp included. Each contender
runs in a child process under ``valgrind --tool=cachegrind --cache-sim=no`` against
the canned server (not under valgrind), once with no measured flows and once with
``--flows`` of them at concurrency ``--concurrency``; the difference divided by the
flows is the cost of one flow, start-up and warm-up excluded. About a minute per
contender and workload. Needs valgrind (Debian package ``valgrind``).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import re
import shutil
import subprocess
import sys
from pathlib import Path

from . import server
from .contenders import CONTENDERS

_ROOT = Path(__file__).resolve().parent.parent
_WARM_UP = 200


async def _run(name: str, workload: str, flows: int, concurrency: int, port: int) -> None:
    contender = CONTENDERS[name](f"http://127.0.0.1:{port}")
    counter = itertools.count()
    flow = getattr(contender, workload)

    async def batch(count: int) -> None:
        remaining = count

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                await flow(next(counter), [])

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    try:
        await batch(_WARM_UP)
        await batch(flows)
    finally:
        await contender.close()


def _child(name: str, workload: str, flows: int, concurrency: int) -> None:
    server.raise_fd_limit()
    proc, port = server.start(cpu=0)
    try:
        asyncio.run(_run(name, workload, flows, concurrency, port))
    finally:
        server.stop(proc)


def valgrind_instructions(argv: list[str]) -> int:
    """Instructions the process ``python argv...`` executes (its children are not counted)."""
    result = subprocess.run(
        [
            "valgrind",
            "--tool=cachegrind",
            "--cache-sim=no",
            "--cachegrind-out-file=/dev/null",
            sys.executable,
            *argv,
        ],
        capture_output=True,
        text=True,
        cwd=_ROOT,
        check=True,
    )
    found = re.search(r"I\s+refs:\s+([\d,]+)", result.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count in valgrind's output:\n{result.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def need_valgrind(prog: str) -> None:
    """Exit naming the package when valgrind is missing."""
    if shutil.which("valgrind") is None:
        sys.exit(f"{prog} needs valgrind: apt-get install valgrind")


def count(name: str, workload: str, flows: int, concurrency: int) -> int:
    """Instructions the client process executes for one run (start-up included)."""
    child = ["-m", "benchmarks.instructions", "--child", name, workload]
    return valgrind_instructions([*child, str(flows), str(concurrency)])


def per_flow(name: str, workload: str, flows: int, concurrency: int) -> float:
    """Thousands of instructions one flow costs the client process."""
    return (count(name, workload, flows, concurrency) - count(name, workload, 0, concurrency)) / (
        flows * 1000
    )


def main() -> None:
    """Print k instructions per flow for each contender, and the ratios to raw and tuned."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.instructions")
    parser.add_argument("--contenders", default="raw,tuned,client,flows")
    parser.add_argument("--workloads", default="payout_flow,payment_flow")
    parser.add_argument("--flows", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--child", nargs=4, metavar=("CONTENDER", "WORKLOAD", "N", "C"))
    args = parser.parse_args()
    if args.child:
        name, workload, flows, concurrency = args.child
        _child(name, workload, int(flows), int(concurrency))
        return
    need_valgrind("benchmarks.instructions")
    for workload in args.workloads.split(","):
        figures = {
            name: per_flow(name, workload, args.flows, args.concurrency)
            for name in args.contenders.split(",")
        }
        for name, k in figures.items():
            ratios = "  ".join(
                f"{base} / {name} {figures[base] / k:.3f}"
                for base in ("raw", "tuned")
                if base in figures and base != name
            )
            print(f"{workload:13} {name:7} {k:8.1f} k instr/flow   {ratios}", flush=True)


if __name__ == "__main__":
    main()
