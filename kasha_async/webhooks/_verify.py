"""Verifying one webhook: the body cap, the ``x-signature`` over the raw bytes, the parse.

The signature itself is :mod:`kasha_async._signing`'s (the only HMAC code); this
module decides the order of the checks and which :class:`WebhookError` each
failure is. The capped body reader serves both framework adapters.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

from .. import _convert, _signing
from .._errors import (
    ConfigError,
    InvalidSignatureError,
    MissingSignatureError,
    ResponseFormatError,
    WebhookPayloadError,
    WebhookTooLargeError,
    redact_bytes,
)
from .._models import Transaction

__all__ = ["MAX_WEBHOOK_BYTES", "SIGNATURE_HEADER", "verify"]

#: The header carrying ``base64(HMAC-SHA256(key, raw body))``.
SIGNATURE_HEADER = _signing.SIGNATURE_HEADER
#: Bodies larger than this are refused with 413 before any HMAC or parsing
#: (a transaction object is a few kilobytes).
MAX_WEBHOOK_BYTES = 256 * 1024


def key_bytes(signature_key: str | bytes) -> bytes:
    """The signature key as bytes; an empty key is refused (anyone could forge webhooks)."""
    key = bytes(_signing.key_bytes(signature_key))
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


def too_large(limit: int) -> WebhookTooLargeError:
    """The 413 error for a body over ``limit`` bytes."""
    return WebhookTooLargeError(f"webhook body is over the {limit}-byte limit")


def refuse_declared(content_length: str | int | None, limit: int) -> None:
    """Refuse a body whose declared length is over ``limit``, before reading any of it."""
    try:
        declared = None if content_length is None else int(content_length)
    except ValueError:
        return  # a garbled header proves nothing; the streamed size still counts
    if declared is not None and declared > limit:
        raise too_large(limit)


async def join_capped(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    """Join body chunks, refusing as soon as they pass ``limit``: the rest is never read."""
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
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
    key = key_bytes(signature_key)
    raw = bytes(raw_body)
    if len(raw) > max_body_bytes:
        raise too_large(max_body_bytes)
    _check_signature(raw, headers, key)
    return _parse_transaction(raw)
