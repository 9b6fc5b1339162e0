"""Receive Kasha webhooks: verify, deduplicate, order, and answer fast.

Kasha POSTs the transaction object to your ``notificationUrl`` with the header
``x-signature: base64(HMAC-SHA256(key, raw body))`` (CONTRACT.md §1). Delivery is
at-least-once: the same status may arrive twice, and an older status may arrive
after a newer one. The pieces, one module each, from the bottom up:

- ``_verify``: :func:`verify` checks the signature over the **raw bytes** (never
  re-serialized JSON) in constant time, then parses the :class:`~kasha_async.Transaction`.
- ``_dedupe``: :class:`WebhookDeduplicator` says whether a delivery is new, a
  duplicate, an out-of-order older status or older than ``max_age``
  (:class:`DeliveryVerdict`); its memory of seen deliveries is a pluggable async
  :class:`SeenStore` (in-memory LRU by default).
- ``_receiver``: :class:`WebhookReceiver` ties both to your callback and decides
  the HTTP answer, framework-free.
- ``_aiohttp`` and ``_asgi``: :func:`aiohttp_handler` and :class:`WebhookASGIApp`
  (Starlette, FastAPI, any ASGI server) are thin adapters over it; aiohttp.web is
  imported only when :func:`aiohttp_handler` is first used.

The status order (:func:`status_rank`, :func:`is_older`) is the one the flows use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..flows._states import is_older, status_rank
from ._asgi import WebhookASGIApp
from ._dedupe import (
    DEFAULT_MEMORY_ENTRIES,
    DeliveryKey,
    DeliveryVerdict,
    InMemorySeenStore,
    SeenStore,
    WebhookDeduplicator,
)
from ._receiver import TransactionCallback, WebhookReceiver, WebhookResult
from ._verify import MAX_WEBHOOK_BYTES, SIGNATURE_HEADER, verify

if TYPE_CHECKING:
    from ._aiohttp import aiohttp_handler

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


def __getattr__(name: str) -> Any:
    """Load the aiohttp adapter on first use: an ASGI app never imports aiohttp.web."""
    if name == "aiohttp_handler":
        from ._aiohttp import aiohttp_handler

        globals()[name] = aiohttp_handler
        return aiohttp_handler
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
