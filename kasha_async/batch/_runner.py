"""``run_payouts``: a bounded worker pool walking each item through a write-ahead journal.

Per item, one step per journaled state (the intent of a create or settle is
committed before the call, its outcome after)::

    PLANNED ─open, choose─▶ CREATE_SENT ─create─▶ PENDING ─(hold: stop)
                                 │                   │ auto
                       lookup (resume/unknown)   SETTLE_SENT ─settle─▶ PROCESSING ─wait─▶ final
                                                     │
                                           lookup (resume/unknown)

An in-doubt state (``*_SENT``) is always resolved by ``GET /transactions/{id}``
before anything is resent, and a resent create uses the same session, which can
carry one payout only. A session that expired unused (``EXPIRED``) restarts the
item with a new session; nothing was paid on the old one.

The items reach the workers from the input (``_Runner``) or, for a batch shared
by many processes, from leased claims on a :class:`ClaimingJournal`
(``_ClaimRunner``); the steps are the same.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from pathlib import Path

import attrs

from .._client import KashaClient
from .._codes import KashaErrorCode, TransactionStatus
from .._errors import (
    AuthenticationError,
    ConfigError,
    ConflictError,
    DeclinedError,
    DuplicateReferenceError,
    InputMismatchError,
    InvalidRequestError,
    KashaError,
    LeaseLostError,
    SessionAlreadyUsedError,
    SessionExpiredError,
    SessionGoneError,
    ValidationError,
)
from .._models import Transaction
from ._driver import FlowDriver, OpenedSession, PayoutDriver
from ._items import PayoutItem
from ._journal import (
    ApproveMode,
    ClaimingJournal,
    ItemState,
    Journal,
    JournalRecord,
    SQLiteJournal,
)
from ._postgres import PostgresJournal, is_postgres_dsn
from ._progress import ProgressCallback, ProgressTracker
from ._report import Report, build_report, status_of

logger = logging.getLogger("kasha_async.batch")

#: The redirect URL sent when none is given (payouts redirect nobody, but the API wants one).
DEFAULT_REDIRECT_URL = "https://localhost/kasha-batch/return"
_CHUNK = 256
_CLAIM_BATCH = 32
_FINAL = {
    TransactionStatus.COMPLETED: ItemState.COMPLETED,
    TransactionStatus.REFUNDED: ItemState.COMPLETED,
    TransactionStatus.DECLINED: ItemState.DECLINED,
}
_DUPLICATE = KashaErrorCode.DUPLICATE_TRANSACTION


_Queue = asyncio.Queue[tuple[PayoutItem | None, JournalRecord] | None]


@attrs.frozen(kw_only=True)
class _Settings:
    approve: ApproveMode
    redirect_url: str
    max_attempts: int
    retry_delay: float
    processing_timeout: float


@attrs.frozen(kw_only=True)
class _Watch:
    """How one call's workers are sized, stopped and watched, whatever feeds them."""

    concurrency: int
    stop: asyncio.Event
    progress: bool | None
    on_progress: ProgressCallback | None
    include_items: bool


class _Retry(Exception):
    """Internal: the step failed without a decision; the record (journaled) says why."""

    def __init__(self, record: JournalRecord) -> None:
        super().__init__(record.last_error)
        self.record = record


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


