"""The retry policy: what is resent, what is reconciled, what is surfaced as unknown."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses

import kasha_async
from kasha_async import (
    AuthenticationError,
    ConflictError,
    ConnectionLostError,
    DeclinedError,
    KashaClient,
    KashaErrorCode,
    OutcomeUnknownError,
    RetryBudget,
    ServerError,
    TransactionStatus,
    _retry,
)
from kasha_async._operations import Safety
from kasha_async._retry import is_retryable, retry_after_seconds

BASE = "https://kasha.test"
PAY = f"{BASE}/v2/payment"
SETTLE = f"{BASE}/v2/settle-payout"
REFUND = f"{BASE}/v2/refund"
TX = f"{BASE}/v2/transactions/tx-1"
TX_ANY = re.compile(rf"{re.escape(BASE)}/v2/transactions/.*")


@pytest.fixture
def mocked() -> Iterator[aioresponses]:
    """An aioresponses mock for the test's duration."""
    with aioresponses() as m:
        yield m


@pytest.fixture
async def kasha() -> AsyncIterator[KashaClient]:
    """A client against the mocked host with the default retry settings."""
    async with KashaClient(api_key="key", base_url=BASE) as client:
        yield client


def count(m: aioresponses, method: str, url: str) -> int:
    """How many requests the mock saw for one method and URL."""
    return sum(
        len(calls) for (meth, u), calls in m.requests.items() if meth == method and str(u) == url
    )


def tx_body(status: str, **extra: Any) -> dict[str, Any]:
    """A transaction lookup answer."""
    return {"id": "tx-1", "status": status, "sessionId": "s-1", **extra}


SUCCESS = {"statusCode": "000", "resultType": "success", "result": {"transactionId": "tx-1"}}
USED = {"statusCode": "409", "resultType": "error", "errors": {"code": "409", "msg": "used"}}


async def post(kasha: KashaClient) -> kasha_async.SubmitResult:
    """Post a payment on session s-1, transaction tx-1."""
    return await kasha.payments.post(
        session_id="s-1", payment_option_id="card", transaction_id="tx-1"
    )


async def test_read_retried_on_server_errors(mocked: aioresponses, kasha: KashaClient) -> None:
    """A lookup answered 503 then 502 then 200 returns the transaction after two retries."""
    mocked.get(TX, status=503)
    mocked.get(TX, status=502)
    mocked.get(TX, payload=tx_body("COMPLETED"))
    tx = await kasha.transactions.get("tx-1")
    assert tx.status is TransactionStatus.COMPLETED
    assert count(mocked, "GET", TX) == 3
    assert kasha.stats.retries == 2


async def test_authentication_error_never_retried(mocked: aioresponses, kasha: KashaClient) -> None:
    """A 401 is raised after exactly one request."""
    mocked.get(TX, status=401, payload={"statusCode": "401", "resultType": "error"})
    with pytest.raises(AuthenticationError):
        await kasha.transactions.get("tx-1")
    assert count(mocked, "GET", TX) == 1


async def test_post_resent_when_certainly_not_sent(
    mocked: aioresponses, kasha: KashaClient
) -> None:
    """A connect failure on a payment post is retried and the second attempt's answer returned."""
    refused = aiohttp.ClientConnectorError(
        aiohttp.client_reqrep.ConnectionKey("kasha.test", 80, False, True, None, None, None),
        OSError(111, "refused"),
    )
    mocked.post(PAY, exception=refused)
    mocked.post(PAY, payload=SUCCESS)
    result = await post(kasha)
    assert result.transaction_id == "tx-1"
    assert result.reconciled is False
    assert count(mocked, "POST", PAY) == 2


async def test_post_unknown_then_409_reconciles(mocked: aioresponses, kasha: KashaClient) -> None:
    """A lost answer, then 409 on the resend, is resolved by lookup: one payment, reconciled."""
    mocked.post(PAY, exception=aiohttp.ServerDisconnectedError())
    mocked.post(PAY, status=409, payload=USED)
    mocked.get(TX, payload=tx_body("COMPLETED"))
    result = await post(kasha)
    assert result.reconciled is True
    assert result.status is TransactionStatus.COMPLETED
    assert count(mocked, "POST", PAY) == 2
    assert count(mocked, "GET", TX) == 1
    assert kasha.stats.reconciliations == 1


async def test_post_unknown_then_success_returns_it(
    mocked: aioresponses, kasha: KashaClient
) -> None:
    """A 500 then a success on the same session: the first never landed, the answer is returned."""
    mocked.post(PAY, status=500)
    mocked.post(PAY, payload=SUCCESS)
    result = await post(kasha)
    assert result.result_type == "success"
    assert result.reconciled is False


