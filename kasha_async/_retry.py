"""When to retry, how long to wait, and when to reconcile instead: the only tenacity user.

What a failure *means* (not sent, did not land, unknown) and what a lookup
shows is decided by :mod:`kasha_async._outcome`; this module only acts on it.
The safety class of each operation comes from :data:`_operations.OPERATIONS`.

The policy, per safety class (CONTRACT.md §2 makes the money rows safe: one payment
per session, so a resend on the same session either lands once or gets 409):

==========================  ===================================  ===========================
operation                   retried on                           when the outcome is unknown
==========================  ===================================  ===========================
transactions.get,           not sent, connection lost, timeout,  resend (reads are harmless)
suboptions                  429, 500/502/503/504, bad body
payments/payouts.options,   same                                 resend: a fresh session moves
create_session, hybrid                                           no money; the orphan expires
payments.post,              not sent, 429, connection lost,      resend on the same session;
payouts.create              5xx, bad body                        409/410/3017 -> reconcile
payouts.settle,             not sent, 429                        reconcile by lookup first,
refunds.create                                                   resend only if not landed
any, code 1100              never                                reconcile by lookup only
==========================  ===================================  ===========================

Every retry spends a token from a per-client :class:`RetryBudget`; ``Retry-After``
is honoured (capped at 60 s), otherwise :func:`_timing.backoff` (full jitter).
The call's deadline is ``asyncio.timeout_at``, armed when attempt 1 has failed (the
transport bounds each attempt, never past the deadline). An outcome still unknown at the end
is raised as :class:`OutcomeUnknownError`, its traceback free of tenacity frames.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from email.utils import parsedate_to_datetime
from types import MappingProxyType, TracebackType
from typing import Generic, TypeVar

import attrs
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
)

from . import _telemetry
from ._codes import KashaErrorCode
from ._constants import (
    RETRY_AFTER_CAP,
    RETRY_BUDGET_FLOOR_PER_SECOND,
    RETRY_BUDGET_MAX_TOKENS,
    RETRY_BUDGET_RATIO,
)
from ._errors import (
    AnswerMismatchError,
    APIStatusError,
    ConflictError,
    ConnectionLostError,
    DeclinedError,
    DuplicateTransactionError,
    KashaError,
    OutcomeUnknownError,
    RateLimitError,
    RequestNotSentError,
    ResponseFormatError,
    ServerError,
    SessionGoneError,
)
from ._operations import OPERATIONS, Safety
from ._outcome import Outcome, of_error
from ._timing import backoff

logger = logging.getLogger("kasha_async.retry")
T = TypeVar("T")

_RETRYABLE_STATUS = frozenset({500, 502, 503, 504})


#: The policy table: operation name -> safety class, derived from ``_operations.OPERATIONS``.
POLICY: Mapping[str, Safety] = MappingProxyType(
    {name: op.safety for name, op in OPERATIONS.items()}
)

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
        """Record one original call; time's floor is added when tokens are next read.

        Both only add, so capping once then equals capping after each: no clock read here.
        """
        self._tokens = min(self.max_tokens, self._tokens + self.ratio)

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


async def _sleep(seconds: float) -> None:
    """The one place retries sleep (tests patch it to record the waits)."""
    await asyncio.sleep(seconds)


def _wait(state: RetryCallState) -> float:
    if _testing:
        return 0.0
    exc = state.outcome.exception() if state.outcome else None
    if isinstance(exc, APIStatusError) and exc.retry_after is not None:
        return exc.retry_after
    return backoff(state.attempt_number)


def is_retryable(safety: Safety, exc: BaseException) -> bool:
    """The policy table's "retried on" column."""
    if isinstance(exc, OutcomeUnknownError) and exc.code is not None:
        return False  # code 1100: never resent
    if isinstance(exc, RequestNotSentError | RateLimitError):
        return True
    if safety is Safety.LOOKUP:
        return isinstance(exc, _NotLanded)
    if isinstance(exc, ConnectionLostError | ResponseFormatError):
        return True
    return isinstance(exc, ServerError) and exc.status_code in _RETRYABLE_STATUS


class _NotLanded(KashaError):
    """Internal: a lookup proved an unknown settle/refund did not land; resend is safe."""


#: A reconciler looks a transaction id up: the landed result, or None if it did not land.
Reconciler = Callable[[str], Awaitable[T | None]]

