"""The checkout example in Chromium: shop -> cashier -> redirect -> webhook -> order paid."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import attrs
import pytest
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from starlette.applications import Starlette

from examples.checkout_app import create_app
from kasha_async import KashaClient
from kasha_async.demo import card
from kasha_async.sandbox import SUCCESS_CARD, Sandbox
from tests.test_examples import WEBHOOK_KEY, Relay

from .conftest import PAGE_WAIT, Cashier, LoopThread, Merchant


@attrs.define
class Storefront:
    """The example shop behind a real port, its sandbox, and the browser's helpers."""

    url: str
    sandbox: Sandbox
    cashier: Cashier


@pytest.fixture
def storefront(loop_thread: LoopThread, browser: WebDriver) -> Iterator[Storefront]:
    """The checkout app on 127.0.0.1:0 over a sandbox (webhooks signed with the shop's key)."""
    stack = contextlib.AsyncExitStack()

    async def start() -> Storefront:
        sandbox = await stack.enter_async_context(Sandbox(webhook_secret=WEBHOOK_KEY))
        kasha = await stack.enter_async_context(
            KashaClient(api_key=sandbox.api_key, base_url=sandbox.base_url)
        )
        front = Starlette()  # the relay needs an app before the shop knows its public URL
        relay = await stack.enter_async_context(Relay(front))
        front.mount("/", create_app(kasha, webhook_key=WEBHOOK_KEY, public_url=relay.url))
        helper = Cashier(loop=loop_thread, sandbox=sandbox, merchant=Merchant(), browser=browser)
        return Storefront(url=relay.url, sandbox=sandbox, cashier=helper)

    shop = loop_thread.run(start())
    try:
        yield shop
        assert not shop.sandbox.state.internal_errors
    finally:
        loop_thread.run(shop.sandbox.wait_webhooks())
        loop_thread.run(stack.aclose())
        browser.get("about:blank")


def test_hosted_checkout_pays_the_order_through_the_webhook(storefront: Storefront) -> None:
    """The shop's hosted path: cashier card payment, back to the order page, paid by webhook."""
    cashier, browser = storefront.cashier, storefront.cashier.browser
    browser.get(storefront.url + "/")
    cashier.click("hosted")
    assert browser.current_url.startswith(storefront.sandbox.base_url + "/_sandbox/cashier/")
    browser.find_element(By.LINK_TEXT, "Card").click()
    cashier.fill(card(SUCCESS_CARD))
    cashier.submit()
    assert browser.current_url.startswith(storefront.url + "/orders/order-")
    assert "status=COMPLETED" in browser.current_url
    WebDriverWait(browser, PAGE_WAIT).until(
        lambda b: b.find_element(By.ID, "status").text == "COMPLETED"
    )
    cashier.shot("example-order-paid")
    (transaction,) = cashier.loop.call(storefront.sandbox.ledger).transactions.values()
    assert transaction.status.value == "COMPLETED"
    assert f"/orders/{transaction.merchant_reference}?" in browser.current_url
    assert "COMPLETED" in cashier.webhook_statuses(transaction.id)
