"""`kasha payouts`: run, approve and report batch payouts; a thin shell over `batch`.

`--journal` is a SQLite file (locked while a run uses it), or a
`postgresql://` URL (env `KASHA_JOURNAL`) for a batch shared by many workers:
`submit` loads it, `worker` drains it from any number of processes, `run`
does both. The summary is a table on a terminal, JSON with `--json` or when
stdout is piped; next steps go to stderr.

Exit codes of run, worker and approve:

- 0: every item succeeded (or is held PENDING with `--approve hold`);
- 1: some item failed or was declined (the rest are final);
- 2: nothing was sent: bad usage, a malformed input file, a journal another
  run holds or that cannot be written, an API that cannot be reached or
  refuses the key. Fix it and run the same command again;
- 3: something is unresolved (outcome unknown, still processing, not started,
  set aside as MISMATCH) or the run failed after sending: run again with
  `--resume` (a MISMATCH item needs a person);
- 130: interrupted (SIGINT/SIGTERM): run again with `--resume`.

`kasha payouts report` exits 0 once it has read the journal, whatever the
items' statuses (2 when it cannot).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import click

from .._client import KashaClient
from .._constants import ENV_API_KEY, ENV_BASE_URL
from .._errors import (
    InputFileError,
    JournalError,
    JournalLockedError,
    KashaError,
    TransportError,
)
from .._loop import run as run_loop
from ._items import PayoutFile, load_items
from ._journal import ApproveMode, ItemState, Journal, SQLiteJournal
from ._options import DEFAULT_CONCURRENCY, DEFAULT_REDIRECT_URL
from ._postgres import PostgresJournal, is_postgres_dsn
from ._report import Report, Summary, build_report, iter_results, write_csv, write_json
from ._runner import (
    approve_held,
    run_payouts,
    run_worker,
    submit_payouts,
)

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNRESOLVED = 3
EXIT_INTERRUPTED = 130


def exit_code(report: Report) -> int:
    """The process exit code a report stands for (see the module docstring)."""
    counts = report.summary.counts
    if report.summary.interrupted:
        return EXIT_INTERRUPTED
    if report.summary.unresolved:
        return EXIT_UNRESOLVED
    if counts.get("FAILED") or counts.get("DECLINED"):
        return EXIT_FAILED
    return 0


def _client_options(func: Callable[..., Any]) -> Callable[..., Any]:
    base_url = click.option(
        "--base-url", envvar=ENV_BASE_URL, help=f"API root (default: ${ENV_BASE_URL})."
    )
    api_key = click.option(
        "--api-key", envvar=ENV_API_KEY, help=f"API key (default: ${ENV_API_KEY})."
    )
    return api_key(base_url(func))


def _shared_options(func: Callable[..., Any]) -> Callable[..., Any]:
    batch = click.option(
        "--batch", default="default", show_default=True, help="Batch id (postgresql:// only)."
    )
    lease = click.option(
        "--lease",
        default=30.0,
        show_default=True,
        type=click.FloatRange(min=0.1),
        help="Seconds a claimed item stays this worker's without a heartbeat (postgresql://).",
    )
    return lease(batch(func))


def _journal(spec: str, batch: str = "default", lease: float = 30.0) -> Path | PostgresJournal:
    """A PostgresJournal for a ``postgresql://`` URL, else the path of a SQLite file."""
    if is_postgres_dsn(spec):
        return PostgresJournal(spec, batch=batch, lease=lease)
    path = Path(spec)
    if path.is_dir():
        raise click.BadParameter(f"{spec} is a directory", param_hint="journal")
    return path


def _load(file: Path) -> PayoutFile:
    try:
        return load_items(file)
    except InputFileError as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_USAGE)


@click.group()
def payouts() -> None:
    """Batch payouts: run a file, approve held payouts, report a journal."""


