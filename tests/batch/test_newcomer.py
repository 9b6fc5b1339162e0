"""What a new user trips over in the batch CLI: headers, amounts, unreachable APIs, hints, files."""

from __future__ import annotations

import json
import re
import socket
import stat
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from kasha_async import Customer, InputFileError, JournalError, KashaClient
from kasha_async._models import FormInput, PaymentOption, Suboption, Suboptions, read_amount
from kasha_async.batch import (
    ItemResult,
    ItemStatus,
    MemoryJournal,
    PayoutItem,
    SQLiteJournal,
    load_items,
    run_payouts,
    write_csv,
)
from kasha_async.batch import _runner as runner_module
from kasha_async.batch._report import Summary
from kasha_async.batch.cli import _show, payouts
from kasha_async.cli import main
from kasha_async.flows._forms import form_inputs, unknown_fields
from kasha_async.sandbox import Sandbox

from ._chaos import cli, write_items
from ._fake import FakeDriver, make_items

_ROW = "a-1,BR,BRL,10.00\n"


def _load(tmp_path: Path, body: str) -> str:
    """The problems load_items reports for a CSV ``body``."""
    path = tmp_path / "in.csv"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(InputFileError) as caught:
        load_items(path)
    return str(caught.value)


def test_a_misnamed_column_is_named_missing_and_unknown(tmp_path: Path) -> None:
    """`ref` for `reference`: the header problem names both, before any row is read."""
    problems = _load(tmp_path, "ref,country,currency,amount\n" + _ROW)
    assert "missing column(s) reference" in problems
    assert "unknown column(s) ref" in problems
    assert "line 2" not in problems


def test_a_typo_in_an_optional_column_is_refused(tmp_path: Path) -> None:
    """`customer_nmae` is named as unknown instead of being dropped silently."""
    problems = _load(tmp_path, "reference,country,currency,amount,customer_nmae\na,BR,BRL,1,x\n")
    assert "unknown column(s) customer_nmae" in problems


def test_a_semicolon_file_is_read_and_a_pipe_file_refused(tmp_path: Path) -> None:
    """Semicolons (or tabs) are detected; another separator is refused with a clear line."""
    path = tmp_path / "in.csv"
    path.write_text("reference;country;currency;amount\na-1;BR;BRL;10.00\n", encoding="utf-8")
    assert [i.amount for i in load_items(path)] == [Decimal("10.00")]
    problems = _load(tmp_path, "reference|country|currency|amount\na-1|BR|BRL|10.00\n")
    assert "cannot tell the delimiter" in problems


@pytest.mark.parametrize("body", ["reference,country,currency,amount\n", ""])
def test_a_file_without_rows_is_an_error(tmp_path: Path, body: str) -> None:
    """A header-only (or empty) file is a problem, not a run of nothing that exits 0."""
    assert "line 1" in _load(tmp_path, body)


@pytest.mark.parametrize("amount", ["1e3", "1_000.00", "\u0661\u0660", "0x10", "1E+2"])
def test_non_plain_amounts_are_refused(tmp_path: Path, amount: str) -> None:
    """Exponents, underscores, non-ASCII digits and hex are refused by the SDK's read_amount."""
    problems = _load(tmp_path, f"reference,country,currency,amount\na-1,BR,BRL,{amount}\n")
    assert "line 2" in problems
    with pytest.raises(ValueError) as refused:
        read_amount(amount)
    assert str(refused.value) in problems


async def test_an_extra_field_the_form_lacks_fails_the_item_before_any_send(
    kasha_sandbox: Sandbox, kasha_client: KashaClient, tmp_path: Path
) -> None:
    """`extra.cbu` where the form says `account`: FAILED before the create; nothing paid."""
    item = PayoutItem(
        reference="cbu-1",
        country="BR",
        currency="BRL",
        amount=Decimal("10.00"),
        customer=Customer(name="Jane Roe"),
        extra_data={"name": "Jane Roe", "cbu": "123"},
    )
    report = await run_payouts(kasha_client, [item], journal=tmp_path / "j.db", progress=False)
    assert report.summary.counts == {"FAILED": 1}
    assert "extra.cbu: not in the form" in (report.results[0].last_error or "")
    ledger = kasha_sandbox.ledger()
    assert [tx.status.value for tx in ledger.transactions.values()] == ["CREATED"]


