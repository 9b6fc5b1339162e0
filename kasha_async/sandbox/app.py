"""The sandbox's HTTP face: the 12 routes of CONTRACT.md §3, the ``/_sandbox`` control API.

One middleware does, in order: count the request, apply injected faults that
come before processing, check ``x-api-key`` and ``x-signature``, run the
handler, apply the faults that come after the state change. Every refusal is
the §5 error body; nothing answers a traceback.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import socket
import struct
import warnings
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from .._operations import OPERATIONS
from .._signing import verify
from ._wire import (
    MAX_BODY_BYTES,
    STATE_KEY,
    WEBHOOKS_KEY,
    decode_body,
    error_response,
    json_response,
    read_body,
)
from .cashier import add_cashier_routes
from .control import add_control_routes
from .faults import BEFORE_HANDLER, FaultKind, FaultRule
from .state import Payload, SandboxError, SandboxState
from .webhooks import WebhookDispatcher

CONTROL = "control"
UNMATCHED = "unmatched"
#: Control paths that stay open when the key is required: the pages a customer's browser
#: opens from ``cashierUrl``/``redirectUrl`` (the session or transaction id is the capability,
#: as on the provider's hosted pages).
_CONTROL_PREFIX = "/_sandbox/"
_BROWSER_PAGES = ("/_sandbox/cashier/", "/_sandbox/3ds/")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Operation = Callable[[SandboxState, Mapping[str, Any], str], Payload]

#: Operation name (a key of :data:`~kasha_async._operations.OPERATIONS`) -> what the state does
#: with the request: its decoded body (a GET: its path parameters) and the server's origin.
#: The only mapping of names to handlers; methods and paths come from the operation table.
_OPERATIONS: Mapping[str, Operation] = {
    "payments.create_session": lambda s, b, o: s.initiate("payment", b, cashier_origin=o),
    "payouts.create_session": lambda s, b, o: s.initiate("payout", b, cashier_origin=o),
    "payments.options": lambda s, b, o: s.initiate("payment", b),
    "payments.suboptions": lambda s, b, o: s.suboptions("payment", b),
    "payments.post": lambda s, b, o: s.post_payment(b, origin=o),
    "payments.hybrid": lambda s, b, o: s.hybrid(b, origin=o),
    "payouts.options": lambda s, b, o: s.initiate("payout", b),
    "payouts.suboptions": lambda s, b, o: s.suboptions("payout", b),
    "payouts.create": lambda s, b, o: s.create_payout(b),
    "payouts.settle": lambda s, b, o: s.settle(b),
    "refunds.create": lambda s, b, o: s.refund(b),
    "transactions.get": lambda s, b, o: s.get_transaction(b["transaction_id"]),
}
_HTML_ERROR = (
    b"<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>"
)


def _origin(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def _require_key(request: web.Request, state: SandboxState) -> None:
    given = request.headers.get("x-api-key", "").encode("utf-8", "replace")
    if not hmac.compare_digest(given, state.api_key.encode("utf-8")):
        raise SandboxError(401, 401, "Invalid or missing x-api-key.")


def _authenticate(request: web.Request, state: SandboxState, raw: bytes) -> None:
    _require_key(request, state)
    signature = request.headers.get("x-signature")
    if (
        state.signature_key
        and signature is not None
        and not verify(state.signature_key, raw, signature)
    ):
        raise SandboxError(401, 401, "Invalid x-signature.")


# --- faults ----------------------------------------------------------------------------------


def _reset(request: web.Request) -> None:
    """Abort the connection with a TCP RST, so the client sees a reset, not an answer."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def _fault_before(request: web.Request, rule: FaultRule) -> web.StreamResponse:
    kind = rule.kind
    if kind is FaultKind.RESET_BEFORE:
        _reset(request)
        return web.Response(status=204)
    if kind is FaultKind.NON_JSON_BODY:
        return web.Response(body=_HTML_ERROR, status=rule.status or 502, content_type="text/html")
    if kind is FaultKind.RATE_LIMIT:
        exc = SandboxError(429, 429, "Too many requests (sandbox fault).")
        return error_response(exc, {"Retry-After": str(rule.retry_after)})
    status = int(kind.value.removeprefix("status_"))
    return error_response(SandboxError(status, status, f"Sandbox fault: HTTP {status}."))


