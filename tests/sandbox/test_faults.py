"""Injected faults reach a real aiohttp client as the failure they name."""

from __future__ import annotations

import aiohttp
import pytest

from kasha_async.sandbox import FaultKind, Sandbox

from ._helpers import Api, initiate_body


@pytest.mark.parametrize(
    ("kind", "status"),
    [(FaultKind.STATUS_500, 500), (FaultKind.STATUS_502, 502), (FaultKind.STATUS_503, 503)],
)
async def test_status_faults_answer_the_status_without_processing(
    api: Api, sb: Sandbox, kind: FaultKind, status: int
) -> None:
    """A 5xx fault answers that status with the error body and creates nothing."""
    sb.faults.add(endpoint="payments.options", kind=kind, times=1)
    answer = await api.post("/v2/payment-options", initiate_body())
    assert (answer.status, answer.body["resultType"]) == (status, "error")
    assert sb.ledger().transactions == {}
    assert (await api.post("/v2/payment-options", initiate_body())).status == 200


async def test_rate_limit_answers_429_with_retry_after(api: Api, sb: Sandbox) -> None:
    """RATE_LIMIT answers 429 with the configured Retry-After header."""
    sb.faults.add(endpoint="*", kind=FaultKind.RATE_LIMIT, times=2, retry_after=7)
    first = await api.post("/v2/payment-options", initiate_body())
    second = await api.call("GET", "/v2/transactions/x")
    assert (first.status, first.headers["Retry-After"], second.status) == (429, "7", 429)


async def test_latency_delays_then_processes(api: Api, sb: Sandbox) -> None:
    """LATENCY still processes the request normally (the fire count proves it applied)."""
    rule = sb.faults.add(endpoint="payments.options", kind=FaultKind.LATENCY, times=1, delay=0.01)
    assert (await api.post("/v2/payment-options", initiate_body())).status == 200
    assert rule.fired == 1


async def test_reset_before_breaks_the_connection_and_changes_nothing(
    api: Api, sb: Sandbox
) -> None:
    """RESET_BEFORE surfaces as a broken connection and no session is created."""
    sb.faults.add(endpoint="payments.options", kind=FaultKind.RESET_BEFORE, times=1)
    with pytest.raises((aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
        await api.post("/v2/payment-options", initiate_body())
    assert sb.ledger().transactions == {}


async def test_reset_after_commit_breaks_the_connection_after_the_change(
    api: Api, sb: Sandbox
) -> None:
    """RESET_AFTER_COMMIT surfaces as a broken connection but the payout was created."""
    tx_id, session_id, option_id = await api.payout_session()
    sb.faults.add(endpoint="payouts.create", kind=FaultKind.RESET_AFTER_COMMIT, times=1)
    with pytest.raises((aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
        await api.create_payout(session_id, option_id)
    assert (await api.get_tx(tx_id))["status"] == "PENDING"
    assert (await api.create_payout(session_id, option_id)).status == 409


async def test_truncated_body_is_a_payload_error_after_commit(api: Api, sb: Sandbox) -> None:
    """TRUNCATED_BODY sends fewer bytes than Content-Length; the client gets a payload error."""
    tx_id, session_id, options = await api.payment_session()
    sb.faults.add(endpoint="payments.post", kind=FaultKind.TRUNCATED_BODY, times=1)
    with pytest.raises(aiohttp.ClientPayloadError):
        await api.pay_card(session_id, options["Card"])
    assert (await api.get_tx(tx_id))["status"] == "COMPLETED"


async def test_non_json_body_is_an_html_page(api: Api, sb: Sandbox) -> None:
    """NON_JSON_BODY answers an HTML page (502 by default, or the given status)."""
    sb.faults.add(endpoint="transactions.get", kind=FaultKind.NON_JSON_BODY, times=1)
    sb.faults.add(endpoint="transactions.get", kind=FaultKind.NON_JSON_BODY, times=1, status=200)
    first = await api.call("GET", "/v2/transactions/x")
    second = await api.call("GET", "/v2/transactions/x")
    assert (first.status, second.status) == (502, 200)
    assert first.headers["Content-Type"].startswith("text/html")
    assert b"<html>" in second.body


async def test_times_limits_the_fault_to_the_next_n_calls(api: Api, sb: Sandbox) -> None:
    """A times=2 rule fails exactly the next two matching calls."""
    sb.faults.add(endpoint="transactions.get", kind=FaultKind.STATUS_503, times=2)
    statuses = [(await api.call("GET", "/v2/transactions/x")).status for _ in range(3)]
    assert statuses == [503, 503, 404]


async def test_other_endpoints_are_untouched(api: Api, sb: Sandbox) -> None:
    """A rule for one endpoint does not fire on another."""
    sb.faults.add(endpoint="payouts.create", kind=FaultKind.STATUS_500)
    assert (await api.post("/v2/payment-options", initiate_body())).status == 200


async def _statuses_for_seed(seed: int) -> list[int]:
    async with Sandbox(seed=seed) as sb, aiohttp.ClientSession() as http:
        sb.faults.add(endpoint="*", kind=FaultKind.STATUS_503, probability=0.5)
        api = Api(sb, http)
        return [(await api.call("GET", "/v2/transactions/x")).status for _ in range(30)]


async def test_probabilistic_faults_replay_with_the_same_seed() -> None:
    """The same seed and request order give the same fault pattern; another seed differs."""
    first, again, other = (
        await _statuses_for_seed(7),
        await _statuses_for_seed(7),
        await _statuses_for_seed(8),
    )
    assert first == again
    assert first != other
    assert {503, 404} == set(first)


async def test_clear_removes_every_rule(api: Api, sb: Sandbox) -> None:
    """After clear() no fault fires."""
    sb.faults.add(endpoint="*", kind=FaultKind.STATUS_500)
    sb.faults.clear()
    assert (await api.call("GET", "/v2/transactions/x")).status == 404


def test_unknown_endpoint_or_bad_probability_is_refused() -> None:
    """Rules must name a ROUTES key or '*' and a probability within [0, 1]."""
    from kasha_async.sandbox import FaultInjector

    faults = FaultInjector()
    with pytest.raises(ValueError):
        faults.add(endpoint="payments.nope", kind=FaultKind.STATUS_500)
    with pytest.raises(ValueError):
        faults.add(endpoint="*", kind=FaultKind.STATUS_500, probability=1.5)


async def test_faulted_requests_are_counted(api: Api, sb: Sandbox) -> None:
    """Requests hit by a fault still count in requests_by_endpoint."""
    sb.faults.add(endpoint="payments.options", kind=FaultKind.RESET_BEFORE, times=1)
    with pytest.raises(aiohttp.ClientError):
        await api.post("/v2/payment-options", initiate_body())
    assert sb.ledger().requests_by_endpoint["payments.options"] == 1
