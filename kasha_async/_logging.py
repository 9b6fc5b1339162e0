"""``KASHA_LOG=debug|info|warning|error``: the SDK's log on stderr, redacted.

Read once, when ``kasha_async`` is imported (one environment lookup; nothing
else is done when the variable is unset). It adds one ``StreamHandler`` on
stderr to the ``kasha_async`` logger, which every module of the SDK logs under,
and sets that logger's level. The handler masks what
:func:`kasha_async._redact.redact_bytes` masks in error excerpts (card numbers,
CVV, keys and tokens in JSON) and the values of ``KASHA_API_KEY`` and
``KASHA_SIGNATURE_KEY`` wherever they appear. Without the variable the SDK adds
no handler: configure ``logging.getLogger("kasha_async")`` as you like.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable

from ._redact import redact_bytes

ENV_VAR = "KASHA_LOG"
LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
REDACTED = "[REDACTED]"
_SECRET_VARS = ("KASHA_API_KEY", "KASHA_SIGNATURE_KEY")


class RedactingFilter(logging.Filter):
    """Rewrites each record's message with secrets and card data masked."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = tuple(sorted({s for s in secrets if s}, key=len, reverse=True))

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask the formatted message in place; never drops a record."""
        message = record.getMessage()
        encoded = message.encode("utf-8", errors="replace")
        text = redact_bytes(encoded, limit=2 * len(encoded) + 64)  # masks only, never cuts
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        record.msg, record.args = text, None
        return True


class _KashaLogHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler ``KASHA_LOG`` installs (a class of its own, so it is installed once)."""


def configure_from_env() -> logging.Handler | None:
    """Apply ``KASHA_LOG`` if set; returns the handler it installed (or already had)."""
    value = os.environ.get(ENV_VAR, "").strip().lower()
    if not value:
        return None
    level = LEVELS.get(value)
    if level is None:
        sys.stderr.write(
            f"kasha_async: {ENV_VAR}={value!r} ignored; use one of {', '.join(LEVELS)}\n"
        )
        return None
    logger = logging.getLogger("kasha_async")
    logger.setLevel(level)
    for existing in logger.handlers:
        if isinstance(existing, _KashaLogHandler):
            return existing
    handler = _KashaLogHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(RedactingFilter(os.environ.get(name, "") for name in _SECRET_VARS))
    logger.addHandler(handler)
    return handler
