"""The write-ahead journal of a batch: one record per item, behind a small Protocol.

The runner commits the *intent* of every money-moving call (create, settle)
before making it and the outcome after, so a batch killed at any instant can be
resumed without paying twice: an intent without an outcome is reconciled by
``GET /v2/transactions/{id}`` before anything is resent.

:class:`SQLiteJournal` keeps the records in SQLite (WAL mode) and does all its
I/O in one dedicated thread that commits whatever writes are waiting in one
transaction (group commit). :class:`MemoryJournal` keeps them in a dict (tests
and benchmarks; not durable). Another backend (PostgreSQL for many workers on
many machines) implements :class:`Journal` and the runner does not change.

What a record holds: the reference, country, currency and amount, the item's
state, the Kasha session and transaction ids, the payout option ids, the last
seen transaction status, the decline code and reason, the attempts, the last
error message, timestamps, the payout flow's own snapshot
(``PayoutFlow.to_dict``: ids, state, the offered options and form definitions)
and the amount the provider reported. Never the API key, the customer or
``extra_data`` (bank details), which are re-read from the input on resume.

:class:`ClaimingJournal` is the larger interface of a journal shared by many
workers (:class:`~kasha_async.batch.PostgresJournal`): the items, inputs
included, are submitted once, then each worker claims a few at a time under a
lease, and a record is written only by the worker holding its lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import fcntl
import functools
import operator
import os
import queue
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, Protocol, TypeVar, overload, runtime_checkable

import attrs

from .._errors import (
    IllegalTransitionError,
    JournalError,
    JournalLockedError,
    LeaseLostError,  # noqa: F401  (re-exported)
)
from ._items import PayoutItem

T = TypeVar("T")
ApproveMode = Literal["auto", "hold"]
_PAGE = 1000
_GROUP_LIMIT = 2000
_SCHEMA_VERSION = 2


class ItemState(enum.StrEnum):
    """Where an item stands; ``*_SENT`` are intents whose outcome is not yet journaled."""

    PLANNED = "planned"
    CREATE_SENT = "create_sent"
    PENDING = "pending"
    SETTLE_SENT = "settle_sent"
    PROCESSING = "processing"
    COMPLETED = "completed"
    DECLINED = "declined"
    FAILED = "failed"
    #: The provider reports another amount or currency than the item's, or a final status
    #: whose outcome is unknown (ERROR, 1100): set aside for a person (never approved,
    #: never counted as paid, never retried by a resume).
    MISMATCH = "mismatch"

    @property
    def is_final(self) -> bool:
        """Whether a resume skips the item."""
        return self in _FINAL_STATES

    @property
    def is_in_doubt(self) -> bool:
        """Whether a money-moving call was sent without a journaled outcome."""
        return self in (ItemState.CREATE_SENT, ItemState.SETTLE_SENT)


_FINAL_STATES = frozenset(
    {ItemState.COMPLETED, ItemState.DECLINED, ItemState.FAILED, ItemState.MISMATCH}
)
_I = ItemState
_ANSWERED = frozenset({_I.PENDING, _I.PROCESSING} | _FINAL_STATES)
#: The one table of a batch item's journaled moves (the payout itself is the PayoutFlow's):
#: an item may also stay where it is (a retry journals its error). ``*_SENT`` is entered
#: only before its send; PLANNED again means the session expired unused.
ITEM_TRANSITIONS: Mapping[ItemState, frozenset[ItemState]] = MappingProxyType(
    {
        _I.PLANNED: frozenset({_I.CREATE_SENT, _I.FAILED}),
        _I.CREATE_SENT: frozenset({_I.PLANNED} | _ANSWERED),
        _I.PENDING: frozenset({_I.SETTLE_SENT} | _ANSWERED),
        _I.SETTLE_SENT: _ANSWERED,
        _I.PROCESSING: frozenset({_I.PROCESSING} | _FINAL_STATES),
        **{final: frozenset() for final in _FINAL_STATES},
    }
)


def item_transition(current: ItemState, target: ItemState) -> ItemState:
    """``target`` if :data:`ITEM_TRANSITIONS` allows ``current -> target`` (or they are equal)."""
    if target is current or target in ITEM_TRANSITIONS[current]:
        return target
    raise IllegalTransitionError(f"illegal batch item transition {current} -> {target}")


@attrs.frozen(kw_only=True, slots=True)
class JournalRecord:
    """The journaled state of one item (see the module docstring for what is, and is not, kept)."""

    reference: str
    seq: int
    country: str
    currency: str
    amount: Decimal
    state: ItemState = ItemState.PLANNED
    session_id: str | None = None
    transaction_id: str | None = None
    payment_option_id: str | None = None
    option_id: str | None = None
    status: str | None = None
    attempts: int = 0
    last_error: str | None = None
    decline_code: int | None = None
    decline_reason: str | None = None
    started_at: float | None = None
    updated_at: float | None = None
    finished_at: float | None = None
    #: The payout flow's snapshot (``PayoutFlow.to_dict`` as JSON) journaled before each send.
    flow: str | None = None
    #: The amount and currency the provider reported for the payout (the report's totals).
    reported_amount: Decimal | None = None
    reported_currency: str | None = None

    def evolve(self, **changes: Any) -> JournalRecord:
        """A copy with ``changes`` applied."""
        return attrs.evolve(self, **changes)


_COLUMNS = tuple(f.name for f in attrs.fields(JournalRecord))


@runtime_checkable
class Journal(Protocol):
    """Durable per-item state of a batch; what the runner needs and nothing more."""

    async def open(self) -> None:
        """Create or open the storage."""

    async def close(self) -> None:
        """Flush and release everything (idempotent)."""

    async def register(self, records: Sequence[JournalRecord]) -> list[JournalRecord]:
        """Store the new planned records; return the stored record of each (old ones unchanged)."""

    async def put(self, record: JournalRecord) -> None:
        """Store ``record``; it is durable when this returns."""

    async def get(self, reference: str) -> JournalRecord | None:
        """The record of ``reference``, if any."""

    async def count(self) -> int:
        """How many items the journal holds."""

    def scan(self, states: Collection[ItemState] | None = None) -> AsyncIterator[JournalRecord]:
        """Every record (in input order), or those in ``states``, streamed."""


@attrs.frozen(kw_only=True, slots=True)
class Claim:
    """An item a worker leased: its record, and its input when a step still needs it."""

    record: JournalRecord
    #: The submitted input; ``None`` once the payout exists (the input is purged then).
    item: PayoutItem | None
    #: The worker whose expired lease this claim took over, if any.
    taken_over_from: str | None = None


@runtime_checkable
class ClaimingJournal(Journal, Protocol):
    """A :class:`Journal` one batch shares between many workers, each item under a lease.

    ``put`` raises :class:`LeaseLostError` unless this worker holds the item's lease.
    """

    worker_id: str
    lease: float

    async def submit(
        self, items: Sequence[PayoutItem], *, approve: ApproveMode, first_seq: int
    ) -> list[JournalRecord]:
        """Store new items and inputs (the first at position ``first_seq``); return each record."""

    async def approve_mode(self) -> ApproveMode:
        """The batch's approve mode, as submitted (``ConfigError`` if nothing was submitted)."""

    async def set_approve_mode(self, approve: ApproveMode) -> None:
        """Change the batch's approve mode (``"auto"`` releases what ``"hold"`` kept PENDING)."""

    async def claim(self, limit: int, *, hold: bool) -> list[Claim]:
        """Lease up to ``limit`` unfinished items nobody holds (held PENDING ones excluded)."""

    async def renew(self) -> int:
        """Extend every lease this worker holds (the heartbeat); how many."""

    async def release(self, reference: str, *, park: float = 0.0) -> None:
        """Give the lease up; ``park`` > 0 keeps anyone from claiming the item for that long."""

    async def remaining(self, *, hold: bool) -> int:
        """Unfinished items some worker will still work on (held and stuck ones excluded)."""


