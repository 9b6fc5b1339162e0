"""``kasha payouts``: run, approve and report batch payouts; a thin shell over ``batch``.

``--journal`` is a SQLite file, or a ``postgresql://`` URL (env ``KASHA_JOURNAL``)
for a batch shared by many workers: ``submit`` loads it, ``worker`` drains it
from any number of processes, ``run`` does both.

Exit codes: 0 every item succeeded (or is held PENDING with ``--approve hold``);
1 some item failed or was declined; 2 bad usage or a malformed input file
(nothing sent); 3 some item is unresolved (outcome unknown, still processing,
or not started): run again with ``--resume``; 130 interrupted (resumable).
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
from .._errors import InputFileError, KashaError
from .._loop import run as run_loop
from ._items import PayoutFile, load_items
from ._journal import ApproveMode, Journal, SQLiteJournal
from ._postgres import PostgresJournal, is_postgres_dsn
from ._report import Report, build_report, iter_results, write_csv
from ._runner import (
    DEFAULT_REDIRECT_URL,
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
    base_url = click.option("--base-url", envvar="KASHA_BASE_URL", help="API root.")
    api_key = click.option("--api-key", envvar="KASHA_API_KEY", help="API key.")
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
_FILE = click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))


@payouts.command("run")
@_FILE
@_JOURNAL
@click.option("--concurrency", default=50, show_default=True, type=click.IntRange(1, 5000))
@click.option("--approve", type=click.Choice(["auto", "hold"]), default="auto", show_default=True)
@click.option("--resume", is_flag=True, help="Continue the batch the journal holds.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--redirect-url", default=None, help="redirectUrl sent with each payout session.")
@_shared_options
@_client_options
def run_command(
    file: Path,
    journal: str,
    concurrency: int,
    approve: str,
    resume: bool,
    report_path: Path | None,
    redirect_url: str | None,
    batch: str,
    lease: float,
    base_url: str | None,
    api_key: str | None,
) -> None:
    """Pay every row of FILE (.csv or .json) once; the journal makes it resumable.

    With a postgresql:// journal: submit FILE to the batch, then work on it
    like ``kasha payouts worker`` (no --resume needed).
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
                redirect_url=redirect_url or DEFAULT_REDIRECT_URL,
            )

    _finish(_run(work, base_url, api_key, pool=concurrency), store, report_path)


@payouts.command("submit")
@_FILE
@_JOURNAL
@click.option("--batch", default="default", show_default=True, help="Batch id.")
@click.option("--approve", type=click.Choice(["auto", "hold"]), default="auto", show_default=True)
def submit_command(file: Path, journal: str, batch: str, approve: str) -> None:
    """Load FILE into a postgresql:// journal as one batch for ``kasha payouts worker``.

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
@click.option("--concurrency", default=50, show_default=True, type=click.IntRange(1, 5000))
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--redirect-url", default=None, help="redirectUrl sent with each payout session.")
@click.option("--retry-stuck", is_flag=True, help="Retry items set aside as stuck first.")
@_shared_options
@_client_options
def worker_command(
    journal: str,
    concurrency: int,
    report_path: Path | None,
    redirect_url: str | None,
    retry_stuck: bool,
    batch: str,
    lease: float,
    base_url: str | None,
    api_key: str | None,
) -> None:
    """Work on a submitted batch with any number of other workers until nothing is left.

    Exit codes as for ``run``, for the whole batch. SIGINT/SIGTERM: finish the
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
                redirect_url=redirect_url or DEFAULT_REDIRECT_URL,
            )
        click.echo(f"worker {store.worker_id}: took over {store.taken_over} item(s)", err=True)
        return report

    _finish(_run(work, base_url, api_key, pool=concurrency), store, report_path)


@payouts.command("approve")
@click.argument("journal", envvar="KASHA_JOURNAL")
@click.option("--concurrency", default=50, show_default=True, type=click.IntRange(1, 5000))
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path))
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
) -> None:
    """Approve the payouts a ``--approve hold`` run left PENDING in JOURNAL.

    A postgresql:// batch is switched to ``auto``: this process and every
    worker started from then on settle its held payouts.
    """
    store = _journal(journal, batch, lease)
    _require_file(store)

    async def work(kasha: KashaClient, stop: asyncio.Event) -> Report:
        async with _opened(store):
            return await approve_held(
                kasha, journal=store, concurrency=concurrency, include_items=False
            )

    _finish(_run(work, base_url, api_key, pool=concurrency), store, report_path)


@payouts.command("report")
@click.argument("journal", envvar="KASHA_JOURNAL")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--batch", default="default", show_default=True, help="Batch id (postgresql://).")
def report_command(journal: str, output: Path | None, batch: str) -> None:
    """Print the summary of JOURNAL; ``-o`` writes every item too (.csv or .json)."""
    store = _journal(journal, batch)
    _require_file(store)
    report = asyncio.run(_read_report(store, output))
    sys.exit(exit_code(report))


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
) -> Report:
    try:
        return run_loop(_with_client(work, base_url, api_key, pool))
    except KashaError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE if isinstance(exc, ValueError) else EXIT_FAILED)


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


def _finish(report: Report, journal: Path | PostgresJournal, report_path: Path | None) -> None:
    if report_path is not None:
        asyncio.run(_read_report(journal, report_path, duration=report.summary.duration))
    click.echo(json.dumps(report.summary.to_json(), indent=1))
    sys.exit(exit_code(report))


async def _read_report(
    journal: Path | PostgresJournal, output: Path | None, duration: float | None = None
) -> Report:
    """Summarize the journal; write every item to ``output`` (CSV by suffix, else JSON)."""
    store: Journal = SQLiteJournal(journal) if isinstance(journal, Path) else journal
    await store.open()
    try:
        report = await build_report(store, duration=duration, include_items=False)
        if output is not None and output.suffix.lower() == ".csv":
            write_csv(output, [r async for r in iter_results(store)])
        elif output is not None:
            items = [r.to_json() async for r in iter_results(store)]
            body = {"summary": report.summary.to_json(), "items": items}
            await asyncio.to_thread(output.write_text, json.dumps(body, indent=1) + "\n", "utf-8")
    finally:
        await store.close()
    if output is None:
        click.echo(json.dumps(report.summary.to_json(), indent=1))
    return report


if __name__ == "__main__":
    payouts()