#: Answers to a resend that speak for the whole session: did an earlier attempt land?
_SESSION_ANSWERS = (ConflictError, SessionGoneError, DuplicateTransactionError)


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
        """Call ``attempt`` until it succeeds or the policy says stop, within ``deadline`` s.

        The one fast path: attempt 1 runs bare, and only its failure arms the deadline
        and builds tenacity's retry loop. The transport bounds every attempt by its read
        timeout, never longer than the deadline (``_http.Transport.send``), so attempt 1
        needs neither. Each half is worth more than 5 % of a flow. With every call
        inside ``AsyncRetrying`` a payout flow took 388-455 us of SDK CPU against
        207-267 us without (``python -m benchmarks.overhead``; 1151 against 635 Python
        calls per flow under cProfile). Arming ``asyncio.timeout`` for attempt 1 too
        cost 6.0 % of a whole payout flow, sockets included (2738k against 2574k
        instructions, ``python -m benchmarks.instructions``). Attempt 1's failure is
        replayed into tenacity as tenacity's attempt 1, so predicates, waits, logs and
        stop see the same sequence as if tenacity had run it.
        """
        self.stats.calls += 1
        self.budget.deposit()
        due = asyncio.get_running_loop().time() + deadline
        call = _Call(self, operation, attempt, reconcile, transaction_id)
        try:
            return await call.send()
        except KashaError as exc:
            first = exc
        timer = asyncio.timeout_at(due)
        try:
            async with timer:
                return await call.after_first(first, max_retries)
        except TimeoutError:
            if not timer.expired():
                raise
            raise call.deadline_error(deadline) from None
        except KashaError as exc:
            failed = _without_tenacity(exc)
        raise failed  # outside the ``except``: it starts no new link in the chain


_MACHINERY = ("tenacity", "concurrent.futures")  # tenacity keeps outcomes in a Future


def _without_tenacity(exc: BaseException) -> BaseException:
    """``exc`` with tenacity's frames cut out of its traceback and its chain's.

    The user's traceback then shows their call, the SDK's frames and the cause,
    not the retry machinery's iterator (issue 16: 80 lines through tenacity).
    """
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        kept: list[TracebackType] = []
        tb = current.__traceback__
        while tb is not None:
            module = tb.tb_frame.f_globals.get("__name__", "")
            if not module.startswith(_MACHINERY):
                kept.append(tb)
            tb = tb.tb_next
        rebuilt: TracebackType | None = None
        for entry in reversed(kept):
            rebuilt = TracebackType(rebuilt, entry.tb_frame, entry.tb_lasti, entry.tb_lineno)
        current.__traceback__ = rebuilt
        todo += [linked for linked in (current.__cause__, current.__context__) if linked]
    top = exc.__traceback__
    if top is not None and top.tb_frame is sys._getframe(1):
        exc.__traceback__ = top.tb_next  # the caller's ``raise`` adds its frame again
    return exc


