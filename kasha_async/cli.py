"""The ``kasha`` command line: a thin shell over the public API.

``kasha sandbox serve`` runs the local simulator until interrupted.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import signal
import sys

import click

from .batch.cli import payouts
from .sandbox import DEFAULT_API_KEY, Sandbox


@click.group()
@click.version_option(package_name="kasha-async")
def main() -> None:
    """Kasha payments API v2 tools: a local sandbox and batch payouts.

    \b
    kasha sandbox serve --port 8080    run the local Kasha v2 simulator
    kasha payouts run payouts.csv ...  pay a CSV file of payouts, resumably
    """


@main.group(short_help="The local Kasha v2 simulator.")
def sandbox() -> None:
    """The local Kasha v2 simulator (the same one the pytest fixtures start)."""


@sandbox.command("serve", short_help="Serve the sandbox until Ctrl-C; prints its URL and keys.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option(
    "--port", default=8080, show_default=True, help="Port to bind (0: any free port, shown)."
)
@click.option(
    "--api-key", default=DEFAULT_API_KEY, show_default=True, help="The accepted x-api-key."
)
@click.option(
    "--signature-key",
    default=None,
    help="Check x-signature on requests with this key (default: not checked).",
)
@click.option(
    "--webhook-secret",
    default=None,
    help="Sign webhooks with this key (default: the signature key, else the API key).",
)
@click.option(
    "--payment-delay",
    type=float,
    default=0.0,
    show_default=True,
    help="Seconds a PENDING payment (APM, 3DS) takes to complete.",
)
@click.option(
    "--payout-delay",
    type=float,
    default=0.0,
    show_default=True,
    help="Seconds a PROCESSING payout takes to finish.",
)
@click.option("--seed", default=0, show_default=True, help="Seed of the fault RNG and the ids.")
def serve(
    host: str,
    port: int,
    api_key: str,
    signature_key: str | None,
    webhook_secret: str | None,
    payment_delay: float,
    payout_delay: float,
    seed: int,
) -> None:
    """Serve the sandbox until Ctrl-C or SIGTERM.

    It prints its base URL first, then every key it uses (the API key, the
    signature key, the webhook secret) and the environment to point the SDK
    and your app at it. A busy port exits with status 2.
    """
    sandbox = Sandbox(
        api_key=api_key,
        signature_key=signature_key,
        webhook_secret=webhook_secret,
        payment_delay=payment_delay,
        payout_delay=payout_delay,
        seed=seed,
        host=host,
        port=port,
    )
    code = asyncio.run(_serve(sandbox, host, port))
    if code:
        sys.exit(code)


@sandbox.command("triggers", short_help="Print the magic amounts and cards per error code.")
def triggers() -> None:
    """Print the trigger tables (magic amounts and cards per error code) as Markdown."""
    from .sandbox.triggers import render_markdown

    click.echo(render_markdown(), nl=False)


def banner(sandbox: Sandbox) -> list[str]:
    """What ``serve`` prints once listening: the URL, every key and the environment."""
    if sandbox.webhook_secret == sandbox.signature_key:
        source = "the signature key"
    elif sandbox.webhook_secret == sandbox.api_key and sandbox.signature_key is None:
        source = "the API key; set --webhook-secret or --signature-key"
    else:
        source = "--webhook-secret"
    env = f"export KASHA_BASE_URL={sandbox.base_url} KASHA_API_KEY={sandbox.api_key}"
    if sandbox.signature_key is not None:
        env += f" KASHA_SIGNATURE_KEY={sandbox.signature_key}"
    return [
        f"Kasha sandbox listening on {sandbox.base_url}",
        f"API key: {sandbox.api_key}",
        f"Signature key: {sandbox.signature_key or 'none (x-signature is not checked)'}",
        f"Webhook secret: {sandbox.webhook_secret} ({source})",
        env,
    ]


def bind_failure(host: str, port: int, exc: OSError) -> str:
    """The one line ``serve`` prints when it cannot bind."""
    if exc.errno == errno.EADDRINUSE:
        hint = "is already in use; pass --port 0 to take any free port"
    elif exc.errno == errno.EACCES:
        hint = "needs privileges (a port below 1024?); pass --port 0 to take any free port"
    else:
        hint = f"cannot be bound ({exc.strerror or exc}); check --host"
    return f"kasha sandbox serve: {host}:{port} {hint}"


async def _serve(sandbox: Sandbox, host: str, port: int) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # not on Windows
            loop.add_signal_handler(signum, stop.set)
    try:
        await sandbox.start()
    except OSError as exc:
        await sandbox.stop()
        click.echo(bind_failure(host, port, exc), err=True)
        return 2
    try:
        for line in banner(sandbox):
            click.echo(line)
        sys.stdout.flush()
        await stop.wait()
    finally:
        await sandbox.stop()
    click.echo("Kasha sandbox stopped.")
    return 0


main.add_command(payouts)

if __name__ == "__main__":
    main()
