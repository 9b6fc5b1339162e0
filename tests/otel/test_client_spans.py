"""Client calls as OpenTelemetry spans and metrics, against the sandbox."""

from __future__ import annotations

import pytest
from opentelemetry.trace import SpanKind

from kasha_async import DeclinedError, KashaClient, PaymentFlow
from kasha_async.sandbox import FaultKind, Sandbox, trigger_card

from ..flows.conftest import card, payment_fields
from .conftest import Telemetry


def _grew(
    before: dict[tuple[tuple[str, object], ...], float],
    after: dict[tuple[tuple[str, object], ...], float],
) -> dict[tuple[tuple[str, object], ...], float]:
    return {
        key: value - before.get(key, 0)
        for key, value in after.items()
        if value != before.get(key, 0)
    }


async def test_a_read_is_one_client_span_with_its_attributes(
    kasha_sandbox: Sandbox, kasha_client: KashaClient, otel: Telemetry
) -> None:
    """A successful call is one CLIENT span named after its operation, with its attributes."""
    session = await kasha_client.payments.options(**payment_fields())
    (span,) = otel.spans("payments.options")
    assert span.kind is SpanKind.CLIENT
    assert span.instrumentation_scope is not None
    assert span.instrumentation_scope.name == "kasha_async"
    attributes = dict(span.attributes or {})
    assert attributes == {
        "kasha.operation": "payments.options",
        "http.request.method": "POST",
        "server.address": "127.0.0.1",
        "kasha.attempts": 1,
        "kasha.outcome": "ok",
        "kasha.transaction_id": session.transaction_id,
        "http.response.status_code": 200,
    }


async def test_reset_after_commit_shows_attempts_and_a_reconciliation(
    kasha_sandbox: Sandbox, kasha_client: KashaClient, otel: Telemetry
) -> None:
    """A post reset after commit is one span with attempts >= 2 and a reconciliation event."""
    before = otel.points("kasha.client.reconciliations")
    flow = await PaymentFlow.start(kasha_client, **payment_fields())
    await flow.choose(flow.option(name="Card"))
    kasha_sandbox.faults.add(endpoint="payments.post", kind=FaultKind.RESET_AFTER_COMMIT, times=1)
    await flow.pay(extra_data=card())
    (post,) = otel.spans("payments.post")
    attributes = dict(post.attributes or {})
    assert attributes["kasha.attempts"] >= 2  # type: ignore[operator]
    assert attributes["kasha.outcome"] == "ok"
    events = [event.name for event in post.events]
    assert "kasha.retry" in events
    assert "kasha.reconciliation" in events
    (lookup,) = otel.spans("transactions.get")
    assert lookup.parent is not None
    assert lookup.parent.span_id == post.context.span_id
    assert (
        kasha_sandbox.ledger().counts_by_status.get("COMPLETED", 0)
        + kasha_sandbox.ledger().counts_by_status.get("PROCESSING", 0)
        == 1
    )
    grew = _grew(before, otel.points("kasha.client.reconciliations"))
    assert sum(grew.values()) >= 1


async def test_a_decline_is_outcome_declined_with_its_error_type(
    kasha_sandbox: Sandbox, kasha_client: KashaClient, otel: Telemetry
) -> None:
    """A declined post's span says outcome declined and names the exception class only."""
    flow = await PaymentFlow.start(kasha_client, **payment_fields())
    await flow.choose(flow.option(name="Card"))
    with pytest.raises(DeclinedError):
        await flow.pay(extra_data=card(trigger_card(3000)))
    (post,) = otel.spans("payments.post")
    attributes = dict(post.attributes or {})
    assert attributes["kasha.outcome"] == "declined"
    assert attributes["error.type"] == "DeclinedError"


async def test_aiohttp_instrumentation_nests_under_the_sdk_span(
    kasha_sandbox: Sandbox, otel: Telemetry
) -> None:
    """With opentelemetry-instrumentation-aiohttp-client on, its HTTP span is a child of ours."""
    from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor

    instrumentor = AioHttpClientInstrumentor()
    instrumentor.instrument()
    try:
        async with KashaClient(
            api_key=kasha_sandbox.api_key, base_url=kasha_sandbox.base_url
        ) as kasha:
            await kasha.payments.options(**payment_fields())
    finally:
        instrumentor.uninstrument()
    (ours,) = otel.spans("payments.options")
    http = [span for span in otel.spans() if span.name != "payments.options"]
    assert len(http) == 1
    assert http[0].parent is not None
    assert http[0].parent.span_id == ours.context.span_id
