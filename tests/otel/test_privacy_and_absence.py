"""Telemetry carries no secrets, and the SDK runs unchanged without opentelemetry installed."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from kasha_async import KashaClient, PaymentFlow, PayoutFlow
from kasha_async.sandbox import FaultKind, Sandbox

from ..flows.conftest import CUSTOMER, card, payment_fields, payout_fields
from .conftest import Telemetry

CBU = "2850590940090418135201"
CARD_NUMBER = "4242424242424242"
SIGNATURE_KEY = "whsec-otel-secret-key"


def _values(otel: Telemetry) -> list[str]:
    """Every attribute and event value of every finished span, and every metric attribute."""
    found: list[str] = []
    for span in otel.spans():
        found += [str(v) for v in (span.attributes or {}).values()]
        found.append(str(span.status.description))
        for event in span.events:
            found.append(event.name)
            found += [str(v) for v in (event.attributes or {}).values()]
    data = otel.reader.get_metrics_data()
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    found += [str(v) for v in (point.attributes or {}).values()]
    return found


async def test_no_secret_or_customer_data_in_any_span_or_metric(otel: Telemetry) -> None:
    """Every attribute and event value is free of keys, signatures, card, bank and customer data."""
    async with Sandbox(signature_key=SIGNATURE_KEY) as sb:
        async with KashaClient(
            api_key=sb.api_key, base_url=sb.base_url, signature_key=SIGNATURE_KEY
        ) as kasha:
            sb.faults.add(endpoint="payments.post", kind=FaultKind.RESET_AFTER_COMMIT, times=1)
            flow = await PaymentFlow.start(kasha, **payment_fields())
            await flow.choose(flow.option(name="Card"))
            await flow.pay(extra_data=card(CARD_NUMBER))
            payout = await PayoutFlow.start(kasha, **payout_fields())
            subs = await payout.choose(payout.option(name="Bank Transfer"))
            assert subs is not None
            await payout.create(
                option_id=subs.options[0].id, extra_data={"name": "Jane Roe", "account": CBU}
            )
            await payout.approve()
        secrets = {sb.api_key, SIGNATURE_KEY, CARD_NUMBER, "123", CBU, "Jane Roe"}
    secrets |= {CUSTOMER.name or "", CUSTOMER.phone or "", CUSTOMER.ip or ""}
    values = _values(otel)
    assert values  # the sweep saw spans
    leaked = {secret for secret in secrets for value in values if secret and secret in value}
    assert leaked == set()


_WITHOUT_OTEL = textwrap.dedent(
    """
    import asyncio, importlib.abc, sys
    from decimal import Decimal

    class HideOpenTelemetry(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "opentelemetry" or name.startswith("opentelemetry."):
                raise ModuleNotFoundError(f"No module named {name!r}")
            return None

    sys.meta_path.insert(0, HideOpenTelemetry())

    from kasha_async import Customer, KashaClient, PaymentFlow, _telemetry
    from kasha_async.sandbox import SUCCESS_CARD, Sandbox

    async def main() -> None:
        async with Sandbox() as sb, KashaClient(api_key=sb.api_key, base_url=sb.base_url) as k:
            flow = await PaymentFlow.start(
                k, country="BR", currency="BRL", amount=Decimal("130.00"), language="EN",
                redirect_url="https://shop.example/r", customer=Customer(name="J R"),
                merchant_reference="no-otel-1")
            await flow.choose(flow.option(name="Card"))
            await flow.pay(extra_data={"cardnum": SUCCESS_CARD, "cardholder": "J R",
                "expirymonth": "12", "expiryyear": "2030", "cardcvv": "123"})
            print((await flow.wait_final()).status.value)

    asyncio.run(main())
    assert not _telemetry.enabled()
    assert not [m for m in sys.modules if m.startswith("opentelemetry")], "imported"
    print("no-otel-ok")
    """
)


def test_the_sdk_works_with_opentelemetry_hidden() -> None:
    """With opentelemetry unimportable, a payment completes and no opentelemetry module loads."""
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_OTEL], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["COMPLETED", "no-otel-ok"]
