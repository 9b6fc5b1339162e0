"""`kasha payouts run` exit codes: 0 ok, 1 failed or declined, 2 bad input, 3 unresolved, 130."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from kasha_async import DeclinedError, KashaErrorCode, Transaction
from kasha_async.batch import OpenedSession, PayoutItem, SQLiteJournal
from kasha_async.batch import _runner as runner_module
from kasha_async.cli import main

from ._fake import FakeDriver, Hook, make_items

_HEADER = "reference,country,currency,amount,option_id,customer_name,extra.name\n"
_ENV = {"KASHA_BASE_URL": "http://127.0.0.1:9", "KASHA_API_KEY": "k"}


class _NeverFinal(FakeDriver):
    """Approved payouts stay PROCESSING for as long as anyone waits."""

    async def wait_final(self, session: OpenedSession, *, timeout: float) -> Transaction:
        """The processor never answers."""
        tx = session.transaction_id
        return Transaction(id=tx, status=self.status[tx])


def _write(path: Path, items: list[PayoutItem]) -> Path:
    rows = [
        f"{i.reference},{i.country},{i.currency},{i.amount},d_316,Jane Roe,Jane Roe\n"
        for i in items
    ]
    path.write_text(_HEADER + "".join(rows), encoding="utf-8")
    return path


def _run_cli(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, driver: FakeDriver, *extra: str
) -> Result:
    """``kasha payouts run`` on 10 items with ``driver`` standing in for the provider."""
    monkeypatch.setattr(runner_module, "FlowDriver", lambda kasha: driver)
    source = _write(tmp_path / "in.csv", make_items(10))
    args = ["payouts", "run", str(source), "--journal", str(tmp_path / "j.db"), *extra]
    return CliRunner().invoke(main, args, env=_ENV)


def _decline(reference: str) -> Hook:
    def hook(step: str, ref: str) -> None:
        if step == "create" and ref == reference:
            raise DeclinedError("Declined", code=KashaErrorCode.DO_NOT_HONOUR, reason="no")

    return hook


def _signal_at_create(signum: int) -> Hook:
    def hook(step: str, ref: str) -> None:
        if step == "create" and ref == "aff-000003":
            os.kill(os.getpid(), signum)

    return hook


def test_all_completed_exits_0(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every item COMPLETED: exit 0."""
    result = _run_cli(monkeypatch, tmp_path, FakeDriver())
    assert result.exit_code == 0, result.output


def test_all_held_exits_0(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """With --approve hold every item held PENDING counts as success: exit 0."""
    result = _run_cli(monkeypatch, tmp_path, FakeDriver(), "--approve", "hold")
    assert result.exit_code == 0, result.output
    assert '"PENDING": 10' in result.output


def test_a_declined_item_exits_1(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """One item declined, the rest completed: exit 1."""
    result = _run_cli(monkeypatch, tmp_path, FakeDriver(_decline("aff-000004")))
    assert result.exit_code == 1, result.output
    assert '"DECLINED": 1' in result.output


def test_an_unresolved_item_exits_3(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Payouts still PROCESSING at the end: exit 3 (run again with --resume)."""
    result = _run_cli(monkeypatch, tmp_path, _NeverFinal())
    assert result.exit_code == 3, result.output
    assert '"PROCESSING": 10' in result.output


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_exits_130_with_sent_steps_journaled(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, signum: int
) -> None:
    """SIGINT or SIGTERM mid-run: exit 130, no create without its journaled intent."""
    driver = FakeDriver(_signal_at_create(signum))
    result = _run_cli(monkeypatch, tmp_path, driver, "--concurrency", "1")
    assert result.exit_code == 130, result.output
    assert '"interrupted": true' in result.output
    assert driver.calls["open"] < 10
    states = _states(tmp_path / "j.db")
    created = set(driver.payouts())
    assert all(states[ref] != "planned" for ref in created)


def _states(path: Path) -> dict[str, str]:
    """Each journaled item's state."""

    async def read() -> dict[str, str]:
        async with SQLiteJournal(path) as journal:
            return {r.reference: r.state.value async for r in journal.scan()}

    return asyncio.run(read())


@pytest.mark.parametrize(
    "make_input",
    [
        lambda tmp: _bad_file(tmp, "a-1,AR,ARS,oops,,,\n"),
        lambda tmp: _bad_file(tmp, "a-1,AR,ARS,1,,,\na-1,AR,ARS,2,,,\n"),
    ],
    ids=["malformed", "duplicate-reference"],
)
def test_bad_input_exits_2_and_sends_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, make_input: Callable[[Path], Path]
) -> None:
    """A malformed file or a repeated reference: exit 2, no call, no journal."""
    driver = FakeDriver()
    monkeypatch.setattr(runner_module, "FlowDriver", lambda kasha: driver)
    args = ["payouts", "run", str(make_input(tmp_path)), "--journal", str(tmp_path / "j.db")]
    result = CliRunner().invoke(main, args, env=_ENV)
    assert result.exit_code == 2, result.output
    assert sum(driver.calls.values()) == 0
    assert not (tmp_path / "j.db").exists()


def _bad_file(tmp: Path, body: str) -> Path:
    path = tmp / "in.csv"
    path.write_text(_HEADER + body, encoding="utf-8")
    return path


def test_a_used_journal_without_resume_exits_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Running a file again on a journal that holds items, without --resume: exit 2, no call."""
    driver = FakeDriver()
    assert _run_cli(monkeypatch, tmp_path, driver).exit_code == 0
    calls = sum(driver.calls.values())
    again = _run_cli(monkeypatch, tmp_path, driver)
    assert again.exit_code == 2, again.output
    assert sum(driver.calls.values()) == calls
    resumed = _run_cli(monkeypatch, tmp_path, driver, "--resume")
    assert resumed.exit_code == 0
    assert set(driver.payouts().values()) == {1}


@pytest.mark.parametrize(
    ("env", "advice"),
    [
        ({"KASHA_BASE_URL": "api.example.test", "KASHA_API_KEY": "k"}, "--base-url or set"),
        ({"KASHA_BASE_URL": "http://127.0.0.1:9", "KASHA_API_KEY": ""}, "--api-key or set"),
    ],
)
def test_a_config_error_names_the_command_line_options(
    tmp_path: Path, env: dict[str, str], advice: str
) -> None:
    """A bad base URL or a missing key is told as --base-url/--api-key, exit 2, nothing sent."""
    path = _write(tmp_path / "in.csv", make_items(1))
    result = CliRunner().invoke(
        main, ["payouts", "run", str(path), "--journal", str(tmp_path / "j.db")], env=env
    )
    assert result.exit_code == 2
    assert f"pass {advice}" in result.output
    assert "base_url=" not in result.output
    assert "api_key=" not in result.output


def test_the_connection_options_name_their_environment_variables() -> None:
    """`--help` says --base-url defaults to $KASHA_BASE_URL and --api-key to $KASHA_API_KEY."""
    text = " ".join(CliRunner().invoke(main, ["payouts", "run", "--help"]).output.split())
    assert "API root (default: $KASHA_BASE_URL)" in text
    assert "API key (default: $KASHA_API_KEY)" in text
