"""The contract as an OpenAPI 3.1 document, built from the operation table and the models.

``python -m kasha_async.sandbox.openapi > kasha_async/openapi.json`` writes the
checked-in copy (a test keeps it in step); the sandbox serves the same document at
``GET /openapi.json`` with its own URL as the server. What comes from where:

- operations, methods, paths, summaries: :data:`kasha_async._operations.OPERATIONS`;
- request bodies: the request models' fields (names, types, which are required),
  with the reference's lengths and patterns added per field;
- statuses, settle actions and error codes: :mod:`kasha_async._codes`;
- the answers' wire shapes (CONTRACT.md §3 and §5) with the provider's quirks as
  ``oneOf`` where its own samples differ, and the reference's samples as examples
  (``_samples.json``, the same text as the test fixtures).

The sandbox checks every request body against these schemas before its rules run
(:func:`request_problems`), so "valid by the document" and "accepted by the
sandbox" are one rule.
"""

from __future__ import annotations

import enum
import functools
import json
import re
import sys
import types
import typing
from collections.abc import Mapping
from decimal import Decimal
from importlib import resources
from typing import Any

import attrs

from .. import _models as m
from .._codes import CODE_TABLE, TransactionStatus
from .._constants import MAX_AMOUNT_INTEGER_DIGITS, MAX_AMOUNT_SIGNIFICANT_DIGITS
from .._convert import to_camel
from .._models import CRYPTO_CURRENCIES
from .._operations import OPERATIONS
from .._signing import SIGNATURE_HEADER
from .triggers import SUCCESS_CARD

__all__ = ["openapi_document", "request_problems"]

Schema = dict[str, Any]
_REF = "#/components/schemas/"

#: HTTP statuses the API answers with the error body (CONTRACT.md §5), and what they mean.
ERROR_STATUSES: Mapping[int, str] = {
    400: "Validation (codes 1000-1009) or decline (994-999, 1100, 3000-3026)",
    401: "Bad or missing x-api-key, or a bad x-signature",
    404: "Unknown session or transaction",
    405: "Method not allowed on this path",
    409: "Session already used, payout not PENDING, or duplicate merchantReference (3017)",
    410: "Session expired (30 minutes)",
    413: "Body larger than 1 MB",
    429: "Rate limited; see Retry-After",
    500: "Server fault",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
}

# --- per-operation facts the table does not hold: bodies, answers, samples ------------------

#: Operation -> (request model, answer schema name, sample name in ``_samples.json``).
_BODIES: Mapping[str, tuple[type | None, str, str | None]] = {
    "payments.create_session": (m.PaymentOptionsRequest, "CashierLink", "payment-session"),
    "payouts.create_session": (m.PayoutOptionsRequest, "CashierLink", "payout-session"),
    "payments.options": (m.PaymentOptionsRequest, "PaymentOptionsAnswer", "payment-options"),
    "payments.suboptions": (m.SuboptionsRequest, "PaymentSuboptionsAnswer", "payment-suboptions"),
    "payments.post": (m.SubmitRequest, "PaymentAnswer", "payment"),
    "payments.hybrid": (m.SubmitRequest, "HybridAnswer", "hybrid-payment"),
    "payouts.options": (m.PayoutOptionsRequest, "PayoutOptionsAnswer", "payout-options"),
    "payouts.suboptions": (m.SuboptionsRequest, "PayoutSuboptionsAnswer", "payout-suboptions"),
    "payouts.create": (m.SubmitRequest, "PayoutAnswer", "payout"),
    "payouts.settle": (m.SettleRequest, "SettleAnswer", "settle-payout"),
    "refunds.create": (m.RefundRequest, "RefundAnswer", "refund"),
    "transactions.get": (None, "Transaction", "transaction"),
}

