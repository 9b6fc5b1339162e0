"""The ``/_sandbox/...`` control API: faults, clock, ledger, webhooks, pending transactions.

These routes take no API key, are never faulted, and are counted as ``"control"``.
They mirror the Python methods of :class:`~kasha_async.sandbox.Sandbox`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import attrs
from aiohttp import web

from ._wire import STATE_KEY, WEBHOOKS_KEY, decode_body, json_response
from .state import SandboxError


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    return decode_body(request, raw, parse_float=float) if raw else {}


def _bad_request(exc: Exception) -> SandboxError:
    return SandboxError(400, 1000, f"Validation error: {exc}")


async def _ledger(request: web.Request) -> web.StreamResponse:
    return json_response(request.app[STATE_KEY].ledger().to_json())


async def _list_faults(request: web.Request) -> web.StreamResponse:
    return json_response([rule.to_json() for rule in request.app[STATE_KEY].faults.rules])


async def _add_fault(request: web.Request) -> web.StreamResponse:
    body = await _body(request)
    try:
        rule = request.app[STATE_KEY].faults.add(**body)
    except (TypeError, ValueError) as exc:
        raise _bad_request(exc) from None
    return json_response(rule.to_json(), status=201)


async def _clear_faults(request: web.Request) -> web.StreamResponse:
    request.app[STATE_KEY].faults.clear()
    return json_response({"cleared": True})


async def _reseed(request: web.Request) -> web.StreamResponse:
    seed = (await _body(request)).get("seed")
    try:
        request.app[STATE_KEY].faults.reseed(seed)
    except TypeError as exc:
        raise _bad_request(exc) from None
    return json_response({"seed": seed})


async def _advance_clock(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    try:
        state.clock.advance(float((await _body(request))["seconds"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise _bad_request(exc) from None
    return json_response({"now": state.clock.now(), "offset": state.clock.offset})


async def _complete(request: web.Request) -> web.StreamResponse:
    state, tx_id = request.app[STATE_KEY], request.match_info["transaction_id"]
    state.complete(tx_id)
    return json_response(state.get_transaction(tx_id))


async def _fail(request: web.Request) -> web.StreamResponse:
    state, tx_id = request.app[STATE_KEY], request.match_info["transaction_id"]
    state.fail(tx_id, (await _body(request)).get("code", 3001))  # the state checks the code
    return json_response(state.get_transaction(tx_id))


async def _settle_processing(request: web.Request) -> web.StreamResponse:
    body = await _body(request)
    ids = request.app[STATE_KEY].settle_processing(body.get("transactionId"), body.get("code"))
    return json_response({"settled": ids})


async def _webhooks(request: web.Request) -> web.StreamResponse:
    deliveries = request.app[WEBHOOKS_KEY].deliveries
    return json_response([attrs.asdict(d) for d in deliveries])


_ROUTES: tuple[tuple[str, str, Callable[[web.Request], Awaitable[web.StreamResponse]]], ...] = (
    ("GET", "/_sandbox/ledger", _ledger),
    ("GET", "/_sandbox/faults", _list_faults),
    ("POST", "/_sandbox/faults", _add_fault),
    ("DELETE", "/_sandbox/faults", _clear_faults),
    ("POST", "/_sandbox/faults/seed", _reseed),
    ("POST", "/_sandbox/clock/advance", _advance_clock),
    ("POST", "/_sandbox/transactions/{transaction_id}/complete", _complete),
    ("POST", "/_sandbox/transactions/{transaction_id}/fail", _fail),
    ("POST", "/_sandbox/payouts/settle-processing", _settle_processing),
    ("GET", "/_sandbox/webhooks", _webhooks),
)


def add_control_routes(app: web.Application) -> None:
    """Register the ``/_sandbox`` routes on ``app``."""
    for method, path, handler in _ROUTES:
        app.router.add_route(method, path, handler)
