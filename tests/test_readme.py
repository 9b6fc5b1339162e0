"""Every Python block of the README runs as is against a fresh sandbox, so the README cannot rot."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

import pytest

from kasha_async.sandbox import Sandbox

README = Path(__file__).resolve().parent.parent / "README.md"
TEXT = README.read_text(encoding="utf-8")
BLOCKS = re.findall(r"```python\n(.*?)```", TEXT, flags=re.S)
# The pytest configuration the README shows next to its test snippet, written as the user would.
PYTEST_CONFIG = re.findall(r"```toml\n# pyproject.toml\n(.*?)```", TEXT, flags=re.S)
# `print(...)  # shown output`: the comment is what the line prints (`...` matches anything).
SHOWN = re.compile(r"^\s*print\(.*\)\s+# (.+)$", re.M)


async def run(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    """Run a subprocess to completion; return its exit code, stdout and stderr."""
    proc = await asyncio.create_subprocess_exec(
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    return proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")


def shown_output(block: str) -> list[str]:
    """The output a block's ``# comments`` say its print() lines produce, in order."""
    return SHOWN.findall(block)


def matches(printed: str, shown: str) -> bool:
    """Whether a printed line is what the README shows, ``...`` standing for any text."""
    pattern = ".*".join(re.escape(part) for part in shown.split("..."))
    return re.fullmatch(pattern, printed) is not None


async def run_snippet(block: str, sandbox: Sandbox, cwd: Path) -> None:
    """Run a doc snippet against ``sandbox``: exit 0 and print what its comments say.

    A block defining ``test_`` functions runs under pytest with only the configuration
    the README shows; any other block runs as a script.
    """
    env = {**os.environ, "KASHA_BASE_URL": sandbox.base_url, "KASHA_API_KEY": sandbox.api_key}
    env.pop("KASHA_SIGNATURE_KEY", None)
    env.pop("KASHA_LOG", None)
    if "def test_" in block:
        (cwd / "pyproject.toml").write_text(PYTEST_CONFIG[0], encoding="utf-8")
        (cwd / "test_doc_block.py").write_text(block, encoding="utf-8")
        args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_doc_block.py"]
    else:
        args = [sys.executable, "-c", block]
    code, out, err = await run(args, env, cwd)
    assert code == 0, out + err
    if "def test_" not in block:
        printed, shown = out.splitlines(), shown_output(block)
        assert len(printed) == len(shown), out
        for line, expected in zip(printed, shown, strict=True):
            assert matches(line, expected), f"printed {line!r}, the doc shows {expected!r}"


def test_readme_has_python_blocks() -> None:
    """The README shows code: at least the quick start and one block per major section."""
    assert len(BLOCKS) >= 7


def test_every_print_in_the_readme_shows_its_output() -> None:
    """Each block that prints says what it prints, so the test below can check it."""
    for block in BLOCKS:
        assert block.count("print(") == len(shown_output(block)), block


def test_the_test_snippet_comes_with_its_pytest_configuration() -> None:
    """The README shows asyncio_mode = "auto" right before its test snippet."""
    assert PYTEST_CONFIG == [
        '[tool.pytest.ini_options]\nasyncio_mode = "auto"\n'
        'asyncio_default_fixture_loop_scope = "function"\n'
    ]
    config_at = TEXT.index("```toml\n# pyproject.toml")
    assert TEXT.index("# test_checkout.py") - config_at < 200


def test_matches_treats_dots_as_any_text() -> None:
    """`...` in a shown output matches any text, everything else must be equal."""
    assert matches("3000 Insufficient card funds. DECLINED", "3000 Insufficient ...")
    assert not matches("PROCESSING 150.0", "PROCESSING 150.00")


@pytest.mark.parametrize("index", range(len(BLOCKS)))
async def test_readme_block_runs_twice_and_prints_what_it_shows(index: int, tmp_path: Path) -> None:
    """Block `index` exits 0 twice on one sandbox and prints what its comments say.

    Test files run under pytest with only the configuration the README shows.
    """
    block = BLOCKS[index]
    async with Sandbox() as sandbox:
        for _ in range(2):
            await run_snippet(block, sandbox, tmp_path)


def test_readme_states_the_batch_cli_defaults() -> None:
    """The README's --concurrency and --redirect-url defaults are the CLI's own."""
    from kasha_async.batch import DEFAULT_REDIRECT_URL
    from kasha_async.cli import main

    run_command = main.commands["payouts"].commands["run"]  # type: ignore[attr-defined]
    concurrency = next(p for p in run_command.params if p.name == "concurrency").default
    assert f"`--concurrency` defaults to {concurrency} payouts" in TEXT
    assert f"to `{DEFAULT_REDIRECT_URL}`" in TEXT
