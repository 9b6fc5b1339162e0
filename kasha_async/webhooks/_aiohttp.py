"""The aiohttp.web adapter over :class:`WebhookReceiver` (the only webhook module using aiohttp)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from .._errors import WebhookTooLargeError
from ._dedupe import WebhookDeduplicator
from ._receiver import TransactionCallback, WebhookReceiver
from ._verify import MAX_WEBHOOK_BYTES, join_capped, refuse_declared

__all__ = ["aiohttp_handler"]


async def _read_capped(request: web.BaseRequest, limit: int) -> bytes:
    """Read the body, refusing it as soon as it is known to exceed ``limit``."""
    refuse_declared(request.content_length, limit)
    return await join_capped(request.content.iter_any(), limit)


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
