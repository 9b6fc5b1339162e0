"""Every sample of the provider's reference text, parsed and built field by field."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import attrs
import orjson
import pytest

from kasha_async import (
    Address,
    Customer,
    Identification,
    InitiatedSession,
    KashaErrorCode,
    OrderDetail,
    PaymentOptionsRequest,
    PayoutOptionsRequest,
    Refund,
    RefundRequest,
    SettleAction,
    SettleRequest,
    SettleResult,
    SubmitRequest,
    SubmitResult,
    Suboptions,
    SuboptionsRequest,
    Transaction,
    TransactionStatus,
)
from kasha_async._convert import dumps, loads, parse, to_wire
from tests.fixtures import (
    FIXTURES,
    REQUEST_SAMPLES,
    RESPONSE_SAMPLES,
    request_sample,
    sample,
    sample_bytes,
)

UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/51.0.2704.103 Safari/537.36"
)
LONDON: dict[str, Any] = {
    "street": "32 Windsor Gardens",
    "street_number": "24",
    "country": "GB",
    "zip_code": "W9 3RG",
    "city": "London",
    "state": "Great London.",
}
REDIRECT = "https://merchant.example/return"


def assert_fields(obj: Any, expected: Mapping[str, Any]) -> None:
    """Assert every attrs field of ``obj`` (but ``raw``) equals ``expected``, type included.

    A nested mapping is checked recursively against a nested model, a tuple of
    mappings against a tuple of models; ``expected`` must name every field.
    """
    names = {f.name for f in attrs.fields(type(obj))} - {"raw"}
    assert set(expected) == names, f"{type(obj).__name__}: fields {sorted(names)}"
    for name, want in expected.items():
        got = getattr(obj, name)
        where = f"{type(obj).__name__}.{name}"
        if isinstance(want, Mapping):
            assert_fields(got, want)
        elif isinstance(want, tuple) and want and isinstance(want[0], Mapping):
            assert isinstance(got, tuple), where
            assert len(got) == len(want), where
            for got_item, want_item in zip(got, want, strict=True):
                assert_fields(got_item, want_item)
        else:
            assert got == want, where
            assert type(got) is type(want), f"{where}: {type(got).__name__}"
            if isinstance(want, Decimal):
                assert str(got) == str(want), where
            if isinstance(want, datetime):
                assert got.tzinfo is UTC, where


def test_fixture_files_are_exactly_the_reference_samples() -> None:
    """The fixtures directory holds one file per printed sample and nothing else."""
    responses = sorted(p.stem for p in FIXTURES.glob("*.json"))
    requests = sorted(p.stem for p in (FIXTURES / "requests").glob("*.json"))
    assert responses == sorted(RESPONSE_SAMPLES)
    assert requests == sorted(REQUEST_SAMPLES)


def test_payment_options_sample() -> None:
    """The payment-options sample parses, keeping the sample's comma inside transactionId."""
    parsed = parse(InitiatedSession, loads(sample_bytes("payment-options")))
    assert isinstance(parsed, InitiatedSession)
    assert_fields(
        parsed,
        {
            "transaction_id": "af52a9af-6249-4f56-98c3-f0eaf3910eab,",
            "session_id": "c3ee84b7-6ef7-4541-a2c7-5881fe86bb30",
            "payment_options": (
                {
                    "payment_option_id": (
                        "4fb6f4dfab76be51616d18e1f679409cc1d0711dc29399676a7c0fe52ad7d585"
                        "462e19a1f95f8bff5c3583352c220bd43cca3ca6f04d2be17fbb20ee659fe797"
                        "eb35395d8b9760faa477e4006fe8e00383eb26572a6a40467acf7503f5ba9f83"
                        "44eeededf2765b2323"
                    ),
                    "name": "Card",
                    "logo": None,
                    "extra_data": (
                        {
                            "label": "Card Number",
                            "name": "cardnum",
                            "type": "string",
                            "values": (),
                            "required": True,
                            "validations": None,
                        },
                        {
                            "label": "Owner",
                            "name": "cardholder",
                            "type": "string",
                            "values": (),
                            "required": True,
                            "validations": None,
                        },
                    ),
                },
            ),
        },
    )
    assert parsed.payment_options[0].is_card is True
    assert dict(parsed.raw) == sample("payment-options")


