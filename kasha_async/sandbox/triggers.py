"""Deterministic inputs that make the sandbox answer a given error code, as data.

Two magic inputs reach every code of the reference table
(:data:`kasha_async._codes.CODE_TABLE`):

- a **magic amount** ``<code>.13`` (e.g. ``3000.13``) on the session, and
- a **magic card number** ``4000`` + the code as 4 digits + ``00000000`` in
  ``extraData.cardnum`` (e.g. ``4000300000000000``), for payments and payouts.

Both fire when the payment is posted or the payout created: codes 1000-1009
answer as validation errors (HTTP 400, the session stays usable), 3017 as a
duplicate (HTTP 409), every other code as a decline (HTTP 400, the transaction
becomes DECLINED; 1100 makes it ERROR). A few special triggers drive the status
progression instead: :data:`THREE_DS_CARD` asks for a 3DS redirect, and a payout
amount ``<code>.31`` is approved but then declined by the processor with that code.
:func:`render_markdown` turns this module into the table of ``docs/sandbox.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType

import attrs

from .._codes import CODE_TABLE

#: Cents that make an amount a decline/validation trigger: ``<code>.13``.
TRIGGER_CENTS = "13"
#: Cents that make a payout amount a processor-decline trigger: ``<code>.31``.
PROCESSOR_DECLINE_CENTS = "31"
#: A card that always succeeds without 3DS.
SUCCESS_CARD = "4242424242424242"
#: A card whose payment answers ``resultType: "redirect"`` and stays PENDING (3DS).
THREE_DS_CARD = "4000000000003220"


@attrs.frozen(kw_only=True)
class Trigger:
    """How to make the sandbox answer one error code."""

    code: int
    status: str
    reason: str
    amount: Decimal
    card: str
    http_status: int


def _http_status(code: int) -> int:
    return 409 if code == 3017 else 400


def _build() -> Mapping[int, Trigger]:
    table = {
        code: Trigger(
            code=code,
            status=info.status,
            reason=info.reason,
            amount=Decimal(f"{code}.{TRIGGER_CENTS}"),
            card=f"4000{code:04d}00000000",
            http_status=_http_status(code),
        )
        for code, info in sorted(CODE_TABLE.items())
    }
    return MappingProxyType(table)


#: Code -> its trigger, for every code of the reference table.
TRIGGERS: Mapping[int, Trigger] = _build()
_BY_AMOUNT: Mapping[Decimal, int] = MappingProxyType({t.amount: t.code for t in TRIGGERS.values()})
_BY_CARD: Mapping[str, int] = MappingProxyType({t.card: t.code for t in TRIGGERS.values()})


def trigger_amount(code: int) -> Decimal:
    """The amount whose post/create is answered with ``code`` (e.g. ``3000.13``)."""
    return TRIGGERS[code].amount


def trigger_card(code: int) -> str:
    """The card number whose post/create is answered with ``code``."""
    return TRIGGERS[code].card


def processor_decline_amount(code: int = 3001) -> Decimal:
    """A payout amount that is approved, then declined by the processor with ``code``."""
    if code not in CODE_TABLE or 1000 <= code <= 1009:
        raise ValueError(f"{code} is not a decline code")
    return Decimal(f"{code}.{PROCESSOR_DECLINE_CENTS}")


def code_for_amount(amount: Decimal) -> int | None:
    """The code an amount triggers at post/create, if it is a magic amount."""
    return _BY_AMOUNT.get(amount)


def code_for_card(card: object) -> int | None:
    """The code a card number triggers, if it is a magic card (spaces and dashes ignored)."""
    if not isinstance(card, str):
        return None
    return _BY_CARD.get(card.replace(" ", "").replace("-", ""))


def processor_decline_code(amount: Decimal) -> int | None:
    """The code the processor declines an approved payout with, if ``amount`` says so."""
    whole, fraction = divmod(amount, 1)
    if amount < 0 or fraction != Decimal(f"0.{PROCESSOR_DECLINE_CENTS}"):
        return None
    code = int(whole)
    return code if code in CODE_TABLE and not 1000 <= code <= 1009 else None


def render_markdown() -> str:
    """The trigger tables of ``docs/sandbox.md``, generated from this module's data."""
    lines = [
        "| code | status | reason | HTTP | magic amount | magic card |",
        "|---|---|---|---|---|---|",
    ]
    for t in TRIGGERS.values():
        lines.append(
            f"| {t.code} | {t.status} | {t.reason} | {t.http_status} | `{t.amount}` | `{t.card}` |"
        )
    lines += [
        "",
        "| special trigger | input | effect |",
        "|---|---|---|",
        f"| success card | `extraData.cardnum = {SUCCESS_CARD}` (or any other card) "
        "| payment COMPLETED at once |",
        f"| 3DS redirect | `extraData.cardnum = {THREE_DS_CARD}` "
        '| `resultType: "redirect"`, PENDING until `payment_delay` or a control call |',
        f"| processor decline | payout amount `<code>.{PROCESSOR_DECLINE_CENTS}`, "
        f"e.g. `{processor_decline_amount()}` "
        "| APPROVE -> PROCESSING -> DECLINED with that code |",
    ]
    return "\n".join(lines) + "\n"
