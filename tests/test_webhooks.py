"""Unit tests of kasha_async.webhooks: verify, ordering, deduplication, and both handlers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import aiohttp
import httpx
import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.routing import BaseRoute, Mount, Route

import kasha_async
from kasha_async import Transaction, TransactionStatus
from kasha_async.webhooks import (
    MAX_WEBHOOK_BYTES,
    DeliveryKey,
    DeliveryVerdict,
    InMemorySeenStore,
    WebhookASGIApp,
    WebhookDeduplicator,
    WebhookReceiver,
    aiohttp_handler,
    is_older,
    status_rank,
    verify,
)

KEY = "whsec-test-key"
TX_ID = "099cdc76-45d1-49e1-8985-e1c82dcfadb3"


def signature(body: bytes, key: str = KEY) -> str:
    """The contract's x-signature, computed independently of the SDK."""
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


def wire(status: str = "PENDING", updated: str = "2024-05-01T10:00:00Z", **extra: Any) -> bytes:
    """A transaction body as the provider sends it (compact, key order of its own)."""
    data = {
        "id": TX_ID,
        "status": status,
        "currency": "BRL",
        "paymentAmount": 130.10,
        "merchantReference": "order-1",
        "updatedAt": updated,
        **extra,
    }
    return json.dumps(data, separators=(",", ":")).encode()


def tx(status: str = "PENDING", updated: str | None = "2024-05-01T10:00:00Z") -> Transaction:
    """A Transaction value without going through the wire."""
    stamp = datetime.fromisoformat(updated) if updated else None
    return Transaction(id=TX_ID, status=TransactionStatus(status), updated_at=stamp)


# --- verify -----------------------------------------------------------------------------------


def test_verify_returns_the_parsed_transaction() -> None:
    """A correctly signed body comes back as a Transaction with exact Decimal money."""
    body = wire("COMPLETED")
    result = verify(body, {"x-signature": signature(body)}, KEY)
    assert result.id == TX_ID
    assert result.status is TransactionStatus.COMPLETED
    assert result.payment_amount == Decimal("130.1")
    assert result.updated_at == datetime(2024, 5, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    "make_headers",
    [
        lambda sig: {"x-signature": sig},
        lambda sig: {"X-Signature": sig},
        lambda sig: {"X-SIGNATURE": sig, "Content-Type": "application/json"},
        lambda sig: CIMultiDict({"X-Signature": sig}),
        lambda sig: Headers(raw=[(b"x-signature", sig.encode())]),
    ],
    ids=["dict-lower", "dict-title", "dict-upper", "multidict", "starlette"],
)
def test_verify_finds_the_header_in_any_mapping_and_case(
    make_headers: Callable[[str], Any],
) -> None:
    """The signature header is found in dicts of any key case, multidicts and Starlette headers."""
    body = wire()
    assert verify(body, make_headers(signature(body)), KEY).id == TX_ID


def test_verify_accepts_bytes_and_str_keys_and_bytearray_bodies() -> None:
    """A bytes key equals its str form, and a bytearray body verifies like bytes."""
    body = wire()
    headers = {"x-signature": signature(body)}
    assert verify(bytearray(body), headers, KEY.encode()).id == TX_ID


def test_verify_tolerates_whitespace_around_the_signature() -> None:
    """Surrounding whitespace in the header value does not break verification."""
    body = wire()
    assert verify(body, {"x-signature": f"  {signature(body)} "}, KEY).id == TX_ID


@pytest.mark.parametrize("headers", [{}, {"x-signature": ""}, {"X-Signature": "   "}])
def test_missing_signature_is_rejected_with_401(headers: dict[str, str]) -> None:
    """An absent or blank x-signature raises MissingSignatureError, answered with 401."""
    with pytest.raises(kasha_async.MissingSignatureError) as info:
        verify(wire(), headers, KEY)
    assert info.value.response_status == 401
    assert "x-signature" in info.value.message


