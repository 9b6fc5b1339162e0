"""The docs cannot rot: the error table is the SDK's, and every snippet compiles or runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kasha_async import CODE_TABLE, KashaErrorCode
from kasha_async._errors import error_from_response
from kasha_async.sandbox import Sandbox
from tests.batch_pg import _cluster
from tests.test_readme import run_snippet

DOCS = Path(__file__).resolve().parent.parent / "docs"
ERRORS_DOC = DOCS / "errors.md"
ROW = re.compile(r"^\| (\d+) \| `(\w+)` \| (\w+) \| (.*?) \| `(\w+)` \|$", re.M)
# The guides whose snippets are programs (asyncio.run), test files (def test_) or fragments.
GUIDES = ("sandbox.md", "flows.md", "webhooks.md", "batch.md")
SNIPPETS = [
    (f"{name}[{index}]", block)
    for name in GUIDES
    for index, block in enumerate(
        re.findall(r"```python\n(.*?)```", (DOCS / name).read_text(encoding="utf-8"), re.S)
    )
]
RUNNABLE = [
    (name, block) for name, block in SNIPPETS if "asyncio.run(" in block or "def test_" in block
]


def test_errors_doc_lists_every_code_as_the_sdk_does() -> None:
    """Every code of CODE_TABLE appears once in docs/errors.md with its name, status, reason."""
    text = ERRORS_DOC.read_text(encoding="utf-8")
    rows = {int(m[1]): m.groups()[1:] for m in ROW.finditer(text)}
    assert set(rows) == set(CODE_TABLE)
    for code, (name, status, reason, raised_as) in rows.items():
        info = CODE_TABLE[code]
        assert (name, status, reason) == (KashaErrorCode(code).name, info.status, info.reason)
        answer = {"resultType": "error", "errors": {"code": code}}
        assert raised_as == type(error_from_response(400, answer, b"")).__name__


@pytest.mark.parametrize(("name", "block"), SNIPPETS, ids=[name for name, _ in SNIPPETS])
def test_guide_snippet_compiles_as_a_file(name: str, block: str) -> None:
    """No guide snippet uses top-level await: each one compiles as a module."""
    compile(block, name, "exec")


def test_each_guide_has_a_runnable_snippet() -> None:
    """The sandbox, flows, webhooks and batch guides each show a complete program or test."""
    assert {name.split("[")[0] for name, _ in RUNNABLE} == set(GUIDES)


@pytest.mark.parametrize(("name", "block"), RUNNABLE, ids=[name for name, _ in RUNNABLE])
async def test_guide_snippet_runs_and_prints_what_it_shows(
    name: str, block: str, tmp_path: Path
) -> None:
    """A complete snippet exits 0 against a fresh sandbox and prints what its comments say."""
    async with Sandbox() as sandbox:
        await run_snippet(block, sandbox, tmp_path)


def test_missing_postgres_binaries_name_the_debian_package(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without initdb anywhere, the PostgreSQL tests' error names the package to install."""
    monkeypatch.setattr(_cluster, "_SEARCH", [])
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(_cluster.ClusterUnavailableError) as caught:
        _cluster.find_binary("initdb")
    assert "apt-get install postgresql" in str(caught.value)
