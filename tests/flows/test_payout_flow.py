"""PayoutFlow against the sandbox: create, approve or decline, and the processor's answer."""

from __future__ import annotations

import pytest

from kasha_async import (
    DeclinedError,
    FlowStateError,
    InvalidRequestError,
    KashaClient,
    KashaErrorCode,
    SessionAlreadyUsedError,
    TransactionStatus,
)
from kasha_async.flows import FlowState, PayoutFlow
from kasha_async.sandbox import Sandbox, processor_decline_amount

from .conftest import payout_fields, sent

BENEFICIARY = {"name": "Jane Roe"}


async def _created(kasha: KashaClient, **overrides: object) -> PayoutFlow:
    payout = await PayoutFlow.start(kasha, **payout_fields(**overrides))
    subs = await payout.choose(payout.option(name="Bank Transfer"))
    assert subs is not None
    await payout.create(option_id=subs.options[0].id, extra_data=BENEFICIARY)
    return payout


async def test_an_approved_payout_completes(
    kasha_sandbox: Sandbox, kasha_client: KashaClient
) -> None:
    """create() leaves the payout PENDING_APPROVAL; approve() returns PROCESSING; then COMPLETED."""
    payout = await _created(kasha_client)
    assert payout.state is FlowState.PENDING_APPROVAL
    settled = await payout.approve()
    assert (settled.status, payout.state) == (TransactionStatus.PROCESSING, FlowState.PROCESSING)
    assert sent(kasha_sandbox, "transactions.get") == 0
    final = await payout.wait_final(timeout=5, poll_interval=0.01)
    assert (final.status, payout.state) == (TransactionStatus.COMPLETED, FlowState.COMPLETED)
    assert kasha_sandbox.ledger().approvals_per_payout == {payout.transaction_id: 1}


async def test_a_payout_declined_by_the_merchant(
    kasha_sandbox: Sandbox, kasha_client: KashaClient
) -> None:
    """decline() ends the flow DECLINED; wait_final returns it without raising."""
    payout = await _created(kasha_client)
    settled = await payout.decline()
    assert settled.status is TransactionStatus.DECLINED
    assert payout.state is FlowState.DECLINED
    assert (await payout.wait_final(timeout=5)).status is TransactionStatus.DECLINED
    assert kasha_sandbox.ledger().approvals_per_payout == {payout.transaction_id: 0}


async def test_a_payout_declined_by_the_processor_raises_with_its_code(
    kasha_sandbox: Sandbox, kasha_client: KashaClient
) -> None:
    """An approved payout the processor declines raises DeclinedError carrying the code."""
    payout = await _created(kasha_client, amount=processor_decline_amount(3001))
    await payout.approve()
    with pytest.raises(DeclinedError) as caught:
        await payout.wait_final(timeout=5, poll_interval=0.01)
    assert caught.value.code is KashaErrorCode.DO_NOT_HONOUR
    assert payout.state is FlowState.DECLINED


async def test_approve_before_create_sends_nothing(
    kasha_sandbox: Sandbox, kasha_client: KashaClient
) -> None:
    """approve() on a fresh payout flow raises FlowStateError naming choose()."""
    payout = await PayoutFlow.start(kasha_client, **payout_fields())
    before = sent(kasha_sandbox)
    with pytest.raises(FlowStateError, match=r"approve\(\) is not allowed.*choose\(\)"):
        await payout.approve()
    with pytest.raises(FlowStateError, match=r"create\(\) is not allowed"):
        await payout.create(option_id="d_316", extra_data=BENEFICIARY)
    assert sent(kasha_sandbox) == before


async def test_a_second_create_and_a_second_approve_send_nothing(
    kasha_sandbox: Sandbox, kasha_client: KashaClient
) -> None:
    """create() twice raises SessionAlreadyUsedError; approve() after approve() FlowStateError."""
    payout = await _created(kasha_client)
    with pytest.raises(SessionAlreadyUsedError):
        await payout.create(option_id="d_316", extra_data=BENEFICIARY)
    await payout.approve()
    before = sent(kasha_sandbox)
    with pytest.raises(FlowStateError):
        await payout.approve()
    assert sent(kasha_sandbox) == before
    assert kasha_sandbox.ledger().attempts_per_session == {payout.session_id: 1}


async def test_invalid_payout_form_data_is_refused_locally(
    kasha_sandbox: Sandbox, kasha_client: KashaClient
) -> None:
    """A short name and a non-numeric account (AR pattern) are both reported; nothing is sent."""
    payout = await PayoutFlow.start(kasha_client, **payout_fields(country="AR", currency="ARS"))
    await payout.choose(payout.option(name="Bank Transfer"))
    before = sent(kasha_sandbox)
    with pytest.raises(InvalidRequestError) as caught:
        await payout.create(option_id="d_317", extra_data={"name": "Jo", "account": "12-34"})
    assert [p.split(" ")[0] for p in caught.value.problems] == ["name", "account", "account"]
    assert sent(kasha_sandbox) == before
    assert payout.state is FlowState.OPTION_CHOSEN


async def test_payout_cashier_link_waits_for_the_cashier(
    kasha_sandbox: Sandbox, kasha_client: KashaClient
) -> None:
    """PayoutFlow.cashier_link gives a URL; approve() is refused until the payout exists."""
    payout = await PayoutFlow.cashier_link(kasha_client, **payout_fields())
    assert payout.cashier_url is not None
    assert payout.state is FlowState.SUBMITTED
    before = sent(kasha_sandbox)
    with pytest.raises(FlowStateError, match="wait_final"):
        await payout.approve()
    assert sent(kasha_sandbox) == before
    await payout.refresh()
    assert payout.state is FlowState.SUBMITTED