class _Steps:
    """One method per journaled state; each returns the next record (journaled) or None to stop."""

    def __init__(self, driver: PayoutDriver, journal: Journal, settings: _Settings) -> None:
        self.driver = driver
        self.journal = journal
        self.settings = settings

    async def save(self, record: JournalRecord, **changes: object) -> JournalRecord:
        record = record.evolve(updated_at=time.time(), **changes)
        await self.journal.put(record)
        return record

    async def retry(self, record: JournalRecord, exc: BaseException) -> _Retry:
        return _Retry(await self.save(record, last_error=_describe(exc)))

    async def step(self, item: PayoutItem | None, record: JournalRecord) -> JournalRecord | None:
        """Run the step of ``record.state`` (only the steps before PENDING need the input item)."""
        match record.state:
            case ItemState.PLANNED:
                assert item is not None
                return await self.start(item, record)
            case ItemState.CREATE_SENT:
                return await self.reconcile(item, record, settle=False)
            case ItemState.PENDING:
                return await self.settle(record)
            case ItemState.SETTLE_SENT:
                return await self.reconcile(item, record, settle=True)
            case _:
                return await self.wait(record)

    async def start(self, item: PayoutItem, record: JournalRecord) -> JournalRecord:
        """Open a session (no money moves), journal the create intent, create."""
        try:
            session = await self.driver.open(item, redirect_url=self.settings.redirect_url)
        except (InvalidRequestError, DeclinedError) as exc:
            return await self.failed(record, exc)
        except AuthenticationError:
            raise
        except KashaError as exc:
            raise await self.retry(record, exc) from exc
        record = await self.save(
            record,
            state=ItemState.CREATE_SENT,
            session_id=session.session_id,
            transaction_id=session.transaction_id,
            payment_option_id=session.payment_option_id,
            option_id=session.option_id,
            attempts=record.attempts + 1,
            started_at=record.started_at or time.time(),
            last_error=None,
        )
        return await self.create(item, record, session)

    async def create(
        self, item: PayoutItem, record: JournalRecord, session: OpenedSession
    ) -> JournalRecord:
        """Send the create whose intent ``record`` journals; map the answer to a state."""
        try:
            await self.driver.create(item, session)
        except (ValidationError, InvalidRequestError) as exc:
            return await self.failed(record, exc)  # refused before processing: nothing paid
        except DeclinedError as exc:
            if exc.code is _DUPLICATE:
                return await self.failed(record, exc, "the provider already has a payout with it")
            return await self.final(record, ItemState.DECLINED, exc.code, exc.reason)
        except ConflictError as exc:
            if exc.code is _DUPLICATE:
                return await self.failed(record, exc, "the provider already has a payout with it")
            raise await self.retry(record, exc) from exc  # session used: reconcile next
        except SessionGoneError as exc:
            return await self.expired(record, exc)
        except (SessionExpiredError, SessionAlreadyUsedError) as exc:
            # The flow's own clock or bookkeeping refused to send: the server has not said
            # the session is gone, so a lookup decides (and a resend goes on the same session).
            raise await self.retry(record, exc) from exc
        except AuthenticationError:
            raise
        except KashaError as exc:  # unknown or not sent: the next pass looks it up first
            raise await self.retry(record, exc) from exc
        if self.settings.approve == "hold":
            return await self.save(
                record, state=ItemState.PENDING, status="PENDING", last_error=None
            )
        return record.evolve(state=ItemState.PENDING, status="PENDING", last_error=None)

    async def settle(self, record: JournalRecord) -> JournalRecord | None:
        """Journal the settle intent, APPROVE, and record what the payout moved to."""
        if self.settings.approve == "hold":
            return None
        record = await self.save(
            record, state=ItemState.SETTLE_SENT, attempts=record.attempts + 1, last_error=None
        )
        try:
            status = await self.driver.approve(record.transaction_id or "")
        except DeclinedError as exc:
            return await self.final(record, ItemState.DECLINED, exc.code, exc.reason)
        except AuthenticationError:
            raise
        except KashaError as exc:
            raise await self.retry(record, exc) from exc
        if status is TransactionStatus.PROCESSING:
            return record.evolve(state=ItemState.PROCESSING, status=status.value)
        return await self.observe(record, await self.lookup(record))

    async def reconcile(
        self, item: PayoutItem | None, record: JournalRecord, *, settle: bool
    ) -> JournalRecord | None:
        """Resolve an intent without outcome by lookup; resend only what certainly did not land."""
        tx = await self.lookup(record)
        if tx.status is TransactionStatus.CREATED and not settle:
            assert item is not None  # an item before PENDING always comes from the input
            return await self.resend_create(item, record)
        if tx.status is TransactionStatus.PENDING and settle and self.settings.approve == "auto":
            return await self.settle(record.evolve(state=ItemState.PENDING))
        if tx.status is TransactionStatus.EXPIRED and not settle:
            return await self.restart(record, None)
        return await self.observe(record, tx)

    async def expired(self, record: JournalRecord, exc: SessionGoneError) -> JournalRecord:
        """The server says the session is gone; a new one only if the lookup proves it unused.

        A 410 does not say whether an earlier send of this create (a resend inside the client,
        or a worker that lost its lease) landed before the expiry; the lookup does, and once the
        session is gone nothing can land on it any more, so ``CREATED`` is proof too.
        """
        tx = await self.lookup(record)
        if tx.status in (TransactionStatus.CREATED, TransactionStatus.EXPIRED):
            return await self.restart(record, exc)
        return await self.observe(record, tx)

    async def resend_create(self, item: PayoutItem, record: JournalRecord) -> JournalRecord:
        """The create never landed: send it again on the same session (it carries one payout)."""
        session = OpenedSession(
            session_id=record.session_id or "",
            transaction_id=record.transaction_id or "",
            payment_option_id=record.payment_option_id or "",
            option_id=record.option_id,
        )
        record = await self.save(record, attempts=record.attempts + 1)
        return await self.create(item, record, session)

    async def wait(self, record: JournalRecord) -> JournalRecord | None:
        """Follow a PROCESSING payout to its final status, or stop at the timeout."""
        assert record.transaction_id is not None
        try:
            tx = await self.driver.wait_final(
                record.transaction_id, timeout=self.settings.processing_timeout
            )
        except AuthenticationError:
            raise
        except KashaError as exc:
            raise await self.retry(record, exc) from exc
        if not tx.is_final:
            await self.save(record, status=tx.status.value)
            return None
        return await self.observe(record, tx)

    async def lookup(self, record: JournalRecord) -> Transaction:
        assert record.transaction_id is not None
        try:
            return await self.driver.lookup(record.transaction_id)
        except AuthenticationError:
            raise
        except KashaError as exc:
            raise await self.retry(record, exc) from exc

    async def observe(self, record: JournalRecord, tx: Transaction) -> JournalRecord:
        """Move the record to what the server's transaction says."""
        if tx.status is TransactionStatus.PENDING:
            return await self.save(
                record, state=ItemState.PENDING, status="PENDING", last_error=None
            )
        if tx.status is TransactionStatus.PROCESSING:
            return await self.save(record, state=ItemState.PROCESSING, status="PROCESSING")
        if not tx.is_final:
            raise await self.retry(record, RuntimeError(f"transaction is {tx.status.value}"))
        code = tx.errors.code if tx.errors else None
        reason = tx.errors.msg if tx.errors else None
        state = _FINAL.get(tx.status, ItemState.FAILED)
        return await self.final(
            record, state, code, reason or (code.reason if code else None), tx.status
        )

    async def final(
        self,
        record: JournalRecord,
        state: ItemState,
        code: KashaErrorCode | None,
        reason: str | None,
        status: TransactionStatus | None = None,
    ) -> JournalRecord:
        status = status or (TransactionStatus.COMPLETED if state is ItemState.COMPLETED else None)
        return await self.save(
            record,
            state=state,
            status=(status or TransactionStatus.DECLINED).value,
            decline_code=None if code is None else code.value,
            decline_reason=reason,
            last_error=None,
            finished_at=time.time(),
        )

    async def failed(
        self, record: JournalRecord, exc: KashaError, why: str | None = None
    ) -> JournalRecord:
        code = getattr(exc, "code", None)
        message = _describe(exc) + (f" ({why})" if why else "")
        return await self.save(
            record,
            state=ItemState.FAILED,
            decline_code=code.value if isinstance(code, KashaErrorCode) else None,
            decline_reason=getattr(exc, "reason", None),
            last_error=message,
            finished_at=time.time(),
        )

    async def restart(self, record: JournalRecord, exc: BaseException | None) -> JournalRecord:
        """The session expired unused: forget it and open a new one next."""
        return await self.save(
            record,
            state=ItemState.PLANNED,
            session_id=None,
            transaction_id=None,
            last_error=None if exc is None else _describe(exc),
        )


