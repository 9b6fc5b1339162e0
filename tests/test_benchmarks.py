"""The benchmark harness runs and reports every contender (no timing is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quick_run_writes_every_contender_and_the_machine_load(tmp_path: Path) -> None:
    """``benchmarks.run --quick`` on one cell writes raw, tuned, client and flows with ratios."""
    out = tmp_path / "results.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.run",
            "--quick",
            "--workload",
            "payout_flow",
            "--concurrency",
            "1",
            "--no-memory",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    results = json.loads(out.read_text())
    cell = results["payout_flow"]["c1"]
    assert set(cell["detail"]) == {"raw", "tuned", "client", "flows"}
    assert all(cell[name] > 0 for name in ("raw", "tuned", "client", "flows"))
    assert cell["ratio_client"] == cell["client"] / cell["raw"]
    assert cell["ratio_client_tuned"] == cell["client"] / cell["tuned"]
    assert len(results["machine"]["load"]["loadavg_1_5_15"]) == 3
    assert "| client ÷ tuned |" in done.stdout
    assert "load average" in done.stdout


def test_batch_bench_pairs_each_rounds_journals_and_reports_their_median_ratio(
    tmp_path: Path,
) -> None:
    """``benchmarks.batch_bench`` writes every round's sqlite ÷ memory ratio and their median."""
    out = tmp_path / "batch.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.batch_bench", "20", "5", "2", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    results = json.loads(out.read_text())
    for figures in results["loops"].values():
        rates = figures["rates"]
        assert len(rates["memory"]) == len(rates["sqlite"]) == 2
        pairs = zip(rates["memory"], rates["sqlite"], strict=True)
        assert figures["round_ratios"] == [sqlite / memory for memory, sqlite in pairs]
        low, high = figures["journal_ratio_spread"]
        assert low <= figures["journal_ratio"] <= high
    assert "journal on ÷ off" in done.stdout