def test_the_form_fields_come_from_the_flows_form_rules() -> None:
    """form_inputs joins option, suboptions and the chosen one; unknown_fields names the rest."""
    option = PaymentOption(payment_option_id="po", extra_data=(FormInput(name="name"),))
    subs = Suboptions(
        result_code=85,
        result_type="success",
        form_inputs=(FormInput(name="doc"),),
        options=(
            Suboption(id="d_1", form_inputs=(FormInput(name="account"),)),
            Suboption(id="d_2", form_inputs=(FormInput(name="cbu"),)),
        ),
    )
    inputs = form_inputs(option, subs, "d_1")
    assert [f.name for f in inputs] == ["name", "doc", "account"]
    extra = {"name": "x", "account": "1", "cbu": "2", "alias": "3"}
    assert unknown_fields(inputs, extra) == ["alias", "cbu"]
    assert unknown_fields(form_inputs(option, None, None), {"name": "x"}) == []


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_api_fails_fast_with_exit_2_and_the_reason(tmp_path: Path) -> None:
    """Connection refused on the first calls: one error line, exit 2, a journal to rerun as is."""
    source = tmp_path / "in.csv"
    source.write_text("reference,country,currency,amount\n" + _ROW, encoding="utf-8")
    env = {"KASHA_BASE_URL": f"http://127.0.0.1:{_closed_port()}", "KASHA_API_KEY": "k"}
    args = ["payouts", "run", str(source), "--journal", str(tmp_path / "j.db"), "--json"]
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == 2, result.output
    assert result.stderr.count("error:") == 1
    assert "nothing was sent" in result.stderr
    assert "Traceback" not in result.output


async def test_a_refused_key_sends_nothing_and_the_same_command_then_runs(
    kasha_sandbox: Sandbox, tmp_path: Path
) -> None:
    """A 401 run exits 2; the same command without --resume then pays everyone once."""
    write_items(tmp_path / "items.json", 5, prefix="key")
    args = ["run", str(tmp_path / "items.json"), "--journal", str(tmp_path / "j.db")]
    refused = await cli(kasha_sandbox, *args, "--api-key", "wrong")
    _, err = await refused.communicate()
    assert refused.returncode == 2, err
    assert b"nothing was sent" in err
    again = await cli(kasha_sandbox, *args)
    out, err = await again.communicate()
    assert again.returncode == 0, err
    assert json.loads(out)["counts"] == {"COMPLETED": 5}
    ledger = kasha_sandbox.ledger()
    assert sorted(tx.status.value for tx in ledger.transactions.values()).count("COMPLETED") == 5


def _write_input(tmp_path: Path, count: int) -> Path:
    rows = "".join(
        f"{i.reference},{i.country},{i.currency},{i.amount},d_316,Jane Roe\n"
        for i in make_items(count)
    )
    path = tmp_path / "in.csv"
    path.write_text("reference,country,currency,amount,option_id,extra.name\n" + rows, "utf-8")
    return path


