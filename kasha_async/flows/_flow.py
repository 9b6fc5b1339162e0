"""The flow's session half: opening, clock and expiry, the step guard, and the one send.

:class:`BaseFlow` adds the provider session to :class:`~._observe.ObservedFlow`.
Every step runs inside ``async with self._step(name):`` — the one guard that
re-checks a resumed flow with the server, refuses a step the table forbids, a
step while another runs, or a send too close to expiry, and turns the server's
"session gone" (410) into EXPIRED. What a failed send *means* (not sent, did
not land, unknown) is asked of :mod:`kasha_async._outcome`; this module only
picks the state that meaning leads to.

A subclass only says which client resource it uses (``_resource``: ``kasha.payments``
or ``kasha.payouts``, whose calls are named alike), which call sends its one
payment or payout (``_send_call``, operation ``_send_operation``), how its
request is built from keywords (``_make_request``) and what a successful send
means for the state (``_submitted``).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar

import attrs

from .. import _telemetry
from .._client import KashaClient
from .._constants import SESSION_LIFETIME_SECONDS
from .._errors import (
    ConflictError,
    DeclinedError,
    FlowStateError,
    InvalidRequestError,
    KashaError,
    SessionAlreadyUsedError,
    SessionExpiredError,
    SessionGoneError,
    ValidationError,
)
from .._models import (
    CashierLink,
    InitiatedSession,
    PaymentOption,
    PaymentOptionsRequest,
    PayoutOptionsRequest,
    SubmitResult,
    Suboptions,
)
from .._operations import OPERATIONS
from .._outcome import Outcome, of_error
from ._forms import form_inputs, form_problems
from ._observe import ObservedFlow, logger
from ._snapshot import Snapshot, check_margin
from ._states import SESSION_STEPS, FlowState, check_step

#: A zero-argument callable returning an aware UTC datetime.
Clock = Callable[[], datetime]
#: Seconds before expiry after which a post/create/hybrid link is refused client side.
DEFAULT_SAFETY_MARGIN = 10.0
SESSION_LIFETIME = timedelta(seconds=SESSION_LIFETIME_SECONDS)
_ZERO = timedelta(0)
_SUBMIT_STEPS = frozenset({"pay", "create", "hybrid_link"})
R = TypeVar("R", PaymentOptionsRequest, PayoutOptionsRequest)
_R_contra = TypeVar("_R_contra", contravariant=True)


class SessionResource(Protocol[_R_contra]):
    """The calls a flow makes on ``kasha.payments`` or ``kasha.payouts`` (named alike on both)."""

    async def options(self, request: _R_contra, /) -> InitiatedSession:
        """Open a session and list its options."""
        ...

    async def create_session(self, request: _R_contra, /) -> CashierLink:
        """Open a session on the hosted cashier."""
        ...

    async def suboptions(self, *, session_id: str, payment_option_id: str) -> Suboptions:
        """List an option's suboptions and form inputs."""
        ...


class SendCall(Protocol):
    """``kasha.payments.post`` or ``kasha.payouts.create``: the session's one send."""

    def __call__(
        self,
        *,
        session_id: str,
        payment_option_id: str,
        option_id: str | None = None,
        extra_data: Mapping[str, Any] | None = None,
        transaction_id: str | None = None,
    ) -> Awaitable[SubmitResult]:
        """Send the payment or payout."""
        ...


#: The default flow clock: the current time as an aware UTC datetime. A partial, not
#: a function: read on every step, it then costs no Python frame.
utc_now: Clock = functools.partial(datetime.now, UTC)


