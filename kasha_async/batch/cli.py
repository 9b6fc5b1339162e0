"""``kasha payouts``: run, approve and report batch payouts; a thin shell over ``batch``.

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
from .._errors import KashaError
from ._items import InputFileError, load_items
from ._journal import SQLiteJournal
from ._report import Report, build_report, iter_results, write_csv
from ._runner import DEFAULT_REDIRECT_URL, approve_held, run_payouts

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


@click.group()
def payouts() -> None:
    """Batch payouts: run a file, approve held payouts, report a journal."""


@payouts.command("run")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--journal", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--concurrency", default=50, show_default=True, type=click.IntRange(1, 5000))
@click.option("--approve", type=click.Choice(["auto", "hold"]), default="auto", show_default=True)
@click.option("--resume", is_flag=True, help="Continue the batch the journal holds.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--redirect-url", default=None, help="redirectUrl sent with each payout session.")
@_client_options
def run_command(
    file: Path,
    journal: Path,
    concurrency: int,
    approve: str,
    resume: bool,
    report_path: Path | None,
    redirect_url: str | None,
    base_url: str | None,
    api_key: str | None,
) -> None:
    """Pay every row of FILE (.csv or .json) once; the journal makes it resumable."""
    try:
        items = load_items(file)
    except InputFileError as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_USAGE)

    async def work(kasha: KashaClient, stop: asyncio.Event) -> Report:
        return await run_payouts(
            kasha,
            items,
            journal=journal,
            concurrency=concurrency,
            approve="hold" if approve == "hold" else "auto",
            resume=resume,
            stop=stop,
            include_items=False,
            redirect_url=redirect_url or DEFAULT_REDIRECT_URL,
        )

    _finish(_run(work, base_url, api_key, pool=concurrency), journal, report_path)


@payouts.command("approve")
@click.argument("journal", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--concurrency", default=50, show_default=True, type=click.IntRange(1, 5000))
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path))
@_client_options
def approve_command(
    journal: Path,
    concurrency: int,
    report_path: Path | None,
    base_url: str | None,
    api_key: str | None,
) -> None:
    """Approve the payouts a ``--approve hold`` run left PENDING in JOURNAL."""

    async def work(kasha: KashaClient, stop: asyncio.Event) -> Report:
        return await approve_held(
            kasha, journal=journal, concurrency=concurrency, include_items=False
        )

    _finish(_run(work, base_url, api_key, pool=concurrency), journal, report_path)


@payouts.command("report")
@click.argument("journal", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path))
def report_command(journal: Path, output: Path | None) -> None:
    """Print the summary of JOURNAL; ``-o`` writes every item too (.csv or .json)."""
    report = asyncio.run(_read_report(journal, output))
    sys.exit(exit_code(report))


def _run(
    work: Callable[[KashaClient, asyncio.Event], Awaitable[Report]],
    base_url: str | None,
    api_key: str | None,
    *,
    pool: int,
) -> Report:
    try:
        return asyncio.run(_with_client(work, base_url, api_key, pool))
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


def _finish(report: Report, journal: Path, report_path: Path | None) -> None:
    if report_path is not None:
        asyncio.run(_read_report(journal, report_path, duration=report.summary.duration))
    click.echo(json.dumps(report.summary.to_json(), indent=1))
    sys.exit(exit_code(report))


async def _read_report(journal: Path, output: Path | None, duration: float | None = None) -> Report:
    """Summarize the journal; write every item to ``output`` (CSV by suffix, else JSON)."""
    async with SQLiteJournal(journal) as store:
        report = await build_report(store, duration=duration, include_items=False)
        if output is not None and output.suffix.lower() == ".csv":
            write_csv(output, [r async for r in iter_results(store)])
        elif output is not None:
            items = [r.to_json() async for r in iter_results(store)]
            body = {"summary": report.summary.to_json(), "items": items}
            await asyncio.to_thread(output.write_text, json.dumps(body, indent=1) + "\n", "utf-8")
    if output is None:
        click.echo(json.dumps(report.summary.to_json(), indent=1))
    return report


if __name__ == "__main__":
    payouts()
