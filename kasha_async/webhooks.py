"""Receive Kasha webhooks: verify, deduplicate, order, and answer fast.

Kasha POSTs the transaction object to your ``notificationUrl`` with the header
``x-signature: base64(HMAC-SHA256(key, raw body))`` (CONTRACT.md §1). Delivery is
at-least-once: the same status may arrive twice, and an older status may arrive
after a newer one. The pieces, from the bottom up:

- :func:`verify` checks the signature over the **raw bytes** (never re-serialized
  JSON) in constant time, then parses the :class:`~kasha_async.Transaction`.
- :class:`WebhookDeduplicator` says whether a delivery is new, a duplicate, or an
  out-of-order older status (:class:`DeliveryVerdict`); its memory of seen
  deliveries is a pluggable :class:`SeenStore` (in-memory LRU by default).
- :class:`WebhookReceiver` ties both to your callback and decides the HTTP answer,
  framework-free; :func:`aiohttp_handler` and :class:`WebhookASGIApp`
  (Starlette, FastAPI, any ASGI server) are thin adapters over it.
"""

from __future__ import annotations

import enum
import inspect
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, MutableMapping
from datetime import datetime
from typing import Any, Protocol

import attrs
from aiohttp import web

from . import _convert, _signing
from ._codes import TransactionStatus
from ._errors import (
    ConfigError,
    InvalidSignatureError,
    MissingSignatureError,
    ResponseFormatError,
    WebhookError,
    WebhookPayloadError,
    WebhookTooLargeError,
    redact_bytes,
)
from ._models import Transaction

__all__ = [
    "DEFAULT_MEMORY_ENTRIES",
    "MAX_WEBHOOK_BYTES",
    "SIGNATURE_HEADER",
    "DeliveryKey",
    "DeliveryVerdict",
    "InMemorySeenStore",
    "SeenStore",
    "TransactionCallback",
    "WebhookASGIApp",
    "WebhookDeduplicator",
    "WebhookReceiver",
    "WebhookResult",
    "aiohttp_handler",
    "is_older",
    "status_rank",
    "verify",
]

logger = logging.getLogger("kasha_async.webhooks")

#: The header carrying ``base64(HMAC-SHA256(key, raw body))``.
SIGNATURE_HEADER = "x-signature"
#: Bodies larger than this are refused with 413 before any HMAC or parsing
#: (a transaction object is a few kilobytes).
MAX_WEBHOOK_BYTES = 256 * 1024
#: How many deliveries (and transactions) the in-memory stores remember.
DEFAULT_MEMORY_ENTRIES = 10_000

#: Your code: called once per new delivery with the verified transaction. It may
#: be a plain function or a coroutine function; keep it short (see docs/webhooks.md).
TransactionCallback = Callable[[Transaction], object]

# --- verification -----------------------------------------------------------------------------


def _key_bytes(signature_key: str | bytes) -> bytes:
    key = signature_key.encode() if isinstance(signature_key, str) else bytes(signature_key)
    if not key:
        raise ConfigError("the webhook signature key is empty: anyone could forge webhooks")
    return key


def _signature_from(headers: Mapping[str, str]) -> str | None:
    """The ``x-signature`` value from any mapping, whatever the case of its keys."""
    value = headers.get(SIGNATURE_HEADER)  # case-insensitive mappings answer here
    if value is None:
        lowered = (v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER)
        value = next(lowered, None)
    return value


def _check_signature(raw_body: bytes, headers: Mapping[str, str], key: bytes) -> None:
    given = _signature_from(headers)
    if given is None or not given.strip():
        raise MissingSignatureError(f"webhook has no {SIGNATURE_HEADER} header")
    if not _signing.verify(key, raw_body, given):
        raise InvalidSignatureError(
            f"webhook {SIGNATURE_HEADER} does not match the body (tampered body or wrong key)"
        )


def _parse_transaction(raw_body: bytes) -> Transaction:
    try:
        data = _convert.loads(raw_body)
        if not isinstance(data, dict):
            raise ResponseFormatError(f"expected a JSON object, got {type(data).__name__}")
        return _convert.parse(Transaction, data)
    except ResponseFormatError as exc:
        raise WebhookPayloadError(
            f"webhook body is not a transaction: {exc.message}",
            body_excerpt=redact_bytes(raw_body),
        ) from None


def _too_large(limit: int) -> WebhookTooLargeError:
    return WebhookTooLargeError(f"webhook body is over the {limit}-byte limit")


def _refuse_declared(content_length: str | int | None, limit: int) -> None:
    """Refuse a body whose declared length is over ``limit``, before reading any of it."""
    try:
        declared = None if content_length is None else int(content_length)
    except ValueError:
        return  # a garbled header proves nothing; the streamed size still counts
    if declared is not None and declared > limit:
        raise _too_large(limit)