#: Constraints of the reference's field tables, by model and wire name.
_TEXT_255 = {"minLength": 1, "maxLength": 255}
_FIELD_RULES: Mapping[tuple[type, str], Schema] = {
    (m._InitiateRequest, "country"): {
        "pattern": "^[A-Z]{2}$",
        "maxLength": 2,  # with the pattern: no trailing newline, whatever the regex dialect
        "description": "ISO 3166 alpha-2",
    },
    (m._InitiateRequest, "currency"): {
        "pattern": "^[A-Z]{3}$",
        "maxLength": 3,
        "description": "ISO 4217",
    },
    (m._InitiateRequest, "redirectUrl"): {"minLength": 1, "maxLength": 500},
    (m._InitiateRequest, "merchantReference"): _TEXT_255
    | {"description": "Unique per merchant (3017 on a second post/create)"},
    (m._InitiateRequest, "language"): {
        "pattern": "^[A-Z]{2}$",
        "maxLength": 2,
        "description": "ISO 639 alpha-2, e.g. EN, ES, PT",
    },
    **{
        (m.PaymentOptionsRequest, name): _TEXT_255
        for name in ("paymentReference", "userId", "extra1", "extra2", "extra3", "tax")
    },
}
#: The documented quirk of the payout-options sample: ``customer.phone`` as a JSON number.
_PHONE = {
    "oneOf": [
        {"type": "string"},
        {"type": "integer", "description": "as in the reference's payout-options sample"},
        {"type": "null"},
    ]
}


@functools.cache
def _samples() -> Mapping[str, Any]:
    text = resources.files(__package__).joinpath("_samples.json").read_text("utf-8")
    samples: Mapping[str, Any] = json.loads(text)
    return samples


# --- schemas from the models -----------------------------------------------------------------


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, vars(m))


def _type_schema(hint: Any) -> Schema:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        schema = _type_schema(inner[0])
        if "type" in schema and isinstance(schema["type"], str):
            return {**schema, "type": [schema["type"], "null"]}
        return {"anyOf": [schema, {"type": "null"}]}
    if origin is tuple:
        return {"type": "array", "items": _type_schema(args[0])}
    if hint is Any:
        return {}
    if origin is not None and issubclass(origin, Mapping):
        return {"type": "object"}
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return {"type": "string", "enum": [member.value for member in hint]}
    if hint is Decimal:
        return {"$ref": _REF + "Amount"}
    if attrs.has(hint):
        return {"$ref": _REF + hint.__name__}
    return {"type": {str: "string", int: "integer", bool: "boolean"}[hint]}


def _rules_for(cls: type, wire: str) -> Schema:
    for klass in cls.__mro__:
        if (klass, wire) in _FIELD_RULES:
            return _FIELD_RULES[(klass, wire)]
    return {}


def _model_schema(cls: type) -> Schema:
    """An object schema from an attrs model: its fields, types and required ones."""
    hints = _hints(cls)
    properties: Schema = {}
    required = []
    for field in attrs.fields(cls):
        if field.name == "raw":
            continue
        wire = to_camel(field.name)
        if cls is m.Customer and wire == "phone":
            properties[wire] = _PHONE
            continue
        schema = _type_schema(hints[field.name])
        rules = _rules_for(cls, wire)
        if rules and "$ref" not in schema:
            schema = {**schema, **rules}
        properties[wire] = schema
        if field.default is attrs.NOTHING:
            required.append(wire)
    schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    if cls.__doc__:
        schema["description"] = cls.__doc__.strip().splitlines()[0].replace("``", "`")
    return schema


def _initiate_schema(cls: type) -> Schema:
    """An initiate request: the model's fields, and the amount's places by currency."""
    schema = _model_schema(cls)
    crypto = {"properties": {"currency": {"enum": sorted(CRYPTO_CURRENCIES)}}}
    schema["if"] = crypto | {"required": ["currency"]}
    schema["then"] = {"properties": {"amount": {"$ref": _REF + "CryptoAmount"}}}
    schema["else"] = {"properties": {"amount": {"$ref": _REF + "FiatAmount"}}}
    return schema


# --- the answers' wire shapes (CONTRACT.md §3, §5) -------------------------------------------


def _object(required: dict[str, Schema], optional: dict[str, Schema] | None = None) -> Schema:
    return {"type": "object", "properties": required | (optional or {}), "required": list(required)}


def _ref(name: str) -> Schema:
    return {"$ref": _REF + name}


_STRING: Schema = {"type": "string"}
_NULLABLE_STRING: Schema = {"type": ["string", "null"]}
_ERROR_CODES = sorted({str(code) for code in CODE_TABLE} | {str(code) for code in ERROR_STATUSES})


