"""The one converter: camelCase, exact money, dates, and the provider's quirks (CONTRACT.md §4)."""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import attrs
import orjson
import pytest

from kasha_async import (
    CashierLink,
    Customer,
    InitiatedSession,
    KashaErrorCode,
    PaymentOptionsRequest,
    Refund,
    ResponseFormatError,
    SettleResult,
    SubmitRequest,
    SubmitResult,
    Suboptions,
    Transaction,
    TransactionStatus,
)
from kasha_async._convert import (
    dumps,
    loads,
    parse,
    parse_datetime,
    parse_decimal,
    to_camel,
    to_plain,
    to_wire,
)


def tx(**fields: Any) -> dict[str, Any]:
    """A minimal transaction body with ``fields`` added."""
    return {"id": "tx-1", "status": "COMPLETED", **fields}


@pytest.mark.parametrize(
    ("name", "camel"),
    [
        ("payment_option_id", "paymentOptionId"),
        ("extra1", "extra1"),
        ("street_number", "streetNumber"),
        ("id", "id"),
    ],
)
def test_to_camel(name: str, camel: str) -> None:
    """snake_case field names become the wire's camelCase."""
    assert to_camel(name) == camel


@pytest.mark.parametrize(
    ("value", "expected"),
    [("000", 0), (0, 0), ("085", 85), (85, 85), ("300", 300), (300.0, 300)],
)
def test_result_code_variants_are_one_int(value: object, expected: int) -> None:
    """statusCode as "000", 0, "085", 85 or "300" is one integer."""
    result = parse(
        SubmitResult,
        {"statusCode": value, "resultType": "success", "result": {"transactionId": "t"}},
    )
    assert result.result_code == expected
    assert type(result.result_code) is int


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (10, "10"),
        ("10.50", "10.50"),
        (10.5, "10.5"),
        (0.1, "0.1"),
        (1234.56, "1234.56"),
        (" 7.25 ", "7.25"),
        (0, "0"),
        ("9999999999999.99", "9999999999999.99"),
    ],
)
def test_money_is_exact_decimal(value: object, expected: str) -> None:
    """Money as int, string or float becomes the exact Decimal written (floats via repr)."""
    amount = parse(Transaction, tx(paymentAmount=value)).payment_amount
    assert type(amount) is Decimal
    assert str(amount) == expected


def test_float_money_never_goes_through_decimal_of_float() -> None:
    """0.1 is Decimal("0.1"), not the binary expansion Decimal(0.1) gives."""
    assert parse_decimal(0.1) == Decimal("0.1")
    assert parse_decimal(0.1) != Decimal.from_float(0.1)


@pytest.mark.parametrize(
    "value",
    [
        True,
        "ten",
        "NaN",
        "Infinity",
        [1],
        {"a": 1},
        -3,
        "-0.01",
        "1e999999999",
        "1e3",
        "1_000.00",
        "\u0661\u0660\u0660",
        "10000000000000",
        1e300,
    ],
)
def test_bad_money_is_response_format_error(value: object) -> None:
    """Words, NaN, exponents, underscores, non-ASCII digits, negative or huge are not money."""
    with pytest.raises(ResponseFormatError):
        parse(Transaction, tx(paymentAmount=value))


def test_a_huge_json_number_answer_is_refused_quickly() -> None:
    """An answer amount of 1e999999999 (or 10**13 and above) is a ResponseFormatError."""
    for literal in (b"1e999999999", b"12345678901234567890.5", b"-1.5"):
        body = b'{"id": "t", "status": "COMPLETED", "paymentAmount": ' + literal + b"}"
        with pytest.raises(ResponseFormatError) as info:
            parse(Transaction, loads(body))
        assert literal.decode() not in str(info.value)


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        (b"12345678.12345678", "12345678.12345678"),
        (b"123456789.98765432", "123456789.98765432"),
        (b"9999999999999.99", "9999999999999.99"),
    ],
)
def test_money_json_numbers_with_many_digits_are_exact(literal: bytes, expected: str) -> None:
    """A JSON number with up to 17 significant digits (8-place crypto) is read digit for digit."""
    body = b'{"id": "t", "status": "COMPLETED", "paymentAmount": ' + literal + b"}"
    amount = parse(Transaction, loads(body)).payment_amount
    assert amount == Decimal(expected)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2022-08-04T08:23:50.738Z", datetime(2022, 8, 4, 8, 23, 50, 738000, tzinfo=UTC)),
        ("2022-08-04T10:23:50+02:00", datetime(2022, 8, 4, 8, 23, 50, tzinfo=UTC)),
        ("2022-08-04T08:23:50", datetime(2022, 8, 4, 8, 23, 50, tzinfo=UTC)),
        ("02/09/2021 23:02:33", datetime(2021, 9, 2, 23, 2, 33, tzinfo=UTC)),
        ("31/12/2021 00:00:00", datetime(2021, 12, 31, tzinfo=UTC)),
    ],
)
def test_dates_are_aware_utc(value: str, expected: datetime) -> None:
    """ISO 8601 (any offset or none) and DD/MM/YYYY HH:MM:SS become aware UTC datetimes."""
    parsed = parse_datetime(value)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize("value", ["yesterday", "12/31/2021 00:00:00", 1659601430, ""])
