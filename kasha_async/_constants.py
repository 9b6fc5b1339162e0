"""Defaults in one place: timeouts, limits and retry numbers (operations: ``_operations``)."""

from __future__ import annotations

#: The provider's public host: offered as a constant, never used silently (CONTRACT.md §1).
PRODUCTION_BASE_URL = "https://api-gateway.kasha.io"

DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 30.0
#: Deadline for one call, including every retry and backoff.
DEFAULT_TOTAL_TIMEOUT = 60.0
DEFAULT_MAX_RETRIES = 3
DEFAULT_POOL_SIZE = 1000
DEFAULT_POOL_SIZE_PER_HOST = 0  # 0: only the total limit applies
#: Larger answers are refused with ResponseFormatError instead of filling memory.
MAX_RESPONSE_BYTES = 4 * 1024 * 1024

#: Amounts (sent or answered) are below 10**13 major units: far above any real payment,
#: and small enough that a hostile ``Decimal('1E+100000')`` never becomes a 100 KB body.
MAX_AMOUNT_INTEGER_DIGITS = 13
#: A sent amount has at most 15 significant digits: every decimal that short survives a
#: round trip through a binary float, which is how many JSON parsers read numbers.
MAX_AMOUNT_SIGNIFICANT_DIGITS = 15

SESSION_LIFETIME_SECONDS = 30 * 60

RETRY_BACKOFF_INITIAL = 0.5
RETRY_BACKOFF_MAX = 8.0
RETRY_AFTER_CAP = 60.0
#: Retry budget: retries may add this fraction to traffic ...
RETRY_BUDGET_RATIO = 0.1
#: ... plus this many retries per second whatever the traffic (the floor) ...
RETRY_BUDGET_FLOOR_PER_SECOND = 2.0
#: ... and the bucket never holds more than this many retries.
RETRY_BUDGET_MAX_TOKENS = 20.0

#: Host names plain ``http://`` may reach without ``allow_insecure_http`` (and any
#: loopback address: 127.0.0.0/8, ::1).
LOOPBACK_HOSTS: frozenset[str] = frozenset({"localhost"})

ENV_API_KEY = "KASHA_API_KEY"
ENV_BASE_URL = "KASHA_BASE_URL"
ENV_SIGNATURE_KEY = "KASHA_SIGNATURE_KEY"
