"""``GET /openapi.json``: the endpoints as the sandbox implements them, built from ROUTES."""

from __future__ import annotations

from typing import Any

from .._operations import OPERATIONS, ROUTES

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
        "summary": OPERATIONS[name].summary,
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
