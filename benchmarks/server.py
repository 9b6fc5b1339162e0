"""A canned-response Kasha server: the sandbox's answer shapes, no state, no validation.

It is a bare ``asyncio.Protocol`` speaking just enough HTTP/1.1 (keep-alive,
``Content-Length`` bodies, no pipelining surprises) to answer every route with
bytes built once at start-up. An ``aiohttp.web`` app costs about as much CPU per
request as the aiohttp client under test, so on a two-core machine it would be
the bottleneck and hide the client's costs (see README, "Server").

Run as ``python -m benchmarks.server``: it pins itself to CPU 0, listens on
``127.0.0.1:0`` and prints the port on the first line of stdout.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import subprocess
import sys
from typing import Any

TRANSACTION_ID = "94b2412c-1386-4b9a-bafa-9c0e37ddf053"
SESSION_ID = "6716a741-2efd-4695-a934-95b57fe2c4f7"
OPTION_ID = "dfb7a9c4-1e87-4803-9929-091d946999d3"


def _form_input(
    label: str, name: str, validations: dict[str, int] | None, *, required: bool = True
) -> dict[str, Any]:
    return {
        "label": label,
        "name": name,
        "type": "string",
        "values": [],
        "required": required,
        "validations": validations,
    }


def _options(name: str, extra_data: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "transactionId": TRANSACTION_ID,
        "sessionId": SESSION_ID,
        "paymentOptions": [
            {"paymentOptionId": OPTION_ID, "name": name, "logo": None, "extraData": extra_data}
        ],
    }


def _banks() -> list[dict[str, Any]]:
    names = ["Alfa-Bank", "Qiwi", "Sberbank - by mobile", "Sberbank - card number", "VTB"]
    return [{"id": f"b_{n}", "name": name, "logo": None} for n, name in enumerate(names)]


#: Route -> answer body, in the shapes of CONTRACT.md §3 (the reference's samples).
BODIES: dict[str, Any] = {
    "/v2/payout-options": [_options("Bank Transfer", [])],
    "/v2/payout-suboptions": [
        {
            "statusCode": 85,
            "resultType": "option_choice",
            "result": {
                "paymentOptionId": OPTION_ID,
                "transactionId": TRANSACTION_ID,
                "sessionId": SESSION_ID,
                "options": {
                    "id": "d_316",
                    "name": "name",
                    "logo": None,
                    "uuid": "9fe7e381-c9db-44b0-88aa-22dae4eb6185",
                    "formInputs": [
                        _form_input(
                            "Beneficiary's name", "name", {"minLength": 5, "maxLength": 100}
                        ),
                        _form_input("Beneficiary's phone", "phone", None, required=False),
                    ],
                },
            },
        }
    ],
    "/v2/payout": {
        "statusCode": 0,
        "resultType": "success",
        "result": {"transactionId": TRANSACTION_ID},
    },
    "/v2/settle-payout": {
        "statusCode": "000",
        "status": "PROCESSING",
        "transactionId": TRANSACTION_ID,
        "merchantReference": "mr-65gkcsf2w23423",
        "result": "Payout request was submitted successfully.",
    },
    "/v2/payment-options": _options("Bank Transfer", []),
    "/v2/payment-suboptions": {
        "statusCode": "085",
        "resultType": "option_choice",
        "result": {
            "paymentOptionId": OPTION_ID,
            "transactionId": TRANSACTION_ID,
            "sessionId": SESSION_ID,
            "options": _banks(),
            "formInputs": [_form_input("phone", "phone", {"minLength": 11, "maxLength": 18})],
        },
    },
    "/v2/payment": {
        "statusCode": "000",
        "resultType": "success",
        "result": {"transactionId": TRANSACTION_ID},
    },
    # PaymentFlow.pay() reads the transaction once after a plain success (its status and
    # the answer check): the payment flow's fourth request, which the raw contenders skip.
    f"/v2/transactions/{TRANSACTION_ID}": {
        "id": TRANSACTION_ID,
        "sessionId": SESSION_ID,
        "country": "BR",
        "currency": "BRL",
        "paymentAmount": 130,
        "method": "Bank Transfer",
        "status": "PENDING",
        "merchantReference": "mr-65gkcsf2w23423",
        "createdAt": "2022-08-04T08:23:50.738Z",
        "updatedAt": "2022-08-04T08:23:50.738Z",
    },
}


def _http_answer(status: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
    )
    return head.encode() + body


ANSWERS: dict[bytes, bytes] = {
    path.encode(): _http_answer("200 OK", json.dumps(body).encode())
    for path, body in BODIES.items()
}
NOT_FOUND = _http_answer("404 Not Found", b'{"resultType":"error","errors":{"code":"404"}}')


class CannedHTTP(asyncio.Protocol):
    """Answers each request on a keep-alive connection with its route's canned bytes."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer + data if self._buffer else data
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            head = buffer[:end]
            total = end + 4 + _content_length(head)
            if len(buffer) < total:
                break
            path = head[head.index(b" ") + 1 : head.index(b" HTTP/")]
            assert self._transport is not None
            self._transport.write(ANSWERS.get(path, NOT_FOUND))
            buffer = buffer[total:]
        self._buffer = buffer


def _content_length(head: bytes) -> int:
    at = head.lower().find(b"\r\ncontent-length:")
    if at < 0:
        return 0
    start = at + len(b"\r\ncontent-length:")
    stop = head.find(b"\r\n", start)
    return int(head[start : stop if stop >= 0 else len(head)])


def raise_fd_limit() -> None:
    """Lift the open-files soft limit to the hard limit (C=1,000 needs 2,000+ sockets)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def pin_to_cpu(cpu: int) -> bool:
    """Pin this process to ``cpu`` if the machine has more than one; say whether it did."""
    available = os.sched_getaffinity(0)
    if len(available) < 2 or cpu not in available:
        return False
    os.sched_setaffinity(0, {cpu})
    return True


async def serve() -> None:
    """Listen on an ephemeral port, report it on stdout, serve until stdin closes."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(CannedHTTP, "127.0.0.1", 0, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    print(port, flush=True)
    stdin_closed = asyncio.Event()
    loop.add_reader(sys.stdin.fileno(), stdin_closed.set)
    async with server:
        await stdin_closed.wait()


def start(cpu: int = 0) -> tuple[subprocess.Popen[str], int]:
    """Start the server in its own process pinned to ``cpu``; return the process and port."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.server", str(cpu)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline())


def stop(proc: subprocess.Popen[str]) -> None:
    """Close the server's stdin (it exits on EOF) and wait for it."""
    assert proc.stdin is not None
    proc.stdin.close()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far, from ``/proc/<pid>/stat``."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


if __name__ == "__main__":
    raise_fd_limit()
    pin_to_cpu(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    asyncio.run(serve())
