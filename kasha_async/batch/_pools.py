"""The worker pools: N workers stepping items, fed from the input or from leased claims.

:class:`InputPool` registers the input a chunk at a time in the journal and
queues what is not final; :class:`ClaimPool` feeds the same workers from leases
on a shared :class:`ClaimingJournal` (many processes, one batch). Both step each
item with :class:`~kasha_async.batch._steps.Steps` until it is final, held,
stopped, or out of attempts.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence

from .. import _telemetry
from .._errors import InputMismatchError, LeaseLostError
from .._timing import backoff
from ._items import PayoutItem
from ._journal import ClaimingJournal, Journal, JournalRecord
from ._progress import ProgressTracker
from ._report import Report, build_report, status_of
from ._steps import Payout, Retry, Steps

logger = logging.getLogger("kasha_async.batch")

_CHUNK = 256
_CLAIM_BATCH = 32

_Queue = asyncio.Queue[Payout | None]
Feed = Callable[[_Queue], Awaitable[None]]


#: The longest wait between two undecided tries of one item.
_MAX_ITEM_DELAY = 10.0


def planned(item: PayoutItem, seq: int) -> JournalRecord:
    """The first record of an item at input position ``seq``."""
    return JournalRecord(
        reference=item.reference,
        seq=seq,
        country=item.country,
        currency=item.currency,
        amount=item.amount,
    )


def check_same(item: PayoutItem, record: JournalRecord) -> None:
    """Refuse an input item that differs from what the journal holds for its reference."""
    journaled = (record.amount, record.currency, record.country)
    if journaled != (item.amount, item.currency, item.country):
        raise InputMismatchError(
            f"item {item.reference!r} is {item.amount} {item.currency} {item.country} in the input "
            f"but {record.amount} {record.currency} {record.country} in the journal"
        )


class InputPool:
    """The worker pool: a producer registering chunks in the journal, N workers, one stop flag."""

    def __init__(self, steps: Steps, journal: Journal, stop: asyncio.Event, *, total: int) -> None:
        self.steps = steps
        self.journal = journal
        self.options = steps.options
        self.stop = stop
        self.tracker = ProgressTracker(
            total, callback=self.options.on_progress, show=self.options.progress
        )

    async def drive(self, feed: Feed) -> Report:
        """:meth:`run` under the progress bar; then the report of the whole journal."""
        started = time.monotonic()
        with self.tracker:
            await self.run(feed)
        return await build_report(
            self.journal,
            duration=time.monotonic() - started,
            interrupted=self.stop.is_set(),
            include_items=self.options.include_items,
            finished_by_run=self.tracker.finished_by_run,
        )

    async def run(self, feed: Feed) -> None:
        """Start the workers, let ``feed`` fill the queue, then wait for the workers to drain it."""
        concurrency = self.options.concurrency
        queue: _Queue = asyncio.Queue(concurrency)
        try:
            async with asyncio.TaskGroup() as group:
                workers = [group.create_task(self.work(queue)) for _ in range(concurrency)]
                await feed(queue)
                for _ in workers:
                    await queue.put(None)
        except BaseExceptionGroup as group_error:
            raise group_error.exceptions[0] from None

    async def produce(self, items: Iterable[PayoutItem], queue: _Queue) -> None:
        """Register the items a chunk at a time and queue those not final yet.

        Once stopped, the rest of the input is still registered (and queued for
        nobody), so the journal and its report count the whole input.
        """
        chunk: list[PayoutItem] = []
        seq = 0
        for item in items:
            chunk.append(item)
            if len(chunk) == _CHUNK:
                await self.dispatch(chunk, seq, queue)
                seq += len(chunk)
                chunk = []
        if chunk:
            await self.dispatch(chunk, seq, queue)

    async def produce_records(self, records: AsyncIterator[JournalRecord], queue: _Queue) -> None:
        """Queue journal records that need no input item (settling held payouts)."""
        async for record in records:
            await queue.put(Payout(None, record))

    async def dispatch(self, chunk: Sequence[PayoutItem], seq: int, queue: _Queue) -> None:
        """Register one chunk; queue its items that are not final."""
        stored = await self.journal.register(
            [planned(item, seq + i) for i, item in enumerate(chunk)]
        )
        for item, record in zip(chunk, stored, strict=True):
            check_same(item, record)
            if record.state.is_final:
                self.tracker.item_done(status_of(record), skipped=True)
            elif not self.stop.is_set():
                await queue.put(Payout(item, record))

    async def work(self, queue: _Queue) -> None:
        """One worker: step what the queue hands over until the end mark."""
        while (payout := await queue.get()) is not None:
            if self.stop.is_set():
                continue
            await self.process(payout)
            self.tracker.item_done(status_of(payout.record))

    async def process(self, payout: Payout) -> bool:
        """Step the item until it is final, held, stopped, or out of attempts (then True).

        The item is one trace span (its flow's steps nest in it), counted by the
        status it stands at when this run is done with it.
        """
        with _telemetry.batch_item(payout.record.seq):
            gave_up = await self._steps_until_done(payout)
            _telemetry.batch_item_finished(status_of(payout.record).value)
        return gave_up

    async def _steps_until_done(self, payout: Payout) -> bool:
        failures = 0
        while not payout.record.state.is_final and not self.stop.is_set():
            try:
                more = await self.steps.step(payout)
            except Retry as retry:
                payout.record, failures = retry.record, failures + 1
                if failures >= self.options.max_attempts:
                    return True
                await asyncio.sleep(
                    backoff(failures, base=self.options.retry_delay, cap=_MAX_ITEM_DELAY)
                )
                continue
            if not more:
                break
        return False


class ClaimPool(InputPool):
    """Feeds the workers from leases on a shared journal instead of from the input.

    Claims as many items as workers are idle, renews the leases of what is in
    flight every ``lease / 3`` s, releases each item when its worker is done
    (setting it aside for a while if it ran out of attempts), and ends when no
    unfinished item is left that some worker will still take — waiting, meanwhile,
    for the leases of dead workers to expire.
    """

    def __init__(
        self, steps: Steps, journal: ClaimingJournal, stop: asyncio.Event, *, total: int
    ) -> None:
        super().__init__(steps, journal, stop, total=total)
        self.shared = journal
        self.hold = steps.hold
        self.in_flight = 0
        #: References this process is working on. A claim can return one of them when its
        #: lease ran out under a stalled worker: the journal fences by worker, so a second
        #: task here would pass the fence and could open a second session for the item.
        self.running: set[str] = set()
        self.freed = asyncio.Event()
        self.poll = min(1.0, journal.lease / 4)
        self.park = min(30.0, max(1.0, self.options.retry_delay * 8))

    async def feed(self, queue: _Queue) -> None:
        """Claim while there is room; stop when the batch has nothing left for anyone."""
        heartbeat = asyncio.create_task(self.heartbeat())
        try:
            while not self.stop.is_set():
                wanted = min(self.options.concurrency - self.in_flight, _CLAIM_BATCH)
                claims = await self.shared.claim(wanted, hold=self.hold) if wanted else []
                for claim in claims:
                    if claim.record.reference in self.running:
                        continue  # re-leased to us; the task still running it keeps it
                    self.running.add(claim.record.reference)
                    self.in_flight += 1
                    queue.put_nowait(Payout(claim.item, claim.record))
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
        """Renew this worker's leases every ``lease / 3`` s."""
        while True:
            await asyncio.sleep(self.shared.lease / 3)
            try:
                await self.shared.renew()
            except Exception as exc:  # survivable: puts are fenced, the next one will tell
                logger.warning("lease heartbeat failed: %s", exc)

    async def work(self, queue: _Queue) -> None:
        """One worker: step each claimed item, then give its lease back."""
        while (payout := await queue.get()) is not None:
            try:
                await self.run_one(payout)
            finally:
                self.running.discard(payout.record.reference)
                self.in_flight -= 1
                self.freed.set()

    async def run_one(self, payout: Payout) -> None:
        """Process one leased item and give its lease back (a lost lease ends it quietly)."""
        try:
            gave_up = False
            if not self.stop.is_set():
                gave_up = await self.process(payout)
                self.tracker.item_done(status_of(payout.record))
            park = self.park if gave_up and not payout.record.state.is_final else 0.0
            await self.shared.release(payout.record.reference, park=park)
        except LeaseLostError as exc:
            logger.warning("stopped working on an item: %s", exc)
