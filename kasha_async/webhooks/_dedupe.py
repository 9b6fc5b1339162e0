"""Telling new deliveries from repeats, out-of-order older statuses and deliveries too old.

Delivery is at-least-once: the same status may arrive twice, and an older status
after a newer one. :class:`WebhookDeduplicator` classifies each delivery
(:class:`DeliveryVerdict`). Its memory of seen deliveries is a pluggable async
:class:`SeenStore` (in-memory LRU by default; Redis or SQL to share it across
workers and restarts). ``max_age`` bounds how old a delivery's ``updatedAt`` may
be, so that after a restart (the in-memory store empty) an old ``PENDING`` is
not processed again. The status order is the one of :mod:`kasha_async.flows._states`.
"""

from __future__ import annotations

import enum
import logging
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

import attrs

from .._codes import TransactionStatus
from .._errors import ConfigError
from .._models import Transaction
from ..flows._states import is_older

__all__ = [
    "DEFAULT_MEMORY_ENTRIES",
    "DeliveryKey",
    "DeliveryVerdict",
    "InMemorySeenStore",
    "SeenStore",
    "WebhookDeduplicator",
]

logger = logging.getLogger("kasha_async.webhooks")

#: How many deliveries (and transactions) the in-memory stores remember.
DEFAULT_MEMORY_ENTRIES = 10_000


@attrs.frozen(kw_only=True, slots=True)
class DeliveryKey:
    """What identifies one webhook delivery: transaction id, status and ``updatedAt``."""

    transaction_id: str
    status: TransactionStatus
    updated_at: datetime | None = None

    @classmethod
    def of(cls, transaction: Transaction) -> DeliveryKey:
        """The key of a verified transaction."""
        return cls(
            transaction_id=transaction.id,
            status=transaction.status,
            updated_at=transaction.updated_at,
        )

    def __str__(self) -> str:
        """A stable string form, for stores that keep strings (Redis, SQL)."""
        stamp = self.updated_at.isoformat() if self.updated_at else "-"
        return f"{self.transaction_id}|{self.status.value}|{stamp}"


class SeenStore(Protocol):
    """Where a :class:`WebhookDeduplicator` remembers deliveries; share one across workers.

    ``add`` must be atomic (Redis ``SET NX``, SQL ``INSERT ... ON CONFLICT DO
    NOTHING``) so that two copies arriving at once are not both taken as new.
    """

    async def add(self, key: DeliveryKey) -> bool:
        """Record ``key``; return ``True`` if it was not recorded before."""
        ...

    async def discard(self, key: DeliveryKey) -> None:
        """Forget ``key`` (your callback failed, so the redelivery must count as new)."""
        ...


class InMemorySeenStore:
    """A :class:`SeenStore` in process memory, forgetting the oldest keys beyond ``max_entries``."""

    def __init__(self, max_entries: int = DEFAULT_MEMORY_ENTRIES) -> None:
        if max_entries < 1:
            raise ConfigError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._keys: OrderedDict[DeliveryKey, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._keys)

    async def add(self, key: DeliveryKey) -> bool:
        """Record ``key``; return ``True`` if it was not recorded before."""
        if key in self._keys:
            self._keys.move_to_end(key)
            return False
        self._keys[key] = None
        if len(self._keys) > self.max_entries:
            self._keys.popitem(last=False)
        return True

    async def discard(self, key: DeliveryKey) -> None:
        """Forget ``key``."""
        self._keys.pop(key, None)


class DeliveryVerdict(enum.Enum):
    """What a deduplicator concluded about one delivery."""

    NEW = "new"
    """First time seen, and not older than what is known: process it."""
    DUPLICATE = "duplicate"
    """This exact (id, status, updatedAt) was seen before: ignore it."""
    STALE = "stale"
    """An older state than one already seen for this transaction (out of order): ignore it."""
    TOO_OLD = "too_old"
    """Its ``updatedAt`` is older than ``max_age`` (a replay, or news from before a restart)."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


class WebhookDeduplicator:
    """Tells new deliveries from duplicates, out-of-order older statuses and too-old ones.

    Duplicates are found through ``store`` (any :class:`SeenStore`; an in-memory
    LRU by default). The latest state per transaction is kept in memory, per
    process: with several workers, also guard the write in your own database
    (see docs/webhooks.md). With ``max_age`` (seconds or a ``timedelta``), a
    delivery whose ``updatedAt`` is older than that, by ``clock``, is
    :attr:`DeliveryVerdict.TOO_OLD` and never reaches the store; one without
    ``updatedAt`` is judged without it.
    """

    def __init__(
        self,
        store: SeenStore | None = None,
        *,
        max_entries: int = DEFAULT_MEMORY_ENTRIES,
        max_age: float | timedelta | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        if max_entries < 1:
            raise ConfigError("max_entries must be at least 1")
        if isinstance(max_age, int | float):
            max_age = timedelta(seconds=max_age)
        if max_age is not None and max_age <= timedelta(0):
            raise ConfigError("max_age must be positive (or None for no limit)")
        self.store: SeenStore = store if store is not None else InMemorySeenStore(max_entries)
        self.max_age: timedelta | None = max_age
        self._clock = clock
        self._max_entries = max_entries
        self._latest: OrderedDict[str, DeliveryKey] = OrderedDict()

    async def check(self, transaction: Transaction) -> DeliveryVerdict:
        """Classify one delivery and remember it."""
        key = DeliveryKey.of(transaction)
        if self._too_old(key):
            logger.info("webhook for %s ignored: updatedAt older than max_age", key)
            return DeliveryVerdict.TOO_OLD
        if not await self.store.add(key):
            return DeliveryVerdict.DUPLICATE
        return DeliveryVerdict.STALE if self._is_stale(key) else DeliveryVerdict.NEW

    async def forget(self, transaction: Transaction) -> None:
        """Undo :meth:`check` for a delivery your code failed to handle, so its retry is new."""
        await self.store.discard(DeliveryKey.of(transaction))

    def latest(self, transaction_id: str) -> DeliveryKey | None:
        """The newest state seen for ``transaction_id`` in this process, if any."""
        return self._latest.get(transaction_id)

    def _too_old(self, key: DeliveryKey) -> bool:
        if self.max_age is None or key.updated_at is None:
            return False
        stamp = key.updated_at
        if stamp.tzinfo is None:  # the contract's times are UTC; a naive one is read so
            stamp = stamp.replace(tzinfo=UTC)
        return stamp < self._clock() - self.max_age

    def _is_stale(self, key: DeliveryKey) -> bool:
        known = self._latest.get(key.transaction_id)
        if known is not None and is_older(key, known):
            return True
        self._latest[key.transaction_id] = key
        self._latest.move_to_end(key.transaction_id)
        if len(self._latest) > self._max_entries:
            self._latest.popitem(last=False)
        return False