def test_payment_suboptions_sample() -> None:
    """The payment-suboptions sample: statusCode "085" is 85, five banks, one phone input."""
    parsed = parse(Suboptions, loads(sample_bytes("payment-suboptions")))
    assert isinstance(parsed, Suboptions)
    banks = [
        ("b_26", "Alfa-Bank"),
        ("b_56", "Qiwi"),
        ("b_256", "Sberbank - by mobile"),
        ("b_25", "Sberbank - card number"),
        ("b_24", "VTB"),
    ]
    assert_fields(
        parsed,
        {
            "result_code": 85,
            "result_type": "option_choice",
            "payment_option_id": "f34deaf0-a854-4d12-ae6a-b309c9feb404",
            "transaction_id": "dd5804ab-4f4b-477a-90d2-8ee86d66ae48",
            "session_id": "9620a2d6-def0-47ab-93f4-30b35d5c8cbd",
            "options": tuple(
                {"id": i, "name": n, "logo": None, "uuid": None, "form_inputs": ()}
                for i, n in banks
            ),
            "form_inputs": (
                {
                    "label": "phone",
                    "name": "phone",
                    "type": "string",
                    "values": (),
                    "required": True,
                    "validations": {"min_length": 11, "max_length": 18, "pattern": None},
                },
            ),
        },
    )
    assert dict(parsed.raw) == sample("payment-suboptions")


def test_payment_sample() -> None:
    """The payment sample: statusCode "000" is 0, a success that needs no redirect."""
    parsed = parse(SubmitResult, loads(sample_bytes("payment")))
    assert isinstance(parsed, SubmitResult)
    assert_fields(
        parsed,
        {
            "result_code": 0,
            "result_type": "success",
            "transaction_id": "15be2828-c286-48f0-ae73-7a9f151dc0f2",
            "redirect_url": None,
            "reconciled": False,
            "status": None,
        },
    )
    assert parsed.needs_redirect is False
    assert dict(parsed.raw) == sample("payment")


def test_hybrid_payment_sample() -> None:
    """The hybrid-payment sample: statusCode "300" is 300, a redirect without a printed URL."""
    parsed = parse(SubmitResult, loads(sample_bytes("hybrid-payment")))
    assert isinstance(parsed, SubmitResult)
    assert_fields(
        parsed,
        {
            "result_code": 300,
            "result_type": "redirect",
            "transaction_id": "f5773e8a-697e-4b25-a01d-bd3701091a8f",
            "redirect_url": None,
            "reconciled": False,
            "status": None,
        },
    )
    assert parsed.needs_redirect is True


def test_payout_options_sample_is_array_wrapped() -> None:
    """The payout-options sample is a one-element array: it is unwrapped into one session."""
    data = loads(sample_bytes("payout-options"))
    assert isinstance(data, list)
    parsed = parse(InitiatedSession, data)
    assert isinstance(parsed, InitiatedSession)
    assert_fields(
        parsed,
        {
            "transaction_id": "94b2412c-1386-4b9a-bafa-9c0e37ddf053",
            "session_id": "6716a741-2efd-4695-a934-95b57fe2c4f7",
            "payment_options": (
                {
                    "payment_option_id": "dfb7a9c4-1e87-4803-9929-091d946999d3",
                    "name": "Bank Transfer",
                    "logo": None,
                    "extra_data": (),
                },
            ),
        },
    )
    assert parsed.payment_options[0].is_card is False


