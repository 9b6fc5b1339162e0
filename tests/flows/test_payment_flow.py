"""PaymentFlow against the sandbox: cards, 3DS, APMs, declines, refunds and links."""

from __future__ import annotations

import asyncio

import pytest

from kasha_async import (
    DeclinedError,
    InvalidRequestError,
    KashaClient,
    KashaErrorCode,
    OutcomeUnknownError,
    SessionAlreadyUsedError,
    TransactionStatus,
    ValidationError,
)
from kasha_async.flows import FlowState, PaymentFlow
from kasha_async.sandbox import THREE_DS_CARD, FaultKind, Sandbox, trigger_card

from .conftest import card, payment_fields, sent


async def test_card_payment_completes_with_three_requests(
    kasha_sandbox: Sandbox, kasha_client: KashaClient
) -> None:
    """A card payment needs options, one post and one status read: no suboptions, no extras."""
    flow = await PaymentFlow.start(kasha_client, **payment_fields())
    assert await flow.choose(flow.option(name="Card")) is None
    result = await flow.pay(extra_data=card())
    assert (result.transaction_id, result.needs_redirect) == (flow.transaction_id, False)
    final = await flow.wait_final(timeout=5)
    assert (final.status, flow.state) == (TransactionStatus.COMPLETED, FlowState.COMPLETED)
    assert dict(kasha_sandbox.ledger().requests_by_endpoint) == {
        "payments.options": 1,
        "payments.post": 1,
        "transactions.get": 1,
    }


async def test_card_payment_with_3ds_surfaces_the_redirect_and_waits(
    kasha_sandbox: Sandbox, kasha_client: KashaClient
) -> None:
    """A 3DS card answers a redirect URL; wait_final returns once the challenge completes."""
    kasha_sandbox.state.payment_delay = None
    flow = await PaymentFlow.start(kasha_client, **payment_fields())
    await flow.choose(flow.option(name="card"))
    result = await flow.pay(extra_data=card(THREE_DS_CARD))
    assert result.needs_redirect
    assert result.redirect_url is not None
    assert flow.transaction_id in result.redirect_url
    waiting = asyncio.create_task(flow.wait_final(timeout=5, poll_interval=0.01))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    assert flow.state is FlowState.SUBMITTED
    await kasha_sandbox.complete(flow.transaction_id)
    assert (await waiting).status is TransactionStatus.COMPLETED


async def test_feed_wakes_wait_final_without_another_poll(
    kasha_sandbox: Sandbox, kasha_client: KashaClient
) -> None:
    """A fed webhook resolves a waiting wait_final; other ids and older statuses are ignored."""
    kasha_sandbox.state.payment_delay = None
    flow = await PaymentFlow.start(kasha_client, **payment_fields())
    await flow.choose(flow.option(name="Card"))
    await flow.pay(extra_data=card(THREE_DS_CARD))
    pending = kasha_sandbox.ledger().transactions[flow.transaction_id]
    waiting = asyncio.create_task(flow.wait_final(timeout=5, poll_interval=60))
    await asyncio.sleep(0.05)
    await kasha_sandbox.complete(flow.transaction_id)
    other = await PaymentFlow.start(kasha_client, **payment_fields())
    completed = kasha_sandbox.ledger().transactions
    assert not flow.feed(completed[other.transaction_id])
    assert flow.feed(completed[flow.transaction_id])
    assert (await waiting).status is TransactionStatus.COMPLETED
    assert not flow.feed(pending)
    assert flow.state is FlowState.COMPLETED
    assert sent(kasha_sandbox, "transactions.get") == 1


