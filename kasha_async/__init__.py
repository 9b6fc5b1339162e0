"""kasha-async: an async-first SDK for the Kasha payments API v2."""

from ._version import __version__

__all__ = ["__version__"]