def test_tampered_body_is_rejected() -> None:
    """Changing one byte of a signed body raises InvalidSignatureError (401)."""
    body = wire()
    tampered = body.replace(b"130.1", b"930.1")
    with pytest.raises(kasha_async.InvalidSignatureError) as info:
        verify(tampered, {"x-signature": signature(body)}, KEY)
    assert info.value.response_status == 401


def test_wrong_key_is_rejected() -> None:
    """A body signed with another key raises InvalidSignatureError."""
    body = wire()
    with pytest.raises(kasha_async.InvalidSignatureError):
        verify(body, {"x-signature": signature(body, "other-key")}, KEY)


def test_reserialized_json_does_not_verify() -> None:
    """Verification is over the raw bytes: the same JSON re-serialized fails the signature."""
    body = wire()
    reserialized = json.dumps(json.loads(body)).encode()  # same data, different spacing
    with pytest.raises(kasha_async.InvalidSignatureError):
        verify(reserialized, {"x-signature": signature(body)}, KEY)


def test_non_ascii_signature_is_invalid_not_a_crash() -> None:
    """A non-ASCII header value is an InvalidSignatureError, not a TypeError."""
    with pytest.raises(kasha_async.InvalidSignatureError):
        verify(wire(), {"x-signature": "sïgnature=="}, KEY)


def test_parsed_json_instead_of_bytes_is_refused() -> None:
    """Passing parsed JSON raises ConfigError telling the caller to pass the raw bytes."""
    parsed: Any = json.loads(wire())
    with pytest.raises(kasha_async.ConfigError, match="raw request bytes"):
        verify(parsed, {"x-signature": "x"}, KEY)


def test_empty_key_is_a_config_error() -> None:
    """An empty signature key is refused, since it would accept forged webhooks."""
    with pytest.raises(kasha_async.ConfigError, match="empty"):
        verify(wire(), {"x-signature": "x"}, "")


def test_too_large_body_is_refused_before_the_signature() -> None:
    """A body over the limit raises WebhookTooLargeError (413) even when unsigned."""
    with pytest.raises(kasha_async.WebhookTooLargeError) as info:
        verify(b"{" + b" " * MAX_WEBHOOK_BYTES + b"}", {}, KEY)
    assert info.value.response_status == 413


def test_body_at_the_limit_is_accepted() -> None:
    """A body exactly max_body_bytes long is not too large."""
    body = wire()
    result = verify(body, {"x-signature": signature(body)}, KEY, max_body_bytes=len(body))
    assert result.id == TX_ID


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[1, 2]", b'{"status": "PENDING"}', b'{"id": "t", "status": 7}', b""],
    ids=["not-json", "array", "no-id", "bad-status", "empty"],
)
def test_signed_but_malformed_body_is_a_payload_error(body: bytes) -> None:
    """An authentic body that is not a transaction raises WebhookPayloadError (400)."""
    with pytest.raises(kasha_async.WebhookPayloadError) as info:
        verify(body, {"x-signature": signature(body)}, KEY)
    assert info.value.response_status == 400
    assert info.value.message.startswith("webhook body is not a transaction")


def test_payload_error_excerpt_is_redacted() -> None:
    """The excerpt of a malformed body masks card numbers."""
    body = b'{"id": 5, "cardnum": "4111111111111111"}'
    with pytest.raises(kasha_async.WebhookPayloadError) as info:
        verify(body, {"x-signature": signature(body)}, KEY)
    assert "4111111111111111" not in (info.value.body_excerpt or "")


def test_webhook_errors_are_kasha_errors() -> None:
    """Every webhook rejection is a WebhookError, itself a KashaError."""
    for cls in (
        kasha_async.MissingSignatureError,
        kasha_async.InvalidSignatureError,
        kasha_async.WebhookPayloadError,
        kasha_async.WebhookTooLargeError,
    ):
        assert issubclass(cls, kasha_async.WebhookError)
    assert issubclass(kasha_async.WebhookError, kasha_async.KashaError)


# --- ordering ---------------------------------------------------------------------------------


