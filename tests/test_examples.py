"""The examples run against the sandbox: the Starlette checkout and the CSV payout script."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
from aiohttp import web
from starlette.applications import Starlette

from examples.checkout_app import create_app
from examples.payouts_from_csv import main, pay_file, print_report
from kasha_async import KashaClient
from kasha_async.sandbox import SUCCESS_CARD, THREE_DS_CARD, Sandbox, trigger_card

WEBHOOK_KEY = "whsec-shop"


@attrs.define
class Shop:
    """The checkout app, an httpx client driving it, and its sandbox."""

    app: Starlette
    client: httpx.AsyncClient
    sandbox: Sandbox

    async def pay(self, card: str) -> httpx.Response:
        """Submit the checkout form with ``card``."""
        form = {
            "amount": "130.00",
            "name": "Jane Roe",
            "cardnum": card,
            "cardholder": "Jane Roe",
            "expirymonth": "01",
            "expiryyear": "2030",
            "cardcvv": "123",
        }
        return await self.client.post("/checkout", data=form)

    async def status(self, order_url: str) -> dict[str, Any]:
        """The order's JSON status, once every webhook has landed."""
        await self.sandbox.wait_webhooks()
        answer = await self.client.get(order_url + ".json")
        assert answer.status_code == 200
        status: dict[str, Any] = answer.json()
        return status