def _answer_schemas() -> dict[str, Schema]:
    status_code = _ref("StatusCode")
    ids = {"transactionId": _STRING, "sessionId": _STRING}
    submit_result = _object({"transactionId": _STRING}, {"redirectUrl": _STRING})
    return {
        "StatusCode": {
            "description": "The provider writes it as a string or a number: one integer",
            "oneOf": [{"type": "string", "pattern": "^[0-9]{1,4}$"}, {"type": "integer"}],
        },
        "Money": {
            "description": "An exact decimal amount; the provider's samples write integers",
            "oneOf": [{"type": "number"}, {"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?$"}],
        },
        "WireTime": {
            "description": "ISO 8601, or DD/MM/YYYY HH:MM:SS as in the refund sample",
            "oneOf": [
                {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}T"},
                {"type": "string", "pattern": "^[0-9]{2}/[0-9]{2}/[0-9]{4} [0-9:]{8}$"},
            ],
        },
        "TransactionStatus": {"type": "string", "enum": [s.value for s in TransactionStatus]},
        "FormValidations": {
            "type": ["object", "null"],
            "properties": {
                "minLength": {"type": "integer"},
                "maxLength": {"type": "integer"},
                "pattern": _STRING,
            },
        },
        "FormInput": _object(
            {"name": _STRING},
            {
                "label": _NULLABLE_STRING,
                "type": _NULLABLE_STRING,
                "values": {"type": "array"},
                "required": {"type": "boolean"},
                "validations": _ref("FormValidations"),
            },
        ),
        "PaymentOption": _object(
            {"paymentOptionId": _STRING},
            {
                "name": _NULLABLE_STRING,
                "logo": _NULLABLE_STRING,
                "extraData": {"type": "array", "items": _ref("FormInput")},
            },
        ),
        "Suboption": _object(
            {"id": _STRING},
            {
                "name": _NULLABLE_STRING,
                "logo": _NULLABLE_STRING,
                "uuid": _NULLABLE_STRING,
                "formInputs": {"type": "array", "items": _ref("FormInput")},
            },
        ),
        "CashierLink": _object(ids | {"cashierUrl": _STRING}),
        "InitiatedSession": _object(
            ids | {"paymentOptions": {"type": "array", "items": _ref("PaymentOption")}}
        ),
        "PaymentOptionsAnswer": _ref("InitiatedSession"),
        "PayoutOptionsAnswer": {
            "description": "Array-wrapped in the reference; the same object unwrapped is accepted",
            "oneOf": [
                {"type": "array", "items": _ref("InitiatedSession"), "minItems": 1, "maxItems": 1},
                _ref("InitiatedSession"),
            ],
        },
        "PaymentSuboptionsAnswer": _object(
            {
                "statusCode": status_code,
                "resultType": {"const": "option_choice"},
                "result": _object(
                    ids | {"paymentOptionId": _STRING},
                    {
                        "options": {
                            "description": "A list here; a single object in the payout answer",
                            "oneOf": [
                                {"type": "array", "items": _ref("Suboption")},
                                _ref("Suboption"),
                            ],
                        },
                        "formInputs": {"type": "array", "items": _ref("FormInput")},
                    },
                ),
            }
        ),
        "PayoutSuboptionsAnswer": {
            "description": "Array-wrapped; options is one object with formInputs inside",
            "oneOf": [
                {
                    "type": "array",
                    "items": _ref("PaymentSuboptionsAnswer"),
                    "minItems": 1,
                    "maxItems": 1,
                },
                _ref("PaymentSuboptionsAnswer"),
            ],
        },
        "SubmitAnswer": _object(
            {
                "statusCode": status_code,
                "resultType": {"enum": ["success", "redirect"]},
                "result": submit_result,
            }
        ),
        "PaymentAnswer": {
            "description": "Success or 3DS redirect; a decline may come as 200 with the error body",
            "oneOf": [_ref("SubmitAnswer"), _ref("ErrorBody")],
        },
        "HybridAnswer": _object(
            {
                "statusCode": status_code,
                "resultType": {"const": "redirect"},
                "result": submit_result,
            }
        ),
        "PayoutAnswer": _ref("SubmitAnswer"),
        "SettleAnswer": _object(
            {
                "statusCode": status_code,
                "status": _ref("TransactionStatus"),
                "transactionId": _STRING,
            },
            {"merchantReference": _NULLABLE_STRING, "result": _NULLABLE_STRING},
        ),
        "RefundAnswer": _object(
            {"status": _ref("TransactionStatus")},
            {
                "statusCode": status_code,
                "errorReason": _NULLABLE_STRING,
                "paymentAmount": _ref("Money"),
                "currency": _STRING,
                "country": _STRING,
                "paymentOptionName": _NULLABLE_STRING,
                "userId": _NULLABLE_STRING,
                "type": _NULLABLE_STRING,
                "_id": _STRING,
                "createdAt": _ref("WireTime"),
                "updatedAt": _ref("WireTime"),
            },
        ),
        "TransactionError": {
            "type": ["object", "null"],
            "properties": {
                "code": {"type": "string", "enum": sorted(str(c) for c in CODE_TABLE)},
                "msg": _NULLABLE_STRING,
            },
        },
        "Transaction": _object(
            {"id": _STRING, "status": _ref("TransactionStatus")},
            {
                "sessionId": _STRING,
                "country": _STRING,
                "currency": _STRING,
                "paymentAmount": _ref("Money"),
                "method": _NULLABLE_STRING,
                "paymentReference": _NULLABLE_STRING,
                "merchantReference": _NULLABLE_STRING,
                "customer": {"anyOf": [_ref("Customer"), {"type": "null"}]},
                "shippingAddress": {"anyOf": [_ref("Address"), {"type": "null"}]},
                "orderDetails": {"type": ["array", "null"], "items": _ref("OrderDetail")},
                "errors": _ref("TransactionError"),
                "createdAt": _ref("WireTime"),
                "updatedAt": _ref("WireTime"),
            },
        ),
        "ErrorBody": _object(
            {
                "statusCode": {"type": "string", "enum": _ERROR_CODES},
                "resultType": {"const": "error"},
                "errors": _object(
                    {"code": {"type": "string", "enum": _ERROR_CODES}, "msg": _STRING}
                ),
            },
            {"result": _object({"transactionId": _STRING})},
        ),
    }


