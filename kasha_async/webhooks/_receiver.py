"""The framework-free receiver: verify, deduplicate, call your code, pick the HTTP answer."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from .. import _convert
from .._errors import WebhookError
from .._models import Transaction
from ._dedupe import DeliveryVerdict, WebhookDeduplicator
from ._verify import MAX_WEBHOOK_BYTES, key_bytes, verify

__all__ = ["TransactionCallback", "WebhookReceiver", "WebhookResult"]

logger = logging.getLogger("kasha_async.webhooks")

#: Your code: called once per new delivery with the verified transaction. It may
#: be a plain function or a coroutine function; keep it short (see docs/webhooks.md).
TransactionCallback = Callable[[Transaction], object]


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
        # too old is older news too: the provider must stop redelivering it
        "stale": verdict in (DeliveryVerdict.STALE, DeliveryVerdict.TOO_OLD),
    }
    return WebhookResult(status_code=200, body=body, transaction=transaction, verdict=verdict)


class WebhookReceiver:
    """Verify, deduplicate, hand new transactions to ``on_transaction``, pick the answer.

    Answers: 200 ``{"ok": true, "duplicate": bool, "stale": bool}`` (``stale`` also
    for a delivery older than the deduplicator's ``max_age``); 401 for a
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
        self._key = key_bytes(signature_key)
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
