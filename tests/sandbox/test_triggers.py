"""Every code of the reference table is reachable through its documented trigger."""

from __future__ import annotations

from pathlib import Path

import pytest

from kasha_async._codes import CODE_TABLE
from kasha_async.sandbox import Sandbox, trigger_amount, trigger_card
from kasha_async.sandbox.triggers import TRIGGERS, render_markdown

from ._helpers import Api

DOC = Path(__file__).parents[2] / "docs" / "sandbox.md"
ALL_CODES = sorted(CODE_TABLE)


def _expected_status(code: int) -> str:
    return "CREATED" if 1000 <= code <= 1009 else CODE_TABLE[code].status


def test_every_code_has_a_distinct_trigger() -> None:
    """The trigger table covers the whole code table with distinct amounts and cards."""
    assert set(TRIGGERS) == set(CODE_TABLE)
    assert (
        len({t.amount for t in TRIGGERS.values()})
        == len({t.card for t in TRIGGERS.values()})
        == len(CODE_TABLE)
    )


def test_committed_doc_matches_the_trigger_data() -> None:
    """docs/sandbox.md contains the table render_markdown() produces from triggers.py."""
    assert render_markdown() in DOC.read_text(encoding="utf-8")


@pytest.mark.parametrize("code", ALL_CODES)
async def test_card_trigger_answers_its_code(api: Api, code: int) -> None:
    """The magic card of each code answers that code in the §5 error body."""
    tx_id, session_id, options = await api.payment_session()
    answer = await api.pay_card(session_id, options["Card"], trigger_card(code))
    assert answer.status == TRIGGERS[code].http_status
    assert answer.body == {
        "statusCode": str(code),
        "resultType": "error",
        "errors": {"code": str(code), "msg": CODE_TABLE[code].reason},
        "result": {"transactionId": tx_id},
    }
    assert (await api.get_tx(tx_id))["status"] == _expected_status(code)


@pytest.mark.parametrize("code", ALL_CODES)
async def test_amount_trigger_answers_its_code_on_payouts(api: Api, code: int) -> None:
    """The magic amount of each code answers that code when the payout is created."""
    tx_id, session_id, option_id = await api.payout_session(amount=trigger_amount(code))
    answer = await api.create_payout(session_id, option_id)
    assert (answer.status, answer.body["errors"]["code"]) == (TRIGGERS[code].http_status, str(code))
    assert (await api.get_tx(tx_id))["status"] == _expected_status(code)


async def test_amount_trigger_works_on_apm_payments(api: Api, sb: Sandbox) -> None:
    """A magic amount declines an APM payment too, and the ledger shows the code."""
    tx_id, session_id, options = await api.payment_session(amount=trigger_amount(997))
    answer = await api.post(
        "/v2/payment", {"sessionId": session_id, "paymentOptionId": options["PIX"]}
    )
    assert answer.body["errors"]["code"] == "997"
    errors = sb.ledger().transactions[tx_id].errors
    assert errors is not None
    assert errors.code == 997