def test_status_rank_follows_the_life_cycle() -> None:
    """CREATED < PENDING < PROCESSING < every final status < REFUNDED."""
    order = ["CREATED", "PENDING", "PROCESSING", "COMPLETED", "REFUNDED"]
    ranks = [status_rank(TransactionStatus(s)) for s in order]
    finals = {status_rank(TransactionStatus(s)) for s in ("COMPLETED", "DECLINED", "ERROR")}
    assert ranks == [0, 1, 2, 3, 4]
    assert finals == {status_rank(TransactionStatus.EXPIRED)}
    assert status_rank(TransactionStatus("ON_HOLD")) is None


@pytest.mark.parametrize(
    ("candidate", "known", "older"),
    [
        (tx("PENDING"), tx("COMPLETED"), True),
        (tx("COMPLETED"), tx("PENDING"), False),
        (tx("COMPLETED"), tx("REFUNDED"), True),
        (tx("PROCESSING", "2024-05-02T00:00:00Z"), tx("COMPLETED", "2024-05-01T00:00:00Z"), True),
        (tx("COMPLETED", "2024-05-01T00:00:00Z"), tx("DECLINED", "2024-05-02T00:00:00Z"), True),
        (tx("PENDING", "2024-05-01T00:00:00Z"), tx("PENDING", "2024-05-02T00:00:00Z"), True),
        (tx("PENDING", None), tx("PENDING", "2024-05-02T00:00:00Z"), False),
        (tx("ON_HOLD", "2024-05-01T00:00:00Z"), tx("PENDING", "2024-05-02T00:00:00Z"), True),
        (tx("ON_HOLD", "2024-05-03T00:00:00Z"), tx("COMPLETED", "2024-05-02T00:00:00Z"), False),
    ],
    ids=[
        "pending<completed",
        "completed>pending",
        "completed<refunded",
        "status-beats-updatedAt",
        "final-tie-by-updatedAt",
        "same-status-by-updatedAt",
        "no-updatedAt-not-older",
        "unknown-status-by-updatedAt-older",
        "unknown-status-by-updatedAt-newer",
    ],
)
def test_is_older(candidate: Transaction, known: Transaction, older: bool) -> None:
    """Status order decides, updatedAt breaks ties and orders unknown statuses."""
    assert is_older(candidate, known) is older


_statuses = st.sampled_from([*TransactionStatus, TransactionStatus("ON_HOLD")])
_stamps = st.none() | st.datetimes(timezones=st.just(UTC))


@given(_statuses, _stamps, _statuses, _stamps)
def test_is_older_is_never_true_both_ways(
    s1: TransactionStatus, t1: datetime | None, s2: TransactionStatus, t2: datetime | None
) -> None:
    """No two states are each older than the other, so nothing is dropped in both orders."""
    a = DeliveryKey(transaction_id="t", status=s1, updated_at=t1)
    b = DeliveryKey(transaction_id="t", status=s2, updated_at=t2)
    assert not (is_older(a, b) and is_older(b, a))


# --- deduplication ----------------------------------------------------------------------------


async def test_second_identical_delivery_is_a_duplicate() -> None:
    """The same (id, status, updatedAt) is NEW once, then DUPLICATE."""
    dedupe = WebhookDeduplicator()
    assert await dedupe.check(tx("PENDING")) is DeliveryVerdict.NEW
    assert await dedupe.check(tx("PENDING")) is DeliveryVerdict.DUPLICATE


async def test_same_status_with_new_updated_at_is_new() -> None:
    """A later updatedAt on the same status is a new delivery, not a duplicate."""
    dedupe = WebhookDeduplicator()
    await dedupe.check(tx("PENDING", "2024-05-01T10:00:00Z"))
    assert await dedupe.check(tx("PENDING", "2024-05-01T10:00:01Z")) is DeliveryVerdict.NEW


async def test_older_status_after_newer_is_stale_then_duplicate() -> None:
    """PENDING after COMPLETED is STALE, its redelivery DUPLICATE, and COMPLETED stays latest."""
    dedupe = WebhookDeduplicator()
    assert await dedupe.check(tx("COMPLETED")) is DeliveryVerdict.NEW
    assert await dedupe.check(tx("PENDING")) is DeliveryVerdict.STALE
    assert await dedupe.check(tx("PENDING")) is DeliveryVerdict.DUPLICATE
    latest = dedupe.latest(TX_ID)
    assert latest is not None
    assert latest.status is TransactionStatus.COMPLETED


