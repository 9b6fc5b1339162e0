"""Client-side rules: expiry, order, resumption; each refusal proven by the ledger's counters."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from kasha_async import (
    FlowStateError,
    InvalidRequestError,
    KashaClient,
    SessionAlreadyUsedError,
    SessionExpiredError,
    TransactionStatus,
)
from kasha_async.flows import FlowState, PaymentFlow, PayoutFlow
from kasha_async.sandbox import Sandbox

from .conftest import FakeClock, card, payment_fields, payout_fields, sent


async def test_expiry_by_the_sandbox_clock_refuses_without_a_request(
    kasha_sandbox: Sandbox, kasha_client: KashaClient
) -> None:
    """A flow on the sandbox's clock knows its session is over when the sandbox does."""
    clock = kasha_sandbox.clock.now_datetime
    flow = await PaymentFlow.start(kasha_client, clock=clock, **payment_fields())
    assert flow.expires_at - clock() <= timedelta(minutes=30)
    kasha_sandbox.clock.advance(31 * 60)
    assert flow.time_left == timedelta(0)
    before = sent(kasha_sandbox)
    with pytest.raises(SessionExpiredError):
        await flow.choose(flow.option(name="Bank Transfer"))
    assert flow.state is FlowState.EXPIRED
    with pytest.raises(SessionExpiredError):
        await flow.hybrid_link(flow.option(name="Card"))
    assert sent(kasha_sandbox) == before


async def test_the_safety_margin_refuses_a_late_post(
    kasha_sandbox: Sandbox, kasha_client: KashaClient
) -> None:
    """With 5 s left and a 10 s margin, pay() is refused locally; choose() 20 s before was fine."""
    clock = FakeClock()
    flow = await PaymentFlow.start(kasha_client, clock=clock, safety_margin=10, **payment_fields())
    assert flow.expires_at == clock.now + timedelta(minutes=30)
    clock.advance(30 * 60 - 20)
    await flow.choose(flow.option(name="Card"))
    clock.advance(15)
    assert flow.time_left == timedelta(seconds=5)
    before = sent(kasha_sandbox)
    with pytest.raises(SessionExpiredError, match="safety margin 10 s"):
        await flow.pay(extra_data=card())
    assert sent(kasha_sandbox) == before
    assert flow.state is FlowState.EXPIRED


async def test_the_server_saying_410_also_expires_the_flow(
    kasha_sandbox: Sandbox, kasha_client: KashaClient
) -> None:
    """If the server expires the session first (clocks disagree), the flow ends EXPIRED."""
    flow = await PaymentFlow.start(kasha_client, **payment_fields())
    await flow.choose(flow.option(name="Card"))
    kasha_sandbox.clock.advance(31 * 60)
    with pytest.raises(SessionExpiredError, match="server"):
        await flow.pay(extra_data=card())
    assert flow.state is FlowState.EXPIRED
    assert (await flow.refresh()).status is TransactionStatus.EXPIRED


async def test_out_of_order_calls_send_nothing(
    kasha_sandbox: Sandbox, kasha_client: KashaClient
) -> None:
    """pay() before choose(), suboptions of a card, wait_final() before pay() all refuse locally."""
    flow = await PaymentFlow.start(kasha_client, **payment_fields())
    before = sent(kasha_sandbox)
    with pytest.raises(FlowStateError, match=r"pay\(\) is not allowed.*choose\(\)"):
        await flow.pay(extra_data=card())
    with pytest.raises(FlowStateError, match="wait_final"):
        await flow.wait_final(timeout=1)
    with pytest.raises(FlowStateError, match="refund"):
        await flow.refund()
    await flow.choose(flow.option(name="Card"))
    with pytest.raises(FlowStateError, match="card options have no suboptions"):
        await flow.fetch_suboptions()
    with pytest.raises(InvalidRequestError, match="offered"):
        flow.option(name="Bitcoin")
    assert sent(kasha_sandbox) == before


async def test_a_snapshot_holds_no_secrets_and_survives_json(
    kasha_sandbox: Sandbox, kasha_client: KashaClient
) -> None:
    """to_dict() is JSON-safe and carries neither the API key nor any typed form value."""
    flow = await PaymentFlow.start(kasha_client, **payment_fields())
    await flow.choose(flow.option(name="Card"))
    await flow.pay(extra_data=card())
    text = json.dumps(flow.to_dict())
    for secret in (kasha_sandbox.api_key, card()["cardnum"], "Jane Roe", "+34666999666"):
        assert secret not in text
    restored = PaymentFlow.from_dict(kasha_client, json.loads(text))
    assert restored.to_dict() == flow.to_dict()
    with pytest.raises(InvalidRequestError, match="PayoutFlow"):
        PayoutFlow.from_dict(kasha_client, json.loads(text))


async def test_a_resumed_flow_rechecks_the_server_then_pays(
    kasha_sandbox: Sandbox, kasha_client: KashaClient
) -> None:
    """A flow resumed in a fresh client reads the transaction, then posts the one payment."""
    flow = await PaymentFlow.start(kasha_client, **payment_fields())
    subs = await flow.choose(flow.option(name="Bank Transfer"))
    assert subs is not None
    snapshot = json.loads(json.dumps(flow.to_dict()))
    async with KashaClient(api_key=kasha_sandbox.api_key, base_url=kasha_sandbox.base_url) as new:
        resumed = PaymentFlow.from_dict(new, snapshot)
        assert resumed.is_resumed
        with pytest.raises(InvalidRequestError):
            await resumed.pay(option_id="b_101", extra_data={"document": "1"})
        assert sent(kasha_sandbox, "transactions.get") == 1
        await resumed.pay(option_id="b_101", extra_data={"document": "12345678"})
        assert sent(kasha_sandbox, "transactions.get") == 2  # pay() reads the status it made
        assert (await resumed.wait_final(timeout=5, poll_interval=0.01)).status == "COMPLETED"
    assert sent(kasha_sandbox, "payments.post") == 1


