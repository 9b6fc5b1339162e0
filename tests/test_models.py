"""Value objects: request validation, enums that keep unknown values, and the code table."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import attrs
import pytest

from kasha_async import (
    CODE_TABLE,
    CRYPTO_CURRENCIES,
    Customer,
    Identification,
    InvalidRequestError,
    KashaErrorCode,
    PaymentOption,
    PaymentOptionsRequest,
    PayoutOptionsRequest,
    SettleAction,
    SettleRequest,
    SubmitRequest,
    SubmitResult,
    Transaction,
    TransactionStatus,
)

REDIRECT = "https://merchant.example/return"


def payment(**overrides: Any) -> PaymentOptionsRequest:
    """A valid payment request, with ``overrides`` applied."""
    fields: dict[str, Any] = {
        "country": "BR",
        "currency": "BRL",
        "amount": Decimal("10.00"),
        "redirect_url": REDIRECT,
        "customer": Customer(name="A"),
    }
    return PaymentOptionsRequest(**{**fields, **overrides})


@pytest.mark.parametrize(
    ("given", "expected"),
    [(Decimal("1.50"), "1.50"), (7, "7"), ("12.34", "12.34"), (" 5.00 ", "5.00")],
)
def test_amount_accepts_decimal_int_and_str(given: object, expected: str) -> None:
    """Amounts given as Decimal, int or str become that exact Decimal."""
    amount = payment(amount=given).amount
    assert type(amount) is Decimal
    assert str(amount) == expected


@pytest.mark.parametrize("given", [1.5, True, None, [1]])
def test_amount_refuses_floats_and_other_types(given: object) -> None:
    """Binary floats (and other non-numbers) are refused before any I/O."""
    with pytest.raises(InvalidRequestError):
        payment(amount=given)


@pytest.mark.parametrize(
    "given",
    [
        "1e3",
        "1E+2",
        "1_000.00",
        "\u0661\u0660\u0660",
        "\uff11\uff10",
        "NaN",
        "Infinity",
        "-inf",
        "+5",
        ".5",
        "5.",
        "1,000.00",
        "0x10",
        Decimal("NaN"),
        Decimal("Infinity"),
    ],
)
def test_amount_accepts_plain_ascii_decimals_only(given: object) -> None:
    """Exponents, underscores, non-ASCII digits, signs, NaN and Inf are refused, unquoted."""
    with pytest.raises(InvalidRequestError) as info:
        payment(amount=given)
    if isinstance(given, str):
        assert given not in str(info.value)


@pytest.mark.parametrize(
    ("amount", "currency"),
    [
        (Decimal("1E+100000"), "BRL"),
        (10**13, "BRL"),
        ("10000000000000.00", "BRL"),
        ("1234567890123.12345678", "BTC"),
        ("1234567.1234567890123456", "BTC"),
    ],
    ids=["1E+100000", "10^13", "10^13-text", "22-digits-crypto", "23-digits"],
)
def test_amount_magnitude_and_significant_digits_are_bounded(amount: object, currency: str) -> None:
    """Amounts from 10**13, or with more than 15 significant digits, are refused."""
    with pytest.raises(InvalidRequestError) as info:
        payment(amount=amount, currency=currency)
    assert len(str(info.value)) < 300


@pytest.mark.parametrize(
    ("amount", "currency"),
    [("9999999999999.99", "BRL"), ("1234567.12345678", "BTC"), ("0.00000001", "BTC")],
)
def test_amounts_at_the_bound_are_accepted(amount: str, currency: str) -> None:
    """The largest fiat amount and a 15-digit crypto amount pass and keep their digits."""
    assert format(payment(amount=amount, currency=currency).amount, "f") == amount


def test_trailing_zeros_are_not_significant_digits() -> None:
    """16 digits of which 8 are trailing zeros pass; 16 significant digits are named."""
    assert payment(amount="12345678.00000000", currency="BTC").amount == Decimal("12345678")
    with pytest.raises(InvalidRequestError) as info:
        payment(amount="12345678.12345678", currency="BTC")
    assert info.value.problems == (
        "amount has 16 significant digits, more than the 15 a JSON number keeps exactly "
        "in every parser",
    )


def test_batch_items_use_the_same_amount_parser() -> None:
    """A batch row's amount goes through the same parser: "1e3" and "1_000" are refused."""
    from kasha_async.batch import PayoutItem

    for bad in ("1e3", "1_000.00", "\u0661"):
        with pytest.raises(InvalidRequestError):
            PayoutItem(reference="r", country="AR", currency="ARS", amount=bad)
    assert PayoutItem(reference="r", country="AR", currency="ARS", amount="1000.00").amount == (
        Decimal("1000.00")
    )


@pytest.mark.parametrize(
    ("amount", "currency"),
    [("0", "BRL"), ("-1", "BRL"), ("1.001", "BRL"), ("NaN", "BRL"), ("1.123456789", "BTC")],
)
def test_amount_rules(amount: str, currency: str) -> None:
    """Amounts must be positive, finite, with at most 2 places (8 for crypto)."""
    with pytest.raises(InvalidRequestError) as info:
        payment(amount=amount, currency=currency)
    assert any("amount" in problem for problem in info.value.problems)


def test_crypto_currencies_allow_eight_places() -> None:
    """A crypto currency takes 8 decimal places."""
    assert "BTC" in CRYPTO_CURRENCIES
    assert payment(currency="BTC", amount="0.12345678").amount == Decimal("0.12345678")