async def test_transactions_are_tracked_independently() -> None:
    """A status of one transaction never makes another transaction's delivery stale."""
    dedupe = WebhookDeduplicator()
    await dedupe.check(tx("COMPLETED"))
    other = Transaction(id="other", status=TransactionStatus.PENDING)
    assert await dedupe.check(other) is DeliveryVerdict.NEW


async def test_forget_makes_the_redelivery_new() -> None:
    """After forget(), the same delivery is NEW again (the callback failed the first time)."""
    dedupe = WebhookDeduplicator()
    await dedupe.check(tx("COMPLETED"))
    await dedupe.forget(tx("COMPLETED"))
    assert await dedupe.check(tx("COMPLETED")) is DeliveryVerdict.NEW


async def test_in_memory_store_forgets_the_least_recently_seen() -> None:
    """Past max_entries, the least recently seen key is evicted and would count as new."""
    store = InMemorySeenStore(max_entries=2)
    a, b, c = (DeliveryKey(transaction_id=i, status=TransactionStatus.PENDING) for i in "abc")
    assert await store.add(a)
    assert await store.add(b)
    assert not await store.add(a)  # a is now the most recent
    assert await store.add(c)  # evicts b
    assert len(store) == 2
    assert not await store.add(a)
    assert await store.add(b)


async def test_latest_memory_is_bounded() -> None:
    """The per-transaction latest state is also capped at max_entries."""
    dedupe = WebhookDeduplicator(max_entries=1)
    await dedupe.check(Transaction(id="a", status=TransactionStatus.PENDING))
    await dedupe.check(Transaction(id="b", status=TransactionStatus.PENDING))
    assert dedupe.latest("a") is None
    assert dedupe.latest("b") is not None


@pytest.mark.parametrize(
    "make", [lambda: InMemorySeenStore(0), lambda: WebhookDeduplicator(max_entries=0)]
)
def test_max_entries_must_be_positive(make: Callable[[], object]) -> None:
    """A store that can remember nothing is a configuration error."""
    with pytest.raises(kasha_async.ConfigError):
        make()


class SetStore:
    """A SeenStore over a shared set, standing in for Redis or SQL."""

    def __init__(self, keys: set[str]) -> None:
        self.keys = keys

    async def add(self, key: DeliveryKey) -> bool:
        """Record the key's string form."""
        if str(key) in self.keys:
            return False
        self.keys.add(str(key))
        return True

    async def discard(self, key: DeliveryKey) -> None:
        """Drop the key's string form."""
        self.keys.discard(str(key))


async def test_a_shared_store_dedupes_across_deduplicators() -> None:
    """Two deduplicators (two workers) over one store see each other's deliveries."""
    shared: set[str] = set()
    first, second = WebhookDeduplicator(SetStore(shared)), WebhookDeduplicator(SetStore(shared))
    assert await first.check(tx("COMPLETED")) is DeliveryVerdict.NEW
    assert await second.check(tx("COMPLETED")) is DeliveryVerdict.DUPLICATE
    assert shared == {f"{TX_ID}|COMPLETED|2024-05-01T10:00:00+00:00"}


def test_delivery_key_string_without_updated_at() -> None:
    """A key without updatedAt has a stable string with a dash for the time."""
    key = DeliveryKey(transaction_id="t1", status=TransactionStatus.PENDING)
    assert str(key) == "t1|PENDING|-"


# --- the receiver -----------------------------------------------------------------------------


class Recorder:
    """Collects the transactions handed to user code; can be told to fail."""

    def __init__(self) -> None:
        self.seen: list[Transaction] = []
        self.fail_next = False

    def sync(self, transaction: Transaction) -> None:
        """A plain-function callback."""
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("database down")
        self.seen.append(transaction)

    async def async_(self, transaction: Transaction) -> None:
        """A coroutine-function callback."""
        self.sync(transaction)


