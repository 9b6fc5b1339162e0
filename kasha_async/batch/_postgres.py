"""A PostgreSQL journal: one batch shared by many worker processes on many machines.

Every worker connects to the same database. Items (their inputs included) are
submitted once; each worker then claims a few unfinished items at a time with
``SELECT ... FOR UPDATE SKIP LOCKED``, and holds a *lease* on each: its worker
id and an expiry, renewed by a heartbeat while the item is in flight. A record
is written only by the lease holder (``put`` is an ``UPDATE ... WHERE
lease_owner = me``), so a worker that lost its lease cannot overwrite the one
that took the item over. When a worker dies, its leases expire and the other
workers claim those items; an intent without an outcome (``CREATE_SENT``,
``SETTLE_SENT``) is then reconciled by ``GET /v2/transactions/{id}`` by the
runner's usual resume logic before anything is resent. Lease times are the
database's clock (``now()``), never a worker's.

Tables (schema ``kasha_batch``, created and migrated by :meth:`PostgresJournal.open`
in one transaction under an advisory lock, versions in ``schema_version``):

- ``batches``: batch id, approve mode, creation time.
- ``items``: the :class:`JournalRecord` columns plus batch id, ``lease_owner``,
  ``lease_expires_at``, ``heartbeat_at`` and ``parks`` (how often the item was
  set aside after running out of attempts).
- ``inputs``: what a worker needs to open and create the payout — customer,
  option name and id, ``extra_data`` (bank details). A row is deleted as soon
  as its payout exists (state past ``CREATE_SENT``), so bank details stay in the
  database only while an item is unpaid. No API key is ever stored.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Collection, Sequence
from typing import Any

from .._convert import parse, to_wire
from .._errors import ConfigError, LeaseLostError
from .._models import Customer
from ._items import PayoutItem
from ._journal import (
    _COLUMNS,
    ApproveMode,
    Claim,
    ItemState,
    JournalRecord,
    JournalStats,
)

logger = logging.getLogger("kasha_async.batch")

SCHEMA = "kasha_batch"
#: ``pg_advisory_xact_lock`` key serializing migrations ("kasha" in ASCII).
_MIGRATION_LOCK = 0x6B61736861
_PAGE = 1000
_FINAL = "('completed', 'declined', 'failed', 'mismatch')"
_MUTABLE = _COLUMNS[5:]  # state .. reported_currency: what a step changes
_NEEDS_INPUT = frozenset({ItemState.PLANNED, ItemState.CREATE_SENT})

#: Schema migrations; version N is ``MIGRATIONS[N - 1]``. Append only, never edit.
MIGRATIONS: tuple[str, ...] = (
    f"""
    CREATE TABLE {SCHEMA}.batches (
        batch_id text PRIMARY KEY,
        approve text NOT NULL CHECK (approve IN ('auto', 'hold')),
        created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE {SCHEMA}.items (
        reference text PRIMARY KEY,
        batch_id text NOT NULL REFERENCES {SCHEMA}.batches,
        seq bigint NOT NULL,
        country text NOT NULL,
        currency text NOT NULL,
        amount numeric NOT NULL,
        state text NOT NULL,
        session_id text,
        transaction_id text,
        payment_option_id text,
        option_id text,
        status text,
        attempts integer NOT NULL DEFAULT 0,
        last_error text,
        decline_code integer,
        decline_reason text,
        started_at double precision,
        updated_at double precision,
        finished_at double precision,
        lease_owner text,
        lease_expires_at timestamptz,
        heartbeat_at timestamptz,
        parks integer NOT NULL DEFAULT 0
    );
    CREATE INDEX items_batch_seq ON {SCHEMA}.items (batch_id, seq);
    CREATE INDEX items_unfinished ON {SCHEMA}.items (batch_id, seq)
        WHERE state NOT IN ('completed', 'declined', 'failed');
    CREATE INDEX items_lease_owner ON {SCHEMA}.items (lease_owner)
        WHERE lease_owner IS NOT NULL;
    CREATE TABLE {SCHEMA}.inputs (
        reference text PRIMARY KEY REFERENCES {SCHEMA}.items ON DELETE CASCADE,
        customer jsonb NOT NULL,
        option_name text NOT NULL,
        requested_option_id text,
        extra_data jsonb NOT NULL
    );
    """,
    # 2: the payout flow's snapshot, the amount the provider reported, and a mismatch is final
    f"""
    ALTER TABLE {SCHEMA}.items ADD COLUMN flow text,
        ADD COLUMN reported_amount numeric, ADD COLUMN reported_currency text;
    DROP INDEX {SCHEMA}.items_unfinished;
    CREATE INDEX items_unfinished ON {SCHEMA}.items (batch_id, seq)
        WHERE state NOT IN {_FINAL};
    """,
)

_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM {SCHEMA}.items"
_CLAIMABLE = f"""
    batch_id = $1 AND state NOT IN {_FINAL} AND NOT ($2 AND state = 'pending') AND parks < $3
"""
_CLAIM = f"""
WITH pick AS (
    SELECT reference, lease_owner AS previous_owner FROM {SCHEMA}.items
    WHERE {_CLAIMABLE} AND (lease_expires_at IS NULL OR lease_expires_at < now())
    ORDER BY seq LIMIT $4 FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE {SCHEMA}.items AS i
    SET lease_owner = $5, lease_expires_at = now() + make_interval(secs => $6),
        heartbeat_at = now()
    FROM pick WHERE i.reference = pick.reference
    RETURNING {", ".join(f"i.{c}" for c in _COLUMNS)}, pick.previous_owner
)
SELECT c.*, n.customer, n.option_name, n.requested_option_id, n.extra_data
FROM claimed AS c LEFT JOIN {SCHEMA}.inputs AS n USING (reference) ORDER BY c.seq
"""
_PUT = f"""
WITH written AS (
    UPDATE {SCHEMA}.items
    SET {", ".join(f"{c} = ${n}" for n, c in enumerate(_MUTABLE, start=4))},
        lease_expires_at = now() + make_interval(secs => $3), heartbeat_at = now()
    WHERE reference = $1 AND lease_owner = $2
    RETURNING reference
), purged AS (
    DELETE FROM {SCHEMA}.inputs
    WHERE ${len(_MUTABLE) + 4} AND reference IN (SELECT reference FROM written)
)
SELECT count(*) FROM written
"""
_RENEW = f"""
UPDATE {SCHEMA}.items
SET lease_expires_at = now() + make_interval(secs => $2), heartbeat_at = now()
WHERE lease_owner = $1
"""
_RELEASE = f"""
UPDATE {SCHEMA}.items
SET lease_owner = NULL, heartbeat_at = NULL,
    lease_expires_at = CASE WHEN $3::float8 > 0 THEN now() + make_interval(secs => $3) END,
    parks = parks + (CASE WHEN $3::float8 > 0 THEN 1 ELSE 0 END)
WHERE reference = $1 AND lease_owner = $2
"""
_RELEASE_ALL = f"""
UPDATE {SCHEMA}.items SET lease_owner = NULL, lease_expires_at = NULL, heartbeat_at = NULL
WHERE lease_owner = $1
"""
_INSERT_ITEMS = f"""
INSERT INTO {SCHEMA}.items (reference, batch_id, seq, country, currency, amount, state)
SELECT r, $1, s, c, cu, a, 'planned'
FROM unnest($2::text[], $3::bigint[], $4::text[], $5::text[], $6::numeric[]) AS u(r, s, c, cu, a)
ON CONFLICT (reference) DO NOTHING
RETURNING reference
"""
_STORED = f"SELECT {', '.join(_COLUMNS)}, batch_id FROM {SCHEMA}.items WHERE reference = ANY($1)"
_INSERT_INPUTS = f"""
INSERT INTO {SCHEMA}.inputs (reference, customer, option_name, requested_option_id, extra_data)
SELECT * FROM unnest($1::text[], $2::jsonb[], $3::text[], $4::text[], $5::jsonb[])
"""


def default_worker_id() -> str:
    """``host:pid:random``: unique per process, readable in ``lease_owner``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def is_postgres_dsn(value: object) -> bool:
    """Whether ``value`` is a ``postgresql://`` (or ``postgres://``) connection string."""
    return isinstance(value, str) and value.startswith(("postgresql://", "postgres://"))


def _record(row: Any) -> JournalRecord:
    fields = {c: row[c] for c in _COLUMNS}
    fields["state"] = ItemState(fields["state"])
    return JournalRecord(**fields)


def _item(row: Any) -> PayoutItem | None:
    if row["option_name"] is None:
        return None
    return PayoutItem(
        reference=row["reference"],
        country=row["country"],
        currency=row["currency"],
        amount=row["amount"],
        customer=parse(Customer, json.loads(row["customer"])),
        option=row["option_name"],
        option_id=row["requested_option_id"],
        extra_data=json.loads(row["extra_data"]),
    )


def _import_asyncpg() -> Any:
    try:
        import asyncpg
    except ImportError:  # pragma: no cover - depends on the environment
        raise ConfigError(
            "a postgresql:// journal needs asyncpg: pip install 'kasha-async[postgres]'"
        ) from None
    return asyncpg


class PostgresJournal:
    """A :class:`~kasha_async.batch.ClaimingJournal` in PostgreSQL, for many workers on one batch.

    ``dsn`` is a ``postgresql://`` URL. ``batch`` names the batch this worker
    submits to and drains (one database holds many batches; a reference belongs
    to one batch only). ``lease`` is how many seconds a claimed item stays this
    worker's without a heartbeat (renewed every ``lease / 3`` s); a dead worker's
    items are taken over that long after its last heartbeat. An item set aside
    ``max_parks`` times (out of attempts each time) is left to the operator
    (:meth:`unpark`). ``pool_size`` bounds this worker's connections.
    """

    def __init__(
        self,
        dsn: str,
        *,
        batch: str = "default",
        worker_id: str | None = None,
        lease: float = 30.0,
        max_parks: int = 3,
        pool_size: int = 10,
    ) -> None:
        if not is_postgres_dsn(dsn):
            raise ConfigError("dsn must be a postgresql:// URL")
        if lease <= 0 or max_parks < 1 or pool_size < 1:
            raise ConfigError("lease must be > 0, max_parks and pool_size at least 1")
        self.batch = batch
        self.worker_id = worker_id or default_worker_id()
        self.lease = float(lease)
        self.max_parks = max_parks
        self.stats = JournalStats()
        #: Claims that took an item over from a worker whose lease had expired.
        self.taken_over = 0
        self._dsn = dsn
        self._pool_size = pool_size
        self._pool: Any = None

    def __repr__(self) -> str:  # the DSN may hold a password: never shown
        return f"<PostgresJournal batch={self.batch!r} worker={self.worker_id!r}>"

    async def __aenter__(self) -> PostgresJournal:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def open(self) -> None:
        """Connect and bring the schema to the current version."""
        if self._pool is not None:
            return
        asyncpg = _import_asyncpg()
        pool = await asyncpg.create_pool(self._dsn, min_size=1, max_size=self._pool_size)
        try:
            async with pool.acquire() as conn:
                await migrate(conn)
        except BaseException:
            await pool.close()
            raise
        self._pool = pool

    async def close(self, *, release: bool = True) -> None:
        """Give this worker's leases back (others may claim at once) and disconnect (idempotent).

        ``release=False`` leaves the leases to expire, as a crashed worker does.
        """
        pool, self._pool = self._pool, None
        if pool is None:
            return
        asyncpg = _import_asyncpg()
        try:
            if release:
                await pool.execute(_RELEASE_ALL, self.worker_id)
        except (OSError, asyncpg.PostgresError) as exc:  # expiry frees them anyway
            logger.warning("could not release the leases of %s: %s", self.worker_id, exc)
        finally:
            await pool.close()

    @property
    def _db(self) -> Any:
        if self._pool is None:
            raise RuntimeError(f"{self!r} is not open")
        return self._pool

    # --- the Journal interface -----------------------------------------------------------------

    async def register(self, records: Sequence[JournalRecord]) -> list[JournalRecord]:
        """Refused: workers need the items' inputs, so items enter through :meth:`submit`."""
        raise ConfigError("a PostgresJournal takes items through submit(), inputs included")

    async def put(self, record: JournalRecord) -> None:
        """Write ``record`` if this worker holds its lease (:class:`LeaseLostError` if not)."""
        values = [getattr(record, c) for c in _MUTABLE]
        values[0] = record.state.value
        purge = record.state not in _NEEDS_INPUT
        self.stats.writes += 1
        written = await self._db.fetchval(
            _PUT, record.reference, self.worker_id, self.lease, *values, purge
        )
        if not written:
            raise LeaseLostError(f"{record.reference!r}: another worker holds the item now")

    async def get(self, reference: str) -> JournalRecord | None:
        """The record of ``reference`` in this batch, if any."""
        row = await self._db.fetchrow(
            f"{_SELECT} WHERE batch_id = $1 AND reference = $2", self.batch, reference
        )
        return None if row is None else _record(row)

    async def count(self) -> int:
        """How many items the batch holds."""
        sql = f"SELECT count(*) FROM {SCHEMA}.items WHERE batch_id = $1"
        return int(await self._db.fetchval(sql, self.batch))

    async def scan(
        self, states: Collection[ItemState] | None = None
    ) -> AsyncIterator[JournalRecord]:
        """Every record of the batch in input order (or those in ``states``), a page at a time."""
        wanted = None if states is None else [s.value for s in states]
        sql = (
            f"{_SELECT} WHERE batch_id = $1 AND seq > $2 "
            f"AND ($3::text[] IS NULL OR state = ANY($3)) ORDER BY seq LIMIT {_PAGE}"
        )
        after = -1
        while True:
            page = await self._db.fetch(sql, self.batch, after, wanted)
            for row in page:
                yield _record(row)
            if len(page) < _PAGE:
                return
            after = page[-1]["seq"]

    # --- the ClaimingJournal interface ---------------------------------------------------------

    async def submit(
        self, items: Sequence[PayoutItem], *, approve: ApproveMode = "auto", first_seq: int = 0
    ) -> list[JournalRecord]:
        """Store the new items and their inputs in this batch; return the stored record of each.

        Items already stored are left alone (the caller compares them); a
        reference stored in another batch is a :class:`ConfigError`.
        """
        refs = [item.reference for item in items]
        async with self._db.acquire() as conn, conn.transaction():
            await self._ensure_batch(conn, approve)
            new = {
                row["reference"]
                for row in await conn.fetch(
                    _INSERT_ITEMS,
                    self.batch,
                    refs,
                    list(range(first_seq, first_seq + len(items))),
                    [i.country for i in items],
                    [i.currency for i in items],
                    [i.amount for i in items],
                )
            }
            fresh = [i for i in items if i.reference in new]
            await conn.execute(
                _INSERT_INPUTS,
                [i.reference for i in fresh],
                [json.dumps(to_wire(i.customer)) for i in fresh],
                [i.option for i in fresh],
                [i.option_id for i in fresh],
                [json.dumps(dict(i.extra_data)) for i in fresh],
            )
            rows = await conn.fetch(_STORED, refs)
        self.stats.writes += len(new)
        by_ref = {row["reference"]: row for row in rows}
        for ref in refs:
            if by_ref[ref]["batch_id"] != self.batch:
                raise ConfigError(f"reference {ref!r} belongs to batch {by_ref[ref]['batch_id']!r}")
        return [_record(by_ref[ref]) for ref in refs]

    async def _ensure_batch(self, conn: Any, approve: ApproveMode) -> None:
        await conn.execute(
            f"INSERT INTO {SCHEMA}.batches (batch_id, approve) VALUES ($1, $2) "
            "ON CONFLICT (batch_id) DO NOTHING",
            self.batch,
            approve,
        )
        stored = await conn.fetchval(
            f"SELECT approve FROM {SCHEMA}.batches WHERE batch_id = $1", self.batch
        )
        if stored != approve:
            raise ConfigError(
                f"batch {self.batch!r} was submitted with approve={stored!r}, not {approve!r}"
            )

    async def approve_mode(self) -> ApproveMode:
        """The batch's approve mode; :class:`ConfigError` if the batch was never submitted."""
        sql = f"SELECT approve FROM {SCHEMA}.batches WHERE batch_id = $1"
        stored = await self._db.fetchval(sql, self.batch)
        if stored is None:
            raise ConfigError(f"no batch {self.batch!r} in the journal: submit it first")
        return "hold" if stored == "hold" else "auto"

    async def set_approve_mode(self, approve: ApproveMode) -> None:
        """Change the batch's approve mode (``"auto"`` lets workers settle held payouts)."""
        await self.approve_mode()
        sql = f"UPDATE {SCHEMA}.batches SET approve = $2 WHERE batch_id = $1"
        await self._db.execute(sql, self.batch, approve)

    async def claim(self, limit: int, *, hold: bool) -> list[Claim]:
        """Lease up to ``limit`` claimable items in input order, skipping rows others lock."""
        if limit < 1:
            return []
        rows = await self._db.fetch(
            _CLAIM, self.batch, hold, self.max_parks, limit, self.worker_id, self.lease
        )
        claims = [
            Claim(record=_record(row), item=_item(row), taken_over_from=row["previous_owner"])
            for row in rows
        ]
        for claim in claims:
            if claim.taken_over_from is not None:
                self.taken_over += 1
                logger.info(
                    "took %s (%s) over from %s",
                    claim.record.reference,
                    claim.record.state.value,
                    claim.taken_over_from,
                )
        return claims

    async def renew(self) -> int:
        """Extend every lease this worker holds by ``lease`` seconds from now."""
        status = await self._db.execute(_RENEW, self.worker_id, self.lease)
        return int(status.rsplit(" ", 1)[-1])

    async def release(self, reference: str, *, park: float = 0.0) -> None:
        """Give the item's lease up; ``park`` > 0 sets it aside that long and counts a park."""
        await self._db.execute(_RELEASE, reference, self.worker_id, float(park))

    async def remaining(self, *, hold: bool) -> int:
        """Unfinished items of the batch a worker will still take (held, stuck ones excluded)."""
        sql = f"SELECT count(*) FROM {SCHEMA}.items WHERE {_CLAIMABLE}"
        return int(await self._db.fetchval(sql, self.batch, hold, self.max_parks))

    async def unpark(self) -> int:
        """Make the batch's stuck items claimable again (after the operator fixed the cause)."""
        status = await self._db.execute(
            f"UPDATE {SCHEMA}.items SET parks = 0, lease_expires_at = NULL "
            f"WHERE batch_id = $1 AND parks > 0 AND state NOT IN {_FINAL} AND lease_owner IS NULL",
            self.batch,
        )
        return int(status.rsplit(" ", 1)[-1])

    async def purge_inputs(self) -> int:
        """Delete the stored inputs of the batch's final items (normally already gone)."""
        status = await self._db.execute(
            f"DELETE FROM {SCHEMA}.inputs AS n USING {SCHEMA}.items AS i "
            f"WHERE n.reference = i.reference AND i.batch_id = $1 AND i.state IN {_FINAL}",
            self.batch,
        )
        return int(status.rsplit(" ", 1)[-1])


async def migrate(conn: Any) -> int:
    """Bring the ``kasha_batch`` schema to the latest version; return that version.

    Runs in one transaction under an advisory lock, so concurrent workers
    migrate once; running it again changes nothing.
    """
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
        await conn.execute(
            f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}; "
            f"CREATE TABLE IF NOT EXISTS {SCHEMA}.schema_version ("
            "version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        current = await conn.fetchval(
            f"SELECT coalesce(max(version), 0) FROM {SCHEMA}.schema_version"
        )
        if current > len(MIGRATIONS):
            raise ConfigError(
                f"the journal schema is version {current}; this kasha-async knows "
                f"{len(MIGRATIONS)}: upgrade the package"
            )
        for version in range(current + 1, len(MIGRATIONS) + 1):
            await conn.execute(MIGRATIONS[version - 1])
            await conn.execute(
                f"INSERT INTO {SCHEMA}.schema_version (version) VALUES ($1)", version
            )
            logger.info("journal schema migrated to version %d", version)
    return len(MIGRATIONS)
