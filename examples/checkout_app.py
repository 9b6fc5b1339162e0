"""A Starlette checkout: pay by card (3DS included), receive Kasha webhooks, show the status.

Two integrations: the shop's own card form (the shop talks to the API), or the
hosted cashier (the customer types on Kasha's page and comes back to the order
page). Either way the order's status is what the webhooks say, never what the
customer's browser brought back in the return URL's query.

Routes::

    GET  /                          the card form, and a "pay on Kasha's page" button
    POST /checkout                  PaymentFlow.start -> choose Card -> pay; then 303 to the
                                    3DS page (redirect_url) or straight to the order page
    POST /checkout/hosted           PaymentFlow.cashier_link; then 303 to the hosted cashier,
                                    which sends the customer back to the order page
    GET  /orders/{reference}        the order's status page (the customer comes back here)
    GET  /orders/{reference}.json   the same as JSON, for polling from the page
    POST /kasha/webhook             WebhookASGIApp: verify, dedupe, feed the order's flow

Run it with any ASGI server, e.g.::

    KASHA_API_KEY=... KASHA_BASE_URL=... KASHA_SIGNATURE_KEY=... \\
    PUBLIC_URL=https://shop.example uvicorn --factory examples.checkout_app:app_from_env

Webhooks are verified with the signature key. ``PUBLIC_URL`` must be reachable by
Kasha: it is where webhooks are sent. Orders live
in memory here; a real shop keeps them (and the flow's ``to_dict()``) in its database.
"""

from __future__ import annotations

import contextlib
import html
import logging
import os
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal, InvalidOperation
from urllib.parse import parse_qsl

import attrs
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from kasha_async import (
    Customer,
    InvalidRequestError,
    KashaClient,
    KashaError,
    Transaction,
)
from kasha_async.flows import PaymentFlow
from kasha_async.webhooks import WebhookASGIApp

logger = logging.getLogger("checkout")

CARD_FIELDS = ("cardnum", "cardholder", "expirymonth", "expiryyear", "cardcvv")
FORM_PAGE = """<html><body><h1>Checkout</h1>
<form method="post" action="/checkout">
<input name="amount" value="130.00"> BRL<br><input name="name" placeholder="Your name"><br>
<input name="cardnum" placeholder="Card number"><input name="cardholder" placeholder="Owner">
<input name="expirymonth" placeholder="MM"><input name="expiryyear" placeholder="YYYY">
<input name="cardcvv" placeholder="CVV"><br><button>Pay</button></form>
<form method="post" action="/checkout/hosted">
<input name="amount" value="130.00"> BRL<br><input name="name" placeholder="Your name"><br>
<button id="hosted">Pay on Kasha's page</button></form></body></html>"""


@attrs.define
class Orders:
    """The shop's orders: each one's PaymentFlow, by merchant reference and by transaction id."""

    _by_reference: dict[str, PaymentFlow] = attrs.field(factory=dict)
    _by_transaction: dict[str, PaymentFlow] = attrs.field(factory=dict)

    def add(self, reference: str, flow: PaymentFlow) -> None:
        """Remember a new order's flow."""
        self._by_reference[reference] = flow
        self._by_transaction[flow.transaction_id] = flow

    def get(self, reference: str) -> PaymentFlow | None:
        """The flow of an order, if known."""
        return self._by_reference.get(reference)

    def on_transaction(self, transaction: Transaction) -> None:
        """Webhook callback: feed the order's flow. Short and idempotent, as it should be.

        ``feed`` ignores older news, so a late PENDING never undoes a COMPLETED.
        """
        flow = self._by_transaction.get(transaction.id)
        if flow is None:
            logger.warning("webhook for unknown transaction %s", transaction.id)
            return
        flow.feed(transaction)


@attrs.frozen
class Shop:
    """What the routes need: the client, where Kasha reaches us, and the orders."""

    kasha: KashaClient
    public_url: str
    orders: Orders


def _shop(request: Request) -> Shop:
    shop: Shop = request.app.state.shop
    return shop


async def _form(request: Request) -> dict[str, str]:
    """The url-encoded form (parsed here to need no multipart library)."""
    return dict(parse_qsl((await request.body()).decode("utf-8")))


def _problem_page(problems: tuple[str, ...] | list[str]) -> HTMLResponse:
    items = "".join(f"<li>{html.escape(p)}</li>" for p in problems)
    return HTMLResponse(f"<html><body><h1>Please fix</h1><ul>{items}</ul></body></html>", 400)


async def form_page(request: Request) -> Response:
    """The card form."""
    return HTMLResponse(FORM_PAGE)


