"""What the flow believes: answers held to the request, the pay() result, the step guard."""

from __future__ import annotations

import asyncio
import logging
import traceback
from datetime import timedelta
from decimal import Decimal
from typing import Any

import attrs
import orjson
import pytest

from kasha_async import (
    AnswerMismatchError,
    DeclinedError,
    FlowStateError,
    KashaClient,
    SessionAlreadyUsedError,
    Transaction,
    TransactionStatus,
)
from kasha_async._http import RawResponse
from kasha_async.flows import FlowState, PaymentFlow, PayoutFlow
from kasha_async.sandbox import FaultKind, Sandbox

from .conftest import card, payment_fields, payout_fields, sent


def _report_as(kasha: KashaClient, monkeypatch: pytest.MonkeyPatch, **changes: Any) -> None:
    """Make every transaction lookup of ``kasha`` show ``changes`` (a lying server)."""
    real = kasha.transactions.get

    async def lying(transaction_id: str) -> Transaction:
        return attrs.evolve(await real(transaction_id), **changes)

    monkeypatch.setattr(kasha.transactions, "get", lying)


async def test_a_payment_reported_in_another_amount_and_currency_is_never_completed(
    kasha_sandbox: Sandbox, kasha_client: KashaClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 500.00 BRL flow reported as 0.01 USD raises AnswerMismatchError and is OUTCOME_UNKNOWN."""
    flow = await PaymentFlow.start(kasha_client, **payment_fields(amount=Decimal("500.00")))
    await flow.choose(flow.option(name="Card"))
    _report_as(kasha_client, monkeypatch, payment_amount=Decimal("0.01"), currency="USD")
    with pytest.raises(AnswerMismatchError) as info:
        await flow.pay(extra_data=card())
    assert info.value.transaction_id == flow.transaction_id
    assert flow.state is FlowState.OUTCOME_UNKNOWN
    assert flow.transaction is None
    with pytest.raises(AnswerMismatchError):
        await flow.wait_final(timeout=5, poll_interval=0.01)
    assert flow.state is FlowState.OUTCOME_UNKNOWN


async def test_a_mismatching_webhook_is_ignored_and_leaves_the_outcome_unknown(
    kasha_sandbox: Sandbox, kasha_client: KashaClient
) -> None:
    """feed() of a transaction in another currency returns False and never completes the flow."""
    flow = await PayoutFlow.start(kasha_client, **payout_fields())
    await flow.choose(flow.option(name="Bank Transfer"))
    await flow.create(option_id="d_316", extra_data={"name": "Jane Roe"})
    forged = Transaction(
        id=flow.transaction_id,
        status=TransactionStatus.COMPLETED,
        currency="USD",
        payment_amount=Decimal("150.00"),
    )
    assert flow.feed(forged) is False
    assert flow.state is FlowState.OUTCOME_UNKNOWN


async def test_a_matching_answer_with_other_spelling_is_believed(
    kasha_sandbox: Sandbox, kasha_client: KashaClient
) -> None:
    """130.0 brl is the same money as 130.00 BRL: the flow completes."""
    flow = await PaymentFlow.start(kasha_client, **payment_fields())
    await flow.choose(flow.option(name="Card"))
    await flow.pay(extra_data=card())
    assert flow.transaction is not None
    same = attrs.evolve(
        flow.transaction, payment_amount=Decimal("130.0"), currency="brl", updated_at=None
    )
    flow.feed(same)
    assert flow.state is FlowState.COMPLETED


async def test_pay_on_an_instant_card_fills_the_status_and_the_transaction(
    kasha_sandbox: Sandbox, kasha_client: KashaClient
) -> None:
    """pay() on an instant-success card returns status COMPLETED and sets flow.transaction."""
    flow = await PaymentFlow.start(kasha_client, **payment_fields())
    await flow.choose(flow.option(name="Card"))
    result = await flow.pay(extra_data=card())
    assert result.status is TransactionStatus.COMPLETED
    assert flow.transaction is not None
    assert flow.transaction.status is TransactionStatus.COMPLETED
    assert flow.state is FlowState.COMPLETED


async def test_a_second_pay_names_the_flows_transaction(
    kasha_sandbox: Sandbox, kasha_client: KashaClient
) -> None:
    """SessionAlreadyUsedError from a second pay() carries the transaction id the flow knows."""
    flow = await PaymentFlow.start(kasha_client, **payment_fields())
    await flow.choose(flow.option(name="Card"))
    await flow.pay(extra_data=card())
    with pytest.raises(SessionAlreadyUsedError) as info:
        await flow.pay(extra_data=card())
    assert info.value.transaction_id == flow.transaction_id


async def test_time_left_is_zero_once_the_server_expired_the_session(
    kasha_sandbox: Sandbox, kasha_client: KashaClient
) -> None:
    """After the server's 410 the flow's time_left is zero, whatever its own clock says."""
    flow = await PaymentFlow.start(kasha_client, **payment_fields())
    await flow.choose(flow.option(name="Card"))
    kasha_sandbox.clock.advance(31 * 60)
    with pytest.raises(FlowStateError):
        await flow.pay(extra_data=card())
    assert flow.state is FlowState.EXPIRED
    assert flow.time_left == timedelta(0)


async def test_a_step_while_another_runs_is_refused_and_the_guard_is_released(
    kasha_sandbox: Sandbox, kasha_client: KashaClient
) -> None:
    """choose() during a running choose() is refused; once it ends the next step may run."""
    flow = await PaymentFlow.start(kasha_client, **payment_fields())
    first = asyncio.create_task(flow.choose(flow.option(name="Bank Transfer")))
    await asyncio.sleep(0)
    with pytest.raises(FlowStateError, match="still running"):
        await flow.choose(flow.option(name="Card"))
    await first
    assert await flow.choose(flow.option(name="Card")) is None
    assert flow.state is FlowState.OPTION_CHOSEN


async def test_a_snapshot_round_trips_through_the_typed_form(
    kasha_sandbox: Sandbox, kasha_client: KashaClient
) -> None:
    """snapshot().to_dict() is to_dict(), and from_dict reads it back to the same snapshot."""
    flow = await PayoutFlow.start(kasha_client, **payout_fields())
    await flow.choose(flow.option(name="Bank Transfer"))
    assert flow.snapshot().to_dict() == flow.to_dict()
    restored = PayoutFlow.from_dict(kasha_client, flow.to_dict())
    assert restored.snapshot() == flow.snapshot()


_CBU = "0123456789012345678901"
_PAN_GROUPS = "4111 1111 1111 1111"


def _decline_lookups(kasha: KashaClient, monkeypatch: pytest.MonkeyPatch, message: str) -> None:
    """Make every transaction lookup answer, on the wire, DECLINED with ``message``."""
    transport = kasha._transport
    real = transport.send

    async def declining(method: str, path: str, body: bytes, **kwargs: Any) -> RawResponse:
        raw = await real(method, path, body, **kwargs)
        if not path.startswith("/v2/transactions/"):
            return raw
        data = orjson.loads(raw.body)
        data.update(status="DECLINED", errors={"code": "3001", "msg": message})
        return attrs.evolve(raw, body=orjson.dumps(data))

    monkeypatch.setattr(transport, "send", declining)


def _shown(exc: BaseException) -> str:
    """Everything an exception shows: str, repr, reason and its whole traceback chain."""
    parts = ["".join(traceback.format_exception(exc))]
    current: BaseException | None = exc
    while current is not None:
        parts += [str(current), repr(current), str(getattr(current, "reason", ""))]
        parts.append(str(vars(current)))
        current = current.__cause__ or current.__context__
    return "\n".join(parts)


async def test_a_looked_up_decline_message_is_masked_everywhere(
    kasha_sandbox: Sandbox,
    kasha_client: KashaClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A lookup's errors.msg holding a CBU and a card number reaches no DeclinedError or log."""
    caplog.set_level(logging.DEBUG)
    flow = await PayoutFlow.start(kasha_client, **payout_fields())
    await flow.choose(flow.option(name="Bank Transfer"))
    await flow.create(option_id="d_316", extra_data={"name": "Jane Roe"})
    _decline_lookups(
        kasha_client, monkeypatch, f"Declined: bad account {_CBU} card {_PAN_GROUPS} (code 3001)"
    )
    with pytest.raises(DeclinedError) as info:
        await flow.wait_final(timeout=5, poll_interval=0.01)
    assert flow.state is FlowState.DECLINED
    assert "Declined: bad account" in str(info.value)
    shown = _shown(info.value) + caplog.text + repr(flow.transaction)
    assert flow.transaction is not None
    assert flow.transaction.errors is not None
    shown += str(flow.transaction.errors.msg)
    for secret in (_CBU, _PAN_GROUPS, "4111111111111111"):
        assert secret not in shown


async def test_a_resumed_flow_holds_a_reconciled_send_to_its_own_amount(
    kasha_sandbox: Sandbox, kasha_client: KashaClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A flow resumed on a fresh client, reconciled by a lookup in another amount, is not sent."""
    flow = await PayoutFlow.start(kasha_client, **payout_fields(amount=Decimal("150.00")))
    await flow.choose(flow.option(name="Bank Transfer"))
    saved = flow.to_dict()
    async with KashaClient(
        api_key=kasha_sandbox.api_key,
        base_url=kasha_sandbox.base_url,
        signature_key=kasha_sandbox.signature_key,
    ) as fresh:
        resumed = PayoutFlow.from_dict(fresh, saved)
        real = fresh.transactions.get

        async def lying_after_the_send(transaction_id: str) -> Transaction:
            tx = await real(transaction_id)
            if sent(kasha_sandbox, "payouts.create") == 0:
                return tx  # the resume re-check: the truth
            return attrs.evolve(tx, payment_amount=Decimal("9999.00"))

        monkeypatch.setattr(fresh.transactions, "get", lying_after_the_send)
        kasha_sandbox.faults.add(
            endpoint="payouts.create", kind=FaultKind.RESET_AFTER_COMMIT, times=1
        )
        with pytest.raises(AnswerMismatchError) as info:
            await resumed.create(option_id="d_316", extra_data={"name": "Jane Roe"})
    assert info.value.field == "amount"
    assert resumed.state is FlowState.OUTCOME_UNKNOWN
