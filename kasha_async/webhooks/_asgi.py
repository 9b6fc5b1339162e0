"""The ASGI adapter over :class:`WebhookReceiver`: Starlette, FastAPI, any ASGI server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

from .._errors import ConfigError, WebhookTooLargeError
from ._dedupe import WebhookDeduplicator
from ._receiver import TransactionCallback, WebhookReceiver
from ._verify import MAX_WEBHOOK_BYTES, join_capped, refuse_declared

__all__ = ["WebhookASGIApp"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class _Disconnected(Exception):
    """The client went away before sending the whole body."""


async def _asgi_chunks(receive: Receive) -> AsyncIterator[bytes]:
    """The body chunks of ``http.request`` messages; a disconnect raises :class:`_Disconnected`."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return


async def _send_json(send: Send, status: int, body: bytes, extra: tuple[Any, ...] = ()) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": [*headers, *extra]})
    await send({"type": "http.response.body", "body": body})


async def _serve_lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


class WebhookASGIApp:
    """A plain ASGI app receiving webhooks; mount it in Starlette or FastAPI.

    ``Mount("/kasha/webhook", app=WebhookASGIApp(key, on_transaction))`` in
    Starlette, ``app.mount(...)`` in FastAPI. Only POST is accepted (405
    otherwise); answers as :class:`WebhookReceiver` does. Needs no framework.
    """

    def __init__(
        self,
        signature_key: str | bytes,
        on_transaction: TransactionCallback,
        *,
        deduplicator: WebhookDeduplicator | None = None,
        max_body_bytes: int = MAX_WEBHOOK_BYTES,
    ) -> None:
        self.receiver = WebhookReceiver(
            signature_key,
            on_transaction,
            deduplicator=deduplicator,
            max_body_bytes=max_body_bytes,
        )

    def __repr__(self) -> str:
        return f"<WebhookASGIApp {self.receiver!r}>"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection."""
        if scope["type"] == "lifespan":
            await _serve_lifespan(receive, send)
            return
        if scope["type"] != "http":
            raise ConfigError(f"WebhookASGIApp serves HTTP only, not {scope['type']!r}")
        if scope["method"] != "POST":
            body = b'{"ok":false,"error":"method not allowed"}'
            await _send_json(send, 405, body, ((b"allow", b"POST"),))
            return
        await self._serve_post(scope, receive, send)

    async def _serve_post(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in scope["headers"]
        }
        limit = self.receiver.max_body_bytes
        try:
            refuse_declared(headers.get("content-length"), limit)
            raw = await join_capped(_asgi_chunks(receive), limit)
        except _Disconnected:
            return
        except WebhookTooLargeError as exc:
            result = self.receiver.reject(exc)
        else:
            result = await self.receiver.handle(raw, headers)
        await _send_json(send, result.status_code, result.body_bytes())