def test_bad_dates_are_response_format_errors(value: object) -> None:
    """Unreadable dates (words, month-first, epoch numbers) are ResponseFormatError."""
    with pytest.raises(ResponseFormatError):
        parse(Transaction, tx(createdAt=value))


@pytest.mark.parametrize(("phone", "expected"), [(25412340000, "25412340000"), ("+34 6", "+34 6")])
def test_phone_number_or_string(phone: object, expected: str) -> None:
    """customer.phone as a JSON number or a string is a string."""
    customer = parse(Transaction, tx(customer={"phone": phone})).customer
    assert customer == Customer(phone=expected)


def test_underscore_id_is_id() -> None:
    """A refund's ``_id`` is read as ``id``."""
    refund = parse(Refund, {"_id": "r-1", "status": "REFUNDED"})
    assert refund.id == "r-1"


def test_unknown_fields_are_ignored_and_unknown_values_kept() -> None:
    """Extra fields are ignored; unknown statuses and error codes are kept."""
    body = tx(status="ON_HOLD", futureField={"x": 1}, errors={"code": 4242, "msg": "new"})
    parsed = parse(Transaction, body)
    assert parsed.status == TransactionStatus("ON_HOLD")
    assert parsed.errors is not None
    assert parsed.errors.code == KashaErrorCode(4242)
    assert parsed.raw["futureField"] == {"x": 1}


def test_nulls_for_lists_read_as_empty() -> None:
    """``null`` where a list belongs (orderDetails, paymentOptions, extraData) is empty."""
    session = parse(
        InitiatedSession,
        {
            "transactionId": "t",
            "sessionId": "s",
            "paymentOptions": [{"paymentOptionId": "p", "extraData": None}],
        },
    )
    assert session.payment_options[0].extra_data == ()
    assert parse(Transaction, tx(orderDetails=None)).order_details == ()
    empty = parse(
        InitiatedSession, {"transactionId": "t", "sessionId": "s", "paymentOptions": None}
    )
    assert empty.payment_options == ()


@pytest.mark.parametrize("wrapped", [False, True])
def test_array_wrapping_is_optional(wrapped: bool) -> None:
    """Every response shape parses both bare and wrapped in a one-element array."""
    settle = {"statusCode": "000", "status": "PROCESSING", "transactionId": "t"}
    link = {"transactionId": "t", "sessionId": "s", "cashierUrl": "https://c"}

    def wrap(body: Any) -> Any:
        return [body] if wrapped else body

    assert parse(SettleResult, wrap(settle)).status is TransactionStatus.PROCESSING
    assert parse(CashierLink, wrap(link)).cashier_url == "https://c"
    assert parse(Transaction, wrap(tx())).id == "tx-1"


@pytest.mark.parametrize("as_list", [False, True])
def test_suboption_options_object_or_list(as_list: bool) -> None:
    """Suboption ``options`` may be one object or a list; inputs inside it are lifted."""
    option = {"id": "d_1", "formInputs": [{"name": "iban", "required": True}]}
    body = {
        "statusCode": 85,
        "resultType": "option_choice",
        "result": {"options": [option] if as_list else option},
    }
    parsed = parse(Suboptions, body)
    assert [o.id for o in parsed.options] == ["d_1"]
    assert [f.name for f in parsed.form_inputs] == ["iban"]
    assert parsed.form_inputs[0].required is True