def _amount_text(places: int) -> Schema:
    """A decimal string above zero: no exponent or sign, at most ``places`` places, below
    10^13 and at most 15 significant digits (the SDK's bound, ``_models.amount_problems``)."""
    integer_digits = MAX_AMOUNT_INTEGER_DIGITS - 1
    return {
        "anyOf": [
            {
                "type": "string",
                "pattern": f"^[1-9][0-9]{{0,{integer_digits}}}(\\.[0-9]{{1,{places}}})?$",
                "maxLength": MAX_AMOUNT_SIGNIFICANT_DIGITS + 1,
            },
            {
                "type": "string",
                "pattern": f"^0\\.0{{0,{places - 1}}}[1-9][0-9]*$",
                "maxLength": places + 2,
            },
        ]
    }


def _amount_number(places: int) -> Schema:
    """A JSON number above zero within the SDK's bound: below 10^k it may carry
    ``15 - k`` places (so never more than 15 significant digits), at most ``places``."""
    ranges = [
        {
            "type": "number",
            "exclusiveMinimum": 0,
            "exclusiveMaximum": 10**digits,
            "multipleOf": float(f"1e-{min(places, MAX_AMOUNT_SIGNIFICANT_DIGITS - digits)}"),
        }
        for digits in range(MAX_AMOUNT_SIGNIFICANT_DIGITS - places, MAX_AMOUNT_INTEGER_DIGITS + 1)
    ]
    return ranges[0] if len(ranges) == 1 else {"anyOf": ranges}


def _amount_schemas() -> dict[str, Schema]:
    return {
        "Amount": {
            "description": (
                "Major units, > 0 and below 10^13, at most 15 significant digits: at most "
                "2 decimal places, 8 for crypto currencies"
            ),
            "anyOf": [_amount_number(8), _amount_text(8)],
        },
        "FiatAmount": {"anyOf": [_amount_number(2), _amount_text(2)]},
        "CryptoAmount": {"anyOf": [_amount_number(8), _amount_text(8)]},
    }


_REQUEST_MODELS = (m.PaymentOptionsRequest, m.PayoutOptionsRequest)
_PARTS = (m.Address, m.Identification, m.Customer, m.OrderDetail)
_OTHER_REQUESTS = (m.SuboptionsRequest, m.SubmitRequest, m.SettleRequest, m.RefundRequest)


