"""``Sandbox``: the simulator on 127.0.0.1, with its clock, faults, ledger and controls."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import Any

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


Scope = dict[str, Any]
Message = dict[str, Any]
# ASGI 3: ``await app(scope, receive, send)``; loose, as frameworks type it each their own way.
ASGIApp = Callable[..., Awaitable[None]]
_HOP_BY_HOP = frozenset({b"content-length", b"transfer-encoding", b"connection"})


@contextlib.asynccontextmanager
async def serve_app(
    app: web.Application | ASGIApp, *, host: str = "127.0.0.1"
) -> AsyncIterator[str]:
    """Serve an aiohttp or ASGI app on ``host`` port 0; yields its base URL (``http://h:p``).

    For webhook delivery in tests: give the sandbox ``f"{url}/kasha/webhook"`` as
    ``notification_url``. ASGI apps (Starlette, FastAPI) run behind a small bridge
    on aiohttp's own server, lifespan included: requests and answers are buffered
    (no streaming, no websockets), which is what a webhook endpoint needs.
    """
    lifespan: _Lifespan | None = None
    if isinstance(app, web.Application):
        served = app
    else:
        served = web.Application()
        served.router.add_route("*", "/{tail:.*}", _asgi_handler(app))
        lifespan = _Lifespan(app)
        await lifespan.startup()
    runner = web.AppRunner(served, access_log=None, shutdown_timeout=0.25)
    try:
        await runner.setup()
        await web.TCPSite(runner, host, 0).start()
        bound_host, port = runner.addresses[0][:2]
        yield f"http://{bound_host}:{port}"
    finally:
        await runner.cleanup()
        if lifespan is not None:
            await lifespan.shutdown()


def _asgi_handler(app: ASGIApp) -> Callable[[web.Request], Awaitable[web.Response]]:
    """An aiohttp handler passing one buffered request to ``app`` (ASGI 3, HTTP 1.1)."""

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        done = asyncio.Event()
        sent_body = False
        start: Message = {}
        chunks: list[bytes] = []

        async def receive() -> Message:
            nonlocal sent_body
            if not sent_body:
                sent_body = True
                return {"type": "http.request", "body": body, "more_body": False}
            await done.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(bytes(message.get("body", b"")))

        peer = request.transport.get_extra_info("peername") if request.transport else None
        scope: Scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": request.method,
            "scheme": "http",
            "path": request.path,
            "raw_path": request.raw_path.split("?", 1)[0].encode(),
            "query_string": request.query_string.encode(),
            "root_path": "",
            "headers": [(name.lower(), value) for name, value in request.raw_headers],
            "client": tuple(peer[:2]) if peer else None,
            "server": (request.url.host, request.url.port),
        }
        try:
            await app(scope, receive, send)
        finally:
            done.set()
        response = web.Response(status=int(start.get("status", 500)), body=b"".join(chunks))
        for name, value in start.get("headers", []):
            if bytes(name).lower() not in _HOP_BY_HOP:
                response.headers.add(bytes(name).decode("latin-1"), bytes(value).decode("latin-1"))
        return response

    return handle


class _Lifespan:
    """The ASGI lifespan protocol for one app; an app that does not speak it is left alone."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self._inbox: asyncio.Queue[Message] = asyncio.Queue()
        self._outbox: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        scope: Scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        await self._app(scope, self._inbox.get, self._outbox.put)

    async def _exchange(self, event: str) -> None:
        assert self._task is not None
        await self._inbox.put({"type": f"lifespan.{event}"})
        answer = asyncio.ensure_future(self._outbox.get())
        await asyncio.wait({answer, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if not answer.done():  # the app returned or raised: no lifespan support
            answer.cancel()
            if not self._task.cancelled():
                self._task.exception()  # retrieved: an app without lifespan may raise here
            self._task = None
            return
        message = answer.result()
        if message["type"] == f"lifespan.{event}.failed":
            raise RuntimeError(f"ASGI lifespan {event} failed: {message.get('message', '')}")

    async def startup(self) -> None:
        """Send ``lifespan.startup`` and wait for the app's answer."""
        self._task = asyncio.ensure_future(self._run())
        await self._exchange("startup")

    async def shutdown(self) -> None:
        """Send ``lifespan.shutdown``, wait for the answer and the app's return."""
        if self._task is None:
            return
        task = self._task
        await self._exchange("shutdown")
        with contextlib.suppress(Exception):
            await task
