"""Pins from the core review: budget accounting, unknown outcomes, secrets and the size cap."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aioresponses import aioresponses

from kasha_async import (
    APIStatusError,
    KashaClient,
    OutcomeUnknownError,
    ResponseFormatError,
    RetryBudget,
    ServerError,
    TransactionStatus,
)
from kasha_async._constants import MAX_RESPONSE_BYTES
from kasha_async._convert import parse
from kasha_async._models import Transaction
from tests.fixtures import sample_bytes
from tests.test_http import Handler, client_for, serve

BASE = "https://kasha.test"
PAY = f"{BASE}/v2/payment"
TX = f"{BASE}/v2/transactions/tx-1"
KEY = "live-key-0123456789"
USED = {"statusCode": "409", "resultType": "error", "errors": {"code": "409", "msg": "used"}}
GONE = {"statusCode": "410", "resultType": "error", "errors": {"code": "410", "msg": "expired"}}


@pytest.fixture
def mocked() -> Iterator[aioresponses]:
    """An aioresponses mock for the test's duration."""
    with aioresponses() as m:
        yield m


@pytest.fixture
async def kasha() -> AsyncIterator[KashaClient]:
    """A client against the mocked host whose API key is long enough to be scrubbed."""
    async with KashaClient(api_key=KEY, base_url=BASE) as client:
        yield client


def count(m: aioresponses, method: str, url: str) -> int:
    """How many requests the mock saw for one method and URL."""
    return sum(
        len(calls) for (meth, u), calls in m.requests.items() if meth == method and str(u) == url
    )


async def post(kasha: KashaClient) -> Any:
    """Post a payment on session s-1, transaction tx-1."""
    return await kasha.payments.post(
        session_id="s-1", payment_option_id="card", transaction_id="tx-1"
    )


# --- retry budget and stats -------------------------------------------------------------------


async def test_last_failure_spends_no_retry_token(mocked: aioresponses) -> None:
    """A call that fails on its last allowed attempt counts and spends only the retries it made."""
    budget = RetryBudget(ratio=0.0, floor_per_second=0.0, max_tokens=5.0)
    for _ in range(3):
        mocked.get(TX, status=503)
    async with KashaClient(api_key=KEY, base_url=BASE, max_retries=2, retry_budget=budget) as kasha:
        with pytest.raises(ServerError):
            await kasha.transactions.get("tx-1")
        assert count(mocked, "GET", TX) == 3
        assert kasha.stats.retries == 2
        assert kasha.stats.budget_exhausted == 0
    assert budget.tokens == pytest.approx(3.0)


# --- what an error may show -------------------------------------------------------------------


@pytest.mark.parametrize("code", ["\u00b2", "9" * 5000], ids=["superscript-two", "5000-digits"])
async def test_odd_error_code_is_still_an_api_error(
    mocked: aioresponses, kasha: KashaClient, code: str
) -> None:
    """An error code that looks numeric but is not an int maps by status, never a ValueError."""
    mocked.get(TX, status=404, body=f'{{"errors": {{"code": "{code}"}}}}'.encode())
    with pytest.raises(APIStatusError) as info:
        await kasha.transactions.get("tx-1")
    assert info.value.status_code == 404


async def test_non_json_answer_excerpt_masks_the_api_key(
    mocked: aioresponses, kasha: KashaClient
) -> None:
    """A 200 that is not JSON and echoes the API key never shows the key in the excerpt."""
    mocked.get(TX, status=200, body=f"<html>bad key {KEY}</html>".encode())
    with pytest.raises(ResponseFormatError) as info:
        await kasha.with_options(max_retries=0).transactions.get("tx-1")
    assert KEY not in (info.value.body_excerpt or "")
    assert "[REDACTED]" in (info.value.body_excerpt or "")


def test_shape_error_message_never_quotes_a_value() -> None:
    """A field of the wrong type is named in the message, its value (here a PAN) is not."""
    body = {"id": "t", "status": "PENDING", "orderDetails": [{"quantity": "4111 1111 1111 1111"}]}
    with pytest.raises(ResponseFormatError) as info:
        parse(Transaction, body)
    assert "4111" not in str(info.value)


def test_bad_date_message_never_quotes_the_value() -> None:
    """An unparsable date is reported by field type, without echoing what the provider sent."""
    with pytest.raises(ResponseFormatError) as info:
        parse(Transaction, {"id": "t", "status": "PENDING", "createdAt": f"x{KEY}"})
    assert KEY not in str(info.value)


# --- unknown outcomes are never reported as definite failures ----------------------------------