async def test_apm_with_suboptions_validates_the_form_before_sending(
    kasha_sandbox: Sandbox, kasha_client: KashaClient
) -> None:
    """Bank Transfer fetches suboptions; bad form data is refused locally, good data is paid."""
    flow = await PaymentFlow.start(kasha_client, **payment_fields())
    subs = await flow.choose(flow.option(name="Bank Transfer"))
    assert subs is not None
    assert [s.id for s in subs.options] == ["b_101", "b_102", "b_103"]
    before = sent(kasha_sandbox)
    with pytest.raises(InvalidRequestError) as caught:
        await flow.pay(extra_data={"document": "123"})
    assert len(caught.value.problems) == 2
    with pytest.raises(InvalidRequestError, match="not one of"):
        await flow.pay(option_id="b_999", extra_data={"document": "12345678"})
    assert sent(kasha_sandbox) == before
    assert flow.state is FlowState.OPTION_CHOSEN
    await flow.pay(option_id=subs.options[0].id, extra_data={"document": "12345678"})
    assert (await flow.wait_final(timeout=5, poll_interval=0.01)).status == "COMPLETED"


async def test_a_server_validation_error_leaves_the_session_usable(
    kasha_sandbox: Sandbox, kasha_client: KashaClient
) -> None:
    """Code 1004 sends the flow back to OPTION_CHOSEN; a corrected pay() then succeeds."""
    flow = await PaymentFlow.start(kasha_client, **payment_fields())
    await flow.choose(flow.option(name="Card"))
    with pytest.raises(ValidationError) as caught:
        await flow.pay(extra_data=card(trigger_card(1004)))
    assert caught.value.code is KashaErrorCode.INVALID_PHONE_NUMBER
    assert flow.state is FlowState.OPTION_CHOSEN
    await flow.pay(extra_data=card())
    assert (await flow.wait_final(timeout=5)).status is TransactionStatus.COMPLETED


async def test_a_decline_ends_the_flow_and_a_second_pay_sends_nothing(
    kasha_sandbox: Sandbox, kasha_client: KashaClient
) -> None:
    """Code 3000 ends in DECLINED with the code; pay() again is refused without a request."""
    flow = await PaymentFlow.start(kasha_client, **payment_fields())
    await flow.choose(flow.option(name="Card"))
    with pytest.raises(DeclinedError) as caught:
        await flow.pay(extra_data=card(trigger_card(3000)))
    assert caught.value.code is KashaErrorCode.INSUFFICIENT_FUNDS
    assert flow.state is FlowState.DECLINED
    before = sent(kasha_sandbox)
    with pytest.raises(SessionAlreadyUsedError):
        await flow.pay(extra_data=card())
    assert sent(kasha_sandbox) == before
    with pytest.raises(DeclinedError):
        await flow.wait_final(timeout=5)


async def test_code_1100_is_outcome_unknown_and_refresh_resolves_it(
    kasha_sandbox: Sandbox, kasha_client: KashaClient
) -> None:
    """Code 1100 ends in OUTCOME_UNKNOWN, not DECLINED; pay() is refused; refresh() reads ERROR."""
    flow = await PaymentFlow.start(kasha_client, **payment_fields())
    await flow.choose(flow.option(name="Card"))
    with pytest.raises(OutcomeUnknownError) as caught:
        await flow.pay(extra_data=card(trigger_card(1100)))
    assert caught.value.code is KashaErrorCode.CONTACT_SUPPORT
    assert flow.state is FlowState.OUTCOME_UNKNOWN
    posts = sent(kasha_sandbox, "payments.post")
    with pytest.raises(SessionAlreadyUsedError, match="refresh"):
        await flow.pay(extra_data=card())
    assert sent(kasha_sandbox, "payments.post") == posts == 1
    tx = await flow.refresh()
    assert (tx.status, flow.state) == (TransactionStatus.ERROR, FlowState.ERROR)


async def test_a_second_pay_after_success_sends_nothing(
    kasha_sandbox: Sandbox, kasha_client: KashaClient
) -> None:
    """After a successful pay() the session is used: pay() raises before any request."""
    flow = await PaymentFlow.start(kasha_client, **payment_fields())
    await flow.choose(flow.option(name="Card"))
    await flow.pay(extra_data=card())
    before = sent(kasha_sandbox)
    with pytest.raises(SessionAlreadyUsedError):
        await flow.pay(extra_data=card())
    assert sent(kasha_sandbox) == before
    assert kasha_sandbox.ledger().attempts_per_session == {flow.session_id: 1}