@functools.cache
def _schemas() -> dict[str, Schema]:
    schemas = _amount_schemas()
    for part in _PARTS + _OTHER_REQUESTS:
        schemas[part.__name__] = _model_schema(part)
    for initiate in _REQUEST_MODELS:
        schemas[initiate.__name__] = _initiate_schema(initiate)
    schemas["SettleRequest"]["properties"]["action"]["description"] = "APPROVE or DECLINE"
    return schemas | _answer_schemas()


# --- links: how the stateful fuzzer walks a flow -------------------------------------------
# (settle has no outgoing link on purpose: schemathesis starts its scenarios from the
# operations it deems "reliable roots", and a linked settle would be the only one.)

_TX = "$response.body#/transactionId"
_LINKS: Mapping[str, Mapping[str, Schema]] = {
    "payments.options": {
        "suboptions": {
            "operationId": "payments.suboptions",
            "requestBody": {
                "sessionId": "$response.body#/sessionId",
                "paymentOptionId": "$response.body#/paymentOptions/1/paymentOptionId",
            },
        },
        "post": {
            "operationId": "payments.post",
            "description": "Pay by card (the first option) with the sandbox's test card",
            "requestBody": {
                "sessionId": "$response.body#/sessionId",
                "paymentOptionId": "$response.body#/paymentOptions/0/paymentOptionId",
                "optionId": None,
                "extraData": {"cardnum": SUCCESS_CARD, "cardholder": "Jane Roe"},
            },
        },
        "status": {"operationId": "transactions.get", "parameters": {"transaction_id": _TX}},
    },
    "payouts.options": {
        "suboptions": {
            "operationId": "payouts.suboptions",
            "requestBody": {
                "sessionId": "$response.body#/0/sessionId",
                "paymentOptionId": "$response.body#/0/paymentOptions/0/paymentOptionId",
            },
        },
        "create": {
            "operationId": "payouts.create",
            "description": "Create the payout with the beneficiary's name its form requires",
            "requestBody": {
                "sessionId": "$response.body#/0/sessionId",
                "paymentOptionId": "$response.body#/0/paymentOptions/0/paymentOptionId",
                "optionId": None,
                "extraData": {"name": "Jane Roe"},
            },
        },
        "status": {
            "operationId": "transactions.get",
            "parameters": {"transaction_id": "$response.body#/0/transactionId"},
        },
    },
    "payouts.create": {
        "settle": {
            "operationId": "payouts.settle",
            "requestBody": {
                "action": "APPROVE",
                "transactionId": "$response.body#/result/transactionId",
            },
        },
        "status": {
            "operationId": "transactions.get",
            "parameters": {"transaction_id": "$response.body#/result/transactionId"},
        },
    },
    "payments.post": {
        "status": {
            "operationId": "transactions.get",
            "parameters": {"transaction_id": "$response.body#/result/transactionId"},
        }
    },
    "payments.create_session": {
        "status": {"operationId": "transactions.get", "parameters": {"transaction_id": _TX}}
    },
    "payouts.create_session": {
        "status": {"operationId": "transactions.get", "parameters": {"transaction_id": _TX}}
    },
}


# --- the document ----------------------------------------------------------------------------


def _json_content(schema: Schema, example: Any = None) -> Schema:
    content: Schema = {"schema": schema}
    if example is not None:
        content["examples"] = {"reference": {"summary": "The reference's sample", "value": example}}
    return content


def _operation(name: str) -> Schema:
    model, answer, sample = _BODIES[name]
    samples = _samples()
    ok: Schema = {
        "description": "Success",
        "content": {
            "application/json": _json_content(_ref(answer), samples["responses"].get(sample))
        },
    }
    if name in _LINKS:
        ok["links"] = dict(_LINKS[name])
    error = {"application/json": {"schema": _ref("ErrorBody")}}
    responses: Schema = {"200": ok} | {
        str(status): {"description": text, "content": error}
        for status, text in ERROR_STATUSES.items()
    }
    responses["429"]["headers"] = {
        "Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}
    }
    operation: Schema = {
        "operationId": name,
        "summary": OPERATIONS[name].summary,
        "x-safety": OPERATIONS[name].safety.value,
        "responses": responses,
    }
    if model is None:
        operation["parameters"] = [
            {"name": "transaction_id", "in": "path", "required": True, "schema": _STRING}
        ]
    else:
        body = {
            "application/json": _json_content(_ref(model.__name__), samples["requests"][sample])
        }
        if name == "payments.suboptions":
            body["multipart/form-data"] = {"schema": _ref(model.__name__)}
        operation["requestBody"] = {"required": True, "content": body}
    return operation