def test_payout_suboptions_sample_options_object_with_form_inputs_inside() -> None:
    """Payout suboptions: array-wrapped, statusCode 85, options one object, inputs inside it."""
    data = loads(sample_bytes("payout-suboptions"))
    assert isinstance(data, list)
    parsed = parse(Suboptions, data)
    assert isinstance(parsed, Suboptions)
    inputs = (
        {
            "label": "Beneficiary's name",
            "name": "name",
            "type": "string",
            "values": (),
            "required": True,
            "validations": {"min_length": 5, "max_length": 100, "pattern": None},
        },
        {
            "label": "Beneficiary's phone",
            "name": "phone",
            "type": "string",
            "values": (),
            "required": False,
            "validations": None,
        },
    )
    assert_fields(
        parsed,
        {
            "result_code": 85,
            "result_type": "option_choice",
            "payment_option_id": "dfb7a9c4-1e87-4803-9929-091d946999d",
            "transaction_id": "ae25e39c-2796-43fc-a6af-e5c77f242ac4",
            "session_id": "60c6c52e-01a0-4722-9c12-4cf8940914f1",
            "options": (
                {
                    "id": "d_316",
                    "name": "name",
                    "logo": None,
                    "uuid": "9fe7e381-c9db-44b0-88aa-22dae4eb6185",
                    "form_inputs": inputs,
                },
            ),
            "form_inputs": inputs,
        },
    )


def test_payout_sample_status_code_zero() -> None:
    """The payout sample's numeric statusCode 0 reads as the integer 0."""
    parsed = parse(SubmitResult, loads(sample_bytes("payout")))
    assert isinstance(parsed, SubmitResult)
    assert_fields(
        parsed,
        {
            "result_code": 0,
            "result_type": "success",
            "transaction_id": "1a48baf9-affe-4fde-9ccb-eafa32b478e2",
            "redirect_url": None,
            "reconciled": False,
            "status": None,
        },
    )


def test_settle_payout_sample() -> None:
    """The settle-payout sample: status PROCESSING as the enum, result message kept."""
    parsed = parse(SettleResult, loads(sample_bytes("settle-payout")))
    assert isinstance(parsed, SettleResult)
    assert_fields(
        parsed,
        {
            "result_code": 0,
            "status": TransactionStatus.PROCESSING,
            "transaction_id": "1a48baf9-affe-4fde-9ccb-eafa32b478e2",
            "merchant_reference": "mr-65gkcsf2w23423",
            "result": "Payout request was submitted successfully.",
            "reconciled": False,
        },
    )
    assert dict(parsed.raw) == sample("settle-payout")


def test_refund_sample_id_and_day_first_dates() -> None:
    """The refund sample: ``_id`` is ``id``, DD/MM/YYYY dates are aware UTC, amount exact."""
    parsed = parse(Refund, loads(sample_bytes("refund")))
    assert isinstance(parsed, Refund)
    assert_fields(
        parsed,
        {
            "id": "feb6a715-9f7c-49d4-b6f7-10c59d18a194",
            "status": TransactionStatus.REFUNDED,
            "result_code": 0,
            "error_reason": "Success",
            "payment_amount": Decimal("1000"),
            "currency": "BRL",
            "country": "BR",
            "payment_option_name": "DepositExpress",
            "user_id": "merchantUser123",
            "type": "All",
            "created_at": datetime(2021, 9, 2, 23, 2, 33, tzinfo=UTC),
            "updated_at": datetime(2022, 9, 2, 0, 0, 0, tzinfo=UTC),
            "reconciled": False,
        },
    )
    assert dict(parsed.raw) == sample("refund")


