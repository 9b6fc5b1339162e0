"""The /_sandbox control API, the ledger, /openapi.json and refusals of bad input."""

from __future__ import annotations

import io

import orjson
import pytest

from kasha_async._operations import ROUTES
from kasha_async.sandbox import FaultKind, Sandbox

from ._helpers import Api, initiate_body


def _body(**override: object) -> bytes:
    fields = {"country": "BR", "currency": "BRL", "amount": 1, "redirectUrl": "x", "customer": {}}
    return orjson.dumps({**fields, **override})


async def test_ledger_counts_statuses_attempts_approvals_and_requests(
    api: Api, sb: Sandbox
) -> None:
    """The ledger shows every transaction, resent sessions, approvals and request counts."""
    tx_id, session_id, option_id = await api.payout_session()
    await api.create_payout(session_id, option_id)
    await api.create_payout(session_id, option_id)  # 409, but an attempt
    await api.settle(tx_id)
    await api.settle(tx_id)  # 409: changed nothing
    led = sb.ledger()
    assert led.counts_by_status == {"PROCESSING": 1}
    assert led.sessions_with_multiple_attempts == {session_id: 2}
    assert led.approvals_per_payout == {tx_id: 1}
    assert led.requests_by_endpoint["payouts.create"] == 2
    assert led.total_requests == 5
    assert led.kinds == {tx_id: "payout"}


async def test_ledger_over_http_matches_python(api: Api, sb: Sandbox) -> None:
    """GET /_sandbox/ledger returns the same snapshot as JSON."""
    tx_id, _, _ = await api.payment_session()
    answer = await api.call("GET", "/_sandbox/ledger")
    assert answer.body["transactions"][tx_id]["status"] == "CREATED"
    assert answer.body["countsByStatus"] == {"CREATED": 1}
    assert answer.body["requestsByEndpoint"] == {"payments.options": 1, "control": 1}


async def test_faults_can_be_added_listed_and_cleared_over_http(api: Api) -> None:
    """POST/GET/DELETE /_sandbox/faults manage the same rules as sb.faults."""
    added = await api.post(
        "/_sandbox/faults", {"endpoint": "transactions.get", "kind": "status_503", "times": 1}
    )
    assert added.status == 201
    assert [r["kind"] for r in (await api.call("GET", "/_sandbox/faults")).body] == ["status_503"]
    assert (await api.call("GET", "/v2/transactions/x")).status == 503
    await api.call("DELETE", "/_sandbox/faults")
    assert (await api.call("GET", "/_sandbox/faults")).body == []


async def test_bad_fault_over_http_is_400(api: Api) -> None:
    """An unknown fault kind posted to the control API is a 400 error body."""
    answer = await api.post("/_sandbox/faults", {"endpoint": "*", "kind": "explode"})
    assert (answer.status, answer.body["resultType"]) == (400, "error")


async def test_clock_and_transactions_are_controllable_over_http(api: Api) -> None:
    """/_sandbox/clock/advance expires sessions; /complete and /fail finish transactions."""
    tx_id, session_id, options = await api.payment_session(country="MX", currency="MXN")
    await api.post("/v2/payment", {"sessionId": session_id, "paymentOptionId": options["OXXO"]})
    done = await api.post(f"/_sandbox/transactions/{tx_id}/complete")
    assert done.body["status"] == "COMPLETED"
    other, _, _ = await api.payment_session()
    failed = await api.post(f"/_sandbox/transactions/{other}/fail", {"code": 1100})
    assert failed.body["status"] == "ERROR"
    await api.post("/_sandbox/clock/advance", {"seconds": 1801})
    _, late_session, late_options = await api.payment_session()
    assert (await api.pay_card(late_session, late_options["Card"])).status == 200


async def test_control_refuses_completing_a_final_transaction(api: Api, sb: Sandbox) -> None:
    """Completing a COMPLETED transaction is a 409 over HTTP and raises in Python."""
    tx_id, session_id, options = await api.payment_session()
    await api.pay_card(session_id, options["Card"])
    assert (await api.post(f"/_sandbox/transactions/{tx_id}/complete")).status == 409
    with pytest.raises(Exception, match="Cannot complete"):
        await sb.complete(tx_id)


async def test_openapi_describes_every_route(api: Api) -> None:
    """GET /openapi.json lists every ROUTES path with its method and operationId."""
    doc = (await api.call("GET", "/openapi.json")).body
    found = {
        op["operationId"]: (method.upper(), path)
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
    }
    assert found == dict(ROUTES)


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (b"{not json", 400, "1000"),
        (b"[1, 2]", 400, "1000"),
        (b"", 400, "1000"),
        (
            _body(country=5),
            400,
            "1000",
        ),
        (
            _body(amount="1.001"),
            400,
            "1009",
        ),
        (
            _body(amount=True),
            400,
            "1009",
        ),
        (
            _body(country="BRA"),
            400,
            "1000",
        ),
        (b"x" * (1024 * 1024 + 1), 413, "413"),
    ],
)
async def test_bad_input_gets_the_error_body(
    api: Api, sb: Sandbox, data: bytes, status: int, code: str
) -> None:
    """Malformed, mistyped, invalid or huge bodies get the §5 error body, never a 500."""
    answer = await api.call(
        "POST",
        "/v2/payment-options",
        data=io.BytesIO(data),
        headers={"Content-Type": "application/json"},
    )
    assert (answer.status, answer.body["resultType"], answer.body["errors"]["code"]) == (
        status,
        "error",
        code,
    )
    assert sb.state.internal_errors == []


