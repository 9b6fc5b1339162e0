"""The cashier pages over plain HTTP: language, escaping, headers, card data, error pages."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest

from kasha_async.demo import card
from kasha_async.sandbox import SUCCESS_CARD, THREE_DS_CARD, Sandbox, trigger_card
from kasha_async.sandbox.cashier import merchant_url
from kasha_async.sandbox.options import payment_options_for

CARD_ID = next(o.payment_option_id for o in payment_options_for("BR") if o.is_card)


@pytest.fixture
async def sb() -> AsyncIterator[Sandbox]:
    """A sandbox on 127.0.0.1:0."""
    async with Sandbox() as sandbox:
        yield sandbox
        assert not sandbox.state.internal_errors


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP client that never follows redirects."""
    async with aiohttp.ClientSession() as session:
        yield session


def open_body(**fields: Any) -> dict[str, Any]:
    """A session request returning to a shop URL that has a query of its own."""
    body = {
        "country": "BR",
        "currency": "BRL",
        "amount": "130.00",
        "redirectUrl": "https://shop.example/return?order=7",
        "customer": {"name": "Ana"},
    }
    return {**body, **fields}


def open_session(sb: Sandbox, **fields: Any) -> dict[str, Any]:
    """A hosted-cashier payment session."""
    answer = sb.state.initiate("payment", open_body(**fields), cashier_origin=sb.base_url)
    assert isinstance(answer, dict)
    return answer


def card_form(number: str) -> dict[str, str]:
    """The Card option's form as a browser posts it."""
    return {"paymentOptionId": CARD_ID, **card(number)}


async def test_pages_follow_the_session_language(sb: Sandbox, http: aiohttp.ClientSession) -> None:
    """A session with language ES gets Spanish pages; without one, English."""
    spanish = open_session(sb, language="ES")
    english = open_session(sb)
    async with http.get(spanish["cashierUrl"]) as answer:
        text = await answer.text()
    assert '<html lang="es">' in text
    assert "Elija un medio de pago" in text
    async with http.get(english["cashierUrl"]) as answer:
        assert "Choose a payment method" in await answer.text()


async def test_pages_escape_merchant_data_and_fetch_nothing(
    sb: Sandbox, http: aiohttp.ClientSession
) -> None:
    """The merchant reference is HTML-escaped; the CSP forbids every fetch; nothing is cached."""
    link = open_session(sb, merchantReference="<script>alert(1)</script>")
    async with http.get(link["cashierUrl"] + f"?option={CARD_ID}") as answer:
        text = await answer.text()
        headers = answer.headers
    assert "<script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert headers["Cache-Control"] == "no-store"
    assert not re.search(r"(src|href)=\"https?://", text)


async def test_card_data_stays_out_of_the_ledger_and_logs(
    sb: Sandbox, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    """A cashier card payment 303s to redirectUrl; no typed card field reaches ledger or logs."""
    caplog.set_level(logging.DEBUG)
    link = open_session(sb)
    form = card_form(SUCCESS_CARD)
    async with http.post(link["cashierUrl"], data=form, allow_redirects=False) as answer:
        assert answer.status == 303
        location = answer.headers["Location"]
    tx_id = link["transactionId"]
    assert location == f"https://shop.example/return?order=7&transactionId={tx_id}&status=COMPLETED"
    ledger = orjson.dumps(sb.ledger().to_json()).decode()
    assert all(form[name] not in ledger for name in ("cardnum", "cardholder", "cardcvv"))
    assert SUCCESS_CARD not in caplog.text


async def test_validation_trigger_keeps_the_session_usable(
    sb: Sandbox, http: aiohttp.ClientSession
) -> None:
    """A 1000-1009 trigger card re-shows the form with the reason; the session can still pay."""
    link = open_session(sb)
    async with http.post(link["cashierUrl"], data=card_form(trigger_card(1004))) as answer:
        assert answer.status == 400
        text = await answer.text()
    assert "Invalid phone number." in text
    assert trigger_card(1004) not in text  # card data is never written back into the page
    assert sb.ledger().transactions[link["transactionId"]].status.value == "CREATED"
    async with http.post(
        link["cashierUrl"], data=card_form(SUCCESS_CARD), allow_redirects=False
    ) as answer:
        assert answer.status == 303


async def test_unknown_session_and_challenge_are_error_pages(
    sb: Sandbox, http: aiohttp.ClientSession
) -> None:
    """An unknown session or transaction is a 404 HTML page without a form."""
    for path in ("/_sandbox/cashier/nope", "/_sandbox/3ds/nope"):
        async with http.get(sb.base_url + path) as answer:
            assert answer.status == 404
            assert answer.content_type == "text/html"
            assert "<form" not in await answer.text()


def test_merchant_url_adds_the_two_parameters_and_refuses_other_schemes() -> None:
    """transactionId and status join the redirectUrl's own query; a javascript: URL gets none."""
    joined = merchant_url("http://m/r?a=1", "t-1", "DECLINED")
    assert joined == "http://m/r?a=1&transactionId=t-1&status=DECLINED"
    assert merchant_url("javascript:alert(1)", "t-1", "DECLINED") is None


async def test_api_3ds_redirect_opens_the_challenge(http: aiohttp.ClientSession) -> None:
    """An API 3DS payment's redirectUrl is the challenge; Authenticate 303s back COMPLETED."""
    async with Sandbox(payment_delay=None) as sb:
        opened = sb.state.initiate("payment", open_body())
        assert isinstance(opened, dict)
        post = {"sessionId": opened["sessionId"], "paymentOptionId": CARD_ID}
        answer = sb.state.post_payment(
            {**post, "extraData": card(THREE_DS_CARD)}, origin=sb.base_url
        )
        assert isinstance(answer, dict)
        challenge = answer["result"]["redirectUrl"]
        async with http.get(challenge) as page:
            text = await page.text()
        assert all(f'value="{a}"' in text for a in ("authenticate", "fail", "abandon"))
        form = {"action": "authenticate"}
        async with http.post(challenge, data=form, allow_redirects=False) as done:
            assert done.status == 303
            assert done.headers["Location"].endswith("&status=COMPLETED")
        assert sb.ledger().transactions[opened["transactionId"]].status.value == "COMPLETED"


async def test_an_open_challenge_ends_with_the_sandbox(http: aiohttp.ClientSession) -> None:
    """Stopping a sandbox with a challenge still open cancels its watcher cleanly."""
    sb = Sandbox(payment_delay=None)
    await sb.start()
    link = open_session(sb)
    async with http.post(
        link["cashierUrl"], data=card_form(THREE_DS_CARD), allow_redirects=False
    ) as answer:
        assert answer.status == 303
        assert "/_sandbox/3ds/" in answer.headers["Location"]
    await sb.stop()
    assert sb.state.transactions[link["transactionId"]].status.value == "PENDING"
    assert not sb.state.internal_errors