async def test_first_409_is_a_conflict_not_a_reconciliation(
    mocked: aioresponses, kasha: KashaClient
) -> None:
    """A 409 with no earlier unknown attempt is the caller's reuse of a session: ConflictError."""
    mocked.post(PAY, status=409, payload=USED)
    with pytest.raises(ConflictError):
        await post(kasha)
    assert count(mocked, "GET", TX) == 0


async def test_post_unknown_forever_surfaces_outcome_unknown(
    mocked: aioresponses, kasha: KashaClient
) -> None:
    """All attempts lost, nothing landed per lookup: OutcomeUnknownError names the transaction."""
    for _ in range(4):
        mocked.post(PAY, exception=aiohttp.ServerDisconnectedError())
    mocked.get(TX, payload=tx_body("CREATED"))
    with pytest.raises(OutcomeUnknownError) as info:
        await post(kasha)
    assert info.value.transaction_id == "tx-1"
    assert count(mocked, "POST", PAY) == 4
    assert kasha.stats.outcomes_unknown == 1


async def test_code_1100_is_never_resent(mocked: aioresponses, kasha: KashaClient) -> None:
    """Code 1100 leads to one lookup and no second post; an ERROR status stays unknown."""
    body = {"statusCode": "1100", "resultType": "error", "errors": {"code": "1100", "msg": "x"}}
    mocked.post(PAY, status=400, payload=body)
    mocked.get(TX, payload=tx_body("ERROR"))
    with pytest.raises(OutcomeUnknownError) as info:
        await post(kasha)
    assert info.value.code is KashaErrorCode.CONTACT_SUPPORT
    assert count(mocked, "POST", PAY) == 1
    assert count(mocked, "GET", TX) == 1


async def test_code_1100_resolved_when_lookup_completed(
    mocked: aioresponses, kasha: KashaClient
) -> None:
    """Code 1100 followed by a COMPLETED lookup returns a reconciled success."""
    body = {"statusCode": "1100", "resultType": "error", "errors": {"code": "1100", "msg": "x"}}
    mocked.post(PAY, status=400, payload=body)
    mocked.get(TX, payload=tx_body("COMPLETED"))
    result = await post(kasha)
    assert result.reconciled is True
    assert count(mocked, "POST", PAY) == 1


async def test_decline_is_not_retried(mocked: aioresponses, kasha: KashaClient) -> None:
    """A decline answer is raised with its code after one request."""
    body = {"statusCode": "3000", "resultType": "error", "errors": {"code": "3000", "msg": "funds"}}
    mocked.post(PAY, status=400, payload=body)
    with pytest.raises(DeclinedError) as info:
        await post(kasha)
    assert info.value.code is KashaErrorCode.INSUFFICIENT_FUNDS
    assert count(mocked, "POST", PAY) == 1


async def test_unknown_then_declined_lookup_raises_decline(
    mocked: aioresponses, kasha: KashaClient
) -> None:
    """A lost answer whose lookup shows DECLINED raises the decline with the transaction's code."""
    mocked.post(PAY, exception=aiohttp.ServerDisconnectedError())
    mocked.post(PAY, status=409, payload=USED)
    mocked.get(TX, payload=tx_body("DECLINED", errors={"code": "3001", "msg": "Do not honour."}))
    with pytest.raises(DeclinedError) as info:
        await post(kasha)
    assert info.value.code is KashaErrorCode.DO_NOT_HONOUR


async def test_rate_limited_post_is_retried(mocked: aioresponses, kasha: KashaClient) -> None:
    """A 429 on a post means it was not processed: it is resent and succeeds."""
    mocked.post(PAY, status=429, headers={"Retry-After": "1"})
    mocked.post(PAY, payload=SUCCESS)
    result = await post(kasha)
    assert result.transaction_id == "tx-1"
    assert count(mocked, "POST", PAY) == 2


async def test_settle_reconciles_before_resending(mocked: aioresponses, kasha: KashaClient) -> None:
    """A lost settle answer is looked up first; PROCESSING means it landed and is not resent."""
    mocked.post(SETTLE, exception=aiohttp.ServerDisconnectedError())
    mocked.get(TX, payload=tx_body("PROCESSING"))
    result = await kasha.payouts.settle(transaction_id="tx-1", action="APPROVE")
    assert result.reconciled is True
    assert result.status is TransactionStatus.PROCESSING
    assert count(mocked, "POST", SETTLE) == 1


async def test_settle_resent_when_lookup_says_pending(
    mocked: aioresponses, kasha: KashaClient
) -> None:
    """A lost settle whose payout is still PENDING is resent once and its answer returned."""
    mocked.post(SETTLE, exception=aiohttp.ServerDisconnectedError())
    mocked.get(TX, payload=tx_body("PENDING"))
    mocked.post(
        SETTLE,
        payload={
            "statusCode": "000",
            "status": "PROCESSING",
            "transactionId": "tx-1",
            "result": "ok",
        },
    )
    result = await kasha.payouts.settle(transaction_id="tx-1", action="APPROVE")
    assert result.reconciled is False
    assert count(mocked, "POST", SETTLE) == 2


