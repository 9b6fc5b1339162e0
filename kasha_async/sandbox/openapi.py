"""``GET /openapi.json``: the endpoints as the sandbox implements them, built from ROUTES."""

from __future__ import annotations

from typing import Any

from .._constants import ROUTES

_SUMMARIES = {
    "payments.create_session": "Hosted cashier payment link",
    "payouts.create_session": "Hosted cashier payout link",
    "payments.options": "Initiate a payment and list its options",
    "payments.suboptions": "Payment suboptions (JSON or multipart/form-data)",
    "payments.post": "Post the session's one payment",
    "payments.hybrid": "Hosted cashier link for a preselected option",
    "payouts.options": "Initiate a payout and list its options (array-wrapped)",
    "payouts.suboptions": "Payout suboptions (array-wrapped, one options object)",
    "payouts.create": "Create the session's one payout (PENDING)",
    "payouts.settle": "APPROVE or DECLINE a PENDING payout",
    "refunds.create": "Refund a COMPLETED payment by merchantReference",
    "transactions.get": "Transaction status",
}
_ERRORS = {
    "400": "Validation (1000-1009) or decline (994-999, 1100, 3000-3026)",
    "401": "Bad x-api-key or x-signature",
    "404": "Unknown session or transaction",
    "409": "Session already used, payout not PENDING, or duplicate merchantReference (3017)",
    "410": "Session expired (30 minutes)",
    "413": "Body larger than 1 MB",
}
_OBJECT = {"schema": {"type": "object"}}


def _operation(name: str, method: str) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": name,
        "summary": _SUMMARIES[name],
        "security": [{"apiKey": []}],
        "responses": {"200": {"description": "Success", "content": {"application/json": _OBJECT}}}
        | {code: {"description": text} for code, text in _ERRORS.items()},
    }
    if method == "POST":
        content = {"application/json": _OBJECT}
        if name == "payments.suboptions":
            content["multipart/form-data"] = _OBJECT
        operation["requestBody"] = {"required": True, "content": content}
    else:
        operation["parameters"] = [
            {"name": "transaction_id", "in": "path", "required": True, "schema": {"type": "string"}}
        ]
    return operation


def openapi_document(server_url: str) -> dict[str, Any]:
    """An OpenAPI 3.1 document for the sandbox at ``server_url``."""
    paths: dict[str, dict[str, Any]] = {}
    for name, (method, path) in ROUTES.items():
        paths.setdefault(path, {})[method.lower()] = _operation(name, method)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Kasha API v2 (kasha-async sandbox)", "version": "2"},
        "servers": [{"url": server_url}],
        "paths": paths,
        "components": {
            "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"}}
        },
    }