#: The fields SQLite keeps as text: how each is read back (the other columns are stored as is).
_AS_TEXT: Mapping[str, Callable[[str], Any]] = MappingProxyType(
    {"amount": Decimal, "state": ItemState, "reported_amount": Decimal}
)
_values = operator.attrgetter(*_COLUMNS)
_TEXT_AT = tuple(_COLUMNS.index(name) for name in _AS_TEXT)


def _to_row(record: JournalRecord) -> tuple[Any, ...]:
    row = list(_values(record))
    for at in _TEXT_AT:
        if row[at] is not None:
            row[at] = str(row[at])
    return tuple(row)


def _from_row(row: Sequence[Any]) -> JournalRecord:
    fields = dict(zip(_COLUMNS, row, strict=True))
    for name, kind in _AS_TEXT.items():
        if fields[name] is not None:
            fields[name] = kind(fields[name])
    return JournalRecord(**fields)


_CREATE = f"""
CREATE TABLE IF NOT EXISTS items (
    reference TEXT PRIMARY KEY, seq INTEGER NOT NULL, country TEXT NOT NULL,
    currency TEXT NOT NULL, amount TEXT NOT NULL, state TEXT NOT NULL, session_id TEXT,
    transaction_id TEXT, payment_option_id TEXT, option_id TEXT, status TEXT,
    attempts INTEGER NOT NULL, last_error TEXT, decline_code INTEGER, decline_reason TEXT,
    started_at REAL, updated_at REAL, finished_at REAL, flow TEXT, reported_amount TEXT,
    reported_currency TEXT
);
CREATE INDEX IF NOT EXISTS items_seq ON items (seq);
PRAGMA user_version = {_SCHEMA_VERSION};
"""
#: Version 1 -> 2: the flow snapshot and the provider's amount.
_MIGRATE_1 = """
ALTER TABLE items ADD COLUMN flow TEXT;
ALTER TABLE items ADD COLUMN reported_amount TEXT;
ALTER TABLE items ADD COLUMN reported_currency TEXT;
PRAGMA user_version = 2;
"""
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM items"
_INSERT = f"INTO items ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
#: A record's row written in place (cheaper than ``INSERT OR REPLACE``, which deletes the
#: old row and inserts a new one, rewriting both indexes).
_UPSERT = f"INSERT {_INSERT} ON CONFLICT (reference) DO UPDATE SET " + ", ".join(
    f"{c} = excluded.{c}" for c in _COLUMNS[1:]
)
_INSERT_NEW = f"INSERT OR IGNORE {_INSERT}"


