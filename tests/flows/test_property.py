"""Random sequences of flow calls never put two payments on one session (sandbox ledger)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kasha_async import KashaClient, KashaError, ValidationError
from kasha_async.flows import IllegalTransitionError, PaymentFlow
from kasha_async.sandbox import Sandbox, trigger_card

from .conftest import FakeClock, card, payment_fields

Action = Callable[[PaymentFlow, FakeClock], Awaitable[object]]
BANK = {"document": "12345678"}


async def _pay_twice(flow: PaymentFlow, _: FakeClock) -> object:
    return await asyncio.gather(
        flow.pay(extra_data=card()), flow.pay(extra_data=card()), return_exceptions=True
    )


async def _expire(_: PaymentFlow, clock: FakeClock) -> None:
    clock.advance(31 * 60)


ACTIONS: dict[str, Action] = {
    "choose_card": lambda f, _: f.choose(f.option(name="Card")),
    "choose_bank": lambda f, _: f.choose(f.option(name="Bank Transfer")),
    "pay_card": lambda f, _: f.pay(extra_data=card()),
    "pay_card_1004": lambda f, _: f.pay(extra_data=card(trigger_card(1004))),
    "pay_card_3000": lambda f, _: f.pay(extra_data=card(trigger_card(3000))),
    "pay_card_1100": lambda f, _: f.pay(extra_data=card(trigger_card(1100))),
    "pay_bank": lambda f, _: f.pay(option_id="b_102", extra_data=BANK),
    "pay_bank_bad_form": lambda f, _: f.pay(option_id="b_102", extra_data={"document": "1"}),
    "pay_twice": _pay_twice,
    "hybrid": lambda f, _: f.hybrid_link(f.option(name="Card")),
    "refresh": lambda f, _: f.refresh(),
    "wait_final": lambda f, _: f.wait_final(timeout=0.5, poll_interval=0.01),
    "refund": lambda f, _: f.refund(),
    "expire": _expire,
}


async def _run(kasha: KashaClient, names: list[str]) -> tuple[str, int]:
    """Play ``names`` on one fresh flow (resuming it from a snapshot after each call)."""
    clock = FakeClock()
    flow = await PaymentFlow.start(kasha, clock=clock, **payment_fields())
    rejected_by_validation = 0
    for name in names:
        try:
            await ACTIONS[name](flow, clock)
        except IllegalTransitionError:
            raise
        except ValidationError:
            rejected_by_validation += 1
        except (KashaError, TimeoutError):
            pass  # refusals are expected; what matters is what reached the sandbox
        flow = PaymentFlow.from_dict(kasha, flow.to_dict(), clock=clock)
    return flow.session_id, rejected_by_validation


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(names=st.lists(st.sampled_from(sorted(ACTIONS)), min_size=1, max_size=8))
async def test_random_call_sequences_never_pay_twice_in_one_session(
    kasha_sandbox: Sandbox, kasha_client: KashaClient, names: list[str]
) -> None:
    """Whatever the order of calls, a session receives at most one post beyond rejected ones."""
    session_id, rejected = await _run(kasha_client, names)
    attempts = kasha_sandbox.ledger().attempts_per_session.get(session_id, 0)
    assert attempts - rejected <= 1
    assert kasha_sandbox.state.internal_errors == []
