"""The transport: signing, multipart, timeouts, and the not-sent / outcome-unknown split."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
import ssl
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from kasha_async import (
    APIStatusError,
    ConfigError,
    ConnectionLostError,
    KashaClient,
    KashaError,
    OutcomeUnknownError,
    RequestNotSentError,
    ResponseFormatError,
    Timeout,
    TransportError,
)
from kasha_async._constants import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_READ_TIMEOUT,
    MAX_RESPONSE_BYTES,
)
from kasha_async._http import ReadWatch, encode_multipart, translate_client_error
from kasha_async._signing import sign
from tests.fixtures import sample_bytes

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
EXCERPT_MAX = 501


@contextlib.asynccontextmanager
async def serve(routes: dict[tuple[str, str], Handler]) -> AsyncIterator[str]:
    """Run an aiohttp app on 127.0.0.1 port 0 and yield its base URL."""
    app = web.Application()
    for (method, path), handler in routes.items():
        app.router.add_route(method, path, handler)
    runner = web.AppRunner(app, shutdown_timeout=1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def client_for(base_url: str, **kwargs: Any) -> KashaClient:
    """A client on ``base_url`` that does not retry unless told to."""
    kwargs.setdefault("max_retries", 0)
    return KashaClient(api_key="k", base_url=base_url, **kwargs)


# --- pure helpers -----------------------------------------------------------------------------


def test_sign_matches_rfc4231_vector() -> None:
    """``sign`` is base64 of HMAC-SHA256 (RFC 4231 test case 2), standard alphabet, padded."""
    expected = bytes.fromhex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    assert sign(b"Jefe", b"what do ya want for nothing?") == base64.b64encode(expected).decode()


def test_sign_of_empty_body() -> None:
    """The empty body (a GET) has its own fixed, padded signature."""
    signed = sign(b"key", b"")
    assert signed == "XV0TlWPJW1lnub2ajJsjOp3ttFByeUzSMtwbdIMmB9A="
    assert signed.endswith("=")


def test_encode_multipart_layout() -> None:
    """Multipart bodies carry each field in its own part, closed by the boundary."""
    body, content_type = encode_multipart({"sessionId": "s-1", "paymentOptionId": "po-1"})
    boundary = content_type.removeprefix("multipart/form-data; boundary=")
    assert boundary.startswith("kasha-")
    assert (
        body
        == (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="sessionId"\r\n\r\ns-1\r\n'
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="paymentOptionId"\r\n\r\npo-1\r\n'
            f"--{boundary}--\r\n"
        ).encode()
    )


def test_encode_multipart_boundaries_differ() -> None:
    """Each multipart body gets a fresh boundary."""
    assert encode_multipart({"a": "1"})[1] != encode_multipart({"a": "1"})[1]


def test_timeout_from_number_caps_the_phases() -> None:
    """A number is the total deadline and caps connect and read to it."""
    assert Timeout.coerce(2) == Timeout(connect=2.0, read=2.0, total=2.0)
    assert Timeout.coerce(100) == Timeout(
        connect=DEFAULT_CONNECT_TIMEOUT, read=DEFAULT_READ_TIMEOUT, total=100.0
    )
    explicit = Timeout(connect=1, read=2, total=3)
    assert Timeout.coerce(explicit) is explicit


@pytest.mark.parametrize("value", [0, -1.5])
def test_timeout_must_be_positive(value: float) -> None:
    """A zero or negative timeout is a ConfigError."""
    with pytest.raises(ConfigError):
        Timeout.coerce(value)


def _connector_error() -> aiohttp.ClientConnectorError:
    key = SimpleNamespace(host="127.0.0.1", port=1, ssl=False)
    return aiohttp.ClientConnectorError(key, ConnectionRefusedError(111, "refused"))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("exc", "cls"),
    [
        (_connector_error(), RequestNotSentError),
        (aiohttp.ConnectionTimeoutError(), RequestNotSentError),
        (aiohttp.ServerDisconnectedError(), ConnectionLostError),
        (aiohttp.ClientPayloadError("truncated"), ConnectionLostError),
        (aiohttp.ClientOSError(104, "reset"), ConnectionLostError),
        (aiohttp.SocketTimeoutError(), ConnectionLostError),
        (aiohttp.ServerTimeoutError(), ConnectionLostError),
        (TimeoutError(), ConnectionLostError),
        (aiohttp.InvalidURL("http://[bad"), ConfigError),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else "",
)
def test_translate_client_error(exc: BaseException, cls: type[Exception]) -> None:
    """Connect failures are "not sent"; anything after the request left is "outcome unknown"."""
    translated = translate_client_error(exc, method="POST", path="/v2/payment")
    assert type(translated) is cls
    assert str(translated).startswith("POST /v2/payment: ")


_KEY: Any = SimpleNamespace(host="api.example", port=443, ssl=True)  # a ConnectionKey


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (_connector_error(), "connection refused"),
        (
            aiohttp.ClientConnectorDNSError(_KEY, OSError(-2, "Name or service not known")),
            "DNS lookup failed",
        ),
        (
            aiohttp.ClientConnectorCertificateError(_KEY, ssl.SSLCertVerificationError()),
            "TLS certificate rejected",
        ),
        (aiohttp.ClientConnectorSSLError(_KEY, ssl.SSLError()), "TLS handshake failed"),
        (aiohttp.ConnectionTimeoutError(), "connect timeout"),
    ],
    ids=["refused", "dns", "certificate", "tls", "timeout"],
)
def test_connect_errors_name_the_address_and_the_reason(exc: BaseException, reason: str) -> None:
    """A connect failure says where it tried to connect and why it could not."""
    translated = translate_client_error(
        exc, method="POST", path="/v2/payment", address="api.example:443"
    )
    assert str(translated) == (f"POST /v2/payment: could not connect to api.example:443 ({reason})")


# --- against a real server on 127.0.0.1 -----------------------------------------------------------


async def test_refused_connection_is_request_not_sent() -> None:
    """A refused connection raises RequestNotSentError, which is not an unknown outcome."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with client_for(f"http://127.0.0.1:{port}") as kasha:
        with pytest.raises(RequestNotSentError) as info:
            await kasha.payments.post(session_id="s", payment_option_id="po")
    assert isinstance(info.value, TransportError)
    assert not isinstance(info.value, OutcomeUnknownError)
    assert str(info.value) == (
        f"POST /v2/payment: could not connect to 127.0.0.1:{port} (connection refused)"
    )


