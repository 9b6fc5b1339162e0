"""Webhook dedupe: max_age on updatedAt, a pluggable async store, one status order."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from kasha_async import ConfigError, Transaction, TransactionStatus
from kasha_async.flows import _states
from kasha_async.webhooks import (
    DeliveryKey,
    DeliveryVerdict,
    SeenStore,
    WebhookDeduplicator,
    WebhookReceiver,
    is_older,
    status_rank,
)

KEY = "whsec-dedupe"
NOW = datetime(2030, 1, 1, 12, tzinfo=UTC)


def tx(status: str = "PENDING", updated: datetime | None = NOW) -> Transaction:
    """A transaction value with this status and updatedAt."""
    return Transaction(id="tx-1", status=TransactionStatus(status), updated_at=updated)


class DictStore:
    """A SeenStore of the user's own, recording what it was asked."""

    def __init__(self) -> None:
        self.keys: set[str] = set()

    async def add(self, key: DeliveryKey) -> bool:
        """Record the key's string form; True when new."""
        new = str(key) not in self.keys
        self.keys.add(str(key))
        return new

    async def discard(self, key: DeliveryKey) -> None:
        """Forget the key."""
        self.keys.discard(str(key))


async def test_a_delivery_older_than_max_age_is_too_old_and_not_stored() -> None:
    """With max_age, an updatedAt older than that is TOO_OLD and never reaches the store."""
    store = DictStore()
    dedupe = WebhookDeduplicator(store, max_age=timedelta(hours=1), clock=lambda: NOW)
    old = tx(updated=NOW - timedelta(hours=2))
    assert await dedupe.check(old) is DeliveryVerdict.TOO_OLD
    assert store.keys == set()
    assert await dedupe.check(tx(updated=NOW - timedelta(minutes=5))) is DeliveryVerdict.NEW


async def test_after_a_restart_an_old_pending_is_not_processed_again() -> None:
    """A fresh receiver (empty memory) with max_age answers 200 stale to an old PENDING, no call."""
    calls: list[Transaction] = []
    dedupe = WebhookDeduplicator(max_age=600, clock=lambda: NOW)
    receiver = WebhookReceiver(KEY, calls.append, deduplicator=dedupe)
    body = json.dumps(
        {"id": "tx-1", "status": "PENDING", "updatedAt": "2030-01-01T10:00:00Z"}
    ).encode()
    sig = base64.b64encode(hmac.new(KEY.encode(), body, hashlib.sha256).digest()).decode()
    result = await receiver.handle(body, {"x-signature": sig})
    assert (result.status_code, result.verdict) == (200, DeliveryVerdict.TOO_OLD)
    assert result.body == {"ok": True, "duplicate": False, "stale": True}
    assert calls == []


async def test_without_updated_at_max_age_does_not_drop_the_delivery() -> None:
    """A delivery carrying no updatedAt is judged without max_age (processed when in doubt)."""
    dedupe = WebhookDeduplicator(max_age=60, clock=lambda: NOW)
    assert await dedupe.check(tx(updated=None)) is DeliveryVerdict.NEW


@pytest.mark.parametrize("bad", [0, -1, timedelta(0)])
def test_max_age_must_be_positive(bad: float | timedelta) -> None:
    """A zero or negative max_age is a ConfigError."""
    with pytest.raises(ConfigError, match="max_age"):
        WebhookDeduplicator(max_age=bad)


async def test_a_users_store_is_a_seen_store_and_is_used() -> None:
    """Any object with async add/discard plugs in as the store: repeats are duplicates."""
    store: SeenStore = DictStore()
    dedupe = WebhookDeduplicator(store)
    assert await dedupe.check(tx()) is DeliveryVerdict.NEW
    assert await dedupe.check(tx()) is DeliveryVerdict.DUPLICATE
    await dedupe.forget(tx())
    assert await dedupe.check(tx()) is DeliveryVerdict.NEW


def test_webhooks_and_flows_share_one_status_order() -> None:
    """webhooks.is_older/status_rank are the flows' functions, with (candidate, known) order."""
    assert is_older is _states.is_older
    assert status_rank is _states.status_rank
    assert is_older(tx("PENDING"), tx("COMPLETED"))
    assert is_older(_states.FlowState.PROCESSING, _states.FlowState.COMPLETED)
    assert status_rank(_states.FlowState.PENDING_APPROVAL) == status_rank(TransactionStatus.PENDING)


def test_an_asgi_app_never_imports_aiohttp_web() -> None:
    """Importing kasha_async.webhooks for WebhookASGIApp leaves aiohttp.web unloaded."""
    code = (
        "import sys; from kasha_async.webhooks import WebhookASGIApp; "
        "print('aiohttp.web' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
