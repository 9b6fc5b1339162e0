"""A fake provider behind the PayoutDriver protocol: one payout per session, faults on demand."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Callable
from decimal import Decimal

from kasha_async import Customer, OutcomeUnknownError, Transaction, TransactionStatus
from kasha_async.batch import JournalRecord, OpenedSession, PayoutItem


class Crash(BaseException):
    """Stands for the process being killed at this instant."""


Hook = Callable[[str, str], None]


class FakeDriver:
    """Sessions, transactions and counters of a pretend Kasha; ``hook(step, ref)`` may raise."""

    def __init__(self, hook: Hook | None = None) -> None:
        self.hook = hook
        self.status: dict[str, TransactionStatus] = {}
        self.ref_of: dict[str, str] = {}
        self.created_refs: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self._ids = itertools.count(1)

    def _enter(self, step: str, ref: str) -> None:
        self.calls[step] += 1
        if self.hook is not None:
            self.hook(step, ref)

    async def open(self, item: PayoutItem, *, redirect_url: str) -> OpenedSession:
        """Open a session: a CREATED transaction."""
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0)
            self._enter("open", item.reference)
        finally:
            self.in_flight -= 1
        tx = f"tx-{next(self._ids)}"
        self.status[tx], self.ref_of[tx] = TransactionStatus.CREATED, item.reference
        return OpenedSession(
            session_id=f"s-{tx}", transaction_id=tx, payment_option_id="po", option_id="d_1"
        )

    def restore(self, record: JournalRecord) -> OpenedSession:
        """The session from the journaled ids (the snapshot is the fake's own marker)."""
        assert record.flow == "fake-snapshot"
        return OpenedSession(
            session_id=record.session_id or "",
            transaction_id=record.transaction_id or "",
            payment_option_id=record.payment_option_id or "",
            option_id=record.option_id,
        )

    def snapshot(self, session: OpenedSession) -> str | None:
        """A marker the fake's restore checks."""
        return "fake-snapshot"

    async def create(self, item: PayoutItem, session: OpenedSession) -> None:
        """Create once per session; the hook runs before (``create``) and after (``created``)."""
        await asyncio.sleep(0)
        self._enter("create", item.reference)
        tx = session.transaction_id
        if self.status[tx] is TransactionStatus.CREATED:
            self.status[tx] = TransactionStatus.PENDING
            self.created_refs[item.reference] += 1
        self._enter("created", item.reference)

    async def approve(self, session: OpenedSession) -> TransactionStatus:
        """PENDING -> PROCESSING."""
        transaction_id = session.transaction_id
        self._enter("approve", self.ref_of[transaction_id])
        if self.status[transaction_id] is TransactionStatus.PENDING:
            self.status[transaction_id] = TransactionStatus.PROCESSING
        self._enter("approved", self.ref_of[transaction_id])
        return self.status[transaction_id]

    async def lookup(self, session: OpenedSession) -> Transaction:
        """The transaction now; a PROCESSING one completes as it is looked at."""
        transaction_id = session.transaction_id
        self._enter("lookup", self.ref_of[transaction_id])
        if self.status[transaction_id] is TransactionStatus.PROCESSING:
            self.status[transaction_id] = TransactionStatus.COMPLETED
        return Transaction(id=transaction_id, status=self.status[transaction_id])

    async def wait_final(self, session: OpenedSession, *, timeout: float) -> Transaction:
        """One lookup is enough here."""
        return await self.lookup(session)

    def payouts(self) -> Counter[str]:
        """Created payouts per reference."""
        return self.created_refs


def unknown_once(step: str, refs: set[str]) -> Hook:
    """A hook that makes ``step`` of each ref in ``refs`` raise an unknown outcome once."""
    fired: set[str] = set()

    def hook(name: str, ref: str) -> None:
        if name == step and ref in refs and ref not in fired:
            fired.add(ref)
            raise OutcomeUnknownError("connection reset after the request was written")

    return hook


def make_items(count: int, *, prefix: str = "aff") -> list[PayoutItem]:
    """``count`` valid items with distinct references."""
    return [
        PayoutItem(
            reference=f"{prefix}-{i:06d}",
            country="BR",
            currency="BRL",
            amount=Decimal("10.50"),
            customer=Customer(name="Jane Roe"),
            option_id="d_316",
            extra_data={"name": "Jane Roe"},
        )
        for i in range(count)
    ]
