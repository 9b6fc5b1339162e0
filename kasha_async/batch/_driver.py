"""The calls a batch makes for one payout, all through :class:`~kasha_async.flows.PayoutFlow`.

There is one driver, :class:`FlowDriver`: the flow opens the session, picks the
option (by name or by ``paymentOptionId``), checks the form before every create
(a resent one too), settles, polls and decides what an error means. The batch
journals the flow's own snapshot (:meth:`PayoutFlow.to_dict`) before each send
and resumes with :meth:`PayoutFlow.from_dict`, which re-checks the server first:
one resumable format, one poller, one form check. :class:`PayoutDriver` is the
seam the steps depend on (tests put a fake provider behind it).
"""

from __future__ import annotations

import json
from typing import Any, Protocol

import attrs

from .._client import KashaClient
from .._codes import TransactionStatus
from .._errors import ConfigError, DeclinedError, InvalidRequestError, OptionNotFoundError
from .._models import PaymentOption, PayoutOptionsRequest, Transaction
from ..flows import PayoutFlow
from ..flows._forms import form_inputs, unknown_fields
from ._items import PayoutItem
from ._journal import JournalRecord


@attrs.frozen(kw_only=True, slots=True)
class OpenedSession:
    """A payout session opened for an item, with the option ids its create will use."""

    session_id: str
    transaction_id: str
    payment_option_id: str
    option_id: str | None = None
    #: The driver's own object for the next step (the PayoutFlow); journaled as its snapshot.
    handle: Any = attrs.field(default=None, eq=False, repr=False)


def session_request(item: PayoutItem, redirect_url: str) -> PayoutOptionsRequest:
    """The payout-options request that opens ``item``'s session, keyed by its reference."""
    return PayoutOptionsRequest(
        country=item.country,
        currency=item.currency,
        amount=item.amount,
        redirect_url=redirect_url,
        customer=item.customer,
        merchant_reference=item.reference,
    )


class PayoutDriver(Protocol):
    """One payout's calls; errors are the SDK's exception tree."""

    async def open(self, item: PayoutItem, *, redirect_url: str) -> OpenedSession:
        """Open a session for ``item`` and pick its option (moves no money)."""

    def restore(self, record: JournalRecord) -> OpenedSession:
        """The session as journaled before its last send (it re-checks the server first)."""

    def snapshot(self, session: OpenedSession) -> str | None:
        """What to journal before a send on ``session`` so :meth:`restore` can rebuild it."""

    async def create(self, item: PayoutItem, session: OpenedSession) -> None:
        """Create the session's one payout (PENDING when this returns)."""

    async def approve(self, session: OpenedSession) -> TransactionStatus:
        """Settle a PENDING payout with APPROVE; the status it moved to."""

    async def lookup(self, session: OpenedSession) -> Transaction:
        """The transaction as the server has it now."""

    async def wait_final(self, session: OpenedSession, *, timeout: float) -> Transaction:
        """Poll until the transaction is final or ``timeout`` passes; the last one seen."""


def choose_option(flow: PayoutFlow, wanted: str) -> PaymentOption:
    """The offered option named ``wanted`` (case-insensitive) or with that id."""
    for key in ("name", "id"):
        try:
            return flow.option(**{key: wanted})
        except InvalidRequestError:
            continue
    offered = ", ".join(f"{o.name!r} ({o.payment_option_id})" for o in flow.options) or "none"
    raise OptionNotFoundError(f"payout option {wanted!r} is not offered; offered: {offered}")


def check_form_fields(flow: PayoutFlow, option_id: str | None, item: PayoutItem) -> None:
    """Refuse ``extra_data`` fields the chosen option's form does not have (a typo, a wrong name).

    The flow checks the fields the form has; a field it lacks would be dropped by
    the provider, so ``extra.cbu`` where the form says ``account`` would pay with
    the bank details missing.
    """
    option = flow.chosen_option
    assert option is not None
    inputs = form_inputs(option, flow.suboptions, option_id)
    unknown = unknown_fields(inputs, item.extra_data)
    if unknown:
        fields = sorted({f.name for f in inputs})
        named = ", ".join(f"extra.{name}" for name in unknown)
        raise InvalidRequestError(
            f"{named}: not in the form of option {option.name!r} (its fields: "
            f"{', '.join(fields) or 'none'})"
        )


class FlowDriver:
    """The :class:`PayoutDriver` of a batch: a :class:`PayoutFlow` per payout, end to end."""

    def __init__(self, kasha: KashaClient, *, poll_interval: float = 0.2) -> None:
        self.kasha = kasha
        self.poll_interval = poll_interval

    async def open(self, item: PayoutItem, *, redirect_url: str) -> OpenedSession:
        """``PayoutFlow.start``, then ``choose`` the item's option (suboptions fetched)."""
        flow = await PayoutFlow.start(self.kasha, session_request(item, redirect_url))
        option = choose_option(flow, item.option)
        subs = await flow.choose(option)
        option_id = item.option_id
        if option_id is None and subs is not None and subs.options:
            option_id = subs.options[0].id
        check_form_fields(flow, option_id, item)
        return OpenedSession(
            session_id=flow.session_id,
            transaction_id=flow.transaction_id,
            payment_option_id=option.payment_option_id,
            option_id=option_id,
            handle=flow,
        )

    def restore(self, record: JournalRecord) -> OpenedSession:
        """``PayoutFlow.from_dict`` on the snapshot journaled before the record's last send."""
        if record.flow is None:
            raise ConfigError(
                f"item {record.reference!r} has no journaled flow snapshot (a journal written "
                "by an older kasha-async): finish that batch with the version that started it"
            )
        flow = PayoutFlow.from_dict(self.kasha, json.loads(record.flow))
        return OpenedSession(
            session_id=flow.session_id,
            transaction_id=flow.transaction_id,
            payment_option_id=record.payment_option_id or "",
            option_id=record.option_id,
            handle=flow,
        )

    def snapshot(self, session: OpenedSession) -> str | None:
        """The flow's :meth:`~PayoutFlow.to_dict`, as compact JSON."""
        return json.dumps(_flow(session).to_dict(), separators=(",", ":"))

    async def create(self, item: PayoutItem, session: OpenedSession) -> None:
        """``flow.create``: the form data is checked first, a resend included."""
        extra = dict(item.extra_data) or None
        await _flow(session).create(option_id=session.option_id, extra_data=extra)

    async def approve(self, session: OpenedSession) -> TransactionStatus:
        """``flow.approve``; the status the server reports."""
        return (await _flow(session).approve()).status

    async def lookup(self, session: OpenedSession) -> Transaction:
        """``flow.refresh``: ``GET /v2/transactions/{id}``, the flow moved to what it says."""
        return await _flow(session).refresh()

    async def wait_final(self, session: OpenedSession, *, timeout: float) -> Transaction:
        """``flow.wait_final``; on the timeout, the last transaction seen (not final)."""
        flow = _flow(session)
        if flow.is_resumed:  # a restored flow learns where it stands before it may wait
            await flow.refresh()
        try:
            return await flow.wait_final(
                timeout,
                poll_interval=self.poll_interval / 4,
                max_poll_interval=self.poll_interval * 10,
            )
        except (TimeoutError, DeclinedError):  # the transaction says which: the steps read it
            if flow.transaction is None:
                raise
            return flow.transaction


def _flow(session: OpenedSession) -> PayoutFlow:
    flow = session.handle
    if not isinstance(flow, PayoutFlow):
        raise TypeError("the session has no PayoutFlow: open() or restore() it first")
    return flow