async def test_refund_without_transaction_id_is_unknown(
    mocked: aioresponses, kasha: KashaClient
) -> None:
    """A lost refund answer with no transaction id to look up is surfaced as unknown, not resent."""
    mocked.post(REFUND, exception=aiohttp.ServerDisconnectedError())
    with pytest.raises(OutcomeUnknownError):
        await kasha.refunds.create(merchant_reference="order-1")
    assert count(mocked, "POST", REFUND) == 1


async def test_max_retries_zero_sends_once(mocked: aioresponses, kasha: KashaClient) -> None:
    """with_options(max_retries=0) turns retrying off for that copy only."""
    mocked.get(TX, status=503)
    with pytest.raises(ServerError):
        await kasha.with_options(max_retries=0).transactions.get("tx-1")
    assert count(mocked, "GET", TX) == 1
    assert kasha.max_retries == 3


async def test_budget_exhausted_stops_retries(mocked: aioresponses) -> None:
    """With an empty budget and no floor, a 503 is raised at once and counted."""
    budget = RetryBudget(ratio=0.0, floor_per_second=0.0, max_tokens=0.0)
    mocked.get(TX, status=503)
    async with KashaClient(api_key="key", base_url=BASE, retry_budget=budget) as kasha:
        with pytest.raises(ServerError):
            await kasha.transactions.get("tx-1")
        assert kasha.stats.budget_exhausted == 1
    assert count(mocked, "GET", TX) == 1


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Real (non-testing) wait lengths, recorded instead of slept."""
    recorded: list[float] = []

    async def record(seconds: float) -> None:
        recorded.append(seconds)

    kasha_async.set_testing(False)
    monkeypatch.setattr(_retry, "_sleep", record)
    return recorded


async def test_retry_after_is_honoured(
    mocked: aioresponses, kasha: KashaClient, waits: list[float]
) -> None:
    """The wait before a retry of a 429 is the server's Retry-After, not the backoff."""
    mocked.get(TX, status=429, headers={"Retry-After": "7"})
    mocked.get(TX, payload=tx_body("PENDING"))
    await kasha.transactions.get("tx-1")
    assert waits == [7.0]


async def test_backoff_is_bounded_full_jitter(
    mocked: aioresponses, kasha: KashaClient, waits: list[float]
) -> None:
    """Without Retry-After, waits are full jitter below 0.5 s, 1 s, 2 s for attempts 1..3."""
    for _ in range(3):
        mocked.get(TX, status=503)
    mocked.get(TX, payload=tx_body("PENDING"))
    await kasha.transactions.get("tx-1")
    assert len(waits) == 3
    assert all(0.0 <= w <= cap for w, cap in zip(waits, (0.5, 1.0, 2.0), strict=True))


async def test_deadline_covers_a_hanging_read(mocked: aioresponses) -> None:
    """A lookup that outlives the total deadline ends as ConnectionLostError, not a hang."""

    async def hang(url: Any, **kwargs: Any) -> None:
        import asyncio

        await asyncio.sleep(30)

    mocked.get(TX, callback=hang)
    async with KashaClient(api_key="key", base_url=BASE, timeout=0.05) as kasha:
        with pytest.raises(ConnectionLostError, match="deadline"):
            await kasha.transactions.get("tx-1")


async def test_deadline_on_money_call_in_flight_is_unknown(mocked: aioresponses) -> None:
    """A payment post in flight at the deadline is OutcomeUnknownError with the transaction id."""

    async def hang(url: Any, **kwargs: Any) -> None:
        import asyncio

        await asyncio.sleep(30)

    mocked.post(PAY, callback=hang)
    async with KashaClient(api_key="key", base_url=BASE, timeout=0.05) as kasha:
        with pytest.raises(OutcomeUnknownError) as info:
            await post(kasha)
    assert info.value.transaction_id == "tx-1"


def test_retry_after_parsing() -> None:
    """Retry-After accepts seconds and HTTP dates, caps at 60 s and ignores garbage."""
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds("3600") == 60.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def test_budget_refills_by_ratio_and_floor() -> None:
    """Ten calls earn one retry at a 10% ratio; time adds the floor; the bucket is capped."""
    now = [0.0]
    budget = RetryBudget(ratio=0.1, floor_per_second=1.0, max_tokens=5.0, clock=lambda: now[0])
    while budget.try_spend():
        pass
    for _ in range(10):
        budget.deposit()
    assert budget.try_spend() is True
    assert budget.try_spend() is False
    now[0] += 2.0
    assert budget.tokens == pytest.approx(2.0)
    now[0] += 100.0
    assert budget.tokens == 5.0


