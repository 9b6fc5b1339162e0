"""The calls a batch makes for one payout, behind a Protocol the runner depends on.

:class:`FlowDriver` makes them with :class:`~kasha_async.flows.PayoutFlow` for
the forward path (open, choose, create, approve) and with the client for what
needs only ids (reconciliation lookups, a resend on a journaled session, settling
a held payout). Tests drive the runner with a fake.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

import attrs

from .._client import KashaClient
from .._codes import SettleAction, TransactionStatus
from .._errors import (
    InvalidRequestError,
    OptionNotFoundError,
)
from .._models import PayoutOptionsRequest, Transaction
from ..flows import PayoutFlow
from ._items import PayoutItem


@attrs.frozen(kw_only=True, slots=True)
class OpenedSession:
    """A payout session opened for an item, with the option ids its create will use."""

    session_id: str
    transaction_id: str
    payment_option_id: str
    option_id: str | None = None
    #: The driver's own object for the next step (e.g. the PayoutFlow); never journaled.
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

    async def create(self, item: PayoutItem, session: OpenedSession) -> None:
        """Create the session's one payout (PENDING when this returns)."""

    async def approve(self, transaction_id: str) -> TransactionStatus:
        """Settle a PENDING payout with APPROVE; the status it moved to."""

    async def lookup(self, transaction_id: str) -> Transaction:
        """The transaction as the server has it now."""

    async def wait_final(self, transaction_id: str, *, timeout: float) -> Transaction:
        """Poll until the transaction is final or ``timeout`` passes; the last one seen."""


class ClientDriver:
    """A :class:`PayoutDriver` on the client's resources alone (no flow objects)."""

    def __init__(self, kasha: KashaClient, *, poll_interval: float = 0.2) -> None:
        self.kasha = kasha
        self.poll_interval = poll_interval

    async def open(self, item: PayoutItem, *, redirect_url: str) -> OpenedSession:
        """Open a payout session and find the item's option (suboptions when no id is given)."""
        session = await self.kasha.payouts.options(session_request(item, redirect_url))
        wanted = item.option.casefold()
        for option in session.payment_options:
            if (option.name or "").casefold() == wanted or option.payment_option_id == item.option:
                return await self._with_suboption(
                    item, session.session_id, session.transaction_id, option.payment_option_id
                )
        raise OptionNotFoundError(
            f"payout option {item.option!r} is not offered for {item.country}"
        )

    async def _with_suboption(
        self, item: PayoutItem, session_id: str, transaction_id: str, payment_option_id: str
    ) -> OpenedSession:
        option_id = item.option_id
        if option_id is None:
            subs = await self.kasha.payouts.suboptions(
                session_id=session_id, payment_option_id=payment_option_id
            )
            option_id = subs.options[0].id if subs.options else None
        return OpenedSession(
            session_id=session_id,
            transaction_id=transaction_id,
            payment_option_id=payment_option_id,
            option_id=option_id,
        )

    async def create(self, item: PayoutItem, session: OpenedSession) -> None:
        """Create the payout on ``session`` (a resend on the same session is safe)."""
        await self.kasha.payouts.create(
            session_id=session.session_id,
            payment_option_id=session.payment_option_id,
            option_id=session.option_id,
            extra_data=dict(item.extra_data) or None,
            transaction_id=session.transaction_id,
        )

    async def approve(self, transaction_id: str) -> TransactionStatus:
        """APPROVE the payout; the status the server reports."""
        result = await self.kasha.payouts.settle(
            transaction_id=transaction_id, action=SettleAction.APPROVE
        )
        return result.status

    async def lookup(self, transaction_id: str) -> Transaction:
        """``GET /v2/transactions/{id}``."""
        return await self.kasha.transactions.get(transaction_id)

    async def wait_final(self, transaction_id: str, *, timeout: float) -> Transaction:
        """Poll with a growing interval until final or ``timeout``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        delay = self.poll_interval / 4
        while True:
            tx = await self.lookup(transaction_id)
            left = deadline - loop.time()
            if tx.is_final or left <= 0:
                return tx
            await asyncio.sleep(min(delay, left))
            delay = min(delay * 2, self.poll_interval * 10)


class FlowDriver(ClientDriver):
    """The :class:`PayoutDriver` of a batch: :class:`PayoutFlow` walks each new payout.

    A session restored from the journal has no flow object; its create is resent
    with the client on the same session, which one-payout-per-session makes safe.
    """

    async def open(self, item: PayoutItem, *, redirect_url: str) -> OpenedSession:
        """``PayoutFlow.start`` then ``choose`` the item's option (suboptions fetched)."""
        flow = await PayoutFlow.start(self.kasha, session_request(item, redirect_url))
        try:
            option = flow.option(name=item.option)
        except InvalidRequestError as exc:
            raise OptionNotFoundError(str(exc)) from None
        subs = await flow.choose(option)
        option_id = item.option_id
        if option_id is None and subs is not None and subs.options:
            option_id = subs.options[0].id
        return OpenedSession(
            session_id=flow.session_id,
            transaction_id=flow.transaction_id,
            payment_option_id=option.payment_option_id,
            option_id=option_id,
            handle=flow,
        )

    async def create(self, item: PayoutItem, session: OpenedSession) -> None:
        """``flow.create`` (form data checked first); a restored session goes through the client."""
        flow = session.handle
        if not isinstance(flow, PayoutFlow):
            await super().create(item, session)
            return
        await flow.create(option_id=session.option_id, extra_data=dict(item.extra_data) or None)
