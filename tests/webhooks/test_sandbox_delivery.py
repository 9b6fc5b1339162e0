"""The sandbox delivers real signed webhooks to an aiohttp_handler served by the test."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from kasha_async import Customer, KashaClient, Transaction, TransactionStatus
from kasha_async.flows import PaymentFlow
from kasha_async.sandbox import Sandbox
from kasha_async.webhooks import DeliveryVerdict, WebhookDeduplicator, aiohttp_handler

SECRET = "whsec-sandbox"
CUSTOMER = Customer(name="John Doe", phone="+34666999666", ip="84.232.140.77")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class RecordingDeduplicator(WebhookDeduplicator):
    """A deduplicator that also logs each (status, verdict) it decides."""

    def __init__(self) -> None:
        super().__init__()
        self.log: list[tuple[str, DeliveryVerdict]] = []

    async def check(self, transaction: Transaction) -> DeliveryVerdict:
        """Decide as usual, and log the decision."""
        verdict = await super().check(transaction)
        self.log.append((transaction.status.value, verdict))
        return verdict


class Endpoint:
    """A merchant webhook endpoint on 127.0.0.1:0 whose network can hold deliveries back."""

    def __init__(self, key: str) -> None:
        self.dedupe = RecordingDeduplicator()
        self.handed_over: list[Transaction] = []
        self.answers: list[dict[str, Any]] = []
        self.flows: dict[str, PaymentFlow] = {}
        self.holding = False
        self.held = 0
        self.release = asyncio.Event()
        self.some_held = asyncio.Condition()
        self.final_seen = asyncio.Event()
        self.handler = aiohttp_handler(key, self.on_transaction, deduplicator=self.dedupe)
        self.url = ""
        self._runner: web.AppRunner | None = None

    def on_transaction(self, transaction: Transaction) -> None:
        """User code: record, feed the flow, note a final status."""
        self.handed_over.append(transaction)
        flow = self.flows.get(transaction.id)
        if flow is not None:
            flow.feed(transaction)
        if transaction.is_final:
            self.final_seen.set()

    @web.middleware
    async def slow_network(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Hold deliveries back while ``holding``; record every answer's JSON."""
        if self.holding:
            async with self.some_held:
                self.held += 1
                self.some_held.notify_all()
            await self.release.wait()
        response = await handler(request)
        assert isinstance(response, web.Response)
        assert isinstance(response.body, bytes)
        self.answers.append(json.loads(response.body))
        return response

    async def tamper(self, request: web.Request) -> web.StreamResponse:
        """A man in the middle: change the amount, keep the signature, forward."""
        original = await request.read()
        body = original.replace(b'"paymentAmount":130', b'"paymentAmount":930')
        assert body != original, "the proxy must actually change the body"
        headers = {"x-signature": request.headers["x-signature"]}
        async with (
            aiohttp.ClientSession() as http,
            http.post(self.url, data=body, headers=headers) as answer,
        ):
            return web.Response(status=answer.status, body=await answer.read())

    async def start(self) -> None:
        """Serve ``/kasha`` (the handler) and ``/tamper`` (the forwarding proxy)."""
        app = web.Application(middlewares=[self.slow_network])
        app.router.add_post("/kasha", self.handler)
        app.router.add_post("/tamper", self.tamper)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/kasha"

    async def stop(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()

    async def wait_held(self, count: int) -> None:
        """Wait until ``count`` deliveries are held back."""
        async with self.some_held:
            await self.some_held.wait_for(lambda: self.held >= count)


@pytest.fixture
async def endpoint() -> AsyncIterator[Endpoint]:
    """A running merchant endpoint verifying with SECRET."""
    ep = Endpoint(SECRET)
    await ep.start()
    yield ep
    ep.release.set()
    await ep.stop()


async def start_pix_payment(kasha: KashaClient, notification_url: str) -> PaymentFlow:
    """Open a BR payment through the SDK with ``notification_url`` and pay by PIX (PENDING)."""
    flow = await PaymentFlow.start(
        kasha,
        country="BR",
        currency="BRL",
        amount=Decimal("130.00"),
        redirect_url="https://merchant.example/return",
        customer=CUSTOMER,
        notification_url=notification_url,
    )
    await flow.choose(flow.option("PIX"))
    await flow.pay(extra_data={"document": "12345678"})
    return flow


async def test_duplicates_and_out_of_order_deliveries(endpoint: Endpoint) -> None:
    """Each status reaches user code once; copies say duplicate, the late PENDING is stale."""
    async with (
        Sandbox(
            webhook_secret=SECRET,
            payment_delay=None,
            webhook_duplicate_probability=1.0,
            webhook_reorder_jitter=0.001,
        ) as sandbox,
        KashaClient(api_key=sandbox.api_key, base_url=sandbox.base_url) as kasha,
        asyncio.timeout(30),
    ):
        endpoint.holding = True  # the network is slow for everything sent before completion
        flow = await start_pix_payment(kasha, endpoint.url)
        endpoint.flows[flow.transaction_id] = flow
        await endpoint.wait_held(2)  # both copies of PENDING are on the wire
        endpoint.holding = False
        await sandbox.complete(flow.transaction_id)
        await endpoint.final_seen.wait()
        final = await flow.wait_final(timeout=10)
        endpoint.release.set()
        await sandbox.wait_webhooks()

    assert final.status is TransactionStatus.COMPLETED
    assert [t.status for t in endpoint.handed_over] == [TransactionStatus.COMPLETED]
    assert sorted(endpoint.dedupe.log, key=str) == sorted(
        [
            ("COMPLETED", DeliveryVerdict.NEW),
            ("COMPLETED", DeliveryVerdict.DUPLICATE),
            ("PENDING", DeliveryVerdict.STALE),
            ("PENDING", DeliveryVerdict.DUPLICATE),
        ],
        key=str,
    )
    flags = sorted((a["duplicate"], a["stale"]) for a in endpoint.answers)
    assert flags == [(False, False), (False, True), (True, False), (True, False)]
    assert all(d.http_status == 200 for d in sandbox.webhook_deliveries)


async def test_webhooks_signed_with_another_key_are_rejected(endpoint: Endpoint) -> None:
    """Deliveries signed with a key the merchant does not hold get 401 and reach no user code."""
    async with (
        Sandbox(
            webhook_secret="not-the-merchant-key", webhook_attempts=2, webhook_backoff=0
        ) as sandbox,
        KashaClient(api_key=sandbox.api_key, base_url=sandbox.base_url) as kasha,
        asyncio.timeout(30),
    ):
        await start_pix_payment(kasha, endpoint.url)
        await sandbox.wait_webhooks()

    assert endpoint.handed_over == []
    assert {d.http_status for d in sandbox.webhook_deliveries} == {401}
    assert {a["error"] for a in endpoint.answers} == {
        "webhook x-signature does not match the body (tampered body or wrong key)"
    }


async def test_tampered_webhooks_are_rejected(endpoint: Endpoint) -> None:
    """A body altered in transit (amount changed, signature kept) gets 401 and no user code."""
    tamper_url = endpoint.url.replace("/kasha", "/tamper")
    async with (
        Sandbox(webhook_secret=SECRET, webhook_attempts=1) as sandbox,
        KashaClient(api_key=sandbox.api_key, base_url=sandbox.base_url) as kasha,
        asyncio.timeout(30),
    ):
        await start_pix_payment(kasha, tamper_url)
        await sandbox.wait_webhooks()

    assert endpoint.handed_over == []
    assert sandbox.webhook_deliveries
    assert {d.http_status for d in sandbox.webhook_deliveries} == {401}
