"""The SDK client against the sandbox: every endpoint, every trigger, expiry and each fault."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
import pytest_asyncio

from kasha_async import (
    Customer,
    DeclinedError,
    DuplicateTransactionError,
    InitiatedSession,
    KashaClient,
    KashaError,
    OutcomeUnknownError,
    SessionGoneError,
    TransactionStatus,
    ValidationError,
)
from kasha_async._codes import CODE_TABLE
from kasha_async.sandbox import THREE_DS_CARD, FaultKind, Sandbox, trigger_amount, trigger_card

CUSTOMER = Customer(name="John Doe", phone="+34666999666", ip="84.232.140.77")
_refs = iter(range(1, 10**6))


def _fields(**extra: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "country": "BR",
        "currency": "BRL",
        "amount": Decimal("130.00"),
        "redirect_url": "https://merchant.example/return",
        "customer": CUSTOMER,
        "merchant_reference": f"sdk-{next(_refs)}",
    }
    return {**fields, **extra}


@pytest_asyncio.fixture
async def kasha(sb: Sandbox) -> AsyncIterator[KashaClient]:
    """A client bound to the deterministic ``sb`` sandbox."""
    async with KashaClient(api_key=sb.api_key, base_url=sb.base_url) as client:
        yield client


def _option(session: InitiatedSession, name: str) -> str:
    return next(o.payment_option_id for o in session.payment_options if o.name == name)


async def test_card_payment_and_refund_through_the_client(kasha: KashaClient) -> None:
    """options -> post -> get -> refund through the SDK end in REFUNDED."""
    session = await kasha.payments.options(**_fields(merchant_reference="sdk-card"))
    result = await kasha.payments.post(
        session_id=session.session_id,
        payment_option_id=_option(session, "Card"),
        extra_data={"cardnum": "4242424242424242"},
    )
    assert result.transaction_id == session.transaction_id
    assert result.result_type == "success"
    assert (
        await kasha.transactions.get(result.transaction_id)
    ).status is TransactionStatus.COMPLETED
    refund = await kasha.refunds.create(merchant_reference="sdk-card")
    assert refund.status is TransactionStatus.REFUNDED
    assert refund.id == session.transaction_id


async def test_suboptions_hybrid_and_cashier_links_through_the_client(kasha: KashaClient) -> None:
    """Suboptions (JSON and multipart), hybrid and both cashier links parse in the SDK."""
    session = await kasha.payments.options(**_fields(country="MX", currency="MXN"))
    spei = _option(session, "SPEI")
    for multipart in (False, True):
        subs = await kasha.payments.suboptions(
            session_id=session.session_id, payment_option_id=spei, multipart=multipart
        )
        assert [o.id for o in subs.options] == ["b_301", "b_302", "b_303"]
        assert subs.result_code == 85
        assert subs.form_inputs[0].name == "phone"
    hybrid = await kasha.payments.hybrid(session_id=session.session_id, payment_option_id=spei)
    assert hybrid.needs_redirect
    assert hybrid.result_code == 300
    link = await kasha.payments.create_session(**_fields())
    payout_link = await kasha.payouts.create_session(**_fields())
    assert link.cashier_url.startswith("http://127.0.0.1")
    assert payout_link.session_id


async def test_three_ds_payment_through_the_client(kasha: KashaClient, sb: Sandbox) -> None:
    """The 3DS card gives needs_redirect; the control call completes it."""
    session = await kasha.payments.options(**_fields())
    result = await kasha.payments.post(
        session_id=session.session_id,
        payment_option_id=_option(session, "Card"),
        extra_data={"cardnum": THREE_DS_CARD},
    )
    assert result.needs_redirect
    assert result.redirect_url
    await sb.complete(result.transaction_id)
    assert (
        await kasha.transactions.get(result.transaction_id)
    ).status is TransactionStatus.COMPLETED


async def test_payout_flow_through_the_client(kasha: KashaClient, sb: Sandbox) -> None:
    """options -> suboptions -> create -> APPROVE -> processor -> COMPLETED through the SDK."""
    session = await kasha.payouts.options(**_fields(country="AR", currency="ARS"))
    option_id = session.payment_options[0].payment_option_id
    subs = await kasha.payouts.suboptions(
        session_id=session.session_id, payment_option_id=option_id
    )
    assert subs.options[0].id == "d_317"
    assert subs.form_inputs
    created = await kasha.payouts.create(
        session_id=session.session_id,
        payment_option_id=option_id,
        option_id="d_317",
        extra_data={"name": "Jane Roe"},
    )
    settled = await kasha.payouts.settle(transaction_id=created.transaction_id, action="APPROVE")
    assert settled.status is TransactionStatus.PROCESSING
    await sb.settle_processing(created.transaction_id)
    assert (
        await kasha.transactions.get(created.transaction_id)
    ).status is TransactionStatus.COMPLETED


def _expected_error(code: int) -> type[KashaError]:
    if 1000 <= code <= 1009:
        return ValidationError
    if code == 1100:
        return OutcomeUnknownError
    return DuplicateTransactionError if code == 3017 else DeclinedError


@pytest.mark.parametrize("code", sorted(CODE_TABLE))
async def test_every_card_trigger_raises_its_code_in_the_sdk(kasha: KashaClient, code: int) -> None:
    """Each magic card surfaces in the SDK as the right exception carrying its code."""
    session = await kasha.payments.options(**_fields())
    with pytest.raises(_expected_error(code)) as info:
        await kasha.payments.post(
            session_id=session.session_id,
            payment_option_id=_option(session, "Card"),
            extra_data={"cardnum": trigger_card(code)},
        )
    assert getattr(info.value, "code", None) == code


@pytest.mark.parametrize("code", [1007, 3000, 3017, 999])
async def test_amount_triggers_raise_their_code_on_payouts(kasha: KashaClient, code: int) -> None:
    """Magic payout amounts surface in the SDK with their code."""
    session = await kasha.payouts.options(**_fields(amount=trigger_amount(code)))
    with pytest.raises(_expected_error(code)) as info:
        await kasha.payouts.create(
            session_id=session.session_id,
            payment_option_id=session.payment_options[0].payment_option_id,
        )
    assert getattr(info.value, "code", None) == code


async def test_expired_session_is_session_gone_in_the_sdk(kasha: KashaClient, sb: Sandbox) -> None:
    """After the sandbox clock moves 31 minutes the SDK gets SessionGoneError (410)."""
    session = await kasha.payments.options(**_fields())
    sb.clock.advance(31 * 60)
    with pytest.raises(SessionGoneError):
        await kasha.payments.post(
            session_id=session.session_id,
            payment_option_id=_option(session, "Card"),
            extra_data={"cardnum": "4242424242424242"},
        )


async def _payout_created_under(kasha: KashaClient, sb: Sandbox, kind: FaultKind) -> str:
    session = await kasha.payouts.options(**_fields())
    sb.faults.add(endpoint="payouts.create", kind=kind, times=1, retry_after=0)
    created = await kasha.payouts.create(
        session_id=session.session_id,
        payment_option_id=session.payment_options[0].payment_option_id,
    )
    return created.transaction_id


@pytest.mark.parametrize(
    "kind",
    [
        FaultKind.STATUS_500,
        FaultKind.STATUS_502,
        FaultKind.STATUS_503,
        FaultKind.RATE_LIMIT,
        FaultKind.LATENCY,
        FaultKind.RESET_BEFORE,
        FaultKind.RESET_AFTER_COMMIT,
        FaultKind.TRUNCATED_BODY,
        FaultKind.NON_JSON_BODY,
    ],
)
async def test_each_fault_on_payout_create_ends_in_exactly_one_payout(
    kasha: KashaClient, sb: Sandbox, kind: FaultKind
) -> None:
    """Whatever the fault on payouts.create, the SDK ends with exactly one PENDING payout."""
    tx_id = await _payout_created_under(kasha, sb, kind)
    led = sb.ledger()
    assert led.counts_by_status == {"PENDING": 1}
    assert led.transactions[tx_id].status is TransactionStatus.PENDING


async def test_reset_after_commit_is_reconciled_not_paid_twice(
    kasha: KashaClient, sb: Sandbox
) -> None:
    """A reset after commit on payouts.create is reconciled by lookup: one payout, not two."""
    tx_id = await _payout_created_under(kasha, sb, FaultKind.RESET_AFTER_COMMIT)
    led = sb.ledger()
    assert led.transactions[tx_id].status is TransactionStatus.PENDING
    assert led.counts_by_status == {"PENDING": 1}


async def test_transient_faults_on_lookups_are_retried(kasha: KashaClient, sb: Sandbox) -> None:
    """503, truncated and non-JSON answers on transactions.get are retried to success."""
    session = await kasha.payments.options(**_fields())
    for kind in (FaultKind.STATUS_503, FaultKind.TRUNCATED_BODY):
        sb.faults.add(endpoint="transactions.get", kind=kind, times=1)
    sb.faults.add(endpoint="transactions.get", kind=FaultKind.NON_JSON_BODY, times=1, status=200)
    tx = await kasha.transactions.get(session.transaction_id)
    assert tx.status is TransactionStatus.CREATED
    assert sb.ledger().requests_by_endpoint["transactions.get"] == 4


async def test_plugin_fixtures_give_a_working_client(
    kasha_sandbox: Sandbox, kasha_client: Any
) -> None:
    """The kasha_sandbox and kasha_client fixtures of the pytest plugin work together."""
    session = await kasha_client.payouts.options(**_fields())
    assert session.transaction_id in kasha_sandbox.ledger().transactions
