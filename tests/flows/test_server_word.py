"""The server's word against the flow: contradictions, webhooks and cancellations mid-call."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import attrs
import pytest

from kasha_async import (
    KashaClient,
    OutcomeUnknownError,
    SessionAlreadyUsedError,
    Transaction,
    TransactionStatus,
)
from kasha_async.flows import FlowState, IllegalTransitionError, PaymentFlow, PayoutFlow
from kasha_async.sandbox import Sandbox

from .conftest import card, payment_fields, payout_fields, sent


async def _completed_card_payment(kasha: KashaClient) -> PaymentFlow:
    flow = await PaymentFlow.start(kasha, **payment_fields())
    await flow.choose(flow.option(name="Card"))
    await flow.pay(extra_data=card())
    await flow.wait_final(timeout=5)
    assert flow.state is FlowState.COMPLETED
    return flow


async def _pending_payout(kasha: KashaClient) -> PayoutFlow:
    payout = await PayoutFlow.start(kasha, **payout_fields())
    await payout.choose(payout.option(name="Bank Transfer"))
    await payout.create(option_id="d_316", extra_data={"name": "Jane Roe"})
    assert payout.state is FlowState.PENDING_APPROVAL
    return payout


def _as(sandbox: Sandbox, transaction_id: str, status: TransactionStatus) -> Transaction:
    """The sandbox's transaction, as if the server now reported ``status``."""
    return attrs.evolve(sandbox.ledger().transactions[transaction_id], status=status)


async def _hang(**_: Any) -> Any:
    """A client call that never answers: the request is 'on the wire' until cancelled."""
    await asyncio.Event().wait()


async def _cancel_mid_call(step: asyncio.Task[Any]) -> None:
    """Let ``step`` reach its (hanging) call, then cancel it and wait for it to end."""
    for _ in range(100):
        await asyncio.sleep(0)
    step.cancel()
    with pytest.raises(asyncio.CancelledError):
        await step


async def test_feed_of_a_contradicting_status_warns_and_never_raises(
    kasha_sandbox: Sandbox, kasha_client: KashaClient, caplog: pytest.LogCaptureFixture
) -> None:
    """DECLINED fed to a COMPLETED flow returns False, keeps COMPLETED and logs a warning."""
    flow = await _completed_card_payment(kasha_client)
    contradiction = _as(kasha_sandbox, flow.transaction_id, TransactionStatus.DECLINED)
    with caplog.at_level(logging.WARNING, logger="kasha_async.flows"):
        assert flow.feed(contradiction) is False
    assert flow.state is FlowState.COMPLETED
    assert flow.transaction is not None
    assert flow.transaction.status is TransactionStatus.COMPLETED
    assert "reports DECLINED" in caplog.text
    assert "already COMPLETED" in caplog.text


async def test_refresh_surfaces_a_contradicting_status_as_an_error(
    kasha_sandbox: Sandbox, kasha_client: KashaClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """refresh() raises IllegalTransitionError naming both states, and the flow keeps its own."""
    flow = await _completed_card_payment(kasha_client)
    contradiction = _as(kasha_sandbox, flow.transaction_id, TransactionStatus.DECLINED)

    async def declined(transaction_id: str) -> Transaction:
        return contradiction

    monkeypatch.setattr(kasha_client.transactions, "get", declined)
    with pytest.raises(IllegalTransitionError, match=r"reports DECLINED.*already COMPLETED"):
        await flow.refresh()
    assert flow.state is FlowState.COMPLETED


async def test_a_webhook_during_pay_is_not_overwritten_by_a_lost_answer(
    kasha_sandbox: Sandbox, kasha_client: KashaClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """COMPLETED fed while the post's answer is lost stays COMPLETED; the error still surfaces."""
    flow = await PaymentFlow.start(kasha_client, **payment_fields())
    await flow.choose(flow.option(name="Card"))
    completed = _as(kasha_sandbox, flow.transaction_id, TransactionStatus.COMPLETED)

    async def webhook_first_then_lost(**_: Any) -> Any:
        assert flow.feed(completed)
        raise OutcomeUnknownError("answer lost", transaction_id=flow.transaction_id)

    monkeypatch.setattr(kasha_client.payments, "post", webhook_first_then_lost)
    with pytest.raises(OutcomeUnknownError):
        await flow.pay(extra_data=card())
    assert flow.state is FlowState.COMPLETED


async def test_a_cancelled_pay_is_outcome_unknown_and_never_resent(
    kasha_sandbox: Sandbox, kasha_client: KashaClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pay() cancelled mid-send leaves OUTCOME_UNKNOWN; pay() again is refused, refresh resolves."""
    flow = await PaymentFlow.start(kasha_client, **payment_fields())
    await flow.choose(flow.option(name="Card"))
    with monkeypatch.context() as patch:
        patch.setattr(kasha_client.payments, "post", _hang)
        await _cancel_mid_call(asyncio.create_task(flow.pay(extra_data=card())))
    assert flow.state is FlowState.OUTCOME_UNKNOWN
    with pytest.raises(SessionAlreadyUsedError):
        await flow.pay(extra_data=card())
    assert (await flow.refresh()).status is TransactionStatus.CREATED
    assert flow.state is FlowState.OUTCOME_UNKNOWN
    assert sent(kasha_sandbox, "payments.post") == 0


async def test_a_cancelled_approve_is_outcome_unknown(
    kasha_sandbox: Sandbox, kasha_client: KashaClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """approve() cancelled mid-call leaves OUTCOME_UNKNOWN; refresh() brings back the truth."""
    payout = await _pending_payout(kasha_client)
    with monkeypatch.context() as patch:
        patch.setattr(kasha_client.payouts, "settle", _hang)
        await _cancel_mid_call(asyncio.create_task(payout.approve()))
    assert payout.state is FlowState.OUTCOME_UNKNOWN
    refreshed = await payout.refresh()
    assert (refreshed.status, payout.state) == (
        TransactionStatus.PENDING,
        FlowState.PENDING_APPROVAL,
    )
    assert kasha_sandbox.ledger().approvals_per_payout == {payout.transaction_id: 0}


async def test_a_cancelled_refund_is_outcome_unknown(
    kasha_sandbox: Sandbox, kasha_client: KashaClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """refund() cancelled mid-call leaves OUTCOME_UNKNOWN, not a COMPLETED that invites a retry."""
    flow = await _completed_card_payment(kasha_client)
    with monkeypatch.context() as patch:
        patch.setattr(kasha_client.refunds, "create", _hang)
        await _cancel_mid_call(asyncio.create_task(flow.refund()))
    assert flow.state is FlowState.OUTCOME_UNKNOWN
    refreshed = await flow.refresh()
    assert (refreshed.status, flow.state) == (TransactionStatus.COMPLETED, FlowState.COMPLETED)


async def test_a_processing_webhook_during_approve_survives_a_lost_answer(
    kasha_sandbox: Sandbox, kasha_client: KashaClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PROCESSING fed mid-approve stays PROCESSING and the caller gets OutcomeUnknownError."""
    payout = await _pending_payout(kasha_client)
    processing = _as(kasha_sandbox, payout.transaction_id, TransactionStatus.PROCESSING)

    async def webhook_first_then_lost(**_: Any) -> Any:
        assert payout.feed(processing)
        raise OutcomeUnknownError("answer lost", transaction_id=payout.transaction_id)

    monkeypatch.setattr(kasha_client.payouts, "settle", webhook_first_then_lost)
    with pytest.raises(OutcomeUnknownError):
        await payout.approve()
    assert payout.state is FlowState.PROCESSING