class Relay:
    """The shop's public URL: 127.0.0.1:0, passing every request, raw, to the ASGI app."""

    def __init__(self, app: Starlette) -> None:
        self._asgi = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://shop"
        )
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _relay(self, request: web.Request) -> web.Response:
        body, headers = await request.read(), dict(request.headers)
        answer = await self._asgi.request(
            request.method, request.path_qs, content=body, headers=headers
        )
        kept = {k: v for k, v in answer.headers.items() if k in ("location", "content-type")}
        return web.Response(status=answer.status_code, body=answer.content, headers=kept)

    async def __aenter__(self) -> Relay:
        server = web.Application()
        server.router.add_route("*", "/{path:.*}", self._relay)
        self._runner = web.AppRunner(server, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        await self._asgi.aclose()


@pytest.fixture
async def shop() -> AsyncIterator[Shop]:
    """The checkout app on a sandbox that sends every webhook twice."""
    front = Starlette()  # the relay needs an app before the shop knows its public URL
    async with (
        Sandbox(
            webhook_secret=WEBHOOK_KEY, payment_delay=None, webhook_duplicate_probability=1.0
        ) as sandbox,
        KashaClient(api_key=sandbox.api_key, base_url=sandbox.base_url) as kasha,
        Relay(front) as relay,
    ):
        checkout = create_app(kasha, webhook_key=WEBHOOK_KEY, public_url=relay.url)
        front.mount("/", checkout)
        transport = httpx.ASGITransport(app=checkout)
        async with httpx.AsyncClient(transport=transport, base_url="http://shop") as client:
            yield Shop(app=checkout, client=client, sandbox=sandbox)
        await sandbox.wait_webhooks()


async def test_checkout_card_payment_completes_through_the_webhook(shop: Shop) -> None:
    """A card payment redirects to the order page, which the COMPLETED webhook updates."""
    answer = await shop.pay(SUCCESS_CARD)
    assert answer.status_code == 303
    order_url = answer.headers["location"]
    assert order_url.startswith("/orders/order-")
    assert (await shop.status(order_url))["status"] == "COMPLETED"
    page = await shop.client.get(order_url)
    assert "<b id='status'>COMPLETED</b>" in page.text
    assert all(d.http_status == 200 for d in shop.sandbox.webhook_deliveries)


async def test_checkout_3ds_redirect_then_completion(shop: Shop) -> None:
    """A 3DS card is sent to the challenge page; finishing it completes the order via webhook."""
    answer = await shop.pay(THREE_DS_CARD)
    assert answer.status_code == 303
    challenge = answer.headers["location"]
    assert challenge.startswith(shop.sandbox.base_url + "/_sandbox/3ds/")
    transaction_id = challenge.rsplit("/", 1)[1]
    reference = shop.sandbox.ledger().transactions[transaction_id].merchant_reference
    order_url = f"/orders/{reference}"
    assert (await shop.status(order_url))["status"] == "SUBMITTED"  # PENDING: still in 3DS
    await shop.sandbox.complete(transaction_id)  # the customer passes the challenge
    assert (await shop.status(order_url))["status"] == "COMPLETED"


async def test_checkout_hosted_sends_the_customer_to_the_cashier(shop: Shop) -> None:
    """The hosted path opens a cashier session and 303s to its page, which returns to the order."""
    answer = await shop.client.post("/checkout/hosted", data={"amount": "130.00", "name": "Jo"})
    assert answer.status_code == 303
    cashier_url = answer.headers["location"]
    assert cashier_url.startswith(shop.sandbox.base_url + "/_sandbox/cashier/")
    (transaction,) = shop.sandbox.ledger().transactions.values()
    order_url = f"/orders/{transaction.merchant_reference}"
    assert (await shop.status(order_url))["status"] == "SUBMITTED"
    page = await shop.client.get(order_url)
    assert '<meta http-equiv="refresh"' in page.text  # not final yet: the page looks again


async def test_checkout_declined_card_shows_the_decline(shop: Shop) -> None:
    """A declined card lands on the order page, which says DECLINED."""
    answer = await shop.pay(trigger_card(3000))
    assert answer.status_code == 303
    assert (await shop.status(answer.headers["location"]))["status"] == "DECLINED"


async def test_checkout_rejects_a_bad_form(shop: Shop) -> None:
    """A non-numeric amount is answered 400 with the problem, and nothing is sent."""
    answer = await shop.client.post("/checkout", data={"amount": "lots"})
    assert answer.status_code == 400
    assert "amount must be a number" in answer.text
    assert not shop.sandbox.ledger().transactions


async def test_checkout_webhook_endpoint_rejects_forgeries(shop: Shop) -> None:
    """A webhook not signed with the shop's key is answered 401."""
    body = b'{"id": "x", "status": "COMPLETED"}'
    forged = base64.b64encode(hmac.new(b"guess", body, hashlib.sha256).digest()).decode()
    answer = await shop.client.post("/kasha/webhook", content=body, headers={"x-signature": forged})
    assert answer.status_code == 401


async def test_unknown_order_is_404(shop: Shop) -> None:
    """The status page of an order that does not exist answers 404."""
    assert (await shop.client.get("/orders/order-nope")).status_code == 404


# --- payouts_from_csv ---------------------------------------------------------------------------

CSV_HEADER = (
    "reference,country,currency,amount,customer_name,customer_email,extra.name,extra.account\n"
)


def write_csv(path: Path, rows: list[str]) -> Path:
    """Write a payouts file with the documented header."""
    path.write_text(CSV_HEADER + "".join(row + "\n" for row in rows), encoding="utf-8")
    return path


async def test_payouts_from_csv_pays_each_row_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every row is paid; a second run with the same journal sends no new payout."""
    rows = [
        f"pay-{i},BR,BRL,{100 + i}.50,Ana Souza,ana{i}@example.com,Ana Souza,12345678"
        for i in range(3)
    ]
    csv_path = write_csv(tmp_path / "payouts.csv", rows)
    journal = tmp_path / "payouts.journal"
    async with (
        Sandbox() as sandbox,
        KashaClient(api_key=sandbox.api_key, base_url=sandbox.base_url) as kasha,
    ):
        report = await pay_file(kasha, csv_path, journal)
        again = await pay_file(kasha, csv_path, journal)
        created = sandbox.ledger().requests_by_endpoint.get("payouts.create", 0)
    print_report(report)
    assert report.ok
    assert report.summary.counts == {"COMPLETED": 3}
    assert again.summary.counts == {"COMPLETED": 3}
    assert created == 3
    assert "3 payouts: COMPLETED 3" in capsys.readouterr().out


def test_payouts_from_csv_refuses_a_bad_file_before_sending(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file with a bad row exits 2, names the line, and sends nothing (no server is needed)."""
    monkeypatch.setenv("KASHA_API_KEY", "sk_test")
    monkeypatch.setenv("KASHA_BASE_URL", "http://127.0.0.1:9")
    csv_path = write_csv(
        tmp_path / "bad.csv", ["ok-1,BR,BRL,10.00,Ana,,Ana Souza,12345678", "bad-2,BR,BRL,ten,,,,"]
    )
    assert main([str(csv_path), "--journal", str(tmp_path / "j")]) == 2
    assert "line 3" in capsys.readouterr().err