def _bind_null(value: None) -> None:
    return value


# CPython 3.11's sqlite3 binds ``None`` through its adapter protocol: with no adapter
# registered for it, looking ``__adapt__`` up on ``PrepareProtocol`` raises and clears an
# AttributeError, about 2,700 instructions for each NULL column, and a put binds 10-15 of
# them (a third of a put's cost). ``None`` binds as NULL either way; an adapter the
# application registered for it is left alone.
if (type(None), sqlite3.PrepareProtocol) not in sqlite3.adapters:
    sqlite3.register_adapter(type(None), _bind_null)


@attrs.define
class JournalStats:
    """How hard the journal worked: writes, and the commits that carried them."""

    writes: int = 0
    commits: int = 0


#: What one job asks of the writer: work that may take several statements (run under a
#: savepoint, so its failure undoes only itself), or the row of a ``put``: one statement,
#: which SQLite already undoes by itself when it fails.
_Work = Callable[[sqlite3.Connection], Any] | tuple[Any, ...]
_Job = tuple[_Work, "asyncio.Future[Any]"]
#: A job's future and what it gets: a value, or an error.
_Outcome = tuple["asyncio.Future[Any]", Any, BaseException | None]


def private_file(path: Path) -> int:
    """Open (or create, mode 0600 whatever the umask) ``path`` for writing; its descriptor."""
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