class _Runner:
    """The worker pool: a producer registering chunks in the journal, N workers, one stop flag."""

    def __init__(self, steps: _Steps, journal: Journal, watch: _Watch, *, total: int) -> None:
        self.steps = steps
        self.journal = journal
        self.watch = watch
        self.tracker = ProgressTracker(total, callback=watch.on_progress, show=watch.progress)
        self.concurrency = watch.concurrency
        self.stop = watch.stop
        self.settings = steps.settings

    async def drive(self, feed: Callable[[_Queue], Awaitable[None]]) -> Report:
        """:meth:`run` under the progress bar; then the report of the whole journal."""
        started = time.monotonic()
        with self.tracker:
            await self.run(feed)
        return await build_report(
            self.journal,
            duration=time.monotonic() - started,
            interrupted=self.stop.is_set(),
            include_items=self.watch.include_items,
        )

    async def run(self, feed: Callable[[_Queue], Awaitable[None]]) -> None:
        """Start the workers, let ``feed`` fill the queue, then wait for the workers to drain it."""
        queue: _Queue = asyncio.Queue(self.concurrency)
        try:
            async with asyncio.TaskGroup() as group:
                workers = [group.create_task(self.work(queue)) for _ in range(self.concurrency)]
                await feed(queue)
                for _ in workers:
                    await queue.put(None)
        except BaseExceptionGroup as group_error:
            raise group_error.exceptions[0] from None

    async def produce(self, items: Iterable[PayoutItem], queue: _Queue) -> None:
        """Register the items a chunk at a time and queue those not final yet."""
        chunk: list[PayoutItem] = []
        seq = 0
        for item in items:
            if self.stop.is_set():
                return
            chunk.append(item)
            if len(chunk) == _CHUNK:
                await self.dispatch(chunk, seq, queue)
                seq += len(chunk)
                chunk = []
        if chunk and not self.stop.is_set():
            await self.dispatch(chunk, seq, queue)

    async def produce_records(self, records: AsyncIterator[JournalRecord], queue: _Queue) -> None:
        """Queue journal records that need no input item (settling held payouts)."""
        async for record in records:
            await queue.put((None, record))

    async def dispatch(self, chunk: Sequence[PayoutItem], seq: int, queue: _Queue) -> None:
        planned = [_planned(item, seq + i) for i, item in enumerate(chunk)]
        stored = await self.journal.register(planned)
        for item, record in zip(chunk, stored, strict=True):
            _check_same(item, record)
            if record.state.is_final:
                self.tracker.item_done(status_of(record), skipped=True)
            elif not self.stop.is_set():
                await queue.put((item, record))

    async def work(self, queue: _Queue) -> None:
        while (job := await queue.get()) is not None:
            if self.stop.is_set():
                continue
            record, _ = await self.process(*job)
            self.tracker.item_done(status_of(record))

    async def process(
        self, item: PayoutItem | None, record: JournalRecord
    ) -> tuple[JournalRecord, bool]:
        """Step the item until it is final, held, stopped, or out of attempts (then True)."""
        failures = 0
        while not record.state.is_final and not self.stop.is_set():
            try:
                following = await self.steps.step(item, record)
            except _Retry as retry:
                record, failures = retry.record, failures + 1
                if failures >= self.settings.max_attempts:
                    return record, True
                await asyncio.sleep(_backoff(self.settings.retry_delay, failures))
                continue
            if following is None:
                break
            record = following
        return record, False