_JOURNAL = click.option(
    "--journal", required=True, envvar="KASHA_JOURNAL", help="SQLite file or postgresql:// URL."
)
_CONCURRENCY = click.option(
    "--concurrency",
    default=DEFAULT_CONCURRENCY,
    show_default=True,
    type=click.IntRange(1, 5000),
    help="Payouts in flight at once.",
)
_REPORT = click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write every item to this .csv or .json file.",
)
_REDIRECT_URL = click.option(
    "--redirect-url",
    default=DEFAULT_REDIRECT_URL,
    show_default=True,
    help="redirectUrl sent with each payout session (the API wants one; nobody is sent there).",
)
_APPROVE = click.option(
    "--approve",
    type=click.Choice(["auto", "hold"]),
    default="auto",
    show_default=True,
    help="hold: stop each payout at PENDING for `kasha payouts approve`.",
)
_JSON_OPTION = click.option(
    "--json", "as_json", is_flag=True, help="Print the summary as JSON (the default when piped)."
)
_FILE = click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))


@payouts.command("run")
@_FILE
@_JOURNAL
@_CONCURRENCY
@_APPROVE
@click.option("--resume", is_flag=True, help="Continue the batch the journal holds.")
@_REPORT
@_JSON_OPTION
@_REDIRECT_URL
@_shared_options
@_client_options
def run_command(
    file: Path,
    journal: str,
    concurrency: int,
    approve: str,
    resume: bool,
    report_path: Path | None,
    redirect_url: str,
    batch: str,
    lease: float,
    base_url: str | None,
    api_key: str | None,
    as_json: bool,
) -> None:
    """Pay every row of FILE (.csv or .json) once; the journal makes it resumable.

    With a postgresql:// journal: submit FILE to the batch, then work on it
    like `kasha payouts worker` (no --resume needed).
    """
    items = _load(file)
    store = _journal(journal, batch, lease)

    async def work(kasha: KashaClient, stop: asyncio.Event) -> Report:
        async with _opened(store):
            return await run_payouts(
                kasha,
                items,
                journal=store,
                concurrency=concurrency,
                approve="hold" if approve == "hold" else "auto",
                resume=resume,
                stop=stop,
                include_items=False,
                redirect_url=redirect_url,
            )

    report = _run(work, base_url, api_key, pool=concurrency, store=store)
    _finish(report, store, report_path, as_json=as_json, journal=journal)


@payouts.command("submit")
@_FILE
@_JOURNAL
@click.option("--batch", default="default", show_default=True, help="Batch id.")
@_APPROVE
def submit_command(file: Path, journal: str, batch: str, approve: str) -> None:
    """Load FILE into a postgresql:// journal as one batch for `kasha payouts worker`.

    Idempotent: rows already submitted are left alone (a changed amount,
    currency or country is an error). Prints the batch and its size.
    """
    items = _load(file)
    store = _journal(journal, batch)
    if not isinstance(store, PostgresJournal):
        raise click.BadParameter("submit needs a postgresql:// URL", param_hint="--journal")
    mode: ApproveMode = "hold" if approve == "hold" else "auto"
    try:
        total = asyncio.run(submit_payouts(store, items, approve=mode))
    except KashaError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    click.echo(json.dumps({"batch": batch, "items": total, "approve": approve}))


@payouts.command("worker")
@_JOURNAL
@_CONCURRENCY
@_REPORT
@_JSON_OPTION
@_REDIRECT_URL
@click.option("--retry-stuck", is_flag=True, help="Retry items set aside as stuck first.")
@_shared_options
@_client_options
def worker_command(
    journal: str,
    concurrency: int,
    report_path: Path | None,
    redirect_url: str,
    retry_stuck: bool,
    batch: str,
    lease: float,
    base_url: str | None,
    api_key: str | None,
    as_json: bool,
) -> None:
    """Work on a submitted batch with any number of other workers until nothing is left.

    Exit codes as for `run`, for the whole batch. SIGINT/SIGTERM: finish the
    current steps, give the leases back, exit 130.
    """
    store = _journal(journal, batch, lease)
    if not isinstance(store, PostgresJournal):
        raise click.BadParameter("worker needs a postgresql:// URL", param_hint="--journal")

    async def work(kasha: KashaClient, stop: asyncio.Event) -> Report:
        async with store:
            if retry_stuck:
                await store.unpark()
            report = await run_worker(
                kasha,
                journal=store,
                concurrency=concurrency,
                stop=stop,
                include_items=False,
                redirect_url=redirect_url,
            )
        click.echo(f"worker {store.worker_id}: took over {store.taken_over} item(s)", err=True)
        return report

    report = _run(work, base_url, api_key, pool=concurrency, store=store)
    _finish(report, store, report_path, as_json=as_json, journal=journal)


