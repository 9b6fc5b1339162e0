"""The SDK's own CPU cost per flow, without sockets: ``python -m benchmarks.overhead``.

The transport's ``send`` is replaced by a stub answering the canned server's bytes,
so what is timed is everything the SDK adds around aiohttp: request objects and
their validation, unstructuring, JSON, the retry runner, decoding and structuring.
The raw contender's own work (``json.dumps`` + ``json.loads``, no aiohttp) is
timed the same way. Best of several repeats, so a noisy machine matters less;
use it to A/B a change in seconds where the full benchmark needs minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from kasha_async._http import RawResponse, Timeout

from .contenders import RawAiohttp, SDKClient, SDKFlows
from .server import BODIES

_HEADERS: Mapping[str, str] = {"Content-Type": "application/json"}
_ANSWERS = {path: json.dumps(body).encode() for path, body in BODIES.items()}


async def _stub_send(
    method: str,
    path: str,
    body: bytes = b"",
    *,
    timeout: Timeout,
    content_type: str | None = "application/json",
) -> RawResponse:
    await asyncio.sleep(0)  # let the loop turn, as real I/O would (timers get cleaned up)
    return RawResponse(200, _HEADERS, _ANSWERS[path])


class _RawNoIO(RawAiohttp):
    """The raw contender's per-request work (encode, decode, pick fields) without aiohttp."""

    def __init__(self) -> None:
        pass

    async def _post(self, path: str, payload: dict[str, Any], latencies: list[float]) -> Any:
        json.dumps(payload).encode()
        await asyncio.sleep(0)
        return json.loads(_ANSWERS[path])

    async def close(self) -> None:
        pass


async def _best_us_per_flow(
    flow: Callable[[int, list[float]], Awaitable[None]], flows: int, repeats: int
) -> float:
    best = float("inf")
    for _ in range(repeats):
        sink: list[float] = []
        started = time.thread_time()  # CPU time: other processes on this CPU do not count
        for i in range(flows):
            await flow(i, sink)
        best = min(best, (time.thread_time() - started) / flows * 1e6)
    return best


async def measure(flows: int, repeats: int) -> dict[str, dict[str, float]]:
    """Best µs per flow, raw work vs SDK work, for both workloads."""
    sdk = SDKClient("http://127.0.0.1:9")
    sdk.kasha._transport.send = _stub_send  # type: ignore[method-assign]
    sdk_flows = SDKFlows("http://127.0.0.1:9")
    sdk_flows.kasha._transport.send = _stub_send  # type: ignore[method-assign]
    raw = _RawNoIO()
    figures: dict[str, dict[str, float]] = {}
    for workload in ("payout_flow", "payment_flow"):
        figures[workload] = {
            "raw_us": await _best_us_per_flow(getattr(raw, workload), flows, repeats),
            "sdk_us": await _best_us_per_flow(getattr(sdk, workload), flows, repeats),
            "flows_us": await _best_us_per_flow(getattr(sdk_flows, workload), flows, repeats),
        }
    await sdk.close()
    await sdk_flows.close()
    return figures


def main() -> None:
    """Print µs per flow for the raw contender's own work and the SDK's."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.overhead")
    parser.add_argument("--flows", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=25)
    args = parser.parse_args()
    for workload, f in asyncio.run(measure(args.flows, args.repeats)).items():
        extra = f["sdk_us"] - f["raw_us"]
        print(
            f"{workload:13} raw work {f['raw_us']:6.1f} us/flow   SDK {f['sdk_us']:6.1f} us/flow"
            f"   SDK extra {extra:6.1f} us/flow   flows {f['flows_us']:6.1f} us/flow"
        )


if __name__ == "__main__":
    main()