class _ClaimRunner(_Runner):
    """Feeds the workers from leases on a shared journal instead of from the input.

    Claims as many items as workers are idle, renews the leases of what is in
    flight every ``lease / 3`` s, releases each item when its worker is done
    (setting it aside for a while if it ran out of attempts), and ends when no
    unfinished item is left that some worker will still take — waiting, meanwhile,
    for the leases of dead workers to expire.
    """

    def __init__(
        self, steps: _Steps, journal: ClaimingJournal, watch: _Watch, *, total: int
    ) -> None:
        super().__init__(steps, journal, watch, total=total)
        self.shared = journal
        self.hold = self.settings.approve == "hold"
        self.in_flight = 0
        #: References this process is working on. A claim can return one of them when its
        #: lease ran out under a stalled worker: the journal fences by worker, so a second
        #: task here would pass the fence and could open a second session for the item.
        self.running: set[str] = set()
        self.freed = asyncio.Event()
        self.poll = min(1.0, journal.lease / 4)
        self.park = min(30.0, max(1.0, self.settings.retry_delay * 8))

    async def feed(self, queue: _Queue) -> None:
        """Claim while there is room; stop when the batch has nothing left for anyone."""
        heartbeat = asyncio.create_task(self.heartbeat())
        try:
            while not self.stop.is_set():
                wanted = min(self.concurrency - self.in_flight, _CLAIM_BATCH)
                claims = await self.shared.claim(wanted, hold=self.hold) if wanted else []
                for claim in claims:
                    if claim.record.reference in self.running:
                        continue  # re-leased to us; the task still running it keeps it
                    self.running.add(claim.record.reference)
                    self.in_flight += 1
                    queue.put_nowait((claim.item, claim.record))
                if wanted and len(claims) == wanted:
                    continue  # there may be more
                idle = not claims and not self.in_flight
                if idle and not await self.shared.remaining(hold=self.hold):
                    return
                await self.pause()
        finally:
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)

    async def pause(self) -> None:
        """Until a worker frees a slot, the poll interval passes, or stop is set."""
        self.freed.clear()
        waits = [asyncio.create_task(self.freed.wait()), asyncio.create_task(self.stop.wait())]
        await asyncio.wait(waits, timeout=self.poll, return_when=asyncio.FIRST_COMPLETED)
        for task in waits:
            task.cancel()
        await asyncio.gather(*waits, return_exceptions=True)

    async def heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.shared.lease / 3)
            try:
                await self.shared.renew()
            except Exception as exc:  # survivable: puts are fenced, the next one will tell
                logger.warning("lease heartbeat failed: %s", exc)

    async def work(self, queue: _Queue) -> None:
        while (job := await queue.get()) is not None:
            try:
                await self.run_one(*job)
            finally:
                self.running.discard(job[1].reference)
                self.in_flight -= 1
                self.freed.set()

    async def run_one(self, item: PayoutItem | None, record: JournalRecord) -> None:
        """Process one leased item and give its lease back (a lost lease ends it quietly)."""
        try:
            if not self.stop.is_set():
                record, gave_up = await self.process(item, record)
                self.tracker.item_done(status_of(record))
            else:
                gave_up = False
            park = self.park if gave_up and not record.state.is_final else 0.0
            await self.shared.release(record.reference, park=park)
        except LeaseLostError as exc:
            logger.warning("stopped working on an item: %s", exc)


