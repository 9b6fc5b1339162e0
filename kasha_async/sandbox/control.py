"""The ``/_sandbox/...`` control API: faults, clock, ledger, webhooks, pending transactions.

These routes take no API key, are never faulted, and are counted as ``"control"``.
They mirror the Python methods of :class:`~kasha_async.sandbox.Sandbox`.
"""

from __future__ import annotations

from typing import Any

import attrs
from aiohttp import web

from ._wire import STATE_KEY, WEBHOOKS_KEY, decode_body, json_response
from .state import SandboxError

_PAGE = "<html><body><h1>Kasha sandbox {what}</h1><p>{hint}</p></body></html>"


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    return decode_body(request, raw) if raw else {}


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
    request.app[STATE_KEY].faults.reseed(seed)
    return json_response({"seed": seed})


async def _advance_clock(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    try:
        state.clock.advance(float((await _body(request))["seconds"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise _bad_request(exc) from None
    return json_response({"now": state.clock.now(), "offset": state.clock.offset})


async def _complete(request: web.Request) -> web.StreamResponse:
    tx_id = request.match_info["transaction_id"]
    request.app[STATE_KEY].complete(tx_id)
    return json_response(request.app[STATE_KEY].get_transaction(tx_id))


async def _fail(request: web.Request) -> web.StreamResponse:
    tx_id = request.match_info["transaction_id"]
    code = (await _body(request)).get("code", 3001)
    if not isinstance(code, int):
        raise _bad_request(ValueError("code must be an integer"))
    request.app[STATE_KEY].fail(tx_id, code)
    return json_response(request.app[STATE_KEY].get_transaction(tx_id))


async def _settle_processing(request: web.Request) -> web.StreamResponse:
    body = await _body(request)
    ids = request.app[STATE_KEY].settle_processing(body.get("transactionId"), body.get("code"))
    return json_response({"settled": ids})


async def _webhooks(request: web.Request) -> web.StreamResponse:
    deliveries = request.app[WEBHOOKS_KEY].deliveries
    return json_response([attrs.asdict(d) for d in deliveries])


async def _cashier_page(request: web.Request) -> web.StreamResponse:
    hint = "Finish it with POST /_sandbox/transactions/{id}/complete."
    return web.Response(
        text=_PAGE.format(what="hosted cashier", hint=hint), content_type="text/html"
    )


async def _three_ds_page(request: web.Request) -> web.StreamResponse:
    tx_id = request.match_info["transaction_id"]
    hint = f"POST /_sandbox/transactions/{tx_id}/complete or /fail to finish 3DS."
    return web.Response(
        text=_PAGE.format(what="3DS challenge", hint=hint), content_type="text/html"
    )


def add_control_routes(app: web.Application) -> None:
    """Register the ``/_sandbox`` routes on ``app``."""
    router = app.router
    router.add_get("/_sandbox/ledger", _ledger)
    router.add_get("/_sandbox/faults", _list_faults)
    router.add_post("/_sandbox/faults", _add_fault)
    router.add_delete("/_sandbox/faults", _clear_faults)
    router.add_post("/_sandbox/faults/seed", _reseed)
    router.add_post("/_sandbox/clock/advance", _advance_clock)
    router.add_post("/_sandbox/transactions/{transaction_id}/complete", _complete)
    router.add_post("/_sandbox/transactions/{transaction_id}/fail", _fail)
    router.add_post("/_sandbox/payouts/settle-processing", _settle_processing)
    router.add_get("/_sandbox/webhooks", _webhooks)
    router.add_get("/_sandbox/cashier/{session_id}", _cashier_page)
    router.add_get("/_sandbox/3ds/{transaction_id}", _three_ds_page)