async def _join_capped(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    """Join body chunks, refusing as soon as they pass ``limit``: the rest is never read."""
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        parts.append(chunk)
    return b"".join(parts)


def verify(
    raw_body: bytes | bytearray | memoryview,
    headers: Mapping[str, str],
    signature_key: str | bytes,
    *,
    max_body_bytes: int = MAX_WEBHOOK_BYTES,
) -> Transaction:
    """Check a webhook's signature over its raw bytes and return its transaction.

    ``headers`` is any mapping: aiohttp's and Starlette's headers, a multidict, or
    a plain dict with the header name in any case. Raises
    :class:`WebhookTooLargeError` (checked first, nothing else is done),
    :class:`MissingSignatureError`, :class:`InvalidSignatureError`, then, only
    for an authentic body, :class:`WebhookPayloadError`.
    """
    if not isinstance(raw_body, bytes | bytearray | memoryview):
        raise ConfigError(
            "verify() needs the raw request bytes (e.g. `await request.body()`), "
            f"not {type(raw_body).__name__}: re-serialized JSON never matches the signature"
        )
    key = _key_bytes(signature_key)
    raw = bytes(raw_body)
    if len(raw) > max_body_bytes:
        raise _too_large(max_body_bytes)
    _check_signature(raw, headers, key)
    return _parse_transaction(raw)


# --- ordering ---------------------------------------------------------------------------------

_RANKS: Mapping[TransactionStatus, int] = {
    TransactionStatus.CREATED: 0,
    TransactionStatus.PENDING: 1,
    TransactionStatus.PROCESSING: 2,
    TransactionStatus.COMPLETED: 3,
    TransactionStatus.DECLINED: 3,
    TransactionStatus.ERROR: 3,
    TransactionStatus.EXPIRED: 3,
    TransactionStatus.REFUNDED: 4,
}


def status_rank(status: TransactionStatus) -> int | None:
    """Position in the life cycle: CREATED < PENDING < PROCESSING < final < REFUNDED.

    ``None`` for a status the SDK does not know; such a status is ordered by
    ``updatedAt`` alone.
    """
    return _RANKS.get(status)


class _StatusStamp(Protocol):
    @property
    def status(self) -> TransactionStatus:
        """The status delivered."""
        ...

    @property
    def updated_at(self) -> datetime | None:
        """When the provider last changed the transaction, if it said."""
        ...


def is_older(candidate: _StatusStamp, known: _StatusStamp) -> bool:
    """Whether ``candidate`` (a Transaction or DeliveryKey) is an older state than ``known``.

    The status order decides; ``updatedAt`` breaks ties (and orders unknown
    statuses). Without enough information the answer is ``False``: when in
    doubt, a delivery is processed rather than dropped.
    """
    new_rank, old_rank = status_rank(candidate.status), status_rank(known.status)
    if new_rank is not None and old_rank is not None and new_rank != old_rank:
        return new_rank < old_rank
    if candidate.updated_at is None or known.updated_at is None:
        return False
    return candidate.updated_at < known.updated_at


# --- deduplication ----------------------------------------------------------------------------


@attrs.frozen(kw_only=True, slots=True)
class DeliveryKey:
    """What identifies one webhook delivery: transaction id, status and ``updatedAt``."""

    transaction_id: str
    status: TransactionStatus
    updated_at: datetime | None = None

    @classmethod
    def of(cls, transaction: Transaction) -> DeliveryKey:
        """The key of a verified transaction."""
        return cls(
            transaction_id=transaction.id,
            status=transaction.status,
            updated_at=transaction.updated_at,
        )

    def __str__(self) -> str:
        """A stable string form, for stores that keep strings (Redis, SQL)."""
        stamp = self.updated_at.isoformat() if self.updated_at else "-"
        return f"{self.transaction_id}|{self.status.value}|{stamp}"


class SeenStore(Protocol):
    """Where a :class:`WebhookDeduplicator` remembers deliveries; share one across workers.

    ``add`` must be atomic (Redis ``SET NX``, SQL ``INSERT ... ON CONFLICT DO
    NOTHING``) so that two copies arriving at once are not both taken as new.
    """

    async def add(self, key: DeliveryKey) -> bool:
        """Record ``key``; return ``True`` if it was not recorded before."""
        ...

    async def discard(self, key: DeliveryKey) -> None:
        """Forget ``key`` (your callback failed, so the redelivery must count as new)."""
        ...


class InMemorySeenStore:
    """A :class:`SeenStore` in process memory, forgetting the oldest keys beyond ``max_entries``."""

    def __init__(self, max_entries: int = DEFAULT_MEMORY_ENTRIES) -> None:
        if max_entries < 1:
            raise ConfigError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._keys: OrderedDict[DeliveryKey, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._keys)

    async def add(self, key: DeliveryKey) -> bool:
        """Record ``key``; return ``True`` if it was not recorded before."""
        if key in self._keys:
            self._keys.move_to_end(key)
            return False
        self._keys[key] = None
        if len(self._keys) > self.max_entries:
            self._keys.popitem(last=False)
        return True

    async def discard(self, key: DeliveryKey) -> None:
        """Forget ``key``."""
        self._keys.pop(key, None)


class DeliveryVerdict(enum.Enum):
    """What a deduplicator concluded about one delivery."""

    NEW = "new"
    """First time seen, and not older than what is known: process it."""
    DUPLICATE = "duplicate"
    """This exact (id, status, updatedAt) was seen before: ignore it."""
    STALE = "stale"
    """An older state than one already seen for this transaction (out of order): ignore it."""


class WebhookDeduplicator:
    """Tells new deliveries from duplicates and out-of-order older statuses.

    Duplicates are found through ``store`` (any :class:`SeenStore`; an in-memory
    LRU by default). The latest state per transaction is kept in memory, per
    process: with several workers, also guard the write in your own database
    (see docs/webhooks.md).
    """

    def __init__(
        self, store: SeenStore | None = None, *, max_entries: int = DEFAULT_MEMORY_ENTRIES
    ) -> None:
        if max_entries < 1:
            raise ConfigError("max_entries must be at least 1")
        self.store: SeenStore = store if store is not None else InMemorySeenStore(max_entries)
        self._max_entries = max_entries
        self._latest: OrderedDict[str, DeliveryKey] = OrderedDict()

    async def check(self, transaction: Transaction) -> DeliveryVerdict:
        """Classify one delivery and remember it."""
        key = DeliveryKey.of(transaction)
        if not await self.store.add(key):
            return DeliveryVerdict.DUPLICATE
        return DeliveryVerdict.STALE if self._is_stale(key) else DeliveryVerdict.NEW

    async def forget(self, transaction: Transaction) -> None:
        """Undo :meth:`check` for a delivery your code failed to handle, so its retry is new."""
        await self.store.discard(DeliveryKey.of(transaction))

    def latest(self, transaction_id: str) -> DeliveryKey | None:
        """The newest state seen for ``transaction_id`` in this process, if any."""
        return self._latest.get(transaction_id)

    def _is_stale(self, key: DeliveryKey) -> bool:
        known = self._latest.get(key.transaction_id)
        if known is not None and is_older(key, known):
            return True
        self._latest[key.transaction_id] = key
        self._latest.move_to_end(key.transaction_id)
        if len(self._latest) > self._max_entries:
            self._latest.popitem(last=False)
        return False


# --- the framework-free receiver --------------------------------------------------------------


@attrs.frozen(kw_only=True, slots=True)
class WebhookResult:
    """The answer to one webhook: HTTP status and JSON body, and what was decided."""

    status_code: int
    body: Mapping[str, Any]
    transaction: Transaction | None = None
    verdict: DeliveryVerdict | None = None
    error: WebhookError | None = None

    def body_bytes(self) -> bytes:
        """The JSON body to send."""
        return _convert.dumps(dict(self.body))


def _accepted(transaction: Transaction, verdict: DeliveryVerdict) -> WebhookResult:
    body = {
        "ok": True,
        "duplicate": verdict is DeliveryVerdict.DUPLICATE,
        "stale": verdict is DeliveryVerdict.STALE,
    }
    return WebhookResult(status_code=200, body=body, transaction=transaction, verdict=verdict)


class WebhookReceiver:
    """Verify, deduplicate, hand new transactions to ``on_transaction``, pick the answer.

    Answers: 200 ``{"ok": true, "duplicate": bool, "stale": bool}``; 401 for a
    missing or wrong signature; 400 for a bad body; 413 for a body over
    ``max_body_bytes``; 500 when ``on_transaction`` raised (the delivery is then
    forgotten, so the provider's retry is processed again). Use it directly from
    any framework not covered by :func:`aiohttp_handler` / :class:`WebhookASGIApp`.
    """

    def __init__(
        self,
        signature_key: str | bytes,
        on_transaction: TransactionCallback,
        *,
        deduplicator: WebhookDeduplicator | None = None,
        max_body_bytes: int = MAX_WEBHOOK_BYTES,
    ) -> None:
        self._key = _key_bytes(signature_key)
        self._on_transaction = on_transaction
        self.deduplicator = deduplicator if deduplicator is not None else WebhookDeduplicator()
        self.max_body_bytes = max_body_bytes

    def __repr__(self) -> str:
        return f"<WebhookReceiver max_body_bytes={self.max_body_bytes}>"

    async def handle(self, raw_body: bytes, headers: Mapping[str, str]) -> WebhookResult:
        """Process one delivery and return the answer to send."""
        try:
            transaction = verify(raw_body, headers, self._key, max_body_bytes=self.max_body_bytes)
        except WebhookError as exc:
            return self.reject(exc)
        verdict = await self.deduplicator.check(transaction)
        if verdict is DeliveryVerdict.NEW and not await self._deliver(transaction):
            return WebhookResult(
                status_code=500,
                body={"ok": False, "error": "webhook handler failed"},
                transaction=transaction,
                verdict=verdict,
            )
        return _accepted(transaction, verdict)

    def reject(self, exc: WebhookError) -> WebhookResult:
        """The answer to a delivery refused with ``exc`` (logged at WARNING)."""
        logger.warning("webhook rejected (%d): %s", exc.response_status, exc.message)
        return WebhookResult(
            status_code=exc.response_status, body={"ok": False, "error": exc.message}, error=exc
        )

    async def _deliver(self, transaction: Transaction) -> bool:
        try:
            outcome = self._on_transaction(transaction)
            if inspect.isawaitable(outcome):
                await outcome
        except Exception:
            logger.exception("webhook callback failed for transaction %s", transaction.id)
            await self.deduplicator.forget(transaction)
            return False
        return True


# --- aiohttp ----------------------------------------------------------------------------------


async def _read_capped(request: web.BaseRequest, limit: int) -> bytes:
    """Read the body, refusing it as soon as it is known to exceed ``limit``."""
    _refuse_declared(request.content_length, limit)
    return await _join_capped(request.content.iter_any(), limit)


def aiohttp_handler(
    signature_key: str | bytes,
    on_transaction: TransactionCallback,
    *,
    deduplicator: WebhookDeduplicator | None = None,
    max_body_bytes: int = MAX_WEBHOOK_BYTES,
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """An aiohttp.web handler for webhooks: ``app.router.add_post("/kasha", handler)``.

    Answers as :class:`WebhookReceiver` does.
    """
    receiver = WebhookReceiver(
        signature_key, on_transaction, deduplicator=deduplicator, max_body_bytes=max_body_bytes
    )

    async def kasha_webhook(request: web.Request) -> web.Response:
        """Read the body under the cap, let the receiver decide, answer its JSON."""
        try:
            raw = await _read_capped(request, receiver.max_body_bytes)
        except WebhookTooLargeError as exc:
            result = receiver.reject(exc)
        else:
            result = await receiver.handle(raw, request.headers)
        return web.Response(
            status=result.status_code,
            body=result.body_bytes(),
            content_type="application/json",
        )

    return kasha_webhook


# --- ASGI (Starlette, FastAPI, ...) -----------------------------------------------------------

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class _Disconnected(Exception):
    """The client went away before sending the whole body."""


async def _asgi_chunks(receive: Receive) -> AsyncIterator[bytes]:
    """The body chunks of ``http.request`` messages; a disconnect raises :class:`_Disconnected`."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return


async def _send_json(send: Send, status: int, body: bytes, extra: tuple[Any, ...] = ()) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": [*headers, *extra]})
    await send({"type": "http.response.body", "body": body})


async def _serve_lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


class WebhookASGIApp:
    """A plain ASGI app receiving webhooks; mount it in Starlette or FastAPI.

    ``Mount("/kasha/webhook", app=WebhookASGIApp(key, on_transaction))`` in
    Starlette, ``app.mount(...)`` in FastAPI. Only POST is accepted (405
    otherwise); answers as :class:`WebhookReceiver` does. Needs no framework.
    """

    def __init__(
        self,
        signature_key: str | bytes,
        on_transaction: TransactionCallback,
        *,
        deduplicator: WebhookDeduplicator | None = None,
        max_body_bytes: int = MAX_WEBHOOK_BYTES,
    ) -> None:
        self.receiver = WebhookReceiver(
            signature_key,
            on_transaction,
            deduplicator=deduplicator,
            max_body_bytes=max_body_bytes,
        )

    def __repr__(self) -> str:
        return f"<WebhookASGIApp {self.receiver!r}>"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection."""
        if scope["type"] == "lifespan":
            await _serve_lifespan(receive, send)
            return
        if scope["type"] != "http":
            raise ConfigError(f"WebhookASGIApp serves HTTP only, not {scope['type']!r}")
        if scope["method"] != "POST":
            body = b'{"ok":false,"error":"method not allowed"}'
            await _send_json(send, 405, body, ((b"allow", b"POST"),))
            return
        await self._serve_post(scope, receive, send)

    async def _serve_post(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in scope["headers"]
        }
        limit = self.receiver.max_body_bytes
        try:
            _refuse_declared(headers.get("content-length"), limit)
            raw = await _join_capped(_asgi_chunks(receive), limit)
        except _Disconnected:
            return
        except WebhookTooLargeError as exc:
            result = self.receiver.reject(exc)
        else:
            result = await self.receiver.handle(raw, headers)
        await _send_json(send, result.status_code, result.body_bytes())
