"""Payout endpoints over raw HTTP: array-wrapped shapes, settlement rules, processor outcomes."""

from __future__ import annotations

import aiohttp
import pytest

from kasha_async.sandbox import Sandbox, processor_decline_amount

from ._helpers import Api, initiate_body


async def test_payout_options_are_array_wrapped(api: Api) -> None:
    """payout-options answers a one-element array shaped like payment-options."""
    answer = await api.post("/v2/payout-options", initiate_body(country="AR", currency="ARS"))
    assert isinstance(answer.body, list)
    assert len(answer.body) == 1
    assert answer.body[0]["paymentOptions"][0]["name"] == "Bank Transfer"


async def test_payout_suboptions_have_one_options_object_with_form_inputs(api: Api) -> None:
    """payout-suboptions answers [ {statusCode: 85, result.options: {id, uuid, formInputs}} ]."""
    _, session_id, option_id = await api.payout_session()
    answer = await api.post(
        "/v2/payout-suboptions", {"sessionId": session_id, "paymentOptionId": option_id}
    )
    (only,) = answer.body
    assert only["statusCode"] == 85
    assert only["resultType"] == "option_choice"
    options = only["result"]["options"]
    assert set(options) == {"id", "name", "logo", "uuid", "formInputs"}
    assert options["formInputs"][0]["validations"] == {"minLength": 5, "maxLength": 100}


async def test_payout_create_answers_statuscode_0_and_pending(api: Api) -> None:
    """Creating a payout answers statusCode 0 success and leaves it PENDING."""
    tx_id, session_id, option_id = await api.payout_session()
    answer = await api.create_payout(session_id, option_id)
    assert answer.body == {
        "statusCode": 0,
        "resultType": "success",
        "result": {"transactionId": tx_id},
    }
    assert (await api.get_tx(tx_id))["status"] == "PENDING"


async def test_approve_goes_processing_then_completed(api: Api, sb: Sandbox) -> None:
    """APPROVE answers PROCESSING; the processor then completes the payout."""
    tx_id, session_id, option_id = await api.payout_session(merchantReference="po-1")
    await api.create_payout(session_id, option_id)
    answer = await api.settle(tx_id)
    assert answer.body == {
        "statusCode": "000",
        "status": "PROCESSING",
        "transactionId": tx_id,
        "merchantReference": "po-1",
        "result": "Payout request was submitted successfully.",
    }
    assert await sb.settle_processing() == [tx_id]
    assert (await api.get_tx(tx_id))["status"] == "COMPLETED"


async def test_decline_action_declines(api: Api) -> None:
    """DECLINE makes a PENDING payout DECLINED at once."""
    tx_id, session_id, option_id = await api.payout_session()
    await api.create_payout(session_id, option_id)
    assert (await api.settle(tx_id, "DECLINE")).body["status"] == "DECLINED"
    assert (await api.get_tx(tx_id))["status"] == "DECLINED"


@pytest.mark.parametrize("action", ["APPROVE", "DECLINE"])
async def test_settling_a_non_pending_payout_conflicts(api: Api, action: str) -> None:
    """Settling a payout that is not PENDING (here already approved) gets 409."""
    tx_id, session_id, option_id = await api.payout_session()
    await api.create_payout(session_id, option_id)
    await api.settle(tx_id)
    assert (await api.settle(tx_id, action)).status == 409


async def test_settling_a_created_or_unknown_payout_fails(api: Api) -> None:
    """A payout not yet created is 409 (CREATED is not PENDING); an unknown id is 404."""
    tx_id, _, _ = await api.payout_session()
    assert (await api.settle(tx_id)).status == 409
    assert (await api.settle("no-such-id")).status == 404


async def test_processor_decline_trigger_declines_after_approval(api: Api, sb: Sandbox) -> None:
    """A payout amount <code>.31 is approved, then DECLINED by the processor with that code."""
    tx_id, session_id, option_id = await api.payout_session(amount=processor_decline_amount(3022))
    await api.create_payout(session_id, option_id)
    assert (await api.settle(tx_id)).body["status"] == "PROCESSING"
    await sb.settle_processing(tx_id)
    tx = await api.get_tx(tx_id)
    assert (tx["status"], tx["errors"]["code"]) == ("DECLINED", "3022")


async def test_payout_processing_finishes_after_the_configured_delay() -> None:
    """With payout_delay=0 an approved payout is COMPLETED on the next loop turn."""
    async with Sandbox(payout_delay=0.0) as sb, aiohttp.ClientSession() as http:
        api = Api(sb, http)
        tx_id, session_id, option_id = await api.payout_session()
        await api.create_payout(session_id, option_id)
        await api.settle(tx_id)
        assert (await api.get_tx(tx_id))["status"] == "COMPLETED"


async def test_bad_bank_account_is_1005_and_keeps_the_session(api: Api) -> None:
    """An account failing its form-input pattern is 1005; the corrected create succeeds."""
    _, session_id, option_id = await api.payout_session(country="MX", currency="MXN")
    rejected = await api.create_payout(session_id, option_id, account="12-34")
    assert (rejected.status, rejected.body["errors"]["code"]) == (400, "1005")
    assert (await api.create_payout(session_id, option_id, account="0" * 18)).status == 200


async def test_payment_session_cannot_create_a_payout(api: Api) -> None:
    """A payment session is unknown to the payout endpoints (404)."""
    _, session_id, options = await api.payment_session()
    assert (await api.create_payout(session_id, options["Card"])).status == 404
