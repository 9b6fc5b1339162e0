"""The OpenAPI document: valid 3.1, in step with the code, true to the reference's samples."""

from __future__ import annotations

import json
from decimal import Decimal
from importlib import resources
from typing import Any

import aiohttp
import jsonschema  # type: ignore[import-untyped]
import pytest
from openapi_spec_validator import validate

import kasha_async
from kasha_async import (
    CashierLink,
    InitiatedSession,
    Refund,
    SettleResult,
    SubmitResult,
    Suboptions,
    Transaction,
)
from kasha_async._codes import CODE_TABLE, SettleAction, TransactionStatus
from kasha_async._convert import parse
from kasha_async._operations import OPERATIONS
from kasha_async.sandbox import Sandbox
from kasha_async.sandbox.openapi import openapi_document, request_problems
from tests.fixtures import REQUEST_SAMPLES, RESPONSE_SAMPLES, request_sample, sample

DOC = openapi_document()
SCHEMAS = DOC["components"]["schemas"]
#: The SDK model each operation's answer parses into.
ANSWER_MODELS: dict[str, type] = {
    "payments.create_session": CashierLink,
    "payouts.create_session": CashierLink,
    "payments.options": InitiatedSession,
    "payouts.options": InitiatedSession,
    "payments.suboptions": Suboptions,
    "payouts.suboptions": Suboptions,
    "payments.post": SubmitResult,
    "payments.hybrid": SubmitResult,
    "payouts.create": SubmitResult,
    "payouts.settle": SettleResult,
    "refunds.create": Refund,
    "transactions.get": Transaction,
}
#: The reference fixture of each operation (request and 200 answer share the name).
FIXTURE_OF = {
    "payments.create_session": "payment-session",
    "payouts.create_session": "payout-session",
    "payments.options": "payment-options",
    "payouts.options": "payout-options",
    "payments.suboptions": "payment-suboptions",
    "payouts.suboptions": "payout-suboptions",
    "payments.post": "payment",
    "payments.hybrid": "hybrid-payment",
    "payouts.create": "payout",
    "payouts.settle": "settle-payout",
    "refunds.create": "refund",
    "transactions.get": "transaction",
}
REDIRECT = "https://merchant.example/return"


def _operation(name: str) -> dict[str, Any]:
    op = OPERATIONS[name]
    operation: dict[str, Any] = DOC["paths"][op.path][op.method.lower()]
    return operation


def _validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator({**schema, "components": DOC["components"]})


