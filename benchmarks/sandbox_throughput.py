"""How many payout flows per second the sandbox serves, so it is never a test's bottleneck.

Run ``python -m benchmarks.sandbox_throughput [flows] [concurrency]``. The sandbox
runs as ``kasha sandbox serve --port 0`` in its own process (pinned to CPU 0 when
there are two); a raw aiohttp client (pinned to CPU 1) drives whole payout flows:
payout-options, payout-suboptions, payout, settle-payout. It prints one line and
writes ``benchmarks/results-sandbox.json`` (ignored by git).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

RESULTS = Path(__file__).with_name("results-sandbox.json")
API_KEY = "sk_test_sandbox"
OPTIONS = {
    "country": "BR",
    "currency": "BRL",
    "amount": 25,
    "redirectUrl": "https://merchant.example/return",
    "customer": {"name": "Jane Roe"},
}


async def start_sandbox() -> tuple[asyncio.subprocess.Process, str]:
    """Start the CLI sandbox on a free port and read its base URL from stdout."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kasha_async.cli", "sandbox", "serve", "--port", "0",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    while True:
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        if not line:
            raise RuntimeError("the sandbox exited before printing its URL")
        for word in line.split():
            if word.startswith("http://127.0.0.1:"):
                return proc, word.rstrip("/")


def pin(pid: int, cpu: int) -> None:
    """Pin a process to one CPU when the machine has at least two."""
    if hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) >= 2:
        os.sched_setaffinity(pid, {cpu})


async def post(session: aiohttp.ClientSession, url: str, payload: dict[str, Any]) -> Any:
    """POST JSON, insist on 200, return the decoded answer."""
    async with session.post(url, json=payload) as response:
        body = await response.read()
        if response.status != 200:
            raise RuntimeError(f"{url}: HTTP {response.status}: {body[:200]!r}")
    return json.loads(body)


async def payout_flow(session: aiohttp.ClientSession, base: str, ref: str) -> None:
    """One payout: options, suboptions, create, approve."""
    opened = (
        await post(session, f"{base}/v2/payout-options", {**OPTIONS, "merchantReference": ref})
    )[0]
    ids = {
        "sessionId": opened["sessionId"],
        "paymentOptionId": opened["paymentOptions"][0]["paymentOptionId"],
    }
    sub = (await post(session, f"{base}/v2/payout-suboptions", ids))[0]["result"]["options"]
    created = await post(
        session,
        f"{base}/v2/payout",
        {**ids, "optionId": sub["id"], "extraData": {"name": "Jane Roe"}},
    )
    settle = {"action": "APPROVE", "transactionId": created["result"]["transactionId"]}
    await post(session, f"{base}/v2/settle-payout", settle)


async def drive(base: str, flows: int, concurrency: int, tag: str) -> float:
    """Run ``flows`` payout flows at ``concurrency``; return flows per second."""
    queue = iter(range(flows))
    async with aiohttp.ClientSession(headers={"x-api-key": API_KEY}) as session:

        async def worker() -> None:
            for i in queue:
                await payout_flow(session, base, f"{tag}-{i}")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return flows / (time.perf_counter() - started)


async def main(flows: int, concurrency: int) -> None:
    """Measure and report."""
    proc, base = await start_sandbox()
    try:
        pin(proc.pid, 0)
        pin(0, 1)
        await drive(base, min(flows, 200), concurrency, "warm")
        rate = await drive(base, flows, concurrency, "run")
    finally:
        proc.terminate()
        await proc.wait()
    result = {"payout_flows_per_s": round(rate, 1), "requests_per_s": round(rate * 4, 1)}
    result |= {"flows": flows, "concurrency": concurrency}
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"sandbox: {rate:.0f} payout flows/s ({rate * 4:.0f} requests/s) at C={concurrency}")


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    asyncio.run(main(*(args + [3000, 50][len(args) :])))