def _backoff(base: float, failures: int) -> float:
    return random.uniform(0.5, 1.0) * min(10.0, base * 2.0 ** (failures - 1))


def _planned(item: PayoutItem, seq: int) -> JournalRecord:
    return JournalRecord(
        reference=item.reference,
        seq=seq,
        country=item.country,
        currency=item.currency,
        amount=item.amount,
    )


def _check_same(item: PayoutItem, record: JournalRecord) -> None:
    journaled = (record.amount, record.currency, record.country)
    if journaled != (item.amount, item.currency, item.country):
        raise InputMismatchError(
            f"item {item.reference!r} is {item.amount} {item.currency} {item.country} in the input "
            f"but {record.amount} {record.currency} {record.country} in the journal"
        )


def _reiterable(items: Iterable[PayoutItem]) -> Iterable[PayoutItem]:
    """A one-shot iterator is materialized: the input is read twice (check, then run)."""
    return list(items) if iter(items) is items else items


def check_unique(items: Iterable[PayoutItem]) -> int:
    """Count the items; raise :class:`DuplicateReferenceError` if a reference repeats."""
    seen: set[str] = set()
    for item in items:
        if item.reference in seen:
            raise DuplicateReferenceError(f"duplicate reference {item.reference!r} in the input")
        seen.add(item.reference)
    return len(seen)


