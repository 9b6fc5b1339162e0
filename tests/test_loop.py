"""The CLI's event loop: uvloop when installed, asyncio's otherwise, never a global policy."""

from __future__ import annotations

import asyncio
import sys
import types

import pytest

from kasha_async import _loop


def _fake_uvloop(monkeypatch: pytest.MonkeyPatch) -> list[asyncio.AbstractEventLoop]:
    """Install a stand-in ``uvloop`` module whose loops are recorded."""
    made: list[asyncio.AbstractEventLoop] = []

    def new_event_loop() -> asyncio.AbstractEventLoop:
        loop = asyncio.new_event_loop()
        made.append(loop)
        return loop

    module = types.ModuleType("uvloop")
    module.new_event_loop = new_event_loop  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "uvloop", module)
    return made


def _running_loop() -> asyncio.AbstractEventLoop:
    """Run a coroutine through ``_loop.run`` and return the loop it ran on."""

    async def which() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    return _loop.run(which())


def test_run_uses_uvloop_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """With uvloop importable, the CLI's coroutine runs on a uvloop loop."""
    monkeypatch.delenv(_loop.ENV_UVLOOP, raising=False)
    made = _fake_uvloop(monkeypatch)
    assert _running_loop() is made[0]


def test_run_falls_back_to_asyncio_without_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without uvloop the coroutine still runs, on asyncio's own loop."""
    monkeypatch.setitem(sys.modules, "uvloop", None)  # makes ``import uvloop`` fail
    assert _loop.loop_factory() is None
    assert isinstance(_running_loop(), asyncio.AbstractEventLoop)


def test_kasha_uvloop_0_turns_it_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """KASHA_UVLOOP=0 keeps asyncio's loop even when uvloop is installed."""
    made = _fake_uvloop(monkeypatch)
    monkeypatch.setenv(_loop.ENV_UVLOOP, "0")
    _running_loop()
    assert made == []


def test_the_global_policy_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """Running on uvloop sets no event-loop policy: an application's own loops are unchanged."""
    _fake_uvloop(monkeypatch)
    before = asyncio.get_event_loop_policy()
    _running_loop()
    assert asyncio.get_event_loop_policy() is before
