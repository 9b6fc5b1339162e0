"""Profile one contender on one workload with cProfile: ``python -m benchmarks.profile``.

``python -m benchmarks.profile client payout_flow 100 --flows 3000 --sort tottime``
prints the top functions; ``--out FILE`` keeps the ``pstats`` file for snakeviz & co.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
from pathlib import Path

from . import server
from .contenders import CONTENDERS
from .run import _make, measure


async def _profiled(name: str, workload: str, c: int, flows: int, pid: int, port: int) -> str:
    contender = _make(name, f"http://127.0.0.1:{port}")
    try:
        flow = getattr(contender, workload)
        await measure(flow, max(c, flows // 4), c, pid)
        profiler = cProfile.Profile()
        profiler.enable()
        figures = await measure(flow, flows, c, pid)
        profiler.disable()
    finally:
        await contender.close()
    profiler.dump_stats(_stats_path)
    return f"{figures['flows_per_s']:.0f} flows/s under the profiler"


_stats_path = "/tmp/kasha-bench.pstats"


def main() -> None:
    """Run the profile and print the top of it."""
    global _stats_path
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile")
    parser.add_argument("contender", choices=tuple(CONTENDERS))
    parser.add_argument("workload", choices=("payout_flow", "payment_flow"))
    parser.add_argument("concurrency", type=int)
    parser.add_argument("--flows", type=int, default=2000)
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.out:
        _stats_path = str(args.out)
    server.raise_fd_limit()
    proc, port = server.start(cpu=0)
    try:
        server.pin_to_cpu(1)
        print(
            asyncio.run(
                _profiled(
                    args.contender, args.workload, args.concurrency, args.flows, proc.pid, port
                )
            )
        )
    finally:
        server.stop(proc)
    pstats.Stats(_stats_path).sort_stats(args.sort).print_stats(args.top)


if __name__ == "__main__":
    main()
