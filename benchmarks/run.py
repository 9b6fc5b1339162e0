"""``make bench``: raw aiohttp vs the SDK client vs the SDK flows, side by side.

The canned server runs in its own process pinned to CPU 0, this process on CPU 1.
For each workload and concurrency every contender is warmed up, then measured
``rounds`` times, interleaved (raw, client, flows, raw, client, flows, ...), each
measurement a fixed number of flows. Medians go to ``benchmarks/results.json``
and a table is printed. Memory is measured at C=1,000 in a fresh child process
per contender, so one contender's heap cannot flatter another's.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import gc
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from . import server
from .contenders import CONTENDERS, Contender, Flow

HERE = Path(__file__).resolve().parent
WORKLOADS = ("payout_flow", "payment_flow")
REQUESTS_PER_FLOW = {"payout_flow": 4, "payment_flow": 3}
CONCURRENCY = (1, 10, 100, 1000)
#: Flows per measurement at most, about 1 s of raw aiohttp on a quiet reference machine;
#: a measurement also stops starting flows after SECONDS (QUICK_SECONDS with --quick).
FLOWS = {1: 500, 10: 1000, 100: 1200, 1000: 2000}
QUICK_FLOWS = {1: 60, 10: 150, 100: 300, 1000: 1000}
SECONDS = 1.2
QUICK_SECONDS = 0.3
MEMORY_CONCURRENCY = 1000
#: The contenders in table order: naive raw aiohttp, tuned raw aiohttp, the client, the flows.
NAMES = ("raw", "tuned", "client", "flows")
MEMORY_NAMES = ("raw", "client", "flows")


class _Discard(list[float]):
    """A latency sink that keeps nothing (memory runs must not count the samples)."""

    def append(self, value: float, /) -> None:
        pass


async def measure(
    flow: Flow,
    flows: int,
    concurrency: int,
    server_pid: int,
    latencies: list[float] | None = None,
    *,
    seconds: float | None = None,
) -> dict[str, float]:
    """Run ``flows`` flows (or as many as start within ``seconds``) with ``concurrency`` workers.

    Throughput, latency and CPU figures. A time bound keeps ``make bench`` within its
    five minutes however loaded the machine is: a loaded machine gives fewer flows.
    """
    samples: list[float] = [] if latencies is None else latencies
    next_index = itertools.count().__next__
    remaining = flows
    done = 0

    async def worker() -> None:
        nonlocal remaining, done
        while remaining > 0 and time.perf_counter() < stop_at:
            remaining -= 1
            await flow(next_index(), samples)
            done += 1

    gc.collect()
    server_cpu = server.cpu_seconds(server_pid)
    client_cpu = time.process_time()
    started = time.perf_counter()
    stop_at = started + seconds if seconds is not None else float("inf")
    await asyncio.gather(*(worker() for _ in range(min(concurrency, flows))))
    elapsed = time.perf_counter() - started
    flows = max(done, 1)
    client_cpu = time.process_time() - client_cpu
    server_cpu = server.cpu_seconds(server_pid) - server_cpu
    figures = {
        "flows_per_s": flows / elapsed,
        "flows": flows,
        "server_cpu": server_cpu / elapsed,
        "client_cpu": client_cpu / elapsed,
        "client_cpu_us_per_flow": client_cpu / flows * 1e6,
    }
    if samples:
        samples.sort()
        figures["p50_ms"] = samples[len(samples) // 2] * 1000
        figures["p99_ms"] = samples[min(len(samples) - 1, int(len(samples) * 0.99))] * 1000
    return figures


def _median(runs: Sequence[dict[str, float]]) -> dict[str, float]:
    keys = runs[0].keys()
    return {key: statistics.median(run[key] for run in runs) for key in keys}


async def run_matrix(
    names: Sequence[str],
    base_url: str,
    server_pid: int,
    *,
    rounds: int,
    flows_per_c: dict[int, int],
    concurrency: Sequence[int],
    workloads: Sequence[str],
    seconds: float = SECONDS,
) -> dict[str, Any]:
    """Every workload x concurrency x contender, interleaved per round; medians per cell."""
    contenders: list[Contender] = [_make(name, base_url) for name in names]
    results: dict[str, Any] = {}
    try:
        for workload in workloads:
            results[workload] = {}
            for c in concurrency:
                flows = flows_per_c[c]
                for contender in contenders:  # warm-up: connections, caches, code paths
                    flow = getattr(contender, workload)
                    await measure(flow, max(c, flows // 4), c, server_pid, seconds=seconds / 4)
                runs: dict[str, list[dict[str, float]]] = {name: [] for name in names}
                for _ in range(rounds):
                    for contender in contenders:
                        flow = getattr(contender, workload)
                        runs[contender.name].append(
                            await measure(flow, flows, c, server_pid, seconds=seconds)
                        )
                results[workload][f"c{c}"] = _cell(runs, flows, rounds)
                _progress(workload, c, results[workload][f"c{c}"])
    finally:
        for contender in contenders:
            await contender.close()
    return results


def _cell(runs: dict[str, list[dict[str, float]]], flows: int, rounds: int) -> dict[str, Any]:
    medians = {name: _median(samples) for name, samples in runs.items()}
    raw = medians["raw"]["flows_per_s"]
    cell: dict[str, Any] = {
        name: (medians[name]["flows_per_s"] if name in medians else None) for name in NAMES
    }
    tuned = cell["tuned"]
    for name in ("client", "flows"):
        cell[f"ratio_{name}"] = cell[name] / raw if cell[name] is not None else None
        cell[f"ratio_{name}_tuned"] = cell[name] / tuned if cell[name] and tuned else None
    cell["max_flows_per_measurement"] = flows
    cell["rounds"] = rounds
    cell["detail"] = {
        name: {
            **{k: round(v, 4) for k, v in medians[name].items()},
            "flows_per_s_runs": [round(run["flows_per_s"], 1) for run in samples],
        }
        for name, samples in runs.items()
    }
    return cell


def _make(name: str, base_url: str) -> Contender:
    return CONTENDERS[name](base_url)


def _progress(workload: str, c: int, cell: dict[str, Any]) -> None:
    parts = [f"{name}={cell[name]:.0f}/s" for name in NAMES if cell[name]]
    keys = ("ratio_client", "ratio_flows", "ratio_client_tuned")
    ratios = [f"{k}={cell[k]:.3f}" for k in keys if cell.get(k)]
    cpu = max(d["server_cpu"] for d in cell["detail"].values())
    print(
        f"  {workload:13} C={c:<5} {'  '.join(parts)}  {'  '.join(ratios)}  server_cpu<={cpu:.0%}",
        flush=True,
    )


# --- memory ----------------------------------------------------------------------------------


def _proc_status(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise LookupError(field)


def _reset_peak_rss() -> None:
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")  # resets VmHWM to the current RSS (Linux >= 4.0)


async def memory_child(name: str, port: int, flows: int) -> dict[str, Any]:
    """In a fresh process: RSS and tracemalloc growth while C=1,000 flows are in flight."""
    base_url = f"http://127.0.0.1:{port}"
    contender = _make(name, base_url)
    pid = os.getpid()  # the server's CPU is not measured here; any pid will do
    c = MEMORY_CONCURRENCY
    try:
        # warm-up: 1,000 connections, steady-state buffers
        await measure(contender.payout_flow, flows, c, pid, _Discard())
        gc.collect()
        before = _proc_status("VmRSS")
        _reset_peak_rss()
        await measure(contender.payout_flow, flows, c, pid, _Discard())
        peak_rss = _proc_status("VmHWM")
        tracemalloc.start()
        await measure(contender.payout_flow, flows, c, pid, _Discard())
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    finally:
        await contender.close()
    return {
        "peak_rss_bytes": peak_rss,
        "rss_before_bytes": before,
        "rss_delta_per_flow": (peak_rss - before) / c,
        "traced_bytes_per_flow": traced_peak / c,
    }


def run_memory(names: Sequence[str], port: int, flows: int) -> dict[str, Any]:
    """One child process per contender; bytes per in-flight flow, SDK vs raw."""
    per: dict[str, Any] = {}
    child_args = ["--port", str(port), "--memory-flows", str(flows)]
    for name in names:
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks.run", "--memory-child", name, *child_args],
            check=False,
            capture_output=True,
            text=True,
        )
        if out.returncode != 0:  # e.g. a timeout on a saturated machine: say so, keep the rest
            print(f"memory child {name} failed:\n{out.stderr[-2000:]}", file=sys.stderr)
            return {"error": f"{name}: {out.stderr.strip().splitlines()[-1:]}"}
        per[name] = json.loads(out.stdout)
    raw = per["raw"]["traced_bytes_per_flow"]
    sdk = per["client"]["traced_bytes_per_flow"]
    memory: dict[str, Any] = {
        "concurrency": MEMORY_CONCURRENCY,
        "workload": "payout_flow",
        "method": "tracemalloc peak during a C=1,000 run / 1,000; RSS: VmHWM - VmRSS before",
        "raw_bytes_per_flow": round(raw),
        "sdk_bytes_per_flow": round(sdk),
        "ratio_sdk": sdk / raw,
        "flows_bytes_per_flow": None,
        "ratio_flows": None,
        "detail": per,
    }
    if "flows" in per:
        memory["flows_bytes_per_flow"] = round(per["flows"]["traced_bytes_per_flow"])
        memory["ratio_flows"] = per["flows"]["traced_bytes_per_flow"] / raw
    return memory


# --- machine, table, main --------------------------------------------------------------------


def machine(pinned: bool) -> dict[str, Any]:
    """What the figures were measured on."""
    model = ""
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    packages = ("aiohttp", "attrs", "cattrs", "orjson", "tenacity", "yarl", "multidict")
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "cpu": model,
        "cpus": os.cpu_count(),
        "pinned": "server on CPU 0, client on CPU 1" if pinned else "not pinned (one CPU)",
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "packages": {name: metadata.version(name) for name in packages},
        "commit": commit,
        "load": load(),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def load() -> dict[str, Any]:
    """How busy the machine was: load averages and the processes runnable right now."""
    with open("/proc/loadavg") as loadavg:
        one, five, fifteen, running, _ = loadavg.read().split()
    return {
        "loadavg_1_5_15": [float(one), float(five), float(fifteen)],
        "runnable_tasks": int(running.split("/")[0]),
        "cpus": os.cpu_count(),
    }


def table(results: dict[str, Any]) -> str:
    """The README's table: flows/s, ratios, per-request latency, server CPU."""
    lines = [
        "| workload | C | raw flows/s | tuned flows/s | client flows/s | flows flows/s | "
        "client ÷ raw | flows ÷ raw | client ÷ tuned | p50 / p99 ms raw | "
        "p50 / p99 ms client | server CPU |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for workload in WORKLOADS:
        for key, cell in results.get(workload, {}).items():
            detail = cell["detail"]
            lines.append(
                f"| {workload.replace('_', ' ')} | {key[1:]} | {cell['raw']:.0f} | "
                f"{_fmt(cell.get('tuned'), '.0f')} | {cell['client']:.0f} | "
                f"{_fmt(cell['flows'], '.0f')} | {cell['ratio_client']:.2f} | "
                f"{_fmt(cell['ratio_flows'], '.2f')} | "
                f"{_fmt(cell.get('ratio_client_tuned'), '.2f')} | "
                f"{_lat(detail['raw'])} | {_lat(detail['client'])} | "
                f"{max(d['server_cpu'] for d in detail.values()):.0%} |"
            )
    memory = results.get("memory")
    if memory and "error" in memory:
        lines += ["", f"memory not measured: {memory['error']}"]
    elif memory:
        lines += [
            "",
            "| memory at C=1,000 (payout flow) | raw | client | client ÷ raw | flows | "
            "flows ÷ raw |",
            "|---|---:|---:|---:|---:|---:|",
            f"| bytes per in-flight flow (tracemalloc) | {memory['raw_bytes_per_flow']} | "
            f"{memory['sdk_bytes_per_flow']} | {memory['ratio_sdk']:.2f} | "
            f"{_fmt(memory['flows_bytes_per_flow'], '.0f')} | "
            f"{_fmt(memory['ratio_flows'], '.2f')} |",
            f"| bytes per in-flight flow (RSS delta) | "
            f"{memory['detail']['raw']['rss_delta_per_flow']:.0f} | "
            f"{memory['detail']['client']['rss_delta_per_flow']:.0f} | | | |",
            f"| peak RSS, MiB | {memory['detail']['raw']['peak_rss_bytes'] / 2**20:.1f} | "
            f"{memory['detail']['client']['peak_rss_bytes'] / 2**20:.1f} | | | |",
        ]
    return "\n".join(lines)


def _fmt(value: float | None, spec: str) -> str:
    return "null" if value is None else format(value, spec)


def _lat(detail: dict[str, Any]) -> str:
    if "p50_ms" not in detail:
        return "n/a"
    return f"{detail['p50_ms']:.2f} / {detail['p99_ms']:.2f}"


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="one short round: a smoke run")
    parser.add_argument("--rounds", type=int, help="measured rounds per cell (default 3)")
    parser.add_argument("--out", type=Path, help="where to write the results JSON")
    parser.add_argument("--concurrency", type=int, nargs="+", choices=CONCURRENCY)
    parser.add_argument("--workload", choices=WORKLOADS, nargs="+")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory measurement")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--memory-flows", type=int, default=1000, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Start the server, run the matrix and the memory children, write JSON, print the table."""
    args = _arguments(argv)
    server.raise_fd_limit()
    if args.memory_child:
        server.pin_to_cpu(1)
        figures = asyncio.run(memory_child(args.memory_child, args.port, args.memory_flows))
        print(json.dumps(figures))
        return
    started = time.perf_counter()
    names = list(NAMES)
    rounds = args.rounds or (1 if args.quick else 3)
    out = args.out or HERE / ("results-quick.json" if args.quick else "results.json")
    proc, port = server.start(cpu=0)
    try:
        pinned = server.pin_to_cpu(1)
        print(f"server pid {proc.pid} on 127.0.0.1:{port}; contenders: {', '.join(names)}")
        results: dict[str, Any] = {"machine": machine(pinned)}
        results.update(
            asyncio.run(
                run_matrix(
                    names,
                    f"http://127.0.0.1:{port}",
                    proc.pid,
                    rounds=rounds,
                    flows_per_c=QUICK_FLOWS if args.quick else FLOWS,
                    concurrency=args.concurrency or CONCURRENCY,
                    workloads=args.workload or WORKLOADS,
                    seconds=QUICK_SECONDS if args.quick else SECONDS,
                )
            )
        )
        if not args.no_memory:
            flows = 1000 if args.quick else args.memory_flows
            results["memory"] = run_memory(MEMORY_NAMES, port, flows)
    finally:
        server.stop(proc)
    results["server_cpu_max"] = max(
        d["server_cpu"]
        for workload in WORKLOADS
        for cell in results.get(workload, {}).values()
        for d in cell["detail"].values()
    )
    results["load_after"] = load()
    results["duration_s"] = round(time.perf_counter() - started, 1)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print()
    print(table(results))
    before, after = results["machine"]["load"], results["load_after"]
    print(
        f"\nload average {before['loadavg_1_5_15'][0]:.1f} before, "
        f"{after['loadavg_1_5_15'][0]:.1f} after, on {before['cpus']} CPUs"
    )
    print(f"wrote {out} in {results['duration_s']} s")


if __name__ == "__main__":
    main()