def openapi_document(server_url: str = "http://127.0.0.1:8080") -> dict[str, Any]:
    """The OpenAPI 3.1 document of the contract, with ``server_url`` as its one server."""
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS.values():
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op.name)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Kasha payments API v2",
            "version": "2",
            "description": (
                "The wire contract of the Kasha API v2 as kasha-async builds to it: the "
                "provider's reference and CONTRACT.md. Generated from the SDK's operation "
                "table and models (python -m kasha_async.sandbox.openapi)."
            ),
        },
        "servers": [{"url": server_url}],
        "security": [{"apiKey": [], "signature": []}, {"apiKey": []}],
        "paths": paths,
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
                "signature": {
                    "type": "apiKey",
                    "in": "header",
                    "name": SIGNATURE_HEADER,
                    "description": "base64(HMAC-SHA256(signature key, exact body bytes))",
                },
            },
        },
    }


# --- the sandbox's request check: the document's request schemas, enforced ------------------


def _is_type(value: Any, kind: str) -> bool:
    if kind == "null":
        return value is None
    if kind == "boolean":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind == "integer":
        return isinstance(value, int) or (
            isinstance(value, Decimal) and value == value.to_integral()
        )
    if kind == "number":
        return isinstance(value, int | float | Decimal)
    return isinstance(value, {"string": str, "object": dict, "array": list}[kind])


def _exponent(number: Decimal) -> int:
    """The exponent of ``number`` without trailing zeros (``130.00`` -> 0, ``0.01`` -> -2).

    ``%`` would raise on ``1E+999999``; the exponent never does.
    """
    exponent = number.normalize().as_tuple().exponent
    return exponent if isinstance(exponent, int) else 0


def _problems(schema: Schema, value: Any, where: str) -> list[str]:
    schemas = _schemas()
    if "$ref" in schema:
        return _problems(schemas[schema["$ref"].removeprefix(_REF)], value, where)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            branches = [_problems(branch, value, where) for branch in schema[key]]
            if all(branches):
                return min(branches, key=len)
    kinds = schema.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if not any(_is_type(value, kind) for kind in kinds):
            return [f"{where}: must be {' or '.join(kinds)}"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{where}: must be one of {schema['enum']}"]
    problems: list[str] = []
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0) or len(value) > schema.get("maxLength", 10**9):
            problems.append(f"{where}: length out of bounds")
        if "pattern" in schema and re.search(schema["pattern"], value) is None:
            problems.append(f"{where}: does not match {schema['pattern']}")
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        number = Decimal(str(value))
        if "exclusiveMinimum" in schema and number <= schema["exclusiveMinimum"]:
            problems.append(f"{where}: must be above {schema['exclusiveMinimum']}")
        step = schema.get("multipleOf")  # always a power of ten here: compare exponents
        if step is not None and _exponent(number) < _exponent(Decimal(str(step))):
            problems.append(f"{where}: more decimal places than allowed")
    if isinstance(value, dict):
        problems += [
            f"{where}.{key}: required" for key in schema.get("required", ()) if key not in value
        ]
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                problems += _problems(sub, value[key], f"{where}.{key}")
        if "if" in schema:
            branch = "then" if not _problems(schema["if"], value, where) else "else"
            problems += _problems(schema[branch], value, where)
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            problems += _problems(schema["items"], item, f"{where}[{index}]")
    return problems


def request_problems(operation: str, body: Mapping[str, Any]) -> list[str]:
    """What makes ``body`` invalid for ``operation`` by the document (empty when valid)."""
    model = _BODIES[operation][0]
    if model is None:
        return []
    return _problems(_ref(model.__name__), dict(body), "body")


def main() -> None:
    """Print the document (``python -m kasha_async.sandbox.openapi > kasha_async/openapi.json``)."""
    sys.stdout.write(json.dumps(openapi_document(), indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
