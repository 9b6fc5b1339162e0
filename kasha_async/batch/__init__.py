"""Batch payouts: many PayoutFlows at bounded concurrency, resumable through a write-ahead journal.

See ``docs/batch.md``. ``run_payouts`` pays each :class:`PayoutItem` once;
``approve_held`` settles what a ``hold`` run left PENDING (every payout goes
through one :class:`~kasha_async.flows.PayoutFlow`, resumed from its journaled
snapshot); ``build_report``
reads any journal into a :class:`Report`. With a :class:`PostgresJournal`,
``submit_payouts`` loads a batch and ``run_worker`` drains it from any number
of processes.
"""

from .._errors import (
    DuplicateReferenceError,
    InputFileError,
    InputMismatchError,
    LeaseLostError,
    OptionNotFoundError,
)
from ._driver import FlowDriver, OpenedSession, PayoutDriver
from ._items import DEFAULT_OPTION, PayoutFile, PayoutItem, load_items
from ._journal import (
    ApproveMode,
    Claim,
    ClaimingJournal,
    ItemState,
    Journal,
    JournalRecord,
    JournalStats,
    MemoryJournal,
    SQLiteJournal,
)
from ._options import DEFAULT_CONCURRENCY, DEFAULT_REDIRECT_URL, BatchOptions
from ._postgres import PostgresJournal
from ._progress import BatchProgress, ProgressCallback
from ._report import ItemResult, ItemStatus, Report, Summary, build_report, iter_results, write_csv
from ._runner import (
    approve_held,
    run_payouts,
    run_worker,
    submit_payouts,
)

__all__ = [
    "ApproveMode",
    "BatchOptions",
    "BatchProgress",
    "Claim",
    "ClaimingJournal",
    "DEFAULT_CONCURRENCY",
    "DEFAULT_OPTION",
    "DEFAULT_REDIRECT_URL",
    "DuplicateReferenceError",
    "FlowDriver",
    "InputFileError",
    "InputMismatchError",
    "ItemResult",
    "ItemState",
    "ItemStatus",
    "Journal",
    "JournalRecord",
    "JournalStats",
    "LeaseLostError",
    "MemoryJournal",
    "OpenedSession",
    "OptionNotFoundError",
    "PayoutDriver",
    "PayoutFile",
    "PayoutItem",
    "PostgresJournal",
    "ProgressCallback",
    "Report",
    "SQLiteJournal",
    "Summary",
    "approve_held",
    "build_report",
    "iter_results",
    "load_items",
    "run_payouts",
    "run_worker",
    "submit_payouts",
    "write_csv",
]