def _answer_schema(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = _operation(name)["responses"]["200"]["content"]["application/json"][
        "schema"
    ]
    return schema


def test_the_document_validates_against_the_openapi_3_1_meta_schema() -> None:
    """openapi-spec-validator accepts the document as OpenAPI 3.1 (schemas, links, security)."""
    validate(DOC)
    assert DOC["openapi"].startswith("3.1")


def test_the_checked_in_file_is_what_the_code_generates() -> None:
    """kasha_async/openapi.json == ``python -m kasha_async.sandbox.openapi`` (regenerate it)."""
    text = resources.files(kasha_async).joinpath("openapi.json").read_text("utf-8")
    assert json.loads(text) == DOC


def test_every_operation_of_the_table_is_in_the_document() -> None:
    """One document operation per table row: same method, path, operationId and summary."""
    found = {
        op["operationId"]: (method.upper(), path, op["summary"])
        for path, methods in DOC["paths"].items()
        for method, op in methods.items()
    }
    assert found == {op.name: (op.method, op.path, op.summary) for op in OPERATIONS.values()}


def test_enums_come_from_the_code_tables() -> None:
    """Statuses, settle actions and error codes are the SDK's own enums, not copies."""
    assert SCHEMAS["TransactionStatus"]["enum"] == [s.value for s in TransactionStatus]
    assert SCHEMAS["SettleRequest"]["properties"]["action"]["enum"] == [
        a.value for a in SettleAction
    ]
    codes = SCHEMAS["TransactionError"]["properties"]["code"]["enum"]
    assert sorted(map(int, codes)) == sorted(CODE_TABLE)
    assert set(codes) <= set(SCHEMAS["ErrorBody"]["properties"]["statusCode"]["enum"])


def test_both_security_schemes_are_declared() -> None:
    """x-api-key is required everywhere; x-signature is declared as the optional second scheme."""
    schemes = DOC["components"]["securitySchemes"]
    assert {(s["in"], s["name"]) for s in schemes.values()} == {
        ("header", "x-api-key"),
        ("header", "x-signature"),
    }
    assert all("apiKey" in requirement for requirement in DOC["security"])


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_every_error_answer_is_the_error_body(name: str) -> None:
    """Each documented non-200 answer carries the §5 error body schema."""
    responses = _operation(name)["responses"]
    errors = {code: r for code, r in responses.items() if code != "200"}
    assert {"400", "401", "404", "409", "410", "429"} <= set(errors)
    for response in errors.values():
        assert response["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorBody"
        }


@pytest.mark.parametrize("name", sorted(RESPONSE_SAMPLES))
def test_every_reference_answer_sample_fits_its_schema(name: str) -> None:
    """The provider's own 200 samples (array-wrapped, string or number codes) validate."""
    operation = next(op for op, fixture in FIXTURE_OF.items() if fixture == name)
    _validator(_answer_schema(operation)).validate(sample(name))


@pytest.mark.parametrize("name", sorted(REQUEST_SAMPLES))
def test_every_reference_request_sample_fits_its_schema(name: str) -> None:
    """The reference's request samples validate (initiate ones with the redirectUrl they omit)."""
    operation = next(op for op, fixture in FIXTURE_OF.items() if fixture == name)
    body = request_sample(name)
    if "amount" in body:
        body = {"redirectUrl": REDIRECT, **body}
    schema = _operation(operation)["requestBody"]["content"]["application/json"]["schema"]
    _validator(schema).validate(body)
    assert request_problems(operation, body) == []


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_every_example_is_a_reference_sample_and_parses_with_the_models(name: str) -> None:
    """The document's examples are the fixtures, fit their schema, and parse with the SDK."""
    operation = _operation(name)
    answer = operation["responses"]["200"]["content"]["application/json"]
    fixture = FIXTURE_OF[name]
    if fixture in RESPONSE_SAMPLES:
        example = answer["examples"]["reference"]["value"]
        assert example == sample(fixture)
        _validator(answer["schema"]).validate(example)
        parse(ANSWER_MODELS[name], example)
    else:
        assert "examples" not in answer  # the reference prints no sample for this answer
    if "requestBody" in operation:
        request = operation["requestBody"]["content"]["application/json"]
        example = request["examples"]["reference"]["value"]
        assert {k: v for k, v in example.items() if k != "redirectUrl"} == {
            k: v for k, v in request_sample(fixture).items() if k != "redirectUrl"
        }
        _validator(request["schema"]).validate(example)


def test_the_documented_quirks_are_one_of_choices() -> None:
    """String-or-number statusCode and phone, wrapped-or-not payout answers are ``oneOf``."""
    assert len(SCHEMAS["StatusCode"]["oneOf"]) == 2
    assert len(SCHEMAS["PayoutOptionsAnswer"]["oneOf"]) == 2
    assert len(SCHEMAS["PayoutSuboptionsAnswer"]["oneOf"]) == 2
    assert len(SCHEMAS["Customer"]["properties"]["phone"]["oneOf"]) == 3
    wrapped = _validator(_answer_schema("payouts.options"))
    wrapped.validate(sample("payout-options")[0])  # unwrapped is accepted too


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"amount": "130.001"}, "body.amount"),
        ({"amount": 0}, "body.amount"),
        ({"country": "br"}, "body.country"),
        ({"country": "BR\n"}, "body.country"),
        ({"customer": {"name": 7}}, "body.customer.name"),
        ({"redirectUrl": ""}, "body.redirectUrl"),
    ],
)
def test_the_sandbox_check_refuses_what_the_document_refuses(
    body: dict[str, Any], problem: str
) -> None:
    """request_problems (the sandbox's check) names the field the document's schema rejects."""
    base = {**request_sample("payment-options"), "redirectUrl": REDIRECT}
    full = {**base, **body}
    assert any(p.startswith(problem) for p in request_problems("payments.options", full))
    errors = list(_validator(SCHEMAS["PaymentOptionsRequest"]).iter_errors(full))
    assert errors, "the document must refuse it too"


def test_crypto_amounts_take_eight_places_fiat_two() -> None:
    """``0.00000001`` is valid for BTC and not for BRL, in the document and the sandbox."""
    base = {**request_sample("payment-options"), "redirectUrl": REDIRECT}
    btc = {**base, "currency": "BTC", "amount": "0.00000001"}
    brl = {**base, "currency": "BRL", "amount": "0.00000001"}
    validator = _validator(SCHEMAS["PaymentOptionsRequest"])
    assert validator.is_valid(btc)
    assert not validator.is_valid(brl)
    assert request_problems("payments.options", btc) == []
    assert request_problems("payments.options", brl) != []


async def test_the_sandbox_serves_the_document_with_its_own_url() -> None:
    """GET /openapi.json is the document with the running sandbox as its server."""
    async with (
        Sandbox() as sb,
        aiohttp.ClientSession() as http,
        http.get(f"{sb.base_url}/openapi.json") as resp,
    ):
        assert resp.status == 200
        served = await resp.json()
    assert served == openapi_document(sb.base_url)
    assert served["servers"] == [{"url": sb.base_url}]


@pytest.mark.parametrize(
    ("amount", "valid"),
    [
        (Decimal("130.00"), True),
        (Decimal("130.000"), True),
        (Decimal("0.01"), True),
        (Decimal("0.001"), False),
        (Decimal("1E+999999"), True),
        (Decimal("-1"), False),
    ],
)
def test_the_amount_check_never_raises(amount: Decimal, valid: bool) -> None:
    """Places are compared by exponent: a huge amount is checked, never a 500."""
    body = {**request_sample("payment-options"), "redirectUrl": REDIRECT, "amount": amount}
    assert (request_problems("payments.options", body) == []) is valid
