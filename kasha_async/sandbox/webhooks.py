"""Webhook delivery: each status change POSTed, signed, to the transaction's notificationUrl.

The body is the transaction's §3 endpoint-12 JSON; the header ``x-signature`` is
``base64(HMAC-SHA256(secret, body))``. The secret is the sandbox's
``webhook_secret``, defaulting to its signature key, then to its API key (so a
consumer can always verify). Non-2xx answers and connection errors are retried
with exponential backoff up to ``max_attempts``. Deliveries of one transaction
go out in order unless ``reorder_jitter`` is set; ``duplicate_probability``
sends some twice. Every delivery runs as a background task that :meth:`close`
cancels and awaits.
"""

from __future__ import annotations

import asyncio
import random

import aiohttp
import attrs

from .._signing import sign
from .._timing import backoff
from ._wire import dumps
from .state import TransactionRecord

#: The longest wait between two delivery attempts of one webhook.
_MAX_DELAY = 60.0


@attrs.frozen(kw_only=True)
class WebhookDelivery:
    """One delivery attempt and how it ended (HTTP status, or the error's class name)."""

    transaction_id: str
    status: str
    url: str
    attempt: int
    http_status: int | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the consumer answered 2xx."""
        return self.http_status is not None and 200 <= self.http_status < 300


class WebhookDispatcher:
    """Sends webhooks as background tasks and records every attempt."""

    def __init__(
        self,
        *,
        secret: str,
        max_attempts: int = 5,
        backoff: float = 0.05,
        duplicate_probability: float = 0.0,
        reorder_jitter: float = 0.0,
        seed: int | None = 0,
        timeout: float = 5.0,
    ) -> None:
        self.secret = secret
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.duplicate_probability = duplicate_probability
        self.reorder_jitter = reorder_jitter
        self.deliveries: list[WebhookDelivery] = []
        self._rng = random.Random(seed)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._tails: dict[str, asyncio.Task[None]] = {}
        self._closed = False

    def on_status_change(self, tx: TransactionRecord) -> None:
        """State listener: queue one delivery (two when duplicated) if the transaction has a URL.

        Nothing is queued once :meth:`close` ran (e.g. ``sb.complete()`` after stop):
        such a task would outlive the sandbox and open an HTTP session nobody closes.
        """
        if self._closed or not tx.notification_url:
            return
        body = dumps(tx.wire())
        copies = 2 if self._rng.random() < self.duplicate_probability else 1
        for _ in range(copies):
            self._spawn(tx.id, tx.status.value, tx.notification_url, body)

    def _spawn(self, tx_id: str, status: str, url: str, body: bytes) -> None:
        previous = None if self.reorder_jitter else self._tails.get(tx_id)
        jitter = self._rng.uniform(0, self.reorder_jitter) if self.reorder_jitter else 0.0
        task = asyncio.get_running_loop().create_task(
            self._deliver(tx_id, status, url, body, previous, jitter)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self._tails[tx_id] = task

    async def _deliver(
        self,
        tx_id: str,
        status: str,
        url: str,
        body: bytes,
        previous: asyncio.Task[None] | None,
        jitter: float,
    ) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        if jitter:
            await asyncio.sleep(jitter)
        for attempt in range(1, self.max_attempts + 1):
            http_status, error = await self._post(url, body)
            self.deliveries.append(
                WebhookDelivery(
                    transaction_id=tx_id,
                    status=status,
                    url=url,
                    attempt=attempt,
                    http_status=http_status,
                    error=error,
                )
            )
            if http_status is not None and 200 <= http_status < 300:
                break
            if attempt < self.max_attempts:
                await asyncio.sleep(
                    backoff(attempt, base=self.backoff, cap=_MAX_DELAY, jitter=False)
                )
        if self._tails.get(tx_id) is asyncio.current_task():
            del self._tails[tx_id]

    async def _post(self, url: str, body: bytes) -> tuple[int | None, str | None]:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        headers = {"Content-Type": "application/json", "x-signature": sign(self.secret, body)}
        try:
            async with self._session.post(url, data=body, headers=headers) as resp:
                await resp.read()
                return resp.status, None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return None, type(exc).__name__

    async def wait_idle(self) -> None:
        """Wait until every queued delivery (with its retries) has finished."""
        while self._tasks:
            await asyncio.wait(list(self._tasks))

    async def close(self) -> None:
        """Cancel pending deliveries, await them, and close the HTTP session; queue no more."""
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tails.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None
