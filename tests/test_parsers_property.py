"""Property tests: any JSON into any parser gives a model or ResponseFormatError, nothing else."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from kasha_async import (
    Address,
    CashierLink,
    Customer,
    Identification,
    InitiatedSession,
    OrderDetail,
    PaymentOptionsRequest,
    PayoutOptionsRequest,
    Refund,
    RefundRequest,
    ResponseFormatError,
    SettleRequest,
    SettleResult,
    SubmitRequest,
    SubmitResult,
    Suboptions,
    SuboptionsRequest,
    Transaction,
)
from kasha_async._convert import dumps, loads, parse, to_plain, to_wire

FAST = settings(max_examples=200, deadline=None)
RESPONSE_MODELS: list[type] = [
    InitiatedSession,
    CashierLink,
    Suboptions,
    SubmitResult,
    SettleResult,
    Refund,
    Transaction,
]

leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(alphabet="ab0/-:. ", max_size=8)
    | st.sampled_from(["000", "085", "COMPLETED", "02/09/2021 23:02:33", "2022-08-04T08:23:50Z"])
)
json_values = st.recursive(
    leaves,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)


def shaped(keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Dicts using the model's wire keys (any subset) with random JSON values."""
    return st.dictionaries(st.sampled_from(keys), json_values, max_size=min(len(keys), 6))


ENVELOPE = ["statusCode", "resultType", "result", "errors"]
WIRE_KEYS: dict[type, list[str]] = {
    InitiatedSession: ["transactionId", "sessionId", "paymentOptions"],
    CashierLink: ["transactionId", "sessionId", "cashierUrl"],
    Suboptions: [*ENVELOPE, "options", "formInputs", "paymentOptionId", "sessionId"],
    SubmitResult: [*ENVELOPE, "transactionId", "redirectUrl"],
    SettleResult: ["statusCode", "status", "transactionId", "merchantReference", "result"],
    Refund: ["_id", "id", "status", "statusCode", "paymentAmount", "createdAt", "updatedAt"],
    Transaction: [
        "id",
        "status",
        "paymentAmount",
        "customer",
        "shippingAddress",
        "orderDetails",
        "errors",
        "createdAt",
    ],
}


def check_parser(cls: type, data: Any) -> None:
    """``parse`` returns an instance of ``cls`` or raises ResponseFormatError, nothing else."""
    try:
        result: object = parse(cls, data)
    except ResponseFormatError as exc:
        result = exc
    assert isinstance(result, cls | ResponseFormatError)


@FAST
@given(data=json_values)
def test_any_json_into_every_parser(data: Any) -> None:
    """Random JSON values parse into each response model or raise ResponseFormatError."""
    for cls in RESPONSE_MODELS:
        check_parser(cls, data)


ALL_KEYS = sorted({key for keys in WIRE_KEYS.values() for key in keys})


@FAST
@given(body=shaped(ALL_KEYS), wrapping=st.sampled_from(["bare", "array", "result"]))
def test_model_shaped_dicts_with_random_leaves(body: dict[str, Any], wrapping: str) -> None:
    """Dicts with the models' wire keys (bare, array-wrapped or in an envelope) never crash."""
    data: Any = body
    if wrapping == "array":
        data = [body]
    elif wrapping == "result":
        data = {"statusCode": "000", "resultType": "success", "result": body}
    for cls in RESPONSE_MODELS:
        check_parser(cls, data)


@FAST
@given(depth=st.integers(min_value=1, max_value=3000))
def test_deep_nesting_is_format_error(depth: int) -> None:
    """Deeply nested lists or dicts are a ResponseFormatError, never a RecursionError."""
    data: Any = "x"
    for _ in range(depth):
        data = {"customer": data} if depth % 2 else [data]
    check_parser(Transaction, data)


# --- round trips ------------------------------------------------------------------------------

text = st.text(min_size=1, max_size=20)
opt_text = st.none() | text
addresses = st.builds(
    Address,
    street=opt_text,
    street_number=opt_text,
    country=opt_text,
    zip_code=opt_text,
    city=opt_text,
    state=opt_text,
)
customers = st.builds(
    Customer,
    name=opt_text,
    phone=opt_text,
    email=opt_text,
    user_device=opt_text,
    user_agent=opt_text,
    ip=opt_text,
    address=st.none() | addresses,
    identify=st.none() | st.builds(Identification, number=opt_text, type=opt_text),
)
money = st.integers(min_value=0, max_value=2).flatmap(
    lambda places: st.decimals(
        min_value=Decimal("0.01"), max_value=Decimal("9999999999.99"), places=places
    )
)
countries = st.sampled_from(["BR", "AR", "GB"])
currencies = st.sampled_from(["BRL", "ARS", "GBP"])
short = st.none() | st.text(min_size=1, max_size=30)
payment_requests = st.builds(
    PaymentOptionsRequest,
    country=countries,
    currency=currencies,
    amount=money,
    redirect_url=st.just("https://merchant.example/r"),
    customer=customers,
    merchant_reference=short,
    language=st.none() | st.sampled_from(["EN", "ES", "PT"]),
    payment_reference=short,
    user_id=short,
    extra1=short,
    tax=short,
    shipping_address=st.none() | addresses,
    order_details=st.none()
    | st.lists(
        st.builds(
            OrderDetail,
            product_name=opt_text,
            quantity=st.none() | st.integers(0, 1000),
            dimensions=opt_text,
            description=opt_text,
        ),
        max_size=3,
    ).map(tuple),
)
payout_requests = st.builds(
    PayoutOptionsRequest,
    country=countries,
    currency=currencies,
    amount=money,
    redirect_url=st.just("https://merchant.example/r"),
    customer=customers,
    merchant_domain=short,
    user_id=short,
)
submit_requests = st.builds(
    SubmitRequest,
    session_id=text,
    payment_option_id=text,
    option_id=opt_text,
    extra_data=st.none() | st.dictionaries(text, text, max_size=4),
)
other_requests = (
    st.builds(SuboptionsRequest, session_id=text, payment_option_id=text)
    | st.builds(SettleRequest, action=st.sampled_from(["APPROVE", "DECLINE"]), transaction_id=text)
    | st.builds(RefundRequest, merchant_reference=text)
)


@FAST
@given(request=payment_requests | payout_requests | submit_requests | other_requests)
def test_request_round_trip(request: Any) -> None:
    """Every request model survives ``parse(type(x), to_plain(x)) == x``."""
    assert parse(type(request), to_plain(request)) == request


@FAST
@given(request=payment_requests | payout_requests | submit_requests | other_requests)
def test_request_wire_bytes_round_trip(request: Any) -> None:
    """The encoded bytes decode back to the same request (money equal to the cent)."""
    assert parse(type(request), loads(dumps(to_wire(request)))) == request


@FAST
@given(amount=money)
def test_money_survives_encode_decode(amount: Decimal) -> None:
    """A Decimal with at most 2 places goes out and comes back exactly."""
    request = PayoutOptionsRequest(
        country="AR",
        currency="ARS",
        amount=amount,
        redirect_url="https://r",
        customer=Customer(),
    )
    encoded = dumps(to_wire(request))
    assert orjson.loads(encoded)["amount"] == float(amount)
    assert format(amount, "f").encode() in encoded
    decoded = parse(
        Transaction,
        {"id": "t", "status": "COMPLETED", "paymentAmount": orjson.loads(encoded)["amount"]},
    )
    assert decoded.payment_amount == amount
