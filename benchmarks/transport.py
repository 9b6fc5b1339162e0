"""The transport's CPU per request against the canned server: ``python -m benchmarks.transport``.

``benchmarks.overhead`` stubs the transport out, so it cannot see a change inside
``Transport.send``. This drives ``Transport.send`` itself (and, beside it, the
naive and the tuned bare aiohttp clients of ``contenders.py``) over real sockets
at C=100 and reports this process's CPU time per request, best of several
interleaved repeats. CPU time, unlike throughput, barely moves when other
processes share the machine, so it is the figure to A/B a transport change with.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from kasha_async import _http
from kasha_async._http import DEFAULT_TIMEOUT

from . import server
from .contenders import API_KEY, naive_session, tuned_session, tuned_url

#: The payout flow's four requests, with bodies of the usual size.
_PATHS = ("/v2/payout-options", "/v2/payout-suboptions", "/v2/payout", "/v2/settle-payout")
_BODY = json.dumps({"sessionId": server.SESSION_ID, "paymentOptionId": server.OPTION_ID}).encode()
_PAYLOAD = json.loads(_BODY)

Send = Callable[[int], Awaitable[None]]


Sender = Callable[[str], tuple[Send, Callable[[], Awaitable[None]]]]


def _transport_sender(module: Any) -> Sender:
    def make(base_url: str) -> tuple[Send, Callable[[], Awaitable[None]]]:
        transport = module.Transport(base_url=base_url, api_key=API_KEY, signature_key=None)

        async def send(i: int) -> None:
            answer = await transport.send("POST", _PATHS[i % 4], _BODY, timeout=DEFAULT_TIMEOUT)
            json.loads(answer.body)

        return send, transport.close

    return make


def _module_at(ref: str) -> Any:
    """``kasha_async/_http.py`` as it was at git ``ref``, loaded beside today's."""
    source = subprocess.run(
        ["git", "show", f"{ref}:kasha_async/_http.py"],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "_http_baseline.py"
    path.write_text(source)
    name = "kasha_async._http_baseline"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _naive_sender(base_url: str) -> tuple[Send, Callable[[], Awaitable[None]]]:
    session = naive_session()

    async def send(i: int) -> None:
        async with session.post(base_url + _PATHS[i % 4], json=_PAYLOAD) as response:
            json.loads(await response.read())

    return send, session.close


def _tuned_sender(base_url: str) -> tuple[Send, Callable[[], Awaitable[None]]]:
    session, headers = tuned_session()
    urls = [tuned_url(base_url, path) for path in _PATHS]

    async def send(i: int) -> None:
        async with session.post(urls[i % 4], data=_BODY, headers=headers) as response:
            json.loads(await response.read())

    return send, session.close


SENDERS: dict[str, Sender] = {
    "naive": _naive_sender,
    "tuned": _tuned_sender,
    "transport": _transport_sender(_http),
}


async def _cpu_us_per_request(send: Send, requests: int, concurrency: int) -> float:
    remaining = requests

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await send(remaining)

    started = time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return (time.process_time() - started) / requests * 1e6


async def measure(
    port: int, requests: int, repeats: int, concurrency: int, senders_by_name: dict[str, Sender]
) -> dict[str, float]:
    """Best CPU µs per request for each sender, interleaved repeats."""
    base_url = f"http://127.0.0.1:{port}"
    senders = {name: make(base_url) for name, make in senders_by_name.items()}
    best = dict.fromkeys(senders, float("inf"))
    try:
        for send, _ in senders.values():  # warm-up: connections and caches
            await _cpu_us_per_request(send, requests // 2, concurrency)
        for _ in range(repeats):
            for name, (send, _) in senders.items():
                best[name] = min(best[name], await _cpu_us_per_request(send, requests, concurrency))
    finally:
        for _, close in senders.values():
            await close()
    return best


def main() -> None:
    """Print CPU µs per request: naive aiohttp, tuned aiohttp, the SDK's transport."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.transport")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=12)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--baseline", metavar="GIT_REF", help="also run _http.py as at GIT_REF")
    args = parser.parse_args()
    senders = dict(SENDERS)
    if args.baseline:
        senders[f"@{args.baseline}"] = _transport_sender(_module_at(args.baseline))
    server.raise_fd_limit()
    proc, port = server.start(cpu=0)
    try:
        server.pin_to_cpu(1)
        best = asyncio.run(measure(port, args.requests, args.repeats, args.concurrency, senders))
    finally:
        server.stop(proc)
    for name, us in best.items():
        print(f"{name:10} {us:6.1f} CPU us/request  ({us / best['tuned']:.2f} x tuned)")


if __name__ == "__main__":
    main()