def signed(body: bytes, key: str = KEY) -> dict[str, str]:
    """Headers of a delivery signed with ``key``."""
    return {"Content-Type": "application/json", "X-Signature": signature(body, key)}


async def test_receiver_calls_back_once_per_new_delivery() -> None:
    """A new delivery reaches the callback; its duplicate is answered but not handed over."""
    recorder = Recorder()
    receiver = WebhookReceiver(KEY, recorder.async_)
    body = wire("COMPLETED")
    first = await receiver.handle(body, signed(body))
    again = await receiver.handle(body, signed(body))
    assert (first.status_code, dict(first.body)) == (
        200,
        {"ok": True, "duplicate": False, "stale": False},
    )
    assert dict(again.body) == {"ok": True, "duplicate": True, "stale": False}
    assert [t.status for t in recorder.seen] == [TransactionStatus.COMPLETED]


async def test_receiver_ignores_a_stale_status() -> None:
    """An older status arriving late is answered 200 with stale true and not handed over."""
    recorder = Recorder()
    receiver = WebhookReceiver(KEY, recorder.sync)
    for status in ("COMPLETED", "PROCESSING"):
        body = wire(status)
        result = await receiver.handle(body, signed(body))
    assert dict(result.body) == {"ok": True, "duplicate": False, "stale": True}
    assert result.verdict is DeliveryVerdict.STALE
    assert [t.status for t in recorder.seen] == [TransactionStatus.COMPLETED]


async def test_receiver_answers_500_and_reprocesses_after_a_failing_callback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """When the callback raises, the answer is 500 and the provider's retry is processed."""
    recorder = Recorder()
    recorder.fail_next = True
    receiver = WebhookReceiver(KEY, recorder.sync)
    body = wire("COMPLETED")
    failed = await receiver.handle(body, signed(body))
    retried = await receiver.handle(body, signed(body))
    assert failed.status_code == 500
    assert "database down" not in failed.body_bytes().decode()
    assert "webhook callback failed" in caplog.text
    assert (retried.status_code, retried.verdict) == (200, DeliveryVerdict.NEW)
    assert len(recorder.seen) == 1


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (wire(), {}, 401),
        (wire(), signed(wire(), "wrong-key"), 401),
        (b"nope", signed(b"nope"), 400),
        (b"x" * 1001, signed(b"x" * 1001), 413),
    ],
    ids=["missing", "wrong-key", "bad-body", "too-large"],
)
async def test_receiver_maps_rejections_to_statuses(
    body: bytes, headers: dict[str, str], status: int
) -> None:
    """Missing or wrong signature answers 401, bad body 400, too large 413; nothing handed over."""
    recorder = Recorder()
    receiver = WebhookReceiver(KEY, recorder.sync, max_body_bytes=1000)
    result = await receiver.handle(body, headers)
    assert result.status_code == status
    assert result.body["ok"] is False
    assert isinstance(result.error, kasha_async.WebhookError)
    assert recorder.seen == []


# --- aiohttp ----------------------------------------------------------------------------------

Poster = Callable[..., Awaitable[tuple[int, dict[str, Any]]]]


@pytest.fixture
def recorder() -> Recorder:
    """A fresh callback recorder."""
    return Recorder()