def test_transaction_sample() -> None:
    """The transaction sample: every nested object, the 999 error code and ISO dates in UTC."""
    parsed = parse(Transaction, loads(sample_bytes("transaction")))
    assert isinstance(parsed, Transaction)
    assert_fields(
        parsed,
        {
            "id": "099cdc76-45d1-49e1-8985-e1c82dcfadb3",
            "status": TransactionStatus.COMPLETED,
            "session_id": "90545ca3-fe0d-457c-a9da-283ee2561d82",
            "country": "GB",
            "currency": "GBP",
            "payment_amount": Decimal("10"),
            "method": "Bank Transfer",
            "payment_reference": "invoice-4726",
            "merchant_reference": "Merchant Unique Value",
            "customer": {
                "name": "John Doe",
                "phone": "+34666999666",
                "email": None,
                "user_device": "MOBILE",
                "user_agent": UA,
                "ip": "84.232.140.77",
                "address": LONDON,
                "identify": {"number": "76486883X", "type": "DNI"},
            },
            "shipping_address": LONDON,
            "order_details": (
                {
                    "product_name": "shirt-328471",
                    "quantity": None,
                    "dimensions": "85x51",
                    "description": "Blue sports t-shirt ",
                },
            ),
            "errors": {
                "code": KashaErrorCode.MISCELLANEOUS_ERROR,
                "msg": "Business failed - duplicate order number",
            },
            "created_at": datetime(2022, 8, 4, 8, 23, 50, 738000, tzinfo=UTC),
            "updated_at": datetime(2022, 8, 5, 8, 23, 50, 738000, tzinfo=UTC),
        },
    )
    assert parsed.errors is not None
    assert type(parsed.errors.code) is KashaErrorCode
    assert parsed.is_final is True
    assert dict(parsed.raw) == sample("transaction")


def test_transaction_sample_with_numeric_phone_reads_phone_as_string() -> None:
    """A customer phone sent as a JSON number (payout-options request sample style) is a string."""
    data = sample("transaction")
    data["customer"]["phone"] = request_sample("payout-options")["customer"]["phone"]
    parsed = parse(Transaction, data)
    assert parsed.customer is not None
    assert parsed.customer.phone == "25412340000"


# --- request samples -------------------------------------------------------------------------


def _wire_json(obj: object) -> Any:
    return orjson.loads(dumps(to_wire(obj)))


def _customer(identify_number: str, identify_type: str) -> Customer:
    return Customer(
        name="John Doe",
        phone="+34666999666",
        user_device="MOBILE",
        user_agent=UA,
        ip="84.232.140.77",
        address=Address(**LONDON),
        identify=Identification(number=identify_number, type=identify_type),
    )


def test_payment_options_request_sample() -> None:
    """The payment-options request sample's values give back the sample on the wire."""
    request = PaymentOptionsRequest(
        country="BR",
        currency="BRL",
        amount=Decimal("130"),
        language="ES",
        redirect_url=REDIRECT,  # required by the reference, absent from its sample
        customer=_customer("36570630563", "BRA_CPF"),
        payment_reference="Invoice ABC123",
        merchant_reference="Merchant Unique Value",
        user_id="Merch_User_123",
        extra1="extraData001",
        extra2="extraData002",
        extra3="extraData003",
        tax="21%",
        shipping_address=Address(**LONDON),
        order_details=(
            OrderDetail(
                product_name="shirt-1233474",
                quantity=1,
                dimensions="85x51",
                description="Blue sports t-shirt ",
            ),
        ),
    )
    assert _wire_json(request) == {**request_sample("payment-options"), "redirectUrl": REDIRECT}


def test_payment_session_request_sample() -> None:
    """The payment-session request sample (with storedToken) gives back the sample on the wire."""
    request = PaymentOptionsRequest(
        country="BR",
        currency="BRL",
        amount=Decimal("130"),
        language="ES",
        redirect_url=REDIRECT,
        customer=_customer("76486883X", "DNI"),
        payment_reference="Invoice ABC123",
        user_id="Merch_User_123",
        extra1="extraData001",
        extra2="extraData002",
        extra3="extraData003",
        stored_token="index-stored",
        tax="21%",
        shipping_address=Address(**LONDON),
        order_details=(
            OrderDetail(
                product_name="shirt-1233474",
                quantity=1,
                dimensions="85x51",
                description="Blue sports t-shirt ",
            ),
        ),
    )
    assert _wire_json(request) == {**request_sample("payment-session"), "redirectUrl": REDIRECT}


