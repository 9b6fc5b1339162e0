"""The pure state module: transition table, step table and status mapping."""

from __future__ import annotations

import pytest

from kasha_async import FlowStateError, SessionAlreadyUsedError, SessionExpiredError
from kasha_async._codes import TransactionStatus
from kasha_async.flows import FlowState, IllegalTransitionError
from kasha_async.flows._states import (
    TERMINAL,
    TRANSITIONS,
    FlowKind,
    allowed_steps,
    check_step,
    is_older,
    state_for_status,
    transition,
)

S = FlowState


def test_every_state_has_a_row_and_only_completed_leaves_the_terminal_set() -> None:
    """The table covers every state; of the terminal states only COMPLETED has exits."""
    assert set(TRANSITIONS) == set(FlowState)
    assert {state for state in TERMINAL if TRANSITIONS[state]} == {S.COMPLETED}
    assert TRANSITIONS[S.COMPLETED] == {S.REFUNDED, S.OUTCOME_UNKNOWN}


def test_an_illegal_transition_raises_instead_of_overwriting() -> None:
    """DECLINED -> COMPLETED is refused loudly; staying in a state is always allowed."""
    with pytest.raises(IllegalTransitionError, match="DECLINED -> COMPLETED"):
        transition(S.DECLINED, S.COMPLETED)
    assert transition(S.DECLINED, S.DECLINED) is S.DECLINED
    assert transition(S.SUBMITTED, S.OPTION_CHOSEN) is S.OPTION_CHOSEN


@pytest.mark.parametrize(
    ("status", "kind", "expected"),
    [
        (TransactionStatus.CREATED, FlowKind.PAYMENT, S.CREATED),
        (TransactionStatus.PENDING, FlowKind.PAYMENT, S.SUBMITTED),
        (TransactionStatus.PENDING, FlowKind.PAYOUT, S.PENDING_APPROVAL),
        (TransactionStatus.PROCESSING, FlowKind.PAYOUT, S.PROCESSING),
        (TransactionStatus.COMPLETED, FlowKind.PAYMENT, S.COMPLETED),
        (TransactionStatus.DECLINED, FlowKind.PAYOUT, S.DECLINED),
        (TransactionStatus.ERROR, FlowKind.PAYMENT, S.ERROR),
        (TransactionStatus.EXPIRED, FlowKind.PAYMENT, S.EXPIRED),
        (TransactionStatus.REFUNDED, FlowKind.PAYMENT, S.REFUNDED),
        (TransactionStatus("ON_HOLD"), FlowKind.PAYMENT, None),
    ],
)
def test_server_statuses_map_to_flow_states(
    status: TransactionStatus, kind: FlowKind, expected: FlowState | None
) -> None:
    """Each server status means one flow state per kind; an unknown status means none."""
    assert state_for_status(status, kind) is expected


def test_older_news_is_recognised_by_rank() -> None:
    """PROCESSING after COMPLETED is older news; COMPLETED after PROCESSING is not."""
    assert is_older(S.PROCESSING, S.COMPLETED)
    assert not is_older(S.COMPLETED, S.PROCESSING)
    assert not is_older(S.OUTCOME_UNKNOWN, S.SUBMITTED)


def test_a_send_on_a_used_session_is_session_already_used() -> None:
    """pay() after the session carried its payment points to refresh()."""
    with pytest.raises(SessionAlreadyUsedError, match="refresh"):
        check_step(FlowKind.PAYMENT, "pay", S.OUTCOME_UNKNOWN)


def test_a_send_on_an_expired_session_is_session_expired() -> None:
    """create() on an EXPIRED payout flow raises SessionExpiredError."""
    with pytest.raises(SessionExpiredError):
        check_step(FlowKind.PAYOUT, "create", S.EXPIRED)


def test_an_out_of_order_step_names_the_allowed_next_steps() -> None:
    """refund() on a fresh flow names choose() and hybrid_link() as what may come next."""
    with pytest.raises(FlowStateError, match=r"allowed: choose\(\), hybrid") as caught:
        check_step(FlowKind.PAYMENT, "refund", S.CREATED)
    assert not isinstance(caught.value, SessionAlreadyUsedError)
    assert allowed_steps(FlowKind.PAYOUT, S.PENDING_APPROVAL) == (
        "approve",
        "decline",
        "wait_final",
        "refresh",
    )


def test_a_processing_flow_may_become_outcome_unknown() -> None:
    """PROCESSING may move to OUTCOME_UNKNOWN: a transaction that mismatches the flow there."""
    assert transition(S.PROCESSING, S.OUTCOME_UNKNOWN) is S.OUTCOME_UNKNOWN


def test_session_errors_of_a_refused_step_carry_the_transaction_id() -> None:
    """check_step's SessionAlreadyUsedError names the transaction the flow gave it."""
    with pytest.raises(SessionAlreadyUsedError) as info:
        check_step(FlowKind.PAYMENT, "pay", S.COMPLETED, transaction_id="tx-9")
    assert info.value.transaction_id == "tx-9"