@pytest.fixture
async def aiohttp_post(recorder: Recorder) -> AsyncIterator[Poster]:
    """POST to an aiohttp.web webhook endpoint served on 127.0.0.1, port 0."""
    app = web.Application()
    app.router.add_post("/kasha", aiohttp_handler(KEY, recorder.async_, max_body_bytes=1000))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    async with aiohttp.ClientSession() as session:

        async def post(body: bytes | Any, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
            url = f"http://127.0.0.1:{port}/kasha"
            async with session.post(url, data=body, headers=headers) as resp:
                return resp.status, await resp.json()

        yield post
    await runner.cleanup()


async def test_aiohttp_handler_accepts_then_reports_duplicate(
    aiohttp_post: Poster, recorder: Recorder
) -> None:
    """Over real HTTP, a delivery is accepted, its copy reported duplicate, and handed over once."""
    body = wire("COMPLETED")
    assert await aiohttp_post(body, signed(body)) == (
        200,
        {"ok": True, "duplicate": False, "stale": False},
    )
    assert await aiohttp_post(body, signed(body)) == (
        200,
        {"ok": True, "duplicate": True, "stale": False},
    )
    assert len(recorder.seen) == 1


async def test_aiohttp_handler_rejects_bad_signature_and_body(
    aiohttp_post: Poster, recorder: Recorder
) -> None:
    """The aiohttp handler answers 401 for a wrong key and 400 for a bad body."""
    body = wire()
    status, answer = await aiohttp_post(body, signed(body, "wrong"))
    assert (status, answer["ok"]) == (401, False)
    status, _ = await aiohttp_post(b"[]", signed(b"[]"))
    assert status == 400
    assert recorder.seen == []


async def test_aiohttp_handler_refuses_large_bodies_by_length_and_by_stream(
    aiohttp_post: Poster,
) -> None:
    """A body over the limit answers 413 whether announced by Content-Length or streamed."""
    big = b"x" * 5000

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(big), 500):
            yield big[start : start + 500]

    status, _ = await aiohttp_post(big, signed(big))
    assert status == 413
    status, _ = await aiohttp_post(chunks(), signed(big))
    assert status == 413


async def test_aiohttp_handler_reads_a_chunked_body(
    aiohttp_post: Poster, recorder: Recorder
) -> None:
    """A streamed (chunked) body under the limit is verified over all its bytes."""
    body = wire("PENDING")

    async def chunks() -> AsyncIterator[bytes]:
        yield body[:20]
        yield body[20:]

    status, _ = await aiohttp_post(chunks(), signed(body))
    assert status == 200
    assert [t.id for t in recorder.seen] == [TX_ID]


# --- ASGI -------------------------------------------------------------------------------------


