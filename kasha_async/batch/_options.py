""":class:`BatchOptions`: how a batch runs, checked once, handed whole to the pools and steps."""

from __future__ import annotations

from typing import TypedDict

import attrs

from .._errors import ConfigError
from ._journal import ApproveMode
from ._progress import ProgressCallback

#: The redirect URL sent when none is given (payouts redirect nobody, but the API wants one).
DEFAULT_REDIRECT_URL = "https://localhost/kasha-batch/return"
#: Workers per process when none is given (``--concurrency``).
DEFAULT_CONCURRENCY = 50


def _at_least_one(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise ConfigError(f"{attribute.name} must be at least 1")


def _approve_mode(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in ("auto", "hold"):
        raise ConfigError(f"approve must be 'auto' or 'hold', not {value!r}")


@attrs.frozen(kw_only=True)
class BatchOptions:
    """The knobs of :func:`run_payouts`, :func:`run_worker` and :func:`approve_held`.

    ``approve="hold"`` stops each payout at PENDING; ``max_attempts`` bounds the
    undecided tries per item per run, with a ``retry_delay`` backoff;
    ``processing_timeout`` is how long an approved payout is followed;
    ``progress`` shows a rich bar (default: when stderr is a terminal) and
    ``on_progress`` gets a :class:`BatchProgress` after every item; items are
    left out of the report with ``include_items=False``.
    """

    concurrency: int = attrs.field(default=DEFAULT_CONCURRENCY, validator=_at_least_one)
    approve: ApproveMode = attrs.field(default="auto", validator=_approve_mode)
    redirect_url: str = DEFAULT_REDIRECT_URL
    max_attempts: int = attrs.field(default=5, validator=_at_least_one)
    retry_delay: float = 0.5
    processing_timeout: float = 60.0
    progress: bool | None = None
    on_progress: ProgressCallback | None = None
    include_items: bool = True

    def evolve(self, **changes: object) -> BatchOptions:
        """A copy with ``changes`` applied (checked again)."""
        return attrs.evolve(self, **changes)  # type: ignore[arg-type]


class BatchKnobs(TypedDict, total=False):
    """:class:`BatchOptions` fields given as keywords to an entry point (a type checker sees
    a misspelt one)."""

    concurrency: int
    approve: ApproveMode
    redirect_url: str
    max_attempts: int
    retry_delay: float
    processing_timeout: float
    progress: bool | None
    on_progress: ProgressCallback | None
    include_items: bool


def batch_options(options: BatchOptions | None, knobs: BatchKnobs) -> BatchOptions:
    """``options`` (default: the defaults) with the keyword ``knobs`` applied, checked once."""
    return (options or BatchOptions()).evolve(**knobs)