async def test_long_redirect_url_is_rejected(api: Api) -> None:
    """redirectUrl longer than 500 characters is a validation error."""
    answer = await api.post(
        "/v2/payment-options", initiate_body(redirectUrl="https://x/" + "a" * 500)
    )
    assert (answer.status, answer.body["errors"]["code"]) == (400, "1000")


async def test_crypto_amounts_allow_eight_decimals(api: Api) -> None:
    """A crypto currency takes 8 decimal places where fiat takes 2."""
    assert (
        await api.post("/v2/payment-options", initiate_body(currency="BTC", amount="0.00000001"))
    ).status == 200


async def test_unknown_paths_and_methods_are_404_and_405(api: Api) -> None:
    """Unknown paths get 404 and wrong methods 405, both with the error body."""
    missing = await api.call("GET", "/v2/nothing")
    wrong = await api.call("GET", "/v2/payment")
    assert (missing.status, missing.body["resultType"]) == (404, "error")
    assert (wrong.status, wrong.body["resultType"]) == (405, "error")


async def test_unmatched_requests_are_not_faulted(api: Api, sb: Sandbox) -> None:
    """A '*' fault applies to API routes only, not to control or unknown paths."""
    sb.faults.add(endpoint="*", kind=FaultKind.STATUS_500)
    assert (await api.call("GET", "/v2/nothing")).status == 404
    assert (await api.call("GET", "/_sandbox/ledger")).status == 200


@pytest.mark.parametrize(
    "path", ["/v2/payment", "/v2/payout", "/v2/hybrid-payment", "/v2/payment-suboptions"]
)
@pytest.mark.parametrize("session_id", [["a", "list"], {"an": "object"}, None])
async def test_mistyped_session_ids_are_validation_errors(
    api: Api, sb: Sandbox, path: str, session_id: object
) -> None:
    """A sessionId of the wrong JSON type is a 1000, never a 500."""
    answer = await api.post(path, {"sessionId": session_id, "paymentOptionId": "x"})
    assert (answer.status, answer.body["errors"]["code"]) == (400, "1000")
    assert sb.state.internal_errors == []


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/_sandbox/transactions/{tx}/fail", {"code": 12345}),
        ("/_sandbox/transactions/{tx}/fail", {"code": True}),
        ("/_sandbox/payouts/settle-processing", {"code": 12345}),
        ("/_sandbox/payouts/settle-processing", {"code": "x"}),
        ("/_sandbox/payouts/settle-processing", {"transactionId": ["a", "list"]}),
        ("/_sandbox/faults/seed", {"seed": [1]}),
        ("/_sandbox/clock/advance", {"seconds": "nan"}),
        ("/_sandbox/clock/advance", {"seconds": "inf"}),
        ("/_sandbox/faults", {"endpoint": "*", "kind": "latency", "delay": "slow"}),
        ("/_sandbox/faults", {"endpoint": "*", "kind": "non_json_body", "status": "bad"}),
        ("/_sandbox/faults", {"endpoint": "*", "kind": "rate_limit", "retry_after": 1.5}),
        ("/_sandbox/faults", {"endpoint": "*", "kind": "status_503", "times": True}),
        ("/_sandbox/faults", {"endpoint": ["x"], "kind": "status_503"}),
    ],
)
async def test_bad_control_input_is_a_400_and_changes_nothing(
    api: Api, sb: Sandbox, path: str, body: dict[str, object]
) -> None:
    """Mistyped control input is a 1000 at once, never a 500 then or on a later API call."""
    tx_id, _, _ = await api.payment_session()
    answer = await api.post(path.format(tx=tx_id), body)
    assert (answer.status, answer.body["errors"]["code"]) == (400, "1000")
    assert sb.faults.rules == ()
    assert sb.clock.offset == 0
    assert (await api.get_tx(tx_id))["status"] == "CREATED"
    assert sb.state.internal_errors == []


async def test_settling_every_payout_checks_the_code_before_settling_any(
    api: Api, sb: Sandbox
) -> None:
    """settle_processing() with an unknown code refuses and leaves every payout PROCESSING."""
    for _ in range(2):
        tx_id, session_id, option_id = await api.payout_session()
        await api.create_payout(session_id, option_id)
        await api.settle(tx_id)
    answer = await api.post("/_sandbox/payouts/settle-processing", {"code": 4242})
    assert answer.status == 400
    assert sb.ledger().counts_by_status == {"PROCESSING": 2}
