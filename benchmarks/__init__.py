"""Side-by-side benchmarks: the SDK against raw aiohttp on a canned local server.

Run with ``make bench`` (``python -m benchmarks.run``); see ``benchmarks/README.md``.
"""
