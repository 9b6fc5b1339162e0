"""Fixtures and helpers of the flow tests: sandbox-backed flows and ledger counters."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs

from kasha_async import Customer
from kasha_async.sandbox import SUCCESS_CARD, Sandbox

CUSTOMER = Customer(name="John Doe", phone="+34666999666", ip="84.232.140.77")
_refs = itertools.count(1)


def card(number: str = SUCCESS_CARD) -> dict[str, str]:
    """Complete card form data for the sandbox's Card option."""
    return {
        "cardnum": number,
        "cardholder": "Jane Roe",
        "expirymonth": "01",
        "expiryyear": "2030",
        "cardcvv": "123",
    }


def payment_fields(**overrides: Any) -> dict[str, Any]:
    """Keyword arguments for ``PaymentFlow.start`` with a fresh merchant reference."""
    return {
        "country": "BR",
        "currency": "BRL",
        "amount": Decimal("130.00"),
        "redirect_url": "https://merchant.example/return",
        "language": "EN",
        "customer": CUSTOMER,
        "merchant_reference": f"order-{next(_refs)}",
        **overrides,
    }


def payout_fields(**overrides: Any) -> dict[str, Any]:
    """Keyword arguments for ``PayoutFlow.start`` with a fresh merchant reference."""
    return payment_fields(**{"amount": Decimal("150.00"), **overrides})


def sent(sandbox: Sandbox, endpoint: str | None = None) -> int:
    """Requests that reached the sandbox, in total or for one endpoint (a ROUTES key)."""
    ledger = sandbox.ledger()
    if endpoint is None:
        return ledger.total_requests
    return ledger.requests_by_endpoint.get(endpoint, 0)


@attrs.define
class FakeClock:
    """A flow clock that only moves when told to."""

    now: datetime = attrs.field(factory=lambda: datetime(2030, 1, 1, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move forward by ``seconds``."""
        self.now += timedelta(seconds=seconds)
