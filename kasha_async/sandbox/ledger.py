"""The read-only ground truth of a sandbox: what it holds and what reached it.

Chaos tests prove "nothing lost, nothing paid twice" with it: every transaction
and its status, every session that saw more than one post/create attempt, how
many APPROVE actions changed each payout, and how many requests arrived per
endpoint (those hit by a fault included).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import attrs

from .._convert import parse
from .._models import Transaction

if TYPE_CHECKING:
    from .state import Session, TransactionRecord


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


@attrs.frozen(kw_only=True)
class Ledger:
    """A frozen snapshot of the sandbox's state and counters."""

    #: Transaction id -> the SDK's :class:`~kasha_async._models.Transaction`.
    transactions: Mapping[str, Transaction] = attrs.field(repr=False)
    #: Transaction id -> ``"payment"`` or ``"payout"``.
    kinds: Mapping[str, str]
    #: Status -> number of transactions in it.
    counts_by_status: Mapping[str, int]
    #: Session id -> post/create requests that reached the handler (rejected ones included).
    attempts_per_session: Mapping[str, int]
    #: The sessions of ``attempts_per_session`` with more than one attempt.
    sessions_with_multiple_attempts: Mapping[str, int]
    #: Payout id -> APPROVE actions that changed its state (never more than 1).
    approvals_per_payout: Mapping[str, int]
    #: Endpoint name (a ROUTES key, ``"control"``, ``"unmatched"``) -> requests that arrived.
    requests_by_endpoint: Mapping[str, int]
    total_requests: int

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict, as ``GET /_sandbox/ledger`` answers it."""
        return {
            "transactions": {tx_id: dict(tx.raw) for tx_id, tx in self.transactions.items()},
            "kinds": dict(self.kinds),
            "countsByStatus": dict(self.counts_by_status),
            "attemptsPerSession": dict(self.attempts_per_session),
            "sessionsWithMultipleAttempts": dict(self.sessions_with_multiple_attempts),
            "approvalsPerPayout": dict(self.approvals_per_payout),
            "requestsByEndpoint": dict(self.requests_by_endpoint),
            "totalRequests": self.total_requests,
        }


def _to_model(record: TransactionRecord) -> Transaction:
    wire = record.wire()
    return parse(Transaction, {**wire, "paymentAmount": str(record.amount)})


def build_ledger(
    records: Iterable[TransactionRecord],
    sessions: Iterable[Session],
    requests_by_endpoint: Mapping[str, int],
) -> Ledger:
    """Snapshot the sandbox's records into a :class:`Ledger`."""
    records = list(records)
    attempts = {s.id: s.attempts for s in sessions if s.attempts}
    return Ledger(
        transactions=_frozen({r.id: _to_model(r) for r in records}),
        kinds=_frozen({r.id: r.kind for r in records}),
        counts_by_status=_frozen(Counter(r.status.value for r in records)),
        attempts_per_session=_frozen(attempts),
        sessions_with_multiple_attempts=_frozen({k: v for k, v in attempts.items() if v > 1}),
        approvals_per_payout=_frozen({r.id: r.approvals for r in records if r.kind == "payout"}),
        requests_by_endpoint=_frozen(requests_by_endpoint),
        total_requests=sum(requests_by_endpoint.values()),
    )
