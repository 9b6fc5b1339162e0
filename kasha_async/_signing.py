"""``x-signature``: sign and verify over bytes, once (transport, webhooks and the sandbox).

The signature is ``base64(HMAC-SHA256(key, body))`` over the exact body bytes,
standard alphabet with padding (CONTRACT.md §1). Verification compares bytes in
constant time, so a header that is not ASCII is simply a mismatch, never an error.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

__all__ = ["SIGNATURE_HEADER", "key_bytes", "sign", "verify"]

SIGNATURE_HEADER = "x-signature"


def key_bytes(key: str | bytes) -> bytes:
    """A signing key as bytes (a ``str`` key is UTF-8 encoded)."""
    return key.encode("utf-8") if isinstance(key, str) else key


def sign(key: str | bytes, body: bytes) -> str:
    """The ``x-signature`` of ``body``: ``base64(HMAC-SHA256(key, body))``."""
    digest = hmac.new(key_bytes(key), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify(key: str | bytes, body: bytes, signature: str | bytes | None) -> bool:
    """Whether ``signature`` (surrounding whitespace ignored) signs ``body`` with ``key``."""
    if signature is None:
        return False
    given = signature if isinstance(signature, bytes) else signature.encode("utf-8", "replace")
    return hmac.compare_digest(sign(key, body).encode("ascii"), given.strip())