@attrs.define(eq=False, kw_only=True)
class BaseFlow(ObservedFlow, Generic[R]):
    """Shared machinery of :class:`PaymentFlow` and :class:`PayoutFlow`; not used directly."""

    _submit_step: ClassVar[str]
    _send_operation: ClassVar[str]

    _session_id: str = attrs.field(repr=False)
    _expires_at: datetime
    _clock: Clock = attrs.field(repr=False)
    _safety_margin: timedelta = attrs.field(repr=False)
    _options: tuple[PaymentOption, ...] = attrs.field(repr=False)
    _country: str | None = None
    _option: PaymentOption | None = attrs.field(default=None, repr=False)
    _suboptions: Suboptions | None = attrs.field(default=None, repr=False)
    _cashier_url: str | None = attrs.field(default=None, repr=False)
    _busy: str | None = attrs.field(default=None, repr=False)
    #: The last status a restored snapshot carried, until the flow sees a transaction.
    _restored_status: str | None = attrs.field(default=None, repr=False)

    # --- construction ---------------------------------------------------------------------

    @classmethod
    async def start(
        cls,
        kasha: KashaClient,
        request: R | None = None,
        /,
        *,
        clock: Clock | None = None,
        safety_margin: float | timedelta = DEFAULT_SAFETY_MARGIN,
        **fields: Any,
    ) -> Self:
        """Open a session (``POST /v2/payment-options`` or ``/v2/payout-options``), return its flow.

        Pass the options request or its fields as keywords. ``clock`` is a
        zero-argument callable returning an aware UTC datetime; ``safety_margin``
        (seconds) refuses a send that would arrive too close to expiry.
        """
        with _telemetry.step(f"{cls.__name__}.start"):
            return await cls._open(kasha, request, fields, clock, safety_margin, cashier=False)

    @classmethod
    async def cashier_link(
        cls,
        kasha: KashaClient,
        request: R | None = None,
        /,
        *,
        clock: Clock | None = None,
        safety_margin: float | timedelta = DEFAULT_SAFETY_MARGIN,
        **fields: Any,
    ) -> Self:
        """Open a hosted-cashier session (``POST /v2/payment-session`` or ``/v2/payout-session``).

        The returned flow is SUBMITTED (the session belongs to the cashier): send
        the customer to :attr:`cashier_url`, then :meth:`wait_final` or :meth:`feed`.
        A payout the cashier created shows up PENDING_APPROVAL (``refresh``/``feed``),
        then ``approve``/``decline`` apply.
        """
        with _telemetry.step(f"{cls.__name__}.cashier_link"):
            return await cls._open(kasha, request, fields, clock, safety_margin, cashier=True)

    @classmethod
    async def _open(
        cls,
        kasha: KashaClient,
        request: R | None,
        fields: dict[str, Any],
        clock: Clock | None,
        safety_margin: float | timedelta,
        cashier: bool,
    ) -> Self:
        request = request or cls._make_request(fields)
        clock = clock or utc_now
        margin = check_margin(safety_margin)
        started = clock()  # before the request: our expiry is never later than the server's
        resource = cls._resource(kasha)
        opened: InitiatedSession | CashierLink
        if cashier:
            opened = await resource.create_session(request)
        else:
            opened = await resource.options(request)
        flow = cls(
            kasha=kasha,
            transaction_id=opened.transaction_id,
            session_id=opened.session_id,
            expires_at=started + SESSION_LIFETIME,
            clock=clock,
            safety_margin=margin,
            options=opened.payment_options if isinstance(opened, InitiatedSession) else (),
            merchant_reference=request.merchant_reference,
            country=request.country,
            currency=request.currency,
            amount=request.amount,
        )
        if isinstance(opened, CashierLink):
            flow._cashier_url = opened.cashier_url
            flow._move(FlowState.SUBMITTED)  # the session now belongs to the hosted cashier
        return flow

    @classmethod
    def _make_request(cls, fields: dict[str, Any]) -> R:
        """The options request built from :meth:`start`'s keywords."""
        raise NotImplementedError

    @staticmethod
    def _resource(kasha: KashaClient) -> SessionResource[R]:
        """``kasha.payments`` or ``kasha.payouts``."""
        raise NotImplementedError

    def _send_call(self) -> SendCall:
        """The client call that sends the session's one payment or payout."""
        raise NotImplementedError

    async def _submitted(self, result: SubmitResult) -> SubmitResult:
        """Record a successful post/create (the kind decides what it means); return the result."""
        raise NotImplementedError

    # --- what a user reads ------------------------------------------------------------------

    @property
    def session_id(self) -> str:
        """The provider session this flow uses."""
        return self._session_id

    @property
    def expires_at(self) -> datetime:
        """When the 30-minute session ends, by the flow's clock (measured before it opened)."""
        return self._expires_at

    @property
    def time_left(self) -> timedelta:
        """Time until the session ends: zero once it has, or once the flow is EXPIRED."""
        if self._state is FlowState.EXPIRED:
            return _ZERO  # the server's word (410, EXPIRED) or the safety margin ended it
        return max(_ZERO, self._expires_at - self._clock())

    @property
    def safety_margin(self) -> timedelta:
        """A post/create/hybrid link is refused this long before expiry."""
        return self._safety_margin

    @property
    def options(self) -> tuple[PaymentOption, ...]:
        """The options the session offers."""
        return self._options

    @property
    def cashier_url(self) -> str | None:
        """The hosted-cashier URL of :meth:`cashier_link` (or a payment's ``hybrid_link``)."""
        return self._cashier_url

    @property
    def chosen_option(self) -> PaymentOption | None:
        """The option given to :meth:`choose`, if any."""
        return self._option

    @property
    def suboptions(self) -> Suboptions | None:
        """The chosen option's suboptions and form inputs (``None`` for a card or before)."""
        return self._suboptions

    def option(self, name: str | None = None, *, id: str | None = None) -> PaymentOption:
        """The offered option with this name (case-insensitive) or this ``paymentOptionId``."""
        if (name is None) == (id is None):
            raise InvalidRequestError("give exactly one of name= or id=")
        for candidate in self._options:
            if id is not None and candidate.payment_option_id == id:
                return candidate
            if name is not None and (candidate.name or "").casefold() == name.casefold():
                return candidate
        offered = ", ".join(repr(o.name) for o in self._options) or "none"
        wanted = f"name {name!r}" if name is not None else f"id {id!r}"
        raise InvalidRequestError(f"no option with {wanted}; offered: {offered}")

    def _sent_method(self) -> str | None:
        # The method is the flow's own only once it sent the option itself: a cashier
        # (cashier_link, hybrid_link) lets the customer pick another.
        option = self._option if self._cashier_url is None else None
        return None if option is None else option.name

    # --- the step guard ---------------------------------------------------------------------

    def _step(self, step: str) -> _Step:
        """Run one step: re-check a resumed flow, refuse a step not allowed now, hold the flag.

        The flag refuses any other step until this one ends; a 410 on a step that
        uses the session moves the flow to EXPIRED (:class:`SessionExpiredError`).
        """
        return _Step(self, step)

    def _guard(self, step: str, running: str | None) -> None:
        check_step(self._kind, step, self._state, transaction_id=self._transaction_id)
        if running is not None:
            raise FlowStateError(f"{step}() called while {running}() is still running")
        if step == "choose" or step == "fetch_suboptions" or step in _SUBMIT_STEPS:
            margin = self._safety_margin if step in _SUBMIT_STEPS else _ZERO
            if self._clock() + margin >= self._expires_at:
                self._move(FlowState.EXPIRED)
                raise SessionExpiredError(
                    f"{step}(): the session expires at {self._expires_at.isoformat()} "
                    f"(safety margin {margin.total_seconds():g} s); start a new flow",
                    transaction_id=self._transaction_id,
                )

    def _server_expired(self, exc: SessionGoneError) -> SessionExpiredError:
        self._move(FlowState.EXPIRED)
        return SessionExpiredError(
            f"the server says the session expired: {exc.message}",
            transaction_id=self._transaction_id,
        )

    def _resolve(self, option: PaymentOption | str) -> PaymentOption:
        option_id = option if isinstance(option, str) else option.payment_option_id
        return self.option(id=option_id)

    # --- choosing ---------------------------------------------------------------------------

    async def choose(self, option: PaymentOption | str) -> Suboptions | None:
        """Choose an option (or its id) and fetch its suboptions; a card has none (``None``)."""
        async with self._step("choose"):
            chosen = self._resolve(option)
            subs = None if chosen.is_card else await self._suboptions_of(chosen)
            self._move(FlowState.OPTION_CHOSEN)
            self._option, self._suboptions = chosen, subs
        return subs

    async def fetch_suboptions(self) -> Suboptions:
        """Fetch the chosen option's suboptions again; a card option has none."""
        async with self._step("fetch_suboptions"):
            option = self._require_option()
            if option.is_card:
                raise FlowStateError("fetch_suboptions(): card options have no suboptions")
            self._suboptions = await self._suboptions_of(option)
        return self._suboptions

    def _suboptions_of(self, option: PaymentOption) -> Awaitable[Suboptions]:
        # The client's own call, awaited by the step: no coroutine of the flow's around it.
        return self._resource(self._kasha).suboptions(
            session_id=self._session_id, payment_option_id=option.payment_option_id
        )

    def _require_option(self) -> PaymentOption:
        if self._option is None:  # a resumed flow whose dict lost its option: a caller bug
            raise FlowStateError("no option chosen; call choose() first")
        return self._option

    # --- the one send -----------------------------------------------------------------------

    def form_problems(
        self, option_id: str | None = None, extra_data: Mapping[str, Any] | None = None
    ) -> list[str]:
        """What :meth:`pay`/``create`` would refuse in these inputs (empty when they are fine)."""
        option = self._require_option()
        problems: list[str] = []
        subs = self._suboptions
        if subs is not None:
            ids = [sub.id for sub in subs.options]
            if ids and option_id is None:
                problems.append(f"option_id: required, one of {ids}")
            elif ids and option_id not in ids:
                problems.append(f"option_id: {option_id!r} is not one of {ids}")
        elif option_id is not None and option.is_card:
            problems.append("option_id: card options take no suboption")
        inputs = form_inputs(option, subs, option_id)
        return problems + form_problems(inputs, extra_data or {})

    async def _submit(
        self, option_id: str | None, extra_data: Mapping[str, Any] | None
    ) -> SubmitResult:
        step = self._submit_step
        async with self._step(step):
            option = self._require_option()
            problems = self.form_problems(option_id, extra_data)
            if problems:
                raise InvalidRequestError(
                    f"{step}(): invalid request: " + "; ".join(problems), problems=tuple(problems)
                )
            self._move(FlowState.SUBMITTED)  # before the send: a second call never sends again
            try:
                result = await self._send_call()(
                    session_id=self._session_id,
                    payment_option_id=option.payment_option_id,
                    option_id=option_id,
                    extra_data=extra_data,
                    transaction_id=self._transaction_id,
                )
            except BaseException as exc:
                replacement = self._send_failed(exc)
                if replacement is None:
                    raise
                raise replacement from exc
            return await self._submitted(result)

    def _send_failed(self, exc: BaseException) -> BaseException | None:
        """Move the state for a failed send; return a clearer exception to raise, if any."""
        if isinstance(exc, SessionGoneError):
            return None  # the step guard turns the 410 into EXPIRED and SessionExpiredError
        self._move_unless_overtaken(FlowState.SUBMITTED, self._state_after(exc))
        if isinstance(exc, ConflictError):
            return SessionAlreadyUsedError(
                f"{self._submit_step}(): the server says the session was already used; "
                "call 'await flow.refresh()' to learn the outcome",
                transaction_id=self._transaction_id,
            )
        return None

    def _state_after(self, exc: BaseException) -> FlowState:
        """The state a failed send leads to, from what ``_outcome`` says the failure means.

        A cancellation (or any non-SDK error) may come after the request was written:
        OUTCOME_UNKNOWN. A decline (3017 included) ends the flow DECLINED; a
        validation decline leaves the session usable for a corrected send; a 409
        means the session carried a send the flow cannot see: OUTCOME_UNKNOWN.
        """
        if not isinstance(exc, KashaError):
            return FlowState.OUTCOME_UNKNOWN
        outcome = of_error(exc, OPERATIONS[self._send_operation].safety)
        if outcome is Outcome.UNKNOWN:
            return FlowState.OUTCOME_UNKNOWN
        if outcome is Outcome.NOT_SENT or isinstance(exc, ValidationError):
            return FlowState.OPTION_CHOSEN
        if isinstance(exc, DeclinedError):
            return FlowState.DECLINED
        if isinstance(exc, ConflictError):
            return FlowState.OUTCOME_UNKNOWN
        return FlowState.OPTION_CHOSEN  # the server refused it: the session is unused

    # --- persistence ------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """The flow's resumable state, typed (``to_dict`` is its JSON-safe form)."""
        option = self._option
        return Snapshot(
            kind=self._kind,
            state=self._state,
            transaction_id=self._transaction_id,
            session_id=self._session_id,
            expires_at=self._expires_at,
            safety_margin=self._safety_margin,
            merchant_reference=self._merchant_reference,
            country=self._country,
            currency=self._currency,
            amount=self._amount,
            options=self._options,
            chosen_option_id=None if option is None else option.payment_option_id,
            suboptions=self._suboptions,
            status=self._restored_status if self._last is None else self._last.status.value,
            cashier_url=self._cashier_url,
            merchant_declined=self._merchant_declined,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe snapshot to resume the flow later; no keys, card data or form values."""
        return self.snapshot().to_dict()

    @classmethod
    def from_dict(
        cls, kasha: KashaClient, data: Mapping[str, Any], *, clock: Clock | None = None
    ) -> Self:
        """Rebuild a flow from :meth:`to_dict`; it re-checks the server before its next step.

        Anything but an intact snapshot of this kind and format (another version, a
        wrong type, a naive timestamp, a non-finite amount, an option it does not
        offer) raises :class:`InvalidRequestError`: a flow is never half-restored.
        """
        snap = Snapshot.from_dict(data, kind=cls._kind, owner=cls.__name__)
        flow = cls(
            kasha=kasha,
            transaction_id=snap.transaction_id,
            session_id=snap.session_id,
            expires_at=snap.expires_at,
            clock=clock or utc_now,
            safety_margin=snap.safety_margin,
            options=snap.options,
            merchant_reference=snap.merchant_reference,
            country=snap.country,
            currency=snap.currency,
            amount=snap.amount,
            state=snap.state,
            suboptions=snap.suboptions,
            cashier_url=snap.cashier_url,
            merchant_declined=snap.merchant_declined,
            needs_recheck=True,
            restored_status=snap.status,
        )
        if snap.chosen_option_id is not None:
            flow._option = flow.option(id=snap.chosen_option_id)
        # A fresh client holds a reconciled send to the flow's amount, currency and option.
        kasha._resume_session(
            snap.session_id,
            snap.transaction_id,
            snap.amount,
            snap.currency,
            snap.merchant_reference,
            snap.options,
        )
        return flow


class _Step:
    """``async with flow._step(name):`` — the step guard, as a class rather than a generator.

    Entering takes the busy flag (unless another step holds it), opens the step's
    span, re-checks a resumed flow and asks :meth:`BaseFlow._guard`; leaving closes
    the span, turns a 410 on a session step into EXPIRED and releases the flag. It
    never suppresses an exception.
    """

    __slots__ = ("_flow", "_name", "_running", "_span")

    def __init__(self, flow: BaseFlow[Any], name: str) -> None:
        self._flow = flow
        self._name = name
        self._running: str | None = None  # another step's name: this one is refused
        self._span: AbstractContextManager[None] | None = None

    async def __aenter__(self) -> None:
        flow, name = self._flow, self._name
        self._running = running = flow._busy
        if running is None:
            flow._busy = name
        try:
            span = _telemetry.step(f"{type(flow).__name__}.{name}", flow._transaction_id)
            span.__enter__()
            self._span = span
            if running is None and flow._needs_recheck:
                await flow._fetch()
            flow._guard(name, running)
        except BaseException as exc:
            await self.__aexit__(type(exc), exc, exc.__traceback__)
            raise

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if self._span is not None:
                self._span.__exit__(exc_type, exc, traceback)
            if isinstance(exc, SessionGoneError) and self._name in SESSION_STEPS:
                raise self._flow._server_expired(exc) from exc
        finally:
            if self._running is None:
                self._flow._busy = None


__all__ = ["DEFAULT_SAFETY_MARGIN", "BaseFlow", "Clock", "SendCall", "SessionResource", "logger"]
