"""Fault injection: which request gets which failure, decided by rules and one seeded RNG.

A rule names an endpoint (a key of :data:`kasha_async._operations.OPERATIONS`, or
``"*"``), a :class:`FaultKind`, and when it fires: for the next ``times``
matching calls, with ``probability`` per call, or both (each call fires with the
probability until ``times`` firings are used up). All randomness comes from one
``random.Random(seed)``, so a chaos run replays exactly with the same seed and
the same request order.
"""

from __future__ import annotations

import enum
import itertools
import math
import random
from typing import Any

import attrs

from .._operations import ROUTES


class FaultKind(enum.StrEnum):
    """What goes wrong with a request."""

    STATUS_500 = "status_500"
    STATUS_502 = "status_502"
    STATUS_503 = "status_503"
    #: HTTP 429 with a ``Retry-After`` header; nothing is processed.
    RATE_LIMIT = "rate_limit"
    #: Sleep ``delay`` seconds, then process normally (adds to any other fault).
    LATENCY = "latency"
    #: Reset the connection before the request is processed: nothing changed.
    RESET_BEFORE = "reset_before"
    #: Process the request (state committed), then reset instead of answering.
    RESET_AFTER_COMMIT = "reset_after_commit"
    #: Process the request, send headers and half the body, then reset.
    TRUNCATED_BODY = "truncated_body"
    #: An HTML error page (status ``status``, default 502) instead of JSON; nothing processed.
    NON_JSON_BODY = "non_json_body"


#: Faults answered without running the handler (no state change).
BEFORE_HANDLER = frozenset(
    {
        FaultKind.STATUS_500,
        FaultKind.STATUS_502,
        FaultKind.STATUS_503,
        FaultKind.RATE_LIMIT,
        FaultKind.RESET_BEFORE,
        FaultKind.NON_JSON_BODY,
    }
)
#: Faults applied after the handler committed its state change.
AFTER_HANDLER = frozenset({FaultKind.RESET_AFTER_COMMIT, FaultKind.TRUNCATED_BODY})
_ids = itertools.count(1)


@attrs.define(kw_only=True)
class FaultRule:
    """One injected fault and its remaining budget."""

    endpoint: str
    kind: FaultKind
    probability: float | None = None
    times: int | None = None
    delay: float = 1.0
    retry_after: int = 1
    status: int | None = None
    id: int = attrs.field(factory=lambda: next(_ids))
    fired: int = 0

    def matches(self, endpoint: str) -> bool:
        """Whether this rule applies to ``endpoint`` and has budget left."""
        exhausted = self.times is not None and self.fired >= self.times
        return not exhausted and self.endpoint in ("*", endpoint)

    def to_json(self) -> dict[str, Any]:
        """A plain dict for ``GET /_sandbox/faults``."""
        return {**attrs.asdict(self), "kind": self.kind.value}


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value)


def _check(rule: FaultRule) -> None:
    """Refuse a rule that would only fail later, on the request it fires for (as a 500)."""
    if rule.endpoint != "*" and rule.endpoint not in ROUTES:
        raise ValueError(f"unknown endpoint {rule.endpoint!r:.60}; use a key of ROUTES or '*'")
    if rule.probability is not None and not (
        _is_number(rule.probability) and 0.0 <= rule.probability <= 1.0
    ):
        raise ValueError("probability must be a number between 0 and 1")
    if rule.times is not None and not (_is_int(rule.times) and rule.times >= 1):
        raise ValueError("times must be a whole number of at least 1")
    if not (_is_number(rule.delay) and rule.delay >= 0):
        raise ValueError("delay must be a finite number of seconds, at least 0")
    if not (_is_int(rule.retry_after) and rule.retry_after >= 0):
        raise ValueError("retry_after must be a whole number of seconds, at least 0")
    if rule.status is not None and not (_is_int(rule.status) and 100 <= rule.status <= 599):
        raise ValueError("status must be an HTTP status between 100 and 599")


class FaultInjector:
    """The fault rules of one sandbox and the seeded RNG that decides probabilistic ones."""

    def __init__(self, seed: int | None = 0) -> None:
        self._rules: list[FaultRule] = []
        self._rng = random.Random(seed)

    def add(
        self,
        endpoint: str = "*",
        kind: FaultKind | str = FaultKind.STATUS_503,
        *,
        probability: float | None = None,
        times: int | None = None,
        delay: float = 1.0,
        retry_after: int = 1,
        status: int | None = None,
    ) -> FaultRule:
        """Add a rule; with neither ``probability`` nor ``times`` it fires on every call."""
        if not isinstance(endpoint, str):
            raise TypeError("endpoint must be a string")
        rule = FaultRule(
            endpoint=endpoint,
            kind=FaultKind(kind),
            probability=probability,
            times=times,
            delay=delay,
            retry_after=retry_after,
            status=status,
        )
        _check(rule)
        self._rules.append(rule)
        return rule

    def clear(self) -> None:
        """Remove every rule."""
        self._rules.clear()

    def reseed(self, seed: int | None) -> None:
        """Restart the RNG, to replay a chaos run."""
        if seed is not None and not _is_int(seed):
            raise TypeError("seed must be a whole number or null")
        self._rng.seed(seed)

    @property
    def rules(self) -> tuple[FaultRule, ...]:
        """The rules in the order they are evaluated."""
        return tuple(self._rules)

    def pick(self, endpoint: str) -> tuple[float, FaultRule | None]:
        """Decide one request's fate: (added latency in seconds, the failure to inject or None)."""
        if not self._rules:
            return 0.0, None
        latency, failure = 0.0, None
        for rule in self._rules:
            if failure is not None and rule.kind is not FaultKind.LATENCY:
                continue
            if rule.matches(endpoint) and self._fires(rule):
                rule.fired += 1
                if rule.kind is FaultKind.LATENCY:
                    latency += rule.delay
                else:
                    failure = rule
        return latency, failure

    def _fires(self, rule: FaultRule) -> bool:
        return rule.probability is None or self._rng.random() < rule.probability