async def test_reset_after_reading_the_request_is_connection_lost() -> None:
    """A server that reads the request then resets gives ConnectionLostError after one request."""
    bodies: list[bytes] = []

    async def reset(request: web.Request) -> web.Response:
        bodies.append(await request.read())
        assert request.transport is not None
        request.transport.abort()
        return web.Response()

    async with (
        serve({("GET", "/v2/transactions/{id}"): reset}) as url,
        client_for(url) as kasha,
    ):
        with pytest.raises(ConnectionLostError) as info:
            await kasha.transactions.get("tx-1")
    assert isinstance(info.value, OutcomeUnknownError)
    # aiohttp itself resends an idempotent GET once after a disconnect; never a POST (below).
    assert bodies in ([b""], [b"", b""])


async def test_reset_on_a_payment_is_an_unknown_outcome() -> None:
    """A reset after a payment post was read is an OutcomeUnknownError, never "not sent"."""
    bodies: list[bytes] = []

    async def reset(request: web.Request) -> web.Response:
        bodies.append(await request.read())
        assert request.transport is not None
        request.transport.abort()
        return web.Response()

    async with serve({("POST", "/v2/payment"): reset}) as url, client_for(url) as kasha:
        with pytest.raises(OutcomeUnknownError) as info:
            await kasha.payments.post(session_id="s", payment_option_id="po")
    assert not isinstance(info.value, RequestNotSentError)
    assert bodies == [b'{"sessionId":"s","paymentOptionId":"po"}']


