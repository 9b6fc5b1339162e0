"""Encoding and decoding at the sandbox's edge: exact money both ways, §5 error bodies.

Money is encoded by the SDK's own converter (:func:`kasha_async._convert.to_wire`
turns a ``Decimal`` into a JSON number with exactly its digits) and request JSON
is read with ``Decimal`` for every non-integer number, so ``130.00`` stays
``130.00`` and ``90071992547409.93`` keeps its value.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable, Mapping
from decimal import Decimal
from email.parser import BytesParser
from email.policy import HTTP
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from .._convert import to_wire
from .state import SandboxError

if TYPE_CHECKING:
    from .state import SandboxState
    from .webhooks import WebhookDispatcher


def dumps(payload: Any) -> bytes:
    """Encode an answer or webhook body; money through the SDK's own encoding."""
    return orjson.dumps(payload, default=to_wire)


#: Bodies above this size are refused with HTTP 413.
MAX_BODY_BYTES = 1024 * 1024
STATE_KEY: web.AppKey[SandboxState] = web.AppKey("kasha_sandbox_state")
WEBHOOKS_KEY: web.AppKey[WebhookDispatcher] = web.AppKey("kasha_sandbox_webhooks")


def json_response(payload: Any, status: int = 200) -> web.Response:
    """An ``application/json`` answer encoded once with orjson."""
    return web.Response(body=dumps(payload), status=status, content_type="application/json")


def error_response(exc: SandboxError, headers: Mapping[str, str] | None = None) -> web.Response:
    """The §5 error body with the error's HTTP status."""
    response = json_response(exc.body(), exc.http_status)
    if headers:
        response.headers.update(headers)
    return response


# --- request decoding ---------------------------------------------------------------------------


async def read_body(request: web.Request) -> bytes:
    """The raw request body; above :data:`MAX_BODY_BYTES` it is an HTTP 413."""
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise SandboxError(413, 413, f"Body larger than {MAX_BODY_BYTES} bytes.") from None


def _form_fields(request: web.Request, raw: bytes) -> dict[str, Any]:
    if request.content_type == "application/x-www-form-urlencoded":
        return dict(urllib.parse.parse_qsl(raw.decode("utf-8", "replace")))
    header = f"Content-Type: {request.headers.get('Content-Type', '')}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(header + raw)
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if isinstance(name, str):
            payload = part.get_payload(decode=True)
            fields[name] = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    return fields


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def decode_body(
    request: web.Request, raw: bytes, *, parse_float: Callable[[str], Any] = Decimal
) -> dict[str, Any]:
    """The JSON object (or form fields) of a request; anything else is code 1000.

    Non-integer numbers are ``Decimal`` (exact money); the control API asks for ``float``.
    """
    if request.content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        return _form_fields(request, raw)
    try:
        body = json.loads(raw, parse_float=parse_float, parse_constant=_no_constant)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise SandboxError(400, 1000, "Validation error: body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise SandboxError(400, 1000, "Validation error: body must be a JSON object.")
    return body
