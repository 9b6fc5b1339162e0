"""The batch entry points: ``run_payouts``, ``submit_payouts``, ``run_worker``, ``approve_held``.

Each checks its knobs once into a frozen :class:`BatchOptions`, opens the
journal, and hands both to a pool (:mod:`._pools`) whose workers step each item
(:mod:`._steps`) through one :class:`~kasha_async.flows.PayoutFlow` per payout
(:mod:`._driver`).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterable
from pathlib import Path
from typing import Unpack

from .._client import KashaClient
from .._errors import ConfigError, DuplicateReferenceError
from ._driver import FlowDriver, PayoutDriver
from ._items import PayoutItem
from ._journal import ApproveMode, ClaimingJournal, ItemState, Journal, SQLiteJournal
from ._options import BatchKnobs, BatchOptions, batch_options
from ._pools import _CHUNK, ClaimPool, InputPool, check_same
from ._postgres import PostgresJournal, is_postgres_dsn
from ._report import Report
from ._steps import Steps

_HELD = (ItemState.PENDING, ItemState.SETTLE_SENT, ItemState.PROCESSING)


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


async def _sent_nothing(store: Journal) -> bool:
    """Whether no item of the journal ever got past opening its session (nothing was sent)."""
    async for record in store.scan():
        if record.state is not ItemState.PLANNED or record.attempts:
            return False
    return True


async def run_payouts(
    kasha: KashaClient,
    items: Iterable[PayoutItem],
    *,
    journal: str | Path | Journal,
    resume: bool = False,
    stop: asyncio.Event | None = None,
    driver: PayoutDriver | None = None,
    options: BatchOptions | None = None,
    **knobs: Unpack[BatchKnobs],
) -> Report:
    """Pay every item once, journaled; return the :class:`Report`.

    ``journal`` is a path (a :class:`SQLiteJournal` there, locked while the run
    lasts), a ``postgresql://`` URL (a :class:`PostgresJournal`, batch
    ``"default"``) or any :class:`Journal`. A journal in which something was
    sent needs ``resume=True``: final items are skipped, in-doubt ones reconciled
    by lookup, the rest run (one in which nothing was sent is simply run again).
    A shared journal (:class:`ClaimingJournal`) needs no ``resume``: the items
    are submitted (:func:`submit_payouts`, idempotent) and this process drains
    the batch as one of its workers (:func:`run_worker`). Setting ``stop`` stops
    starting items and lets each worker end its current step; cancelling the
    task stops at once (sent steps stay journaled as in doubt). How the batch
    runs is ``options`` (a :class:`BatchOptions`), with any of its fields given
    as keywords on top (``concurrency=200``).
    """
    options = batch_options(options, knobs)
    items = _reiterable(items)
    total = check_unique(items)
    store, owned = _journal_of(journal)
    await store.open()
    try:
        steps = Steps(driver or FlowDriver(kasha), store, options)
        if isinstance(store, ClaimingJournal):
            await _submit(store, items, options.approve)
            return await _drain(store, steps, stop)
        existing = await store.count()
        if existing and not resume and not await _sent_nothing(store):
            raise ConfigError(
                f"the journal already holds {existing} items, some sent: run again with "
                "--resume (resume=True) to continue that batch, or use a new journal"
            )
        pool = InputPool(steps, store, stop or asyncio.Event(), total=total)
        return await pool.drive(functools.partial(pool.produce, items))
    finally:
        if owned:
            await store.close()


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
                check_same(one, record)
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
    approve = BatchOptions(approve=approve).approve
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
    stop: asyncio.Event | None = None,
    driver: PayoutDriver | None = None,
    options: BatchOptions | None = None,
    **knobs: Unpack[BatchKnobs],
) -> Report:
    """Work on a submitted batch with the other workers until nothing is left; the batch's report.

    Claims items under a lease (renewed while in flight), takes over the items
    of workers whose lease expired (reconciling their in-doubt calls by lookup
    first), and returns when every item is final, held (``approve="hold"``
    batches) or stuck (out of attempts ``max_parks`` times). The approve mode is
    the batch's, as submitted; the other parameters are those of :func:`run_payouts`.
    """
    options = batch_options(options, knobs)
    store, owned = _shared(journal)
    await store.open()
    try:
        options = options.evolve(approve=await store.approve_mode())
        return await _drain(store, Steps(driver or FlowDriver(kasha), store, options), stop)
    finally:
        if owned:
            await store.close()


async def _drain(store: ClaimingJournal, steps: Steps, stop: asyncio.Event | None) -> Report:
    """Work on the shared batch as one of its workers until nothing is left; its report."""
    pool = ClaimPool(steps, store, stop or asyncio.Event(), total=await store.count())
    return await pool.drive(pool.feed)


async def approve_held(
    kasha: KashaClient,
    *,
    journal: str | Path | Journal,
    driver: PayoutDriver | None = None,
    options: BatchOptions | None = None,
    **knobs: Unpack[BatchKnobs],
) -> Report:
    """Approve every payout a ``hold`` run left PENDING (and resolve in-doubt settles).

    Needs only the journal: each payout's flow is restored from its journaled
    snapshot. A shared journal's batch is switched to ``approve="auto"`` and this
    call drains it; workers started from then on settle too (one already running
    read ``"hold"`` when it started and keeps holding). ``options`` and the
    keywords are those of :func:`run_payouts` (``approve`` is always ``"auto"``).
    """
    options = batch_options(options, knobs).evolve(approve="auto")
    store, owned = _journal_of(journal)
    await store.open()
    try:
        steps = Steps(driver or FlowDriver(kasha), store, options)
        if isinstance(store, ClaimingJournal):  # let the workers settle what they held
            await store.set_approve_mode("auto")
            return await _drain(store, steps, None)
        held = sum([1 async for _ in store.scan(_HELD)])
        pool = InputPool(steps, store, asyncio.Event(), total=held)
        return await pool.drive(functools.partial(pool.produce_records, store.scan(_HELD)))
    finally:
        if owned:
            await store.close()
