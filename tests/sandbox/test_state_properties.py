"""Random operation sequences on SandboxState never break the money invariants."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kasha_async._codes import TransactionStatus as S
from kasha_async.sandbox import ManualClock, SandboxError, SandboxState, trigger_card
from kasha_async.sandbox.options import payment_options_for, payout_option_for

from ._helpers import initiate_body

CARDS = ["4242424242424242", trigger_card(3000), trigger_card(1004), trigger_card(1100)]
OPERATIONS = [
    "post",
    "create",
    "approve",
    "decline",
    "refund",
    "get",
    "advance",
    "complete",
    "process",
]


def _open(state: SandboxState) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    payments: list[Any] = [
        state.initiate("payment", initiate_body(merchantReference=f"p{i}")) for i in range(2)
    ]
    payouts: list[Any] = [
        state.initiate("payout", initiate_body(merchantReference=f"o{i}")) for i in range(2)
    ]
    return payments, [wrapped[0] for wrapped in payouts]


def _apply(state: SandboxState, op: str, slot: int, card: str, opened: Any) -> str | None:
    """Run one operation; the transaction id a post/create succeeded for, else None."""
    payments, payouts = opened
    pay, out = payments[slot % 2], payouts[slot % 2]
    card_option = payment_options_for("BR")[0].payment_option_id
    payout_option = payout_option_for("BR").payment_option_id
    actions: dict[str, Callable[[], object]] = {
        "post": lambda: state.post_payment(
            {
                "sessionId": pay["sessionId"],
                "paymentOptionId": card_option,
                "extraData": {"cardnum": card},
            },
            origin="http://sandbox",
        ),
        "create": lambda: state.create_payout(
            {"sessionId": out["sessionId"], "paymentOptionId": payout_option}
        ),
        "approve": lambda: state.settle(
            {"action": "APPROVE", "transactionId": out["transactionId"]}
        ),
        "decline": lambda: state.settle(
            {"action": "DECLINE", "transactionId": out["transactionId"]}
        ),
        "refund": lambda: state.refund({"merchantReference": f"p{slot % 2}"}),
        "get": lambda: state.get_transaction(pay["transactionId"]),
        "advance": lambda: state.clock.advance(10 * 60),
        "complete": lambda: state.complete(pay["transactionId"]),
        "process": lambda: state.settle_processing(),
    }
    try:
        actions[op]()
    except SandboxError:
        return None
    if op == "post":
        return str(pay["transactionId"])
    return str(out["transactionId"]) if op == "create" else None


def _moved_legally(before: S, after: S) -> bool:
    if not before.is_final:
        return True
    return after == before or (before, after) == (S.COMPLETED, S.REFUNDED)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(OPERATIONS), st.integers(0, 1), st.sampled_from(CARDS)),
        max_size=30,
    )
)
def test_random_sequences_keep_the_invariants(steps: list[tuple[str, int, str]]) -> None:
    """No session takes two payments, no payout is approved twice, no final status is left."""
    state = SandboxState(payment_delay=None, payout_delay=None, clock=ManualClock(start=0.0))
    opened = _open(state)
    successes: dict[str, int] = {}
    for op, slot, card in steps:
        before = {tx.id: tx.status for tx in state.transactions.values()}
        landed = _apply(state, op, slot, card, opened)
        if landed is not None:
            successes[landed] = successes.get(landed, 0) + 1
        assert all(_moved_legally(before[tx.id], tx.status) for tx in state.transactions.values())
    led = state.ledger()
    assert all(count == 1 for count in successes.values())
    assert all(count <= 1 for count in led.approvals_per_payout.values())
    assert sum(led.counts_by_status.values()) == 4


_KEYS = ["sessionId", "paymentOptionId", "optionId", "extraData", "amount", "currency", "country"]
_KEYS += ["redirectUrl", "customer", "merchantReference", "action", "transactionId", "language"]
_ENDPOINTS = ["initiate", "suboptions", "post", "hybrid", "create", "settle", "refund"]
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(_ENDPOINTS), st.dictionaries(st.sampled_from(_KEYS), _JSON, max_size=8))
def test_arbitrary_json_objects_are_refused_cleanly(endpoint: str, body: dict[str, Any]) -> None:
    """Any JSON object sent to any operation succeeds or is a 4xx SandboxError, never a crash."""
    state = SandboxState(payment_delay=None, payout_delay=None)
    calls: dict[str, Callable[[], object]] = {
        "initiate": lambda: state.initiate("payout", body),
        "suboptions": lambda: state.suboptions("payment", body),
        "post": lambda: state.post_payment(body, origin="http://sandbox"),
        "hybrid": lambda: state.hybrid(body, origin="http://sandbox"),
        "create": lambda: state.create_payout(body),
        "settle": lambda: state.settle(body),
        "refund": lambda: state.refund(body),
    }
    try:
        calls[endpoint]()
    except SandboxError as exc:
        status = exc.http_status
    else:
        status = 200
    assert 200 <= status < 500