@payouts.command("approve")
@click.argument("journal", envvar="KASHA_JOURNAL")
@_CONCURRENCY
@_REPORT
@_JSON_OPTION
@_shared_options
@_client_options
def approve_command(
    journal: str,
    concurrency: int,
    report_path: Path | None,
    batch: str,
    lease: float,
    base_url: str | None,
    api_key: str | None,
    as_json: bool,
) -> None:
    """Approve the payouts a `--approve hold` run left PENDING in JOURNAL.

    A postgresql:// batch is switched to auto: this process and every
    worker started from then on settle its held payouts.
    """
    store = _journal(journal, batch, lease)
    _require_file(store)

    async def work(kasha: KashaClient, stop: asyncio.Event) -> Report:
        async with _opened(store):
            return await approve_held(
                kasha, journal=store, concurrency=concurrency, include_items=False
            )

    report = _run(work, base_url, api_key, pool=concurrency, store=store)
    _finish(report, store, report_path, as_json=as_json, journal=journal)


@payouts.command("report")
@click.argument("journal", envvar="KASHA_JOURNAL")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--batch", default="default", show_default=True, help="Batch id (postgresql://).")
@_JSON_OPTION
def report_command(journal: str, output: Path | None, batch: str, as_json: bool) -> None:
    """Print the summary of JOURNAL; -o writes every item too (.csv or .json).

    Exits 0 once the journal is read, whatever the items' statuses.
    """
    store = _journal(journal, batch)
    _require_file(store)
    try:
        report = asyncio.run(_read_report(store, output))
    except KashaError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    _show(report.summary, as_json=as_json)
    _hints(report.summary, journal)


def _opened(store: Path | PostgresJournal) -> contextlib.AbstractAsyncContextManager[object]:
    """Open a PostgresJournal for the duration (a SQLite path is opened by the call itself)."""
    return store if isinstance(store, PostgresJournal) else contextlib.nullcontext()


def _require_file(store: Path | PostgresJournal) -> None:
    if isinstance(store, Path) and not store.is_file():
        raise click.BadParameter(f"{store} does not exist", param_hint="journal")


def _run(
    work: Callable[[KashaClient, asyncio.Event], Awaitable[Report]],
    base_url: str | None,
    api_key: str | None,
    *,
    pool: int,
    store: Path | PostgresJournal,
) -> Report:
    try:
        return run_loop(_with_client(work, base_url, api_key, pool))
    except KashaError as exc:
        click.echo(f"error: {_as_options(str(exc))}", err=True)
        sys.exit(_failure_code(exc, store))


#: The client's keyword arguments, as this command line spells them.
_OPTIONS = {"base_url=": "--base-url", "api_key=": "--api-key"}


def _as_options(message: str) -> str:
    """A client error's ``pass base_url=`` advice, said as the command's own options."""
    for keyword, option in _OPTIONS.items():
        message = message.replace(f"pass {keyword}", f"pass {option}")
    return message


def _failure_code(exc: KashaError, store: Path | PostgresJournal) -> int:
    """2 when nothing was sent (the same command may simply run again), else 3 (--resume)."""
    if isinstance(exc, ValueError | JournalLockedError):
        return EXIT_USAGE
    if isinstance(store, Path) and not (store.is_file() and asyncio.run(_anything_sent(store))):
        if isinstance(exc, TransportError):
            click.echo(
                "nothing was sent: check --base-url and the network, then run again", err=True
            )
        else:
            click.echo("nothing was sent: fix the cause above, then run the same command", err=True)
        return EXIT_USAGE
    click.echo(
        "some payouts were sent: fix the cause above, then run again with --resume", err=True
    )
    return EXIT_UNRESOLVED


async def _anything_sent(path: Path) -> bool:
    """Whether the journal at ``path`` records any send (``True`` when it cannot be read)."""
    try:
        async with SQLiteJournal(path, exclusive=False) as journal:
            async for record in journal.scan():
                if record.state is not ItemState.PLANNED or record.attempts:
                    return True
    except JournalError:
        return True
    return False


async def _with_client(
    work: Callable[[KashaClient, asyncio.Event], Awaitable[Report]],
    base_url: str | None,
    api_key: str | None,
    pool: int,
) -> Report:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # not on Windows
            loop.add_signal_handler(signum, stop.set)
    async with KashaClient(base_url=base_url, api_key=api_key, pool_size=max(pool, 10)) as kasha:
        return await work(kasha, stop)


def _finish(
    report: Report,
    store: Path | PostgresJournal,
    report_path: Path | None,
    *,
    as_json: bool,
    journal: str,
) -> None:
    if report_path is not None:
        try:
            asyncio.run(_read_report(store, report_path, duration=report.summary.duration))
        except (KashaError, OSError) as exc:
            click.echo(f"error: the report {report_path} was not written: {exc}", err=True)
    _show(report.summary, as_json=as_json)
    _hints(report.summary, journal)
    sys.exit(exit_code(report))


def _show(summary: Summary, *, as_json: bool) -> None:
    """The summary: a table on a terminal, JSON with --json or when stdout is piped."""
    if as_json or not sys.stdout.isatty():
        click.echo(json.dumps(summary.to_json(), indent=1))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{summary.total} payouts", show_header=True)
    table.add_column("status")
    table.add_column("items", justify="right")
    for status, count in summary.counts.items():
        table.add_row(status, str(count))
    for currency, amount in summary.completed_amounts.items():
        requested = summary.requested_amounts.get(currency)
        table.add_row(f"paid {currency}", f"{amount} of {requested}")
    table.caption = _timing(summary) + (", interrupted" if summary.interrupted else "")
    Console().print(table)


def _timing(summary: Summary) -> str:
    """The duration and rate, saying what they measure (a run, or a journal read later)."""
    rate = f"{summary.payouts_per_second:.1f} payouts/s"
    if summary.duration_of == "items":
        return f"{summary.duration:.1f} s first item started to last finished, {rate}"
    return f"{summary.duration:.1f} s this run, {rate} finished by it"


def _hints(summary: Summary, journal: str) -> None:
    """The next step, on stderr, where there is one."""
    counts = summary.counts
    if summary.interrupted:
        click.echo("interrupted: run again with --resume", err=True)
    elif counts.get("MISMATCH"):
        click.echo(
            f"{counts['MISMATCH']} payout(s) set aside (MISMATCH): the provider reports another "
            "amount or currency, or an ERROR only Kasha support can confirm; check them by hand "
            "(see the report)",
            err=True,
        )
    elif summary.unresolved:
        click.echo(f"{summary.unresolved} unresolved: run again with --resume", err=True)
    if counts.get("PENDING"):
        click.echo(
            f"{counts['PENDING']} payout(s) held PENDING: approve them with "
            f"`kasha payouts approve {journal}`",
            err=True,
        )


async def _read_report(
    journal: Path | PostgresJournal, output: Path | None, duration: float | None = None
) -> Report:
    """Summarize the journal; write every item to ``output`` (CSV by suffix, else JSON)."""
    store: Journal = (
        SQLiteJournal(journal, exclusive=False) if isinstance(journal, Path) else journal
    )
    await store.open()
    try:
        report = await build_report(store, duration=duration, include_items=False)
        if output is not None and output.suffix.lower() == ".csv":
            rows = [r async for r in iter_results(store)]
            await asyncio.to_thread(write_csv, output, rows)
        elif output is not None:
            items = [r.to_json() async for r in iter_results(store)]
            body = {"summary": report.summary.to_json(), "items": items}
            await asyncio.to_thread(write_json, output, body)
    finally:
        await store.close()
    return report


if __name__ == "__main__":
    payouts()
