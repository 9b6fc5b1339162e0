"""Pins from the core review: budget accounting, unknown outcomes, secrets and the size cap."""

from __future__ import annotations

import asyncio
import gzip
import traceback
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aioresponses import aioresponses

from kasha_async import (
    AnswerMismatchError,
    APIStatusError,
    Customer,
    DuplicateTransactionError,
    KashaClient,
    OutcomeUnknownError,
    ResponseFormatError,
    RetryBudget,
    ServerError,
    SubmitResult,
    TransactionStatus,
    ValidationError,
)
from kasha_async._constants import MAX_RESPONSE_BYTES
from kasha_async._convert import parse
from kasha_async._models import Transaction
from kasha_async.flows import FlowState, PaymentFlow
from kasha_async.sandbox import FaultKind, Sandbox
from tests.fixtures import sample_bytes
from tests.flows.conftest import card, payment_fields
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


# --- issue 13: one outcome module, one 3017 -----------------------------------------------------

OPTIONS = f"{BASE}/v2/payment-options"


def _options_answer() -> dict[str, Any]:
    return {
        "transactionId": "tx-1",
        "sessionId": "s-1",
        "paymentOptions": [{"paymentOptionId": "card", "name": "Card", "extraData": []}],
    }


async def _open_130_brl(kasha: KashaClient, reference: str = "order-123") -> None:
    await kasha.payments.options(
        country="BR",
        currency="BRL",
        amount=Decimal("130.00"),
        redirect_url="https://merchant.example/return",
        customer=Customer(name="John Doe", phone="+34666999666", ip="84.232.140.77"),
        merchant_reference=reference,
    )


@pytest.mark.parametrize(
    ("shown", "field"),
    [
        ({"paymentAmount": "0.01", "currency": "BRL", "method": "Card"}, "amount"),
        ({"paymentAmount": "130.00", "currency": "USD", "method": "Card"}, "currency"),
        ({"paymentAmount": "130.00", "currency": "BRL", "method": "Pix"}, "method"),
    ],
)
async def test_a_mismatching_lookup_is_never_success(
    mocked: aioresponses, kasha: KashaClient, shown: dict[str, str], field: str
) -> None:
    """A lost post whose lookup shows another amount, currency or option is a mismatch error."""
    mocked.post(OPTIONS, payload=_options_answer())
    mocked.post(PAY, exception=aiohttp.ServerDisconnectedError())
    mocked.post(PAY, status=409, payload=USED)
    mocked.get(TX, payload={"id": "tx-1", "status": "COMPLETED", **shown})
    await _open_130_brl(kasha)
    with pytest.raises(AnswerMismatchError) as info:
        await kasha.payments.post(session_id="s-1", payment_option_id="card")
    assert info.value.field == field
    assert kasha.stats.outcomes_unknown == 1


async def test_a_matching_lookup_is_still_success(mocked: aioresponses, kasha: KashaClient) -> None:
    """The same lost post whose lookup shows what was sent (130.0 BRL, Card) is reconciled."""
    mocked.post(OPTIONS, payload=_options_answer())
    mocked.post(PAY, exception=aiohttp.ServerDisconnectedError())
    mocked.post(PAY, status=409, payload=USED)
    shown = {"paymentAmount": "130.0", "currency": "brl", "method": "Card"}
    mocked.get(TX, payload={"id": "tx-1", "status": "COMPLETED", **shown})
    await _open_130_brl(kasha)
    result = await kasha.payments.post(session_id="s-1", payment_option_id="card")
    assert result.reconciled is True


async def test_a_refund_answer_for_another_amount_is_a_mismatch(
    mocked: aioresponses, kasha: KashaClient
) -> None:
    """A refund answer naming another amount than the payment this client opened raises."""
    mocked.post(OPTIONS, payload=_options_answer())
    refund = {"status": "REFUNDED", "paymentAmount": 1000, "currency": "BRL", "_id": "tx-1"}
    mocked.post(f"{BASE}/v2/refund", payload=refund)
    await _open_130_brl(kasha)
    with pytest.raises(AnswerMismatchError) as info:
        await kasha.refunds.create(merchant_reference="order-123")
    assert (info.value.field, info.value.expected, info.value.actual) == (
        "amount",
        "130.00",
        "1000",
    )


@pytest.mark.parametrize("status", [400, 409])
async def test_3017_at_any_status_is_a_duplicate_naming_the_reference(
    mocked: aioresponses, kasha: KashaClient, status: int
) -> None:
    """Code 3017 as 400 or 409 is DuplicateTransactionError naming the session's reference."""
    mocked.post(OPTIONS, payload=_options_answer())
    body = {"resultType": "error", "errors": {"code": 3017, "msg": "Duplicate transaction."}}
    mocked.post(PAY, status=status, payload=body)
    await _open_130_brl(kasha, "order-123")
    with pytest.raises(DuplicateTransactionError) as info:
        await kasha.payments.post(session_id="s-1", payment_option_id="card")
    assert info.value.merchant_reference == "order-123"
    assert "merchant reference 'order-123' is already used (code 3017)" in str(info.value)
    assert info.value.status_code == status
    assert count(mocked, "POST", PAY) == 1