def test_every_problem_is_listed() -> None:
    """A request with several problems reports all of them at once."""
    with pytest.raises(InvalidRequestError) as info:
        payment(country="bra", currency="br", amount="0", redirect_url="", language="english")
    problems = info.value.problems
    assert len(problems) == 5
    assert [p.split()[0] for p in problems] == [
        "country",
        "currency",
        "amount",
        "redirect_url",
        "language",
    ]
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("field", ["merchant_reference", "payment_reference", "user_id", "tax"])
def test_text_fields_have_length_limits(field: str) -> None:
    """Reference text fields must be 1..255 characters."""
    with pytest.raises(InvalidRequestError):
        payment(**{field: "x" * 256})
    assert getattr(payment(**{field: "x" * 255}), field) == "x" * 255


def test_payout_request_validates_like_payment() -> None:
    """Payout requests share the session rules (country, currency, amount)."""
    with pytest.raises(InvalidRequestError) as info:
        PayoutOptionsRequest(
            country="AR", currency="ARS", amount="1.005", redirect_url=REDIRECT, customer=Customer()
        )
    assert len(info.value.problems) == 1


def test_settle_action_is_coerced_and_checked() -> None:
    """The settle action string becomes the enum; anything else is refused."""
    assert SettleRequest(action="DECLINE", transaction_id="t").action is SettleAction.DECLINE
    with pytest.raises(ValueError):
        SettleRequest(action="MAYBE", transaction_id="t")


def test_models_are_frozen() -> None:
    """Value objects cannot be changed after construction."""
    request = payment()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        request.amount = Decimal("1")  # type: ignore[misc]


def test_repr_hides_personal_and_card_data() -> None:
    """Phone, e-mail, document number, stored token and card data stay out of repr."""
    request = payment(
        customer=Customer(
            name="A",
            phone="+34666999666",
            email="a@example.com",
            identify=Identification(number="76486883X", type="DNI"),
        ),
        stored_token="tok_secret_1",
    )
    submit = SubmitRequest(
        session_id="s", payment_option_id="p", extra_data={"cardnum": "4111111111111111"}
    )
    text = repr(request) + repr(submit)
    for secret in (
        "+34666999666",
        "a@example.com",
        "76486883X",
        "tok_secret_1",
        "4111111111111111",
    ):
        assert secret not in text
    assert "DNI" in text


def test_raw_is_ignored_by_equality_and_repr() -> None:
    """``raw`` keeps the wire JSON but does not take part in ``==`` or repr."""
    one = SubmitResult(result_code=0, result_type="success", transaction_id="t", raw={"a": 1})
    two = SubmitResult(result_code=0, result_type="success", transaction_id="t")
    assert one == two
    assert "raw" not in repr(one)
    assert one.raw == {"a": 1}


@pytest.mark.parametrize(
    ("name", "is_card"),
    [("Card", True), (" credit card ", True), ("Bank Transfer", False), (None, False)],
)
def test_payment_option_is_card(name: str | None, is_card: bool) -> None:
    """Card options are recognised by name (they take no suboptions)."""
    assert PaymentOption(payment_option_id="p", name=name).is_card is is_card


def test_code_table_covers_the_reference() -> None:
    """The table holds exactly codes 994-999, 1000-1009, 1100 and 3000-3026."""
    expected = {*range(994, 1000), *range(1000, 1010), 1100, *range(3000, 3027)}
    assert set(CODE_TABLE) == expected
    assert {member.value for member in KashaErrorCode} == expected
    assert CODE_TABLE[1100].status == "ERROR"
    assert all(info.status == "DECLINED" for code, info in CODE_TABLE.items() if code != 1100)


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (994, "Unidentified subject."),
        (1001, "Missing phone number."),
        (1100, "Contact support to confirm payment."),
        (3000, "Insufficient card funds."),
        (3026, "Mastercard Decline."),
    ],
)
def test_code_reasons_are_the_reference_words(code: int, reason: str) -> None:
    """Reasons are the reference's wording."""
    assert KashaErrorCode(code).reason == reason


def test_code_classification() -> None:
    """1000-1009 are validation codes, 1100 is the only outcome-unknown code."""
    validation = {c.value for c in KashaErrorCode if c.is_validation}
    unknown = {c.value for c in KashaErrorCode if c.is_outcome_unknown}
    assert validation == set(range(1000, 1010))
    assert unknown == {1100}


def test_unknown_code_becomes_pseudo_member() -> None:
    """A code missing from the table is kept as an ``UNKNOWN_<n>`` member."""
    code = KashaErrorCode(4242)
    assert isinstance(code, KashaErrorCode)
    assert code == 4242
    assert code.name == "UNKNOWN_4242"
    assert code.is_known is False
    assert code.reason == "Unknown error code."
    assert code.is_validation is False


def test_unknown_status_is_kept_and_not_final() -> None:
    """An unknown status string is kept as a member and is not treated as final."""
    status = TransactionStatus("CHARGEBACK")
    assert isinstance(status, TransactionStatus)
    assert status == "CHARGEBACK"
    assert status.is_final is False


@pytest.mark.parametrize(
    ("status", "final"),
    [
        ("CREATED", False),
        ("PENDING", False),
        ("PROCESSING", False),
        ("COMPLETED", True),
        ("DECLINED", True),
        ("ERROR", True),
        ("REFUNDED", True),
        ("EXPIRED", True),
    ],
)
def test_final_statuses(status: str, final: bool) -> None:
    """Final statuses are COMPLETED, DECLINED, ERROR, REFUNDED and EXPIRED."""
    assert TransactionStatus(status).is_final is final
    assert Transaction(id="t", status=TransactionStatus(status)).is_final is final


def test_submit_request_keeps_its_own_copy_of_extra_data() -> None:
    """A caller changing its mapping after building the request changes neither send nor mask."""
    typed = {"cardnum": "4111111111111111"}
    request = SubmitRequest(session_id="s", payment_option_id="o", extra_data=typed)
    typed["cardnum"] = "0000"
    assert request.extra_data == {"cardnum": "4111111111111111"}