async def _start_order(
    shop: Shop, form: dict[str, str], client_ip: str | None, *, hosted: bool = False
) -> PaymentFlow:
    reference = f"order-{uuid.uuid4().hex[:16]}"
    open_flow = PaymentFlow.cashier_link if hosted else PaymentFlow.start
    flow = await open_flow(
        shop.kasha,
        country="BR",
        currency="BRL",
        amount=Decimal(form.get("amount", "")),
        redirect_url=f"{shop.public_url}/orders/{reference}",
        notification_url=f"{shop.public_url}/kasha/webhook",
        merchant_reference=reference,
        customer=Customer(name=form.get("name") or None, ip=client_ip),
    )
    shop.orders.add(reference, flow)
    return flow


async def checkout(request: Request) -> Response:
    """Start the payment and pay by card; send the customer to 3DS or to the order page."""
    shop, form = _shop(request), await _form(request)
    try:
        flow = await _start_order(shop, form, request.client.host if request.client else None)
    except InvalidOperation:
        return _problem_page(["amount must be a number like 130.00"])
    except InvalidRequestError as exc:
        return _problem_page(exc.problems)
    order_page = f"/orders/{flow.merchant_reference}"
    try:
        await flow.choose(flow.option("Card"))
        result = await flow.pay(extra_data={name: form.get(name, "") for name in CARD_FIELDS})
    except InvalidRequestError as exc:
        return _problem_page(exc.problems)
    except KashaError as exc:  # declined or outcome unknown: the order page says which
        logger.info("payment %s: %s", flow.transaction_id, exc.message)
        return RedirectResponse(order_page, status_code=303)
    return RedirectResponse(result.redirect_url or order_page, status_code=303)


async def hosted_checkout(request: Request) -> Response:
    """Open a hosted-cashier session and send the customer there; they return to the order."""
    shop, form = _shop(request), await _form(request)
    client_ip = request.client.host if request.client else None
    try:
        flow = await _start_order(shop, form, client_ip, hosted=True)
    except InvalidOperation:
        return _problem_page(["amount must be a number like 130.00"])
    except InvalidRequestError as exc:
        return _problem_page(exc.problems)
    return RedirectResponse(flow.cashier_url or f"/orders/{flow.merchant_reference}", 303)


def _status_of(flow: PaymentFlow) -> dict[str, str | None]:
    tx = flow.transaction
    reason = tx.errors.msg if tx is not None and tx.errors is not None else None
    return {"reference": flow.merchant_reference, "status": flow.state.value, "reason": reason}


async def order_page(request: Request) -> Response:
    """The order's status, as webhooks fed it (HTML, or JSON for ``.json``)."""
    reference = request.path_params["reference"]
    as_json = reference.endswith(".json")
    flow = _shop(request).orders.get(reference.removesuffix(".json"))
    if flow is None:
        return HTMLResponse("<html><body>No such order</body></html>", 404)
    status = _status_of(flow)
    if as_json:
        return JSONResponse(status)
    done = ""
    if not flow.state.is_terminal:  # the webhook may land after the customer: look again soon
        done = '<meta http-equiv="refresh" content="1"><p>Waiting for the bank…</p>'
    reference, state = html.escape(status["reference"] or ""), html.escape(status["status"] or "")
    heading = f"Order {reference}: <b id='status'>{state}</b>"
    return HTMLResponse(f"<html><body><h1>{heading}</h1>{done}</body></html>")


def create_app(kasha: KashaClient, *, webhook_key: str, public_url: str) -> Starlette:
    """The checkout app over an open client; ``public_url`` is where Kasha reaches it."""
    shop = Shop(kasha=kasha, public_url=public_url.rstrip("/"), orders=Orders())
    webhook = WebhookASGIApp(webhook_key, shop.orders.on_transaction)
    app = Starlette(
        routes=[
            Route("/", form_page),
            Route("/checkout", checkout, methods=["POST"]),
            Route("/checkout/hosted", hosted_checkout, methods=["POST"]),
            Route("/orders/{reference}", order_page),
            Route("/kasha/webhook", webhook, methods=["POST"]),
        ]
    )
    app.state.shop = shop
    return app


def app_from_env() -> Starlette:
    """The app configured from the environment, closing its client on shutdown."""
    kasha = KashaClient()  # KASHA_API_KEY, KASHA_BASE_URL, KASHA_SIGNATURE_KEY
    webhook_key = os.environ["KASHA_SIGNATURE_KEY"]  # webhooks are signed with the same key
    app = create_app(kasha, webhook_key=webhook_key, public_url=os.environ["PUBLIC_URL"])

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with kasha:
            yield

    app.router.lifespan_context = lifespan
    return app
