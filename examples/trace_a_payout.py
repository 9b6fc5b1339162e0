"""Print a payout's trace with OpenTelemetry's console exporter, against the embedded sandbox.

Run: ``pip install 'kasha-async[otel]' opentelemetry-sdk`` then
``python -m examples.trace_a_payout``. The first payout create is cut off after
the sandbox committed it, so the trace shows a retry and a reconciliation.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

from kasha_async import Customer, KashaClient, PayoutFlow
from kasha_async.sandbox import FaultKind, Sandbox


def configure_tracing() -> None:
    """What an application does once at start-up: a provider and an exporter."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)


async def main() -> None:
    """One payout, created under a reset-after-commit fault, approved and awaited."""
    configure_tracing()
    tracer = trace.get_tracer("my-back-office")
    async with (
        Sandbox() as sandbox,
        KashaClient(api_key=sandbox.api_key, base_url=sandbox.base_url) as kasha,
    ):
        sandbox.faults.add(endpoint="payouts.create", kind=FaultKind.RESET_AFTER_COMMIT, times=1)
        with tracer.start_as_current_span("pay supplier invoice"):
            payout = await PayoutFlow.start(
                kasha,
                country="BR",
                currency="BRL",
                amount=Decimal("150.00"),
                redirect_url="https://backoffice.example/done",
                language="EN",
                customer=Customer(name="Jane Roe"),
                merchant_reference=f"invoice-{id(kasha)}",
            )
            subs = await payout.choose(payout.option(name="Bank Transfer"))
            assert subs is not None
            await payout.create(option_id=subs.options[0].id, extra_data={"name": "Jane Roe"})
            await payout.approve()
            print((await payout.wait_final()).status.value)


if __name__ == "__main__":
    asyncio.run(main())