async def test_a_resumed_flow_learns_the_payment_landed_and_never_resends(
    kasha_sandbox: Sandbox, kasha_client: KashaClient
) -> None:
    """A snapshot taken before pay() whose payment then landed refuses pay() after one read."""
    flow = await PaymentFlow.start(kasha_client, **payment_fields())
    await flow.choose(flow.option(name="Card"))
    snapshot = flow.to_dict()
    await flow.pay(extra_data=card())
    async with KashaClient(api_key=kasha_sandbox.api_key, base_url=kasha_sandbox.base_url) as new:
        resumed = PaymentFlow.from_dict(new, snapshot)
        with pytest.raises(SessionAlreadyUsedError):
            await resumed.pay(extra_data=card())
        assert resumed.state is FlowState.COMPLETED
    assert sent(kasha_sandbox, "payments.post") == 1


async def test_a_resumed_payout_is_approved_from_a_fresh_client(
    kasha_sandbox: Sandbox, kasha_client: KashaClient
) -> None:
    """A payout created by one worker is approved by another from its snapshot."""
    payout = await PayoutFlow.start(kasha_client, **payout_fields())
    await payout.choose(payout.option(name="Bank Transfer"))
    await payout.create(option_id="d_316", extra_data={"name": "Jane Roe"})
    snapshot = json.loads(json.dumps(payout.to_dict()))
    async with KashaClient(api_key=kasha_sandbox.api_key, base_url=kasha_sandbox.base_url) as new:
        resumed = PayoutFlow.from_dict(new, snapshot)
        assert resumed.state is FlowState.PENDING_APPROVAL
        assert (await resumed.approve()).status is TransactionStatus.PROCESSING
    assert kasha_sandbox.ledger().approvals_per_payout == {payout.transaction_id: 1}


def _tampered(snapshot: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**snapshot, **changes}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"format": 2}, "format=2"),
        ({"format": True}, "format=True"),
        ({"format": "1"}, "format='1'"),
        ({"kind": "refund"}, "kind='refund'"),
        ({"expires_at": "2030-01-01T00:00:00"}, "no time zone"),
        ({"expires_at": 1893456000}, "expires_at must be"),
        ({"amount": "lots"}, "malformed"),
        ({"amount": "NaN"}, "plain ASCII digits"),
        ({"amount": "1E+999999"}, "plain ASCII digits"),
        ({"amount": "1" * 20}, "must be below 10^"),
        ({"amount": "-5.00"}, "must not be negative"),
        ({"amount": 130.0}, "amount must be a decimal string"),
        ({"state": "PAID"}, "malformed"),
        ({"transaction_id": 42}, "transaction_id must be"),
        ({"options": [{"name": "no id"}]}, "malformed"),
        ({"suboptions": "none"}, "malformed"),
        ({"chosen_option_id": "not-offered"}, "malformed"),
        ({"safety_margin": -1}, "malformed"),
    ],
)
async def test_a_tampered_snapshot_is_a_clear_error(
    kasha_sandbox: Sandbox, kasha_client: KashaClient, changes: dict[str, Any], message: str
) -> None:
    """from_dict() refuses another version, or any bad field, with one clear error."""
    flow = await PaymentFlow.start(kasha_client, **payment_fields())
    await flow.choose(flow.option(name="Card"))
    snapshot = json.loads(json.dumps(flow.to_dict()))
    with pytest.raises(InvalidRequestError, match=re.escape(message)):
        PaymentFlow.from_dict(kasha_client, _tampered(snapshot, **changes))


def test_a_snapshot_that_is_not_a_mapping_is_a_clear_error(kasha_client: KashaClient) -> None:
    """from_dict() of a list (say, a JSON column holding something else) names the type."""
    with pytest.raises(InvalidRequestError, match="not list"):
        PaymentFlow.from_dict(kasha_client, [])  # type: ignore[arg-type]


async def test_a_snapshot_never_holds_customer_or_form_values(
    kasha_sandbox: Sandbox, kasha_client: KashaClient
) -> None:
    """After a bank payment the snapshot has neither the document typed nor the customer's data."""
    flow = await PaymentFlow.start(kasha_client, **payment_fields())
    await flow.choose(flow.option(name="Bank Transfer"))
    await flow.pay(option_id="b_102", extra_data={"document": "98765432"})
    await flow.wait_final(timeout=5, poll_interval=0.01)
    text = json.dumps(flow.to_dict())
    for private in ("98765432", "John Doe", "+34666999666", "84.232.140.77", "extra_data"):
        assert private not in text


async def test_an_amount_spelled_with_an_exponent_survives_a_snapshot(
    kasha_sandbox: Sandbox, kasha_client: KashaClient
) -> None:
    """Decimal("1.3E+2") is written as plain "130" and read back as the same amount."""
    flow = await PaymentFlow.start(kasha_client, **payment_fields(amount=Decimal("1.3E+2")))
    saved = flow.to_dict()
    assert saved["amount"] == "130"
    assert PaymentFlow.from_dict(kasha_client, saved).snapshot().amount == Decimal("130")
