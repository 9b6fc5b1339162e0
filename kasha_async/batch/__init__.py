"""Batch payouts: many PayoutFlows at bounded concurrency, resumable through a write-ahead journal.

See ``docs/batch.md``. ``run_payouts`` pays each :class:`PayoutItem` once;
``approve_held`` settles what a ``hold`` run left PENDING; ``build_report``
reads any journal into a :class:`Report`.
"""

from ._driver import ClientDriver, FlowDriver, OpenedSession, OptionNotFoundError, PayoutDriver
from ._items import DEFAULT_OPTION, InputFileError, PayoutFile, PayoutItem, load_items
from ._journal import ItemState, Journal, JournalRecord, JournalStats, MemoryJournal, SQLiteJournal
from ._progress import BatchProgress, ProgressCallback
from ._report import ItemResult, ItemStatus, Report, Summary, build_report, iter_results, write_csv
from ._runner import (
    DEFAULT_REDIRECT_URL,
    ApproveMode,
    DuplicateReferenceError,
    InputMismatchError,
    approve_held,
    run_payouts,
)

__all__ = [
    "ApproveMode",
    "BatchProgress",
    "ClientDriver",
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
    "MemoryJournal",
    "OpenedSession",
    "OptionNotFoundError",
    "PayoutDriver",
    "PayoutFile",
    "PayoutItem",
    "ProgressCallback",
    "Report",
    "SQLiteJournal",
    "Summary",
    "approve_held",
    "build_report",
    "iter_results",
    "load_items",
    "run_payouts",
    "write_csv",
]