def test_an_interrupted_run_counts_the_whole_input_and_says_resume(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Stopped after a few items: the report counts all 600 rows, marked interrupted, in both
    the run and `kasha payouts report`, which then exits 0 and prints the --resume hint."""
    driver = FakeDriver()
    stop_after = 3

    def hook(step: str, ref: str) -> None:
        if step == "created" and sum(driver.created_refs.values()) >= stop_after:
            import os
            import signal

            os.kill(os.getpid(), signal.SIGINT)

    driver.hook = hook
    monkeypatch.setattr(runner_module, "FlowDriver", lambda kasha: driver)
    journal = str(tmp_path / "j.db")
    source = _write_input(tmp_path, 600)
    env = {"KASHA_BASE_URL": "http://127.0.0.1:9", "KASHA_API_KEY": "k"}
    args = ["payouts", "run", str(source), "--journal", journal, "--concurrency", "1"]
    run = CliRunner().invoke(main, args, env=env)
    assert run.exit_code == 130, run.output
    assert json.loads(run.stdout)["total"] == 600
    assert "interrupted: run again with --resume" in run.stderr
    report = CliRunner().invoke(main, ["payouts", "report", journal, "--json"])
    assert report.exit_code == 0
    assert json.loads(report.stdout)["interrupted"] is True
    assert "interrupted: run again with --resume" in report.stderr


def test_a_hold_run_hints_at_approve_and_report_exits_0_with_failures(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A hold run names `kasha payouts approve`; `report` on a journal with a failure exits 0."""
    monkeypatch.setattr(runner_module, "FlowDriver", lambda kasha: FakeDriver())
    journal = str(tmp_path / "j.db")
    env = {"KASHA_BASE_URL": "http://127.0.0.1:9", "KASHA_API_KEY": "k"}
    args = ["payouts", "run", str(_write_input(tmp_path, 3)), "--journal", journal]
    held = CliRunner().invoke(main, [*args, "--approve", "hold"], env=env)
    assert held.exit_code == 0
    assert f"kasha payouts approve {journal}" in held.stderr
    assert CliRunner().invoke(main, ["payouts", "report", journal]).exit_code == 0


async def test_a_clean_item_shows_one_attempt_and_iso_times(
    kasha: KashaClient, tmp_path: Path
) -> None:
    """A payout that went through first time has attempts 1 and ISO 8601 UTC times in JSON."""
    report = await run_payouts(
        kasha, make_items(2), journal=MemoryJournal(), driver=FakeDriver(), progress=False
    )
    assert [r.attempts for r in report.results] == [1, 1]
    started = report.results[0].to_json()["started_at"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", started)
    summary = report.summary.to_json()
    assert summary["duration"] == round(summary["duration"], 3)


def test_a_terminal_gets_a_table_not_json(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """On a terminal the summary is a table with rounded figures; --json keeps JSON."""
    summary = Summary(
        total=2,
        counts={"COMPLETED": 2},
        completed_amounts={"BRL": Decimal("21.00")},
        requested_amounts={"BRL": Decimal("21.00")},
        duration=0.5094297910000023,
    )
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    _show(summary, as_json=False)
    table = capsys.readouterr().out
    assert "COMPLETED" in table
    assert "0.5 s" in table
    assert "{" not in table
    _show(summary, as_json=True)
    assert json.loads(capsys.readouterr().out)["duration"] == 0.509


@pytest.mark.parametrize("command", ["run", "submit", "worker", "approve", "report"])
def test_help_texts_have_no_rest_markup(command: str) -> None:
    """`--help` shows plain text: no reST double backticks; run shows the real defaults."""
    result = CliRunner().invoke(payouts, [command, "--help"], terminal_width=200)
    assert result.exit_code == 0
    assert "``" not in result.output
    if command == "run":
        assert "[default: 50;" in result.output
        assert "https://localhost/kasha-batch/return" in result.output


def _result(last_error: str) -> ItemResult:
    return ItemResult(
        reference="=1+1",
        status=ItemStatus.FAILED,
        final=True,
        transaction_id=None,
        amount=Decimal("1.00"),
        currency="BRL",
        country="BR",
        reported_amount=None,
        reported_currency=None,
        decline_code=None,
        decline_reason="@SUM(A1)",
        attempts=1,
        last_error=last_error,
        started_at=None,
        finished_at=None,
    )


def test_csv_cells_that_look_like_formulas_are_escaped(tmp_path: Path) -> None:
    """Cells starting with =, +, -, @, tab or CR get a leading quote in the CSV report."""
    write_csv(tmp_path / "r.csv", [_result("-2+3"), _result("\tx"), _result("+cmd")])
    text = (tmp_path / "r.csv").read_text()
    assert "'=1+1" in text
    assert "'@SUM(A1)" in text
    assert "'-2+3" in text
    assert "'\tx" in text
    assert "'+cmd" in text
    assert "\n=1" not in text


def test_report_files_are_created_private(tmp_path: Path) -> None:
    """CSV and JSON reports are created 0600 whatever the umask."""
    write_csv(tmp_path / "r.csv", [_result("x")])
    from kasha_async.batch._report import write_json

    write_json(tmp_path / "r.json", {"a": 1})
    for name in ("r.csv", "r.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600


@pytest.mark.parametrize("where", ["missing", "not-a-directory", "read-only"])
def test_an_unusable_journal_path_exits_2_in_one_paragraph(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, where: str
) -> None:
    """A journal in a missing, non-directory or read-only place: one paragraph, exit 2."""
    folder = tmp_path / "nowhere"
    if where == "not-a-directory":
        folder.write_text("a file", encoding="utf-8")
    if where == "read-only":  # the tests may run as root, whom a 0500 directory does not stop
        folder.mkdir()

        def refuse(path: Path) -> None:
            raise PermissionError(13, "Permission denied", str(path))

        monkeypatch.setattr("kasha_async.batch._journal.create_private", refuse)
    source = _write_input(tmp_path, 2)
    env = {"KASHA_BASE_URL": "http://127.0.0.1:9", "KASHA_API_KEY": "k"}
    args = ["payouts", "run", str(source), "--journal", str(folder / "j.db")]
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: journal {folder / 'j.db'}: ")
    assert "nothing was sent" in result.stderr
    assert len(result.stderr.splitlines()) == 2
    assert isinstance(result.exception, SystemExit)


def test_a_full_disk_after_sends_exits_3_resumable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The journal stops taking writes mid-run: exit 3 and a --resume hint, not a traceback."""
    driver = FakeDriver()
    monkeypatch.setattr(runner_module, "FlowDriver", lambda kasha: driver)
    put = SQLiteJournal.put

    async def full_after_some(self: SQLiteJournal, record: object) -> None:
        if driver.calls["created"] >= 2:
            raise JournalError(f"journal {self.path}: database or disk is full")
        await put(self, record)  # type: ignore[arg-type]

    monkeypatch.setattr(SQLiteJournal, "put", full_after_some)
    env = {"KASHA_BASE_URL": "http://127.0.0.1:9", "KASHA_API_KEY": "k"}
    args = ["payouts", "run", str(_write_input(tmp_path, 5)), "--journal", str(tmp_path / "j.db")]
    result = CliRunner().invoke(main, [*args, "--concurrency", "1"], env=env)
    assert result.exit_code == 3, result.output
    assert "disk is full" in result.stderr
    assert "run again with --resume" in result.stderr
