"""The observability guide's example runs and prints the trace it promises."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _spans(printed: str) -> list[dict[str, object]]:
    """The console exporter's JSON objects, one per span, from the example's output."""
    decoder = json.JSONDecoder()
    spans, at = [], printed.find("{")
    while at != -1:
        span, end = decoder.raw_decode(printed, at)
        spans.append(span)
        at = printed.find("{", end)
    return spans


def test_the_console_example_prints_a_reconciled_payout_trace() -> None:
    """examples/trace_a_payout.py ends COMPLETED and prints one trace with a reconciled create."""
    done = subprocess.run(
        [sys.executable, "-m", "examples.trace_a_payout"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert "COMPLETED" in done.stdout.splitlines()
    spans = _spans(done.stdout.replace("COMPLETED\n", ""))
    assert len({span["context"]["trace_id"] for span in spans}) == 1  # type: ignore[index]
    (create,) = [span for span in spans if span["name"] == "payouts.create"]
    events = [event["name"] for event in create["events"]]  # type: ignore[attr-defined]
    assert events == ["kasha.retry", "kasha.reconciliation"]
