"""The sandbox uses the SDK's homes: operation table, money encoding, form rules, signing."""

from __future__ import annotations

import asyncio
import pathlib
from decimal import Decimal

import orjson

import kasha_async.sandbox as sandbox_package
from kasha_async import _signing
from kasha_async._operations import OPERATIONS
from kasha_async.sandbox import Sandbox, SandboxState, create_app
from kasha_async.sandbox.app import _OPERATIONS

from ._helpers import Api, initiate_body

SANDBOX_DIR = pathlib.Path(sandbox_package.__file__).parent


def test_every_operation_has_exactly_one_handler() -> None:
    """The handler mapping names every operation of the table, and nothing else."""
    assert set(_OPERATIONS) == set(OPERATIONS)


def test_routes_are_registered_from_the_operation_table() -> None:
    """Each operation is routed at the table's method and path, under its own name."""
    app = create_app(SandboxState())
    routes = {
        route.name: (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.name in OPERATIONS and route.resource is not None
    }
    assert routes == {op.name: (op.method, op.path) for op in OPERATIONS.values()}


def test_no_sandbox_module_spells_an_api_path() -> None:
    """Paths live in the operation table alone: no sandbox source holds a ``/v2/`` literal."""
    spelled = [
        f"{path.relative_to(SANDBOX_DIR)}: {op.path}"
        for path in SANDBOX_DIR.rglob("*.py")
        for op in OPERATIONS.values()
        if f'"{op.path}' in path.read_text() or f"'{op.path}" in path.read_text()
    ]
    assert spelled == []
    assert all('"/v2/' not in path.read_text() for path in SANDBOX_DIR.rglob("*.py"))


async def _raw_post(api: Api, path: str, raw: bytes) -> tuple[int, bytes]:
    headers = {"x-api-key": api.sandbox.api_key, "Content-Type": "application/json"}
    async with api.http.post(api.sandbox.base_url + path, data=raw, headers=headers) as resp:
        return resp.status, await resp.read()


async def _recorded_amount(api: Api, amount_literal: str) -> bytes:
    body = orjson.dumps({**initiate_body(), "amount": "AMOUNT"})
    body = body.replace(b'"AMOUNT"', amount_literal.encode())
    status, raw = await _raw_post(api, "/v2/payment-options", body)
    assert status == 200, raw
    tx_id = orjson.loads(raw)["transactionId"]
    async with api.http.get(
        f"{api.sandbox.base_url}/v2/transactions/{tx_id}",
        headers={"x-api-key": api.sandbox.api_key},
    ) as resp:
        return await resp.read()


async def test_trailing_zeros_of_a_json_number_amount_are_kept(api: Api) -> None:
    """An amount sent as the JSON number ``130.00`` is recorded and answered as ``130.00``."""
    raw = await _recorded_amount(api, "130.00")
    assert b'"paymentAmount":130.00,' in raw
    tx = next(iter(api.sandbox.state.transactions.values()))
    assert str(tx.amount) == "130.00"


async def test_the_largest_amount_the_sdk_sends_keeps_every_digit(api: Api) -> None:
    """``9999999999999.99`` (15 significant digits, the bound) is recorded to the last digit."""
    raw = await _recorded_amount(api, "9999999999999.99")
    assert b'"paymentAmount":9999999999999.99,' in raw
    tx = next(iter(api.sandbox.state.transactions.values()))
    assert tx.amount == Decimal("9999999999999.99")


async def test_an_amount_above_the_bound_is_refused_not_rounded(api: Api) -> None:
    """``90071992547409.93`` (above 2^53 minor units) is refused with 1009, never rounded."""
    body = orjson.dumps({**initiate_body(), "amount": "AMOUNT"}).replace(
        b'"AMOUNT"', b"90071992547409.93"
    )
    status, raw = await _raw_post(api, "/v2/payment-options", body)
    assert status == 400
    assert orjson.loads(raw)["errors"]["code"] == "1009"
    assert api.sandbox.state.transactions == {}


async def test_nan_and_infinity_are_not_json(api: Api) -> None:
    """``NaN`` or ``Infinity`` in a body is a 1000 validation error, never a number."""
    for literal in ("NaN", "Infinity", "-Infinity"):
        body = orjson.dumps({**initiate_body(), "amount": "X"}).replace(b'"X"', literal.encode())
        status, raw = await _raw_post(api, "/v2/payment-options", body)
        assert (status, orjson.loads(raw)["errors"]["code"]) == (400, "1000")


async def test_a_non_ascii_signature_is_a_401_not_a_500() -> None:
    """An ``x-signature`` header with non-ASCII bytes is a bad signature: 401 and the §5 body."""
    async with Sandbox(signature_key="sig-key") as sb:
        body = orjson.dumps(initiate_body())
        good = _signing.sign("sig-key", body)
        host, port = sb.base_url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        head = (
            f"POST /v2/payment-options HTTP/1.1\r\nHost: {host}\r\n"
            f"x-api-key: {sb.api_key}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\nx-signature: "
        ).encode()
        writer.write(head + "é".encode() + good[1:].encode("ascii") + b"\r\n\r\n" + body)
        await writer.drain()
        answer = await reader.read()
        writer.close()
        await writer.wait_closed()
        status_line, _, rest = answer.partition(b"\r\n")
        assert status_line.split()[1] == b"401"
        error = orjson.loads(rest.partition(b"\r\n\r\n")[2])
        assert error["errors"]["code"] == "401"
        assert sb.state.internal_errors == []
        assert sb.state.transactions == {}