async def test_3017_is_the_same_class_through_client_and_flow(
    kasha_sandbox: Sandbox, kasha_client: KashaClient
) -> None:
    """A reused merchant reference raises DuplicateTransactionError via the client and the flow."""
    fields = payment_fields()
    first = await PaymentFlow.start(kasha_client, **fields)
    await first.choose(first.option(name="Card"))
    await first.pay(extra_data=card())
    caught: list[DuplicateTransactionError] = []
    flow = await PaymentFlow.start(kasha_client, **fields)
    await flow.choose(flow.option(name="Card"))
    with pytest.raises(DuplicateTransactionError) as by_flow:
        await flow.pay(extra_data=card())
    caught.append(by_flow.value)
    opened = await kasha_client.payments.options(**fields)
    option = next(o for o in opened.payment_options if o.name == "Card")
    with pytest.raises(DuplicateTransactionError) as by_client:
        await kasha_client.payments.post(
            session_id=opened.session_id,
            payment_option_id=option.payment_option_id,
            extra_data=card(),
        )
    caught.append(by_client.value)
    reference = fields["merchant_reference"]
    for exc in caught:
        assert exc.merchant_reference == reference
        assert f"merchant reference {reference!r} is already used (code 3017)" in str(exc)
    assert flow.state is FlowState.DECLINED


async def test_racing_posts_on_one_session_tell_at_most_one_success(
    kasha_sandbox: Sandbox, kasha_client: KashaClient
) -> None:
    """Two posts racing on one session, both reset after commit: at most one is told success."""
    opened = await kasha_client.payments.options(**payment_fields())
    option = next(o for o in opened.payment_options if o.name == "Card")
    kasha_sandbox.faults.add("payments.post", FaultKind.RESET_AFTER_COMMIT, times=2)

    async def post() -> object:
        return await kasha_client.payments.post(
            session_id=opened.session_id,
            payment_option_id=option.payment_option_id,
            extra_data=card(),
        )

    outcomes = await asyncio.gather(post(), post(), return_exceptions=True)
    successes = [o for o in outcomes if isinstance(o, SubmitResult)]
    assert len(successes) <= 1
    assert all(isinstance(o, SubmitResult | OutcomeUnknownError) for o in outcomes), outcomes
    assert kasha_sandbox.ledger().counts_by_status == {"COMPLETED": 1}
    # Neither call can tell the session's one payment is its own: both are unknown.
    assert [type(o) for o in outcomes] == [OutcomeUnknownError, OutcomeUnknownError]
    assert all("raced" in str(o) for o in outcomes)


async def test_a_lone_post_after_a_validation_error_is_still_reconciled(
    kasha_sandbox: Sandbox, kasha_client: KashaClient
) -> None:
    """A post refused by validation competes with no one: the next post's lookup is its own."""
    opened = await kasha_client.payments.options(**payment_fields())
    option = next(o for o in opened.payment_options if o.name == "Card")
    with pytest.raises(ValidationError):
        await kasha_client.payments.post(
            session_id=opened.session_id, payment_option_id=option.payment_option_id
        )
    kasha_sandbox.faults.add("payments.post", FaultKind.RESET_AFTER_COMMIT, times=1)
    result = await kasha_client.payments.post(
        session_id=opened.session_id,
        payment_option_id=option.payment_option_id,
        extra_data=card(),
    )
    assert result.reconciled is True
    assert result.status is TransactionStatus.COMPLETED


async def test_a_retried_failure_keeps_tenacity_out_of_the_traceback(
    kasha_sandbox: Sandbox, kasha_client: KashaClient
) -> None:
    """The error a retried call ends in shows no tenacity frame, and no RetryError is chained."""
    kasha_sandbox.faults.add("transactions.get", FaultKind.STATUS_503)
    kasha_sandbox.faults.add("payouts.settle", FaultKind.RESET_AFTER_COMMIT)
    errors: list[BaseException] = []
    with pytest.raises(ServerError) as read:
        await kasha_client.transactions.get("tx-1")
    errors.append(read.value)
    with pytest.raises(OutcomeUnknownError) as settle:
        await kasha_client.payouts.settle(transaction_id="tx-1", action="APPROVE")
    errors.append(settle.value)
    for exc in errors:
        text = "".join(traceback.format_exception(exc))
        assert "/tenacity/" not in text
        assert "RetryError" not in text


async def test_a_resend_that_cannot_connect_still_looks_the_first_attempt_up(
    mocked: aioresponses, kasha: KashaClient
) -> None:
    """A lost answer, then resends that never connect: the lookup decides, not 'not sent'."""
    mocked.post(PAY, exception=aiohttp.ServerDisconnectedError())
    refused = aiohttp.ConnectionTimeoutError()
    for _ in range(3):
        mocked.post(PAY, exception=refused)
    mocked.get(TX, payload={"id": "tx-1", "status": "PENDING"})
    result = await post(kasha)
    assert result.reconciled is True
    assert result.status is TransactionStatus.PENDING
