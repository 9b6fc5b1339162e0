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
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


async def run(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str]:
    """Run a subprocess to completion; return its exit code and combined output."""
    proc = await asyncio.create_subprocess_exec(
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=120)
    return proc.returncode or 0, out.decode(errors="replace")


def test_readme_has_python_blocks() -> None:
    """The README shows code: at least the quick start and one block per major section."""
    assert len(BLOCKS) >= 7


@pytest.mark.parametrize("index", range(len(BLOCKS)))
async def test_readme_block_runs(index: int, tmp_path: Path) -> None:
    """README block number `index` exits 0 against a sandbox (test files run under pytest)."""
    block = BLOCKS[index]
    async with Sandbox() as sandbox:
        env = {
            **os.environ,
            "KASHA_BASE_URL": sandbox.base_url,
            "KASHA_API_KEY": sandbox.api_key,
        }
        env.pop("KASHA_SIGNATURE_KEY", None)
        if "def test_" in block:
            (tmp_path / "test_readme_block.py").write_text(block, encoding="utf-8")
            args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
            args += ["-o", "asyncio_mode=auto", "test_readme_block.py"]
        else:
            args = [sys.executable, "-c", block]
        code, output = await run(args, env, tmp_path)
    assert code == 0, output
