"""When to retry, how long to wait, and when to reconcile instead: the only tenacity user.

The policy, per operation (CONTRACT.md §2 makes the money rows safe: one payment
per session, so a resend on the same session either lands once or gets 409):

==========================  ===================================  ===========================
operation                   retried on                           when the outcome is unknown
==========================  ===================================  ===========================
transactions.get,           not sent, connection lost, timeout,  resend (reads are harmless)
suboptions                  429, 500/502/503/504, bad body
payments/payouts.options,   same                                 resend: a fresh session moves
create_session, hybrid                                           no money; the orphan expires
payments.post,              not sent, 429                        resend on the same session;
payouts.create                                                   409/410 -> reconcile by lookup
payouts.settle,             not sent, 429                        reconcile by lookup first,
refunds.create                                                   resend only if not landed
any, code 1100              never                                reconcile by lookup only
==========================  ===================================  ===========================

Every retry spends a token from a per-client :class:`RetryBudget`; ``Retry-After``
is honoured (capped at 60 s), otherwise exponential backoff with full jitter.
An outcome still unknown at the end is raised as :class:`OutcomeUnknownError`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from email.utils import parsedate_to_datetime
from types import MappingProxyType
from typing import Generic, TypeVar

import attrs
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from . import _telemetry
from ._codes import KashaErrorCode
from ._constants import (
    RETRY_AFTER_CAP,
    RETRY_BACKOFF_INITIAL,
    RETRY_BACKOFF_MAX,
    RETRY_BUDGET_FLOOR_PER_SECOND,
    RETRY_BUDGET_MAX_TOKENS,
    RETRY_BUDGET_RATIO,
)
from ._errors import (
    APIStatusError,
    ConflictError,
    ConnectionLostError,
    DeclinedError,
    KashaError,
    OutcomeUnknownError,
    RateLimitError,
    RequestNotSentError,
    ResponseFormatError,
    ServerError,
    SessionGoneError,
)
from ._operations import OPERATIONS, Safety

logger = logging.getLogger("kasha_async.retry")
T = TypeVar("T")

_RETRYABLE_STATUS = frozenset({500, 502, 503, 504})


#: How safe a resend is, per operation: the operation table's safety class.
Kind = Safety

#: The policy table: operation name -> safety class, derived from ``_operations.OPERATIONS``.
POLICY: Mapping[str, Safety] = MappingProxyType(
    {name: op.safety for name, op in OPERATIONS.items()}
)

_MONEY = frozenset(kind for kind in Safety if kind.moves_money)
_testing = False


def set_testing(enabled: bool) -> None:
    """Make every backoff and ``Retry-After`` wait zero (for users' test suites)."""
    global _testing
    _testing = enabled


@attrs.define
class RetryStats:
    """Counters a user can read from ``client.stats``; shared by ``with_options`` copies."""

    calls: int = 0
    retries: int = 0
    budget_exhausted: int = 0
    reconciliations: int = 0
    outcomes_unknown: int = 0


class RetryBudget:
    """Token bucket: each call deposits ``ratio`` of a retry, time adds a small floor.

    A retry spends one token; with none left the error is raised at once, so an
    outage cannot multiply traffic by the retry count.
    """

    def __init__(
        self,
        *,
        ratio: float = RETRY_BUDGET_RATIO,
        floor_per_second: float = RETRY_BUDGET_FLOOR_PER_SECOND,
        max_tokens: float = RETRY_BUDGET_MAX_TOKENS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ratio = ratio
        self.floor_per_second = floor_per_second
        self.max_tokens = max_tokens
        self._clock = clock
        self._tokens = max_tokens
        self._stamp = clock()

    @property
    def tokens(self) -> float:
        """Tokens available now."""
        self._refill(0.0)
        return self._tokens

    def _refill(self, deposit: float) -> None:
        now = self._clock()
        earned = (now - self._stamp) * self.floor_per_second + deposit
        self._stamp = now
        self._tokens = min(self.max_tokens, self._tokens + earned)

    def deposit(self) -> None:
        """Record one original call."""
        self._refill(self.ratio)

    def try_spend(self) -> bool:
        """Take one retry token if there is one."""
        self._refill(0.0)
        if self._tokens >= 1.0 - 1e-9:  # ten deposits of 0.1 must buy a retry
            self._tokens -= 1.0
            return True
        return False


def retry_after_seconds(value: str | None, *, now: float | None = None) -> float | None:
    """Parse ``Retry-After`` (delay-seconds or HTTP-date), capped at 60 s."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), RETRY_AFTER_CAP)
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, min(when - (time.time() if now is None else now), RETRY_AFTER_CAP))


def backoff_seconds(attempt: int) -> float:
    """Full jitter: uniform in ``[0, min(8, 0.5 * 2**(attempt-1))]``."""
    return random.uniform(0.0, min(RETRY_BACKOFF_MAX, RETRY_BACKOFF_INITIAL * 2 ** (attempt - 1)))


async def _sleep(seconds: float) -> None:
    """The one place retries sleep (tests patch it to record the waits)."""
    await asyncio.sleep(seconds)


def _wait(state: RetryCallState) -> float:
    if _testing:
        return 0.0
    exc = state.outcome.exception() if state.outcome else None
    if isinstance(exc, APIStatusError) and exc.retry_after is not None:
        return exc.retry_after
    return backoff_seconds(state.attempt_number)


def is_unknown(exc: BaseException) -> bool:
    """Whether ``exc`` leaves open that the server processed the request."""
    if isinstance(exc, OutcomeUnknownError):
        return True
    # An answer we could not read (too large, not JSON) may hide a 2xx, a 5xx or a 1100
    # whatever its status line says.
    return isinstance(exc, ServerError | ResponseFormatError)


def is_retryable(kind: Kind, exc: BaseException) -> bool:
    """The policy table's "retried on" column."""
    if isinstance(exc, OutcomeUnknownError) and exc.code is not None:
        return False  # code 1100: never resent
    if isinstance(exc, RequestNotSentError | RateLimitError):
        return True
    if kind is Safety.LOOKUP:
        return isinstance(exc, _NotLanded)
    if isinstance(exc, ConnectionLostError | ResponseFormatError):
        return True
    return isinstance(exc, ServerError) and exc.status_code in _RETRYABLE_STATUS


def _inconclusive(exc: BaseException) -> bool:
    """Errors that say nothing about whether an earlier attempt landed.

    Only a decline answers for the session: had an earlier attempt landed, the resend
    would have met 409. A 401, 404 or any other refusal of the resend says nothing.
    """
    return not isinstance(exc, DeclinedError)


class _NotLanded(KashaError):
    """Internal: a lookup proved an unknown settle/refund did not land; resend is safe."""


#: A reconciler looks a transaction id up: the landed result, or None if it did not land.
Reconciler = Callable[[str], Awaitable[T | None]]


class _Deadline:
    """``asyncio.timeout`` for one call, at a third of its cost (~2.5 us against ~7.5 us).

    The same mechanism: a timer cancels the task at the deadline, and the
    ``CancelledError`` is the deadline's own (not an outside cancel) exactly when
    ``Task.uncancel`` says no other cancel request came, the test asyncio.timeout's
    ``__aexit__`` makes. What is saved is its two ``async`` enter/exit coroutines,
    its state enum and ``reschedule``: about 20 us per four-call payout flow.
    """

    __slots__ = ("_cancelling", "_fired", "_handle", "_task")

    def __init__(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task(loop)
        if task is None:
            raise RuntimeError("a call's deadline needs a running task")
        self._task = task
        self._cancelling = task.cancelling()
        self._fired = False
        self._handle = loop.call_at(loop.time() + seconds, self._fire)

    def _fire(self) -> None:
        self._fired = True
        self._task.cancel()

    def close(self, exc: BaseException | None = None) -> bool:
        """Disarm the timer; whether ``exc`` is the deadline's cancellation (idempotent)."""
        self._handle.cancel()
        if not self._fired:
            return False
        self._fired = False  # uncancel once, as asyncio.timeout does
        return self._task.uncancel() <= self._cancelling and isinstance(exc, asyncio.CancelledError)


class RetryRunner:
    """Runs one call under the policy: budget, waits, deadline, reconciliation."""

    def __init__(self, *, budget: RetryBudget, stats: RetryStats) -> None:
        self.budget = budget
        self.stats = stats

    async def run(
        self,
        operation: str,
        attempt: Callable[[], Awaitable[T]],
        *,
        max_retries: int,
        deadline: float,
        reconcile: Reconciler[T] | None = None,
        transaction_id: str | None = None,
    ) -> T:
        """Call ``attempt`` until it succeeds or the policy says stop.

        Attempt 1 runs bare: a success, the common case, builds no per-call state.
        Its failure builds the :class:`_Call` where retries and reconciliation are
        decided, and hands it the exception, so the policy sees exactly what it did
        when attempt 1 also ran inside :class:`_Call`.
        """
        self.stats.calls += 1
        self.budget.deposit()
        timer = _Deadline(deadline)
        call: _Call[T] | None = None
        try:
            try:
                return await attempt()
            except KashaError as exc:
                first = exc
            call = _Call(self, POLICY[operation], operation, attempt, reconcile, transaction_id)
            return await call.after_first(first, max_retries)
        except BaseException as exc:
            if not timer.close(exc):
                raise
            if call is None:  # the deadline cut attempt 1 short: it may have been sent
                call = _Call(self, POLICY[operation], operation, attempt, reconcile, transaction_id)
                call.in_flight = True
            raise call.deadline_error(deadline) from None
        finally:
            timer.close()


class _Call(Generic[T]):
    """The state of one call across its attempts."""

    def __init__(
        self,
        runner: RetryRunner,
        kind: Kind,
        operation: str,
        attempt: Callable[[], Awaitable[T]],
        reconcile: Reconciler[T] | None,
        transaction_id: str | None,
    ) -> None:
        self.runner = runner
        self.kind = kind
        self.operation = operation
        self.attempt = attempt
        self.reconcile = reconcile
        self.transaction_id = transaction_id
        self.maybe_sent = False
        self.in_flight = False
        self.final: OutcomeUnknownError | None = None
        self.proven: KashaError | None = None

    async def after_first(self, first: KashaError, max_retries: int) -> T:
        """Attempt 1 failed with ``first``: reconcile, retry or raise, as the policy says."""
        return await self._guarded(lambda: self._then_retry(first, max_retries))

    async def _then_retry(self, first: KashaError, max_retries: int) -> T:
        """Handle attempt 1's failure; only if that raises, pay for tenacity's machinery.

        Tenacity costs ~40 us per call even when the first attempt succeeds, and
        building its ``AsyncRetrying`` another ~4 us. Attempt 1's outcome is replayed
        as tenacity's attempt 1, so predicates, waits, logs and stop see exactly the
        same sequence as if tenacity had run it.
        """
        try:
            return await self._failed(first)
        except Exception as exc:
            if max_retries <= 0:
                raise
            failed: Exception | None = exc
        # Tenacity asks ``retry`` before ``stop``: the budget is spent in ``stop`` so the
        # last attempt's failure neither takes a token nor counts as a retry.
        last_attempt = stop_after_attempt(max_retries + 1)
        retrying = AsyncRetrying(
            stop=lambda state: last_attempt(state) or not self._spend_retry(),
            wait=_wait,
            retry=retry_if_exception(lambda exc: is_retryable(self.kind, exc)),
            before_sleep=self._log_retry,
            sleep=_sleep,
            reraise=True,
        )

        async def replay_then_once() -> T:
            nonlocal failed
            if failed is not None:
                replayed, failed = failed, None
                raise replayed
            return await self._once()

        return await retrying(replay_then_once)

    async def _guarded(self, body: Callable[[], Awaitable[T]]) -> T:
        """Whatever ends the call, never hide that an earlier attempt may have landed."""
        try:
            return await body()
        except KashaError as exc:
            if exc in (self.final, self.proven) or not self.maybe_sent or not _inconclusive(exc):
                raise
            return await self._settle_unknown(exc)

    async def _once(self) -> T:
        """One retry attempt (attempt 1 ran in :meth:`RetryRunner.run`)."""
        self.in_flight = True  # stays set if the deadline cancels the attempt mid-flight
        try:
            result = await self.attempt()
        except KashaError as exc:
            self.in_flight = False
            return await self._failed(exc)
        self.in_flight = False
        return result

    async def _failed(self, exc: KashaError) -> T:
        """What a failed attempt means: a reconciled result, or ``exc`` raised for a retry."""
        if isinstance(exc, ConflictError) and self.maybe_sent:
            return await self._must_have_landed(exc)  # an earlier attempt used the session
        if isinstance(exc, SessionGoneError) and self.maybe_sent:
            return await self._landed_or_raise(exc)  # expired now, but did an earlier one land?
        if self.kind not in _MONEY or not is_unknown(exc):
            raise exc
        self.maybe_sent = True
        self.transaction_id = self.transaction_id or exc.transaction_id
        if isinstance(exc, OutcomeUnknownError) and exc.code is not None:
            return await self._settle_unknown(exc)  # 1100: look up, never resend
        if self.kind is not Safety.ONCE:
            return await self._landed_or_resend(exc)
        raise exc

    async def _lookup(self, cause: KashaError) -> T | None:
        """The landed result, or None if the lookup proved it has not landed.

        Raises :class:`OutcomeUnknownError` when there is nothing to look up or the
        lookup itself fails: "could not tell" must never read as "did not land".
        """
        tx_id = self.transaction_id or cause.transaction_id
        if self.reconcile is None or tx_id is None:
            raise self._unknown("no transaction id to reconcile with", cause)
        self.runner.stats.reconciliations += 1
        logger.info("reconciling %s by transaction lookup", self.operation)
        try:
            landed = await self.reconcile(tx_id)
        except DeclinedError:
            _telemetry.reconciled("declined")
            raise  # the lookup found the transaction declined: a definite answer
        except KashaError as exc:
            _telemetry.reconciled("failed")
            raise self._unknown(f"lookup failed: {type(exc).__name__}", cause) from exc
        _telemetry.reconciled("not_landed" if landed is None else "landed")
        return landed

    async def _landed_or_resend(self, exc: KashaError) -> T:
        landed = await self._lookup(exc)
        if landed is not None:
            return landed
        raise _NotLanded(str(exc)) from exc

    async def _landed_or_raise(self, exc: KashaError) -> T:
        landed = await self._lookup(exc)
        if landed is not None:
            return landed
        self.proven = exc  # the lookup showed nothing landed: ``exc`` is the definite answer
        raise exc

    async def _must_have_landed(self, exc: ConflictError) -> T:
        landed = await self._lookup(exc)
        if landed is not None:
            return landed
        raise self._unknown("the session is used but the lookup did not confirm it", exc)

    async def _settle_unknown(self, exc: KashaError) -> T:
        landed = await self._lookup(exc)
        if landed is not None:
            return landed
        raise self._unknown(str(exc), exc) from exc

    def _unknown(self, why: str, cause: KashaError) -> OutcomeUnknownError:
        """The final error: unknown, carrying everything the cause knew."""
        self.runner.stats.outcomes_unknown += 1
        code = getattr(cause, "code", None)
        self.final = OutcomeUnknownError(
            f"{self.operation}: outcome unknown ({why}); resolve with transactions.get",
            transaction_id=self.transaction_id or cause.transaction_id,
            status_code=cause.status_code,
            body_excerpt=cause.body_excerpt,
            code=code if isinstance(code, KashaErrorCode) else None,
        )
        return self.final

    def _spend_retry(self) -> bool:
        """Take a budget token for a retry the policy allows and the attempt limit has room for."""
        if not self.runner.budget.try_spend():
            self.runner.stats.budget_exhausted += 1
            logger.warning("retry budget exhausted; not retrying %s", self.operation)
            return False
        self.runner.stats.retries += 1
        return True

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        _telemetry.retrying(exc, state.upcoming_sleep)
        logger.info(
            "retrying %s after attempt %d: %s",
            self.operation,
            state.attempt_number,
            type(exc).__name__,
        )

    def deadline_error(self, deadline: float) -> KashaError:
        message = f"{self.operation}: deadline of {deadline:g} s exceeded"
        if self.maybe_sent or self.in_flight or self.kind not in _MONEY:
            self.runner.stats.outcomes_unknown += self.kind in _MONEY
            return ConnectionLostError(message, transaction_id=self.transaction_id)
        return RequestNotSentError(message)
