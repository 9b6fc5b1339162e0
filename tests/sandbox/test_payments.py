"""Payment endpoints over raw HTTP: shapes, status progression, one payment per session."""

from __future__ import annotations

import aiohttp

from kasha_async.sandbox import THREE_DS_CARD, Sandbox, trigger_card

from ._helpers import Api, initiate_body


async def test_payment_options_answer_the_contract_shape(api: Api) -> None:
    """payment-options answers transactionId, sessionId and options with extraData form inputs."""
    answer = await api.post("/v2/payment-options", initiate_body())
    assert answer.status == 200
    assert set(answer.body) == {"transactionId", "sessionId", "paymentOptions"}
    card = answer.body["paymentOptions"][0]
    assert set(card) == {"paymentOptionId", "name", "logo", "extraData"}
    assert card["name"] == "Card"
    assert {fi["name"] for fi in card["extraData"]} >= {"cardnum", "cardholder"}


async def test_new_transaction_is_created_until_posted(api: Api) -> None:
    """The transaction exists from initiation and answers CREATED until the post lands."""
    tx_id, _, _ = await api.payment_session()
    assert (await api.get_tx(tx_id))["status"] == "CREATED"


async def test_card_payment_completes_at_once(api: Api) -> None:
    """A plain card payment answers statusCode "000" success and the transaction is COMPLETED."""
    tx_id, session_id, options = await api.payment_session()
    answer = await api.pay_card(session_id, options["Card"])
    assert answer.status == 200
    assert answer.body == {
        "statusCode": "000",
        "resultType": "success",
        "result": {"transactionId": tx_id},
    }
    tx = await api.get_tx(tx_id)
    assert (tx["status"], tx["method"], tx["errors"]) == ("COMPLETED", "Card", None)


async def test_transaction_answers_the_endpoint_12_shape(api: Api) -> None:
    """GET /v2/transactions/{id} carries every field of CONTRACT §3 endpoint 12."""
    tx_id, _, _ = await api.payment_session(amount="10.50", paymentReference="inv-1")
    tx = await api.get_tx(tx_id)
    expected = {"id", "sessionId", "country", "currency", "paymentAmount", "method", "status"}
    expected |= {"paymentReference", "merchantReference", "customer", "shippingAddress"}
    expected |= {"orderDetails", "errors", "createdAt", "updatedAt"}
    assert set(tx) == expected
    assert tx["paymentAmount"] == 10.5
    assert tx["paymentReference"] == "inv-1"
    assert tx["createdAt"].endswith("Z")


async def test_three_ds_card_redirects_and_stays_pending(api: Api, sb: Sandbox) -> None:
    """The 3DS card answers resultType redirect and stays PENDING until completed by control."""
    tx_id, session_id, options = await api.payment_session()
    answer = await api.pay_card(session_id, options["Card"], THREE_DS_CARD)
    assert answer.body["resultType"] == "redirect"
    assert answer.body["result"]["redirectUrl"].startswith(sb.base_url)
    assert (await api.get_tx(tx_id))["status"] == "PENDING"
    await sb.complete(tx_id)
    assert (await api.get_tx(tx_id))["status"] == "COMPLETED"


async def test_three_ds_can_be_failed_by_control(api: Api, sb: Sandbox) -> None:
    """A pending 3DS payment failed with 3010 becomes DECLINED carrying that code."""
    tx_id, session_id, options = await api.payment_session()
    await api.pay_card(session_id, options["Card"], THREE_DS_CARD)
    await sb.fail(tx_id, 3010)
    tx = await api.get_tx(tx_id)
    assert (tx["status"], tx["errors"]["code"]) == ("DECLINED", "3010")


async def test_apm_payment_goes_pending_then_completes_by_control(api: Api, sb: Sandbox) -> None:
    """An APM post answers success, the transaction is PENDING, then COMPLETED on control."""
    tx_id, session_id, options = await api.payment_session(country="MX", currency="MXN")
    answer = await api.post(
        "/v2/payment", {"sessionId": session_id, "paymentOptionId": options["OXXO"]}
    )
    assert answer.body["resultType"] == "success"
    assert (await api.get_tx(tx_id))["status"] == "PENDING"
    await sb.complete(tx_id)
    assert (await api.get_tx(tx_id))["status"] == "COMPLETED"


async def test_apm_payment_completes_after_the_configured_delay() -> None:
    """With payment_delay=0 a PENDING APM payment completes on the next loop turn."""
    async with Sandbox(payment_delay=0.0) as sb, aiohttp.ClientSession() as http:
        api = Api(sb, http)
        tx_id, session_id, options = await api.payment_session(country="AR", currency="ARS")
        await api.post(
            "/v2/payment", {"sessionId": session_id, "paymentOptionId": options["Rapipago"]}
        )
        assert (await api.get_tx(tx_id))["status"] == "COMPLETED"


async def test_second_post_on_a_session_conflicts(api: Api) -> None:
    """A second post on a used session gets 409 carrying the transaction id."""
    tx_id, session_id, options = await api.payment_session()
    await api.pay_card(session_id, options["Card"])
    again = await api.pay_card(session_id, options["Card"])
    assert again.status == 409
    assert again.body["resultType"] == "error"
    assert again.body["result"]["transactionId"] == tx_id


async def test_declined_post_uses_the_session(api: Api) -> None:
    """After a decline the session is used: the next post gets 409, not a second try."""
    _, session_id, options = await api.payment_session()
    assert (await api.pay_card(session_id, options["Card"], trigger_card(3000))).status == 400
    assert (await api.pay_card(session_id, options["Card"])).status == 409