def asgi_client(app: Any) -> httpx.AsyncClient:
    """An httpx client driving ``app`` in-process."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.mark.parametrize(
    ("route", "url"),
    [
        (lambda app: Route("/kasha/webhook", app, methods=["POST"]), "/kasha/webhook"),
        (lambda app: Mount("/kasha/webhook", app=app), "/kasha/webhook/"),
    ],
    ids=["route", "mount"],
)
async def test_asgi_app_in_starlette(
    recorder: Recorder, route: Callable[[WebhookASGIApp], BaseRoute], url: str
) -> None:
    """Routed or mounted in Starlette, the app accepts, reports duplicates, and hands over once."""
    app = Starlette(routes=[route(WebhookASGIApp(KEY, recorder.sync))])
    body = wire("COMPLETED")
    async with asgi_client(app) as client:
        first = await client.post(url, content=body, headers=signed(body))
        again = await client.post(url, content=body, headers=signed(body))
    assert (first.status_code, first.json()) == (
        200,
        {"ok": True, "duplicate": False, "stale": False},
    )
    assert again.json()["duplicate"] is True
    assert first.headers["content-type"] == "application/json"
    assert len(recorder.seen) == 1


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (wire(), {}, 401),
        (wire(), signed(wire(), "wrong"), 401),
        (b"{}", signed(b"{}"), 400),
        (b"y" * 2000, signed(b"y" * 2000), 413),
    ],
    ids=["missing", "wrong-key", "bad-body", "too-large"],
)
async def test_asgi_app_rejections(
    recorder: Recorder, body: bytes, headers: dict[str, str], status: int
) -> None:
    """The ASGI app answers 401, 400 and 413 like the receiver and hands nothing over."""
    app = WebhookASGIApp(KEY, recorder.sync, max_body_bytes=1000)
    async with asgi_client(app) as client:
        response = await client.post("/", content=body, headers=headers)
    assert response.status_code == status
    assert response.json()["ok"] is False
    assert recorder.seen == []


async def test_asgi_app_allows_only_post(recorder: Recorder) -> None:
    """A GET answers 405 with Allow: POST."""
    async with asgi_client(WebhookASGIApp(KEY, recorder.sync)) as client:
        response = await client.get("/")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


class FakeChannel:
    """Scripted ASGI receive and recorded send."""

    def __init__(self, incoming: list[dict[str, Any]]) -> None:
        self.incoming = incoming
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        """The next scripted message."""
        return self.incoming.pop(0)

    async def send(self, message: Any) -> None:
        """Record a message the app sent."""
        self.sent.append(dict(message))


def post_scope(headers: dict[str, str]) -> dict[str, Any]:
    """A minimal HTTP POST scope."""
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return {"type": "http", "method": "POST", "path": "/", "headers": raw}


async def test_asgi_app_joins_body_chunks(recorder: Recorder) -> None:
    """A body split over several http.request messages is verified as a whole."""
    body = wire("PROCESSING")
    channel = FakeChannel(
        [
            {"type": "http.request", "body": body[:10], "more_body": True},
            {"type": "http.request", "body": body[10:], "more_body": False},
        ]
    )
    await WebhookASGIApp(KEY, recorder.sync)(
        post_scope(signed(body)), channel.receive, channel.send
    )
    assert channel.sent[0]["status"] == 200
    assert [t.status for t in recorder.seen] == [TransactionStatus.PROCESSING]


async def test_asgi_app_stops_at_the_limit_mid_stream(recorder: Recorder) -> None:
    """Once streamed chunks pass the limit, the app answers 413 without reading the rest."""
    chunk = {"type": "http.request", "body": b"z" * 600, "more_body": True}
    channel = FakeChannel([chunk, dict(chunk), dict(chunk)])
    app = WebhookASGIApp(KEY, recorder.sync, max_body_bytes=1000)
    await app(post_scope({}), channel.receive, channel.send)
    assert channel.sent[0]["status"] == 413
    assert len(channel.incoming) == 1


async def test_asgi_app_refuses_a_declared_oversize_body_before_reading(
    recorder: Recorder,
) -> None:
    """A Content-Length over the limit is a 413 before a single body message is received."""
    channel = FakeChannel([{"type": "http.request", "body": b"z", "more_body": False}])
    app = WebhookASGIApp(KEY, recorder.sync, max_body_bytes=1000)
    await app(post_scope({"Content-Length": "5000"}), channel.receive, channel.send)
    assert channel.sent[0]["status"] == 413
    assert len(channel.incoming) == 1
    assert recorder.seen == []


async def test_asgi_app_sends_nothing_when_the_client_disconnects(recorder: Recorder) -> None:
    """A disconnect before the body is complete ends the request without an answer."""
    channel = FakeChannel(
        [{"type": "http.request", "body": b"{", "more_body": True}, {"type": "http.disconnect"}]
    )
    await WebhookASGIApp(KEY, recorder.sync)(post_scope({}), channel.receive, channel.send)
    assert channel.sent == []
    assert recorder.seen == []


async def test_asgi_app_serves_lifespan(recorder: Recorder) -> None:
    """Run as a top-level app, it completes the lifespan startup and shutdown."""
    channel = FakeChannel([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    await WebhookASGIApp(KEY, recorder.sync)({"type": "lifespan"}, channel.receive, channel.send)
    assert [m["type"] for m in channel.sent] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]


async def test_asgi_app_refuses_websockets(recorder: Recorder) -> None:
    """A websocket scope is a ConfigError: webhooks are plain HTTP POSTs."""
    channel = FakeChannel([])
    with pytest.raises(kasha_async.ConfigError, match="HTTP only"):
        await WebhookASGIApp(KEY, recorder.sync)(
            {"type": "websocket"}, channel.receive, channel.send
        )


def test_reprs_hide_the_key(recorder: Recorder) -> None:
    """Neither the receiver's nor the app's repr shows the signature key."""
    app = WebhookASGIApp(KEY, recorder.sync)
    assert KEY not in repr(app)
    assert KEY not in repr(app.receiver)
