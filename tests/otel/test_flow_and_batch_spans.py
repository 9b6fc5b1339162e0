"""Flow steps and batch items as parent spans, and the batch counters, against the sandbox."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from kasha_async import Customer, KashaClient, PayoutFlow
from kasha_async.batch import MemoryJournal, PayoutItem, run_payouts
from kasha_async.sandbox import Sandbox

from ..flows.conftest import payout_fields
from .conftest import Telemetry

_Points = dict[tuple[tuple[str, object], ...], float]


def _grew(before: _Points, after: _Points) -> _Points:
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}


async def test_a_payout_flow_is_a_tree_of_step_and_call_spans(
    kasha_sandbox: Sandbox, kasha_client: KashaClient, otel: Telemetry
) -> None:
    """Each PayoutFlow step is a parent span of its calls, in the order the flow ran."""
    payout = await PayoutFlow.start(kasha_client, **payout_fields())
    subs = await payout.choose(payout.option(name="Bank Transfer"))
    assert subs is not None
    await payout.create(option_id=subs.options[0].id, extra_data={"name": "Jane Roe"})
    await payout.approve()
    await payout.wait_final(poll_interval=0.01)
    spans = sorted(otel.spans(), key=lambda span: span.start_time or 0)
    by_id = {span.context.span_id: span for span in spans}
    steps = [span.name for span in spans if span.name.startswith("PayoutFlow.")]
    assert steps == [
        "PayoutFlow.start",
        "PayoutFlow.choose",
        "PayoutFlow.create",
        "PayoutFlow.approve",
        "PayoutFlow.wait_final",
    ]
    parent_of = {
        span.name: by_id[span.parent.span_id].name
        for span in spans
        if span.parent is not None
        and span.parent.span_id in by_id
        and "." in span.name
        and not span.name.startswith("PayoutFlow.")
        and span.name != "transactions.get"
    }
    assert parent_of == {
        "payouts.options": "PayoutFlow.start",
        "payouts.suboptions": "PayoutFlow.choose",
        "payouts.create": "PayoutFlow.create",
        "payouts.settle": "PayoutFlow.approve",
    }
    polls = [s for s in spans if s.name == "transactions.get"]
    assert polls
    assert all(by_id[s.parent.span_id].name == "PayoutFlow.wait_final" for s in polls if s.parent)
    assert len({span.context.trace_id for span in spans}) == 5  # no outer span: one per step


def _items(count: int) -> list[PayoutItem]:
    return [
        PayoutItem(
            reference=f"otel-batch-{index}",
            country="BR",
            currency="BRL",
            amount=Decimal("25.00"),
            customer=Customer(name="Jane Roe"),
            option="Bank Transfer",
            extra_data={"name": "Jane Roe"},
        )
        for index in range(count)
    ]


async def test_a_batch_of_50_is_50_item_spans_and_counters_equal_to_the_report(
    kasha_sandbox: Sandbox, kasha_client: KashaClient, otel: Telemetry, tmp_path: Path
) -> None:
    """50 payouts give 50 item spans with their flows inside, and counters equal to the report."""
    before = otel.points("kasha.batch.items")
    items = _items(50)
    report = await run_payouts(
        kasha_client, items, journal=MemoryJournal(), progress=False, concurrency=10
    )
    item_spans = otel.spans("kasha.batch.item")
    assert len(item_spans) == 50
    creates = otel.spans("PayoutFlow.create")
    item_ids = {span.context.span_id for span in item_spans}
    assert len(creates) == 50
    assert all(span.parent is not None and span.parent.span_id in item_ids for span in creates)
    counted = {
        dict(key)["kasha.batch.status"]: value
        for key, value in _grew(before, otel.points("kasha.batch.items")).items()
    }
    assert counted == {str(status): count for status, count in report.summary.counts.items()}
    assert sum(counted.values()) == 50
    assert otel.points("kasha.batch.in_flight") == {(): 0.0} or all(
        value == 0 for value in otel.points("kasha.batch.in_flight").values()
    )