async def test_validation_rejection_leaves_the_session_usable(api: Api) -> None:
    """A 1004 validation rejection does not use the session: a corrected post succeeds."""
    tx_id, session_id, options = await api.payment_session()
    rejected = await api.pay_card(session_id, options["Card"], trigger_card(1004))
    assert rejected.status == 400
    assert rejected.body["errors"]["code"] == "1004"
    assert (await api.get_tx(tx_id))["status"] == "CREATED"
    assert (await api.pay_card(session_id, options["Card"])).status == 200


async def test_card_post_without_card_number_is_a_validation_error(api: Api) -> None:
    """A card post without extraData.cardnum is rejected with 1000 and HTTP 400."""
    _, session_id, options = await api.payment_session()
    answer = await api.post(
        "/v2/payment", {"sessionId": session_id, "paymentOptionId": options["Card"]}
    )
    assert (answer.status, answer.body["errors"]["code"]) == (400, "1000")


async def test_suboptions_answer_085_with_options_and_form_inputs(api: Api) -> None:
    """payment-suboptions answers "085" option_choice with a list of banks and formInputs."""
    tx_id, session_id, options = await api.payment_session(country="MX", currency="MXN")
    answer = await api.post(
        "/v2/payment-suboptions", {"sessionId": session_id, "paymentOptionId": options["SPEI"]}
    )
    assert answer.body["statusCode"] == "085"
    assert answer.body["resultType"] == "option_choice"
    result = answer.body["result"]
    assert result["transactionId"] == tx_id
    assert result["sessionId"] == session_id
    assert {"id", "name", "logo"} == set(result["options"][0])
    assert result["formInputs"][0]["name"] == "phone"


async def test_suboptions_accept_multipart_form_data(api: Api) -> None:
    """payment-suboptions reads a multipart/form-data body like the reference asks."""
    _, session_id, options = await api.payment_session(country="GB", currency="GBP")
    form = aiohttp.FormData({"sessionId": session_id, "paymentOptionId": options["Open Banking"]})
    form.add_field(
        "x", b"", content_type="application/octet-stream", filename="x"
    )  # force multipart
    answer = await api.call("POST", "/v2/payment-suboptions", data=form)
    assert answer.status == 200
    assert [o["id"] for o in answer.body["result"]["options"]] == ["b_401", "b_402", "b_403"]


async def test_suboptions_refuse_card_options(api: Api) -> None:
    """Suboptions are not used for card payments: asking for them is a 1000."""
    _, session_id, options = await api.payment_session()
    answer = await api.post(
        "/v2/payment-suboptions", {"sessionId": session_id, "paymentOptionId": options["Card"]}
    )
    assert (answer.status, answer.body["errors"]["code"]) == (400, "1000")


async def test_unknown_suboption_id_is_a_validation_error(api: Api) -> None:
    """Posting an optionId that the option does not offer is rejected with 1000."""
    _, session_id, options = await api.payment_session(country="MX", currency="MXN")
    body = {"sessionId": session_id, "paymentOptionId": options["SPEI"], "optionId": "b_999"}
    answer = await api.post("/v2/payment", body)
    assert (answer.status, answer.body["errors"]["code"]) == (400, "1000")


async def test_payment_session_answers_a_cashier_link(api: Api, sb: Sandbox) -> None:
    """payment-session answers transactionId, sessionId and a cashierUrl on the sandbox."""
    answer = await api.post("/v2/payment-session", initiate_body())
    assert set(answer.body) == {"transactionId", "sessionId", "cashierUrl"}
    page = await api.call("GET", answer.body["cashierUrl"].removeprefix(sb.base_url))
    assert page.status == 200


async def test_hybrid_answers_300_redirect_and_cashier_completes(api: Api, sb: Sandbox) -> None:
    """hybrid-payment answers "300" redirect; completing it by control makes it COMPLETED."""
    tx_id, session_id, options = await api.payment_session()
    answer = await api.post(
        "/v2/hybrid-payment", {"sessionId": session_id, "paymentOptionId": options["PIX"]}
    )
    assert answer.body["statusCode"] == "300"
    assert answer.body["resultType"] == "redirect"
    assert answer.body["result"]["transactionId"] == tx_id
    await sb.complete(tx_id)
    tx = await api.get_tx(tx_id)
    assert (tx["status"], tx["method"]) == ("COMPLETED", "PIX")


async def test_refund_of_a_completed_payment_once(api: Api) -> None:
    """A completed payment is refunded once (REFUNDED shape); a second refund gets 409."""
    tx_id, session_id, options = await api.payment_session(merchantReference="refund-me")
    await api.pay_card(session_id, options["Card"])
    answer = await api.post("/v2/refund", {"merchantReference": "refund-me"})
    assert answer.status == 200
    assert (answer.body["status"], answer.body["_id"], answer.body["statusCode"]) == (
        "REFUNDED",
        tx_id,
        "000",
    )
    assert answer.body["paymentAmount"] == 130
    assert (await api.get_tx(tx_id))["status"] == "REFUNDED"
    assert (await api.post("/v2/refund", {"merchantReference": "refund-me"})).status == 409


async def test_refund_of_an_unfinished_payment_conflicts(api: Api) -> None:
    """A PENDING payment cannot be refunded (409); an unknown reference is 404."""
    _, session_id, options = await api.payment_session(
        country="MX", currency="MXN", merchantReference="pend"
    )
    await api.post("/v2/payment", {"sessionId": session_id, "paymentOptionId": options["OXXO"]})
    assert (await api.post("/v2/refund", {"merchantReference": "pend"})).status == 409
    assert (await api.post("/v2/refund", {"merchantReference": "nobody"})).status == 404
