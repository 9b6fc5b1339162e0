"""Let aioresponses 0.7.x build responses on aiohttp >= 3.14.

aiohttp 3.14 (a security release) added a required ``stream_writer`` argument to
``ClientResponse``; aioresponses has no release that passes it yet
(pnuckowski/aioresponses#289). Until it does, its module-level
``ClientResponse`` is swapped for a subclass that supplies a finished writer.
Test-only: nothing in the package imports this.
"""

from __future__ import annotations

from typing import Any

import aioresponses.core
from aiohttp import ClientResponse


class _FinishedWriter:
    output_size = 0


class CompatClientResponse(ClientResponse):
    """``ClientResponse`` that tolerates aioresponses not passing ``stream_writer``."""

    def __init__(self, method: str, url: Any, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", _FinishedWriter())
        super().__init__(method, url, **kwargs)


def install() -> None:
    """Patch aioresponses once; harmless on versions that already work."""
    aioresponses.core.ClientResponse = CompatClientResponse  # type: ignore[attr-defined]