class _Call(Generic[T]):
    """The state of one call across its attempts."""

    def __init__(
        self,
        runner: RetryRunner,
        operation: str,
        attempt: Callable[[], Awaitable[T]],
        reconcile: Reconciler[T] | None,
        transaction_id: str | None,
    ) -> None:
        self.runner = runner
        self.safety = POLICY[operation]
        self.operation = operation
        self.attempt = attempt
        self.reconcile = reconcile
        self.transaction_id = transaction_id
        self.maybe_sent = False  # an attempt of this call may have landed
        self.in_flight = False  # an attempt is on the wire now
        self.final: KashaError | None = None  # the call's own last word, raised as is

    async def after_first(self, first: KashaError, max_retries: int) -> T:
        """What follows attempt 1's failure ``first``: retries, and the lookup they may need."""
        try:
            return await self._retrying(first, max_retries)
        except KashaError as exc:
            if exc is self.final or not self._still_open(exc):
                raise
            # Whatever ended the call, never hide that an earlier attempt may have landed.
            return await self._resolve(exc, last_word=True)

    async def _retrying(self, first: KashaError, max_retries: int) -> T:
        """Retries under tenacity, attempt 1's failure ``first`` replayed as its attempt 1."""
        replay: KashaError | None = first
        # Tenacity asks ``retry`` before ``stop``: the budget is spent in ``stop`` so the
        # last attempt's failure neither takes a token nor counts as a retry.
        last_attempt = stop_after_attempt(max_retries + 1)
        retrying = AsyncRetrying(
            stop=lambda state: last_attempt(state) or self._out_of_budget(state),
            wait=_wait,
            retry=retry_if_exception(lambda exc: is_retryable(self.safety, exc)),
            before_sleep=self._log_retry,
            sleep=_sleep,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                if replay is not None:
                    failed, replay = replay, None
                else:
                    try:
                        return await self.send()
                    except KashaError as exc:
                        failed = exc
                return await self._failed(failed)
        raise AssertionError("tenacity ends with a result or the last error")  # pragma: no cover

    async def send(self) -> T:
        """One attempt, marked in flight while it runs."""
        self.in_flight = True  # stays set if the deadline cancels the attempt mid-flight
        try:
            result = await self.attempt()
        except KashaError:
            self.in_flight = False
            raise
        self.in_flight = False
        return result

    def _still_open(self, exc: KashaError) -> bool:
        """Whether ``exc`` leaves open that an earlier attempt of this call landed."""
        return self.maybe_sent and of_error(exc, self.safety, after_unknown=True) is Outcome.UNKNOWN

    async def _failed(self, exc: KashaError) -> T:
        """What follows a failed attempt, as ``_outcome`` reads it: a lookup, or a retry.

        Returns the reconciled result, or raises for tenacity's ``retry`` predicate.
        """
        if isinstance(exc, _SESSION_ANSWERS) and self._still_open(exc):
            return await self._resolve(exc)  # the resend's answer speaks for the session
        if of_error(exc, self.safety) is not Outcome.UNKNOWN:
            raise exc  # definite for this attempt: the policy decides whether to retry
        self.maybe_sent = True
        self.transaction_id = self.transaction_id or exc.transaction_id
        if isinstance(exc, OutcomeUnknownError) and exc.code is not None:
            return await self._resolve(exc, last_word=True)  # 1100: look up, never resend
        if self.safety is Safety.LOOKUP:
            return await self._resolve(exc)  # a resend could move money twice: look up first
        raise exc  # ONCE: resend on the same session, which meets 409 if it landed

    async def _resolve(self, cause: KashaError, *, last_word: bool = False) -> T:
        """Look the transaction up: its landed result, or what "not landed" means after ``cause``.

        Not landed after a 410 or a 3017 makes that answer definite; after an
        unknown settle/refund attempt (not ``last_word``) a resend is safe; otherwise
        (a 409 on a session that shows nothing, 1100, the call's last failure) the
        outcome stays unknown. "Could not tell" never reads as "did not land".
        """
        landed = await self._lookup(cause)
        if landed is not None:
            return landed
        if isinstance(cause, SessionGoneError | DuplicateTransactionError):
            self.final = cause
            raise cause
        if self.safety is Safety.LOOKUP and not last_word and not isinstance(cause, ConflictError):
            raise _NotLanded(str(cause)) from cause
        if isinstance(cause, ConflictError):
            raise self._unknown("the session is used but the lookup did not confirm it", cause)
        raise self._unknown(str(cause), cause) from cause

    async def _lookup(self, cause: KashaError) -> T | None:
        """The landed result, or None if the lookup proved it has not landed.

        Raises :class:`OutcomeUnknownError` when there is nothing to look up or the
        lookup itself fails, and the decline or mismatch the lookup found.
        """
        tx_id = self.transaction_id or cause.transaction_id
        if self.reconcile is None or tx_id is None:
            raise self._unknown("no transaction id to reconcile with", cause)
        self.runner.stats.reconciliations += 1
        logger.info("reconciling %s by transaction lookup", self.operation)
        try:
            landed = await self.reconcile(tx_id)
        except (DeclinedError, AnswerMismatchError) as exc:
            self.final = exc  # a definite decline, or a transaction that is not what was sent
            if isinstance(exc, AnswerMismatchError):
                self.runner.stats.outcomes_unknown += 1
            _telemetry.reconciled("declined" if isinstance(exc, DeclinedError) else "mismatch")
            raise
        except KashaError as exc:
            _telemetry.reconciled("failed")
            # The lookup's own verdict (an ERROR status, a raced session) keeps its words.
            why = exc.message if type(exc) is OutcomeUnknownError else type(exc).__name__
            raise self._unknown(f"lookup failed: {why}", cause) from exc
        _telemetry.reconciled("not_landed" if landed is None else "landed")
        return landed

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

    def _out_of_budget(self, state: RetryCallState) -> bool:
        """Stop unless a budget token pays for the retry the policy and the limit allow."""
        if not self.runner.budget.try_spend():
            self.runner.stats.budget_exhausted += 1
            logger.warning("retry budget exhausted; not retrying %s", self.operation)
            return True
        self.runner.stats.retries += 1
        return False

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        _telemetry.retrying(exc, state.upcoming_sleep)
        status = getattr(exc, "status_code", None)
        logger.info(
            "%s: attempt %d failed (%s%s); retrying in %.2f s",
            self.operation,
            state.attempt_number,
            type(exc).__name__,
            f" HTTP {status}" if status else "",
            state.upcoming_sleep,
        )

    def deadline_error(self, deadline: float) -> KashaError:
        message = f"{self.operation}: deadline of {deadline:g} s exceeded"
        money = self.safety.moves_money
        if self.maybe_sent or self.in_flight or not money:
            self.runner.stats.outcomes_unknown += money
            return ConnectionLostError(message, transaction_id=self.transaction_id)
        return RequestNotSentError(message)
