"""The sandbox's hosted cashier and 3DS challenge: plain HTML pages a real browser clicks through.

``create_app`` registers them; ``docs/sandbox.md`` ("Hosted cashier pages") pins
what a browser test can rely on: field names, the redirect back to the merchant
with ``transactionId`` and ``status``, and the 3DS buttons.
"""

from ._routes import (
    ABANDONED_3DS_CODE,
    CHALLENGE_TIMEOUT_SECONDS,
    FAILED_3DS_CODE,
    add_cashier_routes,
    merchant_url,
)

__all__ = [
    "ABANDONED_3DS_CODE",
    "CHALLENGE_TIMEOUT_SECONDS",
    "FAILED_3DS_CODE",
    "add_cashier_routes",
    "merchant_url",
]