async def test_read_timeout_is_connection_lost() -> None:
    """A server that answers later than the read timeout gives ConnectionLostError."""
    release = asyncio.Event()
    calls: list[str] = []

    async def stall(request: web.Request) -> web.Response:
        calls.append(request.path)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(release.wait(), 5)
        return web.Response(body=b"{}")

    timeout = Timeout(connect=1, read=0.2, total=5)
    async with serve({("GET", "/v2/transactions/{id}"): stall}) as url:
        async with client_for(url, timeout=timeout) as kasha:
            with pytest.raises(ConnectionLostError) as info:
                await kasha.transactions.get("tx-1")
        release.set()
    assert isinstance(info.value, OutcomeUnknownError)
    assert calls == ["/v2/transactions/tx-1"]


async def test_a_trickling_answer_cannot_hold_an_attempt_past_the_read_timeout() -> None:
    """read bounds the whole attempt: a byte every 0.1 s still times out at read (0.3 s)."""

    async def trickle(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        with contextlib.suppress(ConnectionError):
            for _ in range(40):
                await response.write(b" ")
                await asyncio.sleep(0.1)
            await response.write(b"{}")
        return response

    timeout = Timeout(connect=1, read=0.3, total=5)
    async with (
        serve({("GET", "/v2/transactions/{id}"): trickle}) as url,
        client_for(url, timeout=timeout, max_retries=0) as kasha,
    ):
        # The whole answer would arrive after 4 s: it is the read bound that ends the call.
        with pytest.raises(ConnectionLostError, match="timed out waiting for the answer"):
            await kasha.transactions.get("tx-1")


async def test_read_watch_cancellation_from_outside_stays_a_cancellation() -> None:
    """A task cancelled by someone else inside a read bound gets CancelledError, not a timeout."""
    watch = ReadWatch()
    entered = asyncio.Event()

    async def bounded() -> None:
        with watch.bound(30):
            entered.set()
            await asyncio.sleep(10)

    task = asyncio.create_task(bounded())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_read_watch_fires_and_restores_the_task() -> None:
    """A 0.05 s bound raises TimeoutError, restores the task's cancel count, keeps no bound."""
    watch = ReadWatch()
    with pytest.raises(TimeoutError), watch.bound(0.05):
        await asyncio.sleep(5)
    task = asyncio.current_task()
    assert task is not None
    assert task.cancelling() == 0
    with watch.bound(5):
        await asyncio.sleep(0)
    await asyncio.sleep(0.01)
    assert watch._bounds == {}


def test_read_watch_works_across_event_loops() -> None:
    """One transport's watch bounds attempts on a second event loop after the first closed."""
    watch = ReadWatch()

    async def long_bound_then_short() -> None:
        with watch.bound(60):
            await asyncio.sleep(0)
        with pytest.raises(TimeoutError), watch.bound(0.05):
            await asyncio.sleep(5)

    asyncio.run(long_bound_then_short())
    asyncio.run(long_bound_then_short())


async def test_redirect_is_not_followed() -> None:
    """A 307 is an APIStatusError after one request; the redirect target is never hit."""
    hits: list[str] = []

    async def redirect(request: web.Request) -> web.Response:
        hits.append(request.path)
        raise web.HTTPTemporaryRedirect("/elsewhere")

    async def elsewhere(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(body=sample_bytes("payment"))

    routes: dict[tuple[str, str], Handler] = {
        ("POST", "/v2/payment"): redirect,
        ("POST", "/elsewhere"): elsewhere,
    }
    async with serve(routes) as url, client_for(url, max_retries=3) as kasha:
        with pytest.raises(APIStatusError) as info:
            await kasha.payments.post(session_id="s", payment_option_id="po")
    assert info.value.status_code == 307
    assert hits == ["/v2/payment"]


async def _huge_with_length(request: web.Request) -> web.Response:
    return web.Response(body=b'"' + b"a" * (10 * 1024 * 1024) + b'"')


async def _huge_chunked(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse()
    response.enable_chunked_encoding()
    await response.prepare(request)
    with contextlib.suppress(ConnectionError):
        for _ in range(160):  # 10 MiB in 64 KiB chunks
            await response.write(b"a" * 65536)
        await response.write_eof()
    return response


async def _deeply_nested(request: web.Request) -> web.Response:
    return web.Response(body=b"[" * 100_000 + b"]" * 100_000)


@pytest.mark.parametrize(
    "handler",
    [_huge_with_length, _huge_chunked, _deeply_nested],
    ids=["10MiB-content-length", "10MiB-chunked", "100k-nested-lists"],
)
async def test_hostile_bodies_are_response_format_errors(handler: Handler) -> None:
    """A 10 MiB answer or 100k nested lists is a ResponseFormatError with status and excerpt."""
    async with (
        serve({("GET", "/v2/transactions/{id}"): handler}) as url,
        client_for(url) as kasha,
    ):
        with pytest.raises(ResponseFormatError) as info:
            await kasha.transactions.get("tx-1")
    exc = info.value
    assert exc.status_code == 200
    assert exc.body_excerpt is not None
    assert len(exc.body_excerpt) <= EXCERPT_MAX


async def test_answer_just_under_the_cap_is_read() -> None:
    """An answer below the size cap is read whole and parsed."""
    padding = b" " * (MAX_RESPONSE_BYTES - 10_000)

    async def padded(request: web.Request) -> web.Response:
        return web.Response(body=sample_bytes("transaction") + padding)

    async with (
        serve({("GET", "/v2/transactions/{id}"): padded}) as url,
        client_for(url) as kasha,
    ):
        tx = await kasha.transactions.get("tx-1")
    assert tx.id == "099cdc76-45d1-49e1-8985-e1c82dcfadb3"


async def test_real_request_headers_and_signature() -> None:
    """On the wire a POST carries key, User-Agent, JSON content type and a matching signature."""
    seen: list[tuple[dict[str, str], bytes]] = []

    async def record(request: web.Request) -> web.Response:
        seen.append((dict(request.headers), await request.read()))
        return web.Response(body=sample_bytes("refund"))

    async with (
        serve({("POST", "/v2/refund"): record}) as url,
        client_for(url, signature_key="sig") as kasha,
    ):
        refund = await kasha.refunds.create(merchant_reference="m-1")
    [(headers, body)] = seen
    assert body == b'{"merchantReference":"m-1"}'
    assert headers["x-api-key"] == "k"
    assert headers["Content-Type"] == "application/json"
    assert headers["x-signature"] == sign(b"sig", body)
    assert headers["User-Agent"].startswith("kasha-async/")
    assert refund.id == "feb6a715-9f7c-49d4-b6f7-10c59d18a194"


async def test_each_request_carries_exactly_its_own_content_type() -> None:
    """A GET sends no Content-Type; a JSON or multipart POST sends its own, once, no default."""
    seen: dict[str, list[str]] = {}

    def recording(sample: str) -> Handler:
        async def record(request: web.Request) -> web.Response:
            seen[request.path] = request.headers.getall("Content-Type", [])
            await request.read()
            return web.Response(body=sample_bytes(sample))

        return record

    routes: dict[tuple[str, str], Handler] = {
        ("GET", "/v2/transactions/t-1"): recording("transaction"),
        ("POST", "/v2/payment-suboptions"): recording("payment-suboptions"),
    }
    async with serve(routes) as url, client_for(url) as kasha:
        await kasha.transactions.get("t-1")
        await kasha.payments.suboptions(session_id="s", payment_option_id="po", multipart=True)
    assert seen["/v2/transactions/t-1"] == []
    [multipart] = seen["/v2/payment-suboptions"]
    assert multipart.startswith("multipart/form-data; boundary=kasha-")


# --- hostile servers and the exception chain -------------------------------------------------

_API_KEY = "kasha-live-key-0123456789"
_SIGNATURE_KEY = "kasha-signature-key-0123456789"


@contextlib.asynccontextmanager
async def raw_server(answer: bytes) -> AsyncIterator[str]:
    """A raw socket server on 127.0.0.1 port 0 that reads a request head and writes ``answer``."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(answer)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        await server.wait_closed()


def chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception reachable from it through __cause__ and __context__."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [e for e in (current.__cause__, current.__context__) if e is not None]


_HOSTILE_ANSWERS = {
    "oversized-header": b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n",
    "bad-status-line": b"HTTP/1.1 two hundred OK\r\nContent-Length: 2\r\n\r\n{}",
    "not-http": b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
    "10000-headers": b"HTTP/1.1 200 OK\r\n"
    + b"".join(b"X-H%d: v\r\n" % i for i in range(10_000))
    + b"Content-Length: 2\r\n\r\n{}",
}


@pytest.mark.parametrize("answer", list(_HOSTILE_ANSWERS.values()), ids=list(_HOSTILE_ANSWERS))
async def test_hostile_answers_chain_no_request_headers(answer: bytes) -> None:
    """No exception reachable from the error, nor its traceback text, holds the API key."""
    async with (
        raw_server(answer) as url,
        KashaClient(
            api_key=_API_KEY, signature_key=_SIGNATURE_KEY, base_url=url, max_retries=0
        ) as kasha,
    ):
        with pytest.raises(KashaError) as info:
            await kasha.payments.post(session_id="s", payment_option_id="po")
    for exc in chain(info.value):
        assert not hasattr(exc, "request_info"), repr(exc)
        assert isinstance(exc, KashaError), repr(exc)
    text = "".join(traceback.format_exception(info.value))
    assert _API_KEY not in text
    assert sign(_SIGNATURE_KEY.encode(), b'{"sessionId":"s","paymentOptionId":"po"}') not in text


@contextlib.asynccontextmanager
async def stalling_server() -> AsyncIterator[str]:
    """A server whose transaction lookups stall until the block ends (at most 5 s)."""
    release = asyncio.Event()

    async def stall(request: web.Request) -> web.Response:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(release.wait(), 5)
        return web.Response(body=sample_bytes("transaction"))

    async with serve({("GET", "/v2/transactions/{id}"): stall}) as url:
        try:
            yield url
        finally:
            release.set()


async def test_closing_the_client_ends_queued_calls_as_not_sent() -> None:
    """Calls waiting for a pooled connection when the client closes get RequestNotSentError."""
    async with stalling_server() as url:
        kasha = client_for(url, pool_size=1)
        calls = [asyncio.create_task(kasha.transactions.get(f"tx-{i}")) for i in range(3)]
        await asyncio.sleep(0.2)  # one call holds the only connection, two wait for it
        await kasha.close()
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
    assert [type(o) for o in outcomes] == [
        ConnectionLostError,
        RequestNotSentError,
        RequestNotSentError,
    ]
    assert "closed while the request waited for a connection" in str(outcomes[1])


async def test_closing_with_retries_on_still_raises_a_kasha_error() -> None:
    """With retries on, a call queued at close ends in a KashaError, never CancelledError."""
    async with stalling_server() as url:
        kasha = KashaClient(api_key="k", base_url=url, pool_size=1)
        calls = [asyncio.create_task(kasha.transactions.get(f"tx-{i}")) for i in range(2)]
        await asyncio.sleep(0.2)
        await kasha.close()
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(o, KashaError) for o in outcomes), outcomes


async def test_a_cancelled_call_on_a_closed_client_stays_cancelled() -> None:
    """A task the caller cancels still gets CancelledError, even if the client closed meanwhile."""
    async with stalling_server() as url:
        kasha = client_for(url, pool_size=1)
        first = asyncio.create_task(kasha.transactions.get("tx-1"))
        queued = asyncio.create_task(kasha.transactions.get("tx-2"))
        await asyncio.sleep(0.2)
        queued.cancel()
        await kasha.close()
        outcomes = await asyncio.gather(first, queued, return_exceptions=True)
    assert isinstance(outcomes[1], asyncio.CancelledError)
