"""``Sandbox``: the simulator on 127.0.0.1, with its clock, faults, ledger and controls."""

from __future__ import annotations

from types import TracebackType

from aiohttp import web

from .app import check_bind_host, create_app
from .clock import ManualClock
from .faults import FaultInjector
from .ledger import Ledger
from .state import SandboxState
from .webhooks import WebhookDelivery, WebhookDispatcher

DEFAULT_API_KEY = "sk_test_sandbox"


class Sandbox:
    """A running Kasha v2 simulator; ``async with Sandbox() as sb:`` binds ``127.0.0.1:0``.

    ``payment_delay``/``payout_delay`` are the seconds a PENDING APM/3DS payment or a
    PROCESSING payout takes to finish (``None``: only when a control call says so).
    Webhooks are signed with ``webhook_secret``, else the signature key, else the API key.
    """

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_API_KEY,
        signature_key: str | None = None,
        seed: int | None = 0,
        clock: ManualClock | None = None,
        payment_delay: float | None = 0.0,
        payout_delay: float | None = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
        webhook_secret: str | None = None,
        webhook_attempts: int = 5,
        webhook_backoff: float = 0.05,
        webhook_duplicate_probability: float = 0.0,
        webhook_reorder_jitter: float = 0.0,
    ) -> None:
        self.state = SandboxState(
            api_key=api_key,
            signature_key=signature_key,
            seed=seed,
            clock=clock,
            payment_delay=payment_delay,
            payout_delay=payout_delay,
        )
        self.webhooks = WebhookDispatcher(
            secret=webhook_secret or signature_key or api_key,
            max_attempts=webhook_attempts,
            backoff=webhook_backoff,
            duplicate_probability=webhook_duplicate_probability,
            reorder_jitter=webhook_reorder_jitter,
            seed=seed,
        )
        self._host, self._port = host, port
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` once started."""
        if self._base_url is None:
            raise RuntimeError("the sandbox is not running; use 'async with' or await start()")
        return self._base_url

    @property
    def api_key(self) -> str:
        """The API key requests must carry in ``x-api-key``."""
        return self.state.api_key

    @property
    def signature_key(self) -> str | None:
        """The key ``x-signature`` is checked against (None: signatures not checked)."""
        return self.state.signature_key

    @property
    def webhook_secret(self) -> str:
        """The key webhook ``x-signature`` headers are computed with."""
        return self.webhooks.secret

    @property
    def clock(self) -> ManualClock:
        """The clock sessions expire by; ``sb.clock.advance(31 * 60)``."""
        return self.state.clock

    @property
    def faults(self) -> FaultInjector:
        """Fault rules: ``sb.faults.add(endpoint=..., kind=FaultKind..., times=1)``."""
        return self.state.faults

    @property
    def webhook_deliveries(self) -> list[WebhookDelivery]:
        """Every webhook delivery attempt so far."""
        return list(self.webhooks.deliveries)

    def ledger(self) -> Ledger:
        """A frozen snapshot of transactions, attempts, approvals and request counters."""
        return self.state.ledger()

    async def start(self) -> None:
        """Bind and serve; ``base_url`` is known afterwards."""
        check_bind_host(self.state, self._host)
        runner = web.AppRunner(
            create_app(self.state, self.webhooks), access_log=None, shutdown_timeout=0.25
        )
        await runner.setup()
        await web.TCPSite(runner, self._host, self._port).start()
        self._runner = runner
        host, port = runner.addresses[0][:2]
        self._base_url = f"http://{host}:{port}"

    async def stop(self) -> None:
        """Stop serving, cancel scheduled changes and pending webhooks."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> Sandbox:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def complete(self, transaction_id: str) -> None:
        """Finish a CREATED/PENDING payment or a PROCESSING payout as COMPLETED."""
        self.state.complete(transaction_id)

    async def fail(self, transaction_id: str, code: int = 3001) -> None:
        """Decline an unfinished transaction with ``code`` (1100: status ERROR)."""
        self.state.fail(transaction_id, code)

    async def settle_processing(
        self, transaction_id: str | None = None, code: int | None = None
    ) -> list[str]:
        """Let the processor finish one or every PROCESSING payout (``code``: decline it)."""
        return self.state.settle_processing(transaction_id, code)

    async def wait_webhooks(self) -> None:
        """Wait until every queued webhook delivery, retries included, has finished."""
        await self.webhooks.wait_idle()