def test_payout_session_request_sample() -> None:
    """The payout-session request sample gives back the sample on the wire."""
    request = PayoutOptionsRequest(
        country="BR",
        currency="BRL",
        amount=Decimal("150"),
        redirect_url=REDIRECT,
        customer=Customer(
            name="John Doe",
            phone="+34666999666",
            user_device="MOBILE",
            user_agent=UA,
            ip="84.232.140.77",
        ),
        user_id="merchant_user123",
        language="PT",
        extra1="merchant extra value 1",
        extra2="merchant extra value 2",
        extra3="merchant extra value 3",
    )
    assert _wire_json(request) == {**request_sample("payout-session"), "redirectUrl": REDIRECT}


def test_payout_options_request_sample_phone_sent_as_string() -> None:
    """The payout-options request sample's values go out unchanged, the phone as a string."""
    request = PayoutOptionsRequest(
        country="AR",
        currency="ARS",
        amount=Decimal("200"),
        redirect_url=REDIRECT,
        customer=Customer(name="John Smith", phone="25412340000", ip="84.232.140.77"),
        merchant_reference="Unique merchant ref",
    )
    expected = request_sample("payout-options")
    expected["customer"]["phone"] = "25412340000"
    assert _wire_json(request) == {**expected, "redirectUrl": REDIRECT}


@pytest.mark.parametrize("name", ["payment-suboptions", "payout-suboptions"])
def test_suboptions_request_samples(name: str) -> None:
    """The suboptions request samples are two camelCase ids."""
    request = SuboptionsRequest(session_id="string", payment_option_id="string")
    assert _wire_json(request) == request_sample(name)


def test_hybrid_payment_request_sample() -> None:
    """The hybrid-payment request sample gives back the sample on the wire."""
    request = SubmitRequest(
        session_id="3b21a1e2-e8c2-4e86-8de8-8441ea5c7dba",
        payment_option_id="f34deaf0-a854-4d12-ae6a-b309c9feb404",
        option_id="e_4435",
    )
    assert _wire_json(request) == request_sample("hybrid-payment")


def test_payment_request_sample_omits_null_option_id() -> None:
    """The payment request sample goes out with its card data; ``optionId: null`` is omitted."""
    expected = request_sample("payment")
    request = SubmitRequest(
        session_id=expected["sessionId"],
        payment_option_id=expected["paymentOptionId"],
        option_id=None,
        extra_data=expected["extraData"],
    )
    assert expected["optionId"] is None
    del expected["optionId"]
    assert _wire_json(request) == expected


def test_payout_request_sample() -> None:
    """The payout request sample gives back the sample on the wire."""
    request = SubmitRequest(
        session_id="a6c13aa9-333d-4e07-b173-e37a71bcc7f3",
        payment_option_id="dfb7a9c4-1e87-4803-9929-091d946999d3",
        option_id="d_316",
        extra_data={"name": "name"},
    )
    assert _wire_json(request) == request_sample("payout")


def test_settle_payout_request_sample() -> None:
    """The settle-payout request sample: the action goes out as its plain string."""
    request = SettleRequest(action="APPROVE", transaction_id="f6ab9d53-db1e-4cd9-bafa-a8e31247054d")
    assert request.action is SettleAction.APPROVE
    assert _wire_json(request) == request_sample("settle-payout")


def test_refund_request_sample() -> None:
    """The refund request sample is the merchant reference alone."""
    request = RefundRequest(merchant_reference="ac6c9d64-6ddb-449f-8789-4de064a4fa83")
    assert _wire_json(request) == request_sample("refund")


@pytest.mark.parametrize(
    ("amount", "literal"),
    [
        ("130.00", b'"amount":130.00,'),
        ("130", b'"amount":130,'),
        ("0.05", b'"amount":0.05,'),
        ("1234567.10", b'"amount":1234567.10,'),
    ],
)
def test_amount_is_a_json_number_with_exact_digits(amount: str, literal: bytes) -> None:
    """The amount goes out as a bare JSON number carrying exactly the Decimal's digits."""
    request = PayoutOptionsRequest(
        country="AR",
        currency="ARS",
        amount=Decimal(amount),
        redirect_url=REDIRECT,
        customer=Customer(name="John Smith"),
    )
    encoded = dumps(to_wire(request))
    assert literal in encoded
    assert orjson.loads(encoded)["amount"] == float(amount)
