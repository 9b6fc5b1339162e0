"""Pay every row of a CSV file exactly once, even across crashes and re-runs.

Usage::

    KASHA_API_KEY=... KASHA_BASE_URL=... python -m examples.payouts_from_csv payouts.csv \\
        [--journal payouts.journal] [--report report.json] [--concurrency 20]

CSV columns (header row required)::

    reference,country,currency,amount,customer_name,customer_email,extra.name,extra.account

``reference`` is unique per payout and becomes the ``merchantReference``; ``extra.*``
columns fill the payout option's form (``name``: the beneficiary; ``account``). The whole
file is validated before anything is sent. Every step is written to the journal
(SQLite) before it is sent, so running the same command again after a crash resumes:
finished rows are skipped and rows whose outcome was unknown are looked up, never
paid twice. Exit status: 0 all paid, 1 some declined or unresolved, 2 bad input.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from kasha_async import KashaClient, KashaError
from kasha_async.batch import InputFileError, Report, load_items, run_payouts


async def pay_file(
    kasha: KashaClient, csv_path: Path, journal_path: Path, *, concurrency: int = 20
) -> Report:
    """Validate ``csv_path``, then pay its rows once, journaled in ``journal_path``."""
    items = load_items(csv_path)  # raises InputFileError listing every bad row; nothing sent
    # resume=True: the same command after a crash carries on where the journal stops.
    # A journal written for another file is refused (InputMismatchError).
    return await run_payouts(
        kasha, items, journal=journal_path, resume=True, concurrency=concurrency
    )


def print_report(report: Report) -> None:
    """One line per status, and the rows that need a human."""
    summary = report.summary
    counts = ", ".join(f"{status} {n}" for status, n in sorted(summary.counts.items()))
    print(f"{summary.total} payouts: {counts}")
    for currency, amount in sorted(summary.completed_amounts.items()):
        print(f"  paid {amount} {currency}")
    for result in report.results:
        if result.status.value != "COMPLETED":
            why = result.decline_reason or result.last_error or ""
            print(f"  {result.reference}: {result.status.value} {why}".rstrip())


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("csv", type=Path, help="the payouts file")
    parser.add_argument("--journal", type=Path, help="default: <csv>.journal")
    parser.add_argument("--report", type=Path, help="also write the report as JSON here")
    parser.add_argument("--concurrency", type=int, default=20)
    return parser.parse_args(argv)


async def _run(args: argparse.Namespace) -> Report:
    journal = args.journal or args.csv.with_suffix(".journal")
    async with KashaClient() as kasha:  # KASHA_API_KEY, KASHA_BASE_URL, KASHA_SIGNATURE_KEY
        return await pay_file(kasha, args.csv, journal, concurrency=args.concurrency)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the payouts of a CSV file; return the exit status."""
    args = _arguments(argv)
    try:
        report = asyncio.run(_run(args))
    except InputFileError as exc:
        print(exc, file=sys.stderr)
        return 2
    except KashaError as exc:  # configuration or journal problems: nothing more was sent
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    print_report(report)
    if args.report:
        report.write_json(args.report)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