def create_private(path: Path) -> None:
    """Create ``path`` empty and 0600 unless it exists (SQLite gives its WAL the same mode)."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))


def journal_error(path: Path, exc: BaseException) -> JournalError:
    """The one-paragraph :class:`JournalError` for an OS or SQLite failure on ``path``."""
    return JournalError(f"journal {path}: {exc}")


class FileLock:
    """An exclusive ``flock`` on ``<journal>.lock``: the OS drops it when the process dies.

    So a second live runner on the journal is refused at once, and a runner that
    was killed (even by SIGKILL) never blocks its own resume.
    """

    def __init__(self, journal: Path) -> None:
        self.journal = journal
        self.path = journal.with_name(journal.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise :class:`JournalLockedError` (never waits)."""
        fd = private_file(self.path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise JournalLockedError(
                f"journal {self.journal} is in use by another live run (it holds "
                f"{self.path.name}); nothing was sent. Let that run finish or stop it, "
                "then run again with --resume"
            ) from None
        self._fd = fd

    def release(self) -> None:
        """Give the lock up (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the descriptor releases the flock


class SQLiteJournal:
    """A :class:`Journal` in one SQLite file (WAL mode), written by one thread with group commit.

    ``synchronous="FULL"`` (the default) fsyncs every commit, so an intent survives
    a power cut as well as a killed process; ``"NORMAL"`` survives a killed process only.
    ``exclusive=True`` (the default) holds :class:`FileLock` while open, so one
    process at a time runs the batch; a reader (``kasha payouts report``) passes
    ``False``. The journal and its lock file are created 0600.
    """

    def __init__(
        self, path: str | Path, *, synchronous: str = "FULL", exclusive: bool = True
    ) -> None:
        if synchronous.upper() not in ("FULL", "NORMAL", "EXTRA"):
            raise ValueError("synchronous must be FULL, NORMAL or EXTRA")
        self.path = Path(path)
        self.stats = JournalStats()
        self._synchronous = synchronous.upper()
        self._lock = FileLock(self.path) if exclusive else None
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return f"<SQLiteJournal {str(self.path)!r}>"

    async def __aenter__(self) -> SQLiteJournal:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def open(self) -> None:
        """Take the lock, start the writer thread and create the schema if the file is new.

        Raises :class:`JournalLockedError` when another live run holds the journal,
        :class:`JournalError` when it cannot be created or read (missing directory,
        read-only place, full disk).
        """
        if self._thread is not None:
            return
        try:
            if self._lock is not None:
                self._lock.acquire()
            create_private(self.path)
        except OSError as exc:
            if self._lock is not None:
                self._lock.release()
            raise journal_error(self.path, exc) from None
        try:
            await self._start()
        except BaseException:
            if self._lock is not None:
                self._lock.release()
            raise

    async def _start(self) -> None:
        self._loop = asyncio.get_running_loop()
        ready: queue.SimpleQueue[BaseException | None] = queue.SimpleQueue()
        self._thread = threading.Thread(
            target=self._serve, args=(ready,), name=f"kasha-journal:{self.path.name}", daemon=True
        )
        self._thread.start()
        error = await asyncio.to_thread(ready.get)
        if error is not None:
            await asyncio.to_thread(self._thread.join)
            self._thread = None
            raise journal_error(self.path, error) from None

    async def close(self) -> None:
        """Finish every queued write, close the connection, stop the thread, drop the lock."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._jobs.put(None)
            await asyncio.to_thread(thread.join)
        if self._lock is not None:
            self._lock.release()

    # --- the writer thread ------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, 1, _SCHEMA_VERSION):
                raise sqlite3.DatabaseError(f"{self.path}: journal schema {version} is unknown")
            conn.executescript(_MIGRATE_1 if version == 1 else _CREATE)
        except BaseException:
            conn.close()
            raise
        return conn

    def _serve(self, ready: queue.SimpleQueue[BaseException | None]) -> None:
        try:
            conn = self._connect()
        except (sqlite3.Error, OSError) as exc:
            ready.put(exc)
            return
        ready.put(None)
        try:
            cursor = conn.cursor()  # one for every put: a cursor per statement costs 1.5 us
            while (batch := self._next_batch()) is not None:
                self._run_batch(cursor, batch)
        finally:
            conn.close()

    def _next_batch(self) -> list[_Job] | None:
        """Block for one job, then take every job already waiting (the group commit)."""
        first = self._jobs.get()
        if first is None:
            return None
        batch = [first]
        while len(batch) < _GROUP_LIMIT:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is None:
                self._jobs.put(None)  # stop after this batch
                break
            batch.append(job)
        return batch

    def _run_batch(self, cursor: sqlite3.Cursor, batch: list[_Job]) -> None:
        try:
            cursor.execute("BEGIN IMMEDIATE")
            outcomes = [(future, *self._run_job(cursor, work)) for work, future in batch]
            cursor.execute("COMMIT")
            self.stats.commits += 1
        except sqlite3.Error as exc:
            if cursor.connection.in_transaction:
                cursor.execute("ROLLBACK")
            outcomes = [(future, None, exc) for _, future in batch]
        self._resolve(outcomes)

    @staticmethod
    def _run_job(cursor: sqlite3.Cursor, work: _Work) -> tuple[Any, BaseException | None]:
        """Run one job inside the batch's transaction; its value, or the error that undid it.

        A failed job undoes only itself: a put is one statement (SQLite undoes a failed
        statement), anything else runs under a savepoint. An error that ended the whole
        transaction (full disk, I/O error) is raised, failing the batch.
        """
        conn = cursor.connection
        if isinstance(work, tuple):
            try:
                cursor.execute(_UPSERT, work)
            except (sqlite3.Error, ValueError) as exc:
                if not conn.in_transaction:
                    raise
                return None, exc
            return None, None
        conn.execute("SAVEPOINT job")
        try:
            value = work(conn)
        except (sqlite3.Error, ValueError) as exc:
            conn.execute("ROLLBACK TO job")
            conn.execute("RELEASE job")
            return None, exc
        conn.execute("RELEASE job")
        return value, None

    def _resolve(self, outcomes: list[_Outcome]) -> None:
        """Settle a whole batch's futures in one loop callback: one wake-up of the loop."""
        outcomes = [(future, value, self._error(error)) for future, value, error in outcomes]
        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
            self._loop.call_soon_threadsafe(_settle, outcomes)

    def _error(self, error: BaseException | None) -> BaseException | None:
        if isinstance(error, sqlite3.Error | OSError):  # full disk, read-only file, I/O error
            return journal_error(self.path, error)
        return error

    @overload
    async def _submit(self, work: Callable[[sqlite3.Connection], T]) -> T: ...
    @overload
    async def _submit(self, work: tuple[Any, ...]) -> None: ...
    async def _submit(self, work: _Work) -> Any:
        if self._thread is None or self._loop is None:
            raise RuntimeError(f"{self!r} is not open")
        future: asyncio.Future[Any] = self._loop.create_future()
        self._jobs.put((work, future))
        return await future

    # --- the Journal interface -----------------------------------------------------------------

    async def register(self, records: Sequence[JournalRecord]) -> list[JournalRecord]:
        """Insert the records not yet present; return what is stored for each reference."""
        rows = [_to_row(r) for r in records]
        refs = [r.reference for r in records]

        def work(conn: sqlite3.Connection) -> list[JournalRecord]:
            if conn.executemany(_INSERT_NEW, rows).rowcount == len(rows):
                return list(records)  # all new: what is stored is what was given
            marks = ", ".join("?" * len(refs))
            found = conn.execute(f"{_SELECT} WHERE reference IN ({marks})", refs).fetchall()
            by_ref = {row[0]: _from_row(row) for row in found}
            return [by_ref[ref] for ref in refs]

        self.stats.writes += len(rows)
        return await self._submit(work) if rows else []

    async def put(self, record: JournalRecord) -> None:
        """Store ``record``; returns once the commit that carries it is done."""
        row = _to_row(record)
        self.stats.writes += 1
        await self._submit(row)

    async def get(self, reference: str) -> JournalRecord | None:
        """The record of ``reference``, if any."""

        def work(conn: sqlite3.Connection) -> JournalRecord | None:
            row = conn.execute(f"{_SELECT} WHERE reference = ?", (reference,)).fetchone()
            return None if row is None else _from_row(row)

        return await self._submit(work)

    async def count(self) -> int:
        """How many items the journal holds."""
        return int(
            await self._submit(lambda c: c.execute("SELECT count(*) FROM items").fetchone()[0])
        )

    async def scan(
        self, states: Collection[ItemState] | None = None
    ) -> AsyncIterator[JournalRecord]:
        """Every record in input order (or those in ``states``), read a page at a time."""
        wanted = [str(s) for s in states] if states is not None else None
        after = -1
        while True:
            page = await self._submit(functools.partial(_page, after=after, states=wanted))
            for record in page:
                yield record
            if len(page) < _PAGE:
                return
            after = page[-1].seq


def _settle(outcomes: list[_Outcome]) -> None:
    """Give each waiting future its value or error (on the loop, from the writer thread)."""
    for future, value, error in outcomes:
        if future.done():
            continue
        if error is None:
            future.set_result(value)
        else:
            future.set_exception(error)


def _page(conn: sqlite3.Connection, after: int, states: list[str] | None) -> list[JournalRecord]:
    where, params = "seq > ?", [after, *(states or ())]
    if states is not None:
        where += f" AND state IN ({', '.join('?' * len(states))})"
    sql = f"{_SELECT} WHERE {where} ORDER BY seq LIMIT {_PAGE}"
    return [_from_row(row) for row in conn.execute(sql, params)]


class MemoryJournal:
    """A :class:`Journal` in a dict: not durable; for tests and for measuring the journal's cost."""

    def __init__(self) -> None:
        self.records: dict[str, JournalRecord] = {}
        self.stats = JournalStats()

    async def open(self) -> None:
        """Nothing to open."""

    async def close(self) -> None:
        """Nothing to close."""

    async def register(self, records: Sequence[JournalRecord]) -> list[JournalRecord]:
        """Keep the new records; return what is stored for each reference."""
        self.stats.writes += len(records)
        return [self.records.setdefault(r.reference, r) for r in records]

    async def put(self, record: JournalRecord) -> None:
        """Keep ``record``."""
        self.stats.writes += 1
        self.records[record.reference] = record

    async def get(self, reference: str) -> JournalRecord | None:
        """The record of ``reference``, if any."""
        return self.records.get(reference)

    async def count(self) -> int:
        """How many items the journal holds."""
        return len(self.records)

    async def scan(
        self, states: Collection[ItemState] | None = None
    ) -> AsyncIterator[JournalRecord]:
        """Every record in input order (or those in ``states``)."""
        for record in sorted(self.records.values(), key=lambda r: r.seq):
            if states is None or record.state in states:
                yield record