@pytest.mark.parametrize(
    ("result_inputs", "expected"),
    [({}, ["iban"]), ({"formInputs": None}, ["iban"]), ({"formInputs": []}, [])],
)
def test_result_level_form_inputs_win_over_the_options(
    result_inputs: dict[str, Any], expected: list[str]
) -> None:
    """Inputs are lifted from the options only when ``result`` has no ``formInputs`` or null."""
    option = {"id": "d_1", "formInputs": [{"name": "iban"}]}
    result = {"options": option, **result_inputs}
    parsed = parse(Suboptions, {"statusCode": 85, "resultType": "option_choice", "result": result})
    assert [f.name for f in parsed.form_inputs] == expected
    assert [f.name for f in parsed.options[0].form_inputs] == ["iban"]


def test_suboptions_without_options() -> None:
    """A suboptions answer with no options at all is empty, not an error."""
    parsed = parse(Suboptions, {"statusCode": "085", "resultType": "option_choice", "result": {}})
    assert parsed.options == ()
    assert parsed.form_inputs == ()


def test_to_wire_is_camel_case_and_omits_none() -> None:
    """Requests unstructure to camelCase with None fields left out."""
    request = SubmitRequest(session_id="s", payment_option_id="p", extra_data={"cardnum": "1"})
    assert to_wire(request) == {
        "sessionId": "s",
        "paymentOptionId": "p",
        "extraData": {"cardnum": "1"},
    }


@pytest.mark.parametrize("amount", ["130.00", "0.10", "1E+2", "9999999999999.99"])
def test_dumps_writes_money_digits_exactly(amount: str) -> None:
    """Encoded money is a JSON number with exactly the Decimal's digits in plain notation."""
    request = PaymentOptionsRequest(
        country="BR",
        currency="BRL",
        amount=Decimal(amount),
        redirect_url="https://r",
        customer=Customer(),
    )
    encoded = dumps(to_wire(request))
    assert b'"amount":' + format(Decimal(amount), "f").encode() + b"," in encoded


def test_dumps_body_holds_no_more_memory_than_its_bytes() -> None:
    """An encoded body is right-sized: 1,000 small bodies in flight hold well under 1 MB."""
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        bodies = [dumps({"sessionId": f"s{i}", "paymentOptionId": "d_316"}) for i in range(1000)]
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert bodies[7] == b'{"sessionId":"s7","paymentOptionId":"d_316"}'
    # 1,000 x ~80 bytes of object plus the list; orjson's own buffers would be 4 MB.
    assert held - before < 200_000


def test_to_plain_money_is_an_exact_string() -> None:
    """``to_plain`` gives plain types with money as the exact string, as documented."""
    request = PaymentOptionsRequest(
        country="BR",
        currency="BRL",
        amount=Decimal("130.00"),
        redirect_url="https://r",
        customer=Customer(),
    )
    plain = to_plain(request)
    assert plain["amount"] == "130.00"
    assert orjson.loads(orjson.dumps(plain)) == plain


@pytest.mark.parametrize(
    "body",
    [b"", b"{", b"nul", b"<html>", b"[" * 5000 + b"]" * 5000, b'{"a": 1e999}'],
)
def test_loads_failures_are_response_format_errors(body: bytes) -> None:
    """Every JSON decoding failure is a ResponseFormatError with a capped excerpt."""
    with pytest.raises(ResponseFormatError) as info:
        loads(body)
    assert info.value.body_excerpt is not None
    assert len(info.value.body_excerpt) <= 501


def test_parse_failure_names_the_model() -> None:
    """A shape mismatch is a ResponseFormatError naming the expected model."""
    with pytest.raises(ResponseFormatError) as info:
        parse(SubmitResult, {"statusCode": "abc", "resultType": "success", "result": {}})
    assert "SubmitResult" in str(info.value)


@pytest.mark.parametrize("cls", [SubmitResult, SettleResult, Suboptions, Refund])
def test_wire_status_code_is_result_code(cls: type) -> None:
    """The wire's ``statusCode`` is ``result_code`` (not the HTTP ``status_code`` of errors)."""
    names = {field.name for field in attrs.fields(cls)}
    assert "result_code" in names
    assert "status_code" not in names
    result = SubmitResult(result_code=85, result_type="success", transaction_id="t")
    assert to_wire(result)["statusCode"] == 85
    assert "resultCode" not in to_wire(result)
