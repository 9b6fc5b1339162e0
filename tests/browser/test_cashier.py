"""The hosted cashier and 3DS pages, clicked through in headless Chromium; the ledger agrees."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from kasha_async.demo import card
from kasha_async.sandbox import SUCCESS_CARD, THREE_DS_CARD, trigger_card
from kasha_async.sandbox.cashier import CHALLENGE_TIMEOUT_SECONDS
from kasha_async.sandbox.options import find_payment_option, payment_options_for

from .conftest import Cashier


def open_card_form(cashier: Cashier) -> str:
    """Open a cashier session and click its Card option; the transaction id."""
    tx_id, url = cashier.open_session()
    cashier.browser.get(url)
    cashier.shot("cashier-options")
    cashier.browser.find_element(By.LINK_TEXT, "Card").click()
    assert cashier.text("method") == "Card"
    return tx_id


def test_card_payment_completes_and_returns_to_the_merchant(cashier: Cashier) -> None:
    """A card paid on the cashier is COMPLETED, 303s to redirectUrl with its status and webhook."""
    tx_id = open_card_form(cashier)
    names = [
        e.get_attribute("name") for e in cashier.browser.find_elements(By.CSS_SELECTOR, "input")
    ]
    assert names == [
        "paymentOptionId",
        "cardnum",
        "cardholder",
        "expirymonth",
        "expiryyear",
        "cardcvv",
    ]
    cashier.fill(card(SUCCESS_CARD))
    cashier.shot("cashier-card-form")
    cashier.submit()
    assert cashier.wait_for_merchant() == {"transactionId": tx_id, "status": "COMPLETED"}
    cashier.shot("merchant-return")
    assert cashier.transaction(tx_id).status.value == "COMPLETED"
    assert cashier.transaction(tx_id).method == "Card"
    assert "COMPLETED" in cashier.webhook_statuses(tx_id)
    cashier.browser.back()  # the used session never shows its form again
    cashier.browser.refresh()
    assert "already been used" in cashier.text("message")
    assert not cashier.has("form")
    cashier.shot("cashier-used")


def test_trigger_card_shows_the_decline_with_its_reason(cashier: Cashier) -> None:
    """A trigger card is declined with its code's reason, then the merchant gets DECLINED."""
    tx_id = open_card_form(cashier)
    cashier.fill(card(trigger_card(3000)))
    cashier.submit()
    assert cashier.text("message") == "Declined"
    assert cashier.text("detail") == "Insufficient card funds."
    cashier.shot("cashier-declined")
    assert cashier.wait_for_merchant() == {"transactionId": tx_id, "status": "DECLINED"}
    declined = cashier.transaction(tx_id)
    assert (declined.status.value, declined.errors and declined.errors.code) == ("DECLINED", 3000)


def open_challenge(cashier: Cashier) -> str:
    """Pay with the 3DS card on the cashier and land on its challenge; the transaction id."""
    tx_id = open_card_form(cashier)
    cashier.fill(card(THREE_DS_CARD))
    cashier.submit()
    assert f"/_sandbox/3ds/{tx_id}" in cashier.browser.current_url
    return tx_id


def test_3ds_card_authenticated_completes(cashier: Cashier) -> None:
    """The 3DS card opens a top-level challenge that waits (payment_delay=0); Authenticate pays."""
    tx_id = open_challenge(cashier)
    assert not cashier.has("iframe")
    cashier.shot("3ds-challenge")
    assert cashier.transaction(tx_id).status.value == "PENDING"
    cashier.click("authenticate")
    assert cashier.wait_for_merchant() == {"transactionId": tx_id, "status": "COMPLETED"}
    assert cashier.transaction(tx_id).status.value == "COMPLETED"
    assert cashier.webhook_statuses(tx_id)[-1] == "COMPLETED"


def test_3ds_card_failed_is_declined(cashier: Cashier) -> None:
    """Fail on the challenge declines the payment with 3010 and returns DECLINED."""
    tx_id = open_challenge(cashier)
    cashier.click("fail")
    assert cashier.text("detail") == "Customer has failed 3DS."
    cashier.shot("3ds-failed")
    assert cashier.wait_for_merchant() == {"transactionId": tx_id, "status": "DECLINED"}
    failed = cashier.transaction(tx_id)
    assert (failed.status.value, failed.errors and failed.errors.code) == ("DECLINED", 3010)


def test_3ds_abandoned_is_declined_3003_after_the_timeout(cashier: Cashier) -> None:
    """Abandon leaves the payment PENDING until the challenge times out on the sandbox clock."""
    tx_id = open_challenge(cashier)
    cashier.click("abandon")
    assert cashier.text("message") == "Verification closed"
    assert not cashier.has("form")
    cashier.shot("3ds-abandoned")
    assert cashier.transaction(tx_id).status.value == "PENDING"
    cashier.loop.call(lambda: cashier.sandbox.clock.advance(CHALLENGE_TIMEOUT_SECONDS))
    abandoned = cashier.wait_status(tx_id, "DECLINED")
    assert abandoned.errors is not None
    assert abandoned.errors.code == 3003


