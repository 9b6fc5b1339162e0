"""A stateful local Kasha v2 simulator on ``aiohttp.web``, with fault injection and a ledger.

::

    from kasha_async.sandbox import Sandbox, FaultKind

    async with Sandbox() as sb:
        sb.faults.add(endpoint="payouts.create", kind=FaultKind.RESET_AFTER_COMMIT, times=1)
        ...  # point a client at sb.base_url with sb.api_key
        assert not sb.ledger().sessions_with_multiple_attempts

``serve_app(app)`` serves your own aiohttp or ASGI app on 127.0.0.1:0 for webhook
delivery in tests. See ``docs/sandbox.md`` for the routes, rules, triggers and the pytest plugin.
"""

from .._signing import sign, verify
from .app import create_app
from .clock import ManualClock
from .faults import FaultInjector, FaultKind, FaultRule
from .ledger import Ledger
from .server import DEFAULT_API_KEY, Sandbox, serve_app
from .state import SandboxError, SandboxState
from .triggers import (
    SUCCESS_CARD,
    THREE_DS_CARD,
    processor_decline_amount,
    trigger_amount,
    trigger_card,
)
from .webhooks import WebhookDelivery

__all__ = [
    "DEFAULT_API_KEY",
    "FaultInjector",
    "FaultKind",
    "FaultRule",
    "Ledger",
    "ManualClock",
    "SUCCESS_CARD",
    "Sandbox",
    "SandboxError",
    "SandboxState",
    "THREE_DS_CARD",
    "WebhookDelivery",
    "create_app",
    "processor_decline_amount",
    "serve_app",
    "sign",
    "trigger_amount",
    "trigger_card",
    "verify",
]