async def test_concurrent_pays_send_one_request(
    kasha_sandbox: Sandbox, kasha_client: KashaClient
) -> None:
    """Two pay() calls racing: one is sent, the other raises SessionAlreadyUsedError."""
    flow = await PaymentFlow.start(kasha_client, **payment_fields())
    await flow.choose(flow.option(name="Card"))
    outcomes = await asyncio.gather(
        flow.pay(extra_data=card()), flow.pay(extra_data=card()), return_exceptions=True
    )
    assert sum(isinstance(o, SessionAlreadyUsedError) for o in outcomes) == 1
    assert sent(kasha_sandbox, "payments.post") == 1


async def test_a_reset_after_commit_is_reconciled_not_resent(
    kasha_sandbox: Sandbox, kasha_client: KashaClient
) -> None:
    """A post whose answer is lost is resolved by lookup: COMPLETED, one payment on the ledger."""
    flow = await PaymentFlow.start(kasha_client, **payment_fields())
    await flow.choose(flow.option(name="Card"))
    kasha_sandbox.faults.add("payments.post", FaultKind.RESET_AFTER_COMMIT, times=1)
    result = await flow.pay(extra_data=card())
    assert result.reconciled
    assert flow.state is FlowState.COMPLETED
    assert kasha_sandbox.ledger().counts_by_status == {"COMPLETED": 1}


async def test_a_duplicate_merchant_reference_is_a_decline(
    kasha_sandbox: Sandbox, kasha_client: KashaClient
) -> None:
    """Reusing a posted merchant reference ends the second flow DECLINED with code 3017."""
    fields = payment_fields()
    for expect_decline in (False, True):
        flow = await PaymentFlow.start(kasha_client, **fields)
        await flow.choose(flow.option(name="Card"))
        if not expect_decline:
            await flow.pay(extra_data=card())
            continue
        with pytest.raises(DeclinedError) as caught:
            await flow.pay(extra_data=card())
        assert caught.value.code is KashaErrorCode.DUPLICATE_TRANSACTION
        assert flow.state is FlowState.DECLINED


async def test_refund_of_a_completed_payment(
    kasha_sandbox: Sandbox, kasha_client: KashaClient
) -> None:
    """refund() turns a COMPLETED payment REFUNDED; a second refund() is refused locally."""
    flow = await PaymentFlow.start(kasha_client, **payment_fields())
    await flow.choose(flow.option(name="Card"))
    await flow.pay(extra_data=card())
    await flow.wait_final(timeout=5)
    refund = await flow.refund()
    assert refund.status is TransactionStatus.REFUNDED
    assert flow.state is FlowState.REFUNDED
    before = sent(kasha_sandbox)
    with pytest.raises(Exception, match=r"refund\(\) is not allowed while the flow is REFUNDED"):
        await flow.refund()
    assert sent(kasha_sandbox) == before


async def test_hybrid_link_hands_the_session_to_the_cashier(
    kasha_sandbox: Sandbox, kasha_client: KashaClient
) -> None:
    """hybrid_link() returns the cashier URL; the flow then refuses pay() and waits."""
    flow = await PaymentFlow.start(kasha_client, **payment_fields())
    url = await flow.hybrid_link(flow.option(name="Bank Transfer"), option_id="b_101")
    assert (url, flow.cashier_url, flow.state) == (url, url, FlowState.SUBMITTED)
    with pytest.raises(SessionAlreadyUsedError):
        await flow.pay(extra_data={"document": "12345678"})
    await kasha_sandbox.complete(flow.transaction_id)
    assert (await flow.wait_final(timeout=5)).status is TransactionStatus.COMPLETED


async def test_cashier_link_flow_follows_the_hosted_payment(
    kasha_sandbox: Sandbox, kasha_client: KashaClient
) -> None:
    """PaymentFlow.cashier_link opens a hosted session whose outcome the flow can wait for."""
    flow = await PaymentFlow.cashier_link(kasha_client, **payment_fields())
    assert flow.cashier_url is not None
    assert flow.session_id in flow.cashier_url
    assert flow.state is FlowState.SUBMITTED
    await kasha_sandbox.complete(flow.transaction_id)
    assert (await flow.wait_final(timeout=5)).status is TransactionStatus.COMPLETED