async def run_payouts(
    kasha: KashaClient,
    items: Iterable[PayoutItem],
    *,
    journal: str | Path | Journal,
    concurrency: int = 50,
    approve: ApproveMode = "auto",
    resume: bool = False,
    progress: bool | None = None,
    on_progress: ProgressCallback | None = None,
    redirect_url: str = DEFAULT_REDIRECT_URL,
    max_attempts: int = 5,
    retry_delay: float = 0.5,
    processing_timeout: float = 60.0,
    stop: asyncio.Event | None = None,
    include_items: bool = True,
    driver: PayoutDriver | None = None,
) -> Report:
    """Pay every item once, journaled; return the :class:`Report`.

    ``journal`` is a path (a :class:`SQLiteJournal` there), a ``postgresql://``
    URL (a :class:`PostgresJournal`, batch ``"default"``) or any :class:`Journal`.
    A journal that already holds items needs ``resume=True``: final items are
    skipped, in-doubt ones reconciled by lookup, the rest run. A shared journal
    (:class:`ClaimingJournal`) needs no ``resume``: the items are submitted
    (:func:`submit_payouts`, idempotent) and this process drains the batch as one
    of its workers (:func:`run_worker`). ``approve="hold"``
    stops each payout at PENDING (settle later with :func:`approve_held`).
    ``progress`` shows a rich bar (default: when stderr is a terminal);
    ``on_progress`` gets a :class:`BatchProgress` after every item. Setting
    ``stop`` stops starting items and lets each worker end its current step;
    cancelling the task stops at once (sent steps stay journaled as in doubt).
    ``max_attempts`` bounds the undecided tries per item per run, with a
    ``retry_delay`` backoff. Items in the report are left out with ``include_items=False``.
    """
    settings = _settings(
        concurrency, approve, redirect_url, max_attempts, retry_delay, processing_timeout
    )
    watch = _Watch(
        concurrency=concurrency,
        stop=stop or asyncio.Event(),
        progress=progress,
        on_progress=on_progress,
        include_items=include_items,
    )
    items = _reiterable(items)
    total = check_unique(items)
    store, owned = _journal_of(journal)
    await store.open()
    try:
        steps = _Steps(driver or FlowDriver(kasha), store, settings)
        if isinstance(store, ClaimingJournal):
            await _submit(store, items, settings.approve)
            return await _drain(store, steps, watch)
        existing = await store.count()
        if existing and not resume:
            raise ConfigError(
                f"the journal already holds {existing} items: pass resume=True (--resume) "
                "to continue that batch, or use a new journal"
            )
        runner = _Runner(steps, store, watch, total=total)
        return await runner.drive(functools.partial(runner.produce, items))
    finally:
        if owned:
            await store.close()


def _journal_of(journal: str | Path | Journal) -> tuple[Journal, bool]:
    """The journal to use and whether this call owns it (opens and closes it)."""
    if isinstance(journal, Journal):
        return journal, False
    if is_postgres_dsn(journal):
        return PostgresJournal(str(journal)), True
    return SQLiteJournal(journal), True


def _shared(journal: str | ClaimingJournal) -> tuple[ClaimingJournal, bool]:
    store, owned = _journal_of(journal)
    if not isinstance(store, ClaimingJournal):
        raise ConfigError("a worker needs a shared journal (a postgresql:// URL)")
    return store, owned


async def _submit(store: ClaimingJournal, items: Iterable[PayoutItem], approve: ApproveMode) -> int:
    """Store the items a chunk at a time; check the ones already there against the input."""
    chunk: list[PayoutItem] = []
    seq = 0
    for item in [*items, None]:
        if item is not None:
            chunk.append(item)
        if chunk and (item is None or len(chunk) == _CHUNK):
            stored = await store.submit(chunk, approve=approve, first_seq=seq)
            for one, record in zip(chunk, stored, strict=True):
                _check_same(one, record)
            seq += len(chunk)
            chunk = []
    return seq


async def submit_payouts(
    journal: str | ClaimingJournal, items: Iterable[PayoutItem], *, approve: ApproveMode = "auto"
) -> int:
    """Load a batch into a shared journal for workers to drain; return how many items it has.

    Idempotent: items already submitted are left alone, but one whose amount,
    currency or country differs raises :class:`InputMismatchError`. Duplicate
    references in ``items`` raise :class:`DuplicateReferenceError` before anything
    is stored.
    """
    if approve not in ("auto", "hold"):
        raise ConfigError(f"approve must be 'auto' or 'hold', not {approve!r}")
    items = _reiterable(items)
    check_unique(items)
    store, owned = _shared(journal)
    await store.open()
    try:
        return await _submit(store, items, approve)
    finally:
        if owned:
            await store.close()


