"""The `make demo` tour runs end to end against the embedded sandbox."""

from __future__ import annotations

import pytest

from kasha_async import demo


async def test_demo_passes_every_step(capsys: pytest.CaptureFixture[str]) -> None:
    """Every narrated step of the demo ends as expected and the tour exits 0."""
    assert await demo.main() == 0
    out = capsys.readouterr().out
    assert "All 8 steps passed" in out
    assert "declined with code 3000" in out
