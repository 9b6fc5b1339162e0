"""CONTRACT §2 rules: expiry, one attempt per session, duplicate references, auth."""

from __future__ import annotations

import aiohttp

from kasha_async.sandbox import Sandbox, sign

from ._helpers import Api, initiate_body


async def test_session_expires_after_30_minutes_on_the_clock(api: Api, sb: Sandbox) -> None:
    """After the clock moves 30 minutes, posting answers 410 and the transaction is EXPIRED."""
    tx_id, session_id, options = await api.payment_session()
    sb.clock.advance(30 * 60)
    answer = await api.pay_card(session_id, options["Card"])
    assert answer.status == 410
    assert answer.body["result"]["transactionId"] == tx_id
    assert (await api.get_tx(tx_id))["status"] == "EXPIRED"


async def test_session_is_alive_just_before_30_minutes(api: Api, sb: Sandbox) -> None:
    """At 29m59s the session still takes its payment."""
    _, session_id, options = await api.payment_session()
    sb.clock.advance(30 * 60 - 1)
    assert (await api.pay_card(session_id, options["Card"])).status == 200


async def test_used_session_answers_409_even_after_expiry(api: Api, sb: Sandbox) -> None:
    """A resend on a used, expired session says 409 (it landed), not 410."""
    _, session_id, options = await api.payment_session()
    await api.pay_card(session_id, options["Card"])
    sb.clock.advance(31 * 60)
    assert (await api.pay_card(session_id, options["Card"])).status == 409


async def test_expired_payout_session_answers_410(api: Api, sb: Sandbox) -> None:
    """Payout suboptions and create on an expired session answer 410."""
    _, session_id, option_id = await api.payout_session()
    sb.clock.advance(31 * 60)
    body = {"sessionId": session_id, "paymentOptionId": option_id}
    assert (await api.post("/v2/payout-suboptions", body)).status == 410
    assert (await api.create_payout(session_id, option_id)).status == 410


async def test_reinitiating_with_the_same_reference_is_allowed(api: Api) -> None:
    """Two sessions may share a merchantReference while neither was posted."""
    await api.payment_session(merchantReference="same")
    await api.payment_session(merchantReference="same")


async def test_duplicate_reference_is_3017_at_post(api: Api) -> None:
    """Posting a second transaction with a posted reference is 409 code 3017 and DECLINED."""
    _, first, options = await api.payment_session(merchantReference="dup")
    tx2, second, options2 = await api.payment_session(merchantReference="dup")
    await api.pay_card(first, options["Card"])
    answer = await api.pay_card(second, options2["Card"])
    assert (answer.status, answer.body["errors"]["code"]) == (409, "3017")
    assert (await api.get_tx(tx2))["status"] == "DECLINED"


async def test_session_used_is_checked_before_duplicate_reference(api: Api) -> None:
    """A resend on a used session is a plain 409 "session used", never a 3017."""
    _, session_id, options = await api.payment_session(merchantReference="once")
    await api.pay_card(session_id, options["Card"])
    answer = await api.pay_card(session_id, options["Card"])
    assert answer.status == 409
    assert answer.body["errors"]["code"] == "409"


async def test_missing_or_wrong_api_key_is_401(api: Api) -> None:
    """Requests without the right x-api-key get 401 with the error body."""
    answer = await api.post("/v2/payment-options", initiate_body(), headers={"x-api-key": "nope"})
    assert (answer.status, answer.body["resultType"]) == (401, "error")


async def test_signature_is_verified_when_configured() -> None:
    """With a signature key, a wrong x-signature is 401 and the right one (or none) passes."""
    async with Sandbox(signature_key="sig") as sb, aiohttp.ClientSession() as http:
        api = Api(sb, http)
        body = b'{"country": "BR"}'
        url = "/v2/payment-options"
        bad = await api.call("POST", url, data=body, headers={"x-signature": sign("other", body)})
        good = await api.call("POST", url, data=body, headers={"x-signature": sign("sig", body)})
        unsigned = await api.call("POST", url, data=body)
        assert bad.status == 401
        assert good.status == unsigned.status == 400  # past auth, then validation


async def test_get_signature_covers_the_empty_body() -> None:
    """A GET signs the empty byte string."""
    async with Sandbox(signature_key="sig") as sb, aiohttp.ClientSession() as http:
        api = Api(sb, http)
        ok = await api.call("GET", "/v2/transactions/x", headers={"x-signature": sign("sig", b"")})
        assert ok.status == 404