@pytest.mark.parametrize(
    ("safety", "exc", "expected"),
    [
        (Safety.READ, ConnectionLostError("x"), True),
        (Safety.SESSION, ServerError("x", status_code=503), True),
        (Safety.READ, ServerError("x", status_code=501), False),
        (Safety.LOOKUP, ConnectionLostError("x"), False),
        (Safety.LOOKUP, ServerError("x", status_code=503), False),
        (Safety.ONCE, ConnectionLostError("x"), True),
        (Safety.ONCE, OutcomeUnknownError("x", code=KashaErrorCode.CONTACT_SUPPORT), False),
        (Safety.ONCE, AuthenticationError("x", status_code=401), False),
    ],
)
def test_policy_table(safety: Safety, exc: Exception, expected: bool) -> None:
    """The policy table's 'retried on' column, row by row."""
    assert is_retryable(safety, exc) is expected


def test_every_route_has_a_policy() -> None:
    """No operation is left without a retry policy row."""
    assert set(_retry.POLICY) == set(kasha_async.ROUTES)


async def test_reconciliation_lookup_uses_any_transaction(mocked: aioresponses) -> None:
    """The transaction id remembered from the options call is used when post() is not given one."""
    mocked.post(
        f"{BASE}/v2/payment-options",
        payload={"transactionId": "tx-9", "sessionId": "s-9", "paymentOptions": []},
    )
    mocked.post(PAY, exception=aiohttp.ServerDisconnectedError())
    mocked.post(PAY, status=409, payload=USED)
    mocked.get(TX_ANY, payload={"id": "tx-9", "status": "PENDING"})
    async with KashaClient(api_key="key", base_url=BASE) as kasha:
        from decimal import Decimal

        await kasha.payments.options(
            country="BR",
            currency="BRL",
            amount=Decimal("10.00"),
            redirect_url="https://shop.test/back",
            customer=kasha_async.Customer(name="Ana"),
        )
        result = await kasha.payments.post(session_id="s-9", payment_option_id="pix")
    assert result.transaction_id == "tx-9"
    assert result.reconciled is True


GONE = {"statusCode": "410", "resultType": "error", "errors": {"code": "410", "msg": "expired"}}


async def test_post_unknown_then_410_reconciles(mocked: aioresponses, kasha: KashaClient) -> None:
    """A lost answer, then 410 on the resend, is looked up: the first attempt's payment is found."""
    mocked.post(PAY, exception=aiohttp.ServerDisconnectedError())
    mocked.post(PAY, status=410, payload=GONE)
    mocked.get(TX, payload=tx_body("PENDING"))
    result = await post(kasha)
    assert result.reconciled is True
    assert result.status is TransactionStatus.PENDING
    assert count(mocked, "POST", PAY) == 2


async def test_post_unknown_then_410_unused_is_session_gone(
    mocked: aioresponses, kasha: KashaClient
) -> None:
    """A lost answer, then 410, and a lookup showing nothing landed: a definite SessionGoneError."""
    mocked.post(PAY, exception=aiohttp.ServerDisconnectedError())
    mocked.post(PAY, status=410, payload=GONE)
    mocked.get(TX, payload=tx_body("EXPIRED"))
    with pytest.raises(kasha_async.SessionGoneError):
        await post(kasha)
    assert count(mocked, "GET", TX) == 1


async def test_settle_resend_409_is_reconciled(mocked: aioresponses, kasha: KashaClient) -> None:
    """A settle resent after a PENDING lookup that meets 409 landed meanwhile: it is looked up."""
    mocked.post(SETTLE, exception=aiohttp.ServerDisconnectedError())
    mocked.get(TX, payload=tx_body("PENDING"))
    mocked.post(SETTLE, status=409, payload=USED)
    mocked.get(TX, payload=tx_body("PROCESSING"))
    result = await kasha.payouts.settle(transaction_id="tx-1", action="APPROVE")
    assert result.reconciled is True
    assert result.status is TransactionStatus.PROCESSING
    assert count(mocked, "POST", SETTLE) == 2


async def test_a_retry_log_line_says_why_and_how_long_it_waits(
    mocked: aioresponses, kasha: KashaClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Each retry is logged with the failed attempt, its reason and the wait before the next."""
    mocked.get(TX, status=503)
    mocked.get(TX, payload=tx_body("COMPLETED"))
    with caplog.at_level(logging.INFO, logger="kasha_async.retry"):
        await kasha.transactions.get("tx-1")
    (line,) = [r.getMessage() for r in caplog.records if r.name == "kasha_async.retry"]
    assert line.startswith(
        "transactions.get: attempt 1 failed (ServerError HTTP 503); retrying in "
    )
    assert line.endswith(" s")