async def _fault_after(
    request: web.Request, rule: FaultRule, response: web.Response
) -> web.StreamResponse:
    if rule.kind is FaultKind.RESET_AFTER_COMMIT:
        _reset(request)
        return response
    body = response.body if isinstance(response.body, bytes) else b""
    truncated = web.StreamResponse(status=response.status)
    truncated.content_type = response.content_type
    truncated.content_length = len(body)
    await truncated.prepare(request)
    await truncated.write(body[: len(body) // 2])
    _reset(request)
    return truncated


# --- binding beyond loopback ----------------------------------------------------------------


def is_loopback(host: str | None) -> bool:
    """Whether binding ``host`` serves this machine only (``""``/``None`` bind every interface)."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name may resolve to any interface: treat it as exposed


def check_bind_host(state: SandboxState, host: str | None) -> None:
    """Before binding ``host``: beyond loopback, warn loudly and require the key on control.

    The ``/_sandbox`` routes change balances and clocks and the sandbox posts webhooks
    to any ``notificationUrl``; on loopback they stay open for tests, elsewhere they
    take the same ``x-api-key`` as the API (the browser pages excepted).
    """
    if is_loopback(host):
        return
    state.control_requires_key = True
    warnings.warn(
        f"Kasha sandbox bound to {host or 'every interface'!r}, beyond loopback: anyone who "
        "can reach it can call it, and it posts webhooks to any notificationUrl. The "
        "/_sandbox control routes now require the x-api-key; do not use the default key.",
        UserWarning,
        stacklevel=3,
    )


def _is_protected_control(path: str) -> bool:
    return path.startswith(_CONTROL_PREFIX) and not path.startswith(_BROWSER_PAGES)


# --- the middleware --------------------------------------------------------------------------


def _endpoint_name(request: web.Request) -> str:
    match = request.match_info
    if match.http_exception is not None:
        return UNMATCHED
    name = match.route.name
    return name if name is not None and name in OPERATIONS else CONTROL


async def _serve_api(
    request: web.Request, handler: Handler, state: SandboxState, name: str
) -> web.StreamResponse:
    latency, rule = state.faults.pick(name)
    if latency:
        await asyncio.sleep(latency)
    if rule is not None and rule.kind in BEFORE_HANDLER:
        return _fault_before(request, rule)
    try:
        _authenticate(request, state, await read_body(request))
        response = await handler(request)
    except SandboxError as exc:
        response = error_response(exc)
    if rule is not None and isinstance(response, web.Response):
        return await _fault_after(request, rule, response)
    return response


def _unmatched(request: web.Request) -> web.StreamResponse:
    """404 for an unknown path; 405 for a known one, with the ``Allow`` header RFC 9110 wants."""
    http_exception = request.match_info.http_exception
    assert http_exception is not None
    status = http_exception.status
    error = SandboxError(status, status, f"No route {request.method} {request.path}.")
    if isinstance(http_exception, web.HTTPMethodNotAllowed):
        return error_response(error, {"Allow": ", ".join(sorted(http_exception.allowed_methods))})
    return error_response(error)


@web.middleware
async def _guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    name = _endpoint_name(request)
    state.count_request(name)
    try:
        if name == UNMATCHED:
            return _unmatched(request)
        if name == CONTROL:
            if state.control_requires_key and _is_protected_control(request.path):
                _require_key(request, state)
            return await handler(request)
        return await _serve_api(request, handler, state, name)
    except SandboxError as exc:
        return error_response(exc)
    except Exception as exc:  # a sandbox bug: answer the contract's body, keep the evidence
        state.internal_errors.append(f"{request.method} {request.path}: {exc!r}")
        return error_response(SandboxError(500, 500, "Internal sandbox error."))


# --- handlers --------------------------------------------------------------------------------


def _check_request(operation: str, body: Mapping[str, Any]) -> None:
    """Refuse a body the OpenAPI document calls invalid: 1009 for the amount, else 1000."""
    from .openapi import request_problems  # imported here: `python -m ...openapi` runs it

    problems = request_problems(operation, body)
    if problems:
        code = 1009 if problems[0].startswith("body.amount") else 1000
        message = "Invalid amount" if code == 1009 else "Validation error"
        raise SandboxError(400, code, f"{message}: " + "; ".join(problems)[:300])


def _api_handler(name: str, operation: Operation) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        if request.method == "GET":
            body: Mapping[str, Any] = request.match_info
        else:
            body = decode_body(request, await request.read())
            _check_request(name, body)
        payload = operation(request.app[STATE_KEY], body, _origin(request))
        return json_response(payload)

    return handler


def _add_api_routes(app: web.Application) -> None:
    for op in OPERATIONS.values():
        app.router.add_route(
            op.method, op.path, _api_handler(op.name, _OPERATIONS[op.name]), name=op.name
        )


async def _cleanup(app: web.Application) -> None:
    app[STATE_KEY].cancel_timers()
    await app[WEBHOOKS_KEY].close()


def create_app(state: SandboxState, webhooks: WebhookDispatcher | None = None) -> web.Application:
    """Build the sandbox application around ``state`` (for embedding, e.g. in a demo)."""
    app = web.Application(middlewares=[_guard], client_max_size=MAX_BODY_BYTES)
    app[STATE_KEY] = state
    app[WEBHOOKS_KEY] = webhooks or WebhookDispatcher(secret=state.signature_key or state.api_key)
    state.add_listener(app[WEBHOOKS_KEY].on_status_change)
    _add_api_routes(app)
    add_control_routes(app)
    add_cashier_routes(app)
    app.router.add_get("/openapi.json", _openapi, name="openapi")
    app.on_cleanup.append(_cleanup)
    return app


async def _openapi(request: web.Request) -> web.StreamResponse:
    from .openapi import openapi_document

    return json_response(openapi_document(_origin(request)))