async def run_worker(
    kasha: KashaClient,
    *,
    journal: str | ClaimingJournal,
    concurrency: int = 50,
    progress: bool | None = None,
    on_progress: ProgressCallback | None = None,
    redirect_url: str = DEFAULT_REDIRECT_URL,
    max_attempts: int = 5,
    retry_delay: float = 0.5,
    processing_timeout: float = 60.0,
    stop: asyncio.Event | None = None,
    include_items: bool = True,
    driver: PayoutDriver | None = None,
) -> Report:
    """Work on a submitted batch with the other workers until nothing is left; the batch's report.

    Claims items under a lease (renewed while in flight), takes over the items
    of workers whose lease expired (reconciling their in-doubt calls by lookup
    first), and returns when every item is final, held (``approve="hold"``
    batches) or stuck (out of attempts ``max_parks`` times). The other
    parameters are those of :func:`run_payouts`.
    """
    store, owned = _shared(journal)
    await store.open()
    try:
        settings = _settings(
            concurrency,
            await store.approve_mode(),
            redirect_url,
            max_attempts,
            retry_delay,
            processing_timeout,
        )
        watch = _Watch(
            concurrency=concurrency,
            stop=stop or asyncio.Event(),
            progress=progress,
            on_progress=on_progress,
            include_items=include_items,
        )
        return await _drain(store, _Steps(driver or FlowDriver(kasha), store, settings), watch)
    finally:
        if owned:
            await store.close()


async def _drain(store: ClaimingJournal, steps: _Steps, watch: _Watch) -> Report:
    """Work on the shared batch as one of its workers until nothing is left; its report."""
    runner = _ClaimRunner(steps, store, watch, total=await store.count())
    return await runner.drive(runner.feed)


def _settings(
    concurrency: int,
    approve: str,
    redirect_url: str,
    max_attempts: int,
    retry_delay: float,
    processing_timeout: float,
) -> _Settings:
    if concurrency < 1:
        raise ConfigError("concurrency must be at least 1")
    if approve not in ("auto", "hold"):
        raise ConfigError(f"approve must be 'auto' or 'hold', not {approve!r}")
    if max_attempts < 1:
        raise ConfigError("max_attempts must be at least 1")
    return _Settings(
        approve="auto" if approve == "auto" else "hold",
        redirect_url=redirect_url,
        max_attempts=max_attempts,
        retry_delay=retry_delay,
        processing_timeout=processing_timeout,
    )


async def approve_held(
    kasha: KashaClient,
    *,
    journal: str | Path | Journal,
    concurrency: int = 50,
    progress: bool | None = None,
    on_progress: ProgressCallback | None = None,
    max_attempts: int = 5,
    retry_delay: float = 0.5,
    processing_timeout: float = 60.0,
    include_items: bool = True,
    driver: PayoutDriver | None = None,
) -> Report:
    """Approve every payout a ``hold`` run left PENDING (and resolve in-doubt settles).

    Needs only the journal: settling and reconciling use transaction ids. A
    shared journal's batch is switched to ``approve="auto"`` and this call
    drains it; workers started from then on settle too (one already running
    read ``"hold"`` when it started and keeps holding).
    """
    settings = _settings(
        concurrency, "auto", DEFAULT_REDIRECT_URL, max_attempts, retry_delay, processing_timeout
    )
    watch = _Watch(
        concurrency=concurrency,
        stop=asyncio.Event(),
        progress=progress,
        on_progress=on_progress,
        include_items=include_items,
    )
    store, owned = _journal_of(journal)
    await store.open()
    try:
        steps = _Steps(driver or FlowDriver(kasha), store, settings)
        if isinstance(store, ClaimingJournal):  # let the workers settle what they held
            await store.set_approve_mode("auto")
            return await _drain(store, steps, watch)
        wanted = (ItemState.PENDING, ItemState.SETTLE_SENT, ItemState.PROCESSING)
        held = sum([1 async for _ in store.scan(wanted)])
        runner = _Runner(steps, store, watch, total=held)
        return await runner.drive(functools.partial(runner.produce_records, store.scan(wanted)))
    finally:
        if owned:
            await store.close()
