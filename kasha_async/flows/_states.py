"""Flow states, the one transition table, the step table, and server status -> flow state.

Pure: no I/O, no clock, no client. Everything that decides "may the flow go from
here to there" or "may this step run now" is in this module and nowhere else::

    CREATED ──choose──▶ OPTION_CHOSEN ──pay/create──▶ SUBMITTED   (marked before the send)
       │                  ▲        │                     │
       │                  └────────┘ validation error    ├─ payment: server PENDING ─┐
       ├──hybrid_link / cashier_link──▶ SUBMITTED         └─ payout: PENDING_APPROVAL │
       │                                                     │approve   │decline      │
       ▼                                                     ▼          ▼             ▼
    EXPIRED (time's up, nothing sent)                   PROCESSING   DECLINED    COMPLETED
                                                           ├─▶ COMPLETED ──refund──▶ REFUNDED
                                                           └─▶ DECLINED / ERROR
    a send whose outcome is unknown ──▶ OUTCOME_UNKNOWN ──refresh()──▶ what the server says
    a transaction that is not what the flow asked for ──▶ OUTCOME_UNKNOWN (where allowed)

Steps that touch the session (``choose``, ``pay``/``create``, ``hybrid_link``)
are refused once the session is used or expired; the others follow the step table.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Protocol

from .._codes import TransactionStatus
from .._errors import (
    FlowStateError,
    IllegalTransitionError,
    SessionAlreadyUsedError,
    SessionExpiredError,
)


class FlowKind(enum.StrEnum):
    """Whether a flow carries a payment or a payout (the step names differ)."""

    PAYMENT = "payment"
    PAYOUT = "payout"


class FlowState(enum.StrEnum):
    """Where a payment or payout flow stands."""

    CREATED = "CREATED"
    OPTION_CHOSEN = "OPTION_CHOSEN"
    SUBMITTED = "SUBMITTED"
    PENDING_APPROVAL = "PENDING_APPROVAL"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    DECLINED = "DECLINED"
    ERROR = "ERROR"
    EXPIRED = "EXPIRED"
    REFUNDED = "REFUNDED"
    OUTCOME_UNKNOWN = "OUTCOME_UNKNOWN"

    @property
    def is_terminal(self) -> bool:
        """Whether nothing can follow (COMPLETED still allows a refund, so it is terminal too)."""
        return self in TERMINAL


S = FlowState
#: A bare status or flow state, as opposed to a :class:`StatusStamp`. Built once: the
#: union in an ``isinstance`` call would be built again on every comparison.
_BARE_STATUS = TransactionStatus | FlowState
TERMINAL: frozenset[FlowState] = frozenset(
    {S.COMPLETED, S.DECLINED, S.ERROR, S.EXPIRED, S.REFUNDED}
)
#: States in which the session's one payment/payout was sent (or handed to the cashier).
SESSION_USED: frozenset[FlowState] = frozenset(
    {S.SUBMITTED, S.PENDING_APPROVAL, S.PROCESSING, S.OUTCOME_UNKNOWN} | (TERMINAL - {S.EXPIRED})
)
_OBSERVED = frozenset({S.SUBMITTED, S.PENDING_APPROVAL, S.PROCESSING} | TERMINAL)

#: The transition table: state -> the states it may move to. Moves to states the
#: server reports (after a refresh, a webhook or a resumed flow) are included.
TRANSITIONS: Mapping[FlowState, frozenset[FlowState]] = MappingProxyType(
    {
        S.CREATED: frozenset({S.OPTION_CHOSEN} | _OBSERVED),
        S.OPTION_CHOSEN: frozenset({S.OPTION_CHOSEN} | _OBSERVED),
        S.SUBMITTED: frozenset({S.OPTION_CHOSEN, S.OUTCOME_UNKNOWN} | _OBSERVED),
        S.PENDING_APPROVAL: frozenset({S.OUTCOME_UNKNOWN, S.PROCESSING} | TERMINAL),
        S.PROCESSING: frozenset({S.OUTCOME_UNKNOWN} | TERMINAL),
        S.OUTCOME_UNKNOWN: frozenset(_OBSERVED),
        S.COMPLETED: frozenset({S.REFUNDED, S.OUTCOME_UNKNOWN}),
        S.DECLINED: frozenset(),
        S.ERROR: frozenset(),
        S.EXPIRED: frozenset(),
        S.REFUNDED: frozenset(),
    }
)

#: The one status rank: how far along the life cycle a status is (final ones tie).
_STATUS_RANK: Mapping[TransactionStatus, int] = MappingProxyType(
    {
        TransactionStatus.CREATED: 0,
        TransactionStatus.PENDING: 1,
        TransactionStatus.PROCESSING: 2,
        TransactionStatus.COMPLETED: 3,
        TransactionStatus.DECLINED: 3,
        TransactionStatus.ERROR: 3,
        TransactionStatus.EXPIRED: 3,
        TransactionStatus.REFUNDED: 4,
    }
)
#: The status each flow state stands at, so that flow states share the status rank.
#: A sent-but-unanswered flow stands where a posted transaction does: PENDING.
_STANDS_AT: Mapping[FlowState, TransactionStatus] = MappingProxyType(
    {
        S.CREATED: TransactionStatus.CREATED,
        S.OPTION_CHOSEN: TransactionStatus.CREATED,
        S.SUBMITTED: TransactionStatus.PENDING,
        S.OUTCOME_UNKNOWN: TransactionStatus.PENDING,
        S.PENDING_APPROVAL: TransactionStatus.PENDING,
        S.PROCESSING: TransactionStatus.PROCESSING,
        S.COMPLETED: TransactionStatus.COMPLETED,
        S.DECLINED: TransactionStatus.DECLINED,
        S.ERROR: TransactionStatus.ERROR,
        S.EXPIRED: TransactionStatus.EXPIRED,
        S.REFUNDED: TransactionStatus.REFUNDED,
    }
)

_AFTER_START = frozenset(S) - {S.CREATED, S.OPTION_CHOSEN}
#: Step name -> states that allow it, per flow kind. ``refresh``/``feed`` are always allowed.
STEPS: Mapping[FlowKind, Mapping[str, frozenset[FlowState]]] = MappingProxyType(
    {
        FlowKind.PAYMENT: MappingProxyType(
            {
                "choose": frozenset({S.CREATED, S.OPTION_CHOSEN}),
                "fetch_suboptions": frozenset({S.OPTION_CHOSEN}),
                "pay": frozenset({S.OPTION_CHOSEN}),
                "hybrid_link": frozenset({S.CREATED, S.OPTION_CHOSEN}),
                "wait_final": _AFTER_START,
                "refund": frozenset({S.COMPLETED}),
            }
        ),
        FlowKind.PAYOUT: MappingProxyType(
            {
                "choose": frozenset({S.CREATED, S.OPTION_CHOSEN}),
                "fetch_suboptions": frozenset({S.OPTION_CHOSEN}),
                "create": frozenset({S.OPTION_CHOSEN}),
                "approve": frozenset({S.PENDING_APPROVAL}),
                "decline": frozenset({S.PENDING_APPROVAL}),
                "wait_final": _AFTER_START,
            }
        ),
    }
)
#: Steps that use the session: refused once it is used or expired.
SESSION_STEPS: frozenset[str] = frozenset(
    {"choose", "fetch_suboptions", "pay", "create", "hybrid_link"}
)


def transition(current: FlowState, target: FlowState) -> FlowState:
    """``target`` if the table allows ``current -> target`` (or they are equal); else raise."""
    if target is current or target in TRANSITIONS[current]:
        return target
    raise IllegalTransitionError(f"illegal flow transition {current} -> {target}")


def status_rank(status: TransactionStatus | FlowState) -> int | None:
    """Position in the life cycle: CREATED < PENDING < PROCESSING < final < REFUNDED.

    A flow state ranks as the status it stands at. ``None`` for a status the SDK
    does not know; such a status is ordered by ``updatedAt`` alone.
    """
    if isinstance(status, FlowState):
        status = _STANDS_AT[status]
    return _STATUS_RANK.get(status)


class StatusStamp(Protocol):
    """Anything with a status and an ``updatedAt``: a Transaction, a webhook DeliveryKey."""

    @property
    def status(self) -> TransactionStatus:
        """The status delivered."""
        ...

    @property
    def updated_at(self) -> datetime | None:
        """When the provider last changed the transaction, if it said."""
        ...


def is_older(
    candidate: StatusStamp | TransactionStatus | FlowState,
    known: StatusStamp | TransactionStatus | FlowState,
) -> bool:
    """Whether ``candidate`` is older news than ``known`` (a late webhook, a stale read).

    The one status order (:func:`status_rank`) decides; ``updatedAt`` breaks ties
    and orders unknown statuses when both sides carry it. Without enough
    information the answer is ``False``: when in doubt, news is applied, not dropped.
    """
    new_rank, old_rank = status_rank(_status_of(candidate)), status_rank(_status_of(known))
    if new_rank is not None and old_rank is not None and new_rank != old_rank:
        return new_rank < old_rank
    new_at, old_at = _updated_at(candidate), _updated_at(known)
    if new_at is None or old_at is None:
        return False
    return new_at < old_at


def _status_of(item: StatusStamp | TransactionStatus | FlowState) -> TransactionStatus | FlowState:
    return item if isinstance(item, _BARE_STATUS) else item.status


def _updated_at(item: StatusStamp | TransactionStatus | FlowState) -> datetime | None:
    return None if isinstance(item, _BARE_STATUS) else item.updated_at


def state_for_status(status: TransactionStatus, kind: FlowKind) -> FlowState | None:
    """The flow state a server status means; ``None`` for an unknown status (keep the state)."""
    return _STATE_OF[kind].get(status)


_BY_STATUS: Mapping[TransactionStatus, FlowState] = MappingProxyType(
    {
        TransactionStatus.PROCESSING: S.PROCESSING,
        TransactionStatus.COMPLETED: S.COMPLETED,
        TransactionStatus.DECLINED: S.DECLINED,
        TransactionStatus.ERROR: S.ERROR,
        TransactionStatus.EXPIRED: S.EXPIRED,
        TransactionStatus.REFUNDED: S.REFUNDED,
    }
)
#: The status table per flow kind, built once: applying a status is one lookup.
#: PENDING means a payment is submitted and a payout waits for approval.
_STATE_OF: Mapping[FlowKind, Mapping[TransactionStatus, FlowState]] = MappingProxyType(
    {
        kind: MappingProxyType(
            {TransactionStatus.CREATED: S.CREATED, TransactionStatus.PENDING: pending, **_BY_STATUS}
        )
        for kind, pending in [
            (FlowKind.PAYMENT, S.SUBMITTED),
            (FlowKind.PAYOUT, S.PENDING_APPROVAL),
        ]
    }
)


def allowed_steps(kind: FlowKind, state: FlowState) -> tuple[str, ...]:
    """The steps a flow of ``kind`` may take in ``state`` (``refresh`` always among them)."""
    steps = [name for name, states in STEPS[kind].items() if state in states]
    return (*steps, "refresh")


def check_step(
    kind: FlowKind, step: str, state: FlowState, *, transaction_id: str | None = None
) -> None:
    """Raise the right :class:`FlowStateError` if ``step`` may not run in ``state``.

    ``transaction_id`` (the flow's) is carried by the session errors raised.
    """
    if state in STEPS[kind][step]:
        return
    if step in SESSION_STEPS and state in SESSION_USED:
        raise SessionAlreadyUsedError(
            f"{step}(): the session already carried its one {kind} (flow is {state}); "
            "never send again: call 'await flow.refresh()' to learn what happened",
            transaction_id=transaction_id,
        )
    if step in SESSION_STEPS and state is S.EXPIRED:
        raise SessionExpiredError(
            f"{step}(): the session has expired; start a new flow", transaction_id=transaction_id
        )
    allowed = ", ".join(f"{name}()" for name in allowed_steps(kind, state))
    raise FlowStateError(f"{step}() is not allowed while the flow is {state}; allowed: {allowed}")