def test_bank_transfer_with_a_bank_and_a_bad_input_shows_the_error_then_pays(
    cashier: Cashier,
) -> None:
    """The bank and the document share one form; a too-short document is refused, then paid."""
    tx_id, url = cashier.open_session()
    cashier.browser.get(url)
    cashier.browser.find_element(By.LINK_TEXT, "Bank Transfer").click()
    Select(cashier.browser.find_element(By.NAME, "optionId")).select_by_visible_text("Itaú")
    cashier.fill({"document": "1234"})
    document = cashier.browser.find_element(By.NAME, "document")
    assert cashier.browser.execute_script("return arguments[0].validity.tooShort", document)
    assert len(cashier.browser.find_elements(By.CSS_SELECTOR, "button[type=submit]")) == 1
    # A browser that skips HTML validation still meets the server's (the SDK's) rules.
    cashier.browser.execute_script("document.getElementById('cashier-form').noValidate = true")
    cashier.submit()
    assert "document (Document number): at least 6 characters, got 4" in cashier.text("f-errors")
    cashier.shot("cashier-form-error")
    assert cashier.transaction(tx_id).status.value == "CREATED"
    bank = Select(cashier.browser.find_element(By.NAME, "optionId"))
    assert bank.first_selected_option.text == "Itaú"  # the choice survives the refusal
    cashier.fill({"document": "12345678"})
    cashier.submit()
    assert cashier.wait_for_merchant() == {"transactionId": tx_id, "status": "PENDING"}
    paid = cashier.wait_status(tx_id, "COMPLETED")  # payment_delay=0 finishes the transfer
    assert paid.method == "Bank Transfer"


def test_hybrid_link_opens_on_its_option(cashier: Cashier) -> None:
    """A hybrid-payment redirectUrl opens the cashier on the preselected PIX form."""
    state, origin = cashier.sandbox.state, cashier.sandbox.base_url
    body = cashier.session_body()
    opened = cashier.loop.call(lambda: state.initiate("payment", body))
    assert isinstance(opened, dict)
    pix = next(o for o in payment_options_for("BR") if o.name == "PIX")
    assert find_payment_option("BR", pix.payment_option_id) is pix
    hybrid_body = {"sessionId": opened["sessionId"], "paymentOptionId": pix.payment_option_id}
    answer = cashier.loop.call(lambda: state.hybrid(hybrid_body, origin=origin))
    assert isinstance(answer, dict)
    cashier.browser.get(answer["result"]["redirectUrl"])
    assert cashier.text("method") == "PIX"
    assert not cashier.has("#options")
    cashier.shot("cashier-hybrid")
    cashier.fill({"document": "12345678"})
    cashier.submit()
    back = cashier.wait_for_merchant()
    assert back == {"transactionId": opened["transactionId"], "status": "PENDING"}
    assert cashier.wait_status(opened["transactionId"], "COMPLETED").method == "PIX"


def test_expired_session_shows_the_error_page(cashier: Cashier) -> None:
    """A session past its 30 minutes shows an error page, never a form, and is EXPIRED."""
    tx_id, url = cashier.open_session()
    cashier.loop.call(lambda: cashier.sandbox.clock.advance(31 * 60))
    cashier.browser.get(url)
    assert cashier.text("message") == "This session has expired"
    assert not cashier.has("form")
    cashier.shot("cashier-expired")
    assert cashier.transaction(tx_id).status.value == "EXPIRED"


def test_payout_session_pattern_error_then_completes(cashier: Cashier) -> None:
    """A payout's account failing its pattern is refused; fixed, it waits PENDING, then pays out."""
    tx_id, url = cashier.open_session("payout", country="AR", currency="ARS", amount="5000.00")
    cashier.browser.get(url)
    assert cashier.text("method") == "Bank Transfer"
    assert Select(cashier.browser.find_element(By.NAME, "optionId")).first_selected_option.text == (
        "CBU transfer"
    )
    cashier.fill({"name": "Ana Souza", "account": "28505909400000000136AB"})
    account = cashier.browser.find_element(By.NAME, "account")
    assert cashier.browser.execute_script("return arguments[0].validity.patternMismatch", account)
    cashier.browser.execute_script("document.getElementById('cashier-form').noValidate = true")
    cashier.submit()
    assert "account (CBU): does not match the pattern" in cashier.text("f-errors")
    assert cashier.browser.find_element(By.NAME, "name").get_attribute("value") == "Ana Souza"
    cashier.fill({"account": "2850590940090418135201"})
    cashier.shot("cashier-payout")
    cashier.submit()
    assert cashier.wait_for_merchant() == {"transactionId": tx_id, "status": "PENDING"}
    assert cashier.transaction(tx_id).status.value == "PENDING"
    settle = {"action": "APPROVE", "transactionId": tx_id}
    cashier.loop.call(lambda: cashier.sandbox.state.settle(settle))
    assert cashier.wait_status(tx_id, "COMPLETED").method == "Bank Transfer"
    assert cashier.webhook_statuses(tx_id)[-1] == "COMPLETED"
