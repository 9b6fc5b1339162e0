"""Webhooks: signed transaction JSON on every status change, retried, optionally duplicated."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import attrs
import orjson
import pytest_asyncio
from aiohttp import web

from kasha_async import TransactionStatus
from kasha_async import webhooks as sdk_webhooks
from kasha_async.sandbox import Sandbox, verify

from ._helpers import Api


@attrs.define
class Receiver:
    """A webhook consumer on 127.0.0.1:0 that fails its first ``fail_first`` deliveries."""

    url: str = ""
    fail_first: int = 0
    calls: int = 0
    received: list[tuple[bytes, str]] = attrs.Factory(list)

    async def handle(self, request: web.Request) -> web.Response:
        """Record the delivery; answer 500 while failures remain."""
        self.calls += 1
        if self.calls <= self.fail_first:
            return web.Response(status=500)
        self.received.append((await request.read(), request.headers.get("x-signature", "")))
        return web.Response(status=204)

    def statuses(self) -> list[str]:
        """The ``status`` of every accepted delivery, in arrival order."""
        return [orjson.loads(body)["status"] for body, _ in self.received]


@pytest_asyncio.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A running webhook consumer."""
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    rec.url = f"http://{host}:{port}/hook"
    yield rec
    await runner.cleanup()


async def _payout_flow(sb: Sandbox, url: str, **extra: Any) -> str:
    async with aiohttp.ClientSession() as http:
        api = Api(sb, http)
        tx_id, session_id, option_id = await api.payout_session(notificationUrl=url, **extra)
        await api.create_payout(session_id, option_id)
        await api.settle(tx_id)
        await sb.settle_processing(tx_id)
    await sb.wait_webhooks()
    return tx_id


async def test_each_status_change_is_delivered_in_order(sb: Sandbox, receiver: Receiver) -> None:
    """A payout flow delivers PENDING, PROCESSING, COMPLETED in that order, as endpoint-12 JSON."""
    tx_id = await _payout_flow(sb, receiver.url)
    assert receiver.statuses() == ["PENDING", "PROCESSING", "COMPLETED"]
    body = orjson.loads(receiver.received[-1][0])
    assert body["id"] == tx_id
    assert "paymentAmount" in body
    assert "merchantReference" in body


async def test_webhooks_are_signed_with_the_webhook_secret(receiver: Receiver) -> None:
    """x-signature is HMAC-SHA256 of the raw body with webhook_secret (default: signature key)."""
    async with Sandbox(signature_key="sig-key", payout_delay=None) as sb:
        await _payout_flow(sb, receiver.url)
    assert sb.webhook_secret == "sig-key"
    assert all(verify("sig-key", body, signature) for body, signature in receiver.received)


async def test_without_keys_webhooks_are_signed_with_the_api_key(
    sb: Sandbox, receiver: Receiver
) -> None:
    """With no signature key and no webhook secret, the API key signs webhooks."""
    await _payout_flow(sb, receiver.url)
    assert all(verify(sb.api_key, body, sig) for body, sig in receiver.received)


async def test_failed_deliveries_are_retried_until_accepted(receiver: Receiver) -> None:
    """Two 500 answers are retried with backoff; the delivery then lands, in order."""
    receiver.fail_first = 2
    async with Sandbox(payout_delay=None, webhook_backoff=0.001) as sb:
        await _payout_flow(sb, receiver.url)
        attempts = [d.attempt for d in sb.webhook_deliveries if d.status == "PENDING"]
    assert attempts == [1, 2, 3]
    assert receiver.statuses() == ["PENDING", "PROCESSING", "COMPLETED"]


async def test_retries_are_bounded(receiver: Receiver) -> None:
    """A consumer that always fails gets at most webhook_attempts tries per delivery."""
    receiver.fail_first = 1000
    async with Sandbox(payout_delay=None, webhook_backoff=0.0, webhook_attempts=3) as sb:
        await _payout_flow(sb, receiver.url)
        deliveries = sb.webhook_deliveries
    assert len(deliveries) == 3 * 3
    assert not any(d.ok for d in deliveries)


async def test_duplicates_can_be_requested(receiver: Receiver) -> None:
    """With duplicate_probability=1 every status change arrives twice."""
    async with Sandbox(payout_delay=None, webhook_duplicate_probability=1.0) as sb:
        await _payout_flow(sb, receiver.url)
    assert sorted(receiver.statuses()) == sorted(["PENDING", "PROCESSING", "COMPLETED"] * 2)


async def test_reordering_can_deliver_out_of_order(receiver: Receiver) -> None:
    """With reorder jitter deliveries are no longer serialised, yet every status still arrives."""
    async with Sandbox(payout_delay=None, webhook_reorder_jitter=0.05, seed=3) as sb:
        await _payout_flow(sb, receiver.url)
    assert sorted(receiver.statuses()) == ["COMPLETED", "PENDING", "PROCESSING"]


async def test_unreachable_consumer_is_recorded_not_raised(sb: Sandbox) -> None:
    """A connection error is recorded per attempt and never breaks the sandbox."""
    sb.webhooks.backoff = 0.0
    sb.webhooks.max_attempts = 2
    await _payout_flow(sb, "http://127.0.0.1:9/hook")
    assert {d.error for d in sb.webhook_deliveries} == {"ClientConnectorError"}


async def test_stop_cancels_pending_deliveries(receiver: Receiver) -> None:
    """Stopping the sandbox cancels deliveries still waiting on backoff, cleanly."""
    receiver.fail_first = 1000
    sb = Sandbox(payout_delay=None, webhook_backoff=30.0)
    await sb.start()
    async with aiohttp.ClientSession() as http:
        api = Api(sb, http)
        _, session_id, option_id = await api.payout_session(notificationUrl=receiver.url)
        await api.create_payout(session_id, option_id)
    await sb.stop()
    assert len(sb.webhook_deliveries) <= 1


async def test_sdk_webhook_verifier_accepts_sandbox_deliveries(receiver: Receiver) -> None:
    """kasha_async.webhooks.verify accepts what the sandbox sends, with its configured secret."""
    async with Sandbox(payout_delay=None, webhook_secret="whsec") as sb:
        tx_id = await _payout_flow(sb, receiver.url)
    body, signature = receiver.received[-1]
    tx = sdk_webhooks.verify(body, {"x-signature": signature}, "whsec")
    assert (tx.id, tx.status) == (tx_id, TransactionStatus.COMPLETED)


async def test_no_delivery_starts_after_stop(receiver: Receiver) -> None:
    """A status change after stop() (say sb.complete) queues nothing and opens no session."""
    async with Sandbox(payment_delay=None) as sb, aiohttp.ClientSession() as http:
        tx_id, _, _ = await Api(sb, http).payment_session(notificationUrl=receiver.url)
    await sb.complete(tx_id)
    await sb.wait_webhooks()
    assert sb.webhook_deliveries == []
    assert receiver.received == []
