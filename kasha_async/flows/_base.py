"""What payment and payout flows share: opening, clock and expiry, the guard before every
step, the one-send rule, refresh / feed / wait_final, and the to_dict / from_dict core.

A subclass only says which client resource it uses (``_resource``: ``kasha.payments``
or ``kasha.payouts``, whose calls are named alike), which call sends its one
payment or payout (``_send_call``), how its request is built from keywords
(``_make_request``) and what a successful submit means for the state (``_submitted``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar

import attrs

from .. import _convert
from .._client import KashaClient
from .._codes import KashaErrorCode, TransactionStatus
from .._constants import SESSION_LIFETIME_SECONDS
from .._errors import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    DeclinedError,
    FlowStateError,
    IllegalTransitionError,
    InvalidRequestError,
    NotFoundError,
    OutcomeUnknownError,
    RateLimitError,
    RequestNotSentError,
    ResponseFormatError,
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
    Transaction,
)
from .._outcome import declined_from
from ._forms import form_problems
from ._states import (
    FlowKind,
    FlowState,
    check_step,
    is_older,
    state_for_status,
    transition,
)

logger = logging.getLogger("kasha_async.flows")

#: A zero-argument callable returning an aware UTC datetime.
Clock = Callable[[], datetime]
#: Seconds before expiry after which a post/create/hybrid link is refused client side.
DEFAULT_SAFETY_MARGIN = 10.0
#: Version of the :meth:`to_dict` format.
FLOW_FORMAT = 1
SESSION_LIFETIME = timedelta(seconds=SESSION_LIFETIME_SECONDS)
_ZERO = timedelta(0)
_SUBMIT_STEPS = frozenset({"pay", "create", "hybrid_link"})
# Errors that prove the post/create was not processed: the session is still unused.
_NOT_PROCESSED = (
    ValidationError,
    InvalidRequestError,
    RequestNotSentError,
    RateLimitError,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
)
R = TypeVar("R", PaymentOptionsRequest, PayoutOptionsRequest)
T = TypeVar("T")
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


def utc_now() -> datetime:
    """The default flow clock: the current time as an aware UTC datetime."""
    return datetime.now(UTC)


def _margin(seconds: float | timedelta) -> timedelta:
    margin = seconds if isinstance(seconds, timedelta) else timedelta(seconds=seconds)
    if margin < _ZERO:
        raise InvalidRequestError("safety_margin must not be negative")
    return margin


@attrs.define(eq=False)
class BaseFlow(Generic[R]):
    """Shared machinery of :class:`PaymentFlow` and :class:`PayoutFlow`; not used directly."""

    _kind: ClassVar[FlowKind]
    _submit_step: ClassVar[str]

    _kasha: KashaClient = attrs.field(repr=False)
    _transaction_id: str
    _session_id: str = attrs.field(repr=False)
    _expires_at: datetime
    _clock: Clock = attrs.field(repr=False)
    _safety_margin: timedelta = attrs.field(repr=False)
    _options: tuple[PaymentOption, ...] = attrs.field(repr=False)
    _merchant_reference: str | None = None
    _country: str | None = None
    _currency: str | None = None
    _amount: Decimal | None = None
    _state: FlowState = FlowState.CREATED
    _option: PaymentOption | None = attrs.field(default=None, repr=False)
    _suboptions: Suboptions | None = attrs.field(default=None, repr=False)
    _last: Transaction | None = attrs.field(default=None, repr=False)
    _cashier_url: str | None = attrs.field(default=None, repr=False)
    _merchant_declined: bool = attrs.field(default=False, repr=False)
    _needs_recheck: bool = attrs.field(default=False, repr=False)
    _busy: str | None = attrs.field(default=None, repr=False)
    _final: asyncio.Event | None = attrs.field(default=None, repr=False)

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
        margin = _margin(safety_margin)
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

    def _submitted(self, result: SubmitResult) -> None:
        """Record a successful post/create (the kind decides what it means)."""
        raise NotImplementedError

    # --- what a user reads ------------------------------------------------------------------

    @property
    def state(self) -> FlowState:
        """Where the flow stands."""
        return self._state

    @property
    def transaction_id(self) -> str:
        """The transaction this flow carries (known from the first call on)."""
        return self._transaction_id

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
        """Time until the session ends (zero once it has)."""
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

    @property
    def merchant_reference(self) -> str | None:
        """The merchant reference the flow was started with (or learnt from the server)."""
        return self._merchant_reference

    @property
    def transaction(self) -> Transaction | None:
        """The last transaction seen by :meth:`refresh`, :meth:`wait_final` or :meth:`feed`."""
        return self._last

    @property
    def is_resumed(self) -> bool:
        """Whether the flow was restored by ``from_dict`` and has not re-checked the server yet."""
        return self._needs_recheck

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

    # --- the guard before every step --------------------------------------------------------

    def _move(self, target: FlowState) -> None:
        previous = self._state
        self._state = transition(previous, target)
        if logger.isEnabledFor(logging.DEBUG) and previous is not target:
            logger.debug("flow %s: %s -> %s", self._transaction_id, previous, target)

    def _move_unless_overtaken(self, expected: FlowState, target: FlowState) -> None:
        """Move to ``target`` unless the flow left ``expected`` while a call was in flight.

        A webhook fed (or a refresh) during the call is the server's own word about
        the transaction; what the call's answer or failure implies must not overwrite it.
        """
        if self._state is expected:
            self._move(target)
        else:
            logger.info(
                "flow %s: kept %s (learnt while the call ran) instead of %s",
                self._transaction_id,
                self._state,
                target,
            )

    def _guard(self, step: str) -> None:
        check_step(self._kind, step, self._state)
        if self._busy is not None:
            raise FlowStateError(f"{step}() called while {self._busy}() is still running")
        if step == "choose" or step == "fetch_suboptions" or step in _SUBMIT_STEPS:
            margin = self._safety_margin if step in _SUBMIT_STEPS else _ZERO
            if self._clock() + margin >= self._expires_at:
                self._move(FlowState.EXPIRED)
                raise SessionExpiredError(
                    f"{step}(): the session expires at {self._expires_at.isoformat()} "
                    f"(safety margin {margin.total_seconds():g} s); start a new flow",
                    transaction_id=self._transaction_id,
                )

    async def _begin(self, step: str) -> None:
        """Re-check a resumed flow with the server, then refuse the step if it is not allowed."""
        if self._needs_recheck and self._busy is None:
            self._busy = step
            try:
                await self._fetch()
            finally:
                self._busy = None
        self._guard(step)

    def _resolve(self, option: PaymentOption | str) -> PaymentOption:
        option_id = option if isinstance(option, str) else option.payment_option_id
        return self.option(id=option_id)

    # --- choosing ---------------------------------------------------------------------------

    async def choose(self, option: PaymentOption | str) -> Suboptions | None:
        """Choose an option (or its id) and fetch its suboptions; a card has none (``None``)."""
        await self._begin("choose")
        chosen = self._resolve(option)
        subs = None
        if not chosen.is_card:
            self._busy = "choose"
            try:
                subs = await self._suboptions_of(chosen)
            except SessionGoneError as exc:
                raise self._server_expired(exc) from exc
            finally:
                self._busy = None
        self._move(FlowState.OPTION_CHOSEN)
        self._option, self._suboptions = chosen, subs
        return subs

    async def fetch_suboptions(self) -> Suboptions:
        """Fetch the chosen option's suboptions again; a card option has none."""
        await self._begin("fetch_suboptions")
        option = self._require_option()
        if option.is_card:
            raise FlowStateError("fetch_suboptions(): card options have no suboptions")
        self._busy = "fetch_suboptions"
        try:
            self._suboptions = await self._suboptions_of(option)
        except SessionGoneError as exc:
            raise self._server_expired(exc) from exc
        finally:
            self._busy = None
        return self._suboptions

    async def _suboptions_of(self, option: PaymentOption) -> Suboptions:
        return await self._resource(self._kasha).suboptions(
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
        inputs = list(option.extra_data)
        problems: list[str] = []
        subs = self._suboptions
        if subs is not None:
            inputs += subs.form_inputs
            ids = [sub.id for sub in subs.options]
            if ids and option_id is None:
                problems.append(f"option_id: required, one of {ids}")
            elif ids and option_id not in ids:
                problems.append(f"option_id: {option_id!r} is not one of {ids}")
            inputs += [fi for sub in subs.options if sub.id == option_id for fi in sub.form_inputs]
        elif option_id is not None and option.is_card:
            problems.append("option_id: card options take no suboption")
        return problems + form_problems(inputs, extra_data or {})

    async def _submit(
        self, option_id: str | None, extra_data: Mapping[str, Any] | None
    ) -> SubmitResult:
        step = self._submit_step
        await self._begin(step)
        option = self._require_option()
        problems = self.form_problems(option_id, extra_data)
        if problems:
            raise InvalidRequestError(
                f"{step}(): invalid request: " + "; ".join(problems), problems=tuple(problems)
            )
        self._move(FlowState.SUBMITTED)  # before the send: a second call can never send again
        self._busy = step
        try:
            result = await self._send_call()(
                session_id=self._session_id,
                payment_option_id=option.payment_option_id,
                option_id=option_id,
                extra_data=extra_data,
                transaction_id=self._transaction_id,
            )
        except BaseException as exc:
            replacement = self._submit_failed(exc)
            if replacement is None:
                raise
            raise replacement from exc
        finally:
            self._busy = None
        self._submitted(result)
        return result

    def _submit_failed(self, exc: BaseException) -> BaseException | None:
        """Move the state for a failed send; return a clearer exception to raise, if any.

        A cancelled send (``CancelledError``) falls through to OUTCOME_UNKNOWN: the
        request may have been written already.
        """
        if isinstance(exc, _NOT_PROCESSED):
            # certainly not processed: the session is unused
            self._move_unless_overtaken(FlowState.SUBMITTED, FlowState.OPTION_CHOSEN)
            return None
        if isinstance(exc, DeclinedError):
            self._move_unless_overtaken(FlowState.SUBMITTED, FlowState.DECLINED)
            return None
        if isinstance(exc, SessionGoneError):
            return self._server_expired(exc)
        if isinstance(exc, ConflictError) and exc.code is KashaErrorCode.DUPLICATE_TRANSACTION:
            self._move_unless_overtaken(FlowState.SUBMITTED, FlowState.DECLINED)
            return DeclinedError(
                f"Declined: {exc.code.reason} (code {exc.code.value})",
                code=exc.code,
                reason=exc.code.reason,
                transaction_id=self._transaction_id,
                status_code=exc.status_code,
                body_excerpt=exc.body_excerpt,
            )
        self._move_unless_overtaken(FlowState.SUBMITTED, FlowState.OUTCOME_UNKNOWN)
        if isinstance(exc, ConflictError):
            return SessionAlreadyUsedError(
                f"{self._submit_step}(): the server says the session was already used; "
                "call 'await flow.refresh()' to learn the outcome",
                transaction_id=self._transaction_id,
            )
        return None

    async def _unknown_if_lost(self, expected: FlowState, call: Awaitable[T]) -> T:
        """Await a settle or refund; if its outcome is lost, the flow is OUTCOME_UNKNOWN.

        Lost means :class:`OutcomeUnknownError` or a cancellation: the request may
        have been written, so only the server can say what happened.
        """
        try:
            return await call
        except (OutcomeUnknownError, asyncio.CancelledError):
            self._move_unless_overtaken(expected, FlowState.OUTCOME_UNKNOWN)
            raise

    def _server_expired(self, exc: SessionGoneError) -> SessionExpiredError:
        self._move(FlowState.EXPIRED)
        return SessionExpiredError(
            f"the server says the session expired: {exc.message}",
            transaction_id=self._transaction_id,
        )

    def _apply_status(self, status: TransactionStatus) -> bool:
        """Move to what a server status means unless it is older news; ``False`` if older.

        Raises :class:`IllegalTransitionError` when the status contradicts the flow's
        final state (e.g. DECLINED after COMPLETED).
        """
        target = state_for_status(status, self._kind)
        if target is None or target is FlowState.CREATED:
            return True  # unknown status, or "nothing posted yet": nothing to move
        if is_older(self._state, target):
            return False
        try:
            self._move(target)
        except IllegalTransitionError:
            raise IllegalTransitionError(
                f"transaction {self._transaction_id}: the server reports {status.value} "
                f"but the flow is already {self._state}; the flow keeps {self._state}. "
                "Check the transaction with Kasha support before acting on either"
            ) from None
        if target.is_terminal and self._final is not None:
            self._final.set()
        return True

    def _record(self, transaction: Transaction) -> bool:
        """Apply the transaction's status and remember it; ``False`` if it is older news."""
        if not self._apply_status(transaction.status):
            return False
        self._last = transaction
        return True

    # --- the server's word ------------------------------------------------------------------

    async def _fetch(self) -> Transaction:
        tx = await self._kasha.transactions.get(self._transaction_id)
        self._needs_recheck = False
        self._record(tx)  # a contradiction raises here: the caller asked the server
        if self._merchant_reference is None:
            self._merchant_reference = tx.merchant_reference
        return tx

    async def refresh(self) -> Transaction:
        """Ask the server (``GET /transactions/{id}``) and move to what it says.

        This is how an OUTCOME_UNKNOWN flow is resolved; a status older than the
        one already known does not move the flow back.
        """
        return await self._fetch()

    def feed(self, transaction: Transaction) -> bool:
        """Apply a webhook's transaction; ``True`` if applied. Never raises for a status.

        ``False`` (nothing changed) for another transaction id, older news, or a
        status that contradicts the flow's final state: that one is logged at
        WARNING and left for :meth:`refresh`/:meth:`wait_final` to raise, because a
        webhook handler that raised would make the provider redeliver forever.
        A final status wakes a pending :meth:`wait_final` without a poll.
        """
        if transaction.id != self._transaction_id:
            return False
        try:
            return self._record(transaction)
        except IllegalTransitionError as exc:
            logger.warning("flow %s: webhook ignored: %s", self._transaction_id, exc)
            return False

    async def wait_final(
        self,
        timeout: float = 120.0,
        *,
        poll_interval: float = 1.0,
        max_poll_interval: float = 15.0,
    ) -> Transaction:
        """Wait for a final status: poll with backoff, or be woken by :meth:`feed`.

        Returns the final transaction; a decline by the provider raises
        :class:`DeclinedError` with its code. Raises ``TimeoutError`` after ``timeout``
        seconds with the flow unchanged (call it again, or :meth:`refresh` later).
        """
        check_step(self._kind, "wait_final", self._state)
        if self._final is None:
            self._final = asyncio.Event()
        try:
            async with asyncio.timeout(timeout):
                tx = await self._poll_until_final(self._final, poll_interval, max_poll_interval)
        except TimeoutError:
            raise TimeoutError(
                f"wait_final(): transaction {self._transaction_id} still {self._state} "
                f"after {timeout:g} s"
            ) from None
        return self._outcome(tx)

    async def _poll_until_final(
        self, final: asyncio.Event, delay: float, max_delay: float
    ) -> Transaction:
        fetched = False
        while True:
            last = self._last
            if self._state.is_terminal and last is not None and (fetched or last.is_final):
                return last
            tx = await self._fetch()
            fetched = True
            if self._state.is_terminal:
                return self._last or tx
            try:
                await asyncio.wait_for(final.wait(), delay)
            except TimeoutError:
                delay = min(delay * 2, max_delay)

    def _outcome(self, tx: Transaction) -> Transaction:
        if tx.status is TransactionStatus.DECLINED and not self._merchant_declined:
            raise declined_from(tx)
        return tx

    # --- persistence ------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe snapshot to resume the flow later; no keys, card data or form values."""
        option, subs = self._option, self._suboptions
        return {
            "format": FLOW_FORMAT,
            "kind": self._kind.value,
            "state": self._state.value,
            "transaction_id": self._transaction_id,
            "session_id": self._session_id,
            "expires_at": self._expires_at.isoformat(),
            "safety_margin": self._safety_margin.total_seconds(),
            "merchant_reference": self._merchant_reference,
            "country": self._country,
            "currency": self._currency,
            "amount": None if self._amount is None else str(self._amount),
            "options": [_convert.to_plain(o) for o in self._options],
            "chosen_option_id": None if option is None else option.payment_option_id,
            "suboptions": None if subs is None else _convert.to_plain(subs),
            "status": None if self._last is None else self._last.status.value,
            "cashier_url": self._cashier_url,
            "merchant_declined": self._merchant_declined,
        }

    @classmethod
    def from_dict(
        cls, kasha: KashaClient, data: Mapping[str, Any], *, clock: Clock | None = None
    ) -> Self:
        """Rebuild a flow from :meth:`to_dict`; it re-checks the server before its next step.

        Anything but an intact snapshot of this kind and format (another version, a
        wrong type, a naive timestamp, a non-finite amount, an option it does not
        offer) raises :class:`InvalidRequestError`: a flow is never half-restored.
        """
        if not isinstance(data, Mapping):
            raise InvalidRequestError(
                f"a {cls.__name__} snapshot is a mapping, not {type(data).__name__}"
            )
        version, kind = data.get("format"), data.get("kind")
        # type() rather than ==: True == 1, and a snapshot saying "format": true is not ours
        if type(version) is not int or version != FLOW_FORMAT or kind != cls._kind.value:
            raise InvalidRequestError(
                f"not a {cls.__name__} snapshot this version can read (format {FLOW_FORMAT}, "
                f"kind {cls._kind.value!r}): format={version!r:.40} kind={kind!r:.40}"
            )
        try:
            return cls._restore(kasha, data, clock or utc_now)
        except (KeyError, TypeError, ValueError, ArithmeticError, ResponseFormatError) as exc:
            raise InvalidRequestError(f"malformed {cls.__name__} snapshot: {exc!r:.300}") from None

    @classmethod
    def _restore(cls, kasha: KashaClient, data: Mapping[str, Any], clock: Clock) -> Self:
        suboptions = data["suboptions"]
        flow = cls(
            kasha=kasha,
            transaction_id=_text(data, "transaction_id"),
            session_id=_text(data, "session_id"),
            expires_at=_aware_time(data["expires_at"]),
            clock=clock,
            safety_margin=_margin(float(data["safety_margin"])),
            options=tuple(_convert.parse(PaymentOption, o) for o in data["options"]),
            merchant_reference=_optional_text(data, "merchant_reference"),
            country=_optional_text(data, "country"),
            currency=_optional_text(data, "currency"),
            amount=_snapshot_amount(data.get("amount")),
            state=FlowState(data["state"]),
            suboptions=None if suboptions is None else _convert.parse(Suboptions, suboptions),
            cashier_url=_optional_text(data, "cashier_url"),
            merchant_declined=bool(data.get("merchant_declined")),
            needs_recheck=True,
        )
        if data.get("chosen_option_id") is not None:
            flow._option = flow.option(id=_text(data, "chosen_option_id"))
        return flow


def _text(data: Mapping[str, Any], key: str) -> str:
    """``data[key]``, checked to be a non-empty string."""
    value = data[key]
    if not isinstance(value, str) or not value:
        raise TypeError(f"{key} must be a non-empty string, not {type(value).__name__}")
    return value


def _optional_text(data: Mapping[str, Any], key: str) -> str | None:
    """``data[key]`` when present and not None, checked like :func:`_text`."""
    return None if data.get(key) is None else _text(data, key)


def _aware_time(value: object) -> datetime:
    if not isinstance(value, str):
        raise TypeError(f"expires_at must be an ISO 8601 string, not {type(value).__name__}")
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:  # comparing it with the aware clock would fail at the next step
        raise ValueError("expires_at has no time zone")
    return moment


def _snapshot_amount(value: object) -> Decimal | None:
    if value is None:
        return None
    if not isinstance(value, str):  # to_dict writes money as a string, never a float
        raise TypeError(f"amount must be a decimal string, not {type(value).__name__}")
    amount = Decimal(value)
    if not amount.is_finite():
        raise ValueError(f"amount {value!r:.40} is not a finite number")
    return amount
