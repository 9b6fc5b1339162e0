"""The ``kasha`` command line: a thin shell over the public API.

``kasha sandbox serve`` runs the local simulator until interrupted.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys

import click

from .batch.cli import payouts
from .sandbox import DEFAULT_API_KEY, Sandbox


@click.group()
@click.version_option(package_name="kasha-async")
def main() -> None:
    """Kasha payments API v2 tools."""


@main.group()
def sandbox() -> None:
    """The local Kasha v2 simulator."""


@sandbox.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=8080, show_default=True, help="Port (0: any free port).")
@click.option("--api-key", default=DEFAULT_API_KEY, show_default=True, help="Accepted x-api-key.")
@click.option("--signature-key", default=None, help="Verify x-signature with this key.")
@click.option("--seed", default=0, show_default=True, help="Seed of the fault RNG and ids.")
def serve(host: str, port: int, api_key: str, signature_key: str | None, seed: int) -> None:
    """Serve the sandbox until Ctrl-C or SIGTERM; prints the base URL first."""
    sandbox = Sandbox(api_key=api_key, signature_key=signature_key, seed=seed, host=host, port=port)
    asyncio.run(_serve(sandbox))


@sandbox.command("triggers")
def triggers() -> None:
    """Print the trigger tables (magic amounts and cards per error code) as Markdown."""
    from .sandbox.triggers import render_markdown

    click.echo(render_markdown(), nl=False)


async def _serve(sandbox: Sandbox) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # not on Windows
            loop.add_signal_handler(signum, stop.set)
    async with sandbox:
        click.echo(f"Kasha sandbox listening on {sandbox.base_url}")
        click.echo(f"API key: {sandbox.api_key}")
        sys.stdout.flush()
        await stop.wait()
    click.echo("Kasha sandbox stopped.")


main.add_command(payouts)

if __name__ == "__main__":
    main()