async def test_oversized_5xx_on_a_post_counts_as_maybe_landed() -> None:
    """A post answered by an unreadably large 502, then 409 on the resend, is reconciled."""
    posts: list[int] = []

    async def payment(request: web.Request) -> web.Response:
        posts.append(1)
        if len(posts) == 1:
            return web.Response(status=502, body=b" " * (MAX_RESPONSE_BYTES + 1))
        return web.json_response(USED, status=409)

    async def lookup(request: web.Request) -> web.Response:
        return web.json_response({"id": "tx-1", "status": "PENDING"})

    routes: dict[tuple[str, str], Handler] = {
        ("POST", "/v2/payment"): payment,
        ("GET", "/v2/transactions/{id}"): lookup,
    }
    async with serve(routes) as url, client_for(url, max_retries=3) as kasha:
        result = await post(kasha)
    assert result.reconciled is True
    assert len(posts) == 2


async def test_auth_error_on_resend_after_unknown_is_reconciled(
    mocked: aioresponses, kasha: KashaClient
) -> None:
    """A lost answer, then 401 on the resend, still looks the payment up instead of raising 401."""
    mocked.post(PAY, exception=aiohttp.ServerDisconnectedError())
    mocked.post(PAY, status=401, payload={"errors": {"msg": "bad key"}})
    mocked.get(TX, payload={"id": "tx-1", "status": "COMPLETED"})
    result = await post(kasha)
    assert result.reconciled is True
    assert result.status is TransactionStatus.COMPLETED


async def test_auth_error_on_resend_and_lookup_is_outcome_unknown(
    mocked: aioresponses, kasha: KashaClient
) -> None:
    """A lost answer, then 401 on the resend and on the lookup, ends as OutcomeUnknownError."""
    mocked.post(PAY, exception=aiohttp.ServerDisconnectedError())
    mocked.post(PAY, status=401, payload={"errors": {"msg": "bad key"}})
    mocked.get(TX, status=401, payload={"errors": {"msg": "bad key"}})
    with pytest.raises(OutcomeUnknownError) as info:
        await post(kasha)
    assert info.value.transaction_id == "tx-1"


@pytest.mark.parametrize("status", ["ERROR", "ON_HOLD"])
async def test_410_with_undecided_lookup_is_outcome_unknown(
    mocked: aioresponses, kasha: KashaClient, status: str
) -> None:
    """A lost answer, 410, and a lookup in ERROR or an unknown status is unknown, not expired."""
    mocked.post(PAY, exception=aiohttp.ServerDisconnectedError())
    mocked.post(PAY, status=410, payload=GONE)
    mocked.get(TX, payload={"id": "tx-1", "status": status})
    with pytest.raises(OutcomeUnknownError) as info:
        await post(kasha)
    assert info.value.transaction_id == "tx-1"
    assert count(mocked, "POST", PAY) == 2


# --- transport --------------------------------------------------------------------------------


async def test_gzip_answer_is_capped_after_decompression() -> None:
    """A small gzip answer that unpacks past the size cap is refused, not read whole."""
    body = gzip.compress(sample_bytes("transaction") + b" " * (MAX_RESPONSE_BYTES + 1))

    async def bomb(request: web.Request) -> web.Response:
        return web.Response(body=body, headers={"Content-Encoding": "gzip"})

    async with (
        serve({("GET", "/v2/transactions/{id}"): bomb}) as url,
        client_for(url) as kasha,
    ):
        with pytest.raises(ResponseFormatError, match="limit"):
            await kasha.transactions.get("tx-1")


async def test_small_gzip_answer_is_read() -> None:
    """A gzip answer under the cap is decompressed and parsed as usual."""
    body = gzip.compress(sample_bytes("transaction"))

    async def zipped(request: web.Request) -> web.Response:
        return web.Response(body=body, headers={"Content-Encoding": "gzip"})

    async with (
        serve({("GET", "/v2/transactions/{id}"): zipped}) as url,
        client_for(url) as kasha,
    ):
        tx = await kasha.transactions.get("tx-1")
    assert tx.id == "099cdc76-45d1-49e1-8985-e1c82dcfadb3"


async def test_multipart_headers_are_not_cached_per_boundary(
    mocked: aioresponses, kasha: KashaClient
) -> None:
    """Unsigned multipart calls, each with its own boundary, leave the header cache bounded."""
    url = f"{BASE}/v2/payment-suboptions"
    for _ in range(3):
        mocked.post(url, body=sample_bytes("payment-suboptions"))
        await kasha.payments.suboptions(session_id="s", payment_option_id="po", multipart=True)
    assert len(kasha._transport._header_cache) == 0
