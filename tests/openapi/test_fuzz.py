"""Schemathesis fuzzes a live sandbox against kasha_async/openapi.json with every check on."""

from __future__ import annotations

import asyncio
import sys
from importlib import resources
from pathlib import Path

import kasha_async
from kasha_async._operations import OPERATIONS
from kasha_async.sandbox import Sandbox

ST = Path(sys.executable).parent / "st"
CONFIG = Path(__file__).parent / "schemathesis.toml"
DOCUMENT = Path(str(resources.files(kasha_async).joinpath("openapi.json")))
#: Bounded: a fixed seed and example count keep the whole run well under a minute.
MAX_EXAMPLES = "12"
SEED = "20260101"


async def _fuzz(sb: Sandbox, tmp_path: Path, *phases: str) -> str:
    args = [
        "--config-file",
        str(CONFIG),
        "run",
        str(DOCUMENT),
        "--url",
        sb.base_url,
        "--checks",
        "all",
        "--header",
        f"x-api-key: {sb.api_key}",
        "--max-examples",
        MAX_EXAMPLES,
        "--seed",
        SEED,
        "--no-shrink",
        "--generation-deterministic",
        "--warnings",
        "off",
    ]
    if phases:
        args += ["--phases", ",".join(phases)]
    process = await asyncio.create_subprocess_exec(
        str(ST),
        *args,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    text = output.decode("utf-8", "replace")
    assert process.returncode == 0, text[-6000:]
    assert "No issues found" in text, text[-6000:]
    return text


async def test_every_operation_survives_every_check(tmp_path: Path) -> None:
    """Examples, coverage and fuzzing phases, positive and negative data: zero failures."""
    async with Sandbox(payment_delay=None, payout_delay=None) as sb:
        await _fuzz(sb, tmp_path, "examples", "coverage", "fuzzing")
        assert sb.state.internal_errors == []
        reached = {name for name, count in sb.state.requests_by_endpoint.items() if count}
        assert set(OPERATIONS) <= reached
        # Schema-valid sessions were opened and answered, not just refused.
        assert sb.state.transactions


async def test_a_stateful_run_following_the_links_finds_nothing(tmp_path: Path) -> None:
    """The stateful phase (the document's links: options -> suboptions -> post/create ...)."""
    async with Sandbox(payment_delay=None, payout_delay=None) as sb:
        await _fuzz(sb, tmp_path, "stateful")
        assert sb.state.internal_errors == []
        # Settle is no scenario's start: only the create -> settle link reaches it.
        assert sb.state.requests_by_endpoint["payouts.settle"] > 0
        assert sb.state.requests_by_endpoint["payments.post"] > 0
